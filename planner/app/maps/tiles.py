"""Background tiles and the coordinate system a map is drawn in.

The data stay WGS-84; a map draws in its tiles' system, its *display CRS*: OpenStreetMap and Tianditu (天地图,
CGCS2000, within centimetres of WGS-84) draw in ``wgs84``, Amap (高德) in ``gcj02``, so a marker sits on the
right street. :func:`choose` resolves a ``tiles`` argument to the tile layers and that system; the map keeps it
(``planner.app.maps.core.display_crs``) and every layer converts through ``core.to_display``.

``tiles``: ``"OpenStreetMap"`` (the default; the environment variable ``PLANNER_TILES`` may name another
choice for every map, e.g. ``amap`` where OpenStreetMap is slow), ``"amap"`` / ``"高德"``, ``"tianditu"`` /
``"天地图"`` (needs a key: the ``tianditu_key`` argument or ``PLANNER_TIANDITU_KEY``), ``None`` (no tiles:
fully offline), a URL template ``https://.../{z}/{x}/{y}.png`` (a company tile server; drawn in WGS-84 unless
``crs`` says otherwise), or any tile name folium knows; anything else is an ``InputError`` listing these.
The command line's ``--tiles NAME`` / ``--no-tiles`` pass it (``planner.app.cli.common.add_map_args``).
Besides the chosen tiles, the layer list offers the other tiles of the same system (OpenStreetMap and, with a
key, Tianditu) and "no tiles", which shows the offline base.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from planner.errors import InputError

DEFAULT_TILES = "OpenStreetMap"
TILES_ENV = "PLANNER_TILES"
TIANDITU_KEY_ENV = "PLANNER_TIANDITU_KEY"
AMAP_URL = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
            "&x={x}&y={y}&z={z}")
AMAP_ATTR = '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a> (GCJ-02)'
_TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
             "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
             "&tk={key}")
TIANDITU_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
OSM_NAME = "OpenStreetMap"
AMAP_NAME = "高德 Amap"
TIANDITU_NAME = "天地图 Tianditu"
_ALIASES = {"openstreetmap": "osm", "osm": "osm", "amap": "amap", "gaode": "amap", "高德": "amap",
            "autonavi": "amap", "tianditu": "tianditu", "天地图": "tianditu", "none": None, "offline": None, "": None}


@dataclass(frozen=True)
class Tiles:
    """One base tile layer: its name in the layer list, URL template, attribution, subdomains."""

    name: str
    url: str
    attr: str
    subdomains: str = "abc"
    labels_url: str = ""  # a second, transparent layer of place names drawn over it (Tianditu)


def tianditu_key(key: str | None = None) -> str | None:
    """The Tianditu key: ``key``, else ``PLANNER_TIANDITU_KEY``, else None. Letters and digits only."""
    k = key if key is not None else os.environ.get(TIANDITU_KEY_ENV, "")
    k = (k or "").strip()
    if not k:
        return None
    if not re.fullmatch(r"[A-Za-z0-9]{8,64}", k):
        raise InputError(f"the Tianditu key must be 8-64 letters and digits (from console.tianditu.gov.cn), "
                         f"not {k!r}")
    return k


def amap() -> Tiles:
    return Tiles(AMAP_NAME, AMAP_URL, AMAP_ATTR, subdomains="1234")


def tianditu(key: str) -> Tiles:
    def url(layer: str) -> str:  # vec: the roads and land; cva: the Chinese place names over it
        return _TIANDITU.replace("{layer}", layer).replace("{key}", key)

    return Tiles(TIANDITU_NAME, url("vec"), TIANDITU_ATTR, subdomains="01234567", labels_url=url("cva"))


def osm() -> Tiles:
    return Tiles(OSM_NAME, "OpenStreetMap", "")  # folium's own (URL and attribution)


CUSTOM_NAME = "custom tiles"
CUSTOM_ATTR = "custom tiles (URL given to the planner)"
CHOICES = "osm (OpenStreetMap), amap / 高德 (GCJ-02), tianditu / 天地图 (needs a key), none (offline), or a URL " \
          "template https://.../{z}/{x}/{y}.png"


def _is_url(text: str) -> bool:
    t = text.strip()
    return t.lower().startswith(("http://", "https://")) and all(f"{{{c}}}" in t for c in "xyz")


def _check_folium_name(name: str) -> None:
    """A tile name folium knows (e.g. ``CartoDB positron``), else an error listing the choices."""
    import folium

    try:
        folium.TileLayer(name)
    except ValueError:
        raise InputError(f"unknown map tiles {name!r}: use {CHOICES}") from None


def resolve(tiles: str | None) -> str | None:
    """The tiles argument with the default replaced by ``PLANNER_TILES`` when that is set."""
    if tiles == DEFAULT_TILES and os.environ.get(TILES_ENV):
        return os.environ[TILES_ENV]
    return tiles


def choose(tiles: str | None, *, key: str | None = None, crs: str | None = None) -> tuple[list[Tiles], str]:
    """(tile layers, display CRS): the first layer is shown, the others are offered in the layer list.

    ``crs`` overrides the display system (for a custom tile URL in GCJ-02)."""
    from planner.geo import coords

    tiles = resolve(tiles)
    kind = _ALIASES.get(str(tiles).strip().lower(), "other") if tiles is not None else None
    k = tianditu_key(key)
    if kind == "tianditu" and k is None:
        raise InputError(f"天地图 Tianditu tiles need a key: pass tianditu_key= or set {TIANDITU_KEY_ENV} "
                         "(free at console.tianditu.gov.cn)")
    if kind is None:
        layers: list[Tiles] = []
    elif kind == "amap":
        layers = [amap()]
    elif kind == "tianditu" and k is not None:
        layers = [tianditu(k), osm()]
    elif kind == "osm":
        layers = [osm(), *([tianditu(k)] if k else [])]
    elif _is_url(str(tiles)):
        layers = [Tiles(CUSTOM_NAME, str(tiles).strip(), CUSTOM_ATTR)]
    else:
        _check_folium_name(str(tiles))
        layers = [Tiles(str(tiles), str(tiles), "")]
    display = coords.check_crs(crs) if crs is not None else ("gcj02" if kind == "amap" else "wgs84")
    return layers, display
