"""The local road engine (planner.geo.roads) on towns made here, checked against shortest paths by hand;
the model's calibration to it (planner.geo.calibrate); the synthetic town (planner.demo.roadnet).

The engine tests run OSRM for real.  Without it they skip, unless ``PLANNER_REQUIRE_ROADS=1``: then they fail.

How the hand computation matches OSRM's stock ``car.lua`` (v26):

* speed by ``highway``: residential 25, secondary 55, primary 65 km/h; ``maxspeed=X`` replaces it by
  0.8 X (``speed_reduction``); segment time = length / speed, lengths on the WGS-84 ellipsoid
  (:func:`planner.demo.roadnet.osrm_distance_m`);
* turns, at a node where more than two road segments meet (``process_turn``): a sigmoid of the angle
  up to ``turn_penalty`` = 7.5 s, skewed by ``turn_bias`` = 1.075 (right turns cheap, left turns dear:
  right-hand traffic), plus ``oncoming_turn_penalty`` = 2 s x a sigmoid for turns across oncoming
  traffic (left turns); straight on costs 0.007 s.  On the grid a right turn costs 2.1 s, a left 7.3 s;
* ``highway=traffic_signals`` on a node: 2 s for every trip through it;
* no u-turns on the way (the queries start and end inside blocks, where both directions are open).

So the test computes fastest paths on the *edge-expanded* graph (one node per directed road segment, one
arc per allowed turn), as OSRM does.  Tolerance 1.5 s per trip: OSRM stores every segment's and every
turn's duration in whole deciseconds and the queries cross up to about 40 of them.
"""

from __future__ import annotations

import gc
import math
import os
import pickle
import signal
import time

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from planner.demo import roadnet
from planner.errors import FileReadError, InputError
from planner.geo import calibrate as cal, roads
from planner.geo.travel import SpeedProfile, TravelBackend, TravelCache, TravelError, haversine_m, travel_matrix

TIME_TOL_S = 1.5
TURN_PENALTY_S, TURN_BIAS, ONCOMING_S, SIGNAL_S = 7.5, 1.075, 2.0, 2.0


# --------------------------------------------------------------------------- #
# The engine, or why not
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def engine() -> roads.Engine:
    try:
        return roads.find_engine()
    except TravelError as exc:
        if os.environ.get("PLANNER_REQUIRE_ROADS") == "1":
            pytest.fail(f"PLANNER_REQUIRE_ROADS=1 but the road engine is missing: {exc}")
        pytest.skip(f"road engine (OSRM) not installed: {exc}")


@pytest.fixture(scope="module")
def town() -> roadnet.RoadNet:
    return roadnet.generate(300, seed=0)


@pytest.fixture(scope="module")
def town_dir(engine, town, tmp_path_factory):
    base = tmp_path_factory.mktemp("town")
    src = town.write(base / "town.osm.pbf")
    roads.build(src, base / "engine", engine=engine)
    return base / "engine"


@pytest.fixture(scope="module")
def backend(town_dir):
    be = roads.LocalRoadsBackend(town_dir)
    yield be
    be.close()


# --------------------------------------------------------------------------- #
# Shortest paths by hand: car.lua's turn costs on the edge-expanded graph
# --------------------------------------------------------------------------- #


def turn_cost_s(angle_deg: float) -> float:
    """car.lua ``process_turn`` for right-hand traffic: angle 0 straight, > 0 right, < 0 left."""
    if angle_deg >= 0:
        return TURN_PENALTY_S / (1 + math.exp(-((13 / TURN_BIAS) * angle_deg / 180 - 6.5 * TURN_BIAS)))
    a = -angle_deg
    cost = TURN_PENALTY_S / (1 + math.exp(-((13 * TURN_BIAS) * a / 180 - 6.5 / TURN_BIAS)))
    return cost + ONCOMING_S / (1 + math.exp(-(13 * a / 180 - 3.25)))


