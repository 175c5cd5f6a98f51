"""A seeded synthetic road network written as an OpenStreetMap file: what the road engine is tested on.

``generate(n_nodes, centre=..., seed=...)`` lays out a grid-ish town around ``centre`` (default near
Quanzhou, 118.6E 24.9N) and returns a :class:`RoadNet`: the nodes (lon, lat), the ways with their OSM
tags, and the routable edges with their lengths, the speed OSRM's stock ``car.lua`` gives them and their
one-way flags, so a test can compute shortest paths by hand (:meth:`RoadNet.time_graph` with
``scipy.sparse.csgraph.dijkstra``).  :meth:`RoadNet.write` writes ``.osm`` XML directly, or ``.osm.pbf``
through pyosmium.  Everything is synthetic and labelled so in the file's ``generator``.

The town (``rows`` x ``cols`` intersections ``spacing_m`` apart, each block split into ``subdiv`` segments):

- every row and every column is a street (``highway=residential``, 25 km/h; every fifth residential row
  carries ``maxspeed=30``, which the car profile drives at 0.8 x 30 = 24 km/h);
- arterials: the middle row is ``highway=primary`` (65 km/h), every ``arterial_every``-th row and column
  ``highway=secondary`` (55 km/h), the arterial columns with ``maxspeed=50`` (40 km/h);
- one-way streets: row 2 runs east only (``oneway=yes``); in larger towns every seventh residential row is
  one-way too, alternately east and west (the way's nodes are ordered in the allowed direction);
- a river (``waterway=river``, not routable) runs north-south between two columns ``river_gap_m`` apart;
  only two rows cross it, on bridges (``bridge=yes``, ``layer=1``) near the south and north edges, so a
  trip across the river in the middle of town makes a long detour;
- an island in the river carries a small loop road with no bridge: unreachable from the town;
- traffic lights (``highway=traffic_signals`` on the node) where two arterials cross: the car profile
  adds 2 s to every trip through them;
- ``jitter_m`` moves every intersection by a seeded random offset (grid-ish rather than a perfect grid)
  and ``drop`` removes that share of residential blocks (never the arterials, bridges or one-ways).

Coordinates are rounded to 1e-6 degree, the precision OSRM stores, and edge lengths are measured between
the rounded coordinates.  ``python -m planner.demo.roadnet OUT.osm[.pbf] [N_NODES]`` writes one.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from xml.sax.saxutils import quoteattr

import numpy as np
from scipy import sparse

from planner.geo.travel import EARTH_RADIUS_M

__all__ = ["CAR_SPEEDS_KMH", "DEFAULT_CENTRE", "MAXSPEED_FACTOR", "RoadNet", "Way", "car_speed_kmh", "generate",
           "main", "osrm_distance_m"]

#: Default centre of the town (lon, lat): near Quanzhou.
DEFAULT_CENTRE = (118.6, 24.9)
#: Speeds (km/h) of OSRM's stock car.lua by ``highway`` value, for the types this generator writes.
CAR_SPEEDS_KMH: Mapping[str, float] = MappingProxyType({"primary": 65.0, "secondary": 55.0, "residential": 25.0})
#: car.lua drives a way tagged ``maxspeed=X`` at ``X * MAXSPEED_FACTOR`` (its ``speed_reduction``).
MAXSPEED_FACTOR = 0.8
#: WGS-84 semi-major axis (m) and first eccentricity squared.
WGS84_A_M = 6378137.0
WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
#: OSRM's fixed-point coordinate precision (degrees).
COORD_DECIMALS = 6


def car_speed_kmh(tags: Mapping[str, str]) -> float:
    """The speed OSRM's stock car profile gives a way with ``tags`` (only the tags this module writes).

    ``maxspeed`` (a plain number, km/h) wins over the ``highway`` type: 0.8 x maxspeed.  Raises
    ``KeyError`` for a ``highway`` value outside :data:`CAR_SPEEDS_KMH`.
    """
    if "maxspeed" in tags:
        return float(tags["maxspeed"]) * MAXSPEED_FACTOR
    return CAR_SPEEDS_KMH[tags["highway"]]


def osrm_distance_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Length in metres of straight segments as OSRM measures them: the WGS-84 ellipsoid, locally flat.

    Mapbox's "cheap ruler" at the segment's mean latitude (OSRM's own distance since v5.2x): metres per
    degree east and north from the ellipsoid's radii of curvature.  Inputs in degrees, arrays of one shape.
    Differs from the spherical haversine by up to about 0.4 % (north-south is shorter at 25N).
    """
    lat = np.radians((np.asarray(lat1) + np.asarray(lat2)) / 2)
    m_per_rad = WGS84_A_M
    w2 = 1.0 / (1.0 - WGS84_E2 * np.sin(lat) ** 2)
    kx = m_per_rad * np.sqrt(w2) * np.cos(lat)
    ky = m_per_rad * np.sqrt(w2) * w2 * (1.0 - WGS84_E2)
    dlon = (np.asarray(lon2) - np.asarray(lon1) + 180.0) % 360.0 - 180.0
    return np.hypot(np.radians(dlon) * kx, np.radians(np.asarray(lat2) - np.asarray(lat1)) * ky)


