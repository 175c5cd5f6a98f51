"""planner.geo.amap against a local stand-in of the Amap distance API (tests/amap_standin.py)."""

from __future__ import annotations

import json
import pickle
import threading

import numpy as np
import pytest
from amap_standin import AmapStandin, expected

from planner.geo.amap import AmapBackend, RateLimiter, requests_needed
from planner.geo.coords import wgs84_to_gcj02
from planner.geo.travel import TravelBackend, TravelError, travel_matrix

KEY = "0123456789abcdef0123456789abcdef"


class FakeTime:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def amap():
    with AmapStandin(key=KEY) as server:
        yield server


def points(n: int, seed: int) -> np.ndarray:
    """(lon, lat) around Xiamen and Quanzhou, WGS-84."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(117.9, 118.8, n), rng.uniform(24.4, 25.0, n)])


def sent(p: np.ndarray) -> list[tuple[float, float]]:
    """The GCJ-02 points as the backend should send them (6 decimals), parsed back."""
    lon, lat = wgs84_to_gcj02(p[:, 0], p[:, 1])
    return [(float(f"{x:.6f}"), float(f"{y:.6f}")) for x, y in zip(lon, lat)]


def direct(o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in's answer computed here, cell by cell."""
    so, sd = sent(o), sent(d)
    dist = np.array([[expected(*a, *b)[0] for b in sd] for a in so], dtype=np.float32).reshape(len(o), len(d))
    dur = np.array([[expected(*a, *b)[1] for b in sd] for a in so], dtype=np.float32).reshape(len(o), len(d))
    return dist, dur


def backend(amap: AmapStandin, key: str = KEY, **kw) -> AmapBackend:
    kw.setdefault("qps", 1000.0)
    return AmapBackend(key, base_url=amap.url, **kw)


# --------------------------------------------------------------------------- #
# Batching, coordinates, order
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("workers", [1, 4])
def test_batching_250_origins_by_3_destinations(amap, workers):
    o, d = points(250, 1), points(3, 2)
    be = backend(amap, workers=workers)
    m = be.matrix(o, d)
    assert m.shape == (250, 3) and m.backend == "amap" and m.note == ""
    assert len(amap.requests) == 9 == requests_needed(250, 3) == be.requests_for(250, 3)
    assert sorted(len(r.origins) for r in amap.requests) == [50] * 3 + [100] * 6
    assert all(r.type == "1" and r.key == KEY and r.path == "/v3/distance" for r in amap.requests)
    dist, dur = direct(o, d)
    np.testing.assert_array_equal(m.distance_m, dist)
    np.testing.assert_array_equal(m.time_s, dur)
    assert be.requests_made == 9 and be.describe()["requests_made"] == 9


def test_gcj02_is_sent_with_six_decimals(amap):
    o, d = points(5, 3), points(2, 4)
    backend(amap, workers=1).matrix(o, d)
    first = amap.requests[0]
    assert first.origins == sent(o) and first.destination == sent(d)[0]
    assert amap.requests[1].destination == sent(d)[1]
    shift = np.abs(np.array(first.origins) - o)
    assert (shift > 1e-3).all() and (shift < 1e-2).all()  # GCJ-02 moves Fujian by a few hundred metres
    assert isinstance(backend(amap), TravelBackend)


def test_walking_kind_and_empty_matrix(amap):
    be = backend(amap, kind="walking")
    assert be.matrix(np.zeros((0, 2)), points(3, 1)).shape == (0, 3)
    assert amap.requests == []
    be.matrix(points(2, 1), points(1, 2))
    assert amap.requests[0].type == "3"
    with pytest.raises(ValueError, match="kind"):
        AmapBackend(KEY, kind="flying")


def test_goes_through_travel_matrix_and_pickles(amap):
    be = backend(amap)
    m = travel_matrix(points(3, 5), points(2, 6), backend=be)
    again = pickle.loads(pickle.dumps(be)).matrix(points(3, 5), points(2, 6))
    np.testing.assert_array_equal(m.time_s, again.time_s)


# --------------------------------------------------------------------------- #
# Rate limits and the QPS limiter
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("infocode", ["10004", "10021"])
def test_rate_limit_replies_back_off_and_retry(amap, infocode):
    amap.too_frequent, amap.rate_limit_infocode = 2, infocode
    t = FakeTime()
    be = backend(amap, clock=t.clock, sleep=t.sleep, rate_backoff_s=2.0)
    o, d = points(4, 1), points(1, 2)
    m = be.matrix(o, d)
    np.testing.assert_array_equal(m.distance_m, direct(o, d)[0])
    assert len(amap.requests) == 3
    assert t.sleeps == [2.0, 4.0]  # everyone paused 2 s, then 4 s
    info = be.describe()
    assert info["rate_limited_replies"] == 2 and info["requests_made"] == 3 and info["retries"] == 2


