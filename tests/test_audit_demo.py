"""The demo visit log (planner.demo.visits): deterministic, loads clean, honest records keep to the physics,
every planted fake holds its reasons by a clear margin and trips nothing else; and the audit finds them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.demo import visits as V
from planner.io.read import read_file
from planner.io.validate import validate

REASONS = ("far_from_account", "impossible_speed", "overlap", "call_as_visit", "outside_hours", "same_spot",
           "role_mismatch")


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return demo.workspace().load(("accounts", "reps", "offices")).frames


@pytest.fixture(scope="module")
def log(tables, tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log as written (CRM export, GCJ-02) and read back through the validator, with its truth."""
    out = tmp_path_factory.mktemp("visits")
    paths = V.write(out, *V.make(tables["accounts"], tables["reps"], tables["offices"]))
    res = validate(read_file(paths[0]), "visits", crs="gcj02")
    assert len(res.rejected) == 0, res.rejected.head()
    return res.table, pd.read_csv(paths[1], dtype=str, keep_default_na=False)


def _hav_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(np.subtract(lon2, lon1)) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _metrics(v: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per record, the physics: distance to the account and to the base office, minutes, clock, and the
    straight-line speed from the rep's previous positioned check-in that day (timed from its check-out, or
    from its check-in when they overlap) and to the next."""
    acc = tables["accounts"].set_index(S.ID)
    off = tables["offices"].set_index(S.ID)
    base = tables["reps"].set_index(S.ID)[S.BASE_OFFICE]
    m = v.sort_values([S.VISIT_REP, S.CHECK_IN], kind="stable").reset_index(drop=True)
    m["dist_m"] = _hav_m(m[S.LON], m[S.LAT], m[S.ACCOUNT].map(acc[S.LON]), m[S.ACCOUNT].map(acc[S.LAT]))
    b = m[S.VISIT_REP].map(base)
    m["base_m"] = _hav_m(m[S.LON], m[S.LAT], b.map(off[S.LON]), b.map(off[S.LAT]))
    m["minutes"] = (m[S.CHECK_OUT] - m[S.CHECK_IN]).dt.total_seconds() / 60
    m["in_min"] = m[S.CHECK_IN].dt.hour * 60 + m[S.CHECK_IN].dt.minute + m[S.CHECK_IN].dt.second / 60
    m["out_min"] = (m[S.CHECK_OUT] - m[S.CHECK_IN].dt.normalize()).dt.total_seconds() / 60
    m["day"] = m[S.CHECK_IN].dt.normalize()
    m["speed_in"], m["prev_id"] = np.nan, ""
    pos = m[m[S.LON].notna()]
    for _, g in pos.groupby([S.VISIT_REP, "day"]):
        if len(g) < 2:
            continue
        left = np.where(g[S.CHECK_OUT].to_numpy()[:-1] <= g[S.CHECK_IN].to_numpy()[1:],
                        g[S.CHECK_OUT].to_numpy()[:-1], g[S.CHECK_IN].to_numpy()[:-1])
        hours = np.maximum((g[S.CHECK_IN].to_numpy()[1:] - left) / np.timedelta64(1, "m"), 1.0) / 60
        km = _hav_m(g[S.LON].to_numpy()[:-1], g[S.LAT].to_numpy()[:-1], g[S.LON].to_numpy()[1:],
                    g[S.LAT].to_numpy()[1:]) / 1000
        m.loc[g.index[1:], "speed_in"] = np.where(km > 2.0, km / hours, 0.0)
        m.loc[g.index[1:], "prev_id"] = g[S.ID].to_numpy()[:-1]
    m["speed_out"] = np.nan
    for _, g in pos.groupby([S.VISIT_REP, "day"]):
        m.loc[g.index[:-1], "speed_out"] = m.loc[g.index[1:], "speed_in"].to_numpy()
    vis = m[m[S.VISIT_KIND] == "visit"]
    m["lead_min"] = (vis.groupby(S.VISIT_REP)[S.CHECK_OUT].shift() - vis[S.CHECK_IN]).dt.total_seconds() / 60
    return m


def _spot_count(m: pd.DataFrame, within_m: float) -> pd.Series:
    """Per far-away visit: the different far-away accounts the rep checked in that day within ``within_m``."""
    out = pd.Series(0, index=m.index)
    far = m[(m[S.VISIT_KIND] == "visit") & (m["dist_m"] > 500)]
    for _, g in far.groupby([S.VISIT_REP, "day"]):
        lon, lat = g[S.LON].to_numpy(), g[S.LAT].to_numpy()
        d = _hav_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
        accs = g[S.ACCOUNT].to_numpy()
        out[g.index] = [len(set(accs[row <= within_m])) for row in d]
    return out


def test_same_seed_same_bytes(tables, tmp_path):
    a = V.write(tmp_path / "a", *V.make(tables["accounts"], tables["reps"], tables["offices"], seed=0))
    assert V.main([str(tmp_path / "b")]) == 0
    other = V.write(tmp_path / "c", *V.make(tables["accounts"], tables["reps"], tables["offices"], seed=1))
    for p in a:
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
        assert p.read_bytes() == (demo.demo_dir() / p.name).read_bytes(), \
            f"geodata/demo/{p.name} is stale: regenerate it with 'python -m planner.demo.visits'"
        assert p.read_bytes() != (tmp_path / "c" / p.name).read_bytes()
        assert p.stat().st_size < 3_000_000
    assert [x.name for x in other] == ["visits.csv", "visits_truth.csv"]


def test_loads_clean_as_a_crm_export(log, tables):
    v, truth = log
    raw = read_file(demo.demo_dir() / "visits.csv")
    assert {"拜访编号", "工号", "客户编号", "签到时间", "签退时间", "经度", "纬度", "拜访方式", "联系人职务", "备注"} \
        <= set(raw.frame.columns)
    assert set(raw.frame["拜访方式"]) == {"上门", "电话"}
    made, _ = V.make(tables["accounts"], tables["reps"], tables["offices"])
    assert len(v) == len(made) and v[S.SYNTHETIC].all() and v[S.ID].is_unique
    back = made.set_index(S.ID).loc[v[S.ID]]
    gap = _hav_m(v[S.LON].to_numpy(), v[S.LAT].to_numpy(), back[S.LON].to_numpy(), back[S.LAT].to_numpy())
    assert np.nanmax(gap) < 1.0  # GCJ-02 and back, to the metre
    assert (v[S.LON].isna() == back[S.LON].isna().to_numpy()).all()
    assert v.loc[v[S.LON].isna(), S.VISIT_KIND].eq("call").all()  # only calls on the road have no position
    assert set(truth["visit_id"]) <= set(v[S.ID]) and truth["visit_id"].is_unique
    assert set(v[S.VISIT_REP]) == {f"R{k:02d}" for k in range(5, 26)}


def test_honest_records_keep_to_the_physics(log, tables):
    from planner.solvers.audit import role_rank

    v, truth = log
    honest = v[~v[S.ID].isin(truth["visit_id"])]
    m = _metrics(honest, tables)
    vis, calls = m[m[S.VISIT_KIND] == "visit"], m[m[S.VISIT_KIND] == "call"]
    assert vis["dist_m"].max() < 150
    assert vis["minutes"].min() >= 25 - 1e-6 and vis["minutes"].max() <= 90 + 1e-6
    assert calls["minutes"].between(5, 20).all()
    assert calls.loc[calls[S.LON].notna(), "base_m"].max() < 50  # calls with a position: from the office
    assert m["in_min"].min() >= 7 * 60 and m["out_min"].max() <= 21 * 60
    assert calls["in_min"].min() >= 8 * 60 + 30 and calls["out_min"].max() <= 18 * 60
    assert m["speed_in"].max() < 100  # straight line, consecutive honest check-ins of a rep's day
    assert not (m["lead_min"] > 0).any()  # no honest visit starts before the previous one ended
    assert (m[S.CHECK_IN].dt.day_of_week < 6).all()
    role, noted = m[S.CONTACT_ROLE].map(role_rank), m[S.NOTES].map(role_rank)
    assert ((noted == 0) | (noted == role)).all()
    assert (role > 0).mean() > 0.7


def test_every_fake_holds_by_a_margin_and_trips_nothing_else(log, tables):
    from planner.solvers.audit import role_rank

    v, truth = log
    m = _metrics(v, tables).merge(truth, how="left", left_on=S.ID, right_on="visit_id")
    m["reasons"] = m["reasons"].fillna("")
    has = {r: m["reasons"].str.split(";").map(lambda xs, r=r: r in xs) for r in REASONS}
    vis = m[S.VISIT_KIND] == "visit"
    checks = {
        "far_from_account": (m["dist_m"] >= 2000, ~vis | (m["dist_m"] < 150)),
        "call_as_visit": ((m["minutes"] <= 6) | ((m["base_m"] <= 50) & (m["dist_m"] >= 20_000)),
                          ~vis | ((m["minutes"] >= 15) & ((m["base_m"] > 1000) | (m["dist_m"] < 150)))),
        "outside_hours": ((m["in_min"] <= 6 * 60 + 15) | (m["out_min"] >= 22 * 60),
                          (m["in_min"] >= 7 * 60) & (m["out_min"] <= 21 * 60)),
        "overlap": (m["lead_min"] >= 15, ~(m["lead_min"] > 0)),
        "impossible_speed": ((m["speed_in"] >= 150) & (m["speed_out"] >= 150), pd.Series(True, index=m.index)),
        "same_spot": (_spot_count(m, 15) >= 4, _spot_count(m, 50) < 3),
        "role_mismatch": ((m[S.CONTACT_ROLE].map(role_rank) > 0) & (m[S.NOTES].map(role_rank) > 0)
                          & (m[S.CONTACT_ROLE].map(role_rank) != m[S.NOTES].map(role_rank)),
                          m[S.NOTES].map(role_rank).isin([0]) | (m[S.NOTES].map(role_rank)
                                                                 == m[S.CONTACT_ROLE].map(role_rank))),
    }
    for reason, (holds, clean) in checks.items():
        assert holds[has[reason]].all(), (reason, m.loc[has[reason] & ~holds, [S.ID, "evidence"]])
        assert clean[~has[reason]].all(), (reason, m.loc[~has[reason] & ~clean, [S.ID, "reasons"]])
    # speed: the only legs over 100 km/h are those into and out of a planted impossible visit
    fake = set(m.loc[has["impossible_speed"], S.ID])
    fast = m[m["speed_in"] >= 100]
    assert (fast[S.ID].isin(fake) | fast["prev_id"].isin(fake)).all(), fast[[S.ID, "prev_id", "speed_in"]]


def test_every_kind_is_planted_often_over_reps_and_weeks(log):
    v, truth = log
    t = truth.merge(v[[S.ID, S.VISIT_REP, S.CHECK_IN]], left_on="visit_id", right_on=S.ID)
    for reason in REASONS:
        mine = t[t["reasons"].str.split(";").map(lambda xs, r=reason: r in xs)]
        assert len(mine) >= 15, reason
        assert mine[S.VISIT_REP].nunique() >= 5 and mine[S.CHECK_IN].dt.isocalendar().week.nunique() >= 3, reason
    assert set(truth["planted"]) == set(REASONS)
    assert len(truth) < 0.1 * len(v)


def test_the_audit_finds_every_fake_and_flags_no_honest_record(log, tables, capsys):
    A = pytest.importorskip("planner.solvers.audit")
    if not hasattr(A, "audit"):
        pytest.skip("planner.solvers.audit.audit is not written yet")
    v, truth = log
    plan = A.audit(v, tables["accounts"], tables["reps"], tables["offices"], A.AuditOptions())
    flags = plan.flags
    said = truth.set_index("visit_id")["reasons"].str.split(";").map(set)
    rows = []
    for reason in REASONS:
        flagged = set(flags.loc[flags["reason"] == reason, "visit_id"])
        planted = {i for i, rs in said.items() if reason in rs}
        right = flagged & planted
        rows.append({"reason": reason, "planted": len(planted), "flagged": len(flagged), "right": len(right),
                     "precision": len(right) / len(flagged) if flagged else float("nan"),
                     "recall": len(right) / len(planted) if planted else float("nan")})
    table = pd.DataFrame(rows)
    with capsys.disabled():
        print("\n" + table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    honest_flagged = set(flags["visit_id"]) - set(truth["visit_id"])
    assert not honest_flagged, flags[flags["visit_id"].isin(honest_flagged)]
    assert (table["recall"] == 1.0).all(), table
