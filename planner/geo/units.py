"""Basic units for territory design and their adjacency graph, respecting the real geography.

A territory is a set of basic units; "contiguous" means connected in the
units' adjacency graph. :func:`build_units` makes the units and the graph,
:func:`territory_polygons` dissolves units into territory shapes and
:func:`read_barriers` reads user barrier lines (rivers, ridges).

Design, and why
---------------
- **Units are Voronoi cells of the accounts, clipped to the land.** H3 cells
  have one fixed size: a size that fits a city holds hundreds of accounts per
  cell there and leaves thousands of empty cells in the countryside; the
  geodata has towns only as points, so there are no town polygons to use.
  Voronoi cells adapt to density by construction: small in cities, large in
  the countryside. The land is the union of the county polygons around the
  accounts (``geodata/counties.parquet``, bounding box + 20 km), buffered by
  0.5 km because the committed coastlines are simplified; the sea cuts cells.
  A ``land=`` given by the caller is used as is. Without county polygons
  (points outside China, synthetic data) the land is the convex hull of the
  accounts + 5 km, and a note says so.
- **Co-located accounts share one unit**: points within 10 m of each other
  (chained: a pair-wise radius search, then connected pieces) are one site.
- **Above ``max_units`` distinct points the points are grouped first** on a
  square grid in the local projection whose cell size is found by bisection
  so that the number of groups is at most (and about) ``max_units``. A group
  is a (grid cell, ``group`` value, province) combination, so a group never
  mixes two ``group`` values (e.g. two current owners) nor two provinces;
  the only exception is co-located accounts with different values, which must
  share a site: the site takes the most common value. When the ``group``
  values alone need more than ``max_units`` units, ``max_units`` is exceeded
  and a note says so. The Voronoi is built on the groups' account-weighted
  mean points.
- **The graph.** Cells that share a land border longer than 10 m are
  adjacent ("land" edges; the shared border is measured on the clipped cells,
  so cells that touch only at sea are not adjacent). A clipped cell is kept
  as the one piece that holds its point; a piece cut off by water goes to the
  neighbouring cell it shares the longest border with (or is left out when it
  touches none). Edges whose straight segment crosses a barrier line, or whose
  units lie in two provinces, are cut. The pieces left are joined by a
  minimum spanning tree over the Delaunay edges between pieces (Kruskal,
  preferring links that cross no barrier, then no province border, then the
  shortest; the closest pair of units between two pieces is always a
  Delaunay edge, so the shortest link is among them): "link" edges, assumed bridges or ferries, or "road" edges when a
  travel backend with road data finds a finite travel time. Every join is
  described in ``notes``.

Coordinates: WGS-84 (lon, lat) in and out; the geometry work is done in km in
a Lambert azimuthal equal-area projection centred on the accounts (``proj``),
so areas are exact and distances close to true over a province.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from planner.errors import FileReadError, InputError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["EDGE_KINDS", "UnitGraph", "build_units", "read_barriers", "territory_polygons"]

EDGE_KINDS = ("land", "link", "road")
COLOCATED_KM = 0.010  # accounts this close share one site
MIN_BORDER_KM = 0.010  # a shared land border shorter than this is a touch, not an adjacency
TOUCH_KM = 0.001  # tolerance when measuring shared borders (floating noise of the clipping)
LAND_BUFFER_KM = 0.5  # county-derived land is widened by this much (simplified coastlines)
LAND_SEARCH_KM = 20.0  # counties within the accounts' bounding box + this are the land
HULL_BUFFER_KM = 5.0  # fallback land: convex hull of the accounts + this
SNAP_KM = 2.0  # an account this close to the land is joined to it (a disc bridges the gap)
OFFSHORE_KM = 0.5  # radius of the own little land of an account farther out at sea
GRID_KM = 1e-5  # snap-rounding grid when dissolving cells (1 cm)
DENSIFY_DEG = 0.01  # caller's land and barriers: a vertex at least every ~1 km before projecting


@dataclass(frozen=True, eq=False)
class UnitGraph:
    """Basic units (land-clipped Voronoi cells) and their adjacency.

    ``unit_of`` maps accounts to units; per unit: ``lonlat`` (mean of its
    accounts), ``xy`` (km, east/north, in ``proj``), ``polygons`` (EPSG:4326),
    ``province`` (adcode or ""), ``weight`` (number of accounts), ``area_km2``
    and ``cells_km`` (the polygons in ``proj``). ``edges`` (i < j, unique) with
    ``edge_kind`` "land", "link" or "road"; ``notes`` in plain English.
    """

    unit_of: np.ndarray
    lonlat: np.ndarray
    xy: np.ndarray
    edges: np.ndarray
    edge_kind: np.ndarray
    polygons: gpd.GeoSeries
    province: np.ndarray
    notes: tuple[str, ...]
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    area_km2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cells_km: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    proj: str = ""

    @property
    def n_units(self) -> int:
        return int(len(self.lonlat))

    @cached_property
    def _csr(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_units
        if len(self.edges) == 0:
            return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        src = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        dst = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
        order = np.lexsort((dst, src))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        return indptr, dst[order].astype(np.int64)

    def to_km(self, lonlat: np.ndarray) -> np.ndarray:
        """WGS-84 points ((n, 2) lon, lat) in the units' km projection, like ``xy``."""
        return _Projection(self.proj).forward(np.asarray(lonlat, dtype=np.float64).reshape(-1, 2))

    def csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Adjacency as (indptr, indices): the neighbours of unit u are ``indices[indptr[u]:indptr[u + 1]]``."""
        return self._csr

    def components(self, members: np.ndarray) -> int:
        """Number of connected pieces among ``members`` (unit indices or a boolean mask), edges restricted to them."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        m = np.asarray(members)
        idx = np.flatnonzero(m) if m.dtype == bool else np.unique(m.astype(np.int64))
        if len(idx) == 0:
            return 0
        local = np.full(self.n_units, -1, dtype=np.int64)
        local[idx] = np.arange(len(idx))
        if len(self.edges):
            a, b = local[self.edges[:, 0]], local[self.edges[:, 1]]
            keep = (a >= 0) & (b >= 0)
            a, b = a[keep], b[keep]
        else:
            a = b = np.zeros(0, dtype=np.int64)
        g = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(idx), len(idx)))
        return int(connected_components(g, directed=False)[0])


