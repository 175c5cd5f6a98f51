"""Administrative boundaries from ``geodata/`` and spatial look-ups.

The committed extracts are WGS-84 (see ``geodata/README.md`` for source,
licence and how they are rebuilt). This module loads them and answers
"which county and prefecture is each account in" for many points at once.

- ``admin_units()``: the admin-unit table (provinces, prefectures, counties
  of China) with Chinese name, pinyin, parent, area and seat point.
- ``load_units(level, area=None)``: polygons as a GeoDataFrame. ``level`` is
  ``"county"`` (Fujian's planning counties; Kinmen is not a planning area) or
  ``"prefecture"`` (all prefecture-level units of China). ``area`` filters by
  adcode prefix or Chinese/pinyin name of a province or prefecture.
- ``locate(lon, lat)``: county and prefecture adcodes for each point
  (vectorised: an STRtree query, not a loop).
- ``metric_crs(lon, lat)``: a UTM CRS for the area at hand, for metric work.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import geopandas as gpd

GEODATA_ENV = "PLANNER_GEODATA"
LEVELS = ("county", "prefecture")
_FILES = {"county": "fujian_counties.geojson", "prefecture": "prefectures.geojson"}


def geodata_dir() -> Path:
    """Folder of the packaged geodata (``planner.geodata``; env ``PLANNER_GEODATA`` overrides)."""
    env = os.environ.get(GEODATA_ENV)
    if env:
        path = Path(env)
    else:
        path = Path(str(resources.files("planner.geodata")))
    if not (path / "admin_units.csv").exists():
        raise FileNotFoundError(
            f"geodata not found at {path}: reinstall the planner (the wheel carries planner/geodata) or set "
            f"{GEODATA_ENV} to a folder holding the extracts")
    return path


@lru_cache(maxsize=1)
def _admin_units_cached() -> pd.DataFrame:
    df = pd.read_csv(geodata_dir() / "admin_units.csv",
                     dtype={"adcode": str, "parent_adcode": str, "province_adcode": str})
    return df


def admin_units(level: str | None = None) -> pd.DataFrame:
    """The admin-unit table; optionally only ``province``, ``prefecture`` or ``county`` rows."""
    df = _admin_units_cached()
    if level is not None:
        if level not in ("province", "prefecture", "county"):
            raise ValueError(f"unknown level {level!r}: use province, prefecture or county")
        df = df[df["level"] == level]
    return df.copy()


@lru_cache(maxsize=4)
def _load_level(level: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    gdf = gpd.read_file(geodata_dir() / _FILES[level])
    for col in ("adcode", "prefecture_adcode", "province_adcode"):
        if col in gdf:
            gdf[col] = gdf[col].astype(str)
    if level == "county":
        gdf["province_adcode"] = gdf["adcode"].str[:2] + "0000"
    return gdf


def load_units(level: str = "county", area: str | None = None) -> gpd.GeoDataFrame:
    """Admin polygons (GeoDataFrame, EPSG:4326) at ``level``, optionally within ``area``.

    ``area`` may be an adcode or adcode prefix ("35", "350500"), or a Chinese
    or pinyin name of a province or prefecture ("福建省", "Quanzhou").
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    gdf = _load_level(level).copy()
    if area is None:
        return gdf
    prefix = _prefix(_area_code(area))
    parent_cols = [c for c in ("adcode", "prefecture_adcode", "province_adcode") if c in gdf]
    mask = np.zeros(len(gdf), dtype=bool)
    for c in parent_cols:
        mask |= gdf[c].str.startswith(prefix).to_numpy()
    out = gdf[mask]
    if out.empty:
        raise ValueError(f"no {level} units in area {area!r}")
    return out


