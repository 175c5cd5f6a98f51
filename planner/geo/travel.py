"""Many-to-many travel distance and time matrices.

Coordinates are ``(lon, lat)`` pairs in WGS-84 degrees, passed as numpy arrays
of shape ``(n, 2)``: column 0 is longitude, column 1 latitude.  Distances are in
metres (``_m``), times in seconds (``_s``), speeds in km/h (``_kmh``).

Model
-----
Two backends produce a :class:`Matrix` of road distance and travel time between
every origin and every destination (``float32``, shape ``(n_orig, n_dest)``):

* :class:`GreatCircleBackend` (the default) needs no network.  The road distance
  is the haversine great-circle distance (Earth radius 6,371,008.8 m) times a
  constant ``detour_factor`` (1.3 by default: roads are about 30 % longer than
  the straight line).  The travel time comes from a :class:`SpeedProfile`: the
  first ``urban_radius_m`` of every trip are driven at ``urban_speed_kmh``
  (getting out of town), the rest at ``suburban_speed_kmh`` (suburban roads and
  intercity expressways), and every trip of non-zero length pays a fixed
  ``stop_overhead_s`` for parking and walking to the door.  A trip of zero
  length takes zero time, so the diagonal of an origins x origins matrix is 0.
  The result is symmetric and the distance satisfies the triangle inequality
  (up to float32 rounding).  Work is done in row chunks of a few million cells,
  so temporaries stay bounded (about 50 MB) whatever the matrix size, and the
  output may be a pre-allocated array such as a ``numpy.memmap``.
* :class:`OSRMBackend` asks the user's own OSRM server (its ``/table`` service)
  for real road distances and durations, splitting large matrices into blocks
  the server accepts.  ``timeout_s`` is one deadline for the whole call;
  transient failures (5xx, timeouts, lost connections) are retried with
  exponential backoff; implausible values (negative, NaN, absurd durations or
  speeds) are refused.  OSRM durations are pure driving time;
  ``stop_overhead_s`` (default 0) can add a per-trip overhead.  Failures raise
  :class:`TravelError`, unless ``fallback=True`` lets the built-in model answer
  (the matrix's ``note`` and a :class:`TravelWarning` say so).

Unreachable pairs (OSRM's ``null``) are ``inf`` in both arrays of the
:class:`Matrix`; :attr:`Matrix.unreachable` lists them,
:meth:`Matrix.describe_unreachable` names them and
:meth:`Matrix.finite_time_s` replaces them by a finite penalty for solvers that
need finite costs.

:func:`travel_matrix` validates the inputs, picks the default backend and
optionally goes through a :class:`TravelCache` (in-memory LRU, optionally
persisted as ``.npz`` files).  :func:`nearest` finds, for each origin, the
destination with the smallest travel time without building the whole matrix
at once.

Nothing is created at import time; the only mutable state is whatever
:class:`TravelCache` object the caller creates and passes in.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import math
import os
import socket
import tempfile
import threading
import time
import urllib.parse
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "EARTH_RADIUS_M",
    "GreatCircleBackend",
    "Matrix",
    "OSRMBackend",
    "SpeedProfile",
    "TravelBackend",
    "TravelCache",
    "TravelError",
    "TravelWarning",
    "haversine_m",
    "haversine_matrix_m",
    "nearest",
    "travel_matrix",
    "validate_coords",
]

#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6371008.8

#: OSRM's /table sometimes answers a slightly negative distance at zero duration (two points snapped to
#: the same spot; osrm-backend#5855): down to this many metres below 0 it is read as 0, not refused.
OSRM_NEGATIVE_NOISE_M = 50.0

#: Target number of cells per chunk (float64 temporaries: 3 buffers of 16 MB).
_CHUNK_CELLS = 2**21


class TravelError(RuntimeError):
    """A travel backend could not produce a matrix (server unreachable, error reply...)."""


class TravelWarning(UserWarning):
    """A matrix is not what was asked for (e.g. the built-in model stood in for a failed server)."""


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #


def _check_number(name: str, value: object, *, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if strict and not x > minimum:
        raise ValueError(f"{name} must be > {minimum:g}, got {value!r}")
    if not strict and not x >= minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return x


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def validate_coords(points: object, *, name: str = "points") -> np.ndarray:
    """Return ``points`` as a C-contiguous float64 ``(n, 2)`` array of (lon, lat).

    A single point of shape ``(2,)`` is accepted as one row.  Raises
    ``ValueError`` naming ``name``, the problem and the first bad row index for
    a wrong shape, non-finite values, longitude outside [-180, 180] or latitude
    outside [-90, 90].
    """
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot convert to a float array of (lon, lat): {exc}") from None
    if arr.ndim == 1 and arr.shape[0] == 2:
        arr = arr.reshape(1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"{name}: expected shape (n, 2) with columns (lon, lat), got shape {arr.shape}"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"{name} row {i}: non-finite coordinate (lon={float(arr[i, 0])!r}, "
            f"lat={float(arr[i, 1])!r})"
        )
    bad_lon = np.abs(arr[:, 0]) > 180.0
    if bad_lon.any():
        i = int(np.flatnonzero(bad_lon)[0])
        raise ValueError(f"{name} row {i}: longitude {float(arr[i, 0])!r} outside [-180, 180]")
    bad_lat = np.abs(arr[:, 1]) > 90.0
    if bad_lat.any():
        i = int(np.flatnonzero(bad_lat)[0])
        raise ValueError(
            f"{name} row {i}: latitude {float(arr[i, 1])!r} outside [-90, 90] "
            "(columns must be (lon, lat), not (lat, lon))"
        )
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- #
# Speed model and result type
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class SpeedProfile:
    """Travel time as a function of road distance.

    ``time_s(d) = stop_overhead_s + min(d, urban_radius_m) / urban speed
    + max(d - urban_radius_m, 0) / suburban speed`` for ``d > 0``, and 0 for
    ``d == 0``.  The first ``urban_radius_m`` of any trip are driven at urban
    speed (leaving town), the rest at suburban/intercity speed.

    Attributes:
        detour_factor: road distance / great-circle distance (>= 1).
        urban_speed_kmh: speed over the first ``urban_radius_m`` of a trip (> 0).
        urban_radius_m: length of the urban part of a trip (>= 0).
        suburban_speed_kmh: speed beyond ``urban_radius_m`` (> 0).
        stop_overhead_s: parking/walking time per trip of non-zero length (>= 0).
    """

    detour_factor: float = 1.3
    urban_speed_kmh: float = 25.0
    urban_radius_m: float = 8000.0
    suburban_speed_kmh: float = 60.0
    stop_overhead_s: float = 300.0

    def __post_init__(self) -> None:
        checks = {
            "detour_factor": (1.0, False),
            "urban_speed_kmh": (0.0, True),
            "urban_radius_m": (0.0, False),
            "suburban_speed_kmh": (0.0, True),
            "stop_overhead_s": (0.0, False),
        }
        for name, (minimum, strict) in checks.items():
            value = _check_number(name, getattr(self, name), minimum=minimum, strict=strict)
            object.__setattr__(self, name, value)

    def time_s(self, distance_m: np.ndarray) -> np.ndarray:
        """Travel time (float64 seconds) for road distances in metres (any shape)."""
        d = np.asarray(distance_m, dtype=np.float64)
        out = np.empty_like(d)
        self._fill_time(d, out, np.empty_like(d))
        return out

    def _fill_time(self, d: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
        """Write ``time_s(d)`` into ``out`` using ``tmp`` as scratch (same shapes)."""
        radius = self.urban_radius_m
        np.minimum(d, radius, out=out)
        out *= 3.6 / self.urban_speed_kmh
        np.subtract(d, radius, out=tmp)
        np.maximum(tmp, 0.0, out=tmp)
        tmp *= 3.6 / self.suburban_speed_kmh
        out += tmp
        out += self.stop_overhead_s
        np.copyto(out, 0.0, where=d == 0.0)


@dataclass(frozen=True, eq=False)
class Matrix:
    """Travel matrix between ``n_orig`` origins and ``n_dest`` destinations.

    Unreachable pairs (no route: OSRM's ``null``) are ``inf`` in both arrays.
    :attr:`unreachable` lists them, :meth:`describe_unreachable` names them and
    :meth:`finite_time_s` gives a cost matrix with a finite penalty in their
    place for solvers that need finite costs.

    Attributes:
        distance_m: road distance in metres, float32, shape (n_orig, n_dest).
        time_s: travel time in seconds, float32, same shape; ``inf`` = unreachable.
        backend: name of the backend that produced it (e.g. ``"great_circle"``).
        note: empty, or why the matrix is not what was asked for: it starts with
            ``"fallback:"`` when the built-in model stood in for a failed OSRM
            server.  :func:`travel_matrix` never caches a matrix with a note.
    """

    distance_m: np.ndarray
    time_s: np.ndarray
    backend: str
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("distance_m", "time_s"):
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray):
                raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
            if arr.ndim != 2:
                raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
            if arr.dtype != np.float32:
                raise ValueError(f"{name} must be float32, got {arr.dtype}")
        if self.time_s.shape != self.distance_m.shape:
            raise ValueError(
                f"time_s shape {self.time_s.shape} != distance_m shape {self.distance_m.shape}"
            )
        if not isinstance(self.backend, str) or not self.backend:
            raise ValueError(f"backend must be a non-empty string, got {self.backend!r}")
        if not isinstance(self.note, str):
            raise ValueError(f"note must be a string, got {type(self.note).__name__}")

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_orig, n_dest)``."""
        return self.distance_m.shape

    def _unreachable_mask(self) -> np.ndarray:
        return ~(np.isfinite(self.time_s) & np.isfinite(self.distance_m))

    @property
    def unreachable(self) -> np.ndarray:
        """``(origin, destination)`` index pairs with no route (``inf``), int64, shape (k, 2).

        Row-major order; empty (shape (0, 2)) when every pair is reachable.
        """
        return np.argwhere(self._unreachable_mask()).astype(np.int64, copy=False)

    def describe_unreachable(
        self,
        origins: Sequence[object] | np.ndarray | None = None,
        destinations: Sequence[object] | np.ndarray | None = None,
        *,
        limit: int = 5,
    ) -> str:
        """One line naming the unreachable pairs, or ``""`` when there are none.

        E.g. ``"2 unreachable pairs (origin -> destination): A -> X, B -> X"``.
        ``origins``/``destinations`` give the names (e.g. account and office
        ids, indexed like the matrix rows and columns); without them the
        indices are shown.  At most ``limit`` pairs are named.
        """
        _check_int("limit", limit, minimum=1)
        pairs = self.unreachable
        if len(pairs) == 0:
            return ""
        names = [
            f"{origins[i] if origins is not None else i} -> "
            f"{destinations[j] if destinations is not None else j}"
            for i, j in pairs[:limit].tolist()
        ]
        more = f", ... ({len(pairs) - limit} more)" if len(pairs) > limit else ""
        word = "pair" if len(pairs) == 1 else "pairs"
        return f"{len(pairs)} unreachable {word} (origin -> destination): {', '.join(names)}{more}"

    def finite_time_s(self, penalty_s: float) -> np.ndarray:
        """``time_s`` as a new float64 array with every unreachable pair set to ``penalty_s``.

        For solvers that need finite costs.  The penalty hides the pairs in the
        plan: report :meth:`describe_unreachable` alongside it.
        """
        penalty = _check_number("penalty_s", penalty_s, minimum=0.0, strict=False)
        out = self.time_s.astype(np.float64)
        out[self._unreachable_mask()] = penalty
        return out


@runtime_checkable
class TravelBackend(Protocol):
    """Anything that can compute a :class:`Matrix` from (lon, lat) arrays."""

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        """Distance/time from every origin (rows) to every destination (columns)."""
        ...

    def cache_key(self) -> str:
        """A string that changes whenever the backend's results could change."""
        ...


# --------------------------------------------------------------------------- #
# Great-circle geometry
# --------------------------------------------------------------------------- #


class _Trig:
    """Per-point trigonometric terms used by the haversine kernel."""

    __slots__ = ("sin_hlat", "cos_hlat", "sin_hlon", "cos_hlon", "cos_lat")

    def __init__(self, pts: np.ndarray) -> None:
        lon = np.radians(pts[:, 0])
        lat = np.radians(pts[:, 1])
        self.sin_hlat = np.sin(lat / 2)
        self.cos_hlat = np.cos(lat / 2)
        self.sin_hlon = np.sin(lon / 2)
        self.cos_hlon = np.cos(lon / 2)
        self.cos_lat = np.cos(lat)


def _central_angle_chunk(
    o: _Trig, rows: slice, d: _Trig, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> None:
    """Write the great-circle central angle (radians) for ``rows`` x all into ``a``.

    Uses sin((x2 - x1)/2) = sin(x2/2)cos(x1/2) - cos(x2/2)sin(x1/2): only products
    per cell, accurate for nearby points, exactly 0 for identical points and
    exactly symmetric (the products are the same in both directions).
    """
    np.multiply.outer(o.cos_hlat[rows], d.sin_hlat, out=a)
    np.multiply.outer(o.sin_hlat[rows], d.cos_hlat, out=b)
    a -= b
    a *= a  # sin^2(dlat/2)
    np.multiply.outer(o.cos_hlon[rows], d.sin_hlon, out=b)
    np.multiply.outer(o.sin_hlon[rows], d.cos_hlon, out=c)
    b -= c
    b *= b  # sin^2(dlon/2)
    np.multiply.outer(o.cos_lat[rows], d.cos_lat, out=c)
    b *= c
    a += b  # haversine h
    np.clip(a, 0.0, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2.0


def haversine_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between ``a[i]`` and ``b[i]`` (float64, shape (n,)).

    ``a`` and ``b`` are (n, 2) (lon, lat) arrays of the same length; either may
    be a single point, which is then paired with every row of the other.
    """
    pa = validate_coords(a, name="a")
    pb = validate_coords(b, name="b")
    if len(pa) != len(pb) and len(pa) != 1 and len(pb) != 1:
        raise ValueError(f"a and b must have the same length, got {len(pa)} and {len(pb)}")
    lon1, lat1 = np.radians(pa[:, 0]), np.radians(pa[:, 1])
    lon2, lat2 = np.radians(pb[:, 0]), np.radians(pb[:, 1])
    h = np.sin((lat2 - lat1) / 2) ** 2
    h += np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def haversine_matrix_m(origins: np.ndarray, destinations: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres from every origin to every destination.

    Float64, shape (n_orig, n_dest), no detour factor.  Builds the whole matrix:
    use :class:`GreatCircleBackend` for large inputs.
    """
    po = validate_coords(origins, name="origins")
    pd_ = validate_coords(destinations, name="destinations")
    shape = (len(po), len(pd_))
    a, b, c = np.empty(shape), np.empty(shape), np.empty(shape)
    _central_angle_chunk(_Trig(po), slice(None), _Trig(pd_), a, b, c)
    a *= EARTH_RADIUS_M
    return a


def _check_out(name: str, out: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name} must be a numpy array (or memmap), got {type(out).__name__}")
    if out.shape != shape or out.dtype != np.float32:
        raise ValueError(
            f"{name} must be float32 with shape {shape}, got {out.dtype} {out.shape}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


@dataclass(frozen=True)
class GreatCircleBackend:
    """Haversine distance x detour factor, time from a :class:`SpeedProfile`.

    Vectorised numpy in row chunks of about ``2**21`` cells (``chunk_rows`` rows
    if given), so temporaries stay around 50-100 MB whatever the matrix size.
    Results are bit-identical whatever the chunking.

    Measured (dev box, 2 cores, numpy 2.4, single-threaded): 5,000 x 5,000
    random points in Fujian in 0.7-1.7 s including allocation of the two
    float32 outputs (200 MB); ``nearest`` of 100,000 x 200 in about 0.6 s.

    Attributes:
        profile: the speed model (detour factor, speeds, overhead).
        chunk_rows: rows per chunk; ``None`` picks about 2 million cells per chunk.
    """

    profile: SpeedProfile = field(default_factory=SpeedProfile)
    chunk_rows: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.profile, SpeedProfile):
            raise ValueError(f"profile must be a SpeedProfile, got {type(self.profile).__name__}")
        if self.chunk_rows is not None:
            _check_int("chunk_rows", self.chunk_rows, minimum=1)

    def cache_key(self) -> str:
        """Parameters that determine the result (not ``chunk_rows``)."""
        p = self.profile
        return (
            f"great_circle:R={EARTH_RADIUS_M!r}:detour={p.detour_factor!r}"
            f":urban={p.urban_speed_kmh!r}kmh/{p.urban_radius_m!r}m"
            f":suburban={p.suburban_speed_kmh!r}kmh:overhead={p.stop_overhead_s!r}s"
        )

    def matrix(
        self,
        origins: np.ndarray,
        destinations: np.ndarray,
        *,
        out_distance: np.ndarray | None = None,
        out_time: np.ndarray | None = None,
    ) -> Matrix:
        """Distance/time matrix; ``out_distance``/``out_time`` may be float32
        (n_orig, n_dest) arrays (e.g. ``numpy.memmap``) to write into."""
        po = validate_coords(origins, name="origins")
        pd_ = validate_coords(destinations, name="destinations")
        n, m = len(po), len(pd_)
        dist = _check_out("out_distance", out_distance, (n, m))
        time = _check_out("out_time", out_time, (n, m))
        if n == 0 or m == 0:
            return Matrix(dist, time, "great_circle")
        rows = self.chunk_rows if self.chunk_rows is not None else max(1, _CHUNK_CELLS // m)
        rows = min(rows, n)
        to, td = _Trig(po), _Trig(pd_)
        a, b, c = (np.empty((rows, m)) for _ in range(3))
        scale = EARTH_RADIUS_M * self.profile.detour_factor
        for start in range(0, n, rows):
            sl = slice(start, min(start + rows, n))
            k = sl.stop - start
            ak, bk, ck = a[:k], b[:k], c[:k]
            _central_angle_chunk(to, sl, td, ak, bk, ck)
            ak *= scale
            dist[sl] = ak
            self.profile._fill_time(ak, bk, ck)
            time[sl] = bk
        return Matrix(dist, time, "great_circle")


# --------------------------------------------------------------------------- #
# OSRM
# --------------------------------------------------------------------------- #

#: Bytes asked of the socket per read of a reply.
_READ_CHUNK = 65536

#: Trips shorter than this (metres) skip the speed check (snapping noise).
_SPEED_CHECK_MIN_M = 1000.0


def _block_sizes(n: int, m: int, max_table_size: int) -> tuple[int, int]:
    """Rows/columns per request (s + t <= max_table_size) minimising requests."""
    if n + m <= max_table_size:
        return n, m
    best: tuple[int, int, int] | None = None
    for s in range(1, min(n, max_table_size - 1) + 1):
        t = min(m, max_table_size - s)
        count = math.ceil(n / s) * math.ceil(m / t)
        if best is None or count < best[0]:
            best = (count, s, t)
    assert best is not None
    return best[1], best[2]


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class _Block:
    """One request's part of the matrix: ``rows`` x ``cols``, request ``number`` of ``total``."""

    rows: slice
    cols: slice
    number: int
    total: int

    def describe(self) -> str:
        return (
            f"block {self.number} of {self.total}: origins {self.rows.start}-{self.rows.stop - 1}"
            f" x destinations {self.cols.start}-{self.cols.stop - 1}"
        )

    def pair(self, r: int, c: int) -> str:
        """The whole matrix's (origin, destination) of the block's cell (r, c)."""
        return f"origin {self.rows.start + r} -> destination {self.cols.start + c}"


def _blocks(n: int, m: int, max_table_size: int) -> list[_Block]:
    """The requests covering an n x m matrix, each with at most ``max_table_size`` coordinates."""
    if n == 0 or m == 0:
        return []
    s, t = _block_sizes(n, m, max_table_size)
    spans = [
        (slice(i, min(i + s, n)), slice(j, min(j + t, m)))
        for i in range(0, n, s)
        for j in range(0, m, t)
    ]
    return [_Block(rows, cols, k + 1, len(spans)) for k, (rows, cols) in enumerate(spans)]


@dataclass(frozen=True)
class _Deadline:
    """The end (``time.monotonic()``) of one ``matrix()`` call and the ``timeout_s`` it came from."""

    end: float
    timeout_s: float

    @classmethod
    def after(cls, timeout_s: float) -> _Deadline:
        return cls(time.monotonic() + timeout_s, timeout_s)

    def left(self) -> float:
        """Seconds left; <= 0 once the deadline has passed."""
        return self.end - time.monotonic()


class _AttemptError(Exception):
    """One HTTP attempt failed; ``retry``: another attempt may succeed; ``late``: the deadline passed."""

    def __init__(self, reason: str, *, retry: bool, late: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.late = late


class _DeadlineReader(io.RawIOBase):
    """A socket's incoming bytes: each receive waits at most for the time left before the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        left = self._deadline.left()
        if left <= 0:
            raise TimeoutError("deadline passed")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineResponse(http.client.HTTPResponse):
    """An HTTP response whose status line, headers and body are all read under the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        super().__init__(sock, method="GET")
        self.fp.close()
        self.fp = io.BufferedReader(_DeadlineReader(sock, deadline), _READ_CHUNK)


def _read_body(resp: http.client.HTTPResponse, deadline: _Deadline, limit: int) -> bytes:
    """The reply's body, read in chunks with the deadline checked between them; at most ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        if deadline.left() <= 0:
            raise TimeoutError("deadline passed")
        chunk = resp.read(_READ_CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise _AttemptError(f"reply larger than {limit} bytes", retry=False)
        parts.append(chunk)


def _reply_limit(k: int, l_: int) -> int:
    """Generous size bound of a /table reply for k sources and l_ destinations (bytes)."""
    return 1_000_000 + 64 * k * l_ + 4096 * (k + l_)


def _error_detail(resp: http.client.HTTPResponse, deadline: _Deadline) -> str:
    """``": code 'X': message"`` from an OSRM error body, or ``""`` when it has none."""
    try:
        payload = json.loads(_read_body(resp, deadline, _READ_CHUNK).decode("utf-8", "replace"))
    except (OSError, ValueError, RecursionError, http.client.HTTPException, _AttemptError):
        return ""
    if not isinstance(payload, dict):
        return ""
    return f": code {payload.get('code')!r}: {_one_line(str(payload.get('message', '')), 200)}"


def _table_values(rows: object, key: str, block: _Block) -> tuple[np.ndarray, np.ndarray]:
    """A reply's ``durations`` or ``distances`` as float64 (0 where null) and the null mask.

    Raises ``ValueError`` for a wrong shape or a value that is neither a number nor null.
    """
    k = block.rows.stop - block.rows.start
    l_ = block.cols.stop - block.cols.start
    if not isinstance(rows, list) or len(rows) != k or not all(
        isinstance(row, list) and len(row) == l_ for row in rows
    ):
        raise ValueError(f"{key!r} is not {k} rows of {l_} values")
    values = np.zeros((k, l_))
    null = np.zeros((k, l_), dtype=bool)
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if v is None:
                null[r, c] = True
            elif type(v) is float:
                values[r, c] = v
            elif type(v) is int:
                values[r, c] = float(v) if abs(v) < 10**300 else math.copysign(math.inf, v)
            else:
                raise ValueError(f"{key} of {block.pair(r, c)} is {_one_line(repr(v), 60)}: not a number or null")
    return values, null


def _parse_table_reply(body: bytes, block: _Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Durations and distances (float64, 0 where null) and where either is null, from a /table reply.

    Raises ``ValueError`` saying what is wrong with the reply.
    """
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"invalid JSON reply: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValueError("reply is not a JSON object")
    if payload.get("code") != "Ok":
        message = _one_line(str(payload.get("message", "no message")), 200)
        raise ValueError(f"code {payload.get('code')!r}: {message}")
    for key in ("durations", "distances"):
        if key not in payload:
            raise ValueError(f"reply has no {key!r} (server too old for annotations?)")
    dur, dur_null = _table_values(payload["durations"], "durations", block)
    dis, dis_null = _table_values(payload["distances"], "distances", block)
    return dur, dis, dur_null | dis_null


@dataclass(frozen=True)
class OSRMBackend:
    """Road distance/duration from an OSRM server's ``/table`` service.

    Uses only the standard library.  A matrix is split into blocks so that each
    request carries at most ``max_table_size`` coordinates (sources plus
    destinations; OSRM's ``--max-table-size`` defaults to 100).

    * Deadline: ``timeout_s`` bounds the whole :meth:`matrix` call (every block,
      retry and backoff wait).  Replies are read in chunks, the deadline is
      checked between them and every socket wait is limited to the time left,
      so a server that drips bytes cannot hold a call past it.
    * Retries: a reply 5xx (or 429), a timeout or a lost connection is retried
      up to ``retries`` times, after ``backoff_s``, ``2 * backoff_s``, ... seconds,
      while the deadline allows.  A 4xx reply is the request's fault (e.g. too
      many coordinates for the server's ``--max-table-size``): not retried.
    * Unreachable pairs (``null`` in the reply) are ``inf`` in both arrays; see
      :attr:`Matrix.unreachable` and :meth:`Matrix.describe_unreachable`.
    * Implausible values are refused: NaN, negative, a duration above
      ``max_trip_s``, or a trip over 1 km implying more than ``max_speed_kmh``.
    * Any failure raises :class:`TravelError` naming the server, the block and
      the reason, unless ``fallback=True``: then the built-in model
      (``GreatCircleBackend()``) answers, the matrix's ``backend`` is
      ``"great_circle"`` and its ``note`` says why, and a :class:`TravelWarning`
      is issued.

    Attributes:
        base_url: e.g. ``"http://127.0.0.1:5000"``.
        profile: OSRM routing profile in the URL (``driving``, ``car``...).
        max_table_size: coordinates per request (>= 2).
        timeout_s: deadline in seconds for one :meth:`matrix` call, all blocks
            and retries included (> 0).  :func:`nearest` calls :meth:`matrix`
            once per chunk of origins, each with its own deadline.
        stop_overhead_s: seconds added to every trip of non-zero distance (>= 0;
            OSRM durations are pure driving time, default 0 keeps them as is).
        retries: further attempts of a request after a transient failure (>= 0).
        backoff_s: wait before the first retry, doubled for each next one (>= 0).
        max_trip_s: longest plausible duration of one trip (> 0; 3 days).
        max_speed_kmh: highest plausible average speed of a trip over 1 km (> 0).
        fallback: use the built-in great-circle model when the server fails,
            saying so in the matrix and in a warning (default: raise).
    """

    base_url: str
    profile: str = "driving"
    max_table_size: int = 100
    timeout_s: float = 30.0
    stop_overhead_s: float = 0.0
    retries: int = 2
    backoff_s: float = 0.2
    max_trip_s: float = 3 * 86400.0
    max_speed_kmh: float = 200.0
    fallback: bool = False

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if (
            not isinstance(self.profile, str)
            or not self.profile
            or any(ch in self.profile for ch in "/?;&# ")
        ):
            raise ValueError(f"profile must be a plain OSRM profile name, got {self.profile!r}")
        _check_int("max_table_size", self.max_table_size, minimum=2)
        _check_int("retries", self.retries, minimum=0)
        numbers = {
            "timeout_s": True,
            "stop_overhead_s": False,
            "backoff_s": False,
            "max_trip_s": True,
            "max_speed_kmh": True,
        }
        for name, strict in numbers.items():
            value = _check_number(name, getattr(self, name), minimum=0.0, strict=strict)
            object.__setattr__(self, name, value)
        if not isinstance(self.fallback, bool):
            raise ValueError(f"fallback must be True or False, got {self.fallback!r}")

    @property
    def endpoint(self) -> str:
        """``{base_url}/table/v1/{profile}`` (without coordinates)."""
        return f"{self.base_url}/table/v1/{self.profile}"

    def cache_key(self) -> str:
        """Server, profile and overhead (not the request block size, retries or deadline)."""
        return f"osrm:{self.endpoint}:overhead={self.stop_overhead_s!r}s"

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        """Query the server block by block within ``timeout_s``.

        Raises :class:`TravelError` on failure, or with ``fallback=True`` returns
        the built-in model's matrix with a ``note`` and a :class:`TravelWarning`.
        """
        po = validate_coords(origins, name="origins")
        pd_ = validate_coords(destinations, name="destinations")
        try:
            return self._query(po, pd_)
        except TravelError as exc:
            if not self.fallback:
                raise
            note = f"fallback: the built-in great-circle model was used because {exc}"
            warnings.warn(note, TravelWarning, stacklevel=2)
            model = GreatCircleBackend().matrix(po, pd_)
            return Matrix(model.distance_m, model.time_s, model.backend, note)

    def _query(self, po: np.ndarray, pd_: np.ndarray) -> Matrix:
        deadline = _Deadline.after(self.timeout_s)
        n, m = len(po), len(pd_)
        dist = np.empty((n, m), dtype=np.float32)
        dur = np.empty((n, m), dtype=np.float32)
        for block in _blocks(n, m, self.max_table_size):
            block_dur, block_dist = self._table(po[block.rows], pd_[block.cols], block, deadline)
            dur[block.rows, block.cols] = block_dur
            dist[block.rows, block.cols] = block_dist
        if self.stop_overhead_s:
            dur[(dist > 0) & np.isfinite(dur)] += np.float32(self.stop_overhead_s)
        return Matrix(dist, dur, "osrm")

    def _fail(self, block: _Block, reason: str) -> TravelError:
        return TravelError(
            f"OSRM table request to {self.endpoint} ({block.describe()}) failed: "
            f"{_one_line(reason, 600)}"
        )

    def _table(
        self, src: np.ndarray, dst: np.ndarray, block: _Block, deadline: _Deadline
    ) -> tuple[np.ndarray, np.ndarray]:
        """Durations and distances (float64, ``inf`` where the server said null) of one block."""
        body = self._fetch(self._target(src, dst), block, deadline, _reply_limit(len(src), len(dst)))
        try:
            dur, dis, null = _parse_table_reply(body, block)
        except ValueError as exc:
            raise self._fail(block, str(exc)) from exc
        with np.errstate(invalid="ignore"):  # OSRM's table bug (osrm-backend#5855): two points snapped to one
            noise = ~null & (dis < 0) & (dis >= -OSRM_NEGATIVE_NOISE_M) & (dur == 0)  # spot, a metre below 0
        dis[noise] = 0.0
        problem = self._implausible(dur, dis, ~null, block)
        if problem:
            raise self._fail(block, f"implausible reply: {problem}")
        dur[null] = np.inf
        dis[null] = np.inf
        return dur, dis

    def _target(self, src: np.ndarray, dst: np.ndarray) -> str:
        """Path and query of the /table request for ``src`` x ``dst``."""
        k, l_ = len(src), len(dst)
        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lon, lat in np.concatenate([src, dst]))
        query = (
            "sources=" + ";".join(map(str, range(k)))
            + "&destinations=" + ";".join(map(str, range(k, k + l_)))
            + "&annotations=duration,distance"
        )
        prefix = urllib.parse.urlsplit(self.base_url).path
        return f"{prefix}/table/v1/{self.profile}/{coords}?{query}"

    def _implausible(self, dur: np.ndarray, dis: np.ndarray, valid: np.ndarray, block: _Block) -> str:
        """``""``, or the first implausible value named with its pair, and how many the block has."""
        with np.errstate(invalid="ignore", over="ignore"):
            checks = (
                (np.isnan(dur), "duration {d} is not a number"),
                (np.isnan(dis), "distance {m} is not a number"),
                (dur < 0, "duration {d} s is negative"),
                (dis < 0, "distance {m} m is negative"),
                (dur > self.max_trip_s, "duration {d} s is above max_trip_s=" + f"{self.max_trip_s:g} s"),
                (
                    (dis > _SPEED_CHECK_MIN_M) & (dis * 3.6 > self.max_speed_kmh * dur),
                    "distance {m} m in {d} s is {v} km/h, above max_speed_kmh=" + f"{self.max_speed_kmh:g}",
                ),
            )
        bad = [mask & valid for mask, _ in checks]
        count = int(np.any(np.stack(bad), axis=0).sum())
        for mask, (_, text) in zip(bad, checks):
            if mask.any():
                r, c = (int(x) for x in np.argwhere(mask)[0])
                d, m = float(dur[r, c]), float(dis[r, c])
                speed = f"{m * 3.6 / d:.0f}" if d > 0 else "infinite"
                what = text.format(d=f"{d:g}", m=f"{m:g}", v=speed)
                return f"{block.pair(r, c)}: {what} ({count} implausible value(s) in this block)"
        return ""

    def _fetch(self, target: str, block: _Block, deadline: _Deadline, limit: int) -> bytes:
        """GET ``target``, retrying transient failures with exponential backoff within the deadline."""
        attempt = 1
        while True:
            try:
                return self._attempt(target, deadline, limit)
            except _AttemptError as exc:
                tries = f"{attempt} attempt{'s' if attempt > 1 else ''}"
                wait = self.backoff_s * 2.0 ** (attempt - 1)
                if not exc.retry:
                    raise self._fail(block, exc.reason) from exc
                if exc.late:
                    raise self._fail(block, f"{exc.reason} ({tries})") from exc
                if attempt > self.retries:
                    raise self._fail(block, f"{exc.reason} (gave up after {tries})") from exc
                if deadline.left() <= wait:
                    raise self._fail(
                        block,
                        f"{exc.reason} ({tries}; no time left for a retry within "
                        f"the timeout_s={self.timeout_s:g} s deadline)",
                    ) from exc
            time.sleep(wait)
            attempt += 1

    def _late(self) -> str:
        return (
            f"no complete reply before the deadline: timeout_s={self.timeout_s:g} s "
            "covers the whole matrix() call (every block and retry)"
        )

    def _attempt(self, target: str, deadline: _Deadline, limit: int) -> bytes:
        """One GET: the body of a 200 reply, else :class:`_AttemptError` saying whether to retry."""
        left = deadline.left()
        if left <= 0:
            raise _AttemptError(self._late(), retry=False, late=True)
        url = urllib.parse.urlsplit(self.base_url)
        host = url.hostname or ""
        cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = cls(host, url.port, timeout=left)
        headers = {"User-Agent": "planner-travel/1", "Accept": "application/json", "Connection": "close"}
        try:
            conn.request("GET", target, headers=headers)
            resp = _DeadlineResponse(conn.sock, deadline)
            resp.begin()
            if resp.status == 200:
                return _read_body(resp, deadline, limit)
            raise self._status_error(resp, deadline)
        except TimeoutError as exc:  # every socket wait is bounded by the time left
            raise _AttemptError(self._late(), retry=True, late=True) from exc
        except ConnectionRefusedError as exc:
            raise _AttemptError(f"cannot connect: {exc}", retry=True) from exc
        except (ConnectionError, http.client.IncompleteRead) as exc:
            raise _AttemptError(f"connection lost: {exc}", retry=True) from exc
        except socket.gaierror as exc:
            raise _AttemptError(f"cannot resolve host {host!r}: {exc}", retry=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _AttemptError(f"connection error: {exc!r}", retry=False) from exc
        finally:
            conn.close()

    def _status_error(self, resp: http.client.HTTPResponse, deadline: _Deadline) -> _AttemptError:
        """The failure for a reply other than 200: 5xx and 429 are worth a retry, 4xx are not."""
        status = f"HTTP {resp.status} {resp.reason}{_error_detail(resp, deadline)}"
        if resp.status >= 500 or resp.status == 429:
            return _AttemptError(status, retry=True)
        if 400 <= resp.status < 500:
            hint = ""
            if resp.status in (413, 414) or "TooBig" in status:
                hint = f"; try a smaller max_table_size (now {self.max_table_size})"
            return _AttemptError(
                f"{status}; the server rejected this request as invalid (a fault of the request, "
                f"not of the server: not retried){hint}",
                retry=False,
            )
        return _AttemptError(
            f"{status}: unexpected reply (redirects are not followed: base_url must be the OSRM "
            "server itself)",
            retry=False,
        )


def _check_base_url(base_url: object) -> None:
    """Raise ``ValueError`` unless ``base_url`` is ``http(s)://host[:port][/path]``."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"base_url {base_url!r}: {exc}") from None
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"base_url must be http(s)://host[:port][/path], got {base_url!r}")


# --------------------------------------------------------------------------- #
# Cache
# --------------------------------------------------------------------------- #


class TravelCache:
    """LRU cache of matrices keyed by the coordinates and the backend's ``cache_key()``.

    Keeps up to ``max_entries`` matrices in memory.  With ``directory``, every
    stored matrix is also written there as ``<sha1>.npz`` and memory misses are
    looked up on disk (files are never evicted automatically).  Cached arrays
    are made read-only: copy before modifying.  Thread-safe.
    """

    def __init__(self, max_entries: int = 16, *, directory: str | os.PathLike[str] | None = None):
        self.max_entries = _check_int("max_entries", max_entries, minimum=1)
        self.directory = Path(directory) if directory is not None else None
        self._entries: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def hits(self) -> int:
        """Lookups answered from memory or disk."""
        return self._hits

    @property
    def misses(self) -> int:
        """Lookups that found nothing."""
        return self._misses

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(origins: np.ndarray, destinations: np.ndarray, backend: TravelBackend) -> str:
        """sha1 hex of both coordinate arrays (float64, C order, with shapes) and
        ``backend.cache_key()``."""
        h = hashlib.sha1()
        for arr in (origins, destinations):
            a = np.ascontiguousarray(arr, dtype=np.float64)
            h.update(repr(a.shape).encode())
            h.update(a.tobytes())
        h.update(backend.cache_key().encode("utf-8"))
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.npz"

    def get(self, key: str) -> Matrix | None:
        """The cached matrix for ``key`` (counts a hit or a miss)."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return found
            if self.directory is not None:
                found = self._load(self._path(key))
                if found is not None:
                    self._remember(key, found)
                    self._hits += 1
                    return found
            self._misses += 1
            return None

    def put(self, key: str, matrix: Matrix) -> None:
        """Store ``matrix`` (its arrays become read-only) and persist it if configured."""
        matrix.distance_m.flags.writeable = False
        matrix.time_s.flags.writeable = False
        with self._lock:
            self._remember(key, matrix)
            if self.directory is not None:
                self._save(self._path(key), matrix)

    def clear(self) -> None:
        """Forget the in-memory entries and reset the counters (disk files stay)."""
        with self._lock:
            self._entries.clear()
            self._hits = self._misses = 0

    def _remember(self, key: str, matrix: Matrix) -> None:
        self._entries[key] = matrix
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    @staticmethod
    def _save(path: Path, matrix: Matrix) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    distance_m=matrix.distance_m,
                    time_s=matrix.time_s,
                    backend=np.array(matrix.backend),
                    note=np.array(matrix.note),
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _load(path: Path) -> Matrix | None:
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                note = str(data["note"]) if "note" in data.files else ""
                matrix = Matrix(
                    np.array(data["distance_m"]),
                    np.array(data["time_s"]),
                    str(data["backend"]),
                    note,
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None  # unreadable or foreign file: recompute
        matrix.distance_m.flags.writeable = False
        matrix.time_s.flags.writeable = False
        return matrix


# --------------------------------------------------------------------------- #
# Entry points
# --------------------------------------------------------------------------- #


def _backend_or_default(backend: TravelBackend | None) -> TravelBackend:
    if backend is None:
        return GreatCircleBackend()
    if not isinstance(backend, TravelBackend):
        raise ValueError(
            f"backend must have matrix() and cache_key() methods, got {type(backend).__name__}"
        )
    return backend


def travel_matrix(
    origins: np.ndarray,
    destinations: np.ndarray | None = None,
    *,
    backend: TravelBackend | None = None,
    cache: TravelCache | None = None,
) -> Matrix:
    """Distance (m) and time (s) from every origin to every destination.

    ``destinations=None`` means origins x origins.  The default backend is
    ``GreatCircleBackend()``.  Inputs are validated (shape (n, 2), finite, lon
    in [-180, 180], lat in [-90, 90]); a ``ValueError`` names the first bad row.
    With ``cache``, a repeated call returns the cached (read-only) matrix; a
    matrix with a ``note`` (the built-in model standing in for a failed server)
    is not cached, so the next call asks the server again.

    Unreachable pairs are ``inf``: check ``result.unreachable`` (or
    ``result.describe_unreachable(names...)``) and, for a solver that needs
    finite costs, use ``result.finite_time_s(penalty_s)``.
    """
    po = validate_coords(origins, name="origins")
    pd_ = po if destinations is None else validate_coords(destinations, name="destinations")
    be = _backend_or_default(backend)
    key = None
    if cache is not None:
        key = cache.key(po, pd_, be)
        hit = cache.get(key)
        if hit is not None:
            return hit
    result = be.matrix(po, pd_)
    if result.shape != (len(po), len(pd_)):
        raise TravelError(
            f"backend {type(be).__name__} returned shape {result.shape}, "
            f"expected {(len(po), len(pd_))}"
        )
    if cache is not None and key is not None and not result.note:
        cache.put(key, result)
    return result


def nearest(
    origins: np.ndarray,
    destinations: np.ndarray,
    *,
    backend: TravelBackend | None = None,
    chunk_cells: int = 4_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """For each origin, the destination with the smallest travel time.

    Returns ``(index, time_s)``: int64 destination indices and float32 times,
    shape (n_orig,).  Ties go to the lowest index.  An origin from which no
    destination is reachable (all ``inf``) gets index -1 and time ``inf``:
    callers should count those origins and report them (e.g. by id) rather than
    use their ``inf`` time.  A backend that falls back to the built-in model
    says so with a :class:`TravelWarning`.
    Origins are processed in chunks of about ``chunk_cells`` matrix cells, so
    the full matrix is never held in memory.
    """
    po = validate_coords(origins, name="origins")
    pd_ = validate_coords(destinations, name="destinations")
    if len(pd_) == 0:
        raise ValueError("destinations: at least one destination is required")
    _check_int("chunk_cells", chunk_cells, minimum=1)
    be = _backend_or_default(backend)
    n, m = len(po), len(pd_)
    index = np.empty(n, dtype=np.int64)
    best = np.empty(n, dtype=np.float32)
    rows = max(1, chunk_cells // m)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        t = be.matrix(po[start:stop], pd_).time_s
        idx = np.argmin(t, axis=1)
        val = t[np.arange(stop - start), idx]
        idx[~np.isfinite(val)] = -1
        index[start:stop] = idx
        best[start:stop] = val
    return index, best
