"""Folium maps built from canonical tables and plans.

Each ``add_*`` function takes a map ``m`` (``folium.Map``), adds its layer and
returns ``m``, so layers compose: ``add_offices(add_accounts(base_map(), acc), off)``.
``save_html(m, path)`` writes a self-contained page: Leaflet and
Leaflet.markercluster are inlined from ``planner/static`` (vendored, licences
beside them), so the map opens without internet apart from the background
tiles. Only circle markers and div icons are used, so the CDN assets folium
adds for icon fonts (jQuery, Bootstrap, awesome-markers) are dropped.
"""

from __future__ import annotations

import html as _html
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S


def esc(text: object) -> str:
    """User text made safe for the maps' HTML and for the JavaScript template strings folium writes it into.

    HTML-escaped (quotes included), and the characters that would end or
    interpolate a JavaScript template literal (backtick, ``$``, backslash)
    written as HTML entities, which display as the same characters.
    """
    return (_html.escape(str(text), quote=True).replace("`", "&#96;").replace("$", "&#36;")
            .replace("\\", "&#92;"))


def tip(text: object) -> Any:
    """A folium tooltip showing ``text`` as text (see :func:`esc`)."""
    import folium

    return folium.Tooltip(esc(text))


CLASS_COLOURS = {"A": "#d7301f", "B": "#fc8d59", "C": "#4575b4"}
DEFAULT_TILES = "OpenStreetMap"
_VENDORED = {"leaflet.js": "leaflet.js", "leaflet.css": "leaflet.css",
             "leaflet.markercluster.js": "leaflet.markercluster.js", "MarkerCluster.css": "MarkerCluster.css",
             "MarkerCluster.Default.css": "MarkerCluster.Default.css"}


def base_map(center: tuple[float, float] | None = None, *, zoom: int = 9, tiles: str | None = DEFAULT_TILES,
             bounds: tuple[float, float, float, float] | None = None):
    """An empty map. ``center`` is (lon, lat); ``bounds`` (min_lon, min_lat, max_lon, max_lat) fits the view."""
    import folium

    if center is None and bounds is None:
        center, zoom = (104.0, 35.0), 4  # all of China: every job passes its own data's bounds
    lon, lat = center if center is not None else (104.0, 35.0)
    m = folium.Map(location=[lat, lon], zoom_start=zoom, tiles=tiles, control_scale=True,
                   prefer_canvas=True, zoom_snap=0.25, maxZoom=18)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    return m


def add_choropleth(m, units, values: pd.Series, *, name: str = "Accounts per county", label: str = "accounts",
                   colours=("#ffffcc", "#fd8d3c", "#800026"), show: bool = True, unit_label: str = "county"):
    """Colour ``units`` (GeoDataFrame with ``adcode``, ``name_zh``) by ``values`` (indexed by adcode)."""
    import branca.colormap as cm
    import folium

    vals = values.reindex(units["adcode"]).fillna(0).to_numpy(float)
    vmax = float(vals.max()) if len(vals) and vals.max() > 0 else 1.0
    cmap = cm.LinearColormap(list(colours), vmin=0, vmax=vmax, caption=f"{name} ({label})")
    gdf = units[["adcode", "name_zh", "name_pinyin", "geometry"]].copy()
    for col in ("name_zh", "name_pinyin"):  # GeoJsonTooltip writes property values as HTML
        gdf[col] = gdf[col].map(esc)
    gdf["value"] = vals
    layer = folium.GeoJson(
        gdf.to_json(ensure_ascii=False),
        name=esc(name), show=show,
        style_function=lambda f: {
            "fillColor": "#ffffff00" if f["properties"]["value"] == 0 else cmap(f["properties"]["value"]),
            "color": "#555555", "weight": 0.8,
            "fillOpacity": 0.0 if f["properties"]["value"] == 0 else 0.65},
        tooltip=folium.GeoJsonTooltip(fields=["name_zh", "name_pinyin", "value"],
                                      aliases=[unit_label, "", label]),
    )
    layer.add_to(m)
    _gradient_legend(m, f"{name} ({label})", list(colours), 0.0, vmax)
    return m


