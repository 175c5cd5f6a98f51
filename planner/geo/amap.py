"""Road distance and driving time from the Amap (高德) Web Service distance API.

:class:`AmapBackend` is a :class:`~planner.geo.travel.TravelBackend`: it fills an
``n x m`` :class:`~planner.geo.travel.Matrix` (metres, seconds, float32) by
asking ``GET {base_url}/v3/distance`` for every destination with the origins in
blocks of up to 100.  Only the standard library is used (``http.client``).

What was followed
-----------------
Amap's "距离测量" (distance measurement) section of the Web Service route
planning guide (https://lbs.amap.com/api/webservice/guide/api/direction, as
mirrored at https://amap.apifox.cn/project-759159/api-14578373) and its status
code table (https://lbs.amap.com/api/webservice/guide/tools/info, English
mirror https://mapsplatform.opnavi.com/api/web-service/tools/info):

* request: ``key``; ``origins``: up to 100 ``lon,lat`` pairs separated by
  ``|``; ``destination``: one ``lon,lat``; at most 6 decimals; ``type``: 0
  straight line, 1 driving (mainland coordinates only; it takes the traffic of
  the moment into account, so the same pair can give different answers at
  different times; it is close to the driving route API's ``strategy=0``,
  fastest route), 3 walking (pairs within 5 km only); ``output``: ``JSON``;
* reply: ``{"status": "1", "info": "OK", "infocode": "10000", "count": "N",
  "results": [{"origin_id": "1", "dest_id": "1", "distance": "1234",
  "duration": "210"}, ...]}``: ids count from 1, distance in metres and
  duration in seconds, all as strings; a result that could not be measured
  carries ``info`` and ``code`` (no drivable road between the points, a point
  too far from any road, a point outside China);
* failure: ``status "0"`` with ``info`` and ``infocode``: 10001
  INVALID_USER_KEY, 10003 DAILY_QUERY_OVER_LIMIT (suspended until midnight),
  10004 ACCESS_TOO_FREQUENT (too many requests in a minute: suspended until the
  next minute), 10019/10020/10021 CQPS/CKQPS/CUQPS_HAS_EXCEEDED_THE_LIMIT
  (queries per second), 10044 USER_DAILY_QUERY_OVER_LIMIT, 20003
  UNKNOWN_ERROR...

Not verified against the live service (no access from here): the exact shape
of a per-pair failure (is ``distance`` absent, ``"0"`` or empty?  both are
handled: a non-empty ``code`` other than ``"0"``, or ``info`` without a
``distance``, marks the pair unreachable), whether ``origin_id`` is always
given (it is required here), and the free quota (a few thousand requests a day
and a few queries per second for an individual developer in 2024: see your
console).

How it behaves
--------------
* Coordinates: the planner's points are WGS-84; Amap expects GCJ-02.  Points
  are converted with :func:`planner.geo.coords.wgs84_to_gcj02` (mainland
  points only: Hong Kong, Macau, Taiwan and points abroad are sent unchanged,
  and Amap's driving distances do not cover them) and sent with 6 decimals.
  The answers are distances and durations, which have no datum: nothing is
  converted back.
* Batching: ``m * ceil(n / 100)`` requests for ``n`` origins and ``m``
  destinations.  Before anything is sent, a matrix that needs more than
  ``max_requests`` requests, or more time than ``timeout_s`` at ``qps``, is
  refused with a :class:`~planner.geo.travel.TravelError` saying how many it
  needs and what to do instead (the travel cache, a road engine).
* Rate: a token bucket (:class:`RateLimiter`, monotonic clock) lets at most
  ``burst`` requests go at once and ``qps`` per second on average.  Up to
  ``workers`` requests are in flight at a time; results land in their cells
  whatever the order of the replies, so the matrix is the same either way.
* Retries: a rate-limit reply (10004, 10014, 10019-10021) pauses every worker
  for ``rate_backoff_s``, then twice that..., up to ``rate_retries`` times; a
  transient failure (HTTP 5xx or 429, a timeout, a lost connection, 10015
  GATEWAY_TIMEOUT, 10016 SERVER_IS_BUSY, 20003 UNKNOWN_ERROR) is retried up to
  ``retries`` times after ``backoff_s``, ``2 * backoff_s``...  Everything stays
  within ``timeout_s``, one deadline for the whole :meth:`AmapBackend.matrix`
  call; ``request_timeout_s`` bounds each attempt.  A daily-quota or key reply
  (10001-10013, 10026, 10029, 10044, 10045), a parameter error (2xxxx) and any
  other ``status "0"`` stop the call at once, naming the infocode (requests
  already in flight on other workers still finish; no new one starts).
  Retries count against the quota too: :meth:`AmapBackend.describe` reports
  every request sent.
* Validation: a reply that is not JSON, not ``status "1"``, without one
  result per origin, with a value that is not a number, negative, longer than
  ``max_trip_s`` or faster than ``max_speed_kmh`` (trips over 1 km) raises
  :class:`~planner.geo.travel.TravelError` naming the request and the pair.
  A pair Amap cannot route is ``inf`` in both arrays (unreachable), as with
  :class:`~planner.geo.travel.OSRMBackend`.
* The key: sent in the query string (Amap's way) and nowhere else.  It is not
  in :meth:`AmapBackend.cache_key` (cache file names), :meth:`AmapBackend.describe`
  (job summaries), ``repr`` or any error message.
* Durations are driving (or walking) time only, without parking and walking to
  the door: :mod:`planner.geo.backends` adds the model's per-trip overhead.
  With ``type=1`` they reflect the traffic when they were asked: a cached
  matrix keeps that moment's traffic.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from planner.geo.coords import wgs84_to_gcj02
from planner.geo.travel import (
    _SPEED_CHECK_MIN_M,
    Matrix,
    TravelError,
    _AttemptError,
    _check_base_url,
    _check_int,
    _check_number,
    _Deadline,
    _DeadlineResponse,
    _one_line,
    _read_body,
    validate_coords,
)

__all__ = ["AMAP_URL", "KINDS", "MAX_ORIGINS", "AmapBackend", "RateLimiter", "requests_needed"]

#: Amap's Web Service host.
AMAP_URL = "https://restapi.amap.com"

#: Most origins Amap takes in one distance request (one destination each).
MAX_ORIGINS = 100

#: ``kind`` -> the API's ``type``: 1 driving (traffic-aware), 3 walking (pairs within 5 km).
KINDS = {"driving": 1, "walking": 3}

#: A reply larger than this is refused (100 results take about 8 kB).
_REPLY_LIMIT = 1_000_000

#: infocodes: slow down and retry / a passing fault, retry / the key or its quota: stop at once.
_RATE_LIMITED = frozenset({"10004", "10014", "10019", "10020", "10021"})
_TRANSIENT = frozenset({"10015", "10016", "20003"})
_QUOTA = frozenset({"10003", "10010", "10029", "10044", "10045"})
_KEY_PROBLEM = frozenset({"10001", "10002", "10005", "10006", "10007", "10008", "10009", "10012", "10013", "10026"})

_KEY_RE = re.compile(r"[A-Za-z0-9]{1,128}")

_Kind = Literal["rate", "transient", "fatal", "late"]


def requests_needed(n_origins: int, n_destinations: int, max_origins: int = MAX_ORIGINS) -> int:
    """Requests for an ``n_origins x n_destinations`` matrix: one per destination and block of origins."""
    if n_origins <= 0 or n_destinations <= 0:
        return 0
    return n_destinations * math.ceil(n_origins / max_origins)


class RateLimiter:
    """Token bucket: ``burst`` requests may go at once, then ``qps`` per second on average.  Thread-safe.

    Each :meth:`acquire` reserves the next free slot under a lock, then sleeps
    until it (so concurrent callers are spaced too).  Any half-open window of
    one second holds at most ``burst - 1 + ceil(qps)`` slots; with ``burst=1``
    consecutive slots are at least ``1 / qps`` apart.  :meth:`pause` holds
    every caller back for a while (after a rate-limit reply).  ``clock`` (a
    monotonic clock, seconds) and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        qps: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.qps = _check_number("qps", qps, minimum=0.0, strict=True)
        self.burst = _check_int("burst", burst, minimum=1)
        self._clock = clock if clock is not None else time.monotonic
        self._sleep = sleep if sleep is not None else time.sleep
        self._lock = threading.Lock()
        self._tat = -math.inf  # theoretical arrival time of the next request (GCRA)
        self._hold = -math.inf  # nobody goes before this (pause)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def reserve(self, limit_s: float | None = None) -> float:
        """Reserve the next slot and return the seconds to wait for it.

        Raises ``TimeoutError`` (and reserves nothing) when the wait would be
        longer than ``limit_s``.
        """
        interval = 1.0 / self.qps
        with self._lock:
            now = self._clock()
            start = max(now, self._tat - (self.burst - 1) * interval, self._hold)
            wait = start - now
            if limit_s is not None and wait > limit_s:
                raise TimeoutError(f"the next request slot is {wait:.1f} s away, more than the {limit_s:.1f} s left")
            self._tat = max(self._tat, start) + interval
        return wait

    def acquire(self, limit_s: float | None = None) -> float:
        """Wait for the next slot (see :meth:`reserve`); returns the seconds waited."""
        wait = self.reserve(limit_s)
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """No slot starts before ``seconds`` from now."""
        with self._lock:
            self._hold = max(self._hold, self._clock() + seconds)


