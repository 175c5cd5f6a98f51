"""The day app: ride-along (陪访) and re-planning controls; the demo's appointments are keepable."""

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app.ui import days as ui_days
from planner.solvers import days as D


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return ui_days.days_app(out_dir=tmp_path_factory.mktemp("days"))


def test_app_builds_on_the_demo(app):
    assert app.plan is not None and len(app.plan.kpis) == 3
    assert app.w["show"].value in set(app.plan.kpis["rep"])
    assert app.w["map"].value.startswith("<iframe srcdoc=")
    assert "<table" in app.w["table"].value
    # the supervisor defaults to the shown rep's manager
    mgr = app.reps.set_index(S.ID).loc[app.w["show"].value, S.MANAGER]
    assert app.w["sup"].value == mgr
    assert {v for _, v in app.w["sup"].options} <= set(
        app.reps.loc[app.reps[S.LEVEL].isin(ui_days.SUPERVISOR_LEVELS), S.ID])


def test_ride_along_marks_joined_stops_consistently(app):
    app.plan_ride_along()
    ride, stops, o = app.ride, app.plan.stops, app.plan.options
    assert ride is not None and len(ride) >= 1, app.w["status"].value
    sup = app.w["sup"].value
    assert (ride["supervisor"] == sup).all()
    # every joined visit is a stop of the plan, at the same times, and marked
    key = stops.set_index(["rep", S.ID])
    for _, r in ride.iterrows():
        s = key.loc[(r["rep"], r[S.ID])]
        assert s["start"] == r["start"] and s["departure"] == r["departure"]
        assert s["ride_along"] == sup
    assert int((stops["ride_along"] == sup).sum()) == len(ride)
    # the supervisor's day is consistent in time: never in two places, out and back within the day
    r = ride.sort_values("start").reset_index(drop=True)
    day0 = app.plan.date + pd.Timedelta(minutes=o.day_start_min)
    assert day0 + pd.Timedelta(minutes=float(r["travel_min"].iloc[0])) <= r["start"].iloc[0]
    for k in range(1, len(r)):
        assert r["departure"].iloc[k - 1] + pd.Timedelta(minutes=float(r["travel_min"].iloc[k])) \
            <= r["start"].iloc[k]
    assert r["departure"].iloc[-1] <= app.plan.date + pd.Timedelta(minutes=o.day_end_min)
    # shown: a column in the itinerary, a dashed route on the map
    rep = r["rep"].iloc[0]
    it = app.itinerary(rep)
    assert (it["ride_along"] == sup).sum() == int((ride["rep"] == rep).sum())
    html = app.map().get_root().render()
    assert f"Ride-along {sup}" in html and '"dashArray": "8 8"' in html


def test_ride_along_errors_show_as_messages(tmp_path):
    a = ui_days.days_app(out_dir=tmp_path, plan_now=False)
    a.plan_ride_along()
    assert "plan the day first" in a.w["status"].value


def test_replan_keeps_finished_stops_and_takes_the_new_appointment(tmp_path):
    a = ui_days.days_app(out_dir=tmp_path)
    rep = a.w["show"].value
    before = a.plan.stops.copy()
    mine = before[(before["rep"] == rep) & (before["kind"] != "base")].sort_values("seq")
    assert len(mine) >= 2
    now = mine["departure"].iloc[1]
    a.w["now"].value = now.time()
    assert list(a.w["done"].value) == list(mine[S.ID].iloc[:2])  # default: finished by "now"
    # bad input: messages, no traceback
    a.w["re_acc"].value = "NO-SUCH-ACCOUNT"
    a.replan()
    assert "no account" in a.w["status"].value
    planned = set(before[S.ID])
    new_id = next(x for x in a.accounts.loc[a.accounts[S.OWNER] == rep, S.ID] if x not in planned)
    a.w["re_acc"].value = new_id
    a.w["re_start"].value, a.w["re_end"].value = dt.time(16, 0), dt.time(15, 0)
    a.replan()
    assert "must be after the start" in a.w["status"].value
    assert a.plan.stops.equals(before)
    # a real re-plan: an appointment two hours after "now"
    start = (now + pd.Timedelta(hours=2)).floor("15min")
    a.w["re_start"].value = start.time()
    a.w["re_end"].value = (start + pd.Timedelta(minutes=30)).time()
    a.replan()
    after = a.plan.stops
    mine2 = after[(after["rep"] == rep) & (after["kind"] != "base")].sort_values("seq")
    cols = [S.ID, "kind", "arrival", "start", "departure", "travel_min"]
    pd.testing.assert_frame_equal(mine2[cols].iloc[:2].reset_index(drop=True),
                                  mine[cols].iloc[:2].reset_index(drop=True))
    assert (mine2["start"].iloc[2:] >= now).all()
    status = a.w["status"].value
    assert new_id in set(mine2[S.ID]) or (f"new appointment {new_id} NOT planned" in status), status
    if new_id in set(mine2[S.ID]):
        row = mine2[mine2[S.ID] == new_id].iloc[0]
        assert row["appointment"] and row["start"] == start
    # the other reps are untouched; every account is a stop or left out, once
    others = lambda s: s[s["rep"] != rep].reset_index(drop=True)
    pd.testing.assert_frame_equal(others(after), others(before))
    visits = after[after["kind"] != "base"]
    assert not visits[S.ID].duplicated().any()
    assert set(visits[S.ID]).isdisjoint(a.plan.left_out[S.ID])
    assert set(visits[S.ID]) | set(a.plan.left_out[S.ID]) == set(a.accounts[S.ID])
    # finished visits shown as done
    it = a.itinerary(rep)
    assert list(it.loc[it["status"] == "done", S.ID]) == list(mine[S.ID].iloc[:2])
    assert "background:#9e9e9e" in a.map().get_root().render()  # finished stops grey


