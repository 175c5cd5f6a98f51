"""A local road engine built from the user's own OpenStreetMap extract: real driving times, no server to run.

Three steps, each a function of this module:

* :func:`find_engine` locates OSRM's executables: the folder in ``$PLANNER_OSRM_BIN``, else the ``bin/``
  folder of the installed ``osrm`` package (the ``osrm-bindings`` wheel, ``pip install 'planner[roads]'``
  on Python >= 3.12), else ``PATH``.
* :func:`build` runs ``osrm-extract`` (with the ``car`` profile or the user's own ``.lua``) and
  ``osrm-contract`` (contraction hierarchies: the fastest many-to-many tables) on a ``.osm.pbf`` or
  ``.osm`` file, in a staging folder beside the target, and only when every step succeeded puts the
  result in place of the target folder, with ``roads.json`` describing it (:class:`RoadsInfo`).
* :class:`LocalRoadsBackend` is a :class:`~planner.geo.travel.TravelBackend` on such a folder: on first
  use it starts ``osrm-routed`` on a free port of 127.0.0.1, waits until it answers, and hands the
  matrices to :class:`~planner.geo.travel.OSRMBackend`; ``close()`` (or the ``with`` block, or the
  finalizer at garbage collection and at interpreter exit) stops it.

Durations are OSRM's pure driving time (the caller adds any per-trip overhead); unreachable pairs are
``inf``, as for :class:`~planner.geo.travel.OSRMBackend`.  Every failure is a
:class:`~planner.geo.travel.TravelError` saying what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from planner.geo.travel import Matrix, OSRMBackend, TravelError, validate_coords
from planner.plans import ProgressFn, no_progress

__all__ = ["BIN_ENV", "INFO_FILE", "SOURCE_SUFFIXES", "Engine", "LocalRoadsBackend", "RoadsInfo", "build",
           "find_engine", "read_info"]

#: Environment variable naming a folder with osrm-extract, osrm-contract and osrm-routed.
BIN_ENV = "PLANNER_OSRM_BIN"
#: The description of a built engine, inside its folder.
INFO_FILE = "roads.json"
#: File names :func:`build` accepts (OSRM reads all three).
SOURCE_SUFFIXES = (".osm.pbf", ".osm", ".osm.bz2")
#: Base name of the engine's files inside its folder (``roads.osrm.*``).
BASE_NAME = "roads"
TOOLS = ("osrm-extract", "osrm-contract", "osrm-routed")
_FORMAT = 1
_HOW_TO_GET = (f"install it with pip install 'planner[roads]' (the osrm-bindings wheel, Python >= 3.12), "
               f"or set {BIN_ENV} to a folder holding osrm-extract, osrm-contract and osrm-routed")
_TAIL_CHARS = 1500


# --------------------------------------------------------------------------- #
# Finding the engine
# --------------------------------------------------------------------------- #


def _exe(name: str) -> str:
    return name + (".exe" if os.name == "nt" else "")


@dataclass(frozen=True)
class Engine:
    """Where OSRM's executables are.

    Attributes:
        extract, contract, routed: paths of ``osrm-extract``, ``osrm-contract``, ``osrm-routed``.
        profiles_dir: folder of the stock Lua profiles (``car.lua``...), or None when not found.
        found_by: ``"PLANNER_OSRM_BIN"``, ``"osrm package"`` or ``"PATH"``.
    """

    extract: Path
    contract: Path
    routed: Path
    profiles_dir: Path | None
    found_by: str

    def version(self) -> str:
        """The engine's version string (``osrm-routed --version``, e.g. ``v26.10.0``); ``"unknown"`` if silent."""
        try:
            out = subprocess.run([str(self.routed), "--version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TravelError(f"cannot run {self.routed}: {exc}; {_HOW_TO_GET}") from exc
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[-1].strip() if text else "unknown"

    def profile_path(self, profile: str) -> Path:
        """The Lua file of ``profile``: a stock name (``car``, ``foot``, ``bicycle``) or a ``.lua`` path.

        Raises :class:`TravelError` when the file does not exist.
        """
        if profile.endswith(".lua"):
            path = Path(profile).expanduser()
            if not path.is_file():
                raise TravelError(f"road profile {path}: no such file")
            return path.resolve()
        if not re.fullmatch(r"[A-Za-z0-9_-]+", profile):
            raise TravelError(f"road profile {profile!r}: give a stock name (car, foot, bicycle) or a .lua file")
        if self.profiles_dir is None or not (self.profiles_dir / f"{profile}.lua").is_file():
            where = self.profiles_dir or f"next to {self.routed.parent}"
            raise TravelError(f"road profile {profile!r}: no {profile}.lua in the engine's profiles ({where}); "
                              "give the path of a .lua profile instead")
        return self.profiles_dir / f"{profile}.lua"


def _profiles_near(bin_dir: Path) -> Path | None:
    """The stock profiles folder of an engine installed in ``bin_dir`` (package or system layouts)."""
    for cand in (bin_dir.parent / "share" / "profiles", bin_dir.parent / "share" / "osrm" / "profiles",
                 bin_dir / "profiles", bin_dir.parent / "profiles"):
        if (cand / "car.lua").is_file():
            return cand
    return None


def _engine_in(bin_dir: Path, found_by: str) -> Engine | None:
    ext, con, rou = (bin_dir / _exe(t) for t in TOOLS)
    if not all(p.is_file() and os.access(p, os.X_OK) for p in (ext, con, rou)):
        return None
    return Engine(ext, con, rou, profiles_dir=_profiles_near(bin_dir), found_by=found_by)


def _package_bin() -> Path | None:
    """``<site-packages>/osrm/bin`` of the installed osrm-bindings wheel, found without importing it."""
    try:
        spec = importlib.util.find_spec("osrm")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    places = list(spec.submodule_search_locations or [])
    if not places and spec.origin:
        places = [str(Path(spec.origin).parent)]
    for place in places:
        if (Path(place) / "bin").is_dir():
            return Path(place) / "bin"
    return None


def find_engine() -> Engine:
    """The OSRM executables: ``$PLANNER_OSRM_BIN``, else the ``osrm`` package's ``bin/``, else ``PATH``.

    A set ``PLANNER_OSRM_BIN`` must be a folder holding all three tools (no fallback: the user asked for
    it).  Raises :class:`TravelError` saying how to get the engine when none is found.
    """
    env = os.environ.get(BIN_ENV, "").strip()
    if env:
        folder = Path(env).expanduser()
        found = _engine_in(folder, BIN_ENV)
        if found is None:
            missing = [t for t in TOOLS if not (folder / _exe(t)).is_file()]
            raise TravelError(f"{BIN_ENV}={env}: not a folder with the OSRM tools (missing or not executable: "
                              f"{', '.join(missing) or 'permissions'}); {_HOW_TO_GET}")
        return found
    pkg = _package_bin()
    if pkg is not None:
        found = _engine_in(pkg, "osrm package")
        if found is not None:
            return found
    ext, con, rou = (shutil.which(_exe(t)) for t in TOOLS)
    if ext and con and rou:
        return Engine(Path(ext), Path(con), Path(rou), profiles_dir=_profiles_near(Path(ext).parent), found_by="PATH")
    raise TravelError(f"the road engine (OSRM) is not installed: {_HOW_TO_GET}")


# --------------------------------------------------------------------------- #
# The description of a built engine
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class RoadsInfo:
    """What ``roads.json`` says of a built engine.

    Attributes:
        source_name, source_size_bytes, source_sha256: the OpenStreetMap file it was built from.
        profile: the profile name (``car``) or the file name of the user's ``.lua``; profile_sha256 its hash.
        engine_version: OSRM's version; algorithm: ``ch`` (contraction hierarchies).
        osrm_file: the ``.osrm`` base file name inside the folder (``roads.osrm``).
        built_at: ISO 8601 UTC time; build_seconds: wall time of the build.
        nodes, edges: routable road nodes and road segments OSRM kept (None when it did not say).
        bbox: (min_lon, min_lat, max_lon, max_lat) of those nodes (None when unreadable).
        peak_ram_mb: peak resident memory of each tool, MB, sampled from ``/proc`` (``{"extract": 45.1,
            "contract": 60.2}``; empty where the system does not tell).
    """

    source_name: str
    source_size_bytes: int
    source_sha256: str
    profile: str
    profile_sha256: str
    engine_version: str
    algorithm: str
    osrm_file: str
    built_at: str
    build_seconds: float
    nodes: int | None = None
    edges: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    peak_ram_mb: Mapping[str, float] = field(default_factory=dict)
    format: int = _FORMAT

    def to_json(self) -> str:
        """The ``roads.json`` text."""
        d = asdict(self)
        d["peak_ram_mb"] = dict(self.peak_ram_mb)
        return json.dumps(d, indent=2, ensure_ascii=False) + "\n"

    def describe(self) -> str:
        """One line: source, profile, size, engine, when."""
        size = f"{self.nodes:,} road nodes, {self.edges:,} segments" if self.nodes and self.edges else "size unknown"
        return (f"{self.source_name} ({self.source_size_bytes / 1e6:.1f} MB), profile {self.profile}, {size}, "
                f"OSRM {self.engine_version}, built {self.built_at} in {self.build_seconds:.1f} s")


def _info_from(data: object, where: Path) -> RoadsInfo:
    """The :class:`RoadsInfo` in a parsed ``roads.json``; :class:`TravelError` naming the file when it is bad."""
    if not isinstance(data, dict):
        raise TravelError(f"{where}: not a JSON object")
    if data.get("format") != _FORMAT:
        raise TravelError(f"{where}: format {data.get('format')!r}, this planner reads {_FORMAT}; rebuild the "
                          "engine with planner roads build")
    missing = sorted(f.name for f in fields(RoadsInfo)
                     if f.name not in data and f.default is MISSING and f.default_factory is MISSING)
    if missing:
        raise TravelError(f"{where}: missing {', '.join(missing)} (rebuild the engine with planner roads build)")
    kw = {f.name: data[f.name] for f in fields(RoadsInfo) if f.name in data}
    if not isinstance(kw["osrm_file"], str) or not re.fullmatch(r"[\w.-]+\.osrm", kw["osrm_file"]):
        raise TravelError(f"{where}: osrm_file must be a file name ending in .osrm, got {kw['osrm_file']!r}")
    try:
        if kw.get("bbox") is not None:
            kw["bbox"] = tuple(float(x) for x in kw["bbox"])
        return RoadsInfo(**kw)
    except (TypeError, ValueError) as exc:
        raise TravelError(f"{where}: {exc}") from None


def read_info(folder: str | os.PathLike[str]) -> RoadsInfo:
    """The :class:`RoadsInfo` of a folder made by :func:`build`.

    Raises :class:`TravelError` naming the folder when it is missing, not an engine folder, or incomplete.
    """
    where = Path(folder)
    path = where / INFO_FILE
    if not where.is_dir():
        raise TravelError(f"road engine {where}: no such folder; build it with planner roads build REGION.osm.pbf "
                          f"--engine {where}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TravelError(f"road engine {where}: no {INFO_FILE}, so not a folder made by planner roads build") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TravelError(f"road engine {path}: unreadable ({exc}); rebuild it") from None
    info = _info_from(data, path)
    if not (where / f"{info.osrm_file}.hsgr").is_file():
        raise TravelError(f"road engine {where}: {info.osrm_file}.hsgr is missing (incomplete copy?); rebuild it")
    return info


# --------------------------------------------------------------------------- #
# Building
# --------------------------------------------------------------------------- #


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in SOURCE_SUFFIXES if name.endswith(s)), None)


def _sha256(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _tail(path: Path) -> str:
    """The last lines of a log file (at most about 1,500 characters), progress dots left out."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip(" .%0123456789")]
    out = "\n".join(lines)[-_TAIL_CHARS:]
    return out


def _peak_rss_mb(pid: int) -> float | None:
    """The high-water resident memory of a running process (Linux ``VmHWM``), MB; None elsewhere."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def _wait_sampling(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int | None, float | None]:
    """Wait for ``proc`` until ``deadline``, sampling its peak memory; (exit code or None at the deadline, MB)."""
    peak: float | None = None
    wait = 0.005
    while True:
        mb = _peak_rss_mb(proc.pid)
        if mb is not None:
            peak = max(peak or 0.0, mb)
        left = deadline - time.monotonic()
        if left <= 0:
            return None, peak
        try:
            return proc.wait(min(wait, left)), peak
        except subprocess.TimeoutExpired:
            wait = min(2 * wait, 0.25)


def _run_step(cmd: list[str], stage: Path, step: str, deadline: float, timeout_s: float) -> tuple[Path, float | None]:
    """Run one tool in ``stage`` with its output in ``<step>.log`` / ``<step>.err``: the log's path and the
    tool's peak resident memory (MB, sampled from ``/proc`` at least every 0.25 s; None where unavailable).

    Raises :class:`TravelError` with the tail of the tool's stderr (else of its log) when it fails, cannot
    start, or is still running at the deadline (then it is killed; so it is on any interruption).
    """
    log, err = stage / f"{step}.log", stage / f"{step}.err"
    if deadline - time.monotonic() <= 0:
        raise TravelError(f"road engine build: no time left for {step} (timeout_s={timeout_s:g} s)")
    with log.open("wb") as out, err.open("wb") as errf:
        try:
            proc = subprocess.Popen(cmd, cwd=stage, stdout=out, stderr=errf, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise TravelError(f"road engine build: cannot run {cmd[0]}: {exc}; {_HOW_TO_GET}") from None
        try:
            code, peak = _wait_sampling(proc, deadline)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code is None:
        raise TravelError(f"road engine build: {Path(cmd[0]).name} was still running after the build's "
                          f"timeout_s={timeout_s:g} s and was stopped")
    if code != 0:
        detail = _tail(err) or _tail(log) or "(no output)"
        raise TravelError(f"road engine build: {Path(cmd[0]).name} failed (exit code {code}):\n{detail}")
    if err.stat().st_size == 0:
        err.unlink()
    return log, (round(peak, 1) if peak is not None else None)


def _nodes_bbox(nbg_nodes: Path) -> tuple[int | None, tuple[float, float, float, float] | None]:
    """Node count and bounding box from OSRM's ``.nbg_nodes`` (a tar holding int32 lon/lat pairs, 1e-6 deg)."""
    try:
        with tarfile.open(nbg_nodes) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("nbn_data/coordinates"))
            fh = tar.extractfile(member)
            if fh is None or member.size % 8:
                return None, None
            lo = np.array([np.iinfo(np.int32).max] * 2, dtype=np.int64)
            hi = np.array([np.iinfo(np.int32).min] * 2, dtype=np.int64)
            while chunk := fh.read(8 << 20):
                xy = np.frombuffer(chunk, dtype="<i4").reshape(-1, 2)
                lo = np.minimum(lo, xy.min(axis=0))
                hi = np.maximum(hi, xy.max(axis=0))
    except (OSError, tarfile.TarError, StopIteration, ValueError):
        return None, None
    n = member.size // 8
    if n == 0:
        return 0, None
    box = (lo[0] / 1e6, lo[1] / 1e6, hi[0] / 1e6, hi[1] / 1e6)
    return n, (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _segments(extract_log: Path) -> int | None:
    """Road segments osrm-extract kept, from its log (None when it did not say)."""
    text = extract_log.read_text(encoding="utf-8", errors="replace")
    m = re.search(r"Writing used edges.*?Processed (\d+) edges", text)
    return int(m.group(1)) if m else None


def _link_source(source: Path, stage: Path, suffix: str) -> Path:
    """The source inside ``stage`` as ``roads<suffix>`` (symlink, else hard link, else copy)."""
    link = stage / f"{BASE_NAME}{suffix}"
    for make in (os.symlink, os.link, shutil.copyfile):
        try:
            make(source.resolve(), link)
            return link
        except OSError:
            link.unlink(missing_ok=True)
    raise TravelError(f"road engine build: cannot place {source} in {stage}")


def _check_paths(source: Path, out_dir: Path) -> str:
    """The source's suffix; :class:`TravelError` for a missing or unsupported source or an unsafe target."""
    if not source.is_file():
        raise TravelError(f"road engine build: no such file {source} (an OpenStreetMap extract, .osm.pbf or .osm)")
    suffix = _suffix(source)
    if suffix is None:
        raise TravelError(f"road engine build: {source.name} is not an OpenStreetMap file "
                          f"(the name must end in {', '.join(SOURCE_SUFFIXES)})")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise TravelError(f"road engine build: {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / INFO_FILE).is_file():
            raise TravelError(f"road engine build: refusing to replace {out_dir}: it is not empty and not a road "
                              f"engine folder (no {INFO_FILE}); choose another --engine folder")
    if out_dir.resolve() in source.resolve().parents:
        raise TravelError(f"road engine build: the source {source} lies inside the engine folder {out_dir}, "
                          "which the build replaces; move it out first")
    return suffix


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _clean_stale(out_dir: Path) -> None:
    """Remove staging folders left beside ``out_dir`` by builds whose process is gone (POSIX only)."""
    if os.name != "posix":
        return
    for stale in out_dir.parent.glob(f".{out_dir.name}.building-*"):
        try:
            pid = int((stale / ".pid").read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(stale, ignore_errors=True)


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Put ``stage`` in place of ``out_dir`` (renames on one file system: the old folder stays whole until
    the new one is in place, then it is deleted)."""
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        os.replace(stage, out_dir)
        return
    old = out_dir.parent / f".{out_dir.name}.old-{secrets.token_hex(4)}"
    os.replace(out_dir, old)
    try:
        os.replace(stage, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    source: Path
    suffix: str
    engine: Engine
    lua: Path
    profile: str
    progress: ProgressFn
    timeout_s: float
    deadline: float


def _build_in(stage: Path, job: _Job) -> RoadsInfo:
    """Extract and contract ``job.source`` inside ``stage``; the engine's description."""
    start = time.monotonic()
    job.progress(0.0, f"reading {job.source.name}")
    size, sha = _sha256(job.source)
    version = job.engine.version()
    link = _link_source(job.source, stage, job.suffix)
    job.progress(0.05, f"osrm-extract ({job.profile} profile): reading the roads of {job.source.name}")
    ext_log, ext_mb = _run_step([str(job.engine.extract), "-p", str(job.lua), link.name], stage, "extract",
                                job.deadline, job.timeout_s)
    link.unlink()
    if not (stage / f"{BASE_NAME}.osrm.nbg_nodes").is_file():
        raise TravelError(f"road engine build: osrm-extract wrote no road network:\n{_tail(ext_log)}")
    nodes, bbox = _nodes_bbox(stage / f"{BASE_NAME}.osrm.nbg_nodes")
    if nodes == 0:
        raise TravelError(f"road engine build: {job.source.name} holds no road the {job.profile} profile can use")
    job.progress(0.55, "osrm-contract: preparing fast many-to-many tables")
    _, con_mb = _run_step([str(job.engine.contract), f"{BASE_NAME}.osrm"], stage, "contract", job.deadline,
                          job.timeout_s)
    ram = {k: v for k, v in (("extract", ext_mb), ("contract", con_mb)) if v is not None}
    _, lua_sha = _sha256(job.lua)
    profile_name = job.lua.name if job.profile.endswith(".lua") else job.profile
    return RoadsInfo(source_name=job.source.name, source_size_bytes=size, source_sha256=sha, profile=profile_name,
                     profile_sha256=lua_sha, engine_version=version, algorithm="ch", osrm_file=f"{BASE_NAME}.osrm",
                     built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                     build_seconds=round(time.monotonic() - start, 3), nodes=nodes, edges=_segments(ext_log), bbox=bbox,
                     peak_ram_mb=ram)


def build(source: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, profile: str = "car",
          progress: ProgressFn | None = None, timeout_s: float = 6 * 3600.0,
          engine: Engine | None = None) -> RoadsInfo:
    """Build a road engine from an OpenStreetMap extract into ``out_dir``; its :class:`RoadsInfo`.

    ``source``: ``.osm.pbf``, ``.osm`` (XML) or ``.osm.bz2``.  ``profile``: a stock profile name (``car``,
    default) or the path of the user's ``.lua``.  Runs ``osrm-extract`` then ``osrm-contract`` in a staging
    folder beside ``out_dir`` (``.NAME.building-*``), writes ``roads.json`` there, and only then puts the
    folder in place of ``out_dir``: a failed or interrupted build leaves ``out_dir`` as it was and no
    staging folder (one left by a killed process is removed by the next build).  ``out_dir`` must be
    missing, empty, or an engine folder from an earlier build.  ``progress(fraction, message)`` hears each
    step; ``timeout_s`` bounds the whole build (a tool still running then is killed).  The source file is
    read, never changed or copied (a symbolic link points at it while OSRM reads it).  The folder keeps
    the tools' output as ``extract.log`` and ``contract.log``.

    Raises :class:`TravelError`: engine not installed, bad source or target, a tool failing (with the tail
    of its error output), the timeout.
    """
    src, out = Path(source), Path(out_dir)
    suffix = _check_paths(src, out)
    eng = engine or find_engine()
    lua = eng.profile_path(profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(out)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        (stage / ".pid").write_text(str(os.getpid()), encoding="ascii")
        job = _Job(src, suffix, eng, lua, profile, progress or no_progress, timeout_s, time.monotonic() + timeout_s)
        info = _build_in(stage, job)
        (stage / INFO_FILE).write_text(info.to_json(), encoding="utf-8")
        (stage / ".pid").unlink()
        _swap_in(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    (progress or no_progress)(1.0, f"road engine ready in {out}")
    return info


# --------------------------------------------------------------------------- #
# The local server
# --------------------------------------------------------------------------- #


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_server(proc: subprocess.Popen[bytes], log: IO[bytes], owner_pid: int) -> None:
    """Stop ``proc`` (terminate, then kill after 5 s) and close its log; only from the process that started it."""
    if os.getpid() == owner_pid:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            proc.wait()
    with contextlib.suppress(OSError):
        log.close()


def _answers(port: int, probe: str) -> bool:
    """True when an HTTP server on 127.0.0.1:``port`` answers ``probe`` (any status)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", probe)
        conn.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _log_tail(log: IO[bytes]) -> str:
    try:
        log.flush()
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines)[-_TAIL_CHARS:]



class _Server:
    """One running ``osrm-routed`` and its finalizer (which stops it at gc or interpreter exit)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: IO[bytes], port: int) -> None:
        self.proc = proc
        self.log = log
        self.port = port
        self.stop = weakref.finalize(self, _stop_server, proc, log, os.getpid())

    def alive(self) -> bool:
        return self.proc.poll() is None


class LocalRoadsBackend:
    """Road distances and driving times from an engine folder made by :func:`build`.

    On first use, starts ``osrm-routed --algorithm ch --max-table-size N --ip 127.0.0.1 --port P
    DIR/roads.osrm`` (P a free port), waits until it answers (``start_timeout_s``), and asks it through
    :class:`~planner.geo.travel.OSRMBackend` (blocks of at most ``max_table_size`` coordinates, retries,
    one ``timeout_s`` deadline per :meth:`matrix` call).  Before each matrix the server is checked; a
    server that died is restarted once (also when it dies during the call).  :meth:`close`, the ``with``
    block, garbage collection and interpreter exit stop it, so no job leaves a process behind (a process
    killed with SIGKILL cannot run its finalizers: then the server outlives it).

    Durations are pure driving time (no per-trip overhead); pairs without a road between them are
    ``inf`` (see :attr:`~planner.geo.travel.Matrix.unreachable`).  Two points that OSRM snaps to one spot
    sometimes get a slightly negative distance (its known table bug): read as 0
    (:data:`planner.geo.travel.OSRM_NEGATIVE_NOISE_M`).
    Points are snapped by OSRM to the nearest road, however far: a point far from any road (offshore,
    outside the extract) gets the times of its snapped position, and the walk to the road is neither
    timed nor counted.  Check that your points lie inside the extract (:attr:`info` ``.bbox``).

    :meth:`cache_key` includes the sha256 of ``roads.json`` (which names the source's sha256, the profile
    and the build time): a rebuilt engine invalidates cached matrices.  A pickled copy carries the settings
    only and starts its own server.  Thread-safe.

    Raises :class:`TravelError` (at construction) when the folder is not a built engine, and (on use) when
    the engine is not installed or the server cannot start or answer.
    """

    def __init__(self, roads_dir: str | os.PathLike[str], *, timeout_s: float = 600.0, max_table_size: int = 1000,
                 start_timeout_s: float = 300.0, threads: int | None = None, engine: Engine | None = None) -> None:
        self.folder = Path(roads_dir)
        self.timeout_s = float(timeout_s)
        self.max_table_size = int(max_table_size)
        self.start_timeout_s = float(start_timeout_s)
        self.threads = threads
        self._engine = engine
        if self.max_table_size < 2 or not self.timeout_s > 0 or not self.start_timeout_s > 0:
            raise ValueError("max_table_size >= 2, timeout_s > 0 and start_timeout_s > 0 are required")
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._client: OSRMBackend | None = None
        self._load_info()

    def _load_info(self) -> None:
        self.info = read_info(self.folder)
        digest = hashlib.sha256((self.folder / INFO_FILE).read_bytes()).hexdigest()
        self._key = f"roads:{self.info.profile}:{self.info.profile_sha256[:16]}:roads.json={digest}"

    # -- TravelBackend -------------------------------------------------------

    def cache_key(self) -> str:
        """``roads:PROFILE:<profile sha>:roads.json=<sha256 of roads.json>`` (not the folder's path)."""
        return self._key

    def matrix(self, origins: np.ndarray, destinations: np.ndarray) -> Matrix:
        """Road distance (m) and driving time (s) from every origin to every destination.

        Starts the server if needed.  Raises :class:`TravelError` when it cannot start or answer.
        """
        po = validate_coords(origins, name="origins")
        pd_ = validate_coords(destinations, name="destinations")
        if len(po) == 0 or len(pd_) == 0:
            empty = np.empty((len(po), len(pd_)), dtype=np.float32)
            return Matrix(empty, empty.copy(), "roads")
        client = self._ready(restart_dead=True)
        try:
            m = client.matrix(po, pd_)
        except TravelError:
            with self._lock:
                if self._server is not None and self._server.alive():
                    raise
            client = self._ready(restart_dead=True)  # the server died during the call: once more
            m = client.matrix(po, pd_)
        return Matrix(m.distance_m, m.time_s, "roads", m.note)  # OSRMBackend reads OSRM's -1 m noise as 0

    # -- lifecycle -----------------------------------------------------------

    @property
    def base_url(self) -> str | None:
        """``http://127.0.0.1:PORT`` of the running server, or None."""
        return self._client.base_url if self._client is not None and self.running else None

    @property
    def server_pid(self) -> int | None:
        """Process id of the running server, or None."""
        s = self._server
        return s.proc.pid if s is not None and s.alive() else None

    @property
    def running(self) -> bool:
        """Whether the server process is up."""
        s = self._server
        return s is not None and s.alive()

    def start(self) -> None:
        """Start the server now (else the first :meth:`matrix` does); a no-op when it runs."""
        self._ready(restart_dead=True)

    def close(self) -> None:
        """Stop the server (if started) and wait for it to end; the backend may be used again after."""
        with self._lock:
            server, self._server, self._client = self._server, None, None
        if server is not None:
            server.stop()

    def __enter__(self) -> LocalRoadsBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        keep = ("folder", "timeout_s", "max_table_size", "start_timeout_s", "threads", "_engine")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        self._server = None
        self._client = None
        self._load_info()

    def __repr__(self) -> str:
        return f"LocalRoadsBackend({str(self.folder)!r}, running={self.running})"

    def describe(self) -> dict[str, object]:
        """What a job summary says of this backend (does not start the server)."""
        i = self.info
        return {"backend": "roads", "folder": str(self.folder), "profile": i.profile, "source": i.source_name,
                "source_sha256": i.source_sha256, "built": i.built_at, "engine": f"OSRM {i.engine_version}",
                "nodes": i.nodes, "bbox": list(i.bbox) if i.bbox else None}

    def _ready(self, *, restart_dead: bool) -> OSRMBackend:
        """The client of a running server: started now if there is none, restarted if it died."""
        with self._lock:
            if self._server is not None and self._client is not None:
                if self._server.alive():
                    return self._client
                if not restart_dead:
                    raise TravelError(f"road engine {self.folder}: the server stopped")
                self._server.stop()
            self._server = self._client = None
            self._load_info()
            self._server = self._launch()
            self._client = OSRMBackend(f"http://127.0.0.1:{self._server.port}", profile="driving",
                                       max_table_size=self.max_table_size, timeout_s=self.timeout_s)
            return self._client

    def _command(self, engine: Engine, port: int) -> list[str]:
        cmd = [str(engine.routed), "--algorithm", "ch", "--max-table-size", str(self.max_table_size),
               "--ip", "127.0.0.1", "--port", str(port), "--verbosity", "WARNING"]
        if self.threads:
            cmd += ["--threads", str(int(self.threads))]
        return [*cmd, str(self.folder / self.info.osrm_file)]

    def _launch(self) -> _Server:
        """Start osrm-routed on a free port and wait until it answers (a port taken meanwhile: next port)."""
        engine = self._engine or find_engine()
        deadline = time.monotonic() + self.start_timeout_s
        last = ""
        for _attempt in range(3):
            port = _free_port()
            log = tempfile.TemporaryFile()
            try:
                proc = subprocess.Popen(self._command(engine, port), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
            except OSError as exc:
                log.close()
                raise TravelError(f"road engine {self.folder}: cannot run {engine.routed}: {exc}") from None
            server = _Server(proc, log, port)
            last = self._wait_ready(server, deadline)
            if not last:
                return server
            server.stop()
            if "address" not in last.lower() and "bind" not in last.lower():
                break
        raise TravelError(f"road engine {self.folder}: osrm-routed did not start: {last}")

    def _wait_ready(self, server: _Server, deadline: float) -> str:
        """``""`` once the server answers, else why not (it exited, or ``start_timeout_s`` passed)."""
        bbox = self.info.bbox or (0.0, 0.0, 0.0, 0.0)
        probe = f"/nearest/v1/driving/{(bbox[0] + bbox[2]) / 2:.6f},{(bbox[1] + bbox[3]) / 2:.6f}"
        wait = 0.02
        while True:
            if not server.alive():
                code = server.proc.returncode
                return f"it exited with code {code}:\n{_log_tail(server.log) or '(no output)'}"
            if _answers(server.port, probe):
                return ""
            if time.monotonic() > deadline:
                return (f"no answer within start_timeout_s={self.start_timeout_s:g} s (a large engine takes "
                        f"longer to load: raise start_timeout_s):\n{_log_tail(server.log)}")
            time.sleep(wait)
            wait = min(wait * 2, 0.5)
