"""The week app: solve from the button, the calendar grid (escaped), the day picker, the lists, the export."""

from __future__ import annotations

import csv
import html
import re

import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app import ui
from planner.app.export.week import day_label
from planner.app.ui import week as ui_week
from planner.solvers import week as W

BAD_REP = "R05<img src=x onerror=alert(1)>"
BAD_NAME = "</script><script>alert(1)</script>"


def _hostile_folder(d) -> None:
    """The demo's accounts, reps and offices with R05's id and the names of his and R09's accounts hostile."""
    t = demo.workspace().load(("accounts", "reps", "offices")).frames
    acc, reps, off = t["accounts"].copy(), t["reps"].copy(), t["offices"].copy()
    mine = acc.index[acc[S.OWNER].isin(["R05", "R09"])]
    acc.loc[mine, S.NAME] = [f"{BAD_NAME} #{k}" for k in range(len(mine))]
    acc.loc[acc[S.OWNER] == "R05", S.OWNER] = BAD_REP
    reps.loc[reps[S.ID] == "R05", S.ID] = BAD_REP
    for name, df in (("accounts", acc), ("reps", reps), ("offices", off)):
        df.drop(columns=[S.SOURCE_ROW]).to_csv(d / f"{name}.csv", index=False, quoting=csv.QUOTE_NONNUMERIC)
    (d / "planner.toml").write_text('crs = "wgs84"\n', encoding="utf-8")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("week_ui")
    data = root / "data"
    data.mkdir()
    _hostile_folder(data)
    a = ui.week_app(str(data), out_dir=root / "out", options=W.WeekOptions(time_limit_s=3, solution_limit=20))
    assert a.plan is None and "Solve the week" in a.w["status"].value  # nothing solved until asked
    assert str(a.w["start"].value) == "2026-11-23"  # the Monday of the week of the demo's appointments
    a.w["reps"].value = ("R03", "R09", BAD_REP)
    a.w["solve"].click()
    assert a.plan is not None, a.w["status"].value
    return a


def test_solve_shows_the_numbers_and_the_report(app):
    assert app.w["status"].value.startswith("Solved in ") and app.w["progress"].value == 1
    assert app.w["time_limit_s"].value == 3 and app.plan.options.time_limit_s == 3
    assert app.plan.options.solution_limit == 20  # settings without a control come from ``options``
    k = app.w["kpis"].value
    for label in ("人均日拜访", "visits per rep-day", "满8访天数", "结构达标", "周期达成", "路途占比", "陪访天数"):
        assert label in k
    assert f"{app.plan.kpis['visits_per_rep_day']:.1f}" in k


def test_grid_one_row_per_rep_and_escaped(app):
    g = app.w["grid"].value
    assert g.count('<tr class="week-rep">') == len(app.plan.rep_days["rep"].unique()) == 3
    assert g.count("<th>2026-11-") == len(app.plan.dates) == 5
    assert BAD_REP not in g and html.escape(BAD_REP) in g
    assert "<script" not in g and "onerror=alert" not in g.replace(html.escape(BAD_REP), "")
    for colour in ("#c8e6c9", "#bbdefb"):  # at the standard; a supervisor riding along
        assert colour in g
    if (app.plan.rep_days["role"].eq("selling") & ~app.plan.rep_days["at_standard"].astype(bool)).any():
        short = re.findall(r'background:#ffe0b2[^>]*title="([^"]*)"', g)
        assert short and all(t for t in short)  # a short day says why


def test_itinerary_and_lists_escape_account_names(app):
    app.w["rep"].value = BAD_REP
    t = app.w["table"].value
    assert "&lt;/script&gt;&lt;script&gt;" in t and "<script" not in t
    assert html.escape(BAD_REP) in t and BAD_REP not in t
    lists = app.w["lists"].value
    assert lists.count("<details>") == 3 and "<script" not in lists
    app.w["rep"].value = ui_week.ALL_REPS