class _Failure(Exception):
    """One attempt failed; ``kind`` says what to do: slow down, retry, stop, or the deadline has passed."""

    def __init__(self, reason: str, kind: _Kind) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: _Kind = kind


class _Stopped(Exception):
    """Another request of the same call has failed: this one gives up quietly."""


@dataclass(frozen=True)
class _Request:
    """One request's part of the matrix: origins ``rows`` x destination ``col``, number ``number`` of ``total``."""

    rows: slice
    col: int
    number: int
    total: int

    def describe(self) -> str:
        return (
            f"request {self.number} of {self.total}: origins {self.rows.start}-{self.rows.stop - 1}"
            f" -> destination {self.col}"
        )

    def pair(self, r: int) -> str:
        """The whole matrix's (origin, destination) of this request's result ``r`` (0-based)."""
        return f"origin {self.rows.start + r} -> destination {self.col}"


@dataclass
class _Job:
    """One :meth:`AmapBackend.matrix` call: its deadline, its outputs and the GCJ-02 points as text."""

    deadline: _Deadline
    origins: list[str]
    destinations: list[str]
    dist: np.ndarray
    dur: np.ndarray
    stop: threading.Event = field(default_factory=threading.Event)


def _number(item: dict[str, object], name: str, req: _Request, r: int) -> float:
    """``item[name]`` as a finite float (Amap sends numbers as strings); ``ValueError`` naming the pair."""
    value = item.get(name)
    if value is None or value == "":
        raise ValueError(f"{req.pair(r)}: no {name!r} in the result")
    if isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            raise ValueError(f"{req.pair(r)}: {name} {_one_line(repr(value), 60)} is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    else:
        raise ValueError(f"{req.pair(r)}: {name} {_one_line(repr(value), 60)} is not a number")
    if not math.isfinite(x):
        raise ValueError(f"{req.pair(r)}: {name} {_one_line(repr(value), 60)} is not a finite number")
    return x


def _no_route(item: dict[str, object]) -> bool:
    """True for a result Amap could not measure (it carries ``code``/``info`` instead of a distance)."""
    code = item.get("code")
    if code not in (None, "", "0", 0):
        return True
    return item.get("distance") in (None, "") and bool(item.get("info"))


def _origin_index(item: dict[str, object], req: _Request) -> int:
    """The 0-based origin of a result from its 1-based ``origin_id``; checks ``dest_id`` is 1."""
    k = req.rows.stop - req.rows.start
    oid, did = item.get("origin_id"), item.get("dest_id")
    if str(did) != "1":
        raise ValueError(f"result with dest_id {_one_line(repr(did), 40)}: one destination was asked (dest_id 1)")
    text = str(oid) if isinstance(oid, (str, int)) and not isinstance(oid, bool) else ""
    if not text.isdigit() or not 1 <= int(text) <= k:
        raise ValueError(f"result with origin_id {_one_line(repr(oid), 40)}: expected 1 to {k}")
    return int(text) - 1


def _parse_results(payload: dict[str, object], req: _Request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances and durations (float64, 0 where no route) and the no-route mask of one request's reply.

    Raises ``ValueError`` for a reply of the wrong shape or a value that is not a number.
    """
    k = req.rows.stop - req.rows.start
    results = payload.get("results")
    if not isinstance(results, list):
        raise ValueError("reply has no 'results' list")
    if len(results) != k:
        raise ValueError(f"reply has {len(results)} results for {k} origins")
    count = payload.get("count")
    if count is not None and str(count) != str(k):
        raise ValueError(f"reply says count {_one_line(repr(count), 40)} for {k} origins")
    dist, dur = np.zeros(k), np.zeros(k)
    none = np.zeros(k, dtype=bool)
    seen = np.zeros(k, dtype=bool)
    for item in results:
        if not isinstance(item, dict):
            raise ValueError(f"a result is {_one_line(repr(item), 60)}, not an object")
        r = _origin_index(item, req)
        if seen[r]:
            raise ValueError(f"two results for {req.pair(r)}")
        seen[r] = True
        if _no_route(item):
            none[r] = True
            continue
        dist[r] = _number(item, "distance", req, r)
        dur[r] = _number(item, "duration", req, r)
    return dist, dur, none


def _status_failure(payload: dict[str, object]) -> _Failure:
    """The failure for a ``status "0"`` reply, by its infocode."""
    code = str(payload.get("infocode", "")).strip()
    info = _one_line(str(payload.get("info", "")), 80)
    name = f"infocode {code or '?'} {info}".strip()
    if code in _RATE_LIMITED:
        return _Failure(f"Amap says too many requests ({name})", "rate")
    if code in _TRANSIENT:
        return _Failure(f"Amap could not answer this time ({name})", "transient")
    if code in _QUOTA:
        return _Failure(
            f"Amap's daily quota for this key is used up ({name}; not retried: it is restored at midnight, "
            "Beijing time). Matrices already computed stay in the travel cache; for big matrices use a road "
            "engine (--travel roads:DIR or osrm:URL)",
            "fatal",
        )
    if code in _KEY_PROBLEM:
        return _Failure(
            f"Amap refused the key ({name}; not retried): check AMAP_KEY or amap_key under [travel] in "
            "planner.toml: it must be a valid Web Service (Web服务) key allowed for this service and, if the "
            "key has an IP white list, for this machine",
            "fatal",
        )
    return _Failure(f"Amap error reply ({name}; not retried)", "fatal")


def _classify(body: bytes) -> dict[str, object]:
    """The reply as a dict when its status is "1", else the :class:`_Failure` it stands for."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        snippet = _one_line(body[:80].decode("utf-8", "replace"), 80)
        raise _Failure(f"reply is not JSON ({exc}): {snippet!r}", "fatal") from None
    if not isinstance(payload, dict):
        raise _Failure(f"reply is not a JSON object: {_one_line(repr(payload), 80)}", "fatal")
    status = str(payload.get("status", ""))
    if status == "1":
        return payload
    if status == "0":
        raise _status_failure(payload)
    raise _Failure(f"reply has status {_one_line(repr(payload.get('status')), 40)}, not '1' or '0'", "fatal")


class AmapBackend:
    """Road distance (m) and time (s) from the Amap distance API (see the module docstring).

    Args:
        key: the Amap Web Service key (letters and digits).  Never shown: not in
            ``repr``, :meth:`cache_key`, :meth:`describe` or error messages.
        base_url: ``https://restapi.amap.com`` or another endpoint (a proxy, a test server).
        kind: ``"driving"`` (``type=1``) or ``"walking"`` (``type=3``, pairs within 5 km).
        qps: requests per second on average (> 0; the free quota allows a few).
        burst: requests that may go at once (>= 1).
        max_requests: most requests one :meth:`matrix` call may plan (>= 1); a bigger
            matrix is refused before anything is sent.  Retries come on top.
        timeout_s: deadline of one :meth:`matrix` call, every request, retry and wait included (> 0).
        request_timeout_s: deadline of one attempt (> 0).
        retries: further attempts after a transient failure (>= 0).
        backoff_s: wait before the first such retry, doubled each time (>= 0).
        rate_retries: further attempts after a rate-limit reply (>= 0).
        rate_backoff_s: pause of every worker after the first rate-limit reply, doubled each time (>= 0).
        workers: requests in flight at once (1 to 16), within ``qps``.
        max_origins: origins per request (1 to 100).
        max_trip_s: longest plausible trip (> 0; 3 days).
        max_speed_kmh: highest plausible average speed of a trip over 1 km (> 0).
        clock, sleep: monotonic clock and sleep for the rate limiter and the waits (tests).
    """

    def __init__(
        self,
        key: str,
        *,
        base_url: str = AMAP_URL,
        kind: str = "driving",
        qps: float = 3.0,
        burst: int = 1,
        max_requests: int = 500,
        timeout_s: float = 300.0,
        request_timeout_s: float = 15.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        rate_retries: int = 5,
        rate_backoff_s: float = 2.0,
        workers: int = 2,
        max_origins: int = MAX_ORIGINS,
        max_trip_s: float = 3 * 86400.0,
        max_speed_kmh: float = 200.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            what = f"a string of {len(key)} characters" if isinstance(key, str) else type(key).__name__
            raise ValueError(f"key must be an Amap Web Service key (1 to 128 letters and digits), got {what}")
        self._key = key
        _check_base_url(base_url)
        self.base_url = base_url.rstrip("/")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        self.max_requests = _check_int("max_requests", max_requests, minimum=1)
        self.retries = _check_int("retries", retries, minimum=0)
        self.rate_retries = _check_int("rate_retries", rate_retries, minimum=0)
        self.workers = _check_int("workers", workers, minimum=1)
        self.max_origins = _check_int("max_origins", max_origins, minimum=1)
        if self.workers > 16 or self.max_origins > MAX_ORIGINS:
            raise ValueError(f"workers must be <= 16 and max_origins <= {MAX_ORIGINS}, got {workers}, {max_origins}")
        self.timeout_s = _check_number("timeout_s", timeout_s, minimum=0.0, strict=True)
        self.request_timeout_s = _check_number("request_timeout_s", request_timeout_s, minimum=0.0, strict=True)
        self.backoff_s = _check_number("backoff_s", backoff_s, minimum=0.0, strict=False)
        self.rate_backoff_s = _check_number("rate_backoff_s", rate_backoff_s, minimum=0.0, strict=False)
        self.max_trip_s = _check_number("max_trip_s", max_trip_s, minimum=0.0, strict=True)
        self.max_speed_kmh = _check_number("max_speed_kmh", max_speed_kmh, minimum=0.0, strict=True)
        self.limiter = RateLimiter(qps, burst, clock=clock, sleep=sleep)
        self._sleep = sleep if sleep is not None else time.sleep
        self._lock = threading.Lock()
        self._counts = {"requests": 0, "rate_limited": 0, "retried": 0}

    # ------------------------------------------------------------------ #
    # What a summary, a cache and a log may show
    # ------------------------------------------------------------------ #

    @property
    def qps(self) -> float:
        """Requests per second (the rate limiter's)."""
        return self.limiter.qps

    @property
    def type(self) -> int:
        """The API's ``type`` for :attr:`kind`."""
        return KINDS[self.kind]

    @property
    def endpoint(self) -> str:
        """``{base_url}/v3/distance`` (without the query, so without the key)."""
        return f"{self.base_url}/v3/distance"

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far by this backend, retries included (each counts against the quota)."""
        return self._counts["requests"]

    def cache_key(self) -> str:
        """The endpoint and the kind of distance: never the key (it ends up in file names)."""
        return f"amap:{self.endpoint}:type={self.type}:{self.kind}"

    def describe(self) -> dict[str, object]:
        """What a job summary says of this backend (no key)."""
        with self._lock:
            counts = dict(self._counts)
        return {
            "backend": "amap",
            "base_url": self.base_url,
            "kind": self.kind,
            "type": self.type,
            "qps": self.qps,
            "max_requests": self.max_requests,
            "requests_made": counts["requests"],
            "rate_limited_replies": counts["rate_limited"],
            "retries": counts["retried"],
        }

    def __repr__(self) -> str:
        return (
            f"AmapBackend(key=<hidden>, base_url={self.base_url!r}, kind={self.kind!r}, qps={self.qps:g}, "
            f"max_requests={self.max_requests})"
        )

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ #
    # The matrix
    # ------------------------------------------------------------------ #

    def requests_for(self, n_origins: int, n_destinations: int) -> int:
        """How many requests an ``n_origins x n_destinations`` matrix needs."""
        return requests_needed(n_origins, n_destinations, self.max_origins)

    def check_budget(self, n_origins: int, n_destinations: int) -> None:
        """Raise :class:`TravelError` when such a matrix needs more than ``max_requests`` requests, or
        more time than ``timeout_s`` at ``qps``; nothing is sent either way."""
        needed = self.requests_for(n_origins, n_destinations)
        per = math.ceil(n_origins / self.max_origins) if n_origins else 0
        size = f"an Amap distance matrix of {n_origins} origins x {n_destinations} destinations"
        how = f"{needed} requests ({per} per destination: up to {self.max_origins} origins and one destination each)"
        if needed > self.max_requests:
            raise TravelError(
                f"{size} needs {how}, above max_requests={self.max_requests}: nothing was sent. The free Amap "
                "quota is a few thousand requests a day: keep matrices in the travel cache (asking again for the "
                "same points costs nothing), ask for fewer pairs, raise max_requests if your quota allows, or use "
                "a road engine (--travel roads:DIR or osrm:URL) for big matrices"
            )
        least_s = max(needed - self.limiter.burst, 0) / self.qps
        if least_s > self.timeout_s:
            raise TravelError(
                f"{size} needs {how}, at least {least_s:.0f} s at qps={self.qps:g}, beyond "
                f"timeout_s={self.timeout_s:g} s: nothing was sent. Raise timeout_s (or qps, if your quota "
                "allows), ask for fewer pairs or use a road engine (--travel roads:DIR or osrm:URL)"
            )

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        """Distance/time from every origin (rows) to every destination (columns), within ``timeout_s``.

        Raises :class:`TravelError` when the matrix is too big for the budget (before anything is
        sent) or when Amap fails; unreachable pairs are ``inf``.
        """
        po = validate_coords(origins, name="origins")
        pd_ = validate_coords(destinations, name="destinations")
        n, m = len(po), len(pd_)
        self.check_budget(n, m)
        job = _Job(
            _Deadline.after(self.timeout_s),
            _as_text(po),
            _as_text(pd_),
            np.empty((n, m), dtype=np.float32),
            np.empty((n, m), dtype=np.float32),
        )
        requests = self._plan(n, m)
        if self.workers == 1 or len(requests) <= 1:
            for req in requests:
                self._run(job, req)
        else:
            self._run_parallel(job, requests)
        return Matrix(job.dist, job.dur, "amap")

    def _plan(self, n: int, m: int) -> list[_Request]:
        spans = [(slice(i, min(i + self.max_origins, n)), j) for j in range(m) for i in range(0, n, self.max_origins)]
        return [_Request(rows, col, k + 1, len(spans)) for k, (rows, col) in enumerate(spans)]

    def _run_parallel(self, job: _Job, requests: list[_Request]) -> None:
        """Run the requests on ``workers`` threads; the first failure (in request order) is raised."""
        with ThreadPoolExecutor(max_workers=min(self.workers, len(requests)), thread_name_prefix="amap") as pool:
            futures = [pool.submit(self._run, job, req) for req in requests]
            errors = [f.exception() for f in futures]
        for err in errors:
            if err is not None:
                raise err

    def _run(self, job: _Job, req: _Request) -> None:
        """Fill the cells of one request (nothing once another request of the job has failed)."""
        try:
            dist, dur = self._request(job, req)
        except _Stopped:
            return
        except BaseException:
            job.stop.set()
            raise
        job.dist[req.rows, req.col] = dist
        job.dur[req.rows, req.col] = dur

    def _request(self, job: _Job, req: _Request) -> tuple[np.ndarray, np.ndarray]:
        """Distances and durations (float64, ``inf`` where no route) of one request, checked."""
        payload = self._fetch(job, req)
        try:
            dist, dur, none = _parse_results(payload, req)
        except ValueError as exc:
            raise self._fail(req, f"unexpected reply: {exc}") from None
        problem = self._implausible(dist, dur, ~none, req)
        if problem:
            raise self._fail(req, f"implausible reply: {problem}")
        dist[none] = np.inf
        dur[none] = np.inf
        return dist, dur

    def _implausible(self, dist: np.ndarray, dur: np.ndarray, valid: np.ndarray, req: _Request) -> str:
        """``""``, or the first implausible value named with its pair and how many the reply has."""
        with np.errstate(invalid="ignore", over="ignore"):
            checks = (
                (dist < 0, "distance {m} m is negative"),
                (dur < 0, "duration {d} s is negative"),
                (dur > self.max_trip_s, "duration {d} s is above max_trip_s=" + f"{self.max_trip_s:g} s"),
                (
                    (dist > _SPEED_CHECK_MIN_M) & (dist * 3.6 > self.max_speed_kmh * dur),
                    "distance {m} m in {d} s is {v} km/h, above max_speed_kmh=" + f"{self.max_speed_kmh:g}",
                ),
            )
        bad = [mask & valid for mask, _ in checks]
        count = int(np.stack(bad).any(axis=0).sum())
        for mask, (_, text) in zip(bad, checks):
            if mask.any():
                r = int(np.flatnonzero(mask)[0])
                d, m = float(dur[r]), float(dist[r])
                speed = f"{m * 3.6 / d:.0f}" if d > 0 else "infinite"
                what = text.format(d=f"{d:g}", m=f"{m:g}", v=speed)
                return f"{req.pair(r)}: {what} ({count} implausible value(s) in this reply)"
        return ""

    # ------------------------------------------------------------------ #
    # HTTP
    # ------------------------------------------------------------------ #

    def _target(self, job: _Job, req: _Request) -> str:
        """Path and query of one request (it holds the key: never show it)."""
        query = (
            f"key={self._key}&origins={'|'.join(job.origins[req.rows])}"
            f"&destination={job.destinations[req.col]}&type={self.type}&output=json"
        )
        return f"{urllib.parse.urlsplit(self.base_url).path}/v3/distance?{query}"

    def _fail(self, req: _Request, reason: str) -> TravelError:
        text = _one_line(reason, 700).replace(self._key, "<key>")
        return TravelError(f"Amap distance request to {self.endpoint} ({req.describe()}) failed: {text}")

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _fetch(self, job: _Job, req: _Request) -> dict[str, object]:
        """The ``status "1"`` reply of one request: rate-limited and transient failures are retried."""
        target = self._target(job, req)
        tries = {"rate": 0, "transient": 0}
        last = ""
        while True:
            if job.stop.is_set():
                raise _Stopped
            self._take_turn(job, req, last)
            try:
                return self._attempt(target, job.deadline)
            except _Failure as exc:
                last = exc.reason
                attempts = 1 + sum(tries.values())
                said = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                if exc.kind == "fatal":
                    raise self._fail(req, exc.reason) from None
                if exc.kind == "late":
                    raise self._fail(req, f"{exc.reason} ({said})") from None
                limit = self.rate_retries if exc.kind == "rate" else self.retries
                if tries[exc.kind] >= limit:
                    raise self._fail(req, f"{exc.reason} (gave up after {said})") from None
                self._wait_before_retry(job, req, exc, tries[exc.kind], said)
                tries[exc.kind] += 1
                self._count("retried")

    def _take_turn(self, job: _Job, req: _Request, last: str) -> None:
        """Wait for the rate limiter's next slot, or fail when it comes after the deadline."""
        try:
            self.limiter.acquire(limit_s=job.deadline.left())
        except TimeoutError as exc:
            why = f"{last}; then " if last else ""
            raise self._fail(
                req,
                f"{why}no time left within the timeout_s={self.timeout_s:g} s deadline at qps={self.qps:g} ({exc})",
            ) from None

    def _wait_before_retry(self, job: _Job, req: _Request, exc: _Failure, done: int, said: str) -> None:
        """Back off before retry ``done + 1`` of this kind: a rate-limit reply pauses every worker."""
        if exc.kind == "rate":
            self._count("rate_limited")
            self.limiter.pause(self.rate_backoff_s * 2.0**done)
            return
        wait = self.backoff_s * 2.0**done
        if job.deadline.left() <= wait:
            deadline = f"the timeout_s={self.timeout_s:g} s deadline"
            raise self._fail(req, f"{exc.reason} ({said}; no time left for a retry within {deadline})")
        self._sleep(wait)

    def _attempt(self, target: str, deadline: _Deadline) -> dict[str, object]:
        """One GET: the reply if its status is "1", else the :class:`_Failure` it stands for."""
        left = deadline.left()
        if left <= 0:
            raise _Failure(self._late(), "late")
        attempt = _Deadline(min(deadline.end, time.monotonic() + self.request_timeout_s), self.request_timeout_s)
        url = urllib.parse.urlsplit(self.base_url)
        host = url.hostname or ""
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(host, url.port, timeout=attempt.left())
        headers = {"User-Agent": "planner-travel/1", "Accept": "application/json", "Connection": "close"}
        self._count("requests")
        try:
            conn.request("GET", target, headers=headers)
            resp = _DeadlineResponse(conn.sock, attempt)
            resp.begin()
            if resp.status != 200:
                raise self._status_failure(resp.status, resp.reason)
            return _classify(_read_body(resp, attempt, _REPLY_LIMIT))
        except TimeoutError as exc:  # every socket wait is bounded by the attempt's time left
            if deadline.left() <= 0:
                raise _Failure(self._late(), "late") from exc
            raise _Failure(f"no reply within request_timeout_s={self.request_timeout_s:g} s", "transient") from exc
        except (ConnectionError, http.client.IncompleteRead) as exc:
            raise _Failure(f"connection lost or refused: {exc}", "transient") from exc
        except socket.gaierror as exc:
            raise _Failure(f"cannot resolve host {host!r}: {exc}", "fatal") from exc
        except _AttemptError as exc:  # reply too large
            raise _Failure(exc.reason, "fatal") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _Failure(f"connection error: {exc!r}", "fatal") from exc
        finally:
            conn.close()

    def _late(self) -> str:
        return (
            f"no complete reply before the deadline: timeout_s={self.timeout_s:g} s covers the whole "
            "matrix() call (every request, retry and wait)"
        )

    @staticmethod
    def _status_failure(status: int, reason: str) -> _Failure:
        """HTTP 5xx and 429 are worth a retry; anything else (4xx, redirects) is not."""
        text = f"HTTP {status} {_one_line(reason, 80)}"
        if status >= 500 or status == 429:
            return _Failure(text, "transient")
        return _Failure(
            f"{text}: not retried (redirects are not followed: base_url must be the API host itself)", "fatal"
        )


def _as_text(points: np.ndarray) -> list[str]:
    """WGS-84 (lon, lat) rows as GCJ-02 ``"lon,lat"`` strings with 6 decimals, what Amap expects."""
    if len(points) == 0:
        return []
    lon, lat = wgs84_to_gcj02(points[:, 0], points[:, 1])
    return [f"{x:.6f},{y:.6f}" for x, y in zip(lon.tolist(), lat.tolist())]
