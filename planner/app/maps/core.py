"""Folium maps built from canonical tables and plans.

Each ``add_*`` function takes a map ``m`` (``folium.Map``), adds its layer and
returns ``m``, so layers compose: ``add_offices(add_accounts(base_map(), acc), off)``.
``save_html(m, path)`` writes a self-contained page: Leaflet and
Leaflet.markercluster are inlined from ``planner/static`` (vendored, licences
beside them), so the map opens without internet apart from the background
tiles. Only circle markers and div icons are used, so the CDN assets folium
adds for icon fonts (jQuery, Bootstrap, awesome-markers) are dropped.

Every map (:func:`base_map`) fills its output's width, draws the offline base layer of
:mod:`planner.app.maps.geography` under its data, and has one layout (:mod:`planner.app.maps.page`:
legends bottom left above the scale bar, the layer list collapsed top right). The data are WGS-84; a map
draws in its tiles' system (:mod:`planner.app.maps.tiles`: GCJ-02 with Amap), kept on the map as its
display CRS, and every layer converts through :func:`to_display` / :func:`latlon` / :func:`latlons` /
:func:`display_geoms`, at display time only.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.app.maps import page, tiles as T
from planner.app.maps.page import esc
from planner.app.maps.palette import QUALITATIVE

__all__ = ["CLASS_COLOURS", "DEFAULT_TILES", "MAP_HEIGHT", "PALETTE", "add_accounts", "add_bases",
           "add_catchments", "add_choropleth", "add_clusters", "add_hexes", "add_layer_control", "add_legend",
           "add_offices", "base_map", "bases_map", "demo_map", "display_crs", "display_geoms", "esc", "latlon",
           "latlons", "pin_icon", "save_html", "short_label", "tip", "to_display", "to_html"]


def tip(text: object) -> Any:
    """A folium tooltip showing ``text`` as text (see :func:`esc`)."""
    import folium

    return folium.Tooltip(esc(text))


CLASS_COLOURS = {"A": "#d7301f", "B": "#fc8d59", "C": "#4575b4"}
DEFAULT_TILES = T.DEFAULT_TILES
MAP_HEIGHT = 600  # px, where the output has no height of its own (a notebook cell showing the map)
PALETTE = QUALITATIVE
_VENDORED = {"leaflet.js": "leaflet.js", "leaflet.css": "leaflet.css",
             "leaflet.markercluster.js": "leaflet.markercluster.js", "MarkerCluster.css": "MarkerCluster.css",
             "MarkerCluster.Default.css": "MarkerCluster.Default.css"}
_CHINA = (73.5, 18.0, 135.0, 53.6)


# ----------------------------------------------------------------------------------------- display CRS
def display_crs(m: Any) -> str:
    """The system ``m`` draws in (``wgs84``, or ``gcj02`` on Amap tiles); ``wgs84`` for a foreign map."""
    return str(getattr(m, "planner_crs", "wgs84"))


def to_display(m: Any, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 ``lon``, ``lat`` (arrays) in ``m``'s display system: the one conversion every layer uses."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    crs = display_crs(m)
    if crs == "wgs84":
        return lon, lat
    from planner.geo import coords

    return coords.from_wgs84(lon, lat, crs)


def latlon(m: Any, lat: float, lon: float) -> list[float]:
    """One WGS-84 point as folium's ``[lat, lon]`` in ``m``'s display system."""
    x, y = to_display(m, [lon], [lat])
    return [float(y[0]), float(x[0])]


def latlons(m: Any, lats: Any, lons: Any) -> list[list[float]]:
    """WGS-84 points as folium's ``[[lat, lon], ...]`` in ``m``'s display system."""
    x, y = to_display(m, list(lons), list(lats))
    return [[float(a), float(b)] for a, b in zip(y, x)]


def display_geoms(m: Any, geoms: Any) -> Any:
    """Shapely geometries (WGS-84) in ``m``'s display system (a GeoSeries in, a GeoSeries out)."""
    if display_crs(m) == "wgs84":
        return geoms
    import shapely

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_display(m, xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    values = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    out = shapely.transform(values, shift)
    if hasattr(geoms, "index"):
        import geopandas as gpd

        return gpd.GeoSeries(out, index=geoms.index, crs=getattr(geoms, "crs", None))
    return out


# ----------------------------------------------------------------------------------------- the base map
def _view_bounds(center: tuple[float, float] | None, zoom: float,
                 bounds: tuple[float, float, float, float] | None) -> tuple[float, float, float, float]:
    """What the map first shows (WGS-84), for the offline base: ``bounds``, else about a 1000 px view."""
    if bounds is not None:
        return tuple(float(v) for v in bounds)  # type: ignore[return-value]
    if center is None:
        return _CHINA
    half = 360.0 / 2 ** float(zoom) * 2.0
    return (center[0] - half, center[1] - half * 0.6, center[0] + half, center[1] + half * 0.6)


def _add_tiles(m: Any, layers: list[T.Tiles]) -> None:
    import folium

    for i, t in enumerate(layers):
        if t.url == "OpenStreetMap" or not t.attr:
            folium.TileLayer(t.url, name=esc(t.name), overlay=False, show=i == 0, max_zoom=19).add_to(m)
            continue
        group = folium.FeatureGroup(name=esc(t.name), overlay=False, show=i == 0)
        folium.TileLayer(t.url, attr=t.attr, name=esc(t.name), subdomains=t.subdomains, control=False,
                         max_zoom=18).add_to(group)
        if t.labels_url:
            folium.TileLayer(t.labels_url, attr=t.attr, subdomains=t.subdomains, control=False,
                             max_zoom=18).add_to(group)
        group.add_to(m)


def base_map(center: tuple[float, float] | None = None, *, zoom: int = 9, tiles: str | None = DEFAULT_TILES,
             bounds: tuple[float, float, float, float] | None = None, crs: str | None = None,
             tianditu_key: str | None = None, geography: bool = True, height: int = MAP_HEIGHT):
    """An empty map. ``center`` is (lon, lat); ``bounds`` (min_lon, min_lat, max_lon, max_lat) fits the view.

    ``tiles``: see :mod:`planner.app.maps.tiles` (``"OpenStreetMap"``, ``"amap"``, ``"tianditu"`` with a key,
    None for none); the map draws in their system (``crs`` overrides). ``geography``: the offline base layer
    (boundaries, coast, county read-out), on by default. The map is ``100%`` wide; ``height`` px where
    the output gives it no height (a notebook cell)."""
    import folium

    layers, shown_crs = T.choose(tiles, key=tianditu_key, crs=crs)
    if center is None and bounds is None:
        zoom = 4  # all of China: every job passes its own data's bounds
    lon, lat = center if center is not None else (104.0, 35.0)
    m = folium.Map(location=[lat, lon], zoom_start=zoom, tiles=None, control_scale=True, prefer_canvas=True,
                   zoom_snap=0.25, maxZoom=18, width="100%", height="100%")
    setattr(m, "planner_crs", shown_crs)  # noqa: B010 (folium's Map declares no such attribute)
    root: Any = m.get_root()
    root.width, root.height = "100%", f"{int(height)}px"  # the notebook's own iframe
    if center is not None:
        m.location = latlon(m, lat, lon)
    _add_tiles(m, layers)
    if geography:
        from planner.app.maps.geography import add_geography

        add_geography(m, _view_bounds(center, zoom, bounds), shown_crs, tiles=bool(layers))
    fit = None
    if bounds is not None:
        (a, b), (c, d) = latlon(m, bounds[1], bounds[0]), latlon(m, bounds[3], bounds[2])
        fit = [[a, b], [c, d]]
        m.location = [(a + c) / 2, (b + d) / 2]
    page.page_setup(fit).add_to(m)  # fits the view to bounds, then again clear of the legends on load
    return m


# ----------------------------------------------------------------------------------------- shared layers
def add_choropleth(m, units, values: pd.Series, *, name: str = "Accounts per county", label: str = "accounts",
                   colours=("#ffffcc", "#fd8d3c", "#800026"), show: bool = True, unit_label: str = "county"):
    """Colour ``units`` (GeoDataFrame with ``adcode``, ``name_zh``) by ``values`` (indexed by adcode)."""
    import branca.colormap as cm
    import folium

    vals = values.reindex(units["adcode"]).fillna(0).to_numpy(float)
    vmax = float(vals.max()) if len(vals) and vals.max() > 0 else 1.0
    cmap = cm.LinearColormap(list(colours), vmin=0, vmax=vmax, caption=f"{name} ({label})")
    gdf = units[["adcode", "name_zh", "name_pinyin", "geometry"]].copy()
    gdf["geometry"] = display_geoms(m, gdf.geometry)
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
    """A colour-ramp legend (branca's needs d3 from a CDN), stacked with the other legends."""
    ramp = (f'<div class="planner-ramp" style="background:linear-gradient(to right,{",".join(colours)})"></div>'
            f'<span>{vmin:,.0f}</span><span style="float:right">{vmax:,.0f}</span>')
    page.legend_element(page.legend_html(title, {}, body=ramp)).add_to(m)


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

    lon, lat = to_display(m, accounts[S.LON].to_numpy(float), accounts[S.LAT].to_numpy(float))
    if cluster:
        data = [[float(y), float(x), str(r[S.CLASS]),
                 f"{esc(r[S.NAME])} | class {esc(r[S.CLASS])} | {esc(r[S.STATUS])}"]
                for x, y, (_, r) in zip(lon, lat, accounts.iterrows())]
        FastMarkerCluster(data, callback=_CLUSTER_CALLBACK % json.dumps(CLASS_COLOURS), name=esc(name), show=show,
                          options={"maxClusterRadius": 45, "disableClusteringAtZoom": 13}).add_to(m)
        return m
    fg = folium.FeatureGroup(name=esc(name), show=show)
    for x, y, (_, r) in zip(lon, lat, accounts.iterrows()):
        folium.CircleMarker([float(y), float(x)], radius=4, color=CLASS_COLOURS.get(r[S.CLASS], "#333"),
                            fill=True, fill_opacity=0.8, weight=1,
                            tooltip=tip(f"{r[S.NAME]} | class {r[S.CLASS]}")).add_to(fg)
    fg.add_to(m)
    return m


def short_label(text: object, limit: int = 20) -> str:
    """A map label: ``text`` up to its first ``(``, ``,``, ``:`` or ``;``, at most ``limit`` characters."""
    t = re.split(r"\s*[(,:;，：（]", str(text).strip(), maxsplit=1)[0].strip() or str(text).strip()
    return t if len(t) <= limit else t[: limit - 1].rstrip() + "…"


SQUARE_SVG = ('<svg width="100%" height="100%" viewBox="0 0 14 14"><rect x="1" y="1" width="12" height="12" '
              'fill="{fill}" stroke="#111" stroke-width="2"/></svg>')
TRIANGLE_SVG = ('<svg width="100%" height="100%" viewBox="0 0 16 15"><path d="M8 1.2 15 13.8H1z" fill="{fill}" '
                'stroke="#111" stroke-width="1.6" stroke-linejoin="round"/></svg>')


def pin_icon(symbol: str, label: str = "", *, prio: int = 1, size: int = 14) -> Any:
    """A symbol (SVG or HTML, safe) with an optional short ``label`` (escaped here) that the page places on
    the first free side of the symbol, or hides (see :mod:`planner.app.maps.page`)."""
    import folium

    lab = (f'<div class="planner-label pl-r" data-prio="{int(prio)}">{esc(label)}</div>' if label else "")
    html = f'<div class="planner-pin"><div class="planner-sym">{symbol}</div>{lab}</div>'
    return folium.DivIcon(html=html, icon_size=(size, size), icon_anchor=(size // 2, size // 2))


def add_offices(m, offices: pd.DataFrame, *, name: str = "Offices", label_column: str = S.NAME):
    """Offices as squares (current offices dark, candidates hollow) with a short label; the full name on hover."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    lon, lat = to_display(m, offices[S.LON].to_numpy(float), offices[S.LAT].to_numpy(float))
    for x, y, (_, r) in zip(lon, lat, offices.iterrows()):
        current = r.get(S.OFFICE_STATUS, "current") == "current"
        icon = pin_icon(SQUARE_SVG.format(fill="#111" if current else "#fff"), short_label(r[label_column]),
                        prio=3 if current else 1)
        folium.Marker([float(y), float(x)], icon=icon, tooltip=tip(r[label_column]),
                      z_index_offset=1000).add_to(fg)
    fg.add_to(m)
    return m


def add_legend(m, title: str, items: dict[str, Any], *, layers: dict[str, Any] | None = None, note: str = "",
               grid: dict[str, Any] | None = None, columns: int = 3):
    """A legend at the legends' place (bottom left, above the scale bar): label -> colour (a dot) or
    (symbol, colour[, text]) with a symbol of :data:`planner.app.maps.page.SYMBOLS`; ``grid``: short entries
    (reps) in ``columns`` columns above the rows; ``layers`` maps a label to its folium layer (hover highlights
    it, click shows it alone). Labels are escaped here."""
    names = {k: (v if isinstance(v, str) else v.get_name()) for k, v in (layers or {}).items()}
    html = page.legend_html(title, items, layers=names, note=note, grid=grid, columns=columns)
    page.legend_element(html).add_to(m)
    return m


def add_layer_control(m):
    """The layer list, collapsed (top right; opens on hover or tap)."""
    import folium

    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m


def _static(name: str) -> str:
    return resources.files("planner.app.maps").joinpath("static", name).read_text(encoding="utf-8")


def to_html(m, *, offline: bool = True) -> str:
    """The map as one HTML string; with ``offline`` the JS/CSS libraries are inlined."""
    page_html = m.get_root().render()
    if not offline:
        return page_html

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

    page_html = re.sub(r'<script src="(https?://[^"]+)"></script>', lambda mm: script(mm), page_html)
    page_html = re.sub(r'<link rel="stylesheet" href="(https?://[^"]+)"\s*/?>', lambda mm: link(mm), page_html)
    return page_html


def save_html(m, path: str | Path, *, offline: bool = True) -> Path:
    """Write the map as a self-contained HTML file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(to_html(m, offline=offline), encoding="utf-8")
    return p


def _points_bounds(lon: Any, lat: Any) -> tuple[float, float, float, float] | None:
    lon, lat = pd.Series(lon, dtype=float).dropna(), pd.Series(lat, dtype=float).dropna()
    if not len(lon) or not len(lat):
        return None
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def demo_map(accounts: pd.DataFrame, offices: pd.DataFrame, units, counts: pd.Series, *,
             tiles: str | None = DEFAULT_TILES, tianditu_key: str | None = None):
    """The start-here map: county choropleth of accounts, clustered accounts, the office(s)."""
    b = _points_bounds(accounts[S.LON], accounts[S.LAT]) if len(accounts) else None
    if b is None:
        b = tuple(np.asarray(units.total_bounds, dtype=float))
    m = base_map(tiles=tiles, bounds=b, tianditu_key=tianditu_key)
    add_choropleth(m, units, counts)
    add_accounts(m, accounts)
    add_offices(m, offices)
    items: dict[str, Any] = {f"class {k}": v for k, v in CLASS_COLOURS.items()}
    items["accounts grouped (number inside)"] = ("badge", "#b5e28c", "12")
    items["office"] = ("square", "#111111")
    add_legend(m, "Accounts", items)
    add_layer_control(m)
    return m


# ----------------------------------------------------------------------------------------- the bases map
def add_hexes(m, cells, *, name: str = "Account density (H3)", value: str = "accounts",
              colours=("#f7fbff", "#6baed6", "#08306b"), show: bool = True):
    """H3 cells (``planner.solvers.density.hex_cells``) coloured by ``value``: the density layer.

    Cells, not markers, so 100,000 accounts make a few thousand polygons."""
    import branca.colormap as cm
    import folium

    vmax = float(cells[value].max()) if len(cells) else 1.0
    cmap = cm.LinearColormap(list(colours), vmin=0, vmax=max(vmax, 1e-9))
    gdf = cells[["cell", value, "geometry"]].copy()
    gdf["geometry"] = display_geoms(m, gdf.geometry)
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


CLUSTER_COLOUR = "#5b2c6f"


def add_clusters(m, table: pd.DataFrame, *, name: str = "Clusters"):
    """Density clusters (``planner.solvers.density.find_clusters(...).table``) as circles sized by accounts."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    total = float(table["accounts"].sum()) if len(table) else 1.0
    pts = latlons(m, table["lat"], table["lon"]) if len(table) else []
    for r, here in zip(table.itertuples(), pts):
        radius_m = 1500.0 + 9000.0 * np.sqrt(r.accounts / total)
        folium.Circle(here, radius=radius_m, color=CLUSTER_COLOUR, weight=2, fill=False, dash_array="6",
                      tooltip=tip(f"cluster {r.cluster}: {r.accounts} accounts ({r.share:.0%}), {r.main_county}"),
                      ).add_to(fg)
    fg.add_to(m)
    return m


def base_colours(bases: pd.DataFrame) -> dict:
    """A colour per recommended base id, in the plan's order (catchments and labels share them)."""
    return {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(bases["id"])}


def add_catchments(m, accounts: pd.DataFrame, assignment: pd.DataFrame, bases: pd.DataFrame, *,
                   name: str = "Catchments", resolution: int = 7, max_lines: int = 3000):
    """Each base's catchment: H3 cells of its accounts in the base's colour, with spokes to the base."""
    import folium
    import geopandas as gpd
    import h3
    import shapely

    from planner.solvers import density

    colour = base_colours(bases)
    cells = density.h3_cells(accounts[S.LON], accounts[S.LAT], resolution)
    df = pd.DataFrame({"cell": cells, "base": assignment["base"].to_numpy()})
    top = df.groupby("cell")["base"].agg(lambda s: s.value_counts().index[0])
    n = df.groupby("cell").size()
    polys = [shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(h3.int_to_str(int(c)))]) for c in top.index]
    shown = {b: esc(b) for b in colour}  # GeoJsonTooltip writes property values as HTML
    gdf = gpd.GeoDataFrame({"base": [shown.get(b, esc(b)) for b in top.to_numpy()], "accounts": n.to_numpy()},
                           geometry=display_geoms(m, np.asarray(polys, dtype=object)), crs="EPSG:4326")
    colour_shown = {shown[b]: c for b, c in colour.items()}
    folium.GeoJson(gdf.to_json(), name=esc(name),
                   style_function=lambda f: {"fillColor": colour_shown.get(f["properties"]["base"], "#999"),
                                             "color": colour_shown.get(f["properties"]["base"], "#999"),
                                             "weight": 0.3, "fillOpacity": 0.45},
                   tooltip=folium.GeoJsonTooltip(fields=["base", "accounts"])).add_to(m)
    spokes = folium.FeatureGroup(name=esc(f"{name}: spokes"), show=False)
    b_xy = bases.set_index("id")[[S.LAT, S.LON]]
    centres = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in top.index[:max_lines]]
    ends = top.to_numpy()[:max_lines]
    if len(centres):
        starts = latlons(m, [c[0] for c in centres], [c[1] for c in centres])
        targets = latlons(m, b_xy.loc[ends, S.LAT], b_xy.loc[ends, S.LON])
        for here, there, b in zip(starts, targets, ends):
            folium.PolyLine([here, there], color=colour[b], weight=1, opacity=0.5).add_to(spokes)
    spokes.add_to(m)
    return m


