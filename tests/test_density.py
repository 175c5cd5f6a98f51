"""Density clusters, weights, hex aggregation, reach and visits per rep-day."""

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.solvers import density as D


def _accounts(lonlat, classes=None, potential=None):
    n = len(lonlat)
    return pd.DataFrame({S.ID: [f"a{i}" for i in range(n)], S.NAME: "x (synthetic)",
                         S.LON: [p[0] for p in lonlat], S.LAT: [p[1] for p in lonlat],
                         S.CLASS: classes if classes is not None else ["C"] * n, S.STATUS: "prospect",
                         S.POTENTIAL_CNY: potential if potential is not None else [1000.0] * n})


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    jinjiang = np.column_stack([rng.normal(118.58, 0.01, 150), rng.normal(24.81, 0.01, 150)])
    xiamen = np.column_stack([rng.normal(118.10, 0.01, 80), rng.normal(24.48, 0.01, 80)])
    scattered = np.column_stack([rng.uniform(117.0, 119.5, 20), rng.uniform(25.3, 26.5, 20)])
    return _accounts(np.vstack([jinjiang, xiamen, scattered]).tolist())


def test_weights():
    a = _accounts([(118.5, 24.8)] * 3, classes=["A", "B", "C"], potential=[10.0, 20.0, 30.0])
    assert D.account_weights(a, "count").tolist() == [1, 1, 1]
    assert D.account_weights(a, "class").tolist() == [3, 2, 1]
    assert D.account_weights(a, "potential").tolist() == [10, 20, 30]
    with pytest.raises(ValueError, match="unknown weight"):
        D.account_weights(a, "revenue")


def test_clusters_find_the_two_blobs():
    a = _blobs()
    c = D.find_clusters(a, D.ClusterOptions(eps_m=3000, min_weight=20))
    lab = c.labels.to_numpy()
    assert len(c.table) == 2
    assert (lab[:150] == 0).all()  # the largest blob is cluster 0
    assert (lab[150:230] == 1).all()
    assert (lab[230:] == -1).mean() >= 0.9
    assert c.table.loc[0, "main_county"] in ("晋江市", "石狮市")
    assert c.table["accounts"].tolist() == [150, 80]
    # deterministic
    assert D.find_clusters(a, D.ClusterOptions(eps_m=3000, min_weight=20)).labels.equals(c.labels)


def test_clusters_by_potential_weight_follow_the_money():
    a = _blobs()
    pot = np.full(len(a), 1.0)
    pot[150:230] = 100.0  # the Xiamen blob holds the potential
    a[S.POTENTIAL_CNY] = pot
    c = D.find_clusters(a, D.ClusterOptions(weight="potential", min_weight=20))
    assert (c.labels.to_numpy()[150:230] == 0).all()


def test_hex_cells_account_for_everything():
    a = _blobs()
    cells = D.hex_cells(a, resolution=7, weight=D.account_weights(a, "count"))
    assert cells["accounts"].sum() == len(a)
    assert cells[["A", "B", "C"]].sum().sum() == len(a)
    assert cells.geometry.is_valid.all()
    # every account lies in its cell's hexagon
    import shapely
    own = cells.set_index("cell").geometry
    acc_cells = D.h3_cells(a[S.LON], a[S.LAT], 7)
    inside = [shapely.intersects(own[c], shapely.Point(x, y)) for c, x, y in zip(acc_cells, a[S.LON], a[S.LAT])]
    assert all(inside)


def test_visits_per_day():
    day = D.WorkingDay()  # 8:00-18:00, 45 min visits, 15 min between, at most 8
    v = D.visits_per_day([0, 60, 90, 120, 299, 300], day)
    assert v.tolist() == [8, 8, 7, 6, 0, 0]
    assert D.visits_per_day([0], D.WorkingDay(max_visits=20)).tolist() == [10]
    with pytest.raises(ValueError):
        D.WorkingDay(day_start_min=600, day_end_min=500)


def test_reach_nearest_base_and_shares():
    a = _blobs()
    r = D.reach(a, [(118.58, 24.81), (118.10, 24.48)], thresholds_min=(30, 60))
    assert (r.base_index.to_numpy()[:150] == 0).all() and (r.base_index.to_numpy()[150:230] == 1).all()
    assert r.shares[30] >= 0.9 * 230 / 250
    assert r.shares[30] <= r.shares[60]
    one = D.reach(a, [(118.10, 24.48)])
    assert one.mean_visits_per_day < r.mean_visits_per_day
    k = one.kpis()
    assert k["p90_time_min"] >= k["mean_time_min"] * 0.5 and 0 <= k["share_within_60_min"] <= 1


def test_summarise_by_prefecture():
    a = _blobs()
    s = D.summarise(a, by="prefecture", weight="count")
    assert s["accounts"].sum() == len(a)
    top = s.iloc[0]
    assert top["prefecture_name"] == "泉州市" and top["accounts"] >= 150
