"""One travel backend per workspace: what ``--travel``, ``planner.toml``'s ``[travel]`` and the notebooks'
travel control name, opened once and handed to every job.

A *spec* is a short string:

========================  ==========================================================================
``model``                 the built-in model (default; offline): great-circle distance x detour, time
                          from a speed profile.  The workspace's calibrated profile
                          (``travel_profile.json``, written by ``planner roads calibrate``) is used when
                          present, else the defaults (1.3 x, 25 km/h for 8 km, then 60 km/h).
``model:FILE.json``       the built-in model with the profile in ``FILE.json``.
``osrm:http://HOST:PORT`` the user's own OSRM server (its ``/table`` service).
``roads:DIR``             the local road engine built by ``planner roads build`` into ``DIR``: the
                          planner starts its own server on a free local port and stops it at the end.
``amap`` / ``amap:URL``   the Amap (高德) distance API, with the key from ``AMAP_KEY`` or
                          ``[travel] amap_key`` in ``planner.toml`` (``URL``: another endpoint, e.g. a
                          company proxy).
========================  ==========================================================================

Relative paths are read from the workspace folder.  Road engines and APIs
give driving time only: the profile's per-trip overhead (parking and walking
to the door, 5 min by default) is added to their every trip of non-zero
length, so that the plans of every backend count the same things.  Their
matrices go through a disk cache (:class:`planner.geo.travel.TravelCache`)
keyed by the points and the backend, so a re-plan does not ask again: by
default ``$PLANNER_CACHE`` or ``~/.cache/planner/travel``; ``[travel] cache``
in ``planner.toml`` names another folder.

:func:`describe` is what a job writes as ``"travel"`` in its ``summary.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.geo.travel import GreatCircleBackend, Matrix, OSRMBackend, SpeedProfile, TravelBackend, TravelCache

__all__ = ["PROFILE_FILE", "KINDS", "TravelSpec", "CachedBackend", "OverheadBackend", "parse", "open_backend",
           "describe", "default_cache_dir"]

#: Where ``planner roads calibrate`` saves the fitted profile, in the workspace folder.
PROFILE_FILE = "travel_profile.json"
KINDS = ("model", "osrm", "roads", "amap")
_CONFIG_KEYS = {"backend", "profile", "cache", "amap_key"}


@dataclass(frozen=True, kw_only=True)
class TravelSpec:
    """Which backend a workspace's jobs use, and where its files are.

    ``kind``: one of :data:`KINDS`; ``target``: the model's profile file, the OSRM server's URL, the road
    engine's folder or the Amap endpoint (empty: the default); ``base_dir``: where relative paths start
    (the workspace folder); ``cache``: the matrix cache folder (None: the default, :func:`default_cache_dir`);
    ``amap_key``: the Amap key from ``planner.toml`` (``AMAP_KEY`` in the environment wins over it).
    """

    kind: str = "model"
    target: str = ""
    base_dir: Path | None = None
    cache: Path | None = None
    amap_key: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        """The spec as the user writes it (``roads:roads/fujian``)."""
        return self.kind + (f":{self.target}" if self.target else "")

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    def profile_file(self) -> Path | None:
        """The built-in model's profile: ``model:FILE``, else the workspace's calibrated one if saved."""
        if self.kind == "model" and self.target:
            return self.path(self.target)
        if self.base_dir is not None and (self.base_dir / PROFILE_FILE).is_file():
            return self.base_dir / PROFILE_FILE
        return None


def parse(text: str | None, *, base_dir: str | Path | None = None, cache: str | Path | None = None,
          amap_key: str = "") -> TravelSpec:
    """A spec string (see the module docstring) as a :class:`TravelSpec`; ``InputError`` names what is wrong."""
    base = Path(base_dir) if base_dir is not None else None
    raw = (text or "model").strip()
    kind, _, target = raw.partition(":")
    kind = kind.strip().lower()
    target = target.strip()
    if kind not in KINDS:
        raise InputError(f"travel {raw!r}: unknown backend {kind!r}; use model, model:PROFILE.json, "
                         "osrm:http://HOST:PORT, roads:DIR (built by planner roads build) or amap")
    if kind == "osrm" and not target.startswith(("http://", "https://")):
        raise InputError(f"travel {raw!r}: osrm needs the server's address, e.g. osrm:http://127.0.0.1:5000")
    if kind == "amap" and target and not target.startswith(("http://", "https://")):
        raise InputError(f"travel {raw!r}: amap takes an endpoint URL (or nothing); the key comes from "
                         "AMAP_KEY or [travel] amap_key in planner.toml, never from the command line")
    if kind == "roads" and not target:
        raise InputError(f"travel {raw!r}: roads needs the folder built by planner roads build, e.g. roads:roads")
    cache_dir = Path(cache).expanduser() if cache else None
    if cache_dir is not None and not cache_dir.is_absolute() and base is not None:
        cache_dir = base / cache_dir
    return TravelSpec(kind=kind, target=target, base_dir=base, cache=cache_dir, amap_key=amap_key)


def from_config(section: object, *, base_dir: Path | None, where: str) -> TravelSpec:
    """``planner.toml``'s ``[travel]`` table (``backend``, ``profile``, ``cache``, ``amap_key``) as a spec."""
    if not isinstance(section, Mapping):
        raise InputError(f"{where}: [travel] must be a table (backend = \"roads:roads\", ...)")
    unknown = set(section) - _CONFIG_KEYS
    if unknown:
        raise InputError(f"{where} [travel]: unknown keys {sorted(unknown)} (use {', '.join(sorted(_CONFIG_KEYS))})")
    for key in _CONFIG_KEYS & set(section):
        if not isinstance(section[key], str):
            raise InputError(f"{where} [travel] {key}: must be a string, got {section[key]!r}")
    text = section.get("backend") or "model"
    if "profile" in section:
        if not str(text).startswith("model"):
            raise InputError(f"{where} [travel]: profile is for the built-in model; backend is {text!r}")
        text = f"model:{section['profile']}"
    return parse(str(text), base_dir=base_dir, cache=section.get("cache"), amap_key=str(section.get("amap_key", "")))


