"""The day map: numbered stops and routes per rep, left-out candidates, ride-along, finished visits.

Each rep has a colour of :data:`planner.app.maps.palette.QUALITATIVE` by the order of the plan's rep ids (the
same rep keeps his colour whichever reps are shown) and one layer; the legend lists every rep with his
number of stops: hovering a rep's row highlights his route, clicking it shows his route alone.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import esc, tip
from planner.app.maps.palette import rep_colours, text_on
from planner.solvers.days import DayPlan

_DONE_COLOUR = "#9e9e9e"
_RIDE_COLOUR = "#000000"
_LEFT_COLOUR = "#888888"


def _ride_points(plan, ride: pd.DataFrame, base: tuple[float, float] | None) -> list[tuple[float, float]]:
    """The supervisor's route as (lat, lon): base, the joined stops in time order, base."""
    pos = plan.stops.drop_duplicates(["rep", S.ID]).set_index(["rep", S.ID])
    pts = [(float(pos.loc[(r, a), S.LAT]), float(pos.loc[(r, a), S.LON]))
           for r, a in zip(ride.sort_values("start")["rep"], ride.sort_values("start")[S.ID]) if (r, a) in pos.index]
    if base is not None and pts:
        pts = [(base[1], base[0]), *pts, (base[1], base[0])]
    return pts


def _add_left_out(m: Any, plan: DayPlan, accounts: pd.DataFrame, reps: list[str] | None) -> None:
    """Left-out candidates, grey, with the reason."""
    import folium

    cand = plan.left_out[plan.left_out["candidate_for"] != ""]
    if reps is not None:
        cand = cand[cand["candidate_for"].apply(lambda t: any(r in t.split(", ") for r in reps))]
    pos = accounts.set_index(S.ID)[[S.LON, S.LAT]]
    cand = cand[cand[S.ID].isin(pos.index)]
    g = folium.FeatureGroup(name="Left out (candidates)")
    where = pos.loc[cand[S.ID]]
    for here, (_, r) in zip(maps.latlons(m, where[S.LAT], where[S.LON]), cand.iterrows()):
        folium.CircleMarker(here, radius=4, color=_LEFT_COLOUR, fill=True, fill_opacity=0.5,
                            tooltip=tip(f"{r[S.ID]}: {r['reason']}")).add_to(g)
    g.add_to(m)


