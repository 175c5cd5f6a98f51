"""Tests for planner.geo.units: land-clipped Voronoi units and their adjacency graph."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely

from planner.errors import InputError
from planner.geo import admin
from planner.geo.travel import GreatCircleBackend
from planner.geo.units import EDGE_KINDS, UnitGraph, build_units, read_barriers, territory_polygons

# synthetic cases far from China (no county there: provinces "", no county land)
LON0, LAT0 = 30.0, 0.0


@pytest.fixture(scope="module")
def demo_lonlat() -> np.ndarray:
    accounts = pd.read_csv(admin.geodata_dir() / "demo" / "accounts.csv")
    return accounts[["lon", "lat"]].to_numpy(dtype=float)


@pytest.fixture(scope="module")
def demo(demo_lonlat) -> UnitGraph:
    return build_units(demo_lonlat)


def metric_cells(graph: UnitGraph):
    """The unit polygons in a UTM CRS (metres), reprojected independently of the module."""
    return graph.polygons.to_crs(admin.metric_crs(graph.lonlat[:, 0], graph.lonlat[:, 1]))


def blob_points(rng: np.random.Generator, x0: float, n: int) -> np.ndarray:
    return np.column_stack([rng.uniform(x0 + 0.05, x0 + 0.95, n), rng.uniform(LAT0 + 0.05, LAT0 + 0.95, n)])


def bfs(graph: UnitGraph, start: int, size: int, kinds: tuple[str, ...] = ("land",)) -> np.ndarray:
    keep = np.isin(graph.edge_kind, kinds)
    e = graph.edges[keep]
    nbrs: dict[int, list[int]] = {}
    for i, j in e:
        nbrs.setdefault(int(i), []).append(int(j))
        nbrs.setdefault(int(j), []).append(int(i))
    seen, queue = [start], [start]
    while queue and len(seen) < size:
        u = queue.pop(0)
        for v in sorted(nbrs.get(u, [])):
            if v not in seen and len(seen) < size:
                seen.append(v)
                queue.append(v)
    return np.array(seen)


# --- the demo ---------------------------------------------------------------------------


def test_demo_every_account_has_a_unit(demo, demo_lonlat):
    n = len(demo_lonlat)
    assert demo.unit_of.shape == (n,) and demo.unit_of.dtype == np.int64
    assert demo.unit_of.min() == 0 and demo.unit_of.max() == demo.n_units - 1
    assert (np.bincount(demo.unit_of, minlength=demo.n_units) > 0).all()
    assert np.array_equal(np.bincount(demo.unit_of, minlength=demo.n_units), demo.weight)
    # the demo's 3,000 accounts sit at 3,000 distinct points: one unit each, at the account
    assert demo.n_units == len(np.unique(np.round(demo_lonlat, 6), axis=0)) == 3000
    assert np.allclose(demo.lonlat[demo.unit_of], demo_lonlat)
    assert demo.xy.shape == (demo.n_units, 2) and len(demo.polygons) == demo.n_units
    assert (demo.province == "350000").all()


def test_demo_graph_is_one_piece_with_clean_edges(demo):
    e = demo.edges
    assert e.dtype == np.int64 and (e[:, 0] < e[:, 1]).all()
    assert len(np.unique(e, axis=0)) == len(e)
    assert set(demo.edge_kind) <= set(EDGE_KINDS)
    assert demo.components(np.arange(demo.n_units)) == 1
    assert (demo.edge_kind == "land").mean() > 0.99  # the demo is nearly all mainland
    indptr, indices = demo.csr()
    assert indptr[-1] == 2 * len(e)
    u = int(e[0, 0])
    assert int(e[0, 1]) in indices[indptr[u]:indptr[u + 1]]


def test_demo_land_edges_share_a_land_border(demo):
    cells = metric_cells(demo).to_numpy()
    e = demo.edges[demo.edge_kind == "land"]
    shared = shapely.length(shapely.intersection(shapely.boundary(cells[e[:, 0]]),
                                                 shapely.buffer(cells[e[:, 1]], 1.0)))
    assert (shared > 5.0).all()  # metres
    # and the non-land edges join cells that do not share one
    other = demo.edges[demo.edge_kind != "land"]
    assert len(other) >= 1
    gap = shapely.distance(cells[other[:, 0]], cells[other[:, 1]])
    assert (gap > 100.0).all()


def test_demo_cells_tile_without_overlap_and_hold_their_point(demo):
    cells = metric_cells(demo)
    total = float(cells.area.sum())
    union = float(shapely.union_all(cells.to_numpy(), grid_size=0.01).area)
    assert union == pytest.approx(total, rel=1e-4)
    inside = shapely.dwithin(demo.polygons.to_numpy(), shapely.points(demo.lonlat), 1e-6)
    assert inside.all()
    assert np.allclose(cells.area.to_numpy() / 1e6, demo.area_km2, rtol=1e-3)


def test_demo_deterministic(demo, demo_lonlat):
    again = build_units(demo_lonlat)
    assert np.array_equal(again.edges, demo.edges)
    assert np.array_equal(again.edge_kind, demo.edge_kind)
    assert np.array_equal(again.unit_of, demo.unit_of)
    assert again.notes == demo.notes


def test_territory_polygons_contiguous_set_is_one_polygon(demo):
    first = bfs(demo, 0, 40)
    second = bfs(demo, int(np.setdiff1d(np.arange(demo.n_units), first)[500]), 25)
    second = np.setdiff1d(second, first)
    assign = np.full(demo.n_units, -1)
    assign[first] = 0
    assign[second] = 1
    assert demo.components(first) == 1
    out = territory_polygons(demo, assign, ["T1", "T2", "empty"])
    assert list(out["territory"]) == ["T1", "T2", "empty"]
    assert list(out["units"]) == [40, len(second), 0]
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].geom_type == "Polygon"
    assert out["area_km2"].iloc[0] == pytest.approx(demo.area_km2[first].sum(), rel=1e-6)
    assert out["area_km2"].iloc[1] == pytest.approx(demo.area_km2[second].sum(), rel=1e-6)
    assert out.geometry.iloc[2].is_empty and out["area_km2"].iloc[2] == 0
    with pytest.raises(InputError, match="territory"):
        territory_polygons(demo, assign[:-1], ["T1", "T2"])
    with pytest.raises(InputError, match="indices"):
        territory_polygons(demo, assign, ["T1"])


# --- water, barriers, provinces ---------------------------------------------------------------


def two_blobs(n: int = 60) -> tuple[np.ndarray, object]:
    rng = np.random.default_rng(1)
    pts = np.concatenate([blob_points(rng, LON0, n), blob_points(rng, LON0 + 1.3, n)])
    land = shapely.MultiPolygon([shapely.box(LON0, LAT0, LON0 + 1, LAT0 + 1),
                                 shapely.box(LON0 + 1.3, LAT0, LON0 + 2.3, LAT0 + 1)])
    return pts, land


def test_water_cuts_cells_and_one_link_joins_the_blobs():
    pts, land = two_blobs()
    g = build_units(pts, land=land)
    west = np.zeros(g.n_units, dtype=bool)
    west[g.unit_of] = pts[:, 0] < LON0 + 1.15
    across = west[g.edges[:, 0]] != west[g.edges[:, 1]]
    assert across.sum() == 1
    assert g.edge_kind[across][0] == "link"
    assert (g.edge_kind[~across] == "land").all()
    assert g.components(np.arange(g.n_units)) == 1
    # the link is the closest pair between the blobs
    i, j = g.edges[across][0]
    d = np.hypot(*(g.xy[west][:, None, :] - g.xy[~west][None, :, :]).transpose(2, 0, 1))
    assert np.hypot(*(g.xy[i] - g.xy[j])) == pytest.approx(d.min())
    # cells stop at the shore
    assert shapely.covers(shapely.buffer(land, 1e-6), shapely.union_all(g.polygons.to_numpy()))
    text = " ".join(g.notes)
    assert "1 piece(s) of the graph without a land border" in text
    assert "island or strait" in text and "assumed bridge or ferry" in text


def test_link_within_km_leaves_far_pieces_apart():
    pts, land = two_blobs(30)
    g = build_units(pts, land=land, link_within_km=5.0)  # the blobs are ~33 km apart
    assert (g.edge_kind == "land").all()
    assert g.components(np.arange(g.n_units)) == 2
    assert any("2 pieces left unconnected" in n for n in g.notes)


class FakeRoads:
    def __init__(self, seconds: float, backend: str = "osrm") -> None:
        self.seconds = seconds
        self.backend = backend

    def matrix(self, origins: np.ndarray, destinations: np.ndarray):
        from planner.geo.travel import Matrix

        t = np.full((len(origins), len(destinations)), self.seconds, dtype=np.float32)
        return Matrix(distance_m=t.copy(), time_s=t, backend=self.backend)


def test_travel_backend_confirms_links_by_road():
    pts, land = two_blobs(30)
    road = build_units(pts, land=land, travel=FakeRoads(1800.0))
    assert list(road.edge_kind[road.edge_kind != "land"]) == ["road"]
    assert any("road 30 min" in n for n in road.notes)
    ferry = build_units(pts, land=land, travel=FakeRoads(np.inf))
    assert list(ferry.edge_kind[ferry.edge_kind != "land"]) == ["link"]
    model = build_units(pts, land=land, travel=GreatCircleBackend())
    assert list(model.edge_kind[model.edge_kind != "land"]) == ["link"]
    assert any("no road data" in n for n in model.notes)


def test_barrier_cuts_the_edges_crossing_it():
    rng = np.random.default_rng(2)
    xs = np.concatenate([rng.uniform(LON0 + 0.02, LON0 + 0.45, 80), rng.uniform(LON0 + 0.55, LON0 + 0.98, 80)])
    pts = np.column_stack([xs, rng.uniform(LAT0 + 0.02, LAT0 + 0.98, 160)])
    land = shapely.box(LON0, LAT0, LON0 + 1, LAT0 + 1)
    barrier = shapely.LineString([(LON0 + 0.5, LAT0 - 1), (LON0 + 0.5, LAT0 + 2)])
    free = build_units(pts, land=land)
    cut = build_units(pts, land=land, barriers=barrier)

    def crossing(g: UnitGraph) -> np.ndarray:
        segs = shapely.linestrings(np.stack([g.lonlat[g.edges[:, 0]], g.lonlat[g.edges[:, 1]]], axis=1))
        return shapely.intersects(segs, barrier)

    n_before = int(crossing(free).sum())
    assert n_before >= 5  # without the barrier the cells join across the line
    c = crossing(cut)
    assert c.sum() == 1 and cut.edge_kind[c][0] == "link"  # the halves are joined once, by a link
    assert (cut.edge_kind[~c] == "land").all()
    assert cut.components(np.arange(cut.n_units)) == 1
    assert f"{n_before} edge(s) cut by barriers" in cut.notes
    assert any("across a barrier" in n for n in cut.notes)
    import geopandas as gpd

    as_series = build_units(pts, land=land, barriers=gpd.GeoSeries([barrier], crs="EPSG:4326").to_crs(3857))
    assert np.array_equal(as_series.edges, cut.edges)


def test_barriers_as_geoseries_and_read_from_file(tmp_path):
    import geopandas as gpd

    line = shapely.LineString([(LON0 + 0.5, LAT0 - 1), (LON0 + 0.5, LAT0 + 2)])
    path = tmp_path / "rivers.geojson"
    gpd.GeoSeries([line], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    read = read_barriers(path)
    assert read.crs.to_epsg() == 4326 and len(read) == 1 and read.iloc[0].equals(line)
    poly = tmp_path / "lakes.geojson"
    gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs="EPSG:4326").to_file(poly, driver="GeoJSON")
    with pytest.raises(InputError, match="lakes.geojson.*lines"):
        read_barriers(poly)
    junk = tmp_path / "junk.geojson"
    junk.write_text("not json at all")
    with pytest.raises(InputError, match="junk.geojson"):
        read_barriers(junk)
    with pytest.raises(InputError, match="missing.gpkg"):
        read_barriers(tmp_path / "missing.gpkg")
    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    with pytest.raises(InputError, match="empty.geojson"):
        read_barriers(empty)


def test_province_border_cuts_edges():
    xs, ys = np.meshgrid(np.linspace(116.95, 117.35, 9), np.linspace(23.8, 24.2, 9))
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    prov = admin.locate(pts[:, 0], pts[:, 1])["county_adcode"].str[:2].to_numpy()
    pts = pts[prov != ""]
    prov = prov[prov != ""]
    assert set(prov) == {"35", "44"}  # really both sides of the Fujian/Guangdong border
    g = build_units(pts)
    assert np.array_equal(np.char.add(prov.astype(str), "0000"), g.province[g.unit_of])
    pa, pb = g.province[g.edges[:, 0]], g.province[g.edges[:, 1]]
    across = pa != pb
    pieces = sum(g.components(np.flatnonzero(g.province == p)) for p in ("350000", "440000"))
    assert across.sum() == pieces - 1 >= 1  # a spanning tree of links joins each province's pieces
    assert (g.edge_kind[across] != "land").all()
    assert (g.edge_kind[~across] == "land").all()
    assert g.components(np.arange(g.n_units)) == 1
    assert any("across the Fujian/Guangdong border cut" in n for n in g.notes)
    assert any("across the Fujian/Guangdong border" in n and n.startswith("link") for n in g.notes)


# --- components, co-location, grouping, inputs ---------------------------------------------------


def test_components_counts_pieces_among_members():
    g = UnitGraph(unit_of=np.arange(5), lonlat=np.zeros((5, 2)), xy=np.zeros((5, 2)),
                  edges=np.array([[0, 1], [1, 2], [3, 4]]), edge_kind=np.array(["land"] * 3, dtype=object),
                  polygons=None, province=np.full(5, ""), notes=())
    assert g.components(np.arange(5)) == 2
    assert g.components(np.array([0, 2])) == 2  # 1 is missing: 0 and 2 are apart
    assert g.components(np.array([0, 1, 2])) == 1
    assert g.components(np.array([0, 1, 2, 3])) == 2
    assert g.components(np.array([True, True, False, True, True])) == 2
    assert g.components(np.array([], dtype=int)) == 0
    indptr, indices = g.csr()
    assert list(indices[indptr[1]:indptr[2]]) == [0, 2]


def test_colocated_accounts_share_a_unit():
    pts = np.array([[LON0 + 0.1, LAT0 + 0.1], [LON0 + 0.10002, LAT0 + 0.1],  # ~2 m apart
                    [LON0 + 0.1, LAT0 + 0.10004],  # ~4.5 m
                    [LON0 + 0.3, LAT0 + 0.2], [LON0 + 0.2, LAT0 + 0.4], [LON0 + 0.3, LAT0 + 0.20015]])  # ~17 m
    g = build_units(pts)
    assert g.n_units == 4
    assert g.unit_of[0] == g.unit_of[1] == g.unit_of[2]
    assert len({g.unit_of[3], g.unit_of[4], g.unit_of[5]}) == 3
    assert list(g.weight) == [3, 1, 1, 1]
    assert any("convex hull" in n for n in g.notes)  # no county polygons out there
    assert any("2 account(s) share a point" in n for n in g.notes)
    assert g.components(np.arange(g.n_units)) == 1


def test_grouping_respects_max_units_and_group():
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(LON0, LON0 + 1, 600), rng.uniform(LAT0, LAT0 + 1, 600)])
    owner = rng.choice(np.array(["R1", "R2", "R3"], dtype=object), 600)  # spatially mixed owners
    plain = build_units(pts, max_units=60)
    assert 30 <= plain.n_units <= 60
    g = build_units(pts, max_units=60, group=owner)
    assert 30 <= g.n_units <= 60
    per_unit = pd.Series(owner).groupby(g.unit_of).nunique()
    assert (per_unit == 1).all()  # a unit never mixes two owners
    assert plain.weight.sum() == g.weight.sum() == 600
    assert np.allclose(g.lonlat, pd.DataFrame(pts).groupby(g.unit_of).mean().to_numpy())
    assert g.components(np.arange(g.n_units)) == 1
    assert any("never mixes two provinces or two `group` values" in n for n in g.notes)
    # more group values than max_units: the groups win, and a note says so
    many = build_units(pts, max_units=2, group=owner)
    assert many.n_units == 3
    assert any("cannot be met" in n for n in many.notes)


def test_bad_inputs_are_listed():
    pts = np.array([[LON0, LAT0], [np.nan, LAT0], [LON0, 95.0]])
    with pytest.raises(InputError) as err:
        build_units(pts, max_units=0)
    msg = str(err.value)
    assert "account 1" in msg and "account 2" in msg and "max_units" in msg
    with pytest.raises(InputError, match="group"):
        build_units(pts[:1], group=np.array(["a", "b"]))
