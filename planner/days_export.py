"""Exports of a :class:`planner.days.DayPlan`: Excel itinerary, ICS calendar, map links, map.

- :func:`itinerary` -- one rep's stops as a table with clock times and links
  that open each stop in Amap (GCJ-02) and Baidu Maps (BD-09)
  (``planner.coords.amap_link`` / ``baidu_link`` convert from WGS-84).
- :func:`write_excel` -- one sheet per rep, plus ``kpis``, ``left_out`` and
  ``taken_by_another_rep`` (pool prospects several reps wanted).
- :func:`ics_text` / :func:`write_ics` -- an iCalendar file (RFC 5545, written
  by hand): one ``VEVENT`` per visit, times in UTC (China has no daylight
  saving: local = UTC + 8 h, ``tz_offset_h``), ``GEO``, and the Amap link in
  the description; lines folded at 75 octets, text escaped, CRLF endings.
- :func:`day_map` -- a folium map: numbered stops, routes, left-out candidates.
- :func:`write_all` -- everything above plus ``summary.json`` into a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from planner import schema as S
from planner.coords import amap_link, baidu_link

__all__ = ["itinerary", "write_excel", "ics_text", "write_ics", "day_map", "write_all"]

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
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        k = plan.kpis.copy()
        for c in ("leave", "return"):
            if c in k:
                k[c] = pd.to_datetime(k[c]).dt.strftime("%H:%M")
        k.to_excel(xw, sheet_name="kpis", index=False)
        for rep in plan.kpis["rep"]:
            itinerary(plan, rep).to_excel(xw, sheet_name=str(rep)[:31], index=False)
        plan.left_out.to_excel(xw, sheet_name="left_out", index=False)
        if ride is not None and len(ride):
            r = ride.copy()
            for c in ("start", "departure"):
                r[c] = pd.to_datetime(r[c]).dt.strftime("%H:%M")
            r.to_excel(xw, sheet_name="ride_along", index=False)
        if plan.contested is not None and len(plan.contested):
            plan.contested.to_excel(xw, sheet_name="taken_by_another_rep", index=False)
    return p


def _esc(text: str) -> str:
    return (str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out, cur, size = [], "", 0
    for ch in line:
        b = len(ch.encode("utf-8"))
        if size + b > 75:
            out.append(cur)
            cur, size = " ", 1
        cur += ch
        size += b
    out.append(cur)
    return "\r\n".join(out)


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
        desc = f"Rep {r['rep']}, stop {r['seq']}, account {r[S.ID]}\nAmap: {amap_link(r[S.LON], r[S.LAT], str(r[S.NAME]))}"
        lines += ["BEGIN:VEVENT",
                  f"UID:{plan.date.strftime('%Y%m%d')}-{r['rep']}-{r['seq']}-{r[S.ID]}@planner.days",
                  f"DTSTAMP:{stamp.strftime(fmt)}", f"DTSTART:{start}", f"DTEND:{end}",
                  f"SUMMARY:{_esc(title)}", f"LOCATION:{_esc(r[S.NAME])}",
                  f"GEO:{r[S.LAT]:.6f};{r[S.LON]:.6f}", f"DESCRIPTION:{_esc(desc)}",
                  f"CATEGORIES:{_esc(r['kind'])}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(x) for x in lines) + "\r\n"


def write_ics(plan, path: str | Path, rep: str | None = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(ics_text(plan, rep).encode("utf-8"))
    return p


_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f")


_DONE_COLOUR = "#9e9e9e"
_RIDE_COLOUR = "#000000"


def _ride_points(plan, ride: pd.DataFrame, base: tuple[float, float] | None) -> list[tuple[float, float]]:
    """The supervisor's route as (lat, lon): base, the joined stops in time order, base."""
    pos = plan.stops.drop_duplicates(["rep", S.ID]).set_index(["rep", S.ID])
    pts = [(float(pos.loc[(r, a), S.LAT]), float(pos.loc[(r, a), S.LON]))
           for r, a in zip(ride.sort_values("start")["rep"], ride.sort_values("start")[S.ID]) if (r, a) in pos.index]
    if base is not None and pts:
        pts = [(base[1], base[0]), *pts, (base[1], base[0])]
    return pts