def _gradient_legend(m, title: str, colours: list[str], vmin: float, vmax: float) -> None:
    """A colour-ramp legend in plain HTML (branca's needs d3 from a CDN)."""
    import branca.element as be

    box = (f'<div style="position:fixed;bottom:28px;right:12px;z-index:9999;background:#fff;padding:6px 10px;'
           f'border:1px solid #999;font:12px sans-serif"><b>{_html.escape(title)}</b>'
           f'<div style="width:180px;height:12px;margin:4px 0;background:linear-gradient(to right,'
           f'{",".join(colours)})"></div><span>{vmin:,.0f}</span>'
           f'<span style="float:right">{vmax:,.0f}</span></div>')
    m.get_root().html.add_child(be.Element(box))


_CLUSTER_CALLBACK = """
function (row) {
    var colours = %s;
    var marker = L.circleMarker(new L.LatLng(row[0], row[1]),
        {radius: 5, color: colours[row[2]] || '#333', weight: 1, fillOpacity: 0.8});
    marker.bindTooltip(row[3]);
    return marker;
};
"""


def add_accounts(m, accounts: pd.DataFrame, *, name: str = "Accounts", cluster: bool = True, show: bool = True):
    """Accounts as circle markers coloured by class; clustered when ``cluster``."""
    import folium
    from folium.plugins import FastMarkerCluster

    if cluster:
        data = [[float(r[S.LAT]), float(r[S.LON]), str(r[S.CLASS]),
                 f"{esc(r[S.NAME])} | class {esc(r[S.CLASS])} | {esc(r[S.STATUS])}"]
                for _, r in accounts.iterrows()]
        FastMarkerCluster(data, callback=_CLUSTER_CALLBACK % json.dumps(CLASS_COLOURS), name=esc(name), show=show,
                          options={"maxClusterRadius": 45, "disableClusteringAtZoom": 13}).add_to(m)
        return m
    fg = folium.FeatureGroup(name=esc(name), show=show)
    for _, r in accounts.iterrows():
        folium.CircleMarker([r[S.LAT], r[S.LON]], radius=4, color=CLASS_COLOURS.get(r[S.CLASS], "#333"),
                            fill=True, fill_opacity=0.8, weight=1,
                            tooltip=tip(f"{r[S.NAME]} | class {r[S.CLASS]}")).add_to(fg)
    fg.add_to(m)
    return m


def add_offices(m, offices: pd.DataFrame, *, name: str = "Offices", label_column: str = S.NAME):
    """Offices as square labelled markers (current offices dark, candidates hollow)."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    for _, r in offices.iterrows():
        current = r.get(S.OFFICE_STATUS, "current") == "current"
        style = ("background:#111;color:#fff;" if current else "background:#fff;color:#111;")
        text = esc(r[label_column])
        icon = folium.DivIcon(html=(f'<div style="{style}border:2px solid #111;padding:2px 5px;font:bold 12px '
                                    f'sans-serif;white-space:nowrap;display:inline-block;'
                                    f'transform:translate(-50%,-50%)">&#9632; {text}</div>'),
                              icon_size=(0, 0))
        folium.Marker([r[S.LAT], r[S.LON]], icon=icon, tooltip=folium.Tooltip(text), z_index_offset=1000).add_to(fg)
    fg.add_to(m)
    return m


def add_legend(m, title: str, items: dict[str, str]):
    """A small fixed legend (label -> colour) in the lower left corner."""
    import branca.element as be

    rows = "".join(f'<div><span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
                   f'background:{c};margin-right:6px"></span>{_html.escape(k)}</div>' for k, c in items.items())
    box = (f'<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:#fff;padding:8px 10px;'
           f'border:1px solid #999;font:12px sans-serif"><b>{_html.escape(title)}</b>{rows}</div>')
    m.get_root().html.add_child(be.Element(box))
    return m


def add_layer_control(m):
    import folium

    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _static(name: str) -> str:
    return resources.files("planner.app.maps").joinpath("static", name).read_text(encoding="utf-8")


def to_html(m, *, offline: bool = True) -> str:
    """The map as one HTML string; with ``offline`` the JS/CSS libraries are inlined."""
    page = m.get_root().render()
    if not offline:
        return page

    def script(match: re.Match) -> str:
        url = match.group(1)
        fname = url.rsplit("/", 1)[-1]
        if fname in _VENDORED:
            return f"<script>{_static(_VENDORED[fname])}</script>"
        return ""  # jQuery, Bootstrap, awesome-markers, d3: unused by these maps

    def link(match: re.Match) -> str:
        url = match.group(1)
        fname = url.rsplit("/", 1)[-1]
        if fname in _VENDORED:
            return f"<style>{_static(_VENDORED[fname])}</style>"
        return ""

    page = re.sub(r'<script src="(https?://[^"]+)"></script>', lambda mm: script(mm), page)
    page = re.sub(r'<link rel="stylesheet" href="(https?://[^"]+)"\s*/?>', lambda mm: link(mm), page)
    return page


def save_html(m, path: str | Path, *, offline: bool = True) -> Path:
    """Write the map as a self-contained HTML file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(to_html(m, offline=offline), encoding="utf-8")
    return p