def test_rate_limit_gives_up_after_rate_retries(amap):
    amap.too_frequent = 100
    t = FakeTime()
    with pytest.raises(TravelError, match=r"10004 ACCESS_TOO_FREQUENT.*gave up after 3 attempts"):
        backend(amap, clock=t.clock, sleep=t.sleep, rate_retries=2).matrix(points(2, 1), points(1, 2))
    assert len(amap.requests) == 3


@pytest.mark.parametrize("burst", [1, 3])
def test_qps_limit_is_respected(burst):
    t = FakeTime()
    with AmapStandin(key=KEY, clock=t.clock) as amap:
        be = AmapBackend(KEY, base_url=amap.url, qps=2.0, burst=burst, workers=1, clock=t.clock, sleep=t.sleep)
        be.matrix(points(3, 1), points(8, 2))
        times = np.array([r.at for r in amap.requests]) - 100.0
    assert len(times) == 8
    np.testing.assert_allclose(times[:burst], 0.0)
    gaps = np.diff(times[burst - 1 :])
    np.testing.assert_allclose(gaps, 0.5)  # 2 per second after the burst
    for start in times:  # any half-open second holds at most burst - 1 + 2 requests
        assert ((times >= start) & (times < start + 1.0)).sum() <= burst + 1


def test_rate_limiter_pause_and_deadline():
    t = FakeTime()
    lim = RateLimiter(4.0, clock=t.clock, sleep=t.sleep)
    assert lim.acquire() == 0.0
    assert lim.acquire() == pytest.approx(0.25)
    lim.pause(3.0)
    with pytest.raises(TimeoutError):
        lim.acquire(limit_s=1.0)  # would wait 3 s: refused, nothing reserved
    assert lim.acquire(limit_s=5.0) == pytest.approx(3.0)
    assert lim.reserve() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="qps"):
        RateLimiter(0.0)


# --------------------------------------------------------------------------- #
# Failures
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "infocode, name", [("10003", "DAILY_QUERY_OVER_LIMIT"), ("10044", "USER_DAILY_QUERY_OVER_LIMIT")]
)
def test_daily_quota_stops_at_once(amap, infocode, name):
    amap.daily_quota, amap.quota_infocode = True, infocode
    with pytest.raises(TravelError, match=f"infocode {infocode} {name}.*not retried.*midnight") as err:
        backend(amap, workers=1).matrix(points(250, 1), points(2, 2))
    assert len(amap.requests) == 1
    assert KEY not in str(err.value)


def test_invalid_key_stops_at_once(amap):
    wrong = "ffffffffffffffffffffffffffff0000"
    with pytest.raises(TravelError, match="infocode 10001 INVALID_USER_KEY.*not retried.*AMAP_KEY") as err:
        backend(amap, key=wrong, workers=1).matrix(points(2, 1), points(3, 2))
    assert len(amap.requests) == 1 and amap.requests[0].key == wrong
    assert wrong not in str(err.value) and KEY not in str(err.value)


def test_budget_refused_before_any_request(amap):
    with pytest.raises(TravelError, match=r"250 origins x 3 destinations needs 9 requests.*max_requests=5") as err:
        backend(amap, max_requests=5).matrix(points(250, 1), points(3, 2))
    assert "nothing was sent" in str(err.value) and "cache" in str(err.value) and "road engine" in str(err.value)
    with pytest.raises(TravelError, match=r"at least 20 s at qps=0.1, beyond timeout_s=10 s"):
        backend(amap, qps=0.1, timeout_s=10.0).matrix(points(2, 1), points(3, 2))
    assert amap.requests == []


def test_http_500_is_retried_with_backoff(amap):
    amap.http_500 = 2
    t = FakeTime()
    o, d = points(3, 1), points(2, 2)
    m = backend(amap, sleep=t.sleep, clock=t.clock, backoff_s=0.5, workers=1).matrix(o, d)
    np.testing.assert_array_equal(m.time_s, direct(o, d)[1])
    assert len(amap.requests) == 4 and t.sleeps[:2] == [0.5, 1.0]  # then 1 ms for the qps


def test_http_500_gives_up_after_retries(amap):
    amap.http_500 = 100
    t = FakeTime()
    with pytest.raises(TravelError, match=r"request 1 of 1: origins 0-2 -> destination 0.*HTTP 500.*after 3 attempts"):
        backend(amap, sleep=t.sleep, clock=t.clock, retries=2).matrix(points(3, 1), points(1, 2))
    assert len(amap.requests) == 3