def test_every_demo_appointment_is_keepable():
    """Base office -> account -> base within the day (days.DayOptions defaults, whole travel
    minutes as in planner.days), arriving by the booked start; the second after the first."""
    from planner.geo.travel import travel_matrix

    sc = demo.load_demo()
    o = D.DayOptions()
    acc = sc.accounts.dropna(subset=[S.APPT_START])
    assert len(acc) == 2 * (len(sc.reps) - 4)
    base_of = sc.reps.set_index(S.ID)[S.BASE_OFFICE]
    off = sc.offices.set_index(S.ID)
    for rep, g in acc.sort_values(S.APPT_START).groupby(S.OWNER):
        b = off.loc[base_of[rep]]
        pts = np.vstack([[b[S.LON], b[S.LAT]], g[[S.LON, S.LAT]].to_numpy(float)])
        tt = np.ceil(travel_matrix(pts).time_s.astype(np.float64) / 60.0)  # minutes
        day = pd.Timestamp(g[S.APPT_START].iloc[0]).normalize()
        m0 = ((g[S.APPT_START] - day).dt.total_seconds() / 60).to_numpy()
        m1 = ((g[S.APPT_END] - day).dt.total_seconds() / 60).to_numpy()
        for k in range(len(g)):
            assert o.day_start_min + tt[0, k + 1] <= m0[k] + o.appointment_slack_min, (rep, g[S.ID].iloc[k])
            assert m1[k] + tt[k + 1, 0] <= o.day_end_min, (rep, g[S.ID].iloc[k])
            if k:
                assert m1[k - 1] + tt[k, k + 1] <= m0[k], (rep, g[S.ID].iloc[k])


def test_ride_along_keeps_the_supervisors_own_visits_and_never_overlaps_them():
    from planner import demo
    from planner.solvers import days as D

    sc = demo.load_demo()
    prob = D.DayProblem(sc.accounts, sc.reps, sc.offices, pd.Timestamp("2026-11-24"), rep_ids=("R05", "R06", "R07"))
    full = D.solve(prob, D.DayOptions(time_limit_s=30, solution_limit=5))
    # the supervisor here is a rep with two visits of his own left in the day (the rest of his day free)
    s = full.stops
    mine = s[(s["rep"] == "R07") & (s["kind"] != "base")].sort_values("seq")
    keep = s[(s["rep"] != "R07") | (s["kind"] == "base") | s.index.isin(mine.index[[1, 4]])]
    plan = dataclasses.replace(full, stops=keep)
    own = plan.stops[(plan.stops["rep"] == "R07") & (plan.stops["kind"] != "base")]
    assert len(own) == 2
    joined_plan, ride = D.ride_along(plan, prob, "R07", reps=["R05", "R06"])
    assert len(ride) >= 1 and set(ride["rep"]) <= {"R05", "R06"}
    # his own visits are untouched and not marked as joined
    mine = joined_plan.stops[joined_plan.stops["rep"] == "R07"]
    assert (mine["ride_along"] == "").all()
    assert mine[["start", "departure"]].equals(plan.stops[plan.stops["rep"] == "R07"][["start", "departure"]])
    # one person, one place: his own visits and the joined ones never overlap in time
    spans = sorted([*zip(own["start"], own["departure"]), *zip(ride["start"], ride["departure"])])
    for (s0, d0), (s1, d1) in zip(spans, spans[1:]):
        assert d0 <= s1, (s0, d0, s1, d1)