def demo_map(accounts: pd.DataFrame, offices: pd.DataFrame, units, counts: pd.Series, *,
             tiles: str | None = DEFAULT_TILES):
    """The start-here map: county choropleth of accounts, clustered accounts, the office(s)."""
    if len(accounts):
        b = (float(accounts[S.LON].min()), float(accounts[S.LAT].min()),
             float(accounts[S.LON].max()), float(accounts[S.LAT].max()))
    else:
        b = tuple(np.asarray(units.total_bounds, dtype=float))
    m = base_map(tiles=tiles, bounds=b)
    add_choropleth(m, units, counts)
    add_accounts(m, accounts)
    add_offices(m, offices)
    add_legend(m, "Account class", CLASS_COLOURS)
    add_layer_control(m)
    return m


PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4",
           "#b2df8a", "#fb9a99", "#cab2d6", "#ff7f00", "#6a3d9a", "#b15928", "#33a02c", "#666666")


def add_hexes(m, cells, *, name: str = "Account density (H3)", value: str = "accounts",
              colours=("#f7fbff", "#6baed6", "#08306b"), show: bool = True):
    """H3 cells (``planner.solvers.density.hex_cells``) coloured by ``value``: the density layer.

    Cells, not markers, so 100,000 accounts make a few thousand polygons."""
    import branca.colormap as cm
    import folium

    vmax = float(cells[value].max()) if len(cells) else 1.0
    cmap = cm.LinearColormap(list(colours), vmin=0, vmax=max(vmax, 1e-9))
    gdf = cells[["cell", value, "geometry"]].copy()
    gdf["cell"] = gdf["cell"].astype(str)
    folium.GeoJson(
        gdf.to_json(), name=esc(name), show=show,
        style_function=lambda f: {"fillColor": cmap(f["properties"][value]), "color": "#08306b", "weight": 0.2,
                                  "fillOpacity": 0.55},
        tooltip=folium.GeoJsonTooltip(fields=[value], aliases=[value]),
    ).add_to(m)
    if show:
        _gradient_legend(m, f"{name}: {value} per cell", list(colours), 0.0, vmax)
    return m