def test_slow_reply_is_retried_then_the_deadline_holds(amap):
    amap.slow, amap.slow_s = 1, 0.6
    m = backend(amap, request_timeout_s=0.2, backoff_s=0.0).matrix(points(2, 1), points(1, 2))
    assert np.isfinite(m.time_s).all() and len(amap.requests) == 2
    amap.slow = 5
    with pytest.raises(TravelError, match="deadline"):
        backend(amap, timeout_s=0.3, request_timeout_s=5.0).matrix(points(2, 1), points(1, 2))


def test_garbage_is_refused_not_retried(amap):
    amap.garbage = 1
    with pytest.raises(TravelError, match="reply is not JSON"):
        backend(amap).matrix(points(2, 1), points(1, 2))
    assert len(amap.requests) == 1


def test_no_route_is_inf(amap):
    o, d = points(40, 1), points(2, 2)
    amap.no_route = lambda olon, olat, dlon, dlat: olat > 24.75
    m = backend(amap).matrix(o, d)
    lost = np.array([lat > 24.75 for _, lat in sent(o)])
    assert 0 < lost.sum() < len(o)
    assert np.isinf(m.time_s[lost]).all() and np.isinf(m.distance_m[lost]).all()
    dist, dur = direct(o, d)
    np.testing.assert_array_equal(m.time_s[~lost], dur[~lost])
    assert len(m.unreachable) == 2 * lost.sum()


def _reply(results, **extra):
    return {"status": "1", "info": "OK", "infocode": "10000", "count": str(len(results)), "results": results, **extra}


def _item(i, distance="1000", duration="120", **extra):
    return {"origin_id": str(i), "dest_id": "1", "distance": distance, "duration": duration, **extra}


@pytest.mark.parametrize(
    "reply, pattern",
    [
        ({"status": "1", "info": "OK"}, "no 'results' list"),
        (_reply([_item(1)]), "1 results for 2 origins"),
        (_reply([_item(1), _item(2)], count="3"), "count '3' for 2 origins"),
        (_reply([_item(1), _item(1)]), "two results for origin 0 -> destination 0"),
        (_reply([_item(1), _item(3)]), "origin_id '3': expected 1 to 2"),
        (_reply([_item(1), _item(2, distance="abc")]), "origin 1 -> destination 0: distance 'abc' is not a number"),
        (_reply([_item(1), _item(2, duration="nan")]), "origin 1 -> destination 0: duration 'nan' is not a finite"),
        (_reply([_item(1, distance="-5"), _item(2)]), "origin 0 -> destination 0: distance -5 m is negative"),
        (_reply([_item(1), _item(2, distance="90000", duration="60")]), "origin 1 -> destination 0: .*5400 km/h"),
        (_reply([_item(1), _item(2, duration="999999999")]), "max_trip_s"),
        ({"status": "2"}, "status '2'"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_wrong_replies_are_refused_naming_the_pair(amap, reply, pattern):
    amap.script = [reply]
    with pytest.raises(TravelError, match=pattern):
        backend(amap).matrix(points(2, 1), points(1, 2))
    assert len(amap.requests) == 1


def test_a_result_with_info_and_no_distance_is_unreachable(amap):
    amap.script = [_reply([_item(1), {"origin_id": "2", "dest_id": "1", "info": "NO_ROADS_NEARBY"}])]
    m = backend(amap).matrix(points(2, 1), points(1, 2))
    assert m.time_s[0, 0] == 120 and m.distance_m[0, 0] == 1000
    assert np.isinf(m.time_s[1, 0]) and m.unreachable.tolist() == [[1, 0]]


def test_concurrent_failure_raises_the_first_in_request_order(amap):
    amap.daily_quota = True
    with pytest.raises(TravelError, match="DAILY_QUERY_OVER_LIMIT"):
        backend(amap, workers=4).matrix(points(10, 1), points(20, 2))
    assert 1 <= len(amap.requests) <= 4  # the others were never sent


# --------------------------------------------------------------------------- #
# The key stays secret
# --------------------------------------------------------------------------- #


def test_key_never_shown(amap):
    be = backend(amap)
    assert KEY not in be.cache_key() and amap.url in be.cache_key() and "driving" in be.cache_key()
    assert backend(amap, kind="walking").cache_key() != be.cache_key()
    assert AmapBackend("ffffffffffffffffffffffffffff0000", base_url=amap.url).cache_key() == be.cache_key()
    info = be.describe()
    assert KEY not in json.dumps(info)
    assert info["backend"] == "amap" and info["base_url"] == amap.url and info["kind"] == "driving"
    assert KEY not in repr(be) and "hidden" in repr(be)
    amap.script = [f"<html>Cannot GET /v3/distance?key={KEY}&origins=...</html>".encode()]
    with pytest.raises(TravelError) as err:
        be.matrix(points(2, 1), points(1, 2))
    assert KEY not in str(err.value) and "<key>" in str(err.value)
    with pytest.raises(ValueError) as bad:
        AmapBackend(KEY + "!")
    assert KEY not in str(bad.value)