@dataclass(frozen=True)
class Way:
    """One OSM way: its node indices (into :attr:`RoadNet.lon`) in order, and its tags."""

    nodes: tuple[int, ...]
    tags: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class RoadNet:
    """A synthetic road network: nodes, ways and the routable directed-edge list.

    Attributes:
        lon, lat: node coordinates (degrees, rounded to 1e-6), float64 (n,); OSM node id = index + 1.
        ways: the ways (roads, the river); way id = position + 1.
        u, v: edge end nodes (int64): one edge per pair of consecutive nodes of a road way, in way order.
        length_m: edge length (float64, :func:`osrm_distance_m`).
        speed_kmh: the car profile's speed on the edge (float64).
        oneway: True where only ``u -> v`` may be driven.
        highway: the edge's ``highway`` value (str array).
        grid: (rows, cols) intersection index -> node index (int64, -1 for none).
        river_cols: the two columns the river runs between; bridges: the rows that cross it.
        island: node indices of the island's loop road (no bridge).
        signals: node indices tagged ``highway=traffic_signals``.
        spacing_m: block length.
    """

    lon: np.ndarray
    lat: np.ndarray
    ways: tuple[Way, ...]
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    speed_kmh: np.ndarray
    oneway: np.ndarray
    highway: np.ndarray
    grid: np.ndarray
    river_cols: tuple[int, int]
    bridges: tuple[int, int]
    island: np.ndarray
    signals: np.ndarray
    spacing_m: float

    @property
    def n_nodes(self) -> int:
        """Number of nodes (road and river)."""
        return len(self.lon)

    @property
    def points(self) -> np.ndarray:
        """Node coordinates as an (n, 2) array of (lon, lat)."""
        return np.column_stack([self.lon, self.lat])

    def time_s(self) -> np.ndarray:
        """Driving time of each edge (seconds): length / speed."""
        return self.length_m / (self.speed_kmh / 3.6)

    def _graph(self, weight: np.ndarray) -> sparse.csr_matrix:
        both = ~self.oneway
        rows = np.concatenate([self.u, self.v[both]])
        cols = np.concatenate([self.v, self.u[both]])
        w = np.concatenate([weight, weight[both]])
        n = self.n_nodes
        return sparse.csr_matrix((w, (rows, cols)), shape=(n, n))

    def time_graph(self) -> sparse.csr_matrix:
        """Directed (n, n) graph of edge driving times (s), one-way edges in their direction only."""
        return self._graph(self.time_s())

    def distance_graph(self) -> sparse.csr_matrix:
        """Directed (n, n) graph of edge lengths (m), one-way edges in their direction only."""
        return self._graph(self.length_m)

    def midblock(self) -> np.ndarray:
        """Node indices that lie inside a block (not at an intersection) on a two-way road: good query points.

        A point there snaps to the middle of one road, so a trip from it starts without a turn.
        """
        degree = np.bincount(np.concatenate([self.u, self.v]), minlength=self.n_nodes)
        one = np.zeros(self.n_nodes, dtype=bool)
        one[self.u[self.oneway]] = True
        one[self.v[self.oneway]] = True
        inside = (degree == 2) & ~one
        inside[self.grid[self.grid >= 0]] = False
        return np.flatnonzero(inside)

    def write(self, path: str | Path) -> Path:
        """Write ``.osm`` (XML) or ``.osm.pbf`` (pyosmium), chosen by the file name; returns the path."""
        p = Path(path)
        if p.name.endswith(".osm.pbf"):
            return self._write_pbf(p)
        if p.name.endswith(".osm"):
            return self._write_xml(p)
        raise ValueError(f"{p}: the file name must end in .osm or .osm.pbf")

    def _write_xml(self, path: Path) -> Path:
        bounds = (f'  <bounds minlat="{self.lat.min():.6f}" minlon="{self.lon.min():.6f}" '
                  f'maxlat="{self.lat.max():.6f}" maxlon="{self.lon.max():.6f}"/>\n')
        with path.open("w", encoding="utf-8") as fh:
            fh.write("<?xml version='1.0' encoding='UTF-8'?>\n")
            fh.write('<osm version="0.6" generator="planner.demo.roadnet (synthetic)">\n')
            fh.write(bounds)
            signals = set(self.signals.tolist())
            for i, (lo, la) in enumerate(zip(self.lon.tolist(), self.lat.tolist())):
                head = f'  <node id="{i + 1}" version="1" lat="{la:.6f}" lon="{lo:.6f}"'
                fh.write(f'{head}>\n    <tag k="highway" v="traffic_signals"/>\n  </node>\n' if i in signals
                         else f"{head}/>\n")
            for k, way in enumerate(self.ways):
                fh.write(f'  <way id="{k + 1}" version="1">\n')
                fh.writelines(f'    <nd ref="{n + 1}"/>\n' for n in way.nodes)
                fh.writelines(f"    <tag k={quoteattr(key)} v={quoteattr(val)}/>\n" for key, val in way.tags.items())
                fh.write("  </way>\n")
            fh.write("</osm>\n")
        return path

    def _write_pbf(self, path: Path) -> Path:
        import osmium  # optional: only for .osm.pbf

        path.unlink(missing_ok=True)
        writer = osmium.SimpleWriter(str(path))
        try:
            signals = set(self.signals.tolist())
            for i, (lo, la) in enumerate(zip(self.lon.tolist(), self.lat.tolist())):
                tags = {"highway": "traffic_signals"} if i in signals else {}
                writer.add_node(osmium.osm.mutable.Node(id=i + 1, location=(lo, la), version=1, tags=tags))
            for k, way in enumerate(self.ways):
                writer.add_way(osmium.osm.mutable.Way(id=k + 1, nodes=[n + 1 for n in way.nodes],
                                                      tags=dict(way.tags), version=1))
        finally:
            writer.close()
        return path


