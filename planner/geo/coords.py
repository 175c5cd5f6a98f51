"""Chinese coordinate systems: WGS-84 <-> GCJ-02 (Amap, Tencent) <-> BD-09 (Baidu).

Inside the planner every coordinate is WGS-84 ``(lon, lat)``. Files exported
from Amap or Tencent carry GCJ-02, files from Baidu carry BD-09; they are
converted here, at the edges, and only here.

- ``wgs84_to_gcj02`` is the published forward obfuscation (Krasovsky ellipsoid).
- ``gcj02_to_wgs84`` inverts it *exactly*: fixed-point iteration on the
  forward function until the residual is below ``1e-9`` degrees (~0.1 mm),
  not the common one-step approximation that is off by up to a few metres.
- ``gcj02_to_bd09`` is Baidu's forward formula; ``bd09_to_gcj02`` inverts it
  the same exact way.

Only mainland points are shifted. Taiwan, Hong Kong, Macau and Kinmen are not
obfuscated by the map providers, and neither are points abroad. The area where
the shift applies is a committed polygon (``geodata/china_regions.geojson``,
feature ``gcj_shifted``); pass ``mainland=`` to override the mask (tests, or a
caller that already knows).

All functions are vectorised over numpy arrays and return ``(lon, lat)``
arrays of float64.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from planner.errors import InputError

CRS = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_BD_DLON = 0.0065
_BD_DLAT = 0.0060
_X_PI = np.pi * 3000.0 / 180.0
_TOL_DEG = 1e-9
_MAX_ITER = 30


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise ValueError(f"lon and lat have different shapes: {lon.shape} vs {lat.shape}")
    return lon, lat


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offset (dlon, dlat) in degrees that GCJ-02 adds to a WGS-84 point."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    return dlon, dlat


@lru_cache(maxsize=1)
def _shift_area() -> Any:
    """Prepared polygon of the area where GCJ-02 applies (mainland China)."""
    import shapely

    from planner import geo

    geom = geo.china_region("gcj_shifted")
    shapely.prepare(geom)
    return geom


def in_mainland(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies where Chinese map providers shift coordinates.

    Mainland China including Hainan and near-shore waters; false for Taiwan,
    Hong Kong, Macau, Kinmen and anywhere abroad.
    """
    import shapely

    lon, lat = _as_arrays(lon, lat)
    out = np.zeros(lon.shape, dtype=bool)
    finite = np.isfinite(lon) & np.isfinite(lat)
    # Cheap envelope test first; the polygon test only for candidates.
    cand = finite & (lon > 73.0) & (lon < 135.5) & (lat > 3.0) & (lat < 54.0)
    if cand.any():
        out[cand] = shapely.contains_xy(_shift_area(), lon[cand], lat[cand])
    return out


def _mask(lon: np.ndarray, lat: np.ndarray, mainland: ArrayLike | None) -> np.ndarray:
    if mainland is None:
        return in_mainland(lon, lat)
    m = np.broadcast_to(np.asarray(mainland, dtype=bool), lon.shape)
    return m & np.isfinite(lon) & np.isfinite(lat)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike, *,
                   mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 -> GCJ-02. Points outside the mainland are returned unchanged."""
    lon, lat = _as_arrays(lon, lat)
    m = _mask(lon, lat, mainland)
    out_lon, out_lat = lon.copy(), lat.copy()
    if m.any():
        dlon, dlat = _gcj_delta(lon[m], lat[m])
        out_lon[m] = lon[m] + dlon
        out_lat[m] = lat[m] + dlat
    return out_lon, out_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *,
                   mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS-84, exact inverse by fixed-point iteration (< 1e-9 degrees)."""
    lon, lat = _as_arrays(lon, lat)
    m = _mask(lon, lat, mainland)
    out_lon, out_lat = lon.copy(), lat.copy()
    if m.any():
        g_lon, g_lat = lon[m], lat[m]
        w_lon, w_lat = g_lon.copy(), g_lat.copy()
        for _ in range(_MAX_ITER):
            dlon, dlat = _gcj_delta(w_lon, w_lat)
            r_lon = w_lon + dlon - g_lon
            r_lat = w_lat + dlat - g_lat
            w_lon -= r_lon
            w_lat -= r_lat
            if np.max(np.abs(r_lon), initial=0) < _TOL_DEG and np.max(np.abs(r_lat), initial=0) < _TOL_DEG:
                break
        out_lon[m], out_lat[m] = w_lon, w_lat
    return out_lon, out_lat