def _prefix(code: str) -> str:
    """Adcode prefix shared by a unit and everything under it: 350000 -> 35, 350500 -> 3505."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _area_code(area: str) -> str:
    a = str(area).strip()
    if a.isdigit():
        return a.ljust(6, "0") if len(a) < 6 else a
    units = admin_units()
    rank = {"province": 0, "prefecture": 1, "county": 2}
    for col in ("name_zh", "name_pinyin"):
        hit = units[units[col].str.lower() == a.lower()]
        if len(hit) == 0 and col == "name_zh":
            hit = units[units[col].str.startswith(a)]
        if len(hit):
            top = hit["level"].map(rank).min()
            hit = hit[hit["level"].map(rank) == top]
            if len(hit) > 1:
                listed = ", ".join(f"{r.name_zh} ({r.adcode})" for r in hit.itertuples())
                raise ValueError(f"area {area!r} is ambiguous: {listed}; give the adcode or the Chinese name")
            return str(hit.iloc[0]["adcode"])
    raise ValueError(f"unknown area {area!r}: give an adcode or a province/prefecture name")


@lru_cache(maxsize=2)
def _regions() -> dict[str, Any]:
    import json

    import shapely

    fc = json.loads((geodata_dir() / "china_regions.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["name"]: shapely.from_geojson(json.dumps(f["geometry"]))
            for f in fc["features"]}


def china_region(name: str) -> Any:
    """A committed region polygon: ``china`` (outline incl. Taiwan, HK, Macau)
    or ``gcj_shifted`` (where GCJ-02/BD-09 shifts apply)."""
    regions = _regions()
    if name not in regions:
        raise ValueError(f"unknown region {name!r}: use one of {', '.join(regions)}")
    return regions[name]


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a point lies within China's outline (+~15 km of coast)."""
    import shapely

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out = np.zeros(lon.shape, dtype=bool)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if ok.any():
        geom = china_region("china")
        shapely.prepare(geom)
        out[ok] = shapely.contains_xy(geom, lon[ok], lat[ok])
    return out


SNAP_DEG = 0.02  # ~2 km: simplified coastlines may leave a shore point just outside its unit


def _point_in_polygons(polys: Any, lon: np.ndarray, lat: np.ndarray, *, snap_deg: float = SNAP_DEG) -> np.ndarray:
    """Index of the polygon containing each point (STRtree); a point in none within
    ``snap_deg`` of a polygon (a simplified shore) gets the nearest; -1 beyond that."""
    import shapely

    pts = shapely.points(lon, lat)
    tree = shapely.STRtree(np.asarray(polys))
    pi, gi = tree.query(pts, predicate="intersects")
    out = np.full(len(lon), -1, dtype=np.int64)
    # A point on a shared border matches two polygons; keep the first (lowest index).
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
    out[pi[first]] = gi[first]
    missing = np.flatnonzero((out < 0) & np.isfinite(lon) & np.isfinite(lat))
    if len(missing) and snap_deg > 0:
        mi, mg = tree.query_nearest(pts[missing], max_distance=snap_deg, all_matches=False)
        out[missing[mi]] = mg
    return out


def locate(lon: ArrayLike, lat: ArrayLike, *, level: str = "county") -> pd.DataFrame:
    """Which unit each point is in.

    Returns a frame aligned to the input with ``county_adcode``,
    ``county_name``, ``prefecture_adcode``, ``prefecture_name`` (county level:
    Fujian's planning counties), or only the prefecture columns for
    ``level="prefecture"`` (all of China). Points in no unit get empty strings.
    """
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    if lon.shape != lat.shape:
        raise ValueError("lon and lat must have the same length")
    names = _admin_units_cached().set_index("adcode")["name_zh"]

    def name_of(codes: np.ndarray) -> np.ndarray:
        return pd.Series(codes).map(names).fillna("").to_numpy()

    if level == "county":
        gdf = _load_level("county")
        idx = _point_in_polygons(gdf.geometry.values, lon, lat)
        codes = np.where(idx >= 0, gdf["adcode"].to_numpy()[np.maximum(idx, 0)], "")
        pref = np.where(idx >= 0, gdf["prefecture_adcode"].to_numpy()[np.maximum(idx, 0)], "")
        return pd.DataFrame({
            "county_adcode": codes,
            "county_name": name_of(codes),
            "prefecture_adcode": pref,
            "prefecture_name": name_of(pref),
        })
    if level == "prefecture":
        gdf = _load_level("prefecture")
        idx = _point_in_polygons(gdf.geometry.values, lon, lat)
        pref = np.where(idx >= 0, gdf["adcode"].to_numpy()[np.maximum(idx, 0)], "")
        return pd.DataFrame({
            "prefecture_adcode": pref,
            "prefecture_name": name_of(pref),
        })
    raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")


def towns(area: str | None = None) -> pd.DataFrame:
    """GeoNames town points inside Fujian's planning counties (CC BY 4.0, GeoNames)."""
    df = pd.read_csv(geodata_dir() / "fujian_towns.csv",
                     dtype={"county_adcode": str, "prefecture_adcode": str})
    if area is not None:
        df = df[df["county_adcode"].str.startswith(_prefix(_area_code(area)))]
    return df.reset_index(drop=True)


def metric_crs(lon: ArrayLike, lat: ArrayLike) -> str:
    """UTM zone (WGS-84) for the centre of the points: metres for clustering and buffers."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    c_lon, c_lat = float(np.nanmedian(lon)), float(np.nanmedian(lat))
    zone = int((c_lon + 180.0) // 6.0) + 1
    return f"EPSG:{32600 + zone if c_lat >= 0 else 32700 + zone}"
