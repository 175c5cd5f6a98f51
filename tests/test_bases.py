"""Base location adapter: plans on tiny cases, locks, exclusions, capacities, bad settings."""

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.solvers import bases as B

GROUPS = {"JJ": (118.58, 24.81), "XM": (118.10, 24.48), "PT": (119.01, 25.44)}
FAR = (117.0, 25.1)  # Longyan: far from every group


def _setup(n_per=(60, 30, 20), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for (g, (x, y)), n in zip(GROUPS.items(), n_per):
        for i in range(n):
            rows.append({S.ID: f"{g}{i}", S.NAME: "x (synthetic)", S.LON: x + rng.normal(0, 0.01),
                         S.LAT: y + rng.normal(0, 0.01), S.CLASS: "B", S.STATUS: "prospect", S.POTENTIAL_CNY: 1.0,
                         "group": g})
    acc = pd.DataFrame(rows)
    off = pd.DataFrame([{S.ID: f"O-{g}", S.NAME: g, S.LON: x, S.LAT: y, S.DESKS: 10,
                         S.OFFICE_STATUS: "current" if g == "XM" else "candidate"} for g, (x, y) in GROUPS.items()]
                       + [{S.ID: "O-FAR", S.NAME: "far", S.LON: FAR[0], S.LAT: FAR[1], S.DESKS: 10,
                           S.OFFICE_STATUS: "candidate"}])
    return acc, off


def test_three_groups_three_bases():
    acc, off = _setup()
    plan = B.solve_bases(acc, off, reps=12, options=B.BaseOptions(k=3))
    assert plan.report.status == "optimal"
    assert set(plan.bases["id"]) == {"O-JJ", "O-XM", "O-PT"}
    assert (plan.assignment["base"] == "O-" + acc["group"]).all()
    assert plan.bases["reps"].sum() == 12 and (plan.bases["reps"] >= 2).all()
    # reps follow workload: Jinjiang serves 60 of 110 accounts
    jj = plan.bases.set_index("id").loc["O-JJ"]
    assert jj["reps"] == plan.bases["reps"].max()
    assert plan.kpis_after["mean_time_min"] < plan.kpis_before["mean_time_min"]
    assert plan.kpis_after["share_within_60_min"] == 1.0


def test_locked_and_excluded():
    acc, off = _setup()
    plan = B.solve_bases(acc, off, reps=12, options=B.BaseOptions(k=3, locked=("O-FAR",)))
    assert "O-FAR" in set(plan.bases["id"])
    assert plan.bases.set_index("id").loc["O-FAR", "locked"]
    plan = B.solve_bases(acc, off, reps=12, options=B.BaseOptions(k=2, excluded=("O-JJ",)))
    assert "O-JJ" not in set(plan.bases["id"])


def test_capacity_splits_a_group():
    acc, off = _setup(n_per=(60, 10, 10))
    off.loc[off[S.ID] == "O-JJ", S.DESKS] = 3  # 3 of 10 reps, but Jinjiang has 75% of the work
    plan = B.solve_bases(acc, off, reps=10, options=B.BaseOptions(k=3, capacitated=True, min_team=1))
    assert plan.report.ok or plan.report.status == "partial"
    per_rep = len(acc) / 10
    served = plan.bases.set_index("id")["weight"]
    desks = off.set_index(S.ID)[S.DESKS]
    for b, w in served.items():
        assert w <= desks[b] * per_rep + 1e-6, (b, w)
    assert (plan.bases["reps"] <= plan.bases["desks"]).all()


@pytest.mark.parametrize("opts, words", [
    (dict(k=5), "larger than the 4 candidate"),
    (dict(k=1, locked=("O-JJ", "O-XM")), "2 locked bases but k = 1"),
    (dict(k=2, excluded=("O-JJ", "O-XM", "O-PT", "O-FAR")), "no candidate bases"),
])
def test_bad_settings_say_what(opts, words):
    acc, off = _setup()
    plan = B.solve_bases(acc, off, reps=5, options=B.BaseOptions(**opts))
    assert plan.report.status == "invalid"
    assert words in plan.report.message
    assert plan.kpis_before  # today's numbers are still there


def test_unknown_office_id_is_refused():
    acc, off = _setup()
    with pytest.raises(ValueError, match="O-NOPE"):
        B.solve_bases(acc, off, reps=5, options=B.BaseOptions(k=2, locked=("O-NOPE",)))


def test_capacity_below_demand_is_reported():
    acc, off = _setup()
    off[S.DESKS] = 1  # 4 bases x 1 desk, 12 reps of work
    plan = B.solve_bases(acc, off, reps=12, options=B.BaseOptions(k=2, capacitated=True, min_team=0))
    assert plan.report.status in ("infeasible", "partial")
    assert any("capacity" in v for v in plan.report.violated)


def test_headcount_rounding():
    # 60/30/10 of the work, 10 reps, at least 2 each: [5, 3, 2] keeps the heaviest load at 12 per rep
    x, notes = B._headcount(np.array([60.0, 30.0, 10.0]), 10, np.array([2, 2, 2]), np.array([10, 10, 10]))
    assert x.tolist() == [5, 3, 2] and not notes
    x, notes = B._headcount(np.array([60.0, 30.0, 10.0]), 10, np.array([0, 0, 0]), np.array([3, 10, 10]))
    assert x.sum() == 10 and x[0] == 3
    x, notes = B._headcount(np.array([1.0, 1.0]), 3, np.array([2, 2]), np.array([9, 9]))
    assert x.sum() == 3 and "minimum team size" in notes[0]


def test_demo_plan_is_deterministic_and_aggregation_is_reported():
    sc = demo.load_demo()
    opt = B.BaseOptions(k=2, aggregate_above=1000, time_limit_s=20)
    p1 = B.solve_bases(sc.accounts, sc.offices, reps=len(sc.reps), options=opt)
    p2 = B.solve_bases(sc.accounts, sc.offices, reps=len(sc.reps), options=opt)
    assert list(p1.bases["id"]) == list(p2.bases["id"])
    assert p1.demand_points < len(sc.accounts)
    assert 0 <= p1.aggregation_error < 0.05
    assert p1.kpis_after["mean_time_min"] < p1.kpis_before["mean_time_min"]
    assert len(p1.assignment) == len(sc.accounts) and p1.assignment["base"].notna().all()


class _NoRoadTo:
    """The built-in travel model, except that no road reaches the office at ``lonlat`` (an OSRM ``null``)."""

    def __init__(self, lonlat):
        from planner.geo import travel

        self.inner = travel.GreatCircleBackend()
        self.lonlat = np.asarray(lonlat, float)

    def cache_key(self) -> str:
        return "no-road-test"

    def matrix(self, origins, destinations):
        from planner.geo import travel

        m = self.inner.matrix(origins, destinations)
        cut = np.all(np.isclose(np.asarray(destinations, float), self.lonlat), axis=1)
        t, d = m.time_s.copy(), m.distance_m.copy()
        t[:, cut] = np.inf
        d[:, cut] = np.inf
        return travel.Matrix(distance_m=d, time_s=t, backend="test")


def test_offices_no_road_reaches_are_named_and_never_chosen():
    acc, off = _setup()
    jj = off.loc[off[S.ID] == "O-JJ", [S.LON, S.LAT]].to_numpy(float)[0]
    plan = B.solve_bases(acc, off, reps=12, options=B.BaseOptions(k=2), backend=_NoRoadTo(jj))
    assert plan.report.ok and len(plan.bases) == 2
    assert "O-JJ" not in set(plan.bases["id"])
    assert "unreachable pairs" in plan.report.message and "-> O-JJ" in plan.report.message


def test_candidate_sites_come_from_the_accounts_counties_when_the_user_lists_none():
    # accounts in Foshan and Dongguan (Guangdong), one office in Guangzhou, no candidate sites given
    rng = np.random.default_rng(3)
    pts = np.vstack([rng.normal((113.12, 23.02), 0.03, (40, 2)), rng.normal((113.75, 23.02), 0.03, (40, 2))])
    acc = pd.DataFrame({S.ID: [f"G{i}" for i in range(80)], S.LON: pts[:, 0], S.LAT: pts[:, 1], S.CLASS: "B",
                        S.STATUS: "prospect", S.POTENTIAL_CNY: 1.0})
    off = pd.DataFrame({S.ID: ["GZ"], S.NAME: ["广州办公室"], S.LON: [113.26], S.LAT: [23.13],
                        S.OFFICE_STATUS: ["current"], S.DESKS: [30]})
    sites = B.candidate_sites(acc, off)
    assert sites[S.ID].iloc[0] == "GZ" and len(sites) > 5
    seats = sites[sites[S.OFFICE_KIND] == "county_seat"]
    assert set(seats[S.ADCODE].str[:4]) <= {"4406", "4419"}  # Foshan and Dongguan only
    assert (sites[S.OFFICE_STATUS].iloc[1:] == "candidate").all()
    plan = B.solve_bases(acc, off, reps=6, options=B.BaseOptions(k=2))
    assert plan.report.ok and not set(plan.bases["id"]) & {"GZ"}  # two bases where the accounts are
    assert B.solve_bases(acc, off, reps=6, options=B.BaseOptions(k=1, candidate_sites=False)).bases["id"].tolist() \
        == ["GZ"]
    # a user's own candidate list is used as it is
    mine = pd.concat([off, off.assign(**{S.ID: "FS", S.OFFICE_STATUS: "candidate", S.LON: 113.12})])
    assert len(B.candidate_sites(acc, mine)) == 2
