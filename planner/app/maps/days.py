"""The day map: numbered stops and routes per rep, left-out candidates, ride-along, finished visits."""

from __future__ import annotations

from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import esc, tip
from planner.solvers.days import DayPlan

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


def _add_left_out(m: Any, plan: DayPlan, accounts: pd.DataFrame, reps: list[str] | None) -> None:
    """Left-out candidates, grey, with the reason."""
    import folium

    cand = plan.left_out[plan.left_out["candidate_for"] != ""]
    if reps is not None:
        cand = cand[cand["candidate_for"].apply(lambda t: any(r in t.split(", ") for r in reps))]
    pos = accounts.set_index(S.ID)[[S.LON, S.LAT]]
    g = folium.FeatureGroup(name="Left out (candidates)")
    for _, r in cand.iterrows():
        if r[S.ID] in pos.index:
            lo, la = pos.loc[r[S.ID]]
            folium.CircleMarker((la, lo), radius=4, color="#888", fill=True, fill_opacity=0.5,
                                tooltip=tip(f"{r[S.ID]}: {r['reason']}")).add_to(g)
    g.add_to(m)


def _add_rep_routes(m: Any, stops: pd.DataFrame, done: dict[str, Any] | None) -> None:
    """Each rep's route and numbered stops (appointments framed, finished visits grey with a tick)."""
    import folium

    for k, (rep, g) in enumerate(stops.sort_values(["rep", "seq"]).groupby("rep")):
        col = _COLOURS[k % len(_COLOURS)]
        fg = folium.FeatureGroup(name=esc(rep))
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
            text = (f"{rep} #{r['seq']} {r['start']:%H:%M} {r['kind']}: {r[S.NAME]}"
                   + (" (done)" if is_done else "") + (f" - with {who}" if isinstance(who, str) and who else ""))
            folium.Marker((r[S.LAT], r[S.LON]), icon=folium.DivIcon(html=html, icon_size=(width, 18)),
                          tooltip=tip(text)).add_to(fg)
        fg.add_to(m)


def _add_ride(m: Any, plan: DayPlan, ride: pd.DataFrame, ride_pts: list[tuple[float, float]]) -> None:
    """The supervisor's route, dashed, and a ring round each joined visit."""
    import folium

    sup = str(ride["supervisor"].iloc[0])
    fr = folium.FeatureGroup(name=esc(f"Ride-along {sup}"))
    folium.PolyLine(ride_pts, color=_RIDE_COLOUR, weight=3, opacity=0.9, dash_array="8 8",
                    tooltip=tip(f"{sup}: ride-along route")).add_to(fr)
    joined = plan.stops.merge(ride[["rep", S.ID, "supervisor"]], on=["rep", S.ID])
    for _, r in joined.iterrows():
        folium.CircleMarker((r[S.LAT], r[S.LON]), radius=14, color=_RIDE_COLOUR, weight=2, fill=False,
                            tooltip=tip(f"{r['supervisor']} joins {r['rep']} #{r['seq']} "
                                        f"{r['start']:%H:%M}-{r['departure']:%H:%M}")).add_to(fr)
    fr.add_to(m)


def day_map(plan: DayPlan, accounts: pd.DataFrame | None = None, reps: list[str] | None = None, *,
            ride: pd.DataFrame | None = None, ride_base: tuple[float, float] | None = None,
            done: dict[str, Any] | None = None) -> Any:
    """Numbered stops and routes per rep; left-out candidates grey (with the reason).

    ``ride`` (the supervisor's itinerary from :func:`planner.solvers.days.ride_along`)
    adds the supervisor's route as a dashed black line from ``ride_base``
    ``(lon, lat)`` through the joined stops and back, each joined stop ringed;
    ``done`` maps a rep id to the account ids of finished visits (re-planning),
    drawn grey with a tick.
    """
    s = plan.stops if reps is None else plan.stops[plan.stops["rep"].isin(reps)]
    ride_pts = _ride_points(plan, ride, ride_base) if ride is not None and len(ride) else []
    if len(s):
        lons = list(s[S.LON]) + [p[1] for p in ride_pts]
        lats = list(s[S.LAT]) + [p[0] for p in ride_pts]
        m = maps.base_map(bounds=(min(lons), min(lats), max(lons), max(lats)))
    else:
        m = maps.base_map()
    if accounts is not None:
        _add_left_out(m, plan, accounts, reps)
    _add_rep_routes(m, s, done)
    items = {}
    if ride_pts and ride is not None:
        _add_ride(m, plan, ride, ride_pts)
        sup_label = f"supervisor {ride['supervisor'].iloc[0]}: ride-along route (dashed), joined visits ringed"
        items[sup_label] = _RIDE_COLOUR
    if done and any(done.values()):
        items["finished visit (re-planned day)"] = _DONE_COLOUR
    if items:
        _legend(m, items)
    base_rows = s[s["kind"] == "base"].drop_duplicates([S.LON, S.LAT])
    if len(base_rows):
        bases = pd.DataFrame({S.ID: base_rows[S.ID], S.NAME: base_rows[S.NAME].replace("base office", "Base"),
                              S.LON: base_rows[S.LON], S.LAT: base_rows[S.LAT], S.OFFICE_STATUS: "current"})
        maps.add_offices(m, bases, name="Base")
    maps.add_layer_control(m)  # expanded: the collapsed control needs Leaflet's icon image
    return m