def default_cache_dir() -> Path:
    """``$PLANNER_CACHE``, else ``$XDG_CACHE_HOME/planner/travel``, else ``~/.cache/planner/travel``."""
    if os.environ.get("PLANNER_CACHE"):
        return Path(os.environ["PLANNER_CACHE"]).expanduser()
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "planner" / "travel"


def load_profile(path: Path) -> tuple[SpeedProfile, dict[str, object]]:
    """A profile saved by ``planner roads calibrate`` (:func:`planner.geo.calibrate.load_profile` checks
    every field, naming the file) and its ``meta`` (when, against which backend, errors before/after)."""
    from planner.geo.calibrate import load_profile as load

    profile = load(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = data.get("meta") if isinstance(data, dict) else None
    return profile, dict(meta) if isinstance(meta, dict) else {}


@dataclass(eq=False)
class OverheadBackend:
    """A road backend's driving times plus the per-trip overhead of the built-in model (``overhead_s``
    added to every trip of non-zero distance), so that plans from every backend count the same time."""

    inner: TravelBackend
    overhead_s: float

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        m = self.inner.matrix(origins, destinations)
        if self.overhead_s <= 0:
            return m
        t = np.array(m.time_s, dtype=np.float32, copy=True)
        moving = np.isfinite(t) & (m.distance_m > 0)
        t[moving] += np.float32(self.overhead_s)
        return Matrix(np.array(m.distance_m, copy=True), t, m.backend, m.note)

    def cache_key(self) -> str:
        return f"{self.inner.cache_key()}+overhead={self.overhead_s!r}s"

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


@dataclass(eq=False)
class CachedBackend:
    """Any backend behind a :class:`TravelCache` on disk: the same points asked again are read back."""

    inner: TravelBackend
    cache: TravelCache

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        key = self.cache.key(origins, destinations, self.inner)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        m = self.inner.matrix(origins, destinations)
        if not m.note:
            self.cache.put(key, m)
        return m

    def cache_key(self) -> str:
        return self.inner.cache_key()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


@dataclass(frozen=True, eq=False)
class Opened:
    """An opened backend with what a summary says of it; ``close()`` stops what it started."""

    backend: TravelBackend
    spec: TravelSpec
    info: Mapping[str, object]
    cache: TravelCache | None = None
    road: TravelBackend | None = None  # the road backend itself (its describe() counts what it asked)

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _model(spec: TravelSpec) -> tuple[TravelBackend, dict[str, object], SpeedProfile]:
    pf = spec.profile_file()
    profile, meta = load_profile(pf) if pf is not None else (SpeedProfile(), {})
    info: dict[str, object] = {"backend": "model", "profile": {k: getattr(profile, k)
                                                               for k in SpeedProfile.__dataclass_fields__}}
    info["profile_file"] = str(pf) if pf is not None else ""
    if meta:
        info["calibration"] = meta
    return GreatCircleBackend(profile), info, profile


def _road(spec: TravelSpec, timeout_s: float) -> tuple[TravelBackend, dict[str, object]]:
    if spec.kind == "osrm":
        return OSRMBackend(spec.target, timeout_s=timeout_s), {"backend": "osrm", "url": spec.target}
    if spec.kind == "roads":
        from planner.geo import roads

        folder = spec.path(spec.target)
        be = roads.LocalRoadsBackend(folder)
        return be, {"backend": "roads", **dict(be.describe())}
    from planner.geo import amap

    key = os.environ.get("AMAP_KEY") or spec.amap_key
    if not key:
        raise InputError("travel amap: no key; set AMAP_KEY in the environment or amap_key under [travel] in "
                         "planner.toml")
    abe = amap.AmapBackend(key, base_url=spec.target or amap.AMAP_URL)
    return abe, {"backend": "amap", **dict(abe.describe())}


def open_backend(spec: TravelSpec | str | None = None, *, base_dir: str | Path | None = None,
                 timeout_s: float = 600.0) -> Opened:
    """The backend ``spec`` names, ready for ``travel_matrix(..., backend=opened.backend)``.

    Road backends get the model profile's per-trip overhead and the disk cache (module docstring);
    the model needs neither.  ``InputError`` for a bad spec or profile; a road engine that cannot start
    raises ``TravelError`` when it is first used.
    """
    sp = spec if isinstance(spec, TravelSpec) else parse(spec, base_dir=base_dir)
    model, info, profile = _model(sp)
    if sp.kind == "model":
        return Opened(model, sp, info)
    road, rinfo = _road(sp, timeout_s)
    cache = TravelCache(4, directory=sp.cache or default_cache_dir())
    backend = CachedBackend(OverheadBackend(road, profile.stop_overhead_s), cache)
    rinfo["stop_overhead_s"] = profile.stop_overhead_s
    rinfo["cache"] = str(cache.directory)
    return Opened(backend, sp, rinfo, cache, road)


def describe(opened: Opened) -> dict[str, object]:
    """The ``"travel"`` entry of a job's ``summary.json``: the backend, its profile or server, the cache."""
    out = dict(opened.info)
    live = getattr(opened.road, "describe", None)
    if callable(live):  # what it asked so far (an API's requests made)
        out.update(dict(live()))
        out["backend"] = opened.spec.kind
    out["spec"] = opened.spec.text
    if opened.cache is not None:
        out["cache_hits"] = opened.cache.hits
        out["cache_misses"] = opened.cache.misses
    return out


#: What an unreachable pair costs a solver that needs finite numbers: longer than any working week.
UNREACHABLE_S = 30 * 86400.0


def seconds_matrix(points: np.ndarray, destinations: np.ndarray | None = None, *,
                   backend: TravelBackend | None = None, unreachable_s: float = UNREACHABLE_S) -> np.ndarray:
    """Travel times in whole minutes (rounded up), as int64 seconds, for the routing engine; a pair with
    no road (a backend's ``inf``) costs ``unreachable_s``, so no plan ever uses it."""
    from planner.geo.travel import travel_matrix

    m = travel_matrix(points, destinations, backend=backend)
    t = m.finite_time_s(unreachable_s)
    return (np.ceil(t / 60.0) * 60).astype(np.int64)


def minutes_matrix(origins: np.ndarray, destinations: np.ndarray, *, backend: TravelBackend | None = None,
                   unreachable_min: float = UNREACHABLE_S / 60) -> np.ndarray:
    """Travel minutes (float32) from every origin to every destination; no road -> ``unreachable_min``."""
    from planner.geo.travel import travel_matrix

    m = travel_matrix(origins, destinations, backend=backend)
    return (m.finite_time_s(unreachable_min * 60) / 60.0).astype(np.float32)