def _stop_icon(r: pd.Series, col: str, is_done: bool) -> Any:
    import folium

    bg = _DONE_COLOUR if is_done else col
    label = f"{r['seq']}&#10003;" if is_done else f"{r['seq']}"
    width = 28 if is_done else 18
    html = (f'<div style="background:{bg};color:{text_on(bg)};border-radius:9px;width:{width}px;height:18px;'
            f'text-align:center;font-size:11px;font-weight:bold;line-height:18px;box-sizing:border-box;'
            f'{"border:2px solid black;" if r["appointment"] else "border:1px solid rgba(0,0,0,.35);"}">'
            f'{label}</div>')
    return folium.DivIcon(html=html, icon_size=(width, 18), icon_anchor=(width // 2, 9))


def _add_rep_routes(m: Any, stops: pd.DataFrame, done: dict[str, Any] | None,
                    colours: dict[str, str]) -> dict[str, Any]:
    """Each rep's route and numbered stops (appointments framed, finished visits grey with a tick);
    returns the rep id -> layer."""
    import folium

    layers = {}
    for rep, g in stops.sort_values(["rep", "seq"]).groupby("rep"):
        col = colours.get(rep, "#333333")
        fg = folium.FeatureGroup(name=esc(rep))
        folium.PolyLine(maps.latlons(m, g[S.LAT], g[S.LON]), color=col, weight=3, opacity=0.8,
                        tooltip=tip(f"{rep}: route")).add_to(fg)
        finished = set((done or {}).get(rep, ()))
        visits = g[g["kind"] != "base"]
        for here, (_, r) in zip(maps.latlons(m, visits[S.LAT], visits[S.LON]), visits.iterrows()):
            is_done = r[S.ID] in finished
            who = r.get("ride_along", "") if "ride_along" in r.index else ""
            text = (f"{rep} #{r['seq']} {r['start']:%H:%M} {r['kind']}: {r[S.NAME]}"
                   + (" (done)" if is_done else "") + (f" - with {who}" if isinstance(who, str) and who else ""))
            folium.Marker(here, icon=_stop_icon(r, col, is_done), tooltip=tip(text)).add_to(fg)
        fg.add_to(m)
        layers[rep] = fg
    return layers


def _add_ride(m: Any, plan: DayPlan, ride: pd.DataFrame, ride_pts: list[tuple[float, float]]) -> None:
    """The supervisor's route, dashed, and a ring round each joined visit."""
    import folium

    sup = str(ride["supervisor"].iloc[0])
    fr = folium.FeatureGroup(name=esc(f"Ride-along {sup}"))
    folium.PolyLine(maps.latlons(m, [p[0] for p in ride_pts], [p[1] for p in ride_pts]), color=_RIDE_COLOUR,
                    weight=3, opacity=0.9, dash_array="8 8", tooltip=tip(f"{sup}: ride-along route")).add_to(fr)
    joined = plan.stops.merge(ride[["rep", S.ID, "supervisor"]], on=["rep", S.ID])
    for here, (_, r) in zip(maps.latlons(m, joined[S.LAT], joined[S.LON]), joined.iterrows()):
        folium.CircleMarker(here, radius=14, color=_RIDE_COLOUR, weight=2, fill=False,
                            tooltip=tip(f"{r['supervisor']} joins {r['rep']} #{r['seq']} "
                                        f"{r['start']:%H:%M}-{r['departure']:%H:%M}")).add_to(fr)
    fr.add_to(m)


def _legend(m: Any, s: pd.DataFrame, colours: dict[str, str], layers: dict[str, Any], *, left_out: bool,
            ride: pd.DataFrame | None, done: bool) -> None:
    """Every rep (route colour, stops) linked to his layer, then every other symbol drawn."""
    items: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    links: dict[str, Any] = {}
    visits = s[s["kind"] != "base"].groupby("rep").size()
    for rep in layers:
        label = f"{rep} · {int(visits.get(rep, 0))}"
        grid[label] = ("line", colours.get(rep, "#333333"))
        links[label] = layers[rep]
    first = next(iter(colours.values()), "#1f77b4")
    items["stop, numbered in visit order"] = ("badge", first, "1")
    if len(s) and s["appointment"].any():
        items["booked appointment (framed)"] = ("ring", "#000000")
    if done:
        items["finished visit (re-planned day)"] = ("badge", _DONE_COLOUR, "1✓")
    if ride is not None:
        items[f"supervisor {ride['supervisor'].iloc[0]}: ride-along route"] = ("dashed", _RIDE_COLOUR)
        items["visit the supervisor joins"] = ("ring", _RIDE_COLOUR)
    if left_out:
        items["left out (candidate), reason on hover"] = ("dot", _LEFT_COLOUR)
    items["base"] = ("square", "#111111")
    maps.add_legend(m, f"Day plan: {len(layers)} reps · stops", items, layers=links, grid=grid,
                    columns=3 if len(grid) > 6 else 1)


def day_map(plan: DayPlan, accounts: pd.DataFrame | None = None, reps: list[str] | None = None, *,
            ride: pd.DataFrame | None = None, ride_base: tuple[float, float] | None = None,
            done: dict[str, Any] | None = None, tiles: str | None = maps.DEFAULT_TILES,
            tianditu_key: str | None = None) -> Any:
    """Numbered stops and routes per rep; left-out candidates grey (with the reason).

    ``ride`` (the supervisor's itinerary from :func:`planner.solvers.days.ride_along`)
    adds the supervisor's route as a dashed black line from ``ride_base``
    ``(lon, lat)`` through the joined stops and back, each joined stop ringed;
    ``done`` maps a rep id to the account ids of finished visits (re-planning),
    drawn grey with a tick. ``tiles``: see :func:`planner.app.maps.core.base_map`.
    """
    s = plan.stops if reps is None else plan.stops[plan.stops["rep"].isin(reps)]
    colours = rep_colours(sorted(plan.stops["rep"].unique()))
    ride_pts = _ride_points(plan, ride, ride_base) if ride is not None and len(ride) else []
    bounds = None
    if len(s):
        lons = list(s[S.LON]) + [p[1] for p in ride_pts]
        lats = list(s[S.LAT]) + [p[0] for p in ride_pts]
        bounds = (min(lons), min(lats), max(lons), max(lats))
    m = maps.base_map(bounds=bounds, tiles=tiles, tianditu_key=tianditu_key)
    if accounts is not None:
        _add_left_out(m, plan, accounts, reps)
    layers = _add_rep_routes(m, s, done, colours)
    if ride_pts and ride is not None:
        _add_ride(m, plan, ride, ride_pts)
    base_rows = s[s["kind"] == "base"].drop_duplicates([S.LON, S.LAT])
    if len(base_rows):
        bases = pd.DataFrame({S.ID: base_rows[S.ID], S.NAME: base_rows[S.NAME].replace("base office", "Base"),
                              S.LON: base_rows[S.LON], S.LAT: base_rows[S.LAT], S.OFFICE_STATUS: "current"})
        maps.add_offices(m, bases, name="Base")
    _legend(m, s, colours, layers, left_out=accounts is not None, ride=ride if ride_pts else None,
            done=bool(done and any(done.values())))
    maps.add_layer_control(m)
    return m