def hand_paths(net: roadnet.RoadNet, sources: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fastest driving time (s) and its length (m) from every source node to every target node (inf: none)."""
    both = ~net.oneway
    du, dv = np.concatenate([net.u, net.v[both]]), np.concatenate([net.v, net.u[both]])
    dt = np.concatenate([net.time_s(), net.time_s()[both]])
    dl = np.concatenate([net.length_m, net.length_m[both]])
    e_count = len(du)
    segments_at = np.bincount(np.concatenate([net.u, net.v]), minlength=net.n_nodes)
    x = np.radians(net.lon - net.lon.mean()) * np.cos(np.radians(net.lat))
    y = np.radians(net.lat)
    signals = set(net.signals.tolist())
    leaving: dict[int, list[int]] = {}
    for e in range(e_count):
        leaving.setdefault(int(du[e]), []).append(e)
    rows, cols, cost = [], [], []
    for e in range(e_count):
        a, b = int(du[e]), int(dv[e])
        for f in leaving.get(b, []):
            c = int(dv[f])
            if c == a:
                continue  # no u-turns
            extra = SIGNAL_S if b in signals else 0.0
            if segments_at[b] > 2:
                cross = (x[b] - x[a]) * (y[c] - y[b]) - (y[b] - y[a]) * (x[c] - x[b])
                dot = (x[b] - x[a]) * (x[c] - x[b]) + (y[b] - y[a]) * (y[c] - y[b])
                extra += turn_cost_s(-math.degrees(math.atan2(cross, dot)))
            rows.append(e), cols.append(f), cost.append(dt[f] + extra)
    for k, s in enumerate(sources):  # one start node per source, into both directions of its road
        for f in leaving.get(int(s), []):
            rows.append(e_count + k), cols.append(f), cost.append(dt[f])
    n = e_count + len(sources)
    graph = sparse.csr_matrix((np.array(cost) + 1e-12, (rows, cols)), shape=(n, n))
    best, pred = dijkstra(graph, indices=np.arange(e_count, n), return_predecessors=True)
    length = np.zeros_like(best)
    for k in range(len(sources)):  # path length: predecessors come earlier in time order
        order = np.argsort(best[k])
        for node in order[np.isfinite(best[k][order])]:
            p = pred[k, node]
            length[k, node] = (length[k, p] if p >= 0 else 0.0) + (dl[node] if node < e_count else 0.0)
    time_s = np.full((len(sources), len(targets)), np.inf)
    dist_m = np.full_like(time_s, np.inf)
    for j, t in enumerate(targets):
        arriving = np.flatnonzero(dv == t)
        pick = arriving[np.argmin(best[:, arriving], axis=1)]
        time_s[:, j] = best[np.arange(len(sources)), pick]
        dist_m[:, j] = np.where(np.isfinite(time_s[:, j]), length[np.arange(len(sources)), pick], np.inf)
    same = sources[:, None] == targets[None, :]
    time_s[same], dist_m[same] = 0.0, 0.0
    return time_s, dist_m


def midpoint_node(net: roadnet.RoadNet, i0: int, j0: int, i1: int, j1: int) -> int:
    """The node half-way between intersections (i0, j0) and (i1, j1) (adjacent on one road)."""
    want = (net.points[net.grid[i0, j0]] + net.points[net.grid[i1, j1]]) / 2
    return int(np.argmin(np.hypot(*(net.points - want).T)))


# --------------------------------------------------------------------------- #
# The engine against the hand computation
# --------------------------------------------------------------------------- #


def test_matrix_matches_fastest_paths_by_hand(backend, town):
    mid = town.midblock()
    pts = town.points[mid]
    m = backend.matrix(pts, pts)
    assert m.backend == "roads" and m.shape == (len(mid), len(mid))
    want_t, want_d = hand_paths(town, mid, mid)
    reach = np.isfinite(want_t)
    np.testing.assert_array_equal(np.isfinite(m.time_s), reach)
    np.testing.assert_array_equal(np.isfinite(m.distance_m), reach)
    assert reach.mean() > 0.8  # the island's few points are the only ones cut off
    err = np.abs(m.time_s[reach] - want_t[reach])
    assert err.max() <= TIME_TOL_S, f"worst {err.max():.2f} s"
    # the lengths of those paths; a few pairs have two equally fast paths (within the rounding) of
    # different lengths, so OSRM may report the other one
    derr = np.abs(m.distance_m[reach] - want_d[reach])
    assert np.mean(derr <= 1.0 + 1e-3 * want_d[reach]) > 0.99
    # without the turn costs the hand computation would be off by several seconds a trip
    no_turns = dijkstra(town.time_graph(), indices=mid)[:, mid]
    assert np.median(m.time_s[reach] - no_turns[reach]) > 3.0


def test_speed_by_road_type_and_maxspeed(backend, town):
    """Straight trips along one road: length / the profile's speed for that road, to the decisecond."""
    r, c = town.grid.shape
    mid_row, art = r // 2, 8
    cases = [  # (from, to, km/h)
        (midpoint_node(town, mid_row, 0, mid_row, 1), midpoint_node(town, mid_row, 2, mid_row, 3), 65.0),  # primary
        (midpoint_node(town, 1, art, 2, art), midpoint_node(town, 3, art, 4, art), 0.8 * 50),  # maxspeed=50
        (midpoint_node(town, 4, 0, 4, 1), midpoint_node(town, 4, 2, 4, 3), 0.8 * 30),  # residential maxspeed=30
        (midpoint_node(town, 3, 0, 3, 1), midpoint_node(town, 3, 2, 3, 3), 25.0),  # residential
    ]
    for a, b, kmh in cases:
        m = backend.matrix(town.points[[a]], town.points[[b]])
        dist = float(m.distance_m[0, 0])
        assert dist == pytest.approx(2 * town.spacing_m, rel=0.01)
        assert float(m.time_s[0, 0]) == pytest.approx(dist / (kmh / 3.6), abs=0.3), kmh


def test_river_detour(backend, town):
    """Facing each other across the river in the middle of town: far apart by road, close in a straight line."""
    west, east = town.river_cols
    row = town.grid.shape[0] // 2 - 1
    a, b = midpoint_node(town, row, west, row + 1, west), midpoint_node(town, row, east, row + 1, east)
    straight = float(roadnet.osrm_distance_m(*town.points[a], *town.points[b]))
    m = backend.matrix(town.points[[a, b]], town.points[[a, b]])
    want_t, want_d = hand_paths(town, np.array([a, b]), np.array([a, b]))
    assert m.distance_m[0, 1] > 4 * straight
    assert abs(m.time_s[0, 1] - want_t[0, 1]) <= TIME_TOL_S
    assert m.distance_m[0, 1] == pytest.approx(want_d[0, 1], abs=2.0)
    model = travel_matrix(town.points[[a, b]]).time_s  # the built-in model has no idea
    assert m.time_s[0, 1] > 3 * (model[0, 1] - SpeedProfile().stop_overhead_s)


def test_one_way_street(backend, town):
    """Row 2 runs east only: west -> east along it, east -> west around the block."""
    a, b = midpoint_node(town, 2, 0, 2, 1), midpoint_node(town, 2, 2, 2, 3)
    m = backend.matrix(town.points[[a, b]], town.points[[a, b]])
    want_t, _ = hand_paths(town, np.array([a, b]), np.array([a, b]))
    assert m.time_s[1, 0] > m.time_s[0, 1] + 30
    np.testing.assert_allclose(m.time_s, want_t, atol=TIME_TOL_S)


def test_island_is_unreachable(backend, town):
    island = town.island[-1]  # a node inside the loop road's first block
    town_pts = town.points[town.midblock()[:5]]
    m = backend.matrix(town.points[[island]], town_pts)
    assert np.isinf(m.time_s).all() and np.isinf(m.distance_m).all()
    back = backend.matrix(town_pts, town.points[[island]])
    assert len(back.unreachable) == 5 and "5 unreachable pairs" in back.describe_unreachable()


# --------------------------------------------------------------------------- #
# The server's life
# --------------------------------------------------------------------------- #


def _gone(pid: int, within_s: float = 5.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_server_stops_on_close_and_restarts_when_killed(town_dir, town):
    pts = town.points[town.midblock()[:4]]
    be = roads.LocalRoadsBackend(town_dir)
    assert isinstance(be, TravelBackend) and not be.running and be.server_pid is None
    with be:
        first = be.matrix(pts, pts)
        pid = be.server_pid
        assert pid and be.running and be.base_url.startswith("http://127.0.0.1:")
        os.kill(pid, signal.SIGKILL)  # the server dies: the next matrix starts another one
        end = time.monotonic() + 5
        while be.running and time.monotonic() < end:
            time.sleep(0.05)
        assert not be.running and _gone(pid)
        again = be.matrix(pts, pts)
        np.testing.assert_array_equal(first.time_s, again.time_s)
        pid2 = be.server_pid
        assert pid2 and pid2 != pid
    assert not be.running and _gone(pid2)
    copy = pickle.loads(pickle.dumps(be))  # settings only: the copy starts its own server when used
    assert copy.cache_key() == be.cache_key() and not copy.running
    del copy


def test_server_stops_when_the_backend_is_collected(town_dir, town):
    be = roads.LocalRoadsBackend(town_dir)
    be.start()
    pid = be.server_pid
    del be
    gc.collect()
    assert _gone(pid)


def test_describe_and_info(backend, town_dir, town):
    d = backend.describe()
    assert d["backend"] == "roads" and d["profile"] == "car" and d["source"] == "town.osm.pbf"
    info = roads.read_info(town_dir)
    assert info.nodes == len(np.unique(np.concatenate([town.u, town.v])))
    assert info.edges == len(town.u)
    used = np.unique(np.concatenate([town.u, town.v]))
    lo, la = town.lon[used], town.lat[used]
    assert info.bbox == pytest.approx((lo.min(), la.min(), lo.max(), la.max()), abs=2e-6)
    assert "town.osm.pbf" in info.describe()


# --------------------------------------------------------------------------- #
# Building: all or nothing
# --------------------------------------------------------------------------- #


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".building-" in p.name or ".old-" in p.name)


def test_rebuild_replaces_the_engine_and_changes_the_cache_key(engine, tmp_path):
    small = roadnet.generate(120, seed=1)
    small.write(tmp_path / "a.osm")
    info_a = roads.build(tmp_path / "a.osm", tmp_path / "eng", engine=engine)  # XML works too
    key_a = roads.LocalRoadsBackend(tmp_path / "eng").cache_key()
    changed = roadnet.generate(120, seed=1, drop=0.2)
    changed.write(tmp_path / "b.osm.pbf")
    info_b = roads.build(tmp_path / "b.osm.pbf", tmp_path / "eng", engine=engine)
    be = roads.LocalRoadsBackend(tmp_path / "eng")
    assert be.cache_key() != key_a and info_b.source_sha256 != info_a.source_sha256
    assert roads.read_info(tmp_path / "eng").source_name == "b.osm.pbf"
    cache = TravelCache()
    pts = changed.points[changed.midblock()[:3]]
    with be:
        travel_matrix(pts, backend=be, cache=cache)
        travel_matrix(pts, backend=be, cache=cache)
    assert cache.hits == 1 and _leftovers(tmp_path) == []


def test_broken_file_raises_and_leaves_nothing(engine, tmp_path):
    bad = tmp_path / "broken.osm.pbf"
    bad.write_bytes(b"this is not a protobuf file" * 100)
    with pytest.raises(TravelError, match="osrm-extract failed") as err:
        roads.build(bad, tmp_path / "eng", engine=engine)
    assert "PBF" in str(err.value) or "pbf" in str(err.value)  # the tail of the tool's stderr
    assert not (tmp_path / "eng").exists() and _leftovers(tmp_path) == []
    # a failing rebuild keeps the engine that was there
    roadnet.generate(60, seed=2).write(tmp_path / "ok.osm")
    roads.build(tmp_path / "ok.osm", tmp_path / "eng", engine=engine)
    before = roads.read_info(tmp_path / "eng")
    (tmp_path / "truncated.osm").write_text("<?xml version='1.0'?>\n<osm version=\"0.6\">\n  <node id=\"1\" lat=")
    with pytest.raises(TravelError):
        roads.build(tmp_path / "truncated.osm", tmp_path / "eng", engine=engine)
    assert roads.read_info(tmp_path / "eng") == before and _leftovers(tmp_path) == []


def test_build_refuses_what_it_must_not_touch(engine, tmp_path):
    roadnet.generate(60).write(tmp_path / "t.osm")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(TravelError, match="not a road engine folder"):
        roads.build(tmp_path / "t.osm", precious, engine=engine)
    assert (precious / "notes.txt").read_text() == "mine"
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(TravelError, match="not an OpenStreetMap file"):
        roads.build(tmp_path / "t.txt", tmp_path / "e", engine=engine)
    with pytest.raises(TravelError, match="no such file"):
        roads.build(tmp_path / "missing.osm.pbf", tmp_path / "e", engine=engine)
    with pytest.raises(TravelError, match="no such file"):
        roads.build(tmp_path / "t.osm", tmp_path / "e", profile=str(tmp_path / "nope.lua"), engine=engine)
    with pytest.raises(TravelError, match="not a folder made by planner roads build"):
        roads.LocalRoadsBackend(precious)


def test_find_engine_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv(roads.BIN_ENV, str(tmp_path))
    with pytest.raises(TravelError, match=r"pip install 'planner\[roads\]'.*PLANNER_OSRM_BIN"):
        roads.find_engine()


# --------------------------------------------------------------------------- #
# Calibration
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def city(engine, tmp_path_factory):
    """A larger grid-ish town (jittered, a few blocks missing) and its engine."""
    net = roadnet.generate(1500, seed=3, jitter_m=30.0, drop=0.1, spacing_m=250.0)
    base = tmp_path_factory.mktemp("city")
    roads.build(net.write(base / "city.osm.pbf"), base / "engine", engine=engine)
    return net, base / "engine"


def test_calibrate_on_engine_times_lowers_the_error(city):
    net, folder = city
    rng = np.random.default_rng(0)
    pts = net.points[rng.choice(net.midblock(), 400, replace=False)]
    i, j = cal.sample_pairs(pts, 300, seed=0)
    iu, ii = np.unique(i, return_inverse=True)
    ju, jj = np.unique(j, return_inverse=True)
    with roads.LocalRoadsBackend(folder) as be:
        m = be.matrix(pts[iu], pts[ju])
    t, d = m.time_s[ii, jj].astype(float), m.distance_m[ii, jj].astype(float)
    result = cal.calibrate(pts[i], pts[j], t, d, start=SpeedProfile())
    assert result.pairs_used + result.pairs_left_out == len(i)
    assert result.after.median_min < result.before.median_min
    assert result.after.p90_min < result.before.p90_min
    assert result.profile.stop_overhead_s == SpeedProfile().stop_overhead_s
    assert 1.0 <= result.profile.detour_factor <= 2.0
    assert "before" in result.describe() and result.meta()["after"]["median_min"] == result.after.median_min


def test_calibrate_recovers_a_known_profile():
    rng = np.random.default_rng(1)
    o = np.column_stack([rng.uniform(118.0, 119.0, 600), rng.uniform(24.5, 25.5, 600)])
    d = np.column_stack([rng.uniform(118.0, 119.0, 600), rng.uniform(24.5, 25.5, 600)])
    true = SpeedProfile(detour_factor=1.4, urban_speed_kmh=22.0, urban_radius_m=6000.0, suburban_speed_kmh=55.0,
                        stop_overhead_s=0.0)
    gc = haversine_m(o, d)
    road_m = gc * true.detour_factor
    road_s = true.time_s(road_m)
    road_s[:7] = np.inf  # unreachable
    road_m[:7] = np.inf
    road_s[7:10] = 0.0  # snapped onto one spot
    res = cal.calibrate(o, d, road_s, road_m, start=SpeedProfile())
    assert res.pairs_left_out == 10 and res.unreachable == 7 and res.zero == 3
    p = res.profile
    assert p.detour_factor == pytest.approx(1.4, abs=1e-3)
    assert p.urban_speed_kmh == pytest.approx(22.0, rel=0.02)
    assert p.suburban_speed_kmh == pytest.approx(55.0, rel=0.02)
    assert p.urban_radius_m == pytest.approx(6000.0, rel=0.05)
    assert p.stop_overhead_s == 300.0 and res.after.p90_min < 0.05 < res.before.median_min
    with pytest.raises(ValueError, match="one length"):
        cal.calibrate(o, d[:5], road_s, road_m)
    with pytest.raises(ValueError, match="usable pairs"):
        cal.calibrate(o[:8], d[:8], road_s[:8], road_m[:8])


def test_sample_pairs_is_stratified_and_seeded():
    rng = np.random.default_rng(2)
    towns = np.array([[118.6, 24.9], [118.1, 24.5], [119.3, 26.1]])
    pts = np.vstack([t + rng.normal(0, 0.02, (300, 2)) for t in towns])
    i, j = cal.sample_pairs(pts, 300, seed=5)
    assert len(i) == 300 and (i != j).all()
    assert len({(a, b) for a, b in zip(i.tolist(), j.tolist())} | {(b, a) for a, b in zip(i.tolist(), j.tolist())}) \
        == 600  # each pair once
    km = haversine_m(pts[i], pts[j]) / 1000
    # three towns 2 km across, 70-200 km apart: next door, across town and between towns, a third each
    assert (km < 1.5).sum() >= 80 and ((km > 1.5) & (km < 20)).sum() >= 80 and (km > 60).sum() >= 80
    i2, j2 = cal.sample_pairs(pts, 300, seed=5)
    np.testing.assert_array_equal(i, i2), np.testing.assert_array_equal(j, j2)
    few_i, few_j = cal.sample_pairs(pts[:4], 50, seed=0)
    assert len(few_i) == 6  # every pair of 4 places
    with pytest.raises(ValueError, match="two distinct"):
        cal.sample_pairs(np.array([[118.0, 24.0]] * 3), 10)


def test_profile_save_and_load(tmp_path):
    p = SpeedProfile(detour_factor=1.25, urban_speed_kmh=21.5, urban_radius_m=5000.0, suburban_speed_kmh=52.0)
    path = cal.save_profile(p, tmp_path / "sub" / "travel_profile.json", meta={"median": np.float32(1.5)})
    assert cal.load_profile(path) == p
    assert [f.name for f in tmp_path.joinpath("sub").iterdir()] == ["travel_profile.json"]
    from planner.geo import backends

    assert backends.load_profile(path)[0] == p  # the workspace reads the same file
    text = path.read_text().replace('"urban_speed_kmh": 21.5', '"urban_speed_kmh": -3').replace(
        '"detour_factor": 1.25', '"detour_factor": 1.25, "speed": 1')
    path.write_text(text)
    with pytest.raises(InputError, match=r"travel_profile.json, field 'urban_speed_kmh'") as err:
        cal.load_profile(path)
    assert "field 'speed': unknown" in str(err.value)
    path.write_text("{not json")
    with pytest.raises(FileReadError, match="travel_profile.json: not a readable JSON"):
        cal.load_profile(path)
    with pytest.raises(FileReadError, match="no such file"):
        cal.load_profile(tmp_path / "none.json")


def test_roadnet_writes_both_formats(tmp_path):
    net = roadnet.generate(200, seed=4, jitter_m=20.0, drop=0.1)
    xml = net.write(tmp_path / "t.osm")
    assert xml.read_text().count("<way ") == len(net.ways)
    pytest.importorskip("osmium")
    import osmium

    pbf = net.write(tmp_path / "t.osm.pbf")
    ways = sum(1 for obj in osmium.FileProcessor(str(pbf)) if obj.is_way())
    assert ways == len(net.ways)
    with pytest.raises(ValueError, match=r"\.osm or \.osm\.pbf"):
        net.write(tmp_path / "t.geojson")
