"""Administrative boundaries from ``geodata/`` and spatial look-ups, for all of mainland China.

The committed extracts are WGS-84 (see ``geodata/README.md`` for source,
licence and how they are rebuilt). This module loads them lazily (once, then
cached) and answers "which county and prefecture is each account in" for many
points at once.

- ``admin_units()``: the admin-unit table (provinces, prefectures, counties
  of China) with Chinese name, pinyin, parent, area and seat point.
- ``load_units(level, area=None)``: polygons as a GeoDataFrame. ``level`` is
  ``"county"`` (every county-level planning unit of mainland China, ~2,850;
  Taiwan, Hong Kong, Macau and Kinmen are not planning areas) or
  ``"prefecture"`` (all prefecture-level units of China, with a
  ``planning_area`` flag). ``area`` filters by adcode prefix or Chinese/pinyin
  name of a province or prefecture.
- ``locate(lon, lat)``: county and prefecture adcodes and names for each point
  (vectorised: an STRtree of prepared polygons, not a loop).
- ``towns(area=None)``: GeoNames places inside the planning counties, the
  candidate base sites beside the county seats of ``admin_units``.
- ``metric_crs(lon, lat)``: a UTM CRS for the area at hand, for metric work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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
_FILES = {"county": "counties.parquet", "prefecture": "prefectures.geojson"}
_TOWNS_FILE = "towns.csv"


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
    """Every unit of ``level`` in the committed file, planning areas or not (cached; callers copy)."""
    import geopandas as gpd

    path = geodata_dir() / _FILES[level]
    gdf = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    for col in ("adcode", "prefecture_adcode", "province_adcode"):
        if col in gdf:
            gdf[col] = gdf[col].astype(str)
    if "planning_area" in gdf:
        gdf["planning_area"] = gdf["planning_area"].astype(bool)
    return gdf


@dataclass(frozen=True)
class _Index:
    """The polygons of a level, prepared, in an STRtree; the codes each one answers with."""

    polys: np.ndarray  # shapely geometries, prepared (indexed point-in-polygon)
    tree: Any  # shapely.STRtree over ``polys``
    codes: np.ndarray  # adcode of each polygon ("" where a point there is in no planning unit)
    parents: np.ndarray  # its prefecture adcode (the adcode itself at prefecture level)


@lru_cache(maxsize=2)
def _index(level: str) -> _Index:
    import shapely

    gdf = _load_level(level)
    polys = np.array(gdf.geometry.values, dtype=object)
    shapely.prepare(polys)
    codes = gdf["adcode"].to_numpy(dtype=object)
    parents = gdf["prefecture_adcode"].to_numpy(dtype=object) if level == "county" else codes.copy()
    if level == "county":  # Taiwan, Hong Kong, Macau, Kinmen: recognised, then answered with ""
        planning = gdf["planning_area"].to_numpy(dtype=bool)
        codes = np.where(planning, codes, "")
        parents = np.where(planning, parents, "")
    return _Index(polys=polys, tree=shapely.STRtree(polys), codes=codes, parents=parents)


def load_units(level: str = "county", area: str | None = None) -> gpd.GeoDataFrame:
    """Admin polygons (GeoDataFrame, EPSG:4326) at ``level``, optionally within ``area``.

    ``county``: the planning counties of mainland China (adcode, names,
    ``prefecture_adcode``, ``province_adcode``); ``prefecture``: every
    prefecture-level unit of China with its ``planning_area`` flag. ``area``
    may be an adcode or adcode prefix ("35", "350500"), or a Chinese or pinyin
    name of a province or prefecture ("福建省", "Quanzhou").
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    gdf = _load_level(level)
    if level == "county":
        gdf = gdf[gdf["planning_area"]].reset_index(drop=True)
    if area is None:
        return gdf.copy()
    prefix = _prefix(_area_code(area))
    parent_cols = [c for c in ("adcode", "prefecture_adcode", "province_adcode") if c in gdf]
    mask = np.zeros(len(gdf), dtype=bool)
    for c in parent_cols:
        mask |= gdf[c].str.startswith(prefix).to_numpy()
    out = gdf[mask]
    if out.empty:
        raise ValueError(f"no {level} units in area {area!r}")
    return out.copy()


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