def test_day_picker_switches_the_map_and_the_itinerary(app):
    p = app.plan
    d0, d1 = p.dates[0], p.dates[3]
    app.w["day"].value = d0.date().isoformat()
    first = app.w["map"].value
    assert first.startswith("<iframe srcdoc=") and day_label(d0) in app.w["table"].value
    app.w["day"].value = d1.date().isoformat()
    assert app.w["map"].value != first and day_label(d1) in app.w["table"].value
    # the map of a day draws that day's stops, not another day's
    page = app.day_map(d1).get_root().render()
    v = p.stops[p.stops["kind"] != "base"]
    only1 = v[(v["date"] == d1) & ~v[S.ID].isin(v.loc[v["date"] == d0, S.ID])]
    only0 = v[(v["date"] == d0) & ~v[S.ID].isin(v.loc[v["date"] == d1, S.ID])]
    assert len(only1) and len(only0)
    pos = lambda r: f"[{r[S.LAT]!r}, {r[S.LON]!r}]"
    assert all(pos(r) in page for _, r in only1.iterrows())
    assert not any(pos(r) in page for _, r in only0.iterrows())


def test_a_ride_day_draws_the_supervisor(app):
    ride = app.plan.rides.iloc[0]
    app.w["day"].value = pd.Timestamp(ride["date"]).date().isoformat()
    app.w["rep"].value = ride["supervisor"]  # the supervisor's day: the route of the rep he rides with
    page = app.day_map(pd.Timestamp(ride["date"]), ride["supervisor"]).get_root().render()
    assert f"Ride-along {ride['supervisor']}" in page
    t = app.w["table"].value
    assert "我做你看" in t and ">" + str(ride["rep"]) + "<" in t
    app.w["rep"].value = ui_week.ALL_REPS


def test_export_writes_the_workbook(app, tmp_path):
    import openpyxl

    app.w["out"].value = str(tmp_path / "week")
    app.w["export"].click()
    assert "Written:" in app.w["written"].value, app.w["written"].value
    book = tmp_path / "week" / "week_2026-11-23.xlsx"
    wb = openpyxl.load_workbook(book)
    assert wb.sheetnames[:2] == ["week", "rep_days"] and wb["week"].max_row == 4
    assert (tmp_path / "week" / "week_2026-11-23.ics").exists() and (tmp_path / "week" / "summary.json").exists()
    # a folder the planner did not write is refused, in words
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep", encoding="utf-8")
    app.w["out"].value = str(other)
    app.w["export"].click()
    assert "did not write" in app.w["written"].value and (other / "notes.txt").read_text(encoding="utf-8") == "keep"


def test_bad_settings_and_early_clicks_are_messages(tmp_path):
    a = ui_week.week_app(out_dir=tmp_path)
    a.export()
    assert "solve the week first" in a.w["written"].value
    a.w["start"].value = None
    a.solve()
    assert "pick the first day" in a.w["status"].value and a.plan is None
    a.w["start"].value = pd.Timestamp("2026-11-23").date()
    a.w["new"].value = 8  # a mix of 12 visits in a day of 8
    a.solve()
    assert a.plan is None and "mix" in a.w["status"].value and a.w["solve"].disabled is False


def test_offer_slots_from_the_app():
    from planner.app.ui import week_app
    from planner.solvers import week

    app = week_app(options=week.WeekOptions(time_limit_s=3, solution_limit=10))
    app.w["start"].value = pd.Timestamp("2026-11-23").date()
    app.w["days"].value = 2
    app.w["reps"].value = ("R07",)
    app.offer()
    assert "solve the week first" in app.w["slots"].value
    app.solve()
    app.w["offer_id"].value = "NOPE</b>"
    app.offer()
    assert "NOPE&lt;/b&gt;" in app.w["slots"].value
    own = app.accounts.loc[app.accounts["owner"] == "R07", "id"].iloc[0]
    app.w["offer_id"].value = own
    app.offer()
    assert "Best slots" in app.w["slots"].value and "R07" in app.w["slots"].value