def add_bases(m, bases: pd.DataFrame, *, name: str = "Recommended bases"):
    """Recommended bases as triangles in their colour with a short label (name and reps); the rest on hover."""
    import folium

    fg = folium.FeatureGroup(name=esc(name))
    colour = base_colours(bases)
    pts = latlons(m, bases[S.LAT], bases[S.LON]) if len(bases) else []
    for r, here in zip(bases.itertuples(), pts):
        text = f"{r.name}: {r.reps} reps, {r.accounts} accounts"
        icon = pin_icon(TRIANGLE_SVG.format(fill=colour[r.id]), f"{short_label(r.name)} · {r.reps} reps",
                        prio=2, size=16)
        folium.Marker(here, icon=icon, tooltip=tip(text), z_index_offset=2000).add_to(fg)
    fg.add_to(m)
    return m


def _bases_legend(m, plan, clusters: pd.DataFrame | None) -> None:
    items: dict[str, Any] = {}
    if plan is not None and len(plan.bases):
        colour = base_colours(plan.bases)
        for r in plan.bases.itertuples():
            items[f"{short_label(r.name, 22)}: {r.reps} reps, {r.accounts} accounts"] = ("tri", colour[r.id])
        items["catchment: cells of a base's accounts"] = ("hex", PALETTE[0])
    items["today's office"] = ("square", "#111111")
    if clusters is not None and len(clusters):
        items["density cluster"] = ("dashcircle", CLUSTER_COLOUR)
    add_legend(m, "Recommended bases", items)


def bases_map(accounts: pd.DataFrame, plan, current: pd.DataFrame, *, clusters: pd.DataFrame | None = None,
              hexes=None, units=None, county_counts: pd.Series | None = None, tiles: str | None = DEFAULT_TILES,
              tianditu_key: str | None = None):
    """Where-are-the-customers map: density, clusters, county choropleth, today's office(s),
    the recommended bases and their catchments. Aggregated layers only (cells, clusters,
    counties), never one marker per account, so 100,000 accounts stay light."""
    m = base_map(tiles=tiles, bounds=_points_bounds(accounts[S.LON], accounts[S.LAT]), tianditu_key=tianditu_key)
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
    _bases_legend(m, plan, clusters)
    add_layer_control(m)
    return m
