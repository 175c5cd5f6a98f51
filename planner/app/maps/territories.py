"""The territory map: accounts coloured by territory, each rep's base and centre, a legend.

Rep colours come from :data:`planner.app.maps.palette.QUALITATIVE` (distinct for 40 reps) in the order of the
plan's reps. Each rep's id is written on his territory centre (a round badge in his colour) and on his base
(chips in his colour; reps sharing a base share one block of chips); accounts moved from another rep have a
black ring; contiguous plans draw each territory as a filled area in the rep's colour (and supervisor
districts as dashed black outlines); the legend shows every symbol.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import esc, tip
from planner.app.maps.palette import POOL_COLOUR, QUALITATIVE, rep_colours, text_on
from planner.solvers import territories

__all__ = ["MOVED_RING", "PALETTE", "POOL_COLOUR", "add_territories", "rep_colours", "territory_map"]

PALETTE = QUALITATIVE
MOVED_RING = "#000000"


def _account_layer(m, plan: territories.TerritoryPlan, colours: dict, name: str, show_pool: bool) -> None:
    """Accounts as circle markers coloured by territory (pool grey, moved accounts ringed black)."""
    import folium

    acc = plan.accounts
    if not show_pool:
        acc = acc[acc["outcome"] == "assigned"]
    lon, lat = maps.to_display(m, acc[S.LON].to_numpy(float), acc[S.LAT].to_numpy(float))
    feats = []
    for x, y, (aid, r) in zip(lon, lat, acc.iterrows()):
        assigned = r["outcome"] == "assigned"
        colour = colours.get(r["territory"], POOL_COLOUR) if assigned else POOL_COLOUR
        text = (f"{aid} | {r['territory']} | class {r['account_class']} | {r['potential_cny']:,.0f} CNY"
               + (f" | moved from {r['owner']}" if r["moved"] else "") + f" | {r['reason']}")
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 6),
                                                                                      round(float(y), 6)]},
                      "properties": {"colour": colour, "tip": esc(text), "radius": 4 if assigned else 2,
                                     "ring": MOVED_RING if r["moved"] else colour,
                                     "weight": 2 if r["moved"] else 1}})
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=esc(name),
        marker=folium.CircleMarker(radius=4, fill=True, weight=1),
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": f["properties"]["ring"],
                                  "radius": f["properties"]["radius"], "fillOpacity": 0.85,
                                  "weight": f["properties"]["weight"]},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    ).add_to(m)


def _rep_text(rid: object, r: pd.Series) -> str:
    return (f"{rid}: {int(r['accounts'])} accounts, {r['workload_h']:.0f} h a month "
            f"(target {r['target_workload_h']:.0f}), {r['potential_cny']:,.0f} CNY, "
            f"mean travel {r['travel_min_mean']:.0f} min")


def _chips(reps: pd.DataFrame, colours: dict) -> str:
    """The rep ids of one base as chips in their colours (escaped), at most 7 a row."""
    chips = "".join(f'<span class="planner-chip" style="background:{colours[rid]};color:{text_on(colours[rid])}">'
                    f"{esc(rid)}</span>" for rid in reps.index)
    width = min(len(reps), 7) * 34
    return f'<div class="planner-chips planner-obstacle" style="max-width:{width}px">{chips}</div>'


def _add_bases(m, plan: territories.TerritoryPlan, colours: dict, fg: Any) -> None:
    """One block of rep-id chips per base (reps sharing a base share it), right of and below the base."""
    import folium

    for (blon, blat), reps in plan.reps.groupby(["base_lon", "base_lat"], sort=False):
        text = "<br>".join(esc(_rep_text(rid, r)) for rid, r in reps.iterrows())
        icon = folium.DivIcon(html=_chips(reps, colours), icon_size=(0, 0), icon_anchor=(-8, -8))
        folium.Marker(maps.latlon(m, float(blat), float(blon)), icon=icon,
                      tooltip=folium.Tooltip(f"base of {len(reps)} rep(s):<br>{text}")).add_to(fg)


def _badge(rid: object, colour: str) -> Any:
    import folium

    label = esc(rid)
    width = max(22, 7 * len(str(rid)) + 6)
    html = (f'<div class="planner-badge" style="width:{width}px;height:22px;line-height:19px;border-radius:11px;'
            f'background:{colour};color:{text_on(colour)}">{label}</div>')
    return folium.DivIcon(html=html, icon_size=(width, 22), icon_anchor=(width // 2, 11))


def _area_layer(m, plan: territories.TerritoryPlan, colours: dict) -> None:
    """Contiguous plans: each territory as a filled area in its rep's colour, districts outlined."""
    import folium

    gdf = plan.areas.copy()
    reps = plan.reps
    gdf["geometry"] = maps.display_geoms(m, gdf.geometry)
    gdf["colour"] = gdf["territory"].map(colours).fillna(POOL_COLOUR)
    gdf["tip"] = [esc(f"{t}: {_rep_text(t, reps.loc[t])}, {a:,.0f} km²" if t in reps.index else str(t))
                  for t, a in zip(gdf["territory"], gdf["area_km2"])]
    keep = ["territory", "colour", "tip", "geometry"]
    gdf["territory"] = gdf["territory"].map(esc)
    folium.GeoJson(
        gdf[keep].to_json(ensure_ascii=False), name="Territories (areas)",
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": f["properties"]["colour"],
                                  "weight": 2, "fillOpacity": 0.28, "opacity": 0.9},
        highlight_function=lambda f: {"weight": 4, "fillOpacity": 0.45},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    ).add_to(m)
    if "district" in gdf.columns:
        import geopandas as gpd

        d = gpd.GeoDataFrame(gdf[["district", "geometry"]], geometry="geometry", crs=plan.areas.crs) \
            .dissolve(by="district").reset_index()
        d["tip"] = [esc(f"district {int(k)}: " + ", ".join(plan.reps.index[plan.reps["district"] == k]))
                    for k in d["district"]]
        folium.GeoJson(
            d[["district", "tip", "geometry"]].to_json(ensure_ascii=False), name="Supervisor districts",
            style_function=lambda f: {"fill": False, "color": "#111111", "weight": 4, "opacity": 0.9,
                                      "dashArray": "8 4"},
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)