@dataclass
class _Builder:
    """Accumulates nodes (metres east/north of the SW corner) and ways while the town is laid out."""

    x: list[float]
    y: list[float]
    ways: list[Way]
    subdiv: int

    def node(self, x: float, y: float) -> int:
        self.x.append(x)
        self.y.append(y)
        return len(self.x) - 1

    def path(self, corners: Sequence[int]) -> list[int]:
        """The corners with ``subdiv - 1`` new nodes evenly spaced inside each block."""
        out = [corners[0]]
        for a, b in zip(corners[:-1], corners[1:]):
            for t in range(1, self.subdiv):
                f = t / self.subdiv
                out.append(self.node(self.x[a] + f * (self.x[b] - self.x[a]), self.y[a] + f * (self.y[b] - self.y[a])))
            out.append(b)
        return out

    def road(self, corners: Sequence[int], tags: Mapping[str, str]) -> None:
        if len(corners) >= 2:
            self.ways.append(Way(tuple(self.path(corners)), MappingProxyType(dict(tags))))


@dataclass(frozen=True)
class _Layout:
    rows: int
    cols: int
    spacing_m: float
    arterial_every: int
    river_cols: tuple[int, int]
    bridges: tuple[int, int]

    def row_tags(self, i: int) -> dict[str, str]:
        if i == self.rows // 2:
            return {"highway": "primary", "name": f"Row {i} Avenue"}
        if i % self.arterial_every == 0 and 0 < i < self.rows - 1:
            return {"highway": "secondary", "name": f"Row {i} Road"}
        tags = {"highway": "residential", "name": f"Row {i} Street"}
        if i % 5 == 4:
            tags["maxspeed"] = "30"
        if self.oneway_dir(i):
            tags["oneway"] = "yes"
        return tags

    def col_tags(self, j: int) -> dict[str, str]:
        if j % self.arterial_every == 0 and 0 < j < self.cols - 1 and j not in self.river_cols:
            return {"highway": "secondary", "name": f"Column {j} Road", "maxspeed": "50"}
        return {"highway": "residential", "name": f"Column {j} Street"}

    def oneway_dir(self, i: int) -> int:
        """+1: one-way east, -1: one-way west, 0: two-way (residential rows away from the bridges only)."""
        if i in self.bridges or i == self.rows // 2 or (i % self.arterial_every == 0 and 0 < i < self.rows - 1):
            return 0
        if i == 2:
            return 1
        if i > 2 and i % 7 == 0:
            return 1 if (i // 7) % 2 else -1
        return 0


def _runs(keep: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``(start, stop)`` of consecutive kept segments (segment k joins corner k and k + 1)."""
    runs, start = [], None
    for k, ok in enumerate([*keep.tolist(), False]):
        if ok and start is None:
            start = k
        elif not ok and start is not None:
            runs.append((start, k))
            start = None
    return runs


def _lay_rows(b: _Builder, lay: _Layout, grid: np.ndarray, drop_mask: np.ndarray) -> None:
    west, east = lay.river_cols
    for i in range(lay.rows):
        tags = lay.row_tags(i)
        for lo, hi in ((0, west), (east, lay.cols - 1)):
            keep = ~drop_mask[i, lo:hi]
            for s, e in _runs(keep):
                corners = [int(c) for c in grid[i, lo + s: lo + e + 1]]
                b.road(corners[::-1] if lay.oneway_dir(i) < 0 else corners, tags)
        if i in lay.bridges:
            b.road([int(grid[i, west]), int(grid[i, east])], {**tags, "bridge": "yes", "layer": "1"})


def _lay_cols(b: _Builder, lay: _Layout, grid: np.ndarray, drop_mask: np.ndarray) -> None:
    for j in range(lay.cols):
        keep = ~drop_mask[:-1, j] if j < drop_mask.shape[1] else np.ones(lay.rows - 1, dtype=bool)
        for s, e in _runs(keep):
            b.road([int(c) for c in grid[s: e + 1, j]], lay.col_tags(j))


def _drop_mask(rng: np.random.Generator, lay: _Layout, drop: float) -> np.ndarray:
    """(rows, cols) mask: block east of (i, j) dropped (rows) / block north of (i, j) dropped (columns).

    Only residential two-way blocks are dropped; the same mask is read for both directions.
    """
    mask = rng.random((lay.rows, lay.cols)) < drop
    for i in range(lay.rows):
        if lay.row_tags(i)["highway"] != "residential" or lay.oneway_dir(i) or i in lay.bridges:
            mask[i, :] = False
    for j in range(lay.cols):
        if lay.col_tags(j)["highway"] != "residential" or j in lay.river_cols:
            mask[:, j] = False
    mask[:, -1] = False
    mask[-1, :] = False
    return mask


def _island(b: _Builder, lay: _Layout, gap_m: float, grid_x: np.ndarray) -> list[int]:
    """A small square loop road in the middle of the river (no bridge)."""
    cx = (grid_x[lay.river_cols[0]] + grid_x[lay.river_cols[1]]) / 2
    cy = (lay.rows - 1) / 2 * lay.spacing_m + lay.spacing_m / 2
    h = min(gap_m / 4, lay.spacing_m / 3)
    corners = [b.node(cx - h, cy - h), b.node(cx + h, cy - h), b.node(cx + h, cy + h), b.node(cx - h, cy + h)]
    first = len(b.x)
    b.road([*corners, corners[0]], {"highway": "residential", "name": "Island Loop"})
    return [*corners, *range(first, len(b.x))]


def _geometry(rows: int, cols: int, spacing_m: float, gap_m: float) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Column x positions (the river gap between the two middle columns), row y positions, river columns."""
    west = cols // 2 - 1
    xs = np.arange(cols) * float(spacing_m)
    xs[west + 1:] += gap_m - spacing_m
    ys = np.arange(rows) * float(spacing_m)
    return xs, ys, (west, west + 1)


def generate(n_nodes: int = 2000, *, centre: tuple[float, float] = DEFAULT_CENTRE, seed: int = 0,
             spacing_m: float = 200.0, subdiv: int = 2, river_gap_m: float | None = None,
             jitter_m: float = 0.0, drop: float = 0.0, arterial_every: int = 8) -> RoadNet:
    """A synthetic town of about ``n_nodes`` road nodes centred on ``centre`` (lon, lat); see the module doc.

    The grid is square with ``rows = cols = max(8, round(sqrt(n_nodes / (2 * subdiv - 1))))``
    intersections.  ``river_gap_m`` (default ``2 * spacing_m``) is the distance between the two river
    banks' columns.  Deterministic for a given ``seed``.  Raises ``ValueError`` for bad sizes.
    """
    if n_nodes < 1 or subdiv < 1 or spacing_m <= 0 or not 0 <= drop < 1 or jitter_m < 0 or arterial_every < 2:
        raise ValueError("n_nodes >= 1, subdiv >= 1, spacing_m > 0, 0 <= drop < 1, jitter_m >= 0, "
                         "arterial_every >= 2 are required")
    side = max(8, round(math.sqrt(n_nodes / (2 * subdiv - 1))))
    gap = 2.0 * spacing_m if river_gap_m is None else float(river_gap_m)
    rng = np.random.default_rng(seed)
    xs, ys, river = _geometry(side, side, spacing_m, gap)
    bridges = (max(1, side // 8), side - 1 - max(1, side // 8))
    lay = _Layout(side, side, spacing_m, arterial_every, river, bridges)
    b = _Builder([], [], [], subdiv)
    jit = rng.uniform(-jitter_m, jitter_m, (side, side, 2)) if jitter_m else np.zeros((side, side, 2))
    grid = np.array([[b.node(xs[j] + jit[i, j, 0], ys[i] + jit[i, j, 1]) for j in range(side)]
                     for i in range(side)], dtype=np.int64)
    drop_mask = _drop_mask(rng, lay, drop)
    _lay_rows(b, lay, grid, drop_mask)
    _lay_cols(b, lay, grid, drop_mask)
    island = _island(b, lay, gap, xs)
    rx = (xs[river[0]] + xs[river[1]]) / 2
    river_nodes = [b.node(rx, -spacing_m), b.node(rx, ys[-1] + spacing_m)]
    b.ways.append(Way(tuple(river_nodes), MappingProxyType({"waterway": "river", "name": "Synthetic River"})))
    signals = [int(grid[i, j]) for i in range(side) for j in range(side)
               if lay.row_tags(i)["highway"] != "residential" and lay.col_tags(j)["highway"] != "residential"]
    return _finish(b, lay, grid, np.array(island, dtype=np.int64), signals, centre)


def _finish(b: _Builder, lay: _Layout, grid: np.ndarray, island: np.ndarray, signals: list[int],
            centre: tuple[float, float]) -> RoadNet:
    x, y = np.array(b.x), np.array(b.y)
    lon0, lat0 = float(centre[0]), float(centre[1])
    m_per_deg_lat = math.pi * EARTH_RADIUS_M / 180.0
    m_per_deg_lon = m_per_deg_lat * math.cos(math.radians(lat0))
    lon = np.round(lon0 + (x - (x.max() + x.min()) / 2) / m_per_deg_lon, COORD_DECIMALS)
    lat = np.round(lat0 + (y - (y.max() + y.min()) / 2) / m_per_deg_lat, COORD_DECIMALS)
    u: list[int] = []
    v: list[int] = []
    speed: list[float] = []
    oneway: list[bool] = []
    highway: list[str] = []
    for way in b.ways:
        if "highway" not in way.tags:
            continue
        n = len(way.nodes) - 1
        u.extend(way.nodes[:-1])
        v.extend(way.nodes[1:])
        speed.extend([car_speed_kmh(way.tags)] * n)
        oneway.extend([way.tags.get("oneway") == "yes"] * n)
        highway.extend([way.tags["highway"]] * n)
    ua, va = np.array(u, dtype=np.int64), np.array(v, dtype=np.int64)
    return RoadNet(lon=lon, lat=lat, ways=tuple(b.ways), u=ua, v=va,
                   length_m=osrm_distance_m(lon[ua], lat[ua], lon[va], lat[va]),
                   speed_kmh=np.array(speed), oneway=np.array(oneway, dtype=bool), highway=np.array(highway),
                   grid=grid, river_cols=lay.river_cols, bridges=lay.bridges, island=island,
                   signals=np.array(sorted(signals), dtype=np.int64), spacing_m=lay.spacing_m)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m planner.demo.roadnet OUT [N_NODES] [--seed S] [--jitter M] [--drop F]``."""
    ap = argparse.ArgumentParser(description="Write a synthetic road network (.osm or .osm.pbf).")
    ap.add_argument("out")
    ap.add_argument("n_nodes", nargs="?", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jitter", type=float, default=0.0, help="metres of random offset per intersection")
    ap.add_argument("--drop", type=float, default=0.0, help="share of residential blocks removed")
    args = ap.parse_args(argv)
    net = generate(args.n_nodes, seed=args.seed, jitter_m=args.jitter, drop=args.drop)
    print(net.write(args.out), f"{net.n_nodes} nodes, {len(net.u)} edges")


if __name__ == "__main__":
    main()