# --------------------------------------------------------------------------- #
# Projection
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Projection:
    """Lambert azimuthal equal-area in km around a centre; forward/back for arrays and geometries."""

    proj: str

    @classmethod
    def around(cls, lonlat: np.ndarray) -> _Projection:
        lon0 = 0.5 * (float(lonlat[:, 0].min()) + float(lonlat[:, 0].max()))
        lat0 = 0.5 * (float(lonlat[:, 1].min()) + float(lonlat[:, 1].max()))
        return cls(f"+proj=laea +lat_0={lat0:.6f} +lon_0={lon0:.6f} +datum=WGS84 +units=km +no_defs")

    @cached_property
    def _fwd(self) -> Any:
        import pyproj

        return pyproj.Transformer.from_crs("EPSG:4326", self.proj, always_xy=True)

    @cached_property
    def _inv(self) -> Any:
        import pyproj

        return pyproj.Transformer.from_crs(self.proj, "EPSG:4326", always_xy=True)

    def forward(self, lonlat: np.ndarray) -> np.ndarray:
        x, y = self._fwd.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y]).astype(np.float64)

    def inverse(self, xy: np.ndarray) -> np.ndarray:
        x, y = self._inv.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y]).astype(np.float64)

    def geom_forward(self, geom: Any, *, densify_deg: float | None = None) -> Any:
        """Project; ``densify_deg`` first adds vertices so long straight lon/lat edges stay where they were."""
        import shapely

        if densify_deg is not None:
            geom = shapely.segmentize(geom, densify_deg)
        return shapely.transform(geom, self.forward)

    def geom_inverse(self, geom: Any) -> Any:
        import shapely

        return shapely.transform(geom, self.inverse)


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #


