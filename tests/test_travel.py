"""Tests for planner.travel: geometry, speed model, backends, cache, validation."""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from planner.geo.travel import (
    EARTH_RADIUS_M,
    GreatCircleBackend,
    Matrix,
    OSRMBackend,
    SpeedProfile,
    TravelBackend,
    TravelCache,
    TravelError,
    TravelWarning,
    haversine_m,
    haversine_matrix_m,
    nearest,
    travel_matrix,
    validate_coords,
)

XIAMEN = (118.0894, 24.4798)
QUANZHOU = (118.6759, 24.8741)
FUZHOU = (119.2965, 26.0745)


def fujian_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(116, 120, n), rng.uniform(23.5, 28, n)])


# --------------------------------------------------------------------------- #
# Geometry
# --------------------------------------------------------------------------- #


def test_haversine_known_distances():
    d = haversine_m(np.array([XIAMEN]), np.array([QUANZHOU]))
    assert d.shape == (1,)
    assert 73_000 < d[0] < 74_000
    # 1 degree of longitude on the equator = 2 pi R / 360 = 111.195 km
    eq = haversine_m(np.array([[0.0, 0.0], [100.0, 0.0]]), np.array([[1.0, 0.0], [101.0, 0.0]]))
    np.testing.assert_allclose(eq, 111_195.0, atol=10.0)
    # quarter meridian
    pole = haversine_m(np.array([[10.0, 0.0]]), np.array([[10.0, 90.0]]))
    np.testing.assert_allclose(pole, np.pi / 2 * EARTH_RADIUS_M, rtol=1e-12)
    # date line: 179.5E to 179.5W is 1 degree apart, not 359
    dl = haversine_m(np.array([[179.5, 0.0]]), np.array([[-179.5, 0.0]]))
    np.testing.assert_allclose(dl, 111_195.0, atol=10.0)


def test_haversine_single_point_broadcasts_and_length_mismatch_fails():
    pts = np.array([XIAMEN, QUANZHOU, FUZHOU])
    d = haversine_m(np.array(XIAMEN), pts)
    assert d.shape == (3,)
    assert d[0] == 0.0 and 73_000 < d[1] < 74_000
    with pytest.raises(ValueError, match="same length"):
        haversine_m(pts[:2], pts)


def test_haversine_matrix_matches_pairwise():
    a, b = fujian_points(7, 1), fujian_points(5, 2)
    mat = haversine_matrix_m(a, b)
    ref = np.array([[haversine_m(a[i], b[j])[0] for j in range(5)] for i in range(7)])
    np.testing.assert_allclose(mat, ref, rtol=1e-9, atol=1e-6)


def test_haversine_matrix_accurate_for_close_points():
    # 1 cm apart: the product form must not lose precision the way 1 - cos would
    a = np.array([[118.0, 24.5]])
    b = np.array([[118.0, 24.5 + 1e-7]])
    np.testing.assert_allclose(haversine_matrix_m(a, b), haversine_m(a, b)[:, None], rtol=1e-6)
    assert 0.0105 < haversine_matrix_m(a, b)[0, 0] < 0.0118


# --------------------------------------------------------------------------- #
# Speed profile
# --------------------------------------------------------------------------- #


def test_speed_profile_formula():
    p = SpeedProfile()
    t = p.time_s(np.array([0.0, 1000.0, 8000.0, 18000.0]))
    # 25 km/h = 0.144 s/m, 60 km/h = 0.06 s/m, +300 s overhead
    np.testing.assert_allclose(t, [0.0, 444.0, 300 + 1152.0, 300 + 1152.0 + 600.0])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"detour_factor": 0.9}, "detour_factor"),
        ({"urban_speed_kmh": 0}, "urban_speed_kmh"),
        ({"suburban_speed_kmh": -5}, "suburban_speed_kmh"),
        ({"urban_radius_m": -1}, "urban_radius_m"),
        ({"stop_overhead_s": float("nan")}, "stop_overhead_s"),
        ({"urban_speed_kmh": "fast"}, "urban_speed_kmh"),
    ],
)
def test_speed_profile_validation_names_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SpeedProfile(**kwargs)


def test_backend_and_matrix_validation():
    with pytest.raises(ValueError, match="chunk_rows"):
        GreatCircleBackend(chunk_rows=0)
    with pytest.raises(ValueError, match="profile"):
        GreatCircleBackend(profile="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float32"):
        Matrix(np.zeros((2, 2)), np.zeros((2, 2), np.float32), "x")
    with pytest.raises(ValueError, match="shape"):
        Matrix(np.zeros((2, 2), np.float32), np.zeros((2, 3), np.float32), "x")
    with pytest.raises(ValueError, match="base_url"):
        OSRMBackend("localhost:5000")
    with pytest.raises(ValueError, match="max_table_size"):
        OSRMBackend("http://x", max_table_size=1)
    with pytest.raises(ValueError, match="timeout_s"):
        OSRMBackend("http://x", timeout_s=0)


