"""The offline base layer: China's geography from the package's own boundaries, drawn under every map.

Without tiles (offline, or where OpenStreetMap is slow) a map still shows where things are: the land (filled,
under the tiles, so it shows wherever they do not load), the coastline and national border, province,
prefecture and county outlines, and the county under the pointer in a read-out (county names also appear at
their seats from zoom :data:`planner.app.maps.page.COUNTY_LABEL_ZOOM` on).

Only the units around the map's extent are drawn (the extent plus a margin), simplified as a coverage
(neighbours keep one shared edge) to a tolerance that grows with the extent, coordinates quantised to 1e-4
degree and delta-encoded (decoded in the browser), so a Fujian-sized map gains 100-200 kilobytes. Counties
are drawn up to :data:`COUNTY_MAX_DEG` of extent, prefectures up to :data:`PREFECTURE_MAX_DEG`; beyond that
provinces and the coast only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from planner.app.maps.page import esc, outlines_layer, script_json

Q = 10_000  # quantisation: 1e-4 degree (~11 m)
MARGIN = 0.25  # of the extent's larger side, each way (at least MIN_MARGIN_DEG)
MIN_MARGIN_DEG = 0.3
COUNTY_MAX_DEG = 8.0
PREFECTURE_MAX_DEG = 40.0
_LINE = {"fill": False, "lineJoin": "round"}
STYLE = {
    "county": {**_LINE, "color": "#8f99a5", "weight": 0.7, "opacity": 0.9},
    "prefecture": {**_LINE, "color": "#5f6b78", "weight": 1.3, "opacity": 0.9},
    "province": {**_LINE, "color": "#3d4652", "weight": 2.2, "opacity": 0.9, "dashArray": "7 4"},
    "coast": {**_LINE, "color": "#4f7aa3", "weight": 1.4, "opacity": 1.0},
    "land": {"stroke": False, "fill": True, "fillColor": "#fbfaf6", "fillOpacity": 1.0, "pane": "plannerLand"},
}
LAND_PANE = "plannerLand"
LAND_Z = 150  # under Leaflet's tile pane (200)
NO_TILES = "无底图 No tiles (offline)"


def outline_box(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The extent drawn for a map showing ``bounds`` (min_lon, min_lat, max_lon, max_lat): plus the margin."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    m = max(MIN_MARGIN_DEG, MARGIN * max(x1 - x0, y1 - y0))
    return (max(x0 - m, -180.0), max(y0 - m, -85.0), min(x1 + m, 180.0), min(y1 + m, 85.0))


def _encode(ring: np.ndarray) -> list[int]:
    """A ring or line as flat delta-encoded integers (x0, y0, dx1, dy1, ...)."""
    q = np.round(np.asarray(ring, dtype=float) * Q).astype(np.int64)
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = np.any(q[1:] != q[:-1], axis=1)  # drop repeated points
    q = q[keep]
    d = np.vstack([q[:1], np.diff(q, axis=0)])
    return [int(v) for v in d.ravel()]


def _polygons(geom: Any, min_area: float) -> list[list[list[int]]]:
    import shapely

    parts = getattr(geom, "geoms", [geom])
    out = []
    for p in parts:
        if p.is_empty or p.geom_type != "Polygon" or p.area < min_area:
            continue
        rings = [shapely.get_coordinates(p.exterior)]
        rings += [shapely.get_coordinates(r) for r in p.interiors if shapely.Polygon(r).area >= min_area]
        out.append([_encode(r) for r in rings])
    return out


def _lines(geom: Any) -> list[list[int]]:
    import shapely

    parts = shapely.get_parts(shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom)
    return [_encode(shapely.get_coordinates(p)) for p in parts if p.geom_type == "LineString" and len(p.coords) > 1]


def _display(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Geometries converted from WGS-84 to the display system (unchanged for wgs84)."""
    import shapely

    if crs == "wgs84":
        return geoms
    from planner.geo import coords

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = coords.from_wgs84(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, shift)


def _simplified(geoms: np.ndarray, tol: float) -> np.ndarray:
    import shapely

    try:
        return shapely.coverage_simplify(geoms, tol)
    except Exception:  # not a clean coverage (user geodata): each unit on its own
        return shapely.simplify(geoms, tol, preserve_topology=True)


def _drop_specks(geoms: np.ndarray, min_area: float) -> np.ndarray:
    """The polygons without the parts (islets) smaller than ``min_area``."""
    import shapely

    out = []
    for g in geoms:
        parts = [p for p in shapely.get_parts(g) if p.area >= min_area]
        out.append(shapely.MultiPolygon(parts) if parts else shapely.Polygon())
    return np.asarray(out, dtype=object)


