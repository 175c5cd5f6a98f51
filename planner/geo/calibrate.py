"""Fit the built-in travel model (:class:`~planner.geo.travel.SpeedProfile`) to road times on the user's own places.

:func:`sample_pairs` draws pairs of the user's points stratified by straight-line distance: a third short,
a third medium, a third long trips, the three bands of equal width in log distance between the 2nd and
98th percentiles of a pool of random and nearest-neighbour pairs.  So the fit sees the trips to the next
account, across town and between towns, whatever the share of each among all pairs.  The caller asks a road
backend (the local road engine, an OSRM server, an API) for their driving time and distance, then
:func:`calibrate` fits:

* ``detour_factor`` to the road distances: least squares of ``detour x great-circle`` against the road
  distance (metres), bounded to [1, 2.5];
* ``urban_speed_kmh``, ``urban_radius_m``, ``suburban_speed_kmh`` to the road driving times: least
  squares in minutes of the model's driving time (of the fitted road distance) against the road's,
  bounded to [5, 80] km/h, [0, 50] km and [10, 120] km/h.  For each of 19 radii (the 5th to 95th
  percentiles of the trip lengths) the two speeds are a bounded linear least-squares problem
  (``scipy.optimize.lsq_linear``); the best radius and its speeds are then refined together
  (``scipy.optimize.least_squares``, trust region).  The start profile competes too, so the fit is never
  worse than the start in squared error.  Deterministic.

``stop_overhead_s`` is kept as given: road engines give pure driving time, the caller adds the overhead.
Errors are reported on driving time (the model's time minus its overhead) as the median and 90th
percentile of ``|model - road|`` in minutes, before (the start profile) and after.

:func:`save_profile` / :func:`load_profile` keep a profile as JSON (``{"profile": {...}, "meta": {...}}``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import MappingProxyType

import numpy as np
from scipy import optimize
from scipy.spatial import cKDTree

from planner.errors import FileReadError, InputError
from planner.geo.travel import SpeedProfile, haversine_m, validate_coords

__all__ = ["BOUNDS", "Calibration", "ErrorStats", "calibrate", "load_profile", "sample_pairs", "save_profile"]

#: Plausible ranges of the fitted parameters.
BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType({
    "detour_factor": (1.0, 2.5),
    "urban_speed_kmh": (5.0, 80.0),
    "urban_radius_m": (0.0, 50_000.0),
    "suburban_speed_kmh": (10.0, 120.0),
})
PROFILE_FORMAT = "planner.travel_profile/1"
_MIN_PAIRS = 5
_RADIUS_GRID = np.linspace(5, 95, 19)
_NEIGHBOURS = 10


@dataclass(frozen=True)
class ErrorStats:
    """``|model - road|`` driving time over the used pairs, minutes."""

    median_min: float
    p90_min: float
    mean_min: float

    @classmethod
    def of(cls, model_s: np.ndarray, road_s: np.ndarray) -> ErrorStats:
        err = np.abs(model_s - road_s) / 60.0
        return cls(round(float(np.median(err)), 3), round(float(np.percentile(err, 90)), 3),
                   round(float(err.mean()), 3))


@dataclass(frozen=True)
class Calibration:
    """The fitted profile and how well the model matches the road times before and after.

    Attributes:
        profile: the fitted profile (``stop_overhead_s`` copied from ``start``).
        start: the profile the fit started from (its errors are ``before``).
        before, after: error of the start and of the fitted profile on the used pairs.
        pairs_used: pairs that entered the fit.
        pairs_left_out: pairs left out: ``unreachable`` (no road, ``inf``/NaN) plus ``zero`` (a zero road
            time or distance, or the same place twice).
        unreachable, zero: the two parts of ``pairs_left_out``.
    """

    profile: SpeedProfile
    start: SpeedProfile
    before: ErrorStats
    after: ErrorStats
    pairs_used: int
    pairs_left_out: int
    unreachable: int
    zero: int

    def describe(self) -> str:
        """A few lines for a terminal: errors before and after, the fitted values, the pairs."""
        p, s = self.profile, self.start
        return "\n".join([
            f"pairs: {self.pairs_used} used, {self.pairs_left_out} left out "
            f"({self.unreachable} unreachable, {self.zero} zero length)",
            f"model error vs road driving time, before: median {self.before.median_min:.1f} min, "
            f"p90 {self.before.p90_min:.1f} min",
            f"model error vs road driving time, after:  median {self.after.median_min:.1f} min, "
            f"p90 {self.after.p90_min:.1f} min",
            f"detour factor {s.detour_factor:.3g} -> {p.detour_factor:.3g}; urban {s.urban_speed_kmh:.3g} km/h "
            f"for {s.urban_radius_m / 1000:.3g} km -> {p.urban_speed_kmh:.3g} km/h for "
            f"{p.urban_radius_m / 1000:.3g} km; then {s.suburban_speed_kmh:.3g} -> {p.suburban_speed_kmh:.3g} km/h; "
            f"per-trip overhead {p.stop_overhead_s:g} s (kept)",
        ])

    def meta(self) -> dict[str, object]:
        """JSON-ready facts of the fit, for :func:`save_profile`'s ``meta``."""
        return {"pairs_used": self.pairs_used, "pairs_left_out": self.pairs_left_out,
                "unreachable": self.unreachable, "zero": self.zero, "before": asdict(self.before),
                "after": asdict(self.after), "start": asdict(self.start)}