def _legend(m, items: dict[str, str]) -> None:
    """A legend above the scale bar (label -> colour; empty labels skipped)."""
    import html as _h

    import branca.element as be

    def swatch(c: str) -> str:
        return f"border-top:3px dashed {c}" if c == _RIDE_COLOUR else f"height:12px;border-radius:6px;background:{c}"

    rows = "".join('<div><span style="display:inline-block;width:18px;vertical-align:middle;margin-right:6px;'
                   f'{swatch(c)}"></span>{_h.escape(k)}</div>' for k, c in items.items() if k)
    box = (f'<div style="position:fixed;bottom:64px;left:12px;z-index:9999;background:#fff;padding:6px 10px;'
           f'border:1px solid #999;font:12px sans-serif">{rows}</div>')
    m.get_root().html.add_child(be.Element(box))


def day_map(plan, accounts: pd.DataFrame | None = None, reps: list[str] | None = None, *,
            ride: pd.DataFrame | None = None, ride_base: tuple[float, float] | None = None,
            done: dict | None = None):
    """Numbered stops and routes per rep; left-out candidates grey (with the reason).

    ``ride`` (the supervisor's itinerary from :func:`planner.days.ride_along`)
    adds the supervisor's route as a dashed black line from ``ride_base``
    ``(lon, lat)`` through the joined stops and back, each joined stop ringed;
    ``done`` maps a rep id to the account ids of finished visits (re-planning),
    drawn grey with a tick.
    """
    import folium

    from planner import maps

    s = plan.stops if reps is None else plan.stops[plan.stops["rep"].isin(reps)]
    ride_pts = _ride_points(plan, ride, ride_base) if ride is not None and len(ride) else []
    if len(s):
        lons = list(s[S.LON]) + [p[1] for p in ride_pts]
        lats = list(s[S.LAT]) + [p[0] for p in ride_pts]
        bounds = (min(lons), min(lats), max(lons), max(lats))
        m = maps.base_map(bounds=bounds)
    else:
        m = maps.base_map()
    if accounts is not None:
        cand = plan.left_out[plan.left_out["candidate_for"] != ""]
        if reps is not None:
            cand = cand[cand["candidate_for"].apply(lambda t: any(r in t.split(", ") for r in reps))]
        pos = accounts.set_index(S.ID)[[S.LON, S.LAT]]
        g = folium.FeatureGroup(name="Left out (candidates)")
        for _, r in cand.iterrows():
            if r[S.ID] in pos.index:
                lo, la = pos.loc[r[S.ID]]
                folium.CircleMarker((la, lo), radius=4, color="#888", fill=True, fill_opacity=0.5,
                                    tooltip=f"{r[S.ID]}: {r['reason']}").add_to(g)
        g.add_to(m)
    for k, (rep, g) in enumerate(s.sort_values(["rep", "seq"]).groupby("rep")):
        col = _COLOURS[k % len(_COLOURS)]
        fg = folium.FeatureGroup(name=f"{rep}")
        folium.PolyLine(list(zip(g[S.LAT], g[S.LON])), color=col, weight=3, opacity=0.8).add_to(fg)
        finished = set((done or {}).get(rep, ()))
        for _, r in g[g["kind"] != "base"].iterrows():
            is_done = r[S.ID] in finished
            bg = _DONE_COLOUR if is_done else col
            label = f"{r['seq']}&#10003;" if is_done else f"{r['seq']}"
            width = 28 if is_done else 18
            html = (f'<div style="background:{bg};color:white;border-radius:9px;width:{width}px;height:18px;'
                    f'text-align:center;font-size:11px;font-weight:bold;line-height:18px;'
                    f'{"border:2px solid black;" if r["appointment"] else ""}">{label}</div>')
            who = r.get("ride_along", "") if "ride_along" in r.index else ""
            tip = (f"{rep} #{r['seq']} {r['start']:%H:%M} {r['kind']}: {r[S.NAME]}"
                   + (" (done)" if is_done else "") + (f" - with {who}" if isinstance(who, str) and who else ""))
            folium.Marker((r[S.LAT], r[S.LON]), icon=folium.DivIcon(html=html, icon_size=(width, 18)),
                          tooltip=tip).add_to(fg)
        fg.add_to(m)
    if ride_pts:
        sup = str(ride["supervisor"].iloc[0])
        fr = folium.FeatureGroup(name=f"Ride-along {sup}")
        folium.PolyLine(ride_pts, color=_RIDE_COLOUR, weight=3, opacity=0.9, dash_array="8 8",
                        tooltip=f"{sup}: ride-along route").add_to(fr)
        joined = plan.stops.merge(ride[["rep", S.ID, "supervisor"]], on=["rep", S.ID])
        for _, r in joined.iterrows():
            folium.CircleMarker((r[S.LAT], r[S.LON]), radius=14, color=_RIDE_COLOUR, weight=2, fill=False,
                                tooltip=f"{r['supervisor']} joins {r['rep']} #{r['seq']} "
                                        f"{r['start']:%H:%M}-{r['departure']:%H:%M}").add_to(fr)
        fr.add_to(m)
    if ride_pts or any(done.values() if done else ()):
        _legend(m, {f"supervisor {ride['supervisor'].iloc[0]}: ride-along route (dashed), joined visits ringed"
                    if ride_pts else "": _RIDE_COLOUR, "finished visit (re-planned day)" if done else "": _DONE_COLOUR})
    base_rows = s[s["kind"] == "base"].drop_duplicates([S.LON, S.LAT])
    if len(base_rows):
        bases = pd.DataFrame({S.ID: base_rows[S.ID], S.NAME: base_rows[S.NAME].replace("base office", "Base"),
                              S.LON: base_rows[S.LON], S.LAT: base_rows[S.LAT], S.OFFICE_STATUS: "current"})
        maps.add_offices(m, bases, name="Base")
    maps.add_layer_control(m)  # expanded: the collapsed control needs Leaflet's icon image
    return m