@settings(max_examples=200, deadline=None)
@given(
    d1=st.floats(0, 3e6),
    d2=st.floats(0, 3e6),
    urban=st.floats(1, 100),
    suburban=st.floats(1, 150),
    radius=st.floats(0, 50_000),
)
def test_time_monotone_in_distance(d1, d2, urban, suburban, radius):
    p = SpeedProfile(urban_speed_kmh=urban, suburban_speed_kmh=suburban, urban_radius_m=radius)
    lo, hi = sorted((d1, d2))
    t_lo, t_hi = p.time_s(np.array([lo, hi]))
    assert t_lo <= t_hi
    if lo > 0:
        assert t_lo >= p.stop_overhead_s


# --------------------------------------------------------------------------- #
# Great-circle backend
# --------------------------------------------------------------------------- #


def test_great_circle_matrix_properties():
    pts = fujian_points(300)
    m = travel_matrix(pts)
    assert m.backend == "great_circle"
    assert m.distance_m.dtype == np.float32 and m.time_s.dtype == np.float32
    assert m.shape == (300, 300)
    assert np.all(np.diag(m.distance_m) == 0) and np.all(np.diag(m.time_s) == 0)
    np.testing.assert_array_equal(m.distance_m, m.distance_m.T)
    np.testing.assert_array_equal(m.time_s, m.time_s.T)
    off = ~np.eye(300, dtype=bool)
    assert np.all(m.time_s[off] >= 300.0)
    # time is monotone in distance over the whole matrix
    order = np.argsort(m.distance_m, axis=None, kind="stable")
    t_sorted = m.time_s.ravel()[order].astype(np.float64)
    assert np.all(np.diff(t_sorted) >= -2 * np.spacing(np.float32(t_sorted[1:])))
    # distance = great circle x detour
    np.testing.assert_allclose(m.distance_m, haversine_matrix_m(pts, pts) * 1.3, rtol=1e-6)


def test_xiamen_quanzhou_through_default_backend():
    m = travel_matrix(np.array([XIAMEN]), np.array([QUANZHOU]))
    d = float(m.distance_m[0, 0])
    assert 1.3 * 73_000 < d < 1.3 * 74_000
    expected_t = 300 + 8000 * 3.6 / 25 + (d - 8000) * 3.6 / 60
    assert m.time_s[0, 0] == pytest.approx(expected_t, rel=1e-5)


def test_chunking_is_bit_identical():
    a, b = fujian_points(53, 3), fujian_points(31, 4)
    whole = GreatCircleBackend(chunk_rows=1000).matrix(a, b)
    for rows in (1, 7, 52):
        part = GreatCircleBackend(chunk_rows=rows).matrix(a, b)
        np.testing.assert_array_equal(part.distance_m, whole.distance_m)
        np.testing.assert_array_equal(part.time_s, whole.time_s)


def test_out_memmap(tmp_path):
    a, b = fujian_points(40, 5), fujian_points(25, 6)
    dist = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=(40, 25))
    time = np.lib.format.open_memmap(
        tmp_path / "t.npy", mode="w+", dtype=np.float32, shape=(40, 25)
    )
    m = GreatCircleBackend(chunk_rows=6).matrix(a, b, out_distance=dist, out_time=time)
    assert m.distance_m is dist and m.time_s is time
    dist.flush()
    time.flush()
    ref = travel_matrix(a, b)
    np.testing.assert_array_equal(
        np.fromfile(tmp_path / "d.f32", dtype=np.float32).reshape(40, 25), ref.distance_m
    )
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), ref.time_s)
    with pytest.raises(ValueError, match="out_time"):
        GreatCircleBackend().matrix(a, b, out_time=np.empty((40, 25)))  # float64
    with pytest.raises(ValueError, match="out_distance"):
        GreatCircleBackend().matrix(a, b, out_distance=np.empty((25, 40), np.float32))


def test_empty_inputs():
    m = travel_matrix(np.empty((0, 2)), fujian_points(3))
    assert m.shape == (0, 3)


region = st.tuples(st.floats(60, 150), st.floats(-10, 60))