# --------------------------------------------------------------------------- #
# Sampling
# --------------------------------------------------------------------------- #


def _pool(pts: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(m, 2) candidate pairs: half uniform random pairs, half a point and one of its nearest neighbours."""
    n = len(pts)
    lat0 = math.radians(float(np.mean(pts[:, 1])))
    xy = np.column_stack([pts[:, 0] * math.cos(lat0), pts[:, 1]])
    i = rng.integers(0, n, size)
    j = rng.integers(0, n, size)
    k = min(_NEIGHBOURS, n - 1)
    origins = rng.integers(0, n, size)
    _, near = cKDTree(xy).query(xy[origins], k=k + 1)
    near = np.asarray(near).reshape(size, k + 1)[:, 1:]
    pick = near[np.arange(size), rng.integers(0, k, size)]
    return np.concatenate([np.column_stack([i, j]), np.column_stack([origins, pick])])


def sample_pairs(points: np.ndarray, n_pairs: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(i, j)``: indices of ``n_pairs`` distinct pairs of ``points`` (lon, lat), a third short, medium, long.

    The bands are described in the module docstring; a band with too few pairs is filled from the others.

    Pairs join two different places (distance > 0); a pair appears once (``(i, j)`` and ``(j, i)`` are
    the same pair).  When fewer distinct pairs exist, all of them are returned.  Deterministic for a
    ``seed``.  Raises ``ValueError`` for fewer than two distinct points or ``n_pairs < 1``.
    """
    pts = validate_coords(points, name="points")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    if len(np.unique(pts, axis=0)) < 2:
        raise ValueError("points: at least two distinct places are needed to sample pairs")
    rng = np.random.default_rng(seed)
    pool = _pool(pts, max(20 * int(n_pairs), 2000), rng)
    pool = np.sort(pool, axis=1)
    pool = np.unique(pool, axis=0)
    d = haversine_m(pts[pool[:, 0]], pts[pool[:, 1]])
    pool, d = pool[d > 0], d[d > 0]
    if len(pool) <= n_pairs:
        return pool[:, 0].astype(np.int64), pool[:, 1].astype(np.int64)
    lo, hi = np.quantile(np.log(d), [0.02, 0.98])
    band = np.searchsorted(lo + (hi - lo) * np.array([1 / 3, 2 / 3]), np.log(d), side="right")
    want = [int(n_pairs) // 3 + (1 if b < int(n_pairs) % 3 else 0) for b in range(3)]
    chosen = [rng.permutation(np.flatnonzero(band == b))[: want[b]] for b in range(3)]
    taken = np.concatenate(chosen)
    if len(taken) < n_pairs:  # a band ran short (many equal distances): fill from the rest
        rest = np.setdiff1d(np.arange(len(pool)), taken)
        taken = np.concatenate([taken, rng.permutation(rest)[: int(n_pairs) - len(taken)]])
    sel = pool[np.sort(taken)]
    return sel[:, 0].astype(np.int64), sel[:, 1].astype(np.int64)


# --------------------------------------------------------------------------- #
# Fitting
# --------------------------------------------------------------------------- #


def _drive_s(profile: SpeedProfile, gc_m: np.ndarray) -> np.ndarray:
    """The profile's driving time (s, no per-trip overhead) for great-circle distances > 0."""
    d = gc_m * profile.detour_factor
    r = profile.urban_radius_m
    return (np.minimum(d, r) / profile.urban_speed_kmh + np.maximum(d - r, 0.0) / profile.suburban_speed_kmh) * 3.6


def _fit_detour(gc: np.ndarray, road_m: np.ndarray) -> float:
    lo, hi = BOUNDS["detour_factor"]
    return float(np.clip(np.dot(gc, road_m) / np.dot(gc, gc), lo, hi))


def _speeds_for_radius(d: np.ndarray, t_min: np.ndarray, radius: float) -> tuple[float, float, float]:
    """(urban km/h, suburban km/h, sum of squared minutes) of the bounded linear fit at one radius."""
    a = np.column_stack([np.minimum(d, radius), np.maximum(d - radius, 0.0)]) * (3.6 / 60.0)  # x = 1/speed
    (ulo, uhi), (slo, shi) = BOUNDS["urban_speed_kmh"], BOUNDS["suburban_speed_kmh"]
    res = optimize.lsq_linear(a, t_min, bounds=([1 / uhi, 1 / shi], [1 / ulo, 1 / slo]), method="bvls")
    return 1.0 / float(res.x[0]), 1.0 / float(res.x[1]), float(np.sum((a @ res.x - t_min) ** 2))


def _fit_speeds(d: np.ndarray, t_min: np.ndarray, start: SpeedProfile) -> tuple[float, float, float]:
    """(urban km/h, radius m, suburban km/h) minimising squared minutes; see the module docstring."""
    rlo, rhi = BOUNDS["urban_radius_m"]
    (ulo, uhi), (slo, shi) = BOUNDS["urban_speed_kmh"], BOUNDS["suburban_speed_kmh"]
    radii = np.clip(np.percentile(d, _RADIUS_GRID), rlo, rhi)
    best = min((_speeds_for_radius(d, t_min, float(r)) + (float(r),) for r in radii), key=lambda c: c[2])
    x0 = np.array([best[0], best[3], best[1]])

    def resid(x: np.ndarray) -> np.ndarray:
        return (np.minimum(d, x[1]) / x[0] + np.maximum(d - x[1], 0.0) / x[2]) * (3.6 / 60.0) - t_min

    lower, upper = np.array([ulo, rlo, slo]), np.array([uhi, rhi, shi])
    res = optimize.least_squares(resid, np.clip(x0, lower, upper), bounds=(lower, upper),
                                 x_scale=np.array([10.0, 5000.0, 10.0]), method="trf")
    candidates = [res.x, np.clip(x0, lower, upper),
                  np.clip([start.urban_speed_kmh, start.urban_radius_m, start.suburban_speed_kmh], lower, upper)]
    x = min(candidates, key=lambda c: float(np.sum(resid(np.asarray(c)) ** 2)))
    return float(x[0]), float(x[1]), float(x[2])


def _as_pairs(sample_origins: np.ndarray, sample_destinations: np.ndarray, road_time_s: np.ndarray,
              road_distance_m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(great-circle m, road s, road m) as float64 (k,) arrays; ``ValueError`` for mismatched inputs."""
    o = validate_coords(sample_origins, name="sample_origins")
    d = validate_coords(sample_destinations, name="sample_destinations")
    t = np.asarray(road_time_s, dtype=np.float64).reshape(-1)
    m = np.asarray(road_distance_m, dtype=np.float64).reshape(-1)
    if not len(o) == len(d) == len(t) == len(m):
        raise ValueError(f"sample_origins, sample_destinations, road_time_s and road_distance_m must have one "
                         f"length (one row per pair), got {len(o)}, {len(d)}, {len(t)}, {len(m)}")
    return haversine_m(o, d) if len(o) else np.zeros(0), t, m


def calibrate(sample_origins: np.ndarray, sample_destinations: np.ndarray, road_time_s: np.ndarray,
              road_distance_m: np.ndarray, *, start: SpeedProfile | None = None) -> Calibration:
    """Fit a :class:`SpeedProfile` to road driving times and distances of sampled pairs.

    Row ``k`` of the inputs is one pair: ``sample_origins[k]`` -> ``sample_destinations[k]`` (lon, lat)
    took ``road_time_s[k]`` seconds of driving (no per-trip overhead) over ``road_distance_m[k]`` metres.
    Pairs with a non-finite time or distance (unreachable) or a zero time, distance or straight-line
    distance are left out and counted.  ``start`` (default ``SpeedProfile()``) is the profile whose error
    is ``before`` and whose ``stop_overhead_s`` the fitted profile keeps.  The method is in the module
    docstring.  Raises ``ValueError`` for mismatched inputs or fewer than 5 usable pairs.
    """
    start = start if start is not None else SpeedProfile()
    gc, t, m = _as_pairs(sample_origins, sample_destinations, road_time_s, road_distance_m)
    finite = np.isfinite(t) & np.isfinite(m)
    use = finite & (t > 0) & (m > 0) & (gc > 0)
    if use.sum() < _MIN_PAIRS:
        raise ValueError(f"calibrate: {int(use.sum())} usable pairs (reachable, non-zero); at least {_MIN_PAIRS} "
                         "are needed")
    gc, t, m = gc[use], t[use], m[use]
    detour = round(_fit_detour(gc, m), 4)
    urban, radius, suburban = _fit_speeds(gc * detour, t / 60.0, start)
    fitted = SpeedProfile(detour_factor=detour, urban_speed_kmh=round(urban, 2), urban_radius_m=round(radius),
                          suburban_speed_kmh=round(suburban, 2), stop_overhead_s=start.stop_overhead_s)
    return Calibration(profile=fitted, start=start, before=ErrorStats.of(_drive_s(start, gc), t),
                       after=ErrorStats.of(_drive_s(fitted, gc), t), pairs_used=int(use.sum()),
                       pairs_left_out=int((~use).sum()), unreachable=int((~finite).sum()),
                       zero=int((finite & ~use).sum()))


# --------------------------------------------------------------------------- #
# Saving and loading
# --------------------------------------------------------------------------- #


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    raise TypeError(f"meta: {type(value).__name__} is not JSON-serialisable")


def save_profile(profile: SpeedProfile, path: str | os.PathLike[str], *,
                 meta: Mapping[str, object] | None = None) -> Path:
    """Write ``{"format", "profile": {fields}, "meta": meta}`` as JSON to ``path`` atomically; the path.

    The file is written to a temporary file beside ``path`` and moved into place (``os.replace``), so a
    reader never sees half a file.  ``meta`` must be JSON-serialisable (numpy scalars and paths are
    converted); ``TypeError`` otherwise.
    """
    if not isinstance(profile, SpeedProfile):
        raise TypeError(f"profile must be a SpeedProfile, got {type(profile).__name__}")
    target = Path(path)
    text = json.dumps({"format": PROFILE_FORMAT, "profile": asdict(profile), "meta": dict(meta or {})},
                      indent=2, ensure_ascii=False, default=_json_default) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_profile(path: str | os.PathLike[str]) -> SpeedProfile:
    """The :class:`SpeedProfile` saved in ``path`` by :func:`save_profile`.

    Raises :class:`~planner.errors.FileReadError` naming the file when it is missing or not JSON, and
    :class:`~planner.errors.InputError` naming the file and the field for a missing, unknown or bad field
    (every such problem listed at once).
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileReadError(f"travel profile {p}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FileReadError(f"travel profile {p}: not a readable JSON file ({exc})") from None
    prof = data.get("profile") if isinstance(data, dict) else None
    if not isinstance(prof, dict):
        raise InputError(f'travel profile {p}: expected a JSON object with a "profile" object inside')
    names = [f.name for f in fields(SpeedProfile)]
    problems = [f"travel profile {p}, field {k!r}: unknown (fields: {', '.join(names)})" for k in prof
                if k not in names]
    problems += [f"travel profile {p}, field {k!r}: missing" for k in names if k not in prof]
    for k in names:
        if k in prof:
            try:
                SpeedProfile(**{k: prof[k]})
            except ValueError as exc:
                problems.append(f"travel profile {p}, field {k!r}: {exc}")
    if problems:
        raise InputError(problems)
    return SpeedProfile(**{k: prof[k] for k in names})
