"""The rep's day (planner.days): invariants, known answers, reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from planner import schema as S
from planner.solvers.days import DayOptions, DayProblem, RoutingModel, SearchOptions, prize_of, route, solve

BASE = (118.0, 24.5)
DATE = "2026-11-24"
FAST = dict(time_limit_s=20.0, solution_limit=60)


def _offices():
    return pd.DataFrame({S.ID: ["OF"], S.LON: [BASE[0]], S.LAT: [BASE[1]]})


def _reps(ids=("R1", "R2")):
    return pd.DataFrame({S.ID: list(ids), S.BASE_OFFICE: ["OF"] * len(ids), S.LEVEL: ["sales"] * len(ids)})


def _accounts(rows):
    """rows: (id, dlon_km, dlat_km, owner, stage, class, appt 'HH:MM' or None, appt minutes)."""
    out = []
    for i, (aid, dx, dy, owner, stage, cls, appt, dur) in enumerate(rows):
        a0 = pd.Timestamp(f"{DATE} {appt}") if appt else pd.NaT
        out.append({S.ID: aid, S.NAME: aid, S.LON: BASE[0] + dx / 101.0, S.LAT: BASE[1] + dy / 111.0,
                    S.STATUS: "prospect", S.OWNER: owner, S.CLASS: cls, S.POTENTIAL_CNY: 50_000.0,
                    S.STAGE: stage, S.LAST_VISIT: pd.Timestamp("2026-10-01"),
                    S.APPT_START: a0, S.APPT_END: a0 + pd.Timedelta(minutes=dur) if appt else pd.NaT,
                    S.SOURCE_ROW: i + 2})
    df = pd.DataFrame(out)
    for c in (S.LAST_VISIT, S.APPT_START, S.APPT_END):
        df[c] = pd.to_datetime(df[c])
    return df


def _team_accounts():
    rows = [("AP1", 5, 5, "R1", "closing", "A", "10:00", 60), ("AP2", -5, 4, "R1", "follow-up", "B", "15:00", 60),
            ("AP3", 6, -5, "R2", "closing", "A", "09:30", 60), ("AP4", -6, -4, "R2", "follow-up", "B", "14:00", 60)]
    k = 0
    for owner in ("R1", "R2"):
        for stage, n in (("follow-up", 4), ("closing", 4)):
            for _ in range(n):
                k += 1
                rows.append((f"O{k}", (k % 5) - 2.0, (k % 3) - 1.0, owner, stage, "B", None, 0))
    for j in range(20):  # a shared pool near everybody
        rows.append((f"P{j}", (j % 7) - 3.0, (j % 4) - 1.5, S.PUBLIC_POOL, "new", "C", None, 0))
    rows.append(("FAR", -150, 150, S.PUBLIC_POOL, "new", "A", None, 0))
    return _accounts(rows)


def _plan(accounts=None, reps=("R1", "R2"), **opts):
    acc = _team_accounts() if accounts is None else accounts
    return solve(DayProblem(acc, _reps(reps), _offices(), DATE), DayOptions(**{**FAST, **opts}))


@pytest.fixture(scope="module")
def team_plan():
    return _plan()


def test_every_account_is_planned_or_left_out_with_a_reason(team_plan):
    visits = team_plan.stops[team_plan.stops["kind"] != "base"]
    acc = _team_accounts()
    assert set(visits[S.ID]) | set(team_plan.left_out[S.ID]) == set(acc[S.ID])
    assert not set(visits[S.ID]) & set(team_plan.left_out[S.ID])
    assert team_plan.left_out["reason"].str.len().min() > 0


def test_no_pool_prospect_in_two_routes(team_plan):
    visits = team_plan.stops[team_plan.stops["kind"] != "base"]
    assert not visits[S.ID].duplicated().any()
    # prospects wanted by both reps: the plan says who got them, and the other rep does not have them
    got = dict(zip(visits[S.ID], visits["rep"]))
    assert len(team_plan.contested) > 0
    for _, r in team_plan.contested.iterrows():
        by = r["reason"].split("(")[1].rstrip(")")
        assert got[r[S.ID]] == by and by not in r["candidate_for"].split(", ")


def test_appointments_kept_and_routes_inside_the_day(team_plan):
    visits = team_plan.stops[team_plan.stops["kind"] != "base"]
    assert {"AP1", "AP2", "AP3", "AP4"} <= set(visits[S.ID])
    ap = visits[visits["appointment"]].set_index(S.ID)
    assert ap.loc["AP1", "start"] == pd.Timestamp(f"{DATE} 10:00")
    assert ap.loc["AP1", "rep"] == "R1" and ap.loc["AP3", "rep"] == "R2"
    s = team_plan.stops
    assert (s["arrival"] <= pd.Timestamp(f"{DATE} 18:00")).all()
    assert (s["departure"].groupby(s["rep"]).min() >= pd.Timestamp(f"{DATE} 08:00")).all()
    for _, g in s.groupby("rep"):
        g = g.sort_values("seq")
        assert g["kind"].iloc[0] == "base" and g["kind"].iloc[-1] == "base"
        assert (g["start"].to_numpy()[1:] >= g["departure"].to_numpy()[:-1]).all()
        assert (g["start"] >= g["arrival"]).all()
    assert team_plan.report.status == "feasible"


def test_mix_respected_when_feasible(team_plan):
    k = team_plan.kpis.set_index("rep")
    for r in ("R1", "R2"):
        assert k.loc[r, "visits"] <= 8
        assert k.loc[r, "new"] == 4 and k.loc[r, "follow-up"] == 2 and k.loc[r, "closing"] == 2
        assert k.loc[r, "mix_met"]
        assert k.loc[r, "standard_3_5_8"] == "2-4-8"


def test_far_prospect_outside_the_radius_gets_that_reason(team_plan):
    row = team_plan.left_out.set_index(S.ID).loc["FAR"]
    assert row["reason_code"] == "radius"


def test_impossible_appointment_gets_a_reason():
    acc = _accounts([("OK", 3, 3, "R1", "closing", "A", "11:00", 60),
                     ("NOPE", 150, 0, "R1", "closing", "A", "08:10", 60),
                     ("F1", 2, 2, "R1", "follow-up", "B", None, 0)])
    plan = _plan(acc, reps=("R1",))
    lo = plan.left_out.set_index(S.ID)
    assert lo.loc["NOPE", "reason_code"] == "appointment"
    assert "earliest arrival" in lo.loc["NOPE", "reason"]
    assert plan.report.status == "partial" and any("NOPE" in v for v in plan.report.violated)
    assert "OK" in set(plan.stops[S.ID])


def test_two_clashing_appointments_one_reported():
    acc = _accounts([("X1", 3, 3, "R1", "closing", "A", "10:00", 60),
                     ("X2", -3, -3, "R1", "closing", "B", "10:15", 60)])
    plan = _plan(acc, reps=("R1",))
    kept = set(plan.stops[S.ID]) & {"X1", "X2"}
    assert len(kept) == 1
    missed = ({"X1", "X2"} - kept).pop()
    assert "conflicts" in plan.left_out.set_index(S.ID).loc[missed, "reason"]


def test_same_seed_same_plan():
    a = _plan(seed=3)
    b = _plan(seed=3)
    pd.testing.assert_frame_equal(a.stops, b.stops)


def test_bad_options_and_input_name_the_field():
    with pytest.raises(ValueError, match="visits_per_day"):
        DayOptions(visits_per_day=0)
    with pytest.raises(ValueError, match="mix"):
        DayOptions(mix={"new": 4})
    reps = _reps(("R1",)).assign(**{S.BASE_OFFICE: ["NOWHERE"]})
    with pytest.raises(ValueError, match="row .*base_office"):
        DayProblem(_team_accounts(), reps, _offices(), DATE)


def test_prize_orders_class_stage_and_overdue():
    acc = _accounts([("a", 0, 0, "R1", "closing", "A", None, 0), ("b", 0, 0, "R1", "closing", "C", None, 0),
                     ("c", 0, 0, "R1", "new", "A", None, 0)])
    p = prize_of(acc, pd.Timestamp(DATE), DayOptions())
    assert p[0] > p[1] and p[0] > p[2]


# --- the generic engine: a tiny instance with a known best plan --------------------------
def _line_model(m=1, day=100):
    # depot 0 at x=0; customers at x=10,20,30,-40 with prizes 1,2,3,10; travel = |dx|
    xs = np.array([0, 10, 20, 30, -40])
    travel = np.abs(xs[:, None] - xs[None, :])
    n = len(xs)
    return RoutingModel(travel=travel, service=np.zeros(n, int), open=np.zeros(n, int), close=np.full(n, day),
                        prize=np.array([0, 1, 2, 3, 10]), starts=(0,) * m, ends=(0,) * m,
                        vehicle_open=(0,) * m, vehicle_close=(day,) * m)


def test_tiny_known_best():
    # one tour of length <= 100: 0-10-(-40)-0 is 100 long (prize 11); 10-20-30 is 60 (prize 6);
    # -40 with 20 or 30 is over 100.  Two tours: everything (16) with 80 + 60 = 140 travel.
    res = route(_line_model(), SearchOptions(time_limit_s=1.0, solution_limit=100))
    assert res.prize == 11 and res.dropped == (2, 3)
    res2 = route(_line_model(m=2), SearchOptions(time_limit_s=1.0, solution_limit=100))
    assert res2.prize == 16 and res2.travel == 140


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_random_instances_respect_windows_and_day(seed, m):
    rng = np.random.default_rng(seed)
    n = 9
    xy = rng.uniform(0, 50, size=(n, 2))
    travel = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))).astype(int)
    open_ = rng.integers(0, 60, n)
    open_[0] = 0
    close = open_ + rng.integers(5, 60, n)
    close[0] = 150
    service = rng.integers(1, 10, n)
    service[0] = 0
    model = RoutingModel(travel=travel, service=service, open=open_, close=close, prize=rng.integers(1, 20, n),
                         starts=(0,) * m, ends=(0,) * m, vehicle_open=(0,) * m, vehicle_close=(150,) * m)
    res = route(model, SearchOptions(time_limit_s=0.5, solution_limit=50, restarts=1))
    seen = []
    for r in res.routes:
        for (a, ta), (b, tb) in zip(r[:-1], r[1:]):
            assert tb >= ta + service[a] + travel[a, b]
            if b != 0:
                assert open_[b] <= tb <= close[b]
                seen.append(b)
        assert r[-1][1] <= 150
    assert len(seen) == len(set(seen))
    assert set(seen) | set(res.dropped) == set(range(1, n))


# --- re-planning, exports, CLI ---------------------------------------------------------------
def test_replan_keeps_finished_visits_and_adds_the_new_appointment(team_plan):
    from planner.solvers.days import replan

    acc = _team_accounts()
    problem = DayProblem(acc, _reps(), _offices(), DATE)
    r1 = team_plan.stops[(team_plan.stops["rep"] == "R1") & (team_plan.stops["kind"] != "base")]
    done = list(r1[S.ID].iloc[:2])
    last_dep = r1["departure"].iloc[1]
    new_id = next(a for a in team_plan.left_out[S.ID] if a.startswith("P"))
    start = last_dep + pd.Timedelta(hours=2)
    na = pd.DataFrame({S.ID: [new_id], S.APPT_START: [start], S.APPT_END: [start + pd.Timedelta(minutes=30)]})
    q = replan(team_plan, problem, "R1", done=done, now=last_dep, new_appointments=na,
               options=DayOptions(**FAST))
    visits = q.stops[q.stops["kind"] != "base"]
    assert list(visits[S.ID].iloc[:2]) == done
    pd.testing.assert_frame_equal(visits.iloc[:2].drop(columns="seq").reset_index(drop=True),
                                  r1.iloc[:2].drop(columns="seq").reset_index(drop=True))
    assert new_id in set(visits[S.ID])
    assert (visits["start"].iloc[2:] >= last_dep).all()
    others = set(team_plan.stops.loc[team_plan.stops["rep"] == "R2", S.ID])
    assert not (set(visits[S.ID]) & others)
    assert len(visits) <= 8
    with pytest.raises(ValueError, match="done"):
        replan(team_plan, problem, "R1", done=["AP3"], now=last_dep)
    # merged back into the team plan: other reps untouched, every account a stop or left out, once
    from planner.solvers.days import merge_rep_plan

    merged = merge_rep_plan(team_plan, "R1", q)
    r2 = lambda p: p.stops[p.stops["rep"] == "R2"].reset_index(drop=True)
    pd.testing.assert_frame_equal(r2(merged), r2(team_plan))
    planned = list(merged.stops.loc[merged.stops["kind"] != "base", S.ID])
    assert len(planned) == len(set(planned))
    assert not set(planned) & set(merged.left_out[S.ID])
    assert set(planned) | set(merged.left_out[S.ID]) == set(acc[S.ID])


def test_exports_excel_ics_links(team_plan, tmp_path):
    import openpyxl

    from planner.app.export import days as days_export

    it = days_export.itinerary(team_plan, "R1")
    assert it["amap"].str.startswith("https://uri.amap.com/marker").all()
    assert it["baidu"].str.startswith("https://api.map.baidu.com/marker").all()
    paths = days_export.write_all(team_plan, tmp_path)
    wb = openpyxl.load_workbook(next(p for p in paths if p.suffix == ".xlsx"))
    assert {"kpis", "R1", "R2", "left_out"} <= set(wb.sheetnames)
    text = days_export.ics_text(team_plan, "R1")
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    n_visits = int((team_plan.stops["rep"].eq("R1") & team_plan.stops["kind"].ne("base")).sum())
    assert text.count("BEGIN:VEVENT") == n_visits
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    # the appointment at 10:00 Beijing time is 02:00 UTC
    assert "DTSTART:20261124T020000Z" in text
    unfolded = text.replace("\r\n ", "")
    assert "GEO:" in unfolded and "uri.amap.com" in unfolded


def test_cli_days_writes_plans_and_summary(tmp_path):
    import argparse
    import json

    from planner.app.cli.days import register

    d = tmp_path / "data"
    d.mkdir()
    _team_accounts().drop(columns=[S.SOURCE_ROW]).to_csv(d / "accounts.csv", index=False)
    _reps().to_csv(d / "reps.csv", index=False)
    _offices().to_csv(d / "offices.csv", index=False)
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    out = tmp_path / "out"
    args = p.parse_args(["days", "--date", DATE, "--rep", "R1", "--time-limit", "2", "--out", str(out),
                         "--data", str(d), "--no-map"])
    assert args.func(args) == 0
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summ["reps"] == 1 and summ["appointments_booked"] == 2
    assert (out / f"days_{DATE}.xlsx").exists() and (out / "ics" / f"R1_{DATE}.ics").exists()
    bad = p.parse_args(["days", "--date", "someday", "--out", str(out), "--data", str(d)])
    with pytest.raises(ValueError, match="--date"):
        bad.func(bad)


def test_lunch_break_leaves_an_idle_hour():
    plan = _plan(reps=("R1",), lunch_min=60, time_limit_s=3.0, solution_limit=None)
    s = plan.stops.sort_values("seq")
    visits = s[s["kind"] != "base"]
    assert len(visits) >= 2
    span = (s["arrival"].iloc[-1] - s["departure"].iloc[0]).total_seconds() / 60
    busy = (visits["departure"] - visits["start"]).dt.total_seconds().sum() / 60 + s["travel_min"].sum()
    assert span - busy >= 60 - 1e-6
    assert s["arrival"].iloc[-1] <= pd.Timestamp(f"{DATE} 18:00")


def test_ride_along_joins_whole_visits_newest_rep_first(team_plan):
    from planner.solvers.days import ride_along

    reps = pd.concat([_reps(), pd.DataFrame({S.ID: ["M1"], S.BASE_OFFICE: ["OF"], S.LEVEL: ["M1"]})],
                     ignore_index=True)
    reps[S.MANAGER] = ["M1", "M1", ""]
    reps[S.START_DATE] = pd.to_datetime(["2020-01-01", "2026-09-01", "2018-01-01"])
    problem = DayProblem(_team_accounts(), reps, _offices(), DATE)
    plan, sup = ride_along(team_plan, problem, "M1", time_limit_s=1.0)
    assert len(sup) >= 2
    assert (sup["start"].to_numpy()[1:] >= sup["departure"].to_numpy()[:-1]).all()
    assert set(plan.stops.loc[plan.stops["ride_along"] == "M1", S.ID]) == set(sup[S.ID])
    # R2 is the newest rep: the supervisor spends more of the day with R2 than with R1
    counts = sup["rep"].value_counts()
    assert counts.get("R2", 0) >= counts.get("R1", 0)
    with pytest.raises(ValueError, match="supervisor"):
        ride_along(team_plan, problem, "NOBODY")


def test_no_account_gives_an_empty_plan_that_says_so():
    from planner import demo

    t = demo.workspace().load(["accounts", "reps", "offices"])
    plan = solve(DayProblem(t["accounts"].iloc[0:0], t["reps"], t["offices"], pd.Timestamp("2026-11-24")),
                 DayOptions(time_limit_s=1))
    assert len(plan.stops) == 0 and len(plan.left_out) == 0 and plan.report.message == "no account to plan"