def add_territories(m, plan: territories.TerritoryPlan, *, name: str = "Territories", show_pool: bool = True):
    """Accounts as circle markers coloured by territory (pool grey), each rep's base (chips with the rep ids)
    and, with centre compactness, his territory centre (a badge with his id, a line to his base)."""
    import folium

    colours = rep_colours(plan.reps.index)
    if plan.areas is not None:
        _area_layer(m, plan, colours)
    _account_layer(m, plan, colours, name, show_pool)
    fg = folium.FeatureGroup(name="Reps: id at the base (chips) and the territory centre (badge)")
    if plan.compactness in ("centre", "areas"):
        for rid, r in plan.reps.iterrows():
            c = colours[rid]
            base = maps.latlon(m, r["base_lat"], r["base_lon"])
            centre = maps.latlon(m, r["anchor_lat"], r["anchor_lon"])
            folium.PolyLine([base, centre], color=c, weight=1.5, opacity=0.6).add_to(fg)
            folium.Marker(centre, icon=_badge(rid, c), tooltip=tip(_rep_text(rid, r)), z_index_offset=500).add_to(fg)
    _add_bases(m, plan, colours, fg)
    fg.add_to(m)
    return m


def _legend(m, plan: territories.TerritoryPlan, show_pool: bool) -> None:
    acc = plan.accounts
    items: dict[str, Any] = {}
    grid: dict[str, Any] = {}
    n_acc = acc[acc["outcome"] == "assigned"].groupby("territory").size()
    for rid, c in rep_colours(plan.reps.index).items():
        grid[f"{rid} · {int(n_acc.get(rid, 0))}"] = c
    if show_pool:
        items["public pool"] = POOL_COLOUR
    if acc["moved"].any():
        items[f"moved from another rep (black ring): {int(acc['moved'].sum())}"] = ("ring", MOVED_RING)
    first = next(iter(rep_colours(plan.reps.index).values()), QUALITATIVE[0])
    if plan.areas is not None:
        items["territory area (his colour)"] = ("square", first)
        if "district" in plan.areas.columns:
            items[f"supervisor district ({int(plan.areas['district'].max())})"] = ("dashed", "#111111")
    if plan.compactness in ("centre", "areas"):
        items["rep's territory centre (his id)"] = ("badge", first, "R")
        items["from his base to his centre"] = ("line", first)
    items["rep ids at their base"] = ("chip", first, "R")
    items["base office"] = ("square", "#111111")
    maps.add_legend(m, f"Territory of each rep ({len(plan.reps)} reps · accounts)", items, grid=grid,
                    columns=3 if len(grid) > 6 else 1)


def territory_map(plan: territories.TerritoryPlan, offices: pd.DataFrame | None = None, *,
                  tiles: str | None = maps.DEFAULT_TILES, tianditu_key: str | None = None):
    """The whole map: territories, reps, the offices the reps are based at, a legend."""
    acc = plan.accounts
    pts = acc[[S.LON, S.LAT]]
    bounds = (float(pts[S.LON].min()), float(pts[S.LAT].min()), float(pts[S.LON].max()),
              float(pts[S.LAT].max())) if len(acc) else None
    m = maps.base_map(tiles=tiles, bounds=bounds, tianditu_key=tianditu_key)
    show_pool = len(acc) <= 20_000  # very large plans: assigned accounts only
    add_territories(m, plan, show_pool=show_pool)
    if offices is not None and len(offices):
        used = offices[offices[S.ID].isin(_base_office_ids(plan, offices))]
        if len(used):
            maps.add_offices(m, used, name="Base offices")
    _legend(m, plan, show_pool)
    maps.add_layer_control(m)
    return m


def _base_office_ids(plan, offices: pd.DataFrame) -> list[str]:
    near = []
    ol = offices[[S.LON, S.LAT]].to_numpy(float)
    for _, r in plan.reps.iterrows():
        d = np.abs(ol - np.array([r["base_lon"], r["base_lat"]])).sum(axis=1)
        if len(d) and d.min() < 1e-6:
            near.append(offices[S.ID].iloc[int(np.argmin(d))])
    return near
