"""Exports of a :class:`planner.solvers.days.DayPlan`: Excel itinerary, ICS calendar, map links.

- :func:`itinerary` -- one rep's stops as a table with clock times and links
  that open each stop in Amap (GCJ-02) and Baidu Maps (BD-09)
  (``planner.geo.coords.amap_link`` / ``baidu_link`` convert from WGS-84).
- :func:`write_excel` -- one sheet per rep, plus ``kpis``, ``left_out`` and
  ``taken_by_another_rep`` (pool prospects several reps wanted).
- :func:`ics_text` / :func:`write_ics` -- an iCalendar file (RFC 5545, written
  by hand): one ``VEVENT`` per visit, times in UTC (China has no daylight
  saving: local = UTC + 8 h, ``tz_offset_h``), ``GEO``, and the Amap link in
  the description; lines folded at 75 octets, text escaped, CRLF endings.
- :func:`write_all` -- everything above plus ``summary.json`` into a folder
  (the map is :func:`planner.app.maps.day_map`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.export.common import excel, file_name, sheet_name, to_sheet, write_csv, write_json, write_text
from planner.app.export.ics import escape, fold_line, uid_part
from planner.geo.coords import amap_link, baidu_link
from planner.solvers.days import DayPlan

__all__ = ["itinerary", "write_excel", "ics_text", "write_ics", "write_all"]

_KIND_ZH = {"new": "陌拜 first visit", "follow-up": "跟进 follow-up", "closing": "签约 closing", "base": "office"}


def itinerary(plan, rep: str) -> pd.DataFrame:
    """One rep's stops in order with HH:MM times and map links."""
    s = plan.stops[plan.stops["rep"] == rep].sort_values("seq")
    out = pd.DataFrame({
        "seq": s["seq"].to_numpy(),
        "arrive": s["arrival"].dt.strftime("%H:%M").to_numpy(),
        "start": s["start"].dt.strftime("%H:%M").to_numpy(),
        "leave": s["departure"].dt.strftime("%H:%M").to_numpy(),
        "travel_min": s["travel_min"].round(0).astype(int).to_numpy(),
        "visit": s["kind"].map(_KIND_ZH).fillna(s["kind"]).to_numpy(),
        "appointment": s["appointment"].to_numpy(),
        S.ID: s[S.ID].to_numpy(),
        S.NAME: s[S.NAME].to_numpy(),
        S.LON: s[S.LON].to_numpy(),
        S.LAT: s[S.LAT].to_numpy(),
    })
    if "ride_along" in s.columns:
        out["ride_along"] = s["ride_along"].to_numpy()
    out["amap"] = [amap_link(lo, la, str(n)) for lo, la, n in zip(out[S.LON], out[S.LAT], out[S.NAME])]
    out["baidu"] = [baidu_link(lo, la, str(n)) for lo, la, n in zip(out[S.LON], out[S.LAT], out[S.NAME])]
    return out


def write_excel(plan, path: str | Path, ride: pd.DataFrame | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    used: set[str] = {"kpis"}
    with excel(p) as xw:
        k = plan.kpis.copy()
        for c in ("leave", "return"):
            if c in k:
                k[c] = pd.to_datetime(k[c]).dt.strftime("%H:%M")
        to_sheet(xw, k, "kpis")
        for rep in plan.kpis["rep"]:
            to_sheet(xw, itinerary(plan, rep), sheet_name(str(rep), used))
        to_sheet(xw, plan.left_out, sheet_name("left_out", used))
        if ride is not None and len(ride):
            r = ride.copy()
            for c in ("start", "departure"):
                r[c] = pd.to_datetime(r[c]).dt.strftime("%H:%M")
            to_sheet(xw, r, sheet_name("ride_along", used))
        if plan.contested is not None and len(plan.contested):
            to_sheet(xw, plan.contested, sheet_name("taken_by_another_rep", used))
    return p


def ics_text(plan, rep: str | None = None, *, tz_offset_h: int = 8, stamp: pd.Timestamp | None = None) -> str:
    """The visits (of ``rep`` or of everybody) as an iCalendar text."""
    stamp = stamp or pd.Timestamp("2000-01-01")
    fmt = "%Y%m%dT%H%M%SZ"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//planner//days//EN", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH"]
    s = plan.stops[plan.stops["kind"] != "base"]
    if rep is not None:
        s = s[s["rep"] == rep]
    for _, r in s.sort_values(["rep", "seq"]).iterrows():
        start = (r["start"] - pd.Timedelta(hours=tz_offset_h)).strftime(fmt)
        end = (r["departure"] - pd.Timedelta(hours=tz_offset_h)).strftime(fmt)
        kind = _KIND_ZH.get(r["kind"], r["kind"])
        title = f"{kind}: {r[S.NAME]}" + (" (appointment)" if r["appointment"] else "")
        link = amap_link(r[S.LON], r[S.LAT], str(r[S.NAME]))
        desc = f"Rep {r['rep']}, stop {r['seq']}, account {r[S.ID]}\nAmap: {link}"
        lines += ["BEGIN:VEVENT",
                  f"UID:{plan.date.strftime('%Y%m%d')}-{uid_part(r['rep'])}-{r['seq']}-{uid_part(r[S.ID])}"
                  "@planner.days",
                  f"DTSTAMP:{stamp.strftime(fmt)}", f"DTSTART:{start}", f"DTEND:{end}",
                  f"SUMMARY:{escape(title)}", f"LOCATION:{escape(r[S.NAME])}",
                  f"GEO:{r[S.LAT]:.6f};{r[S.LON]:.6f}", f"DESCRIPTION:{escape(desc)}",
                  f"CATEGORIES:{escape(r['kind'])}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(fold_line(x) for x in lines) + "\r\n"


def write_ics(plan: DayPlan, path: str | Path, rep: str | None = None) -> Path:
    return write_text(path, ics_text(plan, rep).encode("utf-8"))


def write_all(plan: DayPlan, out_dir: str | Path, *, ride: pd.DataFrame | None = None,
              inputs: dict[str, Any] | None = None,
              travel: dict[str, Any] | None = None) -> list[Path]:
    """Excel, one ICS per rep and one for the team, stops/left-out CSV and ``summary.json`` (the map is
    ``planner.app.maps.day_map``)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tag = plan.date.strftime("%Y-%m-%d")
    paths = [write_excel(plan, d / f"days_{tag}.xlsx", ride), write_ics(plan, d / f"days_{tag}.ics")]
    for rep in plan.kpis["rep"]:
        paths.append(write_ics(plan, d / "ics" / f"{file_name(rep)}_{tag}.ics", rep))
    paths += [write_csv(plan.stops, d / f"stops_{tag}.csv"), write_csv(plan.left_out, d / f"left_out_{tag}.csv")]
    summ = plan.summary()
    k = plan.kpis.copy()
    for c in ("leave", "return"):
        k[c] = pd.to_datetime(k[c]).dt.strftime("%H:%M")
    summ["kpis"] = k.to_dict(orient="records")
    if ride is not None:
        summ["ride_along"] = {"supervisor": str(ride["supervisor"].iloc[0]) if len(ride) else None,
                              "visits_joined": int(len(ride)),
                              "reps": ride["rep"].value_counts().to_dict()}
    if inputs is not None:
        summ["inputs"] = inputs
    if travel is not None:  # which backend measured the travel (planner.geo.backends.describe)
        summ["travel"] = travel
    paths.append(write_json(d / "summary.json", summ))
    return paths