def _first_per_point(pi: np.ndarray, gi: np.ndarray, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One (point, polygon) pair per point: the smallest ``keys`` (then the lowest polygon index)."""
    order = np.lexsort((gi, *reversed(keys), pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.array([], dtype=bool)
    return pi[first], gi[first]


def _point_in_polygons(index: _Index, lon: np.ndarray, lat: np.ndarray, *,
                       snap_deg: float = SNAP_DEG) -> np.ndarray:
    """Index of the polygon containing each point; a point in none within
    ``snap_deg`` of a polygon (a simplified shore) gets the nearest; -1 beyond that.

    Bounding-box candidates from the STRtree, then one vectorised
    point-in-polygon test against the prepared polygons (GEOS keeps an
    indexed locator per polygon). A point on a shared border is in both
    neighbours; it gets the first (lowest index).
    """
    import shapely

    out = np.full(len(lon), -1, dtype=np.int64)
    ok = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    if not len(ok):
        return out
    x, y = lon[ok], lat[ok]
    pi, gi = index.tree.query(shapely.points(x, y))
    hit = shapely.intersects_xy(index.polys[gi], x[pi], y[pi])
    pi, gi = _first_per_point(pi[hit], gi[hit])
    out[ok[pi]] = gi
    missing = ok[out[ok] < 0]
    if len(missing) and snap_deg > 0:
        out[missing] = _nearest_within(index, lon[missing], lat[missing], snap_deg)
    return out


def _nearest_within(index: _Index, x: np.ndarray, y: np.ndarray, snap_deg: float) -> np.ndarray:
    """Index of the nearest polygon within ``snap_deg`` of each point, -1 where none is.

    Candidates by bounding box, then the prepared ``dwithin`` test, and exact
    distances only for the few that pass (ties: the lowest index).
    """
    import shapely

    out = np.full(len(x), -1, dtype=np.int64)
    pi, gi = index.tree.query(shapely.box(x - snap_deg, y - snap_deg, x + snap_deg, y + snap_deg))
    pts = shapely.points(x[pi], y[pi])
    near = shapely.dwithin(index.polys[gi], pts, snap_deg)
    pi, gi = pi[near], gi[near]
    dist = shapely.distance(index.polys[gi], pts[near])
    pi, gi = _first_per_point(pi, gi, dist)
    out[pi] = gi
    return out


def locate(lon: ArrayLike, lat: ArrayLike, *, level: str = "county") -> pd.DataFrame:
    """Which unit each point is in.

    Returns a frame aligned to the input with ``county_adcode``,
    ``county_name``, ``prefecture_adcode``, ``prefecture_name`` (county level:
    the planning counties of mainland China), or only the prefecture columns
    for ``level="prefecture"`` (all of China). Points in no planning county
    (abroad, out at sea, Taiwan, Hong Kong, Macau, Kinmen) get empty strings.
    """
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    if lon.shape != lat.shape:
        raise ValueError("lon and lat must have the same length")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}: use one of {', '.join(LEVELS)}")
    names = _admin_units_cached().set_index("adcode")["name_zh"]

    def name_of(codes: np.ndarray) -> np.ndarray:
        return pd.Series(codes, dtype=object).map(names).fillna("").to_numpy()

    ix = _index(level)
    idx = _point_in_polygons(ix, lon, lat)
    found = idx >= 0
    pref = np.where(found, ix.parents[np.maximum(idx, 0)], "")
    if level == "prefecture":
        return pd.DataFrame({"prefecture_adcode": pref, "prefecture_name": name_of(pref)})
    codes = np.where(found, ix.codes[np.maximum(idx, 0)], "")
    return pd.DataFrame({
        "county_adcode": codes,
        "county_name": name_of(codes),
        "prefecture_adcode": pref,
        "prefecture_name": name_of(pref),
    })


@lru_cache(maxsize=1)
def _towns_cached() -> pd.DataFrame:
    return pd.read_csv(geodata_dir() / _TOWNS_FILE, dtype={"county_adcode": str, "prefecture_adcode": str})


def towns(area: str | None = None) -> pd.DataFrame:
    """Candidate towns for base sites: GeoNames places inside the planning counties (CC BY 4.0, GeoNames).

    Columns ``geonameid``, ``name`` (romanised), ``name_zh``, ``lon``,
    ``lat``, ``county_adcode``, ``prefecture_adcode``; ``area`` as for
    ``load_units``. The county seats are in ``admin_units("county")``.
    """
    df = _towns_cached()
    if area is not None:
        df = df[df["county_adcode"].str.startswith(_prefix(_area_code(area)))]
    return df.reset_index(drop=True).copy()


def metric_crs(lon: ArrayLike, lat: ArrayLike) -> str:
    """UTM zone (WGS-84) for the centre of the points: metres for clustering and buffers."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    c_lon, c_lat = float(np.nanmedian(lon)), float(np.nanmedian(lat))
    zone = int((c_lon + 180.0) // 6.0) + 1
    return f"EPSG:{32600 + zone if c_lat >= 0 else 32700 + zone}"