@settings(max_examples=200, deadline=None)
@given(a=region, b=region, c=region)
def test_triangle_inequality(a, b, c):
    pts = np.array([a, b, c], dtype=np.float64)
    # float64 pairwise geometry: exact to well under a millimetre
    d_ab, d_bc, d_ac = haversine_m(pts[[0, 1, 0]], pts[[1, 2, 2]])
    assert d_ac <= d_ab + d_bc + 1e-3
    # backend (detour is a constant factor); allow float32 rounding of the stored values
    m = travel_matrix(pts).distance_m.astype(np.float64)
    slack = 1e-3 + 3 * float(np.spacing(np.float32(m.max())))
    for i, j, k in [(0, 1, 2), (1, 0, 2), (0, 2, 1)]:
        assert m[i, k] <= m[i, j] + m[j, k] + slack
    np.testing.assert_array_equal(m, m.T)


# --------------------------------------------------------------------------- #
# Input validation
# --------------------------------------------------------------------------- #


def test_validation_names_problem_and_row():
    pts = fujian_points(6)
    bad = pts.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match=r"origins row 3: non-finite"):
        travel_matrix(bad)
    bad = pts.copy()
    bad[4, 1] = 95.0
    with pytest.raises(ValueError, match=r"destinations row 4: latitude 95.0"):
        travel_matrix(pts, bad)
    bad = pts.copy()
    bad[2, 0] = -181.0
    with pytest.raises(ValueError, match=r"origins row 2: longitude"):
        travel_matrix(bad)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        travel_matrix(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="origins"):
        travel_matrix([["a", "b"]])
    # (lat, lon) swapped: latitude 118 is caught with a hint about column order
    with pytest.raises(ValueError, match=r"row 0: latitude 118.*\(lon, lat\)"):
        travel_matrix(pts[:, ::-1])
    with pytest.raises(ValueError, match=r"row 1"):
        nearest(pts, np.array([[118.0, 24.0], [np.inf, 24.0]]))


def test_validate_coords_returns_contiguous_float64():
    out = validate_coords([[118, 24], [119, 25]])
    assert out.dtype == np.float64 and out.flags.c_contiguous and out.shape == (2, 2)
    assert validate_coords(np.array(XIAMEN)).shape == (1, 2)


# --------------------------------------------------------------------------- #
# nearest
# --------------------------------------------------------------------------- #


def test_nearest_matches_full_matrix():
    o, d = fujian_points(500, 7), fujian_points(37, 8)
    idx, t = nearest(o, d, chunk_cells=37 * 9)  # many chunks
    full = travel_matrix(o, d).time_s
    np.testing.assert_array_equal(idx, np.argmin(full, axis=1))
    np.testing.assert_array_equal(t, full.min(axis=1))
    assert idx.dtype == np.int64 and t.dtype == np.float32
    # an origin sitting on a destination is at time 0
    idx2, t2 = nearest(d[[5, 20]], d)
    np.testing.assert_array_equal(idx2, [5, 20])
    np.testing.assert_array_equal(t2, [0.0, 0.0])


def test_nearest_requires_destinations():
    with pytest.raises(ValueError, match="destination"):
        nearest(fujian_points(3), np.empty((0, 2)))


# --------------------------------------------------------------------------- #
# Cache
# --------------------------------------------------------------------------- #


