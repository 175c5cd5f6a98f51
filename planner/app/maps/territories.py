"""The territory map: accounts coloured by territory, each rep's base and centre, a legend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import esc, tip
from planner.solvers import territories

# 20 distinguishable colours (Tableau 20 order), cycled when there are more reps
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
           "#9edae5", "#393b79")
POOL_COLOUR = "#bbbbbb"


def rep_colours(rep_ids) -> dict[str, str]:
    """A colour per rep id, in order, cycling the palette."""
    return {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(rep_ids)}


def add_territories(m, plan: territories.TerritoryPlan, *, name: str = "Territories", show_pool: bool = True):
    """Accounts as circle markers coloured by territory (pool grey), and each rep's base and centre."""
    import folium

    colours = rep_colours(plan.reps.index)
    acc = plan.accounts
    feats = []
    for aid, r in acc.iterrows():
        assigned = r["outcome"] == "assigned"
        if not assigned and not show_pool:
            continue
        colour = colours.get(r["territory"], POOL_COLOUR) if assigned else POOL_COLOUR
        text = (f"{aid} | {r['territory']} | class {r['account_class']} | {r['potential_cny']:,.0f} CNY"
               + (f" | moved from {r['owner']}" if r["moved"] else "") + f" | {r['reason']}")
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r[S.LON]),
                                                                                      float(r[S.LAT])]},
                      "properties": {"colour": colour, "tip": esc(text), "radius": 4 if assigned else 2,
                                     "ring": "#000000" if r["moved"] else colour}})
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=esc(name),
        marker=folium.CircleMarker(radius=4, fill=True, weight=1),
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": f["properties"]["ring"],
                                  "radius": f["properties"]["radius"], "fillOpacity": 0.85, "weight": 1},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    )
    layer.add_to(m)
    fg = folium.FeatureGroup(name="Reps: base (square) and territory centre (circle)")
    for rid, r in plan.reps.iterrows():
        c = colours[rid]
        text = (f"{rid}: {int(r['accounts'])} accounts, {r['workload_h']:.0f} h a month "
               f"(target {r['target_workload_h']:.0f}), {r['potential_cny']:,.0f} CNY, "
               f"mean travel {r['travel_min_mean']:.0f} min")
        # a plain div square: folium's RegularPolygonMarker needs a CDN plugin and breaks offline maps
        square = (f'<div style="width:12px;height:12px;background:{c};border:1.5px solid #000;'
                  f'transform:translate(-50%,-50%)"></div>')
        folium.Marker([r["base_lat"], r["base_lon"]], icon=folium.DivIcon(html=square, icon_size=(0, 0)),
                      tooltip=tip(text)).add_to(fg)
        if plan.compactness == "centre":
            folium.CircleMarker([r["anchor_lat"], r["anchor_lon"]], radius=9, color="#000000", weight=2,
                                fill=True, fill_color=c, fill_opacity=0.9, tooltip=tip(text)).add_to(fg)
            folium.PolyLine([[r["base_lat"], r["base_lon"]], [r["anchor_lat"], r["anchor_lon"]]], color=c,
                            weight=1, opacity=0.6).add_to(fg)
    fg.add_to(m)
    return m


def territory_map(plan: territories.TerritoryPlan, offices: pd.DataFrame | None = None, *,
                  tiles: str | None = maps.DEFAULT_TILES):
    """The whole map: territories, reps, the offices the reps are based at, a legend."""
    acc = plan.accounts
    pts = acc[[S.LON, S.LAT]]
    bounds = (float(pts[S.LON].min()), float(pts[S.LAT].min()), float(pts[S.LON].max()),
              float(pts[S.LAT].max())) if len(acc) else None
    m = maps.base_map(tiles=tiles, bounds=bounds)
    add_territories(m, plan, show_pool=len(acc) <= 20_000)  # very large plans: assigned accounts only
    if offices is not None and len(offices):
        used = offices[offices[S.ID].isin(_base_office_ids(plan, offices))]
        if len(used):
            maps.add_offices(m, used, name="Base offices")
    legend = dict(list(rep_colours(plan.reps.index).items())[:30])
    legend["public pool"] = POOL_COLOUR
    maps.add_legend(m, "Territory", legend)
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