def _check_inputs(lonlat: np.ndarray, max_units: int, group: np.ndarray | None,
                  link_within_km: float | None) -> np.ndarray:
    problems: list[str] = []
    pts = np.asarray(lonlat, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise InputError(f"lonlat must be an (n, 2) array of (lon, lat) with n >= 1, got shape {pts.shape}",
                         what="units")
    bad = np.flatnonzero(~np.isfinite(pts).all(axis=1) | (np.abs(pts[:, 0]) > 180) | (np.abs(pts[:, 1]) > 90))
    problems += [f"account {int(i)}: not a valid (lon, lat): {tuple(pts[i])}" for i in bad]
    if isinstance(max_units, bool) or not isinstance(max_units, (int, np.integer)) or max_units < 1:
        problems.append(f"max_units must be a whole number >= 1, got {max_units!r}")
    if group is not None and len(np.asarray(group, dtype=object)) != len(pts):
        problems.append(f"group must have one value per account ({len(pts)}), got {len(np.asarray(group))}")
    if link_within_km is not None and not (np.isfinite(link_within_km) and link_within_km >= 0):
        problems.append(f"link_within_km must be a distance >= 0 in km or None, got {link_within_km!r}")
    if problems:
        raise InputError(problems, what="units")
    return pts


def _geometry_of(obj: Any, name: str) -> Any:
    """A shapely geometry (EPSG:4326) from a geometry, GeoSeries or GeoDataFrame."""
    import shapely

    if obj is None:
        return None
    if hasattr(obj, "geometry") and hasattr(obj, "crs"):  # GeoSeries / GeoDataFrame
        series = obj.geometry
        if series.crs is not None and not series.crs.equals("EPSG:4326"):
            series = series.to_crs("EPSG:4326")
        return shapely.union_all(np.asarray(series.values, dtype=object))
    if isinstance(obj, shapely.Geometry):
        return obj
    raise InputError(f"{name} must be a shapely geometry or a GeoSeries in EPSG:4326, got {type(obj).__name__}",
                     what="units")


# --------------------------------------------------------------------------- #
# Sites: co-location and grouping
# --------------------------------------------------------------------------- #


def _first_appearance(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..k-1 in order of first appearance (deterministic, account 0 in unit 0)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


def _colocate(xy: np.ndarray) -> np.ndarray:
    """Site index of each account: accounts within COLOCATED_KM (chained) share a site."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    n = len(xy)
    pairs = cKDTree(xy).query_pairs(COLOCATED_KM, output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return _first_appearance(connected_components(g, directed=False)[1])


def _unique_rows(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Code of each row of an int matrix (equal rows, equal codes) and the number of distinct rows."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), 0
    order = np.lexsort(keys.T[::-1])
    k = keys[order]
    new = np.r_[True, (k[1:] != k[:-1]).any(axis=1)]
    codes = np.empty(len(keys), dtype=np.int64)
    codes[order] = np.cumsum(new) - 1
    return codes, int(new.sum())


def _majority(site_of: np.ndarray, codes: np.ndarray, n_sites: int) -> np.ndarray:
    """The most common code per site (ties: the smallest code)."""
    pair, n_pairs = _unique_rows(np.column_stack([site_of, codes]))
    cnt = np.bincount(pair, minlength=n_pairs)
    site_p = np.zeros(n_pairs, dtype=np.int64)
    code_p = np.zeros(n_pairs, dtype=np.int64)
    site_p[pair], code_p[pair] = site_of, codes
    order = np.lexsort((code_p, -cnt, site_p))
    first = np.r_[True, site_p[order][1:] != site_p[order][:-1]]
    out = np.zeros(n_sites, dtype=np.int64)
    out[site_p[order][first]] = code_p[order][first]
    return out


def _grid_groups(xy: np.ndarray, extra: np.ndarray, max_units: int) -> tuple[np.ndarray, float, int]:
    """Group sites on a square grid (cell size by bisection) keyed also by ``extra`` columns.

    Returns the group code of each site, the cell size in km and the number of groups.
    """
    origin = xy.min(axis=0)

    def codes_at(size: float) -> tuple[np.ndarray, int]:
        cells = np.floor((xy - origin) / size).astype(np.int64)
        return _unique_rows(np.column_stack([cells, extra]))

    span = float(np.ptp(xy, axis=0).max()) + 1.0
    hi = span * 1.01
    codes, count = codes_at(hi)
    if count > max_units:
        return codes, hi, count
    lo = COLOCATED_KM / 10
    for _ in range(40):
        if hi / lo < 1.001:
            break
        mid = float(np.sqrt(lo * hi))
        if codes_at(mid)[1] <= max_units:
            hi = mid
        else:
            lo = mid
    codes, count = codes_at(hi)
    return codes, hi, count


def _provinces(lonlat: np.ndarray) -> np.ndarray:
    """Province adcode (2 digits + "0000") of each point from the county layer; "" outside."""
    try:
        from planner.geo.admin import locate

        county = locate(lonlat[:, 0], lonlat[:, 1], level="county")["county_adcode"].to_numpy(dtype=object)
    except (FileNotFoundError, OSError):  # no geodata: no province cuts
        return np.full(len(lonlat), "", dtype=object)
    return np.array([f"{c[:2]}0000" if c else "" for c in county], dtype=object)


def _province_names() -> dict[str, str]:
    try:
        from planner.geo.admin import admin_units

        prov = admin_units("province")
    except (FileNotFoundError, OSError):
        return {}
    return dict(zip(prov["adcode"].astype(str), prov["name_pinyin"].astype(str)))


# --------------------------------------------------------------------------- #
# Land
# --------------------------------------------------------------------------- #


def _county_land(lonlat: np.ndarray) -> Any:
    """Union of the county polygons around the accounts (EPSG:4326), or None when there are none."""
    import shapely

    try:
        from planner.geo.admin import load_units

        counties = load_units("county")
    except (FileNotFoundError, OSError, ValueError):
        return None
    lat_c = float(np.clip(np.mean(lonlat[:, 1]), -80, 80))
    dlat = LAND_SEARCH_KM / 111.0
    dlon = dlat / np.cos(np.radians(lat_c))
    box = shapely.box(lonlat[:, 0].min() - dlon, lonlat[:, 1].min() - dlat,
                      lonlat[:, 0].max() + dlon, lonlat[:, 1].max() + dlat)
    geoms = np.asarray(counties.geometry.values, dtype=object)
    geoms = geoms[shapely.intersects(geoms, box)]
    if len(geoms) == 0:
        return None
    land = shapely.coverage_union_all(geoms)  # the counties are a clean coverage: fast
    if not shapely.is_valid(land):
        land = shapely.union_all(geoms)
    return land


def _land_km(lonlat: np.ndarray, xy: np.ndarray, land: Any, proj: _Projection,
             notes: list[str]) -> Any:
    import shapely

    if land is not None:
        land_km = shapely.make_valid(proj.geom_forward(land, densify_deg=DENSIFY_DEG))
        if shapely.is_empty(land_km) or shapely.area(land_km) <= 0:
            raise InputError("land must be a polygon or multipolygon with an area", what="units")
        return land_km
    county = _county_land(lonlat)
    if county is not None:
        land_km = shapely.buffer(proj.geom_forward(county), LAND_BUFFER_KM, quad_segs=4)
        shapely.prepare(land_km)
        inside = shapely.dwithin(land_km, shapely.points(xy), SNAP_KM)
        if inside.any():
            return land_km
    notes.append(f"no county polygons around the accounts (outside China?): the land is the convex hull "
                 f"of the accounts plus {HULL_BUFFER_KM:g} km")
    return shapely.buffer(shapely.convex_hull(shapely.multipoints(xy)), HULL_BUFFER_KM, quad_segs=8)


def _land_parts(land_km: Any, xy: np.ndarray, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Land pieces (polygons, km) and the piece of each unit point; points off the land get a disc."""
    import shapely

    pts = shapely.points(xy)
    shapely.prepare(land_km)
    off = np.flatnonzero(~shapely.intersects(land_km, pts))
    if len(off):
        dist = shapely.distance(land_km, pts[off])
        near = dist <= SNAP_KM
        radius = np.where(near, dist + 0.2, OFFSHORE_KM)
        discs = shapely.buffer(pts[off], radius, quad_segs=8)
        land_km = shapely.union_all(np.concatenate([[land_km], discs]))
        if near.any():
            notes.append(f"{int(near.sum())} unit(s) within {SNAP_KM:g} km off the land: joined to the shore")
        if (~near).any():
            notes.append(f"{int((~near).sum())} unit(s) more than {SNAP_KM:g} km off the land (at sea?): "
                         f"each given a {OFFSHORE_KM:g} km disc of land")
    parts = np.asarray(shapely.get_parts(land_km), dtype=object)
    shapely.prepare(parts)
    tree = shapely.STRtree(parts)
    pi, gi = tree.query(pts)  # bounding boxes, then the prepared pieces (the tree would prepare the points)
    hit = shapely.intersects_xy(parts[gi], xy[pi, 0], xy[pi, 1])
    pi, gi = pi[hit], gi[hit]
    order = np.lexsort((gi, pi))
    pi, gi = pi[order], gi[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    comp = np.full(len(xy), -1, dtype=np.int64)
    comp[pi[first]] = gi[first]
    if (comp < 0).any():  # numerically on no piece: the nearest one
        miss = np.flatnonzero(comp < 0)
        comp[miss] = tree.query_nearest(pts[miss], all_matches=False)[1]
    return parts, comp


# --------------------------------------------------------------------------- #
# Cells
# --------------------------------------------------------------------------- #


def _shared_length(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Length (km) of the border polygons ``a`` share with polygons ``b`` (pair-wise, noise-tolerant)."""
    import shapely

    if len(a) == 0:
        return np.zeros(0)
    near_b = shapely.buffer(b, TOUCH_KM, quad_segs=2)
    return np.asarray(shapely.length(shapely.intersection(shapely.boundary(a), near_b)), dtype=float)


def _cells(xy: np.ndarray, parts: np.ndarray, comp: np.ndarray,
           notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Land-clipped Voronoi cell of each unit (km): the piece holding its point, plus cut-off pieces given to it.

    Also returns which cells are the plain Voronoi cell (wholly on land, nothing
    added), and the pairs (i, j) that received a cut-off piece of land.
    """
    import shapely

    n = len(xy)
    pts = shapely.points(xy)
    bounds = shapely.bounds(parts)
    lo = np.minimum(xy.min(axis=0), bounds[:, :2].min(axis=0))
    hi = np.maximum(xy.max(axis=0), bounds[:, 2:].max(axis=0))
    extent = shapely.box(*(lo - 10.0), *(hi + 10.0))
    if n == 1:
        raw = np.array([extent], dtype=object)
    else:
        raw = np.asarray(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=extent,
                                                                    ordered=True)), dtype=object)
        if len(raw) != n:
            raise RuntimeError(f"Voronoi gave {len(raw)} cells for {n} distinct points")
    land = parts[comp]
    shapely.prepare(parts)
    plain = np.asarray(shapely.contains_properly(land, raw), dtype=bool)
    clipped = raw.copy()
    edge = np.flatnonzero(~plain)
    if len(edge):
        clipped[edge] = shapely.intersection(raw[edge], land[edge])
    # keep the piece holding the point; the rest are strays
    cells = clipped.copy()
    multi = np.flatnonzero(shapely.get_num_geometries(clipped) > 1)
    strays: list[tuple[int, Any]] = []
    for i in multi:
        pieces = shapely.get_parts(clipped[i])
        polys = pieces[shapely.get_type_id(pieces) == 3]
        if len(polys) == 0:  # only lines or points left: handled as empty below
            continue
        hold = shapely.intersects(polys, pts[i])
        k = int(np.argmax(hold)) if hold.any() else int(np.argmin(shapely.distance(polys, pts[i])))
        cells[i] = polys[k]
        strays += [(int(i), p) for j, p in enumerate(polys) if j != k and shapely.area(p) > 0]
    empty = np.flatnonzero(shapely.is_empty(cells) | (shapely.area(cells) <= 0))
    if len(empty):  # should not happen: a small disc so the unit still exists
        cells[empty] = shapely.intersection(shapely.buffer(pts[empty], 0.05), raw[empty])
    grown = _give_strays(cells, strays, xy, notes) if strays else np.zeros(0, dtype=np.int64)
    plain[grown] = False
    extra = np.zeros((0, 2), dtype=np.int64)
    if len(grown):  # a grown cell may now touch cells that are not its Voronoi neighbours
        tree = shapely.STRtree(cells)
        gi, ci = tree.query(cells[grown])
        extra = np.sort(np.column_stack([grown[gi], ci]), axis=1)
        extra = extra[extra[:, 0] != extra[:, 1]]
    return cells, plain, extra


def _give_strays(cells: np.ndarray, strays: list[tuple[int, Any]], xy: np.ndarray,
                 notes: list[str]) -> np.ndarray:
    """Each piece cut off from its unit's point goes to the neighbour it shares the longest border with.

    Updates ``cells`` in place; returns the indices of the cells that grew.
    """
    import shapely

    tree = shapely.STRtree(cells)
    pieces = np.array([p for _, p in strays], dtype=object)
    owner = np.array([i for i, _ in strays], dtype=np.int64)
    si, ci = tree.query(pieces, predicate="dwithin", distance=TOUCH_KM)
    keep = ci != owner[si]
    si, ci = si[keep], ci[keep]
    shared = _shared_length(pieces[si], cells[ci])
    rep = shapely.point_on_surface(pieces)
    dist = shapely.distance(rep[si], shapely.points(xy[ci]))
    ok = shared > MIN_BORDER_KM
    si, ci, shared, dist = si[ok], ci[ok], shared[ok], dist[ok]
    order = np.lexsort((ci, dist, -shared, si))
    si, ci = si[order], ci[order]
    first = np.r_[True, si[1:] != si[:-1]] if len(si) else np.zeros(0, dtype=bool)
    given: dict[int, list[Any]] = {}
    for s, c in zip(si[first], ci[first]):
        given.setdefault(int(c), []).append(pieces[s])
    for c, ps in given.items():
        merged = shapely.union_all([cells[c], *ps], grid_size=GRID_KM)
        if shapely.get_type_id(merged) == 6:  # only touching at a point after all: keep the main piece
            parts = shapely.get_parts(merged)
            merged = parts[int(np.argmax(shapely.area(parts)))]
        cells[c] = merged
    dropped = len(strays) - int(first.sum())
    if dropped:
        notes.append(f"{dropped} piece(s) of land cut off by water from their unit and touching no other unit "
                     f"left out of the units")
    return np.array(sorted(given), dtype=np.int64)


# --------------------------------------------------------------------------- #
# Edges
# --------------------------------------------------------------------------- #


def _land_edges(cells: np.ndarray, plain: np.ndarray, ridges: np.ndarray, ridge_km: np.ndarray,
                extra: np.ndarray) -> np.ndarray:
    """Pairs of cells sharing a land border longer than MIN_BORDER_KM.

    Candidates are the Voronoi neighbours (``ridges``, with the length of their
    common Voronoi edge) and the ``extra`` pairs; between two plain Voronoi
    cells the shared border is that edge, exactly; otherwise it is measured on
    the clipped cells with a tolerance of TOUCH_KM (clipping leaves float noise).
    """
    pairs = np.concatenate([ridges, extra]) if len(extra) else ridges
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    pairs, first = np.unique(pairs, axis=0, return_index=True)
    known = np.concatenate([ridge_km, np.full(len(extra), np.nan)])[first]
    exact = plain[pairs[:, 0]] & plain[pairs[:, 1]] & np.isfinite(known)
    shared = np.where(exact, known, 0.0)
    rest = np.flatnonzero(~exact)
    if len(rest):
        shared[rest] = _shared_length(cells[pairs[rest, 0]], cells[pairs[rest, 1]])
    return pairs[shared > MIN_BORDER_KM].astype(np.int64)


def _crossing(xy: np.ndarray, edges: np.ndarray, barrier_km: Any) -> np.ndarray:
    import shapely

    if barrier_km is None or len(edges) == 0:
        return np.zeros(len(edges), dtype=bool)
    segs = shapely.linestrings(np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1))
    return np.asarray(shapely.intersects(barrier_km, segs), dtype=bool)


def _neighbours(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voronoi neighbours (i < j, sorted) and the length of their common Voronoi edge (inf when unbounded).

    All pairs for a handful of points, a chain when the points are collinear (Qhull refuses those).
    """
    from scipy.spatial import QhullError, Voronoi

    n = len(xy)
    if n >= 3:
        try:
            vor = Voronoi(xy)
        except QhullError:
            vor = None
        if vor is not None:
            rp = np.sort(np.asarray(vor.ridge_points, dtype=np.int64), axis=1)
            rv = np.asarray(vor.ridge_vertices, dtype=np.int64)
            verts = np.asarray(vor.vertices, dtype=float)
            finite = (rv >= 0).all(axis=1)
            length = np.full(len(rp), np.inf)
            v = verts[rv[finite]]
            length[finite] = np.hypot(*(v[:, 0] - v[:, 1]).T)
            order = np.lexsort((rp[:, 1], rp[:, 0]))
            return rp[order], length[order]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    if n <= 50:
        i, j = np.triu_indices(n, 1)
        pairs = np.column_stack([i, j]).astype(np.int64)
    else:
        order = np.lexsort((xy[:, 1], xy[:, 0]))
        pairs = np.sort(np.column_stack([order[:-1], order[1:]]), axis=1).astype(np.int64)
    return pairs, np.full(len(pairs), np.nan)


def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = int(parent[root])
    while parent[i] != root:
        parent[i], i = root, int(parent[i])
    return root


def _pieces(n: int, edges: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return np.asarray(connected_components(g, directed=False)[1], dtype=np.int64)


def _road_times(travel: Any, a: np.ndarray, b: np.ndarray, notes: list[str]) -> np.ndarray:
    """Road time (s) from a[k] to b[k] by the backend; inf where unknown or when it has no road data."""
    inf = np.full(len(a), np.inf)
    if travel is None or len(a) == 0:
        return inf
    try:
        m = travel.matrix(a, b)
    except (RuntimeError, OSError, ValueError) as exc:
        notes.append(f"road check of the links failed ({exc}): links kept as assumed bridges or ferries")
        return inf
    backend = str(getattr(m, "backend", ""))
    if backend == "great_circle":
        notes.append("the travel backend has no road data (great-circle model): links not confirmed by road")
        return inf
    t = np.asarray(getattr(m, "time_s", m), dtype=float)
    return np.diagonal(t).astype(float) if t.ndim == 2 else t.astype(float)


def _where(lonlat: np.ndarray) -> str:
    return f"around ({lonlat[0]:.3f}, {lonlat[1]:.3f})"


def _link_pieces(xy: np.ndarray, lonlat: np.ndarray, province: np.ndarray, land: np.ndarray,
                 cand: np.ndarray, barrier_km: Any, link_within_km: float | None, travel: Any,
                 notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Join the pieces of the graph by a minimum spanning tree over Delaunay edges between pieces."""
    n = len(xy)
    piece = _pieces(n, land)
    n_pieces = int(piece.max()) + 1 if n else 0
    empty = np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=object)
    if n_pieces <= 1:
        return empty
    size0 = np.bincount(piece, minlength=n_pieces)
    cand = cand[piece[cand[:, 0]] != piece[cand[:, 1]]]
    length = np.hypot(*(xy[cand[:, 0]] - xy[cand[:, 1]]).T)
    cross = _crossing(xy, cand, barrier_km)
    pa, pb = province[cand[:, 0]], province[cand[:, 1]]
    other_prov = (pa != "") & (pb != "") & (pa != pb)
    order = np.lexsort((cand[:, 1], cand[:, 0], length, other_prov, cross))
    parent = np.arange(n_pieces, dtype=np.int64)
    size = size0.copy()
    chosen: list[tuple[int, int, float, bool, bool, int, int, int]] = []
    too_far = 0
    for k in order:
        i, j = int(cand[k, 0]), int(cand[k, 1])
        ri, rj = _find(parent, int(piece[i])), _find(parent, int(piece[j]))
        if ri == rj:
            continue
        if link_within_km is not None and length[k] > link_within_km:
            too_far += 1
            continue
        at = i if (size[ri], ri) <= (size[rj], rj) else j  # the end in the smaller piece
        small, big = int(min(size[ri], size[rj])), int(max(size[ri], size[rj]))
        chosen.append((i, j, float(length[k]), bool(cross[k]), bool(other_prov[k]), small, big, at))
        if size[ri] < size[rj] or (size[ri] == size[rj] and rj < ri):
            ri, rj = rj, ri
        parent[rj] = ri
        size[ri] += size[rj]
    if not chosen:
        links = empty
    else:
        ij = np.array([(c[0], c[1]) for c in chosen], dtype=np.int64)
        t = _road_times(travel, lonlat[ij[:, 0]], lonlat[ij[:, 1]], notes)
        kind = np.where(np.isfinite(t), "road", "link").astype(object)
        links = (ij, kind)
        names = _province_names()
        n_link = int((kind == "link").sum())
        summary = f"{len(chosen)} piece(s) of the graph without a land border to the rest joined by their shortest link"
        if n_link:
            summary += f" ({n_link} with no road data: assumed bridge or ferry)"
        notes.append(summary)
        for (i, j, d, crosses, prov, small, big, at), kd, tk in zip(chosen, kind, t):
            if prov:
                pa, pb = sorted((str(province[i]), str(province[j])))
                why = f"across the {names.get(pa, pa)}/{names.get(pb, pb)} border"
            elif crosses:
                why = "across a barrier (no other link)"
            else:
                why = "no land border (island or strait)"
            how = f"road {tk / 60:.0f} min" if kd == "road" else "assumed bridge or ferry"
            notes.append(f"link {i}-{j} ({d:.1f} km, {why}, {how}) joins {small} unit(s) "
                         f"{_where(lonlat[at])} to a piece of {big} units")
    roots = {_find(parent, p) for p in range(n_pieces)}
    if len(roots) > 1:
        notes.append(f"{len(roots)} pieces left unconnected: no link within {link_within_km:g} km "
                     f"({too_far} longer candidate links skipped)")
    return links


def _cut_notes(province: np.ndarray, edges: np.ndarray, cut_prov: np.ndarray, n_barrier: int,
               notes: list[str]) -> None:
    if n_barrier:
        notes.append(f"{n_barrier} edge(s) cut by barriers")
    if cut_prov.any():
        names = _province_names()
        pairs: dict[tuple[str, str], int] = {}
        for i, j in edges[cut_prov]:
            key = tuple(sorted((str(province[i]), str(province[j]))))
            pairs[(key[0], key[1])] = pairs.get((key[0], key[1]), 0) + 1
        for (a, b), k in sorted(pairs.items()):
            notes.append(f"{k} edge(s) across the {names.get(a, a)}/{names.get(b, b)} border cut")


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


def _group_sites(site: np.ndarray, n_sites: int, xy_acc: np.ndarray, proj: _Projection, group: np.ndarray | None,
                 max_units: int, notes: list[str]) -> np.ndarray:
    """More distinct points than ``max_units``: group them on a grid (never two provinces or two ``group``
    values in one unit); returns the unit of each account."""
    import pandas as pd

    cnt = np.bincount(site, minlength=n_sites).astype(float)
    site_xy = np.column_stack([np.bincount(site, xy_acc[:, 0], n_sites),
                               np.bincount(site, xy_acc[:, 1], n_sites)]) / cnt[:, None]
    site_ll = proj.inverse(site_xy)
    prov_codes = pd.factorize(_provinces(site_ll))[0].astype(np.int64)
    keys = [prov_codes]
    if group is not None:
        gcode = pd.factorize(pd.Series(np.asarray(group, dtype=object)), use_na_sentinel=False)[0]
        keys.append(_majority(site, gcode.astype(np.int64), n_sites))
    codes, cell, count = _grid_groups(site_xy, np.column_stack(keys), max_units)
    mixes = "two provinces" + (" or two `group` values" if group is not None else "")
    notes.append(f"{n_sites} distinct points grouped into {count} units on a {cell:.2f} km grid "
                 f"(a unit never mixes {mixes})")
    if count > max_units:
        notes.append(f"max_units={max_units} cannot be met without mixing {mixes}: {count} units")
    return np.asarray(_first_appearance(codes[site]))


def build_units(lonlat: np.ndarray, *, max_units: int = 5000, group: np.ndarray | None = None,
                land: Any = None, barriers: Any = None, link_within_km: float | None = None,
                travel: Any = None) -> UnitGraph:
    """Basic units of the accounts at ``lonlat`` ((n, 2) WGS-84) and their adjacency graph.

    ``max_units``: at most this many units (above it the accounts are grouped
    on a grid, never mixing two ``group`` values or two provinces). ``land``:
    polygon(s) in EPSG:4326 (default: the counties around the accounts).
    ``barriers``: lines (EPSG:4326) no edge may cross. ``link_within_km``:
    join only pieces of the graph closer than this (None: always join).
    ``travel``: an object with ``.matrix(origins, destinations)`` (a
    :class:`planner.geo.travel.TravelBackend`) to confirm links by road.
    """
    import geopandas as gpd
    import shapely

    pts = _check_inputs(lonlat, max_units, group, link_within_km)
    land_geom = _geometry_of(land, "land")
    barrier_geom = _geometry_of(barriers, "barriers")
    notes: list[str] = []
    n_acc = len(pts)
    proj = _Projection.around(pts)
    xy_acc = proj.forward(pts)

    site = _colocate(xy_acc)
    n_sites = int(site.max()) + 1
    if n_sites < n_acc:
        notes.append(f"{n_acc - n_sites} account(s) share a point with others (within {COLOCATED_KM * 1000:g} m): "
                     f"{n_sites} distinct points")
    unit_of = _group_sites(site, n_sites, xy_acc, proj, group, max_units, notes) if n_sites > max_units else site
    n = int(unit_of.max()) + 1
    weight = np.bincount(unit_of, minlength=n).astype(np.int64)
    lonlat_u = np.column_stack([np.bincount(unit_of, pts[:, 0], n), np.bincount(unit_of, pts[:, 1], n)])
    lonlat_u /= weight[:, None]
    xy = proj.forward(lonlat_u)
    xy = _separate(xy)

    land_km = _land_km(pts, xy_acc, land_geom, proj, notes)
    parts, comp = _land_parts(land_km, xy, notes)
    cells, plain, extra = _cells(xy, parts, comp, notes)
    province = _provinces(lonlat_u)

    ridges, ridge_km = _neighbours(xy)
    edges = _land_edges(cells, plain, ridges, ridge_km, extra)
    barrier_km = None
    if barrier_geom is not None and not shapely.is_empty(barrier_geom):
        barrier_km = proj.geom_forward(barrier_geom, densify_deg=DENSIFY_DEG)
        shapely.prepare(barrier_km)
    cross = _crossing(xy, edges, barrier_km)
    pa, pb = province[edges[:, 0]], province[edges[:, 1]]
    cut_prov = (pa != "") & (pb != "") & (pa != pb)
    _cut_notes(province, edges, cut_prov & ~cross, int(cross.sum()), notes)
    edges = edges[~(cross | cut_prov)]
    link_e, link_k = _link_pieces(xy, lonlat_u, province, edges, ridges, barrier_km, link_within_km, travel, notes)
    all_e = np.concatenate([edges, link_e]) if len(link_e) else edges
    kinds = np.concatenate([np.full(len(edges), "land", dtype=object), link_k])
    order = np.lexsort((all_e[:, 1], all_e[:, 0])) if len(all_e) else np.zeros(0, dtype=np.int64)
    polygons = gpd.GeoSeries(proj.geom_inverse(cells), crs="EPSG:4326")
    return UnitGraph(
        unit_of=unit_of.astype(np.int64),
        lonlat=lonlat_u.astype(np.float64),
        xy=xy.astype(np.float64),
        edges=all_e[order].astype(np.int64).reshape(-1, 2),
        edge_kind=kinds[order].astype(object),
        polygons=polygons,
        province=province.astype(str),
        notes=tuple(notes),
        weight=weight,
        area_km2=np.asarray(shapely.area(cells), dtype=float),
        cells_km=cells,
        proj=proj.proj,
    )


def _separate(xy: np.ndarray) -> np.ndarray:
    """Move unit points that coincide (two groups with the same mean) 2 m apart: Voronoi needs distinct sites."""
    from scipy.spatial import cKDTree

    pairs = cKDTree(xy).query_pairs(1e-4, output_type="ndarray")
    if len(pairs) == 0:
        return xy
    xy = xy.copy()
    for k, j in enumerate(np.unique(pairs.max(axis=1))):
        xy[j] += np.array([0.002 * (k + 1), 0.0])
    return xy


def territory_polygons(graph: UnitGraph, assign: np.ndarray, labels: Sequence[str]) -> gpd.GeoDataFrame:
    """One row per territory (``labels[t]``): its units' cells dissolved.

    ``assign``: territory index of each unit (-1: none). Columns ``territory``,
    ``units``, ``area_km2`` and the geometry (EPSG:4326); a territory whose
    units are land-adjacent comes out as one Polygon.
    """
    import geopandas as gpd
    import shapely

    a = np.asarray(assign)
    problems = []
    if a.shape != (graph.n_units,):
        problems.append(f"assign must have one territory index per unit ({graph.n_units}), got shape {a.shape}")
    elif len(a) and (not np.issubdtype(a.dtype, np.integer) or a.min() < -1 or a.max() >= len(labels)):
        problems.append(f"assign must hold territory indices 0..{len(labels) - 1} or -1")
    if problems:
        raise InputError(problems, what="territory polygons")
    if graph.proj and len(graph.cells_km) == graph.n_units:
        proj, cells = _Projection(graph.proj), graph.cells_km
    else:  # a graph built by hand: project its polygons
        proj = _Projection.around(graph.lonlat)
        cells = proj.geom_forward(np.asarray(graph.polygons.values, dtype=object))
    rows = []
    geoms = []
    for t, label in enumerate(labels):
        idx = np.flatnonzero(a == t)
        if len(idx):
            g = shapely.union_all(cells[idx], grid_size=GRID_KM)
            if not shapely.is_valid(g):
                g = shapely.make_valid(g)
        else:
            g = shapely.Polygon()
        rows.append({"territory": str(label), "units": int(len(idx)), "area_km2": float(shapely.area(g))})
        geoms.append(proj.geom_inverse(g))
    return gpd.GeoDataFrame(rows, columns=["territory", "units", "area_km2"], geometry=geoms,
                            crs="EPSG:4326")


def read_barriers(path: str | Path) -> gpd.GeoSeries:
    """Barrier lines (rivers, ridges) from a GeoJSON or GeoPackage, in EPSG:4326.

    Raises :class:`planner.errors.InputError` naming the file when it cannot
    be read or holds anything but lines.
    """
    import geopandas as gpd
    import shapely

    p = Path(path)
    if not p.exists():
        raise FileReadError(f"barrier file {p} not found", what="barriers")
    try:
        gdf = gpd.read_file(p)
    except (RuntimeError, OSError, ValueError, UnicodeDecodeError) as exc:  # pyogrio errors are RuntimeErrors
        raise FileReadError(f"barrier file {p} could not be read as GeoJSON or GeoPackage: {exc}",
                            what="barriers") from exc
    geoms = gdf.geometry
    geoms = geoms[~(geoms.isna() | geoms.is_empty)]
    if len(geoms) == 0:
        raise InputError(f"barrier file {p} holds no geometries", what="barriers")
    types = shapely.get_type_id(np.asarray(geoms.values, dtype=object))
    bad = sorted({str(t) for t in geoms.geom_type[(types != 1) & (types != 5)]})
    if bad:
        raise InputError(f"barrier file {p} must hold lines (LineString/MultiLineString), found {', '.join(bad)}",
                         what="barriers")
    if geoms.crs is None:
        geoms = geoms.set_crs("EPSG:4326")
    elif not geoms.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs("EPSG:4326")
    return gpd.GeoSeries(geoms.values, crs="EPSG:4326").reset_index(drop=True)