def test_cache_hit_miss_and_lru():
    cache = TravelCache(max_entries=2)
    a, b = fujian_points(20, 1), fujian_points(20, 2)
    m1 = travel_matrix(a, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    m2 = travel_matrix(a.copy(), cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    assert m2 is m1
    np.testing.assert_array_equal(m2.distance_m, m1.distance_m)
    assert not m2.distance_m.flags.writeable  # cached arrays are protected
    # different points, different shape split, different backend parameters: misses
    travel_matrix(b, cache=cache)
    travel_matrix(a[:10], a[10:], cache=cache)
    travel_matrix(a, backend=GreatCircleBackend(SpeedProfile(detour_factor=1.5)), cache=cache)
    assert (cache.hits, cache.misses) == (1, 4)
    assert len(cache) == 2
    # a was evicted (LRU, max 2) -> miss again
    travel_matrix(a, cache=cache)
    assert cache.misses == 5
    # chunk size does not change the key
    travel_matrix(a, backend=GreatCircleBackend(chunk_rows=3), cache=cache)
    assert cache.hits == 2


def test_cache_key_distinguishes_origin_destination_split():
    a = fujian_points(6)
    be = GreatCircleBackend()
    assert TravelCache.key(a[:2], a[2:], be) != TravelCache.key(a[:4], a[4:], be)
    assert TravelCache.key(a, a, be) == TravelCache.key(a.copy(order="F"), a.tolist(), be)
    other = GreatCircleBackend(SpeedProfile(stop_overhead_s=0))
    assert TravelCache.key(a, a, be) != TravelCache.key(a, a, other)


def test_cache_disk_reload(tmp_path):
    a = fujian_points(30, 9)
    first = TravelCache(directory=tmp_path / "cache")
    m1 = travel_matrix(a, cache=first)
    files = list((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 1 and len(files[0].stem) == 40
    second = TravelCache(directory=tmp_path / "cache")
    m2 = travel_matrix(a, cache=second)
    assert (second.hits, second.misses) == (1, 0)
    assert m2 is not m1
    np.testing.assert_array_equal(m2.distance_m, m1.distance_m)
    np.testing.assert_array_equal(m2.time_s, m1.time_s)
    assert m2.backend == "great_circle" and m2.distance_m.dtype == np.float32
    # a corrupt file is treated as a miss and overwritten
    files[0].write_bytes(b"not a zip")
    third = TravelCache(directory=tmp_path / "cache")
    m3 = travel_matrix(a, cache=third)
    assert (third.hits, third.misses) == (0, 1)
    np.testing.assert_array_equal(m3.time_s, m1.time_s)
    assert TravelCache(directory=tmp_path / "cache").get(files[0].stem) is not None


def test_cache_validation():
    with pytest.raises(ValueError, match="max_entries"):
        TravelCache(max_entries=0)


# --------------------------------------------------------------------------- #
# OSRM against a real local HTTP server
# --------------------------------------------------------------------------- #


def fake_distance_m(p, q) -> float:
    """'Manhattan' metres between two (lon, lat) points."""
    return round(abs(p[0] - q[0]) * 111_320.0 + abs(p[1] - q[1]) * 110_540.0, 1)


def unreachable(p) -> bool:
    return p[1] < -60.0  # "Antarctica" is not connected to the road graph


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()  # NaN and inf become the non-standard NaN/Infinity
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (deadline): nothing to answer
            self.close_connection = True

    def _drip(self, whole: bool) -> None:
        """A 200 reply sent one byte every 0.3 s: the status line and headers too when ``whole``."""
        body = json.dumps({"code": "Ok", "durations": [[0.0]], "distances": [[0.0]]}).encode()
        body += b" " * 100
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(body)
        self.close_connection = True
        try:
            if not whole:
                self.wfile.write(head)
            for i, byte in enumerate(head + body if whole else body):
                if i >= 40:  # 12 s at most, whatever the client does
                    return
                time.sleep(0.3)
                self.wfile.write(bytes([byte]))
        except OSError:  # the client hung up: the point of the test
            return

    def _scripted(self, state: dict) -> bool:
        """Play the next scripted action, if any; True when it answered the request."""
        with state["lock"]:
            action = state["script"].pop(0) if state["script"] else "ok"
        if action == "ok":
            return False
        if action == "reset":  # close the connection without a reply
            self.close_connection = True
        elif isinstance(action, int):
            self._reply(action, {"code": "InternalError", "message": f"scripted {action}"})
        elif isinstance(action, dict):
            self._reply(200, action)
        else:
            self._drip(whole=action == "drip_head")
        return True

    def do_GET(self):
        state = self.server.state  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        prefix = "/table/v1/driving/"
        if not parts.path.startswith(prefix):
            return self._reply(400, {"code": "InvalidUrl", "message": "URL string malformed"})
        raw = unquote(parts.path[len(prefix) :])
        coords = [tuple(map(float, c.split(","))) for c in raw.split(";")]
        query = dict(kv.split("=", 1) for kv in parts.query.split("&"))
        sources = [int(i) for i in query["sources"].split(";")]
        dests = [int(i) for i in query["destinations"].split(";")]
        with state["lock"]:
            state["requests"].append((len(sources), len(dests), len(coords)))
        if state["delay_s"]:
            time.sleep(state["delay_s"])
        if self._scripted(state):
            return None
        if state["mode"] == "error500":
            return self._reply(500, {"code": "InternalError", "message": "always failing"})
        if state["mode"] == "invalid":
            return self._reply(
                400,
                {"code": "InvalidQuery", "message": "Query string malformed close to position 7"},
            )
        if state["mode"] == "nocode":
            return self._reply(200, {"code": "NoTable", "message": "No table found"})
        if state["mode"] == "old":
            durations = [[0.0] * len(dests)] * len(sources)
            return self._reply(200, {"code": "Ok", "durations": durations})
        if len(coords) > state["server_max"]:
            return self._reply(400, {"code": "TooBig", "message": "Too many table coordinates"})
        assert query["annotations"] == "duration,distance"
        dist, dur = [], []
        for s in sources:
            row_d, row_t = [], []
            for d in dests:
                p, q = coords[s], coords[d]
                if unreachable(p) != unreachable(q):
                    row_d.append(None)
                    row_t.append(None)
                else:
                    m = fake_distance_m(p, q)
                    row_d.append(m)
                    row_t.append(round(m / 10.0, 1))
            dist.append(row_d)
            dur.append(row_t)
        return self._reply(200, {"code": "Ok", "durations": dur, "distances": dist})


@pytest.fixture
def osrm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = {  # type: ignore[attr-defined]
        "mode": "ok",
        "requests": [],
        "lock": threading.Lock(),
        "server_max": 10_000,
        "script": [],  # one action per request before "mode" applies: see _Handler._scripted
        "delay_s": 0.0,  # sleep before answering each request
    }
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", server.state  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def expected_osrm(o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist = np.empty((len(o), len(d)))
    for i, p in enumerate(o):
        for j, q in enumerate(d):
            dist[i, j] = np.inf if unreachable(p) != unreachable(q) else fake_distance_m(p, q)
    return dist, np.vectorize(lambda x: round(x / 10.0, 1))(dist)


def osrm_points(n: int, seed: int) -> np.ndarray:
    return np.round(fujian_points(n, seed), 6)


def test_osrm_single_request(osrm_server):
    url, state = osrm_server
    o, d = osrm_points(4, 1), osrm_points(3, 2)
    backend = OSRMBackend(url + "/")
    assert isinstance(backend, TravelBackend)
    m = travel_matrix(o, d, backend=backend)
    assert m.backend == "osrm" and m.shape == (4, 3) and m.time_s.dtype == np.float32
    exp_d, exp_t = expected_osrm(o, d)
    np.testing.assert_allclose(m.distance_m, exp_d, rtol=1e-6)
    np.testing.assert_allclose(m.time_s, exp_t, rtol=1e-6)
    assert state["requests"] == [(4, 3, 7)]


def test_osrm_splits_large_requests(osrm_server):
    url, state = osrm_server
    state["server_max"] = 10
    o, d = osrm_points(23, 3), osrm_points(17, 4)
    m = OSRMBackend(url, max_table_size=10).matrix(o, d)
    exp_d, exp_t = expected_osrm(o, d)
    np.testing.assert_allclose(m.distance_m, exp_d, rtol=1e-6)
    np.testing.assert_allclose(m.time_s, exp_t, rtol=1e-6)
    reqs = state["requests"]
    assert len(reqs) > 1
    assert all(total <= 10 for _, _, total in reqs)
    assert sum(s * t for s, t, _ in reqs) == 23 * 17  # every cell asked exactly once


def test_osrm_null_is_inf_and_nearest(osrm_server):
    url, _ = osrm_server
    o = np.array([[118.1, 24.5], [10.0, -75.0], [118.7, 24.9]])
    d = np.array([[118.0, 24.4], [118.6, 24.8], [20.0, -70.0]])
    backend = OSRMBackend(url)
    m = travel_matrix(o, d, backend=backend)
    assert np.isinf(m.time_s[0, 2]) and np.isinf(m.distance_m[1, 0])
    assert np.isfinite(m.time_s[1, 2])
    exp_d, exp_t = expected_osrm(o, d)
    np.testing.assert_allclose(m.time_s, exp_t, rtol=1e-6)
    idx, t = nearest(o, d[:2], backend=backend)
    np.testing.assert_array_equal(idx, [0, -1, 1])  # origin 1 reaches nothing
    assert np.isinf(t[1]) and np.isfinite(t[[0, 2]]).all()


def test_osrm_stop_overhead(osrm_server):
    url, _ = osrm_server
    o = osrm_points(3, 5)
    plain = OSRMBackend(url).matrix(o, o)
    padded = OSRMBackend(url, stop_overhead_s=120).matrix(o, o)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(padded.time_s[off], plain.time_s[off] + 120, rtol=1e-6)
    np.testing.assert_array_equal(np.diag(padded.time_s), 0)
    assert OSRMBackend(url).cache_key() != OSRMBackend(url, stop_overhead_s=120).cache_key()


@pytest.mark.parametrize(
    "mode, pattern",
    [
        ("invalid", r"HTTP 400.*InvalidQuery.*malformed close to position 7"),
        ("nocode", r"code 'NoTable': No table found"),
        ("old", r"no 'distances'"),
    ],
)
def test_osrm_error_replies(osrm_server, mode, pattern):
    url, state = osrm_server
    state["mode"] = mode
    with pytest.raises(TravelError, match=pattern) as info:
        OSRMBackend(url).matrix(osrm_points(2, 1), osrm_points(2, 2))
    msg = str(info.value)
    assert f"{url}/table/v1/driving" in msg and "\n" not in msg


def test_osrm_closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    backend = OSRMBackend(f"http://127.0.0.1:{port}", timeout_s=5)
    pattern = rf"127\.0\.0\.1:{port}/table/v1/driving.*refused"
    with pytest.raises(TravelError, match=pattern) as info:
        backend.matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert "\n" not in str(info.value)


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def test_osrm_new_settings_validated():
    for kwargs, name in [
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"backoff_s": -0.1}, "backoff_s"),
        ({"max_trip_s": 0}, "max_trip_s"),
        ({"max_speed_kmh": float("nan")}, "max_speed_kmh"),
        ({"fallback": "yes"}, "fallback"),
    ]:
        with pytest.raises(ValueError, match=name):
            OSRMBackend("http://x", **kwargs)
    with pytest.raises(ValueError, match="base_url"):
        OSRMBackend("http://x:port")
    with pytest.raises(ValueError, match="base_url"):
        OSRMBackend("http://")


# --- 1. one deadline for the whole call --------------------------------------


@pytest.mark.parametrize("mode", ["drip_body", "drip_head"])
def test_osrm_dripping_server_hits_the_deadline(osrm_server, mode):
    url, state = osrm_server
    state["script"] = [mode]  # one byte every 0.3 s (after the headers, or from the status line)
    backend = OSRMBackend(url, timeout_s=1.0)
    t0 = time.perf_counter()
    with pytest.raises(TravelError, match=r"deadline: timeout_s=1 s") as info:
        backend.matrix(osrm_points(1, 1), osrm_points(1, 2))
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0  # was 20 s and more: the timeout applied to each socket read
    assert f"{url}/table/v1/driving" in str(info.value)
    assert len(state["requests"]) == 1  # no time left for a retry


def test_osrm_deadline_covers_all_blocks(osrm_server):
    url, state = osrm_server
    state["delay_s"] = 0.4  # every request is answered, slowly
    backend = OSRMBackend(url, max_table_size=4, timeout_s=1.0)
    o, d = osrm_points(6, 1), osrm_points(6, 2)  # 9 blocks of 2 x 2: 3.6 s in all
    t0 = time.perf_counter()
    # two blocks answered in 0.8 s, the third cut by the deadline (on a loaded machine the second may be)
    with pytest.raises(TravelError, match=r"block [23] of 9: .*deadline: timeout_s=1 s"):
        backend.matrix(o, d)
    assert time.perf_counter() - t0 < 2.5
    assert len(state["requests"]) in (2, 3)  # never all 9: the deadline covers the whole call


# --- 2. retries ----------------------------------------------------------------


def test_osrm_retries_5xx_with_backoff(osrm_server):
    url, state = osrm_server
    state["script"] = [500, 503]
    o, d = osrm_points(3, 1), osrm_points(2, 2)
    t0 = time.perf_counter()
    m = OSRMBackend(url, backoff_s=0.1).matrix(o, d)
    assert time.perf_counter() - t0 >= 0.1 + 0.2  # waited 0.1 s, then 0.2 s
    exp_d, exp_t = expected_osrm(o, d)
    np.testing.assert_allclose(m.distance_m, exp_d, rtol=1e-6)
    np.testing.assert_allclose(m.time_s, exp_t, rtol=1e-6)
    assert len(state["requests"]) == 3  # two failures, one success


def test_osrm_retries_lost_connection(osrm_server):
    url, state = osrm_server
    state["script"] = ["reset"]
    m = OSRMBackend(url, backoff_s=0.01).matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert np.isfinite(m.time_s).all()
    assert len(state["requests"]) == 2


def test_osrm_gives_up_after_retries(osrm_server):
    url, state = osrm_server
    state["mode"] = "error500"
    with pytest.raises(TravelError, match=r"HTTP 500.*always failing.*gave up after 3 attempts"):
        OSRMBackend(url, backoff_s=0.01).matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert len(state["requests"]) == 3
    state["requests"].clear()
    with pytest.raises(TravelError, match=r"gave up after 1 attempt\)"):
        OSRMBackend(url, retries=0).matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert len(state["requests"]) == 1


def test_osrm_backoff_stays_within_the_deadline(osrm_server):
    url, state = osrm_server
    state["mode"] = "error500"
    t0 = time.perf_counter()
    with pytest.raises(TravelError, match=r"HTTP 500.*no time left for a retry.*timeout_s=0.5 s"):
        OSRMBackend(url, timeout_s=0.5, backoff_s=1.0).matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert time.perf_counter() - t0 < 0.5
    assert len(state["requests"]) == 1


def test_osrm_4xx_is_not_retried(osrm_server):
    url, state = osrm_server
    state["mode"] = "invalid"
    with pytest.raises(TravelError, match=r"HTTP 400.*InvalidQuery.*fault of the request.*not retried"):
        OSRMBackend(url).matrix(osrm_points(2, 1), osrm_points(2, 2))
    assert len(state["requests"]) == 1
    # too many coordinates for the server: the message says which setting to lower
    state["mode"], state["server_max"] = "ok", 5
    state["requests"].clear()
    with pytest.raises(TravelError, match=r"block 1 of 1: .*TooBig.*smaller max_table_size \(now 100\)"):
        OSRMBackend(url).matrix(osrm_points(4, 1), osrm_points(4, 2))
    assert len(state["requests"]) == 1


# --- 3. unreachable pairs ---------------------------------------------------------


def test_osrm_unreachable_pairs_reported(osrm_server, tmp_path):
    url, _ = osrm_server
    o = np.array([[118.1, 24.5], [10.0, -75.0], [118.7, 24.9]])
    d = np.array([[118.0, 24.4], [118.6, 24.8], [20.0, -70.0]])
    cache = TravelCache(directory=tmp_path)
    m = travel_matrix(o, d, backend=OSRMBackend(url, max_table_size=3), cache=cache)
    pairs = [(0, 2), (1, 0), (1, 1), (2, 2)]
    assert m.unreachable.dtype == np.int64 and m.unreachable.tolist() == [list(p) for p in pairs]
    assert np.isinf(m.distance_m[tuple(np.array(pairs).T)]).all()
    text = m.describe_unreachable(["A", "B", "C"], ["X", "Y", "Z"], limit=3)
    assert text == "4 unreachable pairs (origin -> destination): A -> Z, B -> X, B -> Y, ... (1 more)"
    assert m.describe_unreachable().startswith("4 unreachable pairs (origin -> destination): 0 -> 2, 1 -> 0")
    cost = m.finite_time_s(1e6)
    assert cost.dtype == np.float64 and np.isfinite(cost).all()
    assert (cost[tuple(np.array(pairs).T)] == 1e6).all() and cost[1, 2] == m.time_s[1, 2]
    # survives the disk cache
    reloaded = TravelCache(directory=tmp_path)
    again = travel_matrix(o, d, backend=OSRMBackend(url), cache=reloaded)
    assert reloaded.hits == 1 and again.unreachable.tolist() == m.unreachable.tolist()
    # the built-in model reaches everything
    gc = travel_matrix(o, d)
    assert gc.unreachable.shape == (0, 2) and gc.describe_unreachable() == ""
    with pytest.raises(ValueError, match="penalty_s"):
        m.finite_time_s(float("inf"))


def test_osrm_null_in_one_annotation_makes_the_pair_unreachable(osrm_server):
    url, state = osrm_server
    state["script"] = [{"code": "Ok", "durations": [[None, 50.0]], "distances": [[100.0, None]]}]
    m = OSRMBackend(url).matrix(osrm_points(1, 1), osrm_points(2, 2))
    assert np.isinf(m.time_s).all() and np.isinf(m.distance_m).all()
    assert m.unreachable.tolist() == [[0, 0], [0, 1]]


# --- 4. implausible values ----------------------------------------------------------


@pytest.mark.parametrize(
    "durations, distances, pattern",
    [
        ([[0.0, -5.0]], [[0.0, 100.0]], r"origin 2 -> destination 1: duration -5 s is negative"),
        ([[5.0, 10.0]], [[-1.0, 100.0]], r"origin 2 -> destination 0: distance -1 m is negative"),
        ([[10.0, 10.0]], [[0.0, -80.0]], r"origin 2 -> destination 1: distance -80 m is negative"),
        ([[0.0, float("nan")]], [[0.0, 100.0]], r"destination 1: duration nan is not a number"),
        ([[0.0, 10.0]], [[float("nan"), 100.0]], r"destination 0: distance nan is not a number"),
        ([[0.0, 4 * 86400]], [[0.0, 9e6]], r"destination 1: duration 345600 s is above max_trip_s=259200"),
        ([[0.0, float("inf")]], [[0.0, 100.0]], r"destination 1: duration inf s is above max_trip_s"),
        ([[0.0, 60.0]], [[0.0, 100_000.0]], r"distance 100000 m in 60 s is 6000 km/h, above max_speed_kmh=200"),
        ([[0.0, 0.0]], [[0.0, 5000.0]], r"distance 5000 m in 0 s is infinite km/h"),
        ([[0.0, "12"]], [[0.0, 100.0]], r"durations of origin 2 -> destination 1 is '12': not a number"),
        ([[0.0, True]], [[0.0, 100.0]], r"durations of origin 2 -> destination 1 is True"),
        ([[0.0]], [[0.0, 100.0]], r"'durations' is not 1 rows of 2 values"),
    ],
)
def test_osrm_implausible_values_refused(osrm_server, durations, distances, pattern):
    url, state = osrm_server
    # blocks 1 and 2 are fine, block 3 (origin 2) gets the bad reply
    state["script"] = ["ok", "ok", {"code": "Ok", "durations": durations, "distances": distances}]
    backend = OSRMBackend(url, max_table_size=3)  # 1 origin x 2 destinations per request
    with pytest.raises(TravelError, match=pattern) as info:
        backend.matrix(osrm_points(3, 1), osrm_points(2, 2))
    assert "block 3 of 3" in str(info.value) and "\n" not in str(info.value)
    assert len(state["requests"]) == 3  # a bad reply is not retried


def test_osrm_negative_metre_at_zero_seconds_is_read_as_zero(osrm_server):
    """OSRM's table bug (two points snapped to one spot): -1.3 m in 0 s is noise, not a broken reply."""
    url, state = osrm_server
    state["script"] = [{"code": "Ok", "durations": [[0.0, 60.0]], "distances": [[-1.3, 500.0]]}]
    m = OSRMBackend(url).matrix(osrm_points(1, 1), osrm_points(2, 2))
    assert m.distance_m.tolist() == [[0.0, 500.0]]


def test_osrm_plausible_short_and_slow_trips_accepted(osrm_server):
    url, state = osrm_server
    # 900 m in 0 s (snapping, under the 1 km speed check), 2 days, 199 km/h
    reply = {"code": "Ok", "durations": [[0.0, 2 * 86400, 1809.0]], "distances": [[900.0, 1e6, 100_000.0]]}
    state["script"] = [reply]
    m = OSRMBackend(url).matrix(osrm_points(1, 1), osrm_points(3, 2))
    np.testing.assert_allclose(m.time_s, [[0.0, 2 * 86400, 1809.0]])
    np.testing.assert_allclose(m.distance_m, [[900.0, 1e6, 100_000.0]])


# --- 5. fallback to the built-in model, only when asked ----------------------------------


def test_osrm_fallback_is_opt_in_and_announced(osrm_server):
    url, state = osrm_server
    state["mode"] = "error500"
    o, d = osrm_points(4, 1), osrm_points(3, 2)
    with pytest.raises(TravelError, match="gave up after 3 attempts"):
        OSRMBackend(url, backoff_s=0.01).matrix(o, d)  # default: raise
    state["requests"].clear()
    backend = OSRMBackend(url, backoff_s=0.01, fallback=True)
    cache = TravelCache()
    with pytest.warns(TravelWarning, match=r"great-circle model was used because OSRM .*HTTP 500"):
        m = travel_matrix(o, d, backend=backend, cache=cache)
    assert len(state["requests"]) == 3  # the retries came first
    assert m.backend == "great_circle" and m.note.startswith("fallback: ")
    assert f"{url}/table/v1/driving" in m.note
    ref = GreatCircleBackend().matrix(o, d)
    np.testing.assert_array_equal(m.time_s, ref.time_s)
    np.testing.assert_array_equal(m.distance_m, ref.distance_m)
    assert len(cache) == 0  # never cached: the next call asks the server again
    state["mode"] = "ok"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m2 = travel_matrix(o, d, backend=backend, cache=cache)
    assert m2.backend == "osrm" and m2.note == "" and len(cache) == 1


def test_osrm_fallback_when_the_server_is_down():
    backend = OSRMBackend(closed_port_url(), retries=0, fallback=True)
    o = osrm_points(3, 1)
    with pytest.warns(TravelWarning, match="refused"):
        idx, t = nearest(o, o, backend=backend)
    np.testing.assert_array_equal(idx, [0, 1, 2])
    np.testing.assert_array_equal(t, 0.0)