def _gcj_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike, *,
                  mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu's forward formula). Non-mainland points unchanged."""
    lon, lat = _as_arrays(lon, lat)
    m = _mask(lon, lat, mainland)
    out_lon, out_lat = lon.copy(), lat.copy()
    if m.any():
        out_lon[m], out_lat[m] = _gcj_to_bd_raw(lon[m], lat[m])
    return out_lon, out_lat


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *,
                  mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02, exact inverse of ``gcj02_to_bd09`` by fixed-point iteration."""
    lon, lat = _as_arrays(lon, lat)
    m = _mask(lon, lat, mainland)
    out_lon, out_lat = lon.copy(), lat.copy()
    if m.any():
        b_lon, b_lat = lon[m], lat[m]
        g_lon, g_lat = b_lon - _BD_DLON, b_lat - _BD_DLAT
        for _ in range(_MAX_ITER):
            f_lon, f_lat = _gcj_to_bd_raw(g_lon, g_lat)
            r_lon, r_lat = f_lon - b_lon, f_lat - b_lat
            g_lon -= r_lon
            g_lat -= r_lat
            if np.max(np.abs(r_lon), initial=0) < _TOL_DEG and np.max(np.abs(r_lat), initial=0) < _TOL_DEG:
                break
        out_lon[m], out_lat[m] = g_lon, g_lat
    return out_lon, out_lat


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str, *,
             mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Convert from the named source system to WGS-84.

    The mainland mask is taken at the source coordinates (the shift is < 1 km,
    which matters only for points within metres of a border such as
    Shenzhen/Hong Kong).
    """
    lon, lat = _as_arrays(lon, lat)
    crs = check_crs(crs)
    if crs == "wgs84":
        return lon.copy(), lat.copy()
    m = _mask(lon, lat, mainland)
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat, mainland=m)
    g_lon, g_lat = bd09_to_gcj02(lon, lat, mainland=m)
    return gcj02_to_wgs84(g_lon, g_lat, mainland=m)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str, *,
               mainland: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS-84 to the named system (for links that open in Amap or Baidu Maps)."""
    lon, lat = _as_arrays(lon, lat)
    crs = check_crs(crs)
    if crs == "wgs84":
        return lon.copy(), lat.copy()
    m = _mask(lon, lat, mainland)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat, mainland=m)
    if crs == "gcj02":
        return g_lon, g_lat
    return gcj02_to_bd09(g_lon, g_lat, mainland=m)


def check_crs(crs: str) -> str:
    """The canonical name of a coordinate system (``wgs84``, ``gcj02``, ``bd09``; aliases such as
    ``amap``, ``baidu``, ``EPSG:4326`` accepted); ``InputError`` for anything else."""
    key = str(crs).lower().replace("-", "").replace("_", "").replace(":", "")
    aliases = {"wgs84": "wgs84", "epsg4326": "wgs84", "gcj02": "gcj02", "amap": "gcj02",
               "tencent": "gcj02", "bd09": "bd09", "baidu": "bd09", "bd09ll": "bd09"}
    if key not in aliases:
        raise InputError(f"unknown coordinate system {crs!r}: use one of {', '.join(CRS_NAMES)}")
    return aliases[key]


def amap_link(lon: float, lat: float, name: str = "") -> str:
    """A URI that opens the WGS-84 point at the right spot in Amap (GCJ-02)."""
    from urllib.parse import quote

    g_lon, g_lat = from_wgs84([lon], [lat], "gcj02")
    return (f"https://uri.amap.com/marker?position={g_lon[0]:.6f},{g_lat[0]:.6f}"
            f"&name={quote(name)}&coordinate=gaode")


def baidu_link(lon: float, lat: float, name: str = "") -> str:
    """A URI that opens the WGS-84 point at the right spot in Baidu Maps (BD-09)."""
    from urllib.parse import quote

    b_lon, b_lat = from_wgs84([lon], [lat], "bd09")
    return (f"https://api.map.baidu.com/marker?location={b_lat[0]:.6f},{b_lon[0]:.6f}"
            f"&title={quote(name or 'stop')}&content={quote(name)}&output=html&coord_type=bd09ll")