def add_clusters(m, table: pd.DataFrame, *, name: str = "Clusters"):
    """Density clusters (``planner.solvers.density.find_clusters(...).table``) as circles sized by accounts."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    total = float(table["accounts"].sum()) if len(table) else 1.0
    for r in table.itertuples():
        radius_m = 1500.0 + 9000.0 * np.sqrt(r.accounts / total)
        folium.Circle([r.lat, r.lon], radius=radius_m, color="#5b2c6f", weight=2, fill=False, dash_array="6",
                      tooltip=tip(f"cluster {r.cluster}: {r.accounts} accounts ({r.share:.0%}), {r.main_county}"),
                      ).add_to(fg)
    fg.add_to(m)
    return m


def add_catchments(m, accounts: pd.DataFrame, assignment: pd.DataFrame, bases: pd.DataFrame, *,
                   name: str = "Catchments", resolution: int = 7, max_lines: int = 3000):
    """Each base's catchment: H3 cells of its accounts in the base's colour, with spokes to the base."""
    import folium
    import geopandas as gpd
    import shapely

    from planner.solvers import density

    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(bases["id"])}
    cells = density.h3_cells(accounts[S.LON], accounts[S.LAT], resolution)
    df = pd.DataFrame({"cell": cells, "base": assignment["base"].to_numpy()})
    top = df.groupby("cell")["base"].agg(lambda s: s.value_counts().index[0])
    n = df.groupby("cell").size()
    import h3

    polys = [shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(h3.int_to_str(int(c)))]) for c in top.index]
    shown = {b: esc(b) for b in colour}  # GeoJsonTooltip writes property values as HTML
    gdf = gpd.GeoDataFrame({"base": [shown.get(b, esc(b)) for b in top.to_numpy()], "accounts": n.to_numpy()},
                           geometry=polys, crs="EPSG:4326")
    colour_shown = {shown[b]: c for b, c in colour.items()}
    folium.GeoJson(gdf.to_json(), name=esc(name),
                   style_function=lambda f: {"fillColor": colour_shown.get(f["properties"]["base"], "#999"),
                                             "color": colour_shown.get(f["properties"]["base"], "#999"),
                                             "weight": 0.3, "fillOpacity": 0.45},
                   tooltip=folium.GeoJsonTooltip(fields=["base", "accounts"])).add_to(m)
    spokes = folium.FeatureGroup(name=esc(f"{name}: spokes"), show=False)
    b_xy = bases.set_index("id")[[S.LAT, S.LON]]
    centres = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in top.index[:max_lines]]
    for (lat, lon), b in zip(centres, top.to_numpy()[:max_lines]):
        folium.PolyLine([[lat, lon], list(b_xy.loc[b])], color=colour[b], weight=1, opacity=0.5).add_to(spokes)
    spokes.add_to(m)
    return m


def add_bases(m, bases: pd.DataFrame, *, name: str = "Recommended bases"):
    """Recommended bases as coloured labels with their headcount."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    for i, r in enumerate(bases.itertuples()):
        c = PALETTE[i % len(PALETTE)]
        text = esc(f"{r.name}: {r.reps} reps, {r.accounts} accounts")
        icon = folium.DivIcon(html=(f'<div style="background:{c};color:#fff;border:2px solid #111;padding:2px 5px;'
                                    f'font:bold 12px sans-serif;white-space:nowrap;display:inline-block;'
                                    f'transform:translate(-50%,-50%)">&#9650; {text}</div>'), icon_size=(0, 0))
        folium.Marker([getattr(r, S.LAT), getattr(r, S.LON)], icon=icon, tooltip=folium.Tooltip(text),
                      z_index_offset=2000).add_to(fg)
    fg.add_to(m)
    return m


def bases_map(accounts: pd.DataFrame, plan, current: pd.DataFrame, *, clusters: pd.DataFrame | None = None,
              hexes=None, units=None, county_counts: pd.Series | None = None, tiles: str | None = DEFAULT_TILES):
    """Where-are-the-customers map: density, clusters, county choropleth, today's office(s),
    the recommended bases and their catchments. Aggregated layers only (cells, clusters,
    counties), never one marker per account, so 100,000 accounts stay light."""
    b = (float(accounts[S.LON].min()), float(accounts[S.LAT].min()),
         float(accounts[S.LON].max()), float(accounts[S.LAT].max()))
    m = base_map(tiles=tiles, bounds=b)
    if units is not None and county_counts is not None:
        add_choropleth(m, units, county_counts)
    if hexes is not None:
        add_hexes(m, hexes, show=False)
    if plan is not None and len(plan.bases):
        add_catchments(m, accounts, plan.assignment, plan.bases)
    if clusters is not None and len(clusters):
        add_clusters(m, clusters)
    add_offices(m, current, name="Today's office")
    if plan is not None and len(plan.bases):
        add_bases(m, plan.bases)
    add_layer_control(m)
    return m