def _prefecture_part(box: Any, tol: float, crs: str, with_prefectures: bool) -> tuple[list[dict], list]:
    """Line layers (prefecture, province, coast: each edge once) and the land polygons.

    The prefectures touching ``box`` are simplified as one coverage, so their shared edges coincide: the line
    network of their boundaries, less the province borders, less the land's outline (the coast and national
    border) leaves each edge in one layer only. Inside ``box`` the land's outline is real coast or border."""
    import geopandas as gpd
    import shapely

    from planner import geo

    pref = geo.load_units("prefecture")
    pref = pref[pref.intersects(box)]
    if pref.empty:
        return [], []
    simple = _drop_specks(_simplified(np.asarray(pref.geometry.values), tol), (3 * tol) ** 2)
    gdf = gpd.GeoDataFrame({"prov": pref["province_adcode"].to_numpy()}, geometry=simple, crs="EPSG:4326")
    provinces = np.asarray(gdf.dissolve("prov").geometry.values)
    land = shapely.union_all(simple)
    coast = shapely.intersection(land.boundary, box)
    prov_net = shapely.union_all(shapely.boundary(provinces))
    lines = {"province": shapely.intersection(shapely.difference(prov_net, land.boundary), box), "coast": coast}
    if with_prefectures:
        pref_net = shapely.union_all(shapely.boundary(simple))
        lines["prefecture"] = shapely.intersection(shapely.difference(pref_net, prov_net), box)
    layers = [{"style": STYLE[k], "line": True, "items": [["", _lines(_display(np.asarray([lines[k]]), crs)[0])]]}
              for k in ("prefecture", "province", "coast") if k in lines and not lines[k].is_empty]
    land_items = [["", _polygons(_display(np.asarray([land]), crs)[0], (3 * tol) ** 2)]]
    return layers, land_items


def _county_part(box: Any, tol: float, crs: str) -> tuple[dict, list]:
    """The county layer (with the read-out names) and the county name labels at the seats."""
    from planner import geo

    cty = geo.load_units("county")
    cty = cty[cty.intersects(box)]
    if cty.empty:
        return {}, []
    units = geo.admin_units()
    names = dict(zip(units["adcode"], units["name_zh"] + " " + units["name_pinyin"]))
    simple = _display(_simplified(np.asarray(cty.geometry.values), tol), crs)
    items = [[esc(f"{names.get(a, z)} · {names.get(p, '')}".strip(" ·")), _polygons(g, tol * tol)]
             for a, z, p, g in zip(cty["adcode"], cty["name_zh"], cty["prefecture_adcode"], simple)]
    layer = {"style": {**STYLE["county"]}, "readout": True, "items": [it for it in items if it[1]]}
    seats = units.set_index("adcode").reindex(cty["adcode"])
    ok = seats["seat_lon"].notna().to_numpy() & seats["seat_lat"].notna().to_numpy()
    lon, lat = seats["seat_lon"].to_numpy(float)[ok], seats["seat_lat"].to_numpy(float)[ok]
    if crs != "wgs84":
        from planner.geo import coords

        lon, lat = coords.from_wgs84(lon, lat, crs)
    labels = [[round(float(y), 4), round(float(x), 4), esc(n)]
              for x, y, n in zip(lon, lat, cty["name_zh"].to_numpy()[ok])]
    return layer, labels


@lru_cache(maxsize=16)
def outline_json(box: tuple[float, float, float, float], crs: str = "wgs84") -> tuple[str, str]:
    """(outlines, land) of ``box`` in the display system ``crs``, as the JSON ``plannerOutlines`` reads."""
    import shapely


    b = shapely.box(*box)
    side = max(box[2] - box[0], box[3] - box[1])
    tol = side / 1100.0
    county, labels = _county_part(b, tol, crs) if side <= COUNTY_MAX_DEG else ({}, [])
    layers, land = _prefecture_part(b, tol, crs, side <= PREFECTURE_MAX_DEG)
    main = {"q": Q, "layers": ([county] if county else []) + layers, "labels": labels}
    land_data = {"q": Q, "layers": [{"style": STYLE["land"], "items": land}] if land else []}
    return script_json(main), script_json(land_data)


def rounded_box(bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """:func:`outline_box` rounded outwards to 0.1 degree (so nearby maps share the cached outlines)."""
    x0, y0, x1, y1 = outline_box(bounds)
    return (float(np.floor(x0 * 10) / 10), float(np.floor(y0 * 10) / 10), float(np.ceil(x1 * 10) / 10),
            float(np.ceil(y1 * 10) / 10))


def add_geography(m: Any, bounds: tuple[float, float, float, float], crs: str, *, tiles: bool) -> Any:
    """Draw the offline base under ``m`` for a view of ``bounds`` (WGS-84, drawn in ``crs``).

    The land fill lies in a pane *under* the tiles (:data:`LAND_PANE`): hidden by tiles that load, it shows
    wherever they do not (offline, or a slow tile server). With ``tiles``, the layer list also offers
    "no tiles" (the offline base alone). The outlines are one overlay, drawn over the tiles."""
    import folium

    box = rounded_box(bounds)
    main, land_json = outline_json(box, crs)
    folium.map.CustomPane(LAND_PANE, z_index=LAND_Z, pointer_events=False).add_to(m)
    outlines_layer("陆地 Land (offline)", land_json, control=False).add_to(m)
    if tiles:
        folium.FeatureGroup(name=NO_TILES, overlay=False, show=False).add_to(m)
    outlines_layer("边界 Boundaries (offline)", main).add_to(m)
    return m
