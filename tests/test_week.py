"""The week planner: cycles and gaps, full days of eight, nobody in two places, every account accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.errors import InputError
from planner.solvers import week
from planner.solvers.week.demand import RIDE_STEPS

MONDAY = pd.Timestamp("2026-11-23")
FAST = dict(time_limit_s=20.0, solution_limit=40)


def _team(n_fu: int = 10, n_cl: int = 10, n_pool: int = 30, far_km: float = 0.0, seed: int = 0,
          new_rep: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One office; rep R1 (and manager M1 when ``new_rep``) with due follow-ups and closings and a pool,
    all within ~3 km of a point ``far_km`` east of the office."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = 118.10 + far_km / 101.0, 24.48

    def pts(n: int) -> tuple[np.ndarray, np.ndarray]:
        return lon0 + rng.uniform(-0.02, 0.02, n), lat0 + rng.uniform(-0.02, 0.02, n)

    rows = []
    for stage, n, owner in (("follow-up", n_fu, "R1"), ("closing", n_cl, "R1"), ("new", n_pool, S.PUBLIC_POOL)):
        lo, la = pts(n)
        for k in range(n):
            rows.append({S.ID: f"{stage[:2].upper()}{k:03d}", S.NAME: f"{stage} {k}", S.LON: lo[k], S.LAT: la[k],
                         S.OWNER: owner, S.STAGE: stage, S.CLASS: "B",
                         S.LAST_VISIT: MONDAY - pd.Timedelta(days=20) if owner != S.PUBLIC_POOL else pd.NaT,
                         S.POTENTIAL_CNY: 50_000.0, S.APPT_START: pd.NaT, S.APPT_END: pd.NaT})
    acc = pd.DataFrame(rows)
    reps = pd.DataFrame({S.ID: ["R1"], S.BASE_OFFICE: ["O1"], S.MANAGER: [None], S.EXPERIENCED: [True],
                         S.START_DATE: [pd.Timestamp("2020-01-01")]})
    if new_rep:
        reps = pd.DataFrame({S.ID: ["M1", "R1"], S.BASE_OFFICE: ["O1", "O1"], S.MANAGER: [None, "M1"],
                             S.EXPERIENCED: [True, False],
                             S.START_DATE: [pd.Timestamp("2018-01-01"), MONDAY - pd.Timedelta(days=20)]})
    off = pd.DataFrame({S.ID: ["O1"], S.NAME: ["office"], S.LON: [118.10], S.LAT: [24.48]})
    return acc, reps, off


def _solve(acc, reps, off, days=5, **opts):
    return week.solve(week.WeekProblem(acc, reps, off, MONDAY, days=days), week.WeekOptions(**{**FAST, **opts}))


def _accounted_once(plan: week.WeekPlan, acc: pd.DataFrame) -> None:
    visited = set(plan.stops.loc[plan.stops["kind"] != "base", S.ID])
    left = list(plan.left_out[S.ID])
    assert len(left) == len(set(left)), "an account left out twice"
    assert visited.isdisjoint(left)
    assert visited | set(left) == set(acc[S.ID])
    assert (plan.left_out["reason"].str.len() > 0).all()


def test_full_days_of_eight_with_the_mix_where_that_is_feasible():
    acc, reps, off = _team()
    plan = _solve(acc, reps, off)
    rd = plan.rep_days
    assert len(rd) == 5 and (rd["role"] == "selling").all()
    assert rd["visits"].tolist() == [8] * 5, rd[["date", "visits", "shortfall"]]
    assert rd["mix_met"].all(), rd[["date", "new", "follow-up", "closing"]]
    assert (rd[["new", "follow-up", "closing"]].to_numpy() == [4, 2, 2]).all()
    assert plan.kpis["cycle_kept_pct"] == 100.0 and plan.kpis["rep_days_at_standard"] == 5
    assert plan.report.objective == 40 and plan.report.bound == 40
    _accounted_once(plan, acc)


def test_few_closings_hand_their_slots_to_other_kinds():
    acc, reps, off = _team(n_fu=20, n_cl=3, n_pool=40)
    plan = _solve(acc, reps, off)
    assert plan.rep_days["visits"].tolist() == [8] * 5
    assert plan.rep_days["closing"].sum() == 3


def test_no_account_twice_inside_its_gap_over_two_weeks():
    acc, reps, off = _team(n_fu=6, n_cl=0, n_pool=80)
    acc.loc[acc[S.STAGE] == "follow-up", S.CLASS] = "A"  # weekly: twice in ten working days
    acc.loc[acc[S.STAGE] == "follow-up", S.LAST_VISIT] = MONDAY - pd.Timedelta(days=5)
    o = week.WeekOptions()
    plan = _solve(acc, reps, off, days=10)
    v = plan.stops[plan.stops["kind"] != "base"]
    gap = o.min_gap_days["A"]
    twice = 0
    for aid, g in v.groupby(S.ID):
        dates = sorted(g["date"])
        last = acc.loc[acc[S.ID] == aid, S.LAST_VISIT].iloc[0]
        if pd.notna(last):
            assert (dates[0] - last).days >= gap, (aid, dates, last)
        assert all((b - a).days >= gap for a, b in zip(dates, dates[1:])), (aid, dates)
        twice += len(dates) == 2
    assert twice >= 4  # the cycle asks for two visits of each A account; the gap allows them
    _accounted_once(plan, acc)


def test_every_visit_owed_is_planned_or_has_a_reason_and_appointments_are_kept():
    acc, reps, off = _team(n_fu=30, n_cl=20, n_pool=10)  # more owed than 4 slots a day can take
    acc.loc[0, S.APPT_START] = MONDAY + pd.Timedelta(hours=10)
    acc.loc[0, S.APPT_END] = MONDAY + pd.Timedelta(hours=11)
    plan = _solve(acc, reps, off)
    due = plan.due
    assert len(due) == 50
    assert (due["planned_on"].notna() | (due["reason"].str.len() > 0)).all()
    assert due["planned_on"].isna().sum() > 0  # capacity short: the reasons are exercised
    appt = plan.stops[plan.stops["appointment"]]
    assert len(appt) == 1 and appt["start"].iloc[0] == MONDAY + pd.Timedelta(hours=10)
    assert plan.report.status == "feasible" and not plan.report.violated
    _accounted_once(plan, acc)


def test_an_appointment_that_cannot_be_kept_is_reported():
    acc, reps, off = _team()
    acc.loc[0, S.APPT_START] = MONDAY + pd.Timedelta(hours=8, minutes=1)  # 100 km away, a minute after leaving
    acc.loc[0, [S.LON, S.LAT]] = [119.1, 24.48]
    acc.loc[0, S.APPT_END] = acc.loc[0, S.APPT_START] + pd.Timedelta(hours=1)
    plan = _solve(acc, reps, off)
    assert plan.report.status == "partial"
    assert any("cannot be kept" in v for v in plan.report.violated)
    assert "cannot be kept" in plan.left_out.set_index(S.ID).loc[acc.loc[0, S.ID], "reason"]


def _intervals(plan: week.WeekPlan) -> dict[tuple[str, pd.Timestamp], list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """Each person's busy intervals per day: his own stops, and the stops he joins riding along."""
    out: dict[tuple[str, pd.Timestamp], list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    v = plan.stops[plan.stops["kind"] != "base"]
    for r in v.itertuples():
        out.setdefault((r.rep, r.date), []).append((r.start, r.departure))
        if r.ride_along:
            out.setdefault((r.ride_along, r.date), []).append((r.start, r.departure))
    return out


def test_ride_alongs_put_nobody_in_two_places_and_teach_in_order():
    acc, reps, off = _team(new_rep=True)
    extra = acc[acc[S.OWNER] == "R1"].head(6).copy()  # the manager has accounts of his own
    extra[S.ID] = [f"M{k}" for k in range(6)]
    extra[S.OWNER] = "M1"
    acc = pd.concat([acc, extra], ignore_index=True)
    plan = _solve(acc, reps, off)
    assert len(plan.rides) == 2 and set(plan.rides["supervisor"]) == {"M1"} and set(plan.rides["rep"]) == {"R1"}
    ride_dates = set(plan.rides["date"])
    mine = plan.stops[(plan.stops["rep"] == "M1") & (plan.stops["kind"] != "base")]
    assert not set(mine["date"]) & ride_dates, "the supervisor visits his own accounts on a ride day"
    for (_person, _d), iv in _intervals(plan).items():
        iv.sort()
        assert all(a[1] <= b[0] for a, b in zip(iv, iv[1:])), (_person, _d, iv)
    joined = plan.stops[(plan.stops["ride_along"] == "M1") & (plan.stops["kind"] != "base")]
    assert len(joined) > 0 and set(joined["date"]) == ride_dates
    steps = joined.sort_values(["date", "seq"])["ride_step"].tolist()
    assert steps[0] == RIDE_STEPS[0] and steps[-1] == RIDE_STEPS[3]
    assert [RIDE_STEPS.index(s) for s in steps] == sorted(RIDE_STEPS.index(s) for s in steps)
    rd = plan.rep_days.set_index(["rep", "date"])
    assert all(rd.loc[("M1", d), "role"] == "riding" for d in ride_dates)


def test_same_seed_same_week():
    acc, reps, off = _team(n_fu=15, n_cl=8, n_pool=40)
    a = _solve(acc, reps, off, seed=3)
    b = _solve(acc, reps, off, seed=3)
    cols = ["rep", "date", "seq", S.ID, "start"]
    pd.testing.assert_frame_equal(a.stops[cols], b.stops[cols])


def test_a_far_team_says_why_its_days_are_short():
    acc, reps, off = _team(far_km=150.0)
    plan = _solve(acc, reps, off)
    short = plan.rep_days[plan.rep_days["visits"] < 8]
    assert len(short) == 5 and (short["shortfall_code"] == "time").all()
    assert short["shortfall"].str.contains("first visit reachable at").all()
    assert short["shortfall"].str.contains("of driving").all()


def test_offer_slots_ranks_by_lost_visits_then_travel():
    acc, reps, off = _team(n_fu=4, n_cl=2, n_pool=8)  # room in every day
    plan = _solve(acc, reps, off)
    caller = acc.iloc[[-1]].assign(**{S.ID: "X1", S.NAME: "a prospect who called"})  # not in the plan
    prob = week.WeekProblem(pd.concat([acc, caller], ignore_index=True), reps, off, MONDAY)
    slots = week.offer_slots(plan, prob, "X1", rep="R1")
    assert 1 <= len(slots) <= 3
    assert slots["visits_lost"].iloc[0] == 0
    assert list(slots["visits_lost"]) == sorted(slots["visits_lost"])
    assert (slots["start"].dt.minute % 15 == 0).all()
    assert (slots["start"] >= slots["date"] + pd.Timedelta(minutes=plan.options.day_start_min)).all()
    with pytest.raises(InputError, match="NOPE"):
        week.offer_slots(plan, prob, "NOPE")


def test_settings_and_problem_are_checked():
    with pytest.raises(InputError, match="min_gap_days"):
        week.WeekOptions(cycle_days={"A": 7, "B": 14, "C": 28}, min_gap_days={"A": 9, "B": 7, "C": 14})
    acc, reps, off = _team()
    with pytest.raises(InputError, match="days"):
        week.WeekProblem(acc, reps, off, MONDAY, days=0)
    assert [d.day_of_week for d in week.working_days(pd.Timestamp("2026-11-27"), 3)] == [4, 0, 1]


def test_demo_week_from_the_recommended_bases_is_compared():
    from planner import demo
    from planner.solvers import bases

    t = demo.workspace().load(("accounts", "reps", "offices"))
    reps = ("R05", "R09", "R11")
    prob = week.WeekProblem(t["accounts"], t["reps"], t["offices"], MONDAY, days=2, rep_ids=reps)
    o = week.WeekOptions(time_limit_s=6.0)
    before = week.solve(prob, o)
    _accounted_once(before, t["accounts"])
    bp = bases.solve_bases(t["accounts"], t["offices"], reps=len(t["reps"]), options=bases.BaseOptions(k=2))
    moved = week.rebased(prob, bp)
    assert set(moved.reps.set_index(S.ID).loc[list(reps), S.BASE_OFFICE]) <= set(bp.bases[S.ID])
    after = week.solve(moved, o)
    days, per_rep = week.compare(before, after)
    assert len(days) == 2 * len(reps) and set(per_rep["rep"]) == set(reps)
    assert (per_rep["base_before"] == "OF-XM-SIMING").all()