def write_all(plan, out_dir: str | Path, accounts: pd.DataFrame | None = None, *, map_html: bool = True,
              ride: pd.DataFrame | None = None) -> list[Path]:
    """Excel, one ICS per rep and one for the team, stops/left-out CSV, summary.json (and a map)."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    tag = plan.date.strftime("%Y-%m-%d")
    paths = [write_excel(plan, d / f"days_{tag}.xlsx", ride), write_ics(plan, d / f"days_{tag}.ics")]
    for rep in plan.kpis["rep"]:
        paths.append(write_ics(plan, d / "ics" / f"{rep}_{tag}.ics", rep))
    plan.stops.to_csv(d / f"stops_{tag}.csv", index=False)
    plan.left_out.to_csv(d / f"left_out_{tag}.csv", index=False)
    paths += [d / f"stops_{tag}.csv", d / f"left_out_{tag}.csv"]
    summ = plan.summary()
    k = plan.kpis.copy()
    for c in ("leave", "return"):
        k[c] = pd.to_datetime(k[c]).dt.strftime("%H:%M")
    summ["kpis"] = k.to_dict(orient="records")
    if ride is not None:
        summ["ride_along"] = {"supervisor": str(ride["supervisor"].iloc[0]) if len(ride) else None,
                              "visits_joined": int(len(ride)),
                              "reps": ride["rep"].value_counts().to_dict()}
    (d / "summary.json").write_text(json.dumps(summ, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    paths.append(d / "summary.json")
    if map_html:
        from planner import maps

        paths.append(maps.save_html(day_map(plan, accounts, ride=ride), d / f"days_{tag}.html"))
    return paths
