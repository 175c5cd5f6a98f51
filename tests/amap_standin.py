"""A local stand-in for the Amap (高德) Web Service distance API, for tests (never call the real one).

``GET /v3/distance?key=K&origins=lon,lat|lon,lat|...&destination=lon,lat&type=1&output=json``
answers, as documented (https://lbs.amap.com/api/webservice/guide/api/direction, section 距离测量):

    {"status": "1", "info": "OK", "infocode": "10000", "count": "N",
     "results": [{"origin_id": "1", "dest_id": "1", "distance": "1234", "duration": "210"}, ...]}

with distance = haversine x 1.3 and duration at 30 km/h, computed from the (GCJ-02) coordinates it
receives, rounded to whole metres and seconds as strings.  It checks the key, ``origins`` (1 to 100
``lon,lat`` pairs separated by ``|``, at most 6 decimals), ``destination`` (one pair), ``type`` (0, 1
or 3) and ``output`` (JSON), and answers ``status "0"`` with the documented info/infocode otherwise.

Every request is recorded (:class:`Seen`: the time on ``clock``, key, origins, destination, type).
Knobs (set them on the object; each "next N" counts down one per request):

* ``too_frequent``: the next N requests get ``rate_limit_infocode`` (10004 ACCESS_TOO_FREQUENT;
  10021 CUQPS_HAS_EXCEEDED_THE_LIMIT...);
* ``daily_quota``: every request gets 10003 DAILY_QUERY_OVER_LIMIT (``quota_infocode`` for 10044);
* a request with another key than ``key`` gets 10001 INVALID_USER_KEY;
* ``http_500``: the next N requests get HTTP 500;
* ``slow``: the next N requests are answered after ``slow_s`` seconds;
* ``garbage``: the next N requests get a 200 reply that is not JSON;
* ``no_route``: a predicate ``(olon, olat, dlon, dlat) -> bool`` on the received coordinates: such
  pairs get ``{"origin_id", "dest_id", "distance": "0", "duration": "0", "info": ..., "code": "1"}``;
* ``script``: replies for the next requests, each bytes (sent as is) or anything else (sent as JSON).

Use as a context manager: ``with AmapStandin(key="k") as amap: AmapBackend("k", base_url=amap.url)``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

EARTH_RADIUS_M = 6371008.8
DETOUR = 1.3
SPEED_KMH = 30.0
MAX_ORIGINS = 100

_PAIR = re.compile(r"-?\d{1,3}(\.\d{1,6})?,-?\d{1,2}(\.\d{1,6})?")

ERRORS = {
    "10001": "INVALID_USER_KEY",
    "10002": "SERVICE_NOT_AVAILABLE",
    "10003": "DAILY_QUERY_OVER_LIMIT",
    "10004": "ACCESS_TOO_FREQUENT",
    "10019": "CQPS_HAS_EXCEEDED_THE_LIMIT",
    "10020": "CKQPS_HAS_EXCEEDED_THE_LIMIT",
    "10021": "CUQPS_HAS_EXCEEDED_THE_LIMIT",
    "10044": "USER_DAILY_QUERY_OVER_LIMIT",
    "20000": "INVALID_PARAMS",
    "20001": "MISSING_REQUIRED_PARAMS",
    "20003": "UNKNOWN_ERROR",
}


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def expected(olon: float, olat: float, dlon: float, dlat: float) -> tuple[int, int]:
    """What the stand-in answers for one pair of GCJ-02 points: (metres, seconds)."""
    d = haversine_m(olon, olat, dlon, dlat) * DETOUR
    return round(d), round(d * 3.6 / SPEED_KMH)


@dataclass(frozen=True)
class Seen:
    """One request as the stand-in received it."""

    at: float
    key: str
    origins: list[tuple[float, float]]
    destination: tuple[float, float]
    type: str
    path: str


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json;charset=UTF-8") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (its deadline): nothing to answer
            self.close_connection = True

    def _json(self, payload: object) -> None:
        self._send(200, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    def _error(self, infocode: str) -> None:
        self._json({"status": "0", "info": ERRORS[infocode], "infocode": infocode})

    def do_GET(self) -> None:
        standin = self.server.standin
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        seen = standin.record(parts.path, query)
        action = standin.next_action()
        if action is not None:
            return self._act(action)
        if parts.path != "/v3/distance":
            return self._error("10002")
        if query.get("key") != standin.key:
            return self._error("10001")
        if standin.daily_quota:
            return self._error(standin.quota_infocode)
        if seen is None:
            return self._error("20001" if not all(query.get(k) for k in ("origins", "destination")) else "20000")
        return self._json(standin.answer(seen))

    def _act(self, action: object) -> None:
        if action == "500":
            return self._send(500, b"<html>500 Internal Server Error</html>", "text/html")
        if action == "garbage":
            return self._send(200, b"<html><body>\xe7\xb3\xbb\xe7\xbb\x9f\xe7\xb9\x81\xe5\xbf\x99 oops", "text/html")
        if isinstance(action, tuple) and action[0] == "rate":
            return self._error(action[1])
        if isinstance(action, bytes):
            return self._send(200, action)
        return self._send(200, json.dumps(action, ensure_ascii=False).encode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: AmapStandin


class AmapStandin:
    """The stand-in server on 127.0.0.1 and a free port, serving in a thread (see the module docstring)."""

    def __init__(self, key: str = "standinkey0123456789abcdef012345", *, clock: Callable[[], float] | None = None):
        self.key = key
        self.clock = clock if clock is not None else time.monotonic
        self.lock = threading.Lock()
        self.requests: list[Seen] = []
        self.too_frequent = 0
        self.rate_limit_infocode = "10004"
        self.daily_quota = False
        self.quota_infocode = "10003"
        self.http_500 = 0
        self.slow = 0
        self.slow_s = 0.5
        self.garbage = 0
        self.no_route: Callable[[float, float, float, float], bool] | None = None
        self.script: list[object] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> AmapStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what the handler asks ------------------------------------------------

    def record(self, path: str, query: dict[str, str]) -> Seen | None:
        """Record the request; the parsed request when its parameters are valid, else None."""
        origins = _pairs(query.get("origins", ""))
        dest = _pairs(query.get("destination", ""))
        ok = (
            origins is not None and 1 <= len(origins) <= MAX_ORIGINS and dest is not None and len(dest) == 1
            and query.get("type", "1") in ("0", "1", "3") and query.get("output", "JSON").upper() == "JSON"
        )
        seen = Seen(self.clock(), query.get("key", ""), origins or [], (dest or [(math.nan, math.nan)])[0],
                    query.get("type", "1"), path)
        with self.lock:
            self.requests.append(seen)
        return seen if ok else None

    def next_action(self) -> object:
        """The scripted or knob-driven reply for this request, or None for a normal answer."""
        with self.lock:
            slow = self.slow > 0
            self.slow -= slow
            if self.script:
                action: object = self.script.pop(0)
            elif self.too_frequent > 0:
                self.too_frequent -= 1
                action = ("rate", self.rate_limit_infocode)
            elif self.http_500 > 0:
                self.http_500 -= 1
                action = "500"
            elif self.garbage > 0:
                self.garbage -= 1
                action = "garbage"
            else:
                action = None
        if slow:
            time.sleep(self.slow_s)
        return action

    def answer(self, seen: Seen) -> dict:
        dlon, dlat = seen.destination
        results = []
        for i, (olon, olat) in enumerate(seen.origins, start=1):
            item: dict[str, str] = {"origin_id": str(i), "dest_id": "1"}
            if self.no_route is not None and self.no_route(olon, olat, dlon, dlat):
                item.update(distance="0", duration="0", info="未找到驾车路线", code="1")
            else:
                metres, seconds = expected(olon, olat, dlon, dlat)
                if seen.type == "0":
                    seconds = 0
                item.update(distance=str(metres), duration=str(seconds))
            results.append(item)
        return {"status": "1", "info": "OK", "infocode": "10000", "count": str(len(results)), "results": results}


def _pairs(text: str) -> list[tuple[float, float]] | None:
    """``lon,lat|lon,lat`` as floats; None when any pair is malformed or out of range."""
    if not text:
        return None
    out = []
    for pair in text.split("|"):
        if not _PAIR.fullmatch(pair):
            return None
        lon, lat = (float(x) for x in pair.split(","))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        out.append((lon, lat))
    return out
