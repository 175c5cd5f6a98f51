"""Exports of a :class:`planner.solvers.week.WeekPlan`: the week grid, Excel, ICS calendars, CSV, summary.

- :func:`week_grid` -- reps as rows, the week's dates as columns, one short text per rep-day:
  ``"8 · 4/2/2 · 3-4-8"`` (visits · new/follow-up/closing · the 3-5-8 standard: appointments
  kept - new - visits), ``"陪访 R09"`` for a supervisor riding along with R09, ``"—"`` for nothing.
  :func:`grid_cells` gives the same cells in long form with a state (at standard, short, riding)
  and the reason a day is short, for the notebook's coloured calendar.
- :func:`day_itinerary` -- one day's stops for people (``plan.day(d)`` is the day as a
  :class:`planner.solvers.days.DayPlan` for :func:`planner.app.maps.day_map`).
- :func:`itinerary` -- one rep's week in order (his own route and the visits he joins riding along)
  with clock times, the visit kind in Chinese and English, the teaching step of a ride-along and
  links that open each stop in Amap (GCJ-02) and Baidu Maps (BD-09).
- :func:`write_excel` -- sheets ``week`` (the grid), ``rep_days``, one itinerary per rep, ``due``,
  ``left_out`` and ``rides``; every cell text, never a formula (:func:`planner.app.export.common.excel`).
- :func:`ics_text` / :func:`write_ics` -- an iCalendar file (RFC 5545, written by hand): one ``VEVENT``
  per visit of the week, times in UTC (China has no daylight saving: local = UTC + 8 h), user text
  escaped and lines folded at 75 octets so that no name can start a property.
- :func:`write_all` -- everything above plus the CSV tables and ``summary.json`` into a folder (the
  maps are drawn by the command, one per day: ``day_map(plan.day(d), accounts)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.export.common import excel, file_name, sheet_name, to_sheet, write_csv, write_json, write_text
from planner.app.export.ics import escape, fold_line, uid_part
from planner.geo.coords import amap_link, baidu_link
from planner.solvers.week import WeekPlan

__all__ = ["KIND_LABELS", "day_label", "grid_cells", "week_grid", "itinerary", "day_itinerary",
           "rep_days_table", "write_excel", "ics_text", "write_ics", "write_all"]

KIND_LABELS = {"new": "陌拜 first visit", "follow-up": "跟进 follow-up", "closing": "签约 closing",
               "base": "办公室 office"}
NOTHING = "—"
_WEEKDAYS = "一二三四五六日"
_TIMES = ("leave", "first_visit", "return")
# the left-out reasons of a candidate the week had room for in some day but did not fit


def day_label(date: pd.Timestamp) -> str:
    """``2026-11-23 周一``: a date with its weekday in Chinese (the grid's column labels)."""
    d = pd.Timestamp(date)
    return f"{d:%Y-%m-%d} 周{_WEEKDAYS[d.day_of_week]}"


def _int(v: Any) -> int:
    return 0 if v is None or pd.isna(v) else int(v)


def _str(v: Any) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _cell(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """(text, state, tooltip) of one rep-day row; state is ``standard``, ``short``, ``riding`` or ``none``."""
    role = _str(row.get("role"))
    with_ = _str(row.get("with"))
    if role == "riding":
        return f"陪访 {with_}", "riding", f"陪访 ride-along with {with_} (a whole day on {with_}'s route)"
    if role != "selling":
        return NOTHING, "none", role
    text = (f"{_int(row.get('visits'))} · {_int(row.get('new'))}/{_int(row.get('follow-up'))}/"
            f"{_int(row.get('closing'))} · {row.get('standard_3_5_8', '')}")
    tip = "" if bool(row.get("at_standard")) else _str(row.get("shortfall"))
    if with_:
        text += f" · with {with_}"
        tip = (f"{with_} rides along (陪访). " + tip).strip()
    return text, "standard" if bool(row.get("at_standard")) else "short", tip


def grid_cells(plan: WeekPlan) -> pd.DataFrame:
    """One row per planned rep and date of the week: ``rep, date, text, state, tip`` (see :func:`week_grid`)."""
    rd = plan.rep_days
    reps = list(dict.fromkeys(rd["rep"])) if len(rd) else []
    by_key = {(r["rep"], pd.Timestamp(r["date"])): r for r in rd.to_dict(orient="records")}
    rows = []
    for rep in reps:
        for d in plan.dates:
            row = by_key.get((rep, d))
            text, state, tip = _cell(row) if row is not None else (NOTHING, "none", "")
            rows.append({"rep": rep, "date": d, "text": text, "state": state, "tip": tip})
    return pd.DataFrame(rows, columns=["rep", "date", "text", "state", "tip"])


def week_grid(plan: WeekPlan) -> pd.DataFrame:
    """Reps as rows (index ``rep``), the week's dates as columns (:func:`day_label`), each cell a short text."""
    cells = grid_cells(plan)
    labels = [day_label(d) for d in plan.dates]
    if not len(cells):
        return pd.DataFrame(columns=labels, index=pd.Index([], name="rep"), dtype=object)
    g = cells.pivot(index="rep", columns="date", values="text")
    g = g.reindex(index=list(dict.fromkeys(cells["rep"])), columns=list(plan.dates)).fillna(NOTHING)
    g.columns = labels
    g.index.name = "rep"
    return g.astype(object)


def _hm(s: pd.Series) -> pd.Series:
    t = pd.to_datetime(s)
    return t.dt.strftime("%H:%M").where(t.notna(), "")


def _ymd(s: pd.Series) -> pd.Series:
    t = pd.to_datetime(s)
    return t.dt.strftime("%Y-%m-%d").where(t.notna(), "")


def rep_days_table(plan: WeekPlan) -> pd.DataFrame:
    """``plan.rep_days`` for people: dates as ``YYYY-MM-DD``, times as ``HH:MM``, counts as whole numbers."""
    t = plan.rep_days.copy()
    if not len(t):
        return t
    t["date"] = _ymd(t["date"])
    for c in _TIMES:
        if c in t.columns:
            t[c] = _hm(t[c])
    for c in ("visits", "new", "follow-up", "closing", "appointments_booked", "appointments_kept", "prize"):
        if c in t.columns:
            t[c] = pd.to_numeric(t[c]).round(0).astype("Int64")
    for c in ("mix_met", "at_standard"):
        if c in t.columns:
            t[c] = t[c].astype("boolean")
    return t


def _stop_rows(s: pd.DataFrame) -> pd.DataFrame:
    """Stops (rows of ``plan.stops``, in order) for people: HH:MM times, the visit kind in Chinese and
    English, Amap and Baidu links."""
    out = pd.DataFrame({
        "date": _ymd(s["date"]).to_numpy(),
        "day": [f"周{_WEEKDAYS[d.day_of_week]}" for d in pd.to_datetime(s["date"])],
        "rep": s["rep"].to_numpy(),
        "seq": s["seq"].to_numpy(),
        "arrive": _hm(s["arrival"]).to_numpy(),
        "start": _hm(s["start"]).to_numpy(),
        "leave": _hm(s["departure"]).to_numpy(),
        "travel_min": s["travel_min"].round(0).astype(int).to_numpy(),
        "visit": s["kind"].map(KIND_LABELS).fillna(s["kind"]).to_numpy(),
        "class": s["klass"].to_numpy(),
        "appointment": s["appointment"].to_numpy(bool),
        S.ID: s[S.ID].to_numpy(),
        S.NAME: s[S.NAME].to_numpy(),
        "ride_along": s["ride_along"].fillna("").to_numpy(),
        "ride_step": s["ride_step"].fillna("").to_numpy(),
        "due_date": _ymd(s["due_date"]).to_numpy(),
        S.LON: s[S.LON].to_numpy(float),
        S.LAT: s[S.LAT].to_numpy(float),
    })
    out["amap"] = [amap_link(lo, la, str(n)) for lo, la, n in zip(out[S.LON], out[S.LAT], out[S.NAME])]
    out["baidu"] = [baidu_link(lo, la, str(n)) for lo, la, n in zip(out[S.LON], out[S.LAT], out[S.NAME])]
    return out


def itinerary(plan: WeekPlan, rep: str) -> pd.DataFrame:
    """``rep``'s week in order: his own stops and the visits he joins riding along (``rep`` says whose
    route), with clock times, the visit kind, the ride-along and its teaching step, map links."""
    st = plan.stops
    s = st[(st["rep"] == rep) | (st["ride_along"] == rep)]
    return _stop_rows(s.sort_values(["date", "rep", "seq"], kind="stable"))


def day_itinerary(plan: WeekPlan, date: pd.Timestamp | str, rep: str | None = None) -> pd.DataFrame:
    """The stops of one day of the week (of ``rep``, his joined visits included, or of everybody)."""
    d = pd.Timestamp(date).normalize()
    st = plan.stops[plan.stops["date"] == d]
    if rep is not None:
        st = st[(st["rep"] == rep) | (st["ride_along"] == rep)]
    return _stop_rows(st.sort_values(["rep", "seq"], kind="stable"))


def _people(plan: WeekPlan) -> list[str]:
    """The reps with a visit of their own or joined in the week, in the plan's order."""
    st = plan.stops[plan.stops["kind"] != "base"]
    busy = set(st["rep"]) | set(st["ride_along"][st["ride_along"] != ""])
    order = list(dict.fromkeys(plan.rep_days["rep"])) if len(plan.rep_days) else []
    return [r for r in order if r in busy] + sorted(str(r) for r in busy - set(order))


def _dated(df: pd.DataFrame, cols: tuple[str, ...]) -> pd.DataFrame:
    t = df.copy()
    for c in cols:
        if c in t.columns:
            t[c] = _ymd(t[c])
    return t


def write_excel(plan: WeekPlan, path: str | Path) -> Path:
    """Sheets ``week``, ``rep_days``, one itinerary per rep (named after him), ``due``, ``left_out``, ``rides``."""
    p = Path(path)
    fixed = ("week", "rep_days", "due", "left_out", "rides")
    used: set[str] = set(fixed)
    with excel(p) as xw:
        to_sheet(xw, week_grid(plan).reset_index(), "week")
        to_sheet(xw, rep_days_table(plan), "rep_days")
        for rep in _people(plan):
            to_sheet(xw, itinerary(plan, rep), sheet_name(str(rep), used))
        to_sheet(xw, _dated(plan.due, ("due_date", "planned_on")), "due")
        to_sheet(xw, plan.left_out, "left_out")
        to_sheet(xw, _dated(plan.rides, ("date",)), "rides")
    return p


# --- iCalendar -----------------------------------------------------------------------------------------

def _event(r: Mapping[str, Any], *, tz_offset_h: int, stamp: pd.Timestamp, joiner: str = "") -> list[str]:
    """The VEVENT of one visit; ``joiner``: the supervisor's own copy of a visit he joins."""
    fmt = "%Y%m%dT%H%M%SZ"
    shift = pd.Timedelta(hours=tz_offset_h)
    kind = KIND_LABELS.get(r["kind"], r["kind"])
    title = f"{kind}: {r[S.NAME]}" + (" (appointment)" if r["appointment"] else "")
    if joiner:
        title = f"陪访 ride-along with {r['rep']} - {title}"
    link = amap_link(r[S.LON], r[S.LAT], str(r[S.NAME]))
    desc = f"Rep {r['rep']}, {day_label(r['date'])}, stop {r['seq']}, account {r[S.ID]} (class {r['klass']})"
    sup, step = _str(r.get("ride_along")), _str(r.get("ride_step"))
    if sup:
        desc += f"\n陪访 ride-along: {sup}" + (f", {step}" if step else "")
    desc += f"\nAmap: {link}"
    uid = f"{pd.Timestamp(r['date']):%Y%m%d}-{uid_part(r['rep'])}-{int(r['seq'])}-{uid_part(r[S.ID])}"
    uid += f"-with-{uid_part(joiner)}" if joiner else ""
    return ["BEGIN:VEVENT", f"UID:{uid}@planner.week", f"DTSTAMP:{stamp.strftime(fmt)}",
            f"DTSTART:{(r['start'] - shift).strftime(fmt)}", f"DTEND:{(r['departure'] - shift).strftime(fmt)}",
            f"SUMMARY:{escape(title)}", f"LOCATION:{escape(r[S.NAME])}",
            f"GEO:{float(r[S.LAT]):.6f};{float(r[S.LON]):.6f}", f"DESCRIPTION:{escape(desc)}",
            f"CATEGORIES:{escape(r['kind'])}", "END:VEVENT"]


def ics_text(plan: WeekPlan, rep: str | None = None, *, tz_offset_h: int = 8,
             stamp: pd.Timestamp | None = None) -> str:
    """The week's visits as an iCalendar text: everybody's (one event per visit), or ``rep``'s own visits
    and, when he rides along, the visits he joins (each a separate event in his calendar)."""
    stamp = stamp or pd.Timestamp("2000-01-01")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//planner//week//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH"]
    v = plan.stops[plan.stops["kind"] != "base"].sort_values(["date", "rep", "seq"], kind="stable")
    for r in v.to_dict(orient="records"):
        if rep is None or r["rep"] == rep:
            lines += _event(r, tz_offset_h=tz_offset_h, stamp=stamp)
        elif r["ride_along"] == rep:
            lines += _event(r, tz_offset_h=tz_offset_h, stamp=stamp, joiner=rep)
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold_line(x) for x in lines) + "\r\n"


def write_ics(plan: WeekPlan, path: str | Path, rep: str | None = None) -> Path:
    return write_text(path, ics_text(plan, rep).encode("utf-8"))


def write_all(plan: WeekPlan, out_dir: str | Path, *, inputs: dict[str, Any] | None = None,
              travel: dict[str, Any] | None = None) -> list[Path]:
    """``week_START.xlsx``, the team's ``week_START.ics`` and ``ics/REP_week_START.ics`` per rep, the stops,
    rep-days, due and left-out CSV, and ``summary.json`` (the plan's summary, every rep-day, ``inputs``)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tag = plan.dates[0].strftime("%Y-%m-%d") if plan.dates else "empty"
    paths = [write_excel(plan, d / f"week_{tag}.xlsx"), write_ics(plan, d / f"week_{tag}.ics")]
    names: set[str] = set()
    for rep in _people(plan):
        name = file_name(rep)
        while name.lower() in names:  # two ids that differ only in unsafe characters or case
            name += "_"
        names.add(name.lower())
        paths.append(write_ics(plan, d / "ics" / f"{name}_week_{tag}.ics", rep))
    paths += [write_csv(plan.stops, d / f"stops_week_{tag}.csv"),
              write_csv(rep_days_table(plan), d / f"rep_days_week_{tag}.csv"),
              write_csv(plan.due, d / f"due_week_{tag}.csv"),
              write_csv(plan.left_out, d / f"left_out_week_{tag}.csv")]
    summ = plan.summary()
    summ["bases"] = dict(plan.bases)
    summ["rep_day_rows"] = rep_days_table(plan).to_dict(orient="records")
    if inputs is not None:
        summ["inputs"] = inputs
    if travel is not None:  # which backend measured the travel (planner.geo.backends.describe)
        summ["travel"] = travel
    paths.append(write_json(d / "summary.json", summ))
    return paths
