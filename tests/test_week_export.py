"""The week's files: the grid, a workbook with no formula, calendars with one event per visit and no injected
property, CSV and the summary, on a demo week of three reps with hostile names and ids."""

from __future__ import annotations

import csv
import dataclasses
import json
import re

import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app.export import week as X
from planner.solvers import week as W

START = "2026-11-23"  # a Monday; the demo's appointments are on Tuesday 2026-11-24
BAD_REP = "R05<img src=x onerror=alert(1)>"
BAD_ID = "A99999\r\nX-INJECT-UID:evil"
PAYLOADS = ['=HYPERLINK("http://x")', "</script><script>alert(1)</script>", "Line1\r\nSUMMARY:evil",
            "+cmd|' /C calc'!A0", "a;b,c\\d"]
ALLOWED = {"BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "UID", "DTSTAMP", "DTSTART", "DTEND",
           "SUMMARY", "LOCATION", "GEO", "DESCRIPTION", "CATEGORIES"}


def hostile_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The demo with hostile names on R05's and R09's accounts, R05's id hostile, and one account of R09
    (the nearest to his base, so it is planned) with a hostile id and an appointment on Wednesday."""
    t = demo.workspace().load(("accounts", "reps", "offices"))
    acc, reps, off = t["accounts"].copy(), t["reps"].copy(), t["offices"].copy()
    mine = acc.index[acc[S.OWNER].isin(["R05", "R09"])]
    acc.loc[mine, S.NAME] = [PAYLOADS[k % len(PAYLOADS)] + f" #{k}" for k in range(len(mine))]
    base = off.set_index(S.ID).loc[reps.set_index(S.ID).loc["R09", S.BASE_OFFICE]]
    r09 = acc[(acc[S.OWNER] == "R09") & acc[S.APPT_START].isna()]
    near = ((r09[S.LON] - base[S.LON]) ** 2 + (r09[S.LAT] - base[S.LAT]) ** 2).idxmin()
    acc.loc[near, S.ID] = BAD_ID
    acc.loc[near, S.APPT_START] = pd.Timestamp("2026-11-25 11:00")
    acc.loc[near, S.APPT_END] = pd.Timestamp("2026-11-25 11:40")
    acc.loc[acc[S.OWNER] == "R05", S.OWNER] = BAD_REP
    reps.loc[reps[S.ID] == "R05", S.ID] = BAD_REP
    return acc, reps, off


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return hostile_tables()


@pytest.fixture(scope="module")
def plan(tables) -> W.WeekPlan:
    acc, reps, off = tables
    problem = W.WeekProblem(acc, reps, off, START, rep_ids=("R03", "R09", BAD_REP))
    p = W.solve(problem, W.WeekOptions(time_limit_s=3, solution_limit=20))
    visits = p.stops[p.stops["kind"] != "base"]
    assert BAD_ID in set(visits[S.ID]) and BAD_REP in set(visits["rep"])  # the payloads reach the files
    assert len(p.rides) and (p.rides["supervisor"] == "R03").all()  # R03 rides along with his new rep R09
    return p


@pytest.fixture(scope="module")
def out(plan, tmp_path_factory):
    d = tmp_path_factory.mktemp("week")
    paths = X.write_all(plan, d, inputs={"accounts": 3000})
    return d, paths


def _unfolded(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def _visits(plan: W.WeekPlan) -> pd.DataFrame:
    return plan.stops[plan.stops["kind"] != "base"]


def test_grid_one_row_per_planned_rep_one_column_per_date(plan):
    g = X.week_grid(plan)
    assert list(g.index) == ["R03", "R09", BAD_REP]
    assert list(g.columns) == [X.day_label(d) for d in plan.dates] and len(g.columns) == 5
    assert g.columns[0] == "2026-11-23 周一"
    for r in plan.rides.itertuples():  # the supervisor's riding days
        assert g.loc[r.supervisor, X.day_label(r.date)] == f"陪访 {r.rep}"
        assert g.loc[r.rep, X.day_label(r.date)].endswith(f"· with {r.supervisor}")
    assert (g.loc["R03"].isin(["—"]) | g.loc["R03"].str.startswith("陪访 ")).all()  # no accounts of his own
    rd = plan.rep_days.set_index(["rep", "date"])
    for d in plan.dates:
        cell = g.loc[BAD_REP, X.day_label(d)]
        row = rd.loc[(BAD_REP, d)]
        assert re.fullmatch(r"\d+ · \d+/\d+/\d+ · \d+-\d+-\d+", cell), cell
        assert cell == (f"{int(row['visits'])} · {int(row['new'])}/{int(row['follow-up'])}/{int(row['closing'])} · "
                        f"{row['standard_3_5_8']}")
    cells = X.grid_cells(plan)
    short = cells[cells["state"] == "short"]
    assert len(short) and (short["tip"] != "").all()  # a short day says why


def test_no_formula_in_the_workbook_and_every_sheet_there(plan, out):
    import openpyxl

    d, _ = out
    wb = openpyxl.load_workbook(d / f"week_{START}.xlsx")
    names = wb.sheetnames
    assert names[:2] == ["week", "rep_days"] and names[-3:] == ["due", "left_out", "rides"]
    assert len(names) == 5 + 3  # one itinerary per rep: R09, R05 and R03, who rides along
    seen = set()
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate}: {cell.value!r}"
                if isinstance(cell.value, str):
                    seen |= {p for p in ("=HYPERLINK", "</script>", "X-INJECT-UID:evil", "R05<img")
                             if p in cell.value}
    assert seen == {"=HYPERLINK", "</script>", "X-INJECT-UID:evil", "R05<img"}  # kept, as text
    week = wb["week"]
    assert week.max_row == 1 + 3 and week.max_column == 1 + 5
    sup = wb[names[2]] if names[2] == "R03" else wb["R03"]
    header = [c.value for c in sup[1]]
    assert {"date", "rep", "start", "visit", "ride_along", "ride_step", "amap"} <= set(header)
    rows = list(sup.iter_rows(min_row=2, values_only=True))
    assert rows and all(r[header.index("ride_along")] == "R03" for r in rows)  # the visits he joins
    assert any(str(r[header.index("ride_step")]).startswith("我做你看") for r in rows)


def test_team_calendar_holds_every_visit_once(plan, out):
    d, _ = out
    text = (d / f"week_{START}.ics").read_bytes().decode("utf-8")
    lines = _unfolded(text)
    v = _visits(plan)
    assert text.count("BEGIN:VEVENT") == len(v) == sum(ln.startswith("SUMMARY:") for ln in lines)
    uids = [ln[4:] for ln in lines if ln.startswith("UID:")]
    assert len(set(uids)) == len(uids) == len(v)
    for r in v.itertuples():
        uid = f"{r.date:%Y%m%d}-{X.uid_part(r.rep)}-{r.seq}-{X.uid_part(getattr(r, S.ID))}@planner.week"
        assert uids.count(uid) == 1
    assert all(re.fullmatch(r"[0-9A-Za-z._@-]+", u) for u in uids)
    # local time = UTC + 8 h
    first = v.sort_values(["date", "rep", "seq"]).iloc[0]
    assert f"DTSTART:{first['start'] - pd.Timedelta(hours=8):%Y%m%dT%H%M%SZ}" in lines


@pytest.mark.parametrize("which", ["team", "R03", "R09", "bad"])
def test_no_injected_calendar_property(plan, which):
    rep = {"team": None, "bad": BAD_REP}.get(which, which)
    text = X.ics_text(plan, rep)
    lines = _unfolded(text)
    names = {ln.split(":", 1)[0].split(";", 1)[0] for ln in lines if ln}
    assert names <= ALLOWED, names - ALLOWED
    assert text.count("BEGIN:VEVENT") == sum(ln.startswith("SUMMARY:") for ln in lines) > 0
    assert "\r" not in text.replace("\r\n", "") and "\n" not in text.replace("\r\n", "")
    assert all(len(ln.encode("utf-8")) <= 75 for ln in text.split("\r\n"))


def test_a_supervisor_calendar_holds_the_visits_he_joins(plan):
    lines = _unfolded(X.ics_text(plan, "R03"))
    joined = _visits(plan)[_visits(plan)["ride_along"] == "R03"]
    assert len(joined) and sum(ln.startswith("SUMMARY:陪访 ride-along with R09") for ln in lines) == len(joined)
    uids = [ln for ln in lines if ln.startswith("UID:")]
    assert len(uids) == len(set(uids)) == len(joined) and all("-with-R03@" in u for u in uids)


def test_a_day_of_the_week_draws_on_the_day_map_with_the_accounts(plan, tables):
    from planner.app import maps

    d = plan.dates[2]  # Wednesday: R09's appointment with the hostile id
    dp = plan.day(d)
    assert dp.date == d and (dp.stops[S.ID] == BAD_ID).any()
    assert dp.stops[S.NAME].str.contains("<script>", regex=False).any()
    cand = dp.left_out[dp.left_out["candidate_for"] != ""]
    assert len(cand) and set(cand["reason_code"]) <= {"time", "mix", "full", "window", "appointment"}
    page = maps.day_map(dp, tables[0]).get_root().render()
    assert "Left out (candidates)" in page and "<script>alert(1)" not in page
    it = X.day_itinerary(plan, d, "R09")
    assert list(it["date"].unique()) == [f"{d:%Y-%m-%d}"] and set(it["rep"]) == {"R09"}


def test_uid_parts_never_collide():
    ids = ["a b", "a_b", "a\nb", "a_20b", "甲", "_E7_94_B2", "A.1-2"]
    assert len({X.uid_part(i) for i in ids}) == len(ids)
    assert X.uid_part("A.1-2") == "A.1-2"
    assert all(re.fullmatch(r"[0-9A-Za-z._-]+", X.uid_part(i)) for i in ids)


def test_write_all_files_csv_and_summary(plan, out):
    d, paths = out
    rel = sorted(str(p.relative_to(d)) for p in paths)
    assert rel == sorted([f"week_{START}.xlsx", f"week_{START}.ics", f"stops_week_{START}.csv",
                          f"rep_days_week_{START}.csv", f"due_week_{START}.csv", f"left_out_week_{START}.csv",
                          "summary.json", f"ics/R03_week_{START}.ics", f"ics/R09_week_{START}.ics",
                          f"ics/{X.file_name(BAD_REP)}_week_{START}.ics"])
    for p in paths:
        assert d in p.resolve().parents
    for f in d.glob("*.csv"):
        for row in csv.reader(f.open(encoding="utf-8")):
            for cell in row:
                assert not re.match(r"[=+@\t\r]", cell) and not re.match(r"-[^0-9.]", cell), (f.name, cell)
    stops = pd.read_csv(d / f"stops_week_{START}.csv", dtype=str, keep_default_na=False)
    assert len(stops) == len(plan.stops)
    summ = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    assert summ["inputs"] == {"accounts": 3000} and summ["dates"][0] == START
    assert summ["visits"] == int(_visits(plan).shape[0]) and summ["bases"]["R09"]
    rows = summ["rep_day_rows"]
    assert len(rows) == len(plan.rep_days)
    selling = [r for r in rows if r["role"] == "selling"]
    assert selling and all(re.fullmatch(r"\d\d:\d\d", r["leave"]) for r in selling)
    assert all(r["date"] in summ["dates"] for r in rows)


def test_a_week_with_nothing_to_visit_still_exports(plan, tmp_path):
    """A hand-made week of one manager with no accounts of his own and nobody to ride with: every cell '—',
    an empty team calendar, no rep calendar, every file still written."""
    rd = plan.rep_days[plan.rep_days["rep"] == "R03"].assign(role="no accounts", **{"with": ""})
    p = dataclasses.replace(plan, stops=plan.stops.iloc[:0], rep_days=rd, rides=plan.rides.iloc[:0],
                            due=plan.due.iloc[:0])
    g = X.week_grid(p)
    assert g.shape == (1, 5) and (g.to_numpy() == "—").all()
    assert X.ics_text(p).count("BEGIN:VEVENT") == 0
    paths = X.write_all(p, tmp_path)
    assert (tmp_path / f"week_{START}.xlsx").exists() and not (tmp_path / "ics").exists()
    assert sorted(q.name for q in paths)[-1] == "week_2026-11-23.xlsx" and len(paths) == 7
