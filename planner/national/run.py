"""One job per partition, on Dask (a local cluster by default) or in this process.

:func:`run` plans every partition of a :class:`planner.national.partition.Partitioning` with the same
:class:`JobSpec` and returns a :class:`NationalRun` (one :class:`PartitionResult` per partition, in
the partitions' order):

- ``workers >= 1``: ``distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
  processes=True)``: every task in a worker process of its own thread, so no two OR-Tools models
  ever share a process at the same time (one model per task); ``scheduler="tcp://HOST:PORT"``: the
  user's cluster instead (``distributed.Client(scheduler)``); ``client=``: a client the caller
  holds (tests, benchmarks).  Tasks are submitted with ``pure=False`` (a re-run is a new run) and
  ``retries`` (default 1), largest partitions first; ``progress(fraction, message)`` is called as
  each partition ends (``distributed.as_completed``).
- ``workers=0``: in this process, one partition after another, with the same retries (debugging,
  tests, a machine without Dask).

A partition that still raises after its retries is reported by name with its error
(``status="failed"``); the others are kept.  A partition with nothing to plan for the job (no seller,
no account) is ``skipped`` with the reason.

Same seed, same plan, whatever the number of workers: each partition's plan depends only on its
rows and the spec, and :func:`job_spec` gives the day and week planners a deterministic work budget
(``solution_limit``, :data:`SOLUTION_LIMIT` unless set) so that the routing search stops on a count
of improving solutions rather than on the clock; the territory search polishes in CP-SAT's
deterministic time and the bases search proves its optimum on a partition's size.  The wall-clock
``time_limit_s`` stays as a safety cap: a partition whose search the clock cuts first may differ
between runs (give more time, or a smaller ``solution_limit``).  The territory planner's reference
day (``as_of``: days since the last visit, tenure) is the whole organisation's, not each
partition's.

The travel backend is given as a spec (``JobSpec.travel``: a ``planner.geo.backends.TravelSpec``, plain
data, or its text) and opened in the worker, for each partition, by ``planner.geo.backends.open_backend``
(a backend object, with its cache, connections or road server, is never pickled); ``None`` is the
built-in model.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.national.partition import Partition, Partitioning
from planner.plans import ProgressFn, no_progress

JOBS: tuple[str, ...] = ("days", "week", "territories", "bases")
SOLUTION_LIMIT = 30  # the day's and the week's routing searches stop after this many improving solutions
Outcome = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """What every partition runs: the ``job`` (one of :data:`JOBS`), its ``options`` (``DayOptions``,
    ``WeekOptions``, ``TerritoryOptions`` or ``BaseOptions``), the day (``days``) or first day (``week``),
    the week's working ``days``, the reps asked for (``rep_ids``; None: all), the territory planner's
    reference day ``as_of`` and the travel backend: a spec (``planner.geo.backends.TravelSpec`` or its text,
    relative paths from ``travel_dir``; None: the built-in model), opened in each worker."""

    job: str
    options: Any
    date: pd.Timestamp | None = None
    days: int = 5
    rep_ids: tuple[str, ...] | None = None
    as_of: dt.date | None = None
    travel: Any = None
    travel_dir: str | None = None

    def __post_init__(self) -> None:
        problems = [] if self.job in JOBS else [f"job must be one of {', '.join(JOBS)}, got {self.job!r}"]
        if self.job in ("days", "week") and self.date is None:
            problems.append(f"the {self.job} job needs a date")
        if problems:
            raise InputError(problems, what="national job")


@dataclass(frozen=True, eq=False)
class PartitionResult:
    """How one partition's job ended: ``ok`` with its ``plan``, ``skipped`` (``error`` says why) or
    ``failed`` (``error``: the exception after ``attempts`` tries).  ``seconds`` is the job's own time in
    its worker (the last attempt) and ``cpu_seconds`` the processor time it had (less than ``seconds`` when
    other processes share the cores), ``worker`` the host and process, ``peak_mb`` that process's peak
    resident memory so far."""

    name: str
    status: Outcome
    plan: Any = None
    error: str = ""
    seconds: float = 0.0
    attempts: int = 1
    worker: str = ""
    peak_mb: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, eq=False)
class NationalRun:
    """Every partition's result (in the partitions' order), the spec, the wall time and where it ran."""

    partitioning: Partitioning
    spec: JobSpec
    results: tuple[PartitionResult, ...]
    seconds: float
    mode: str  # "in-process", "local cluster (N workers)" or "scheduler tcp://..."
    workers: int = 0
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> PartitionResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def failed(self) -> list[PartitionResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def plans(self) -> dict[str, Any]:
        """Plan by partition name, for the partitions that have one."""
        return {r.name: r.plan for r in self.results if r.ok}


# --------------------------------------------------------------------------- the spec
def as_of_day(accounts: pd.DataFrame, reps: pd.DataFrame) -> dt.date:
    """The territory planner's default reference day for the whole organisation: the day after the latest
    last visit or start date (as ``problem_from_tables`` takes it for one table), today when neither is
    known."""
    days = [pd.to_datetime(t[c], errors="coerce").max() for t, c in ((accounts, S.LAST_VISIT), (reps, S.START_DATE))
            if c in t]
    latest = max((d for d in days if pd.notna(d)), default=None)
    return (latest + pd.Timedelta(days=1)).date() if latest is not None else dt.date.today()


def job_spec(job: str, options: Any, accounts: pd.DataFrame, reps: pd.DataFrame, *, day: Any = None,
             days: int = 5, rep_ids: Sequence[str] | None = None, travel: Any = None,
             travel_dir: str | None = None) -> JobSpec:
    """The spec of a national run: the day and week planners get :data:`SOLUTION_LIMIT` as their work
    budget when ``options`` sets none; the territory planner the organisation's reference day."""
    if job in ("days", "week") and getattr(options, "solution_limit", 0) is None:
        options = options.replace(solution_limit=SOLUTION_LIMIT)
    return JobSpec(job=job, options=options, date=None if day is None else pd.Timestamp(day).normalize(),
                   days=int(days), rep_ids=tuple(rep_ids) if rep_ids else None,
                   as_of=as_of_day(accounts, reps) if job == "territories" else None, travel=travel,
                   travel_dir=travel_dir)


# --------------------------------------------------------------------------- one partition (in its worker)
def open_travel(spec: JobSpec) -> Any:
    """The travel backend the spec names, opened here (in the worker): a ``planner.geo.backends.Opened`` to
    close when the job is done."""
    from planner.geo import backends

    return backends.open_backend(spec.travel, base_dir=spec.travel_dir)


def _rep_ids(part: Partition, spec: JobSpec) -> tuple[str, ...] | None:
    if spec.rep_ids is None:
        return None
    mine = set(part.reps[S.ID].astype(str))
    return tuple(r for r in spec.rep_ids if r in mine)


def _days(part: Partition, spec: JobSpec, backend: Any) -> Any:
    from planner.solvers import days

    prob = days.DayProblem(part.accounts, part.reps, part.offices, spec.date, rep_ids=_rep_ids(part, spec),
                           travel=backend)
    return days.solve(prob, spec.options)


def _week(part: Partition, spec: JobSpec, backend: Any) -> Any:
    from planner.solvers import week

    prob = week.WeekProblem(part.accounts, part.reps, part.offices, spec.date, days=spec.days,
                            rep_ids=_rep_ids(part, spec), travel=backend)
    return week.solve(prob, spec.options)


def _territories(part: Partition, spec: JobSpec, backend: Any) -> Any:
    from planner.solvers import territories

    prob = territories.problem_from_tables(part.accounts, part.reps, part.offices, as_of=spec.as_of)
    return territories.solve(prob, spec.options, backend=backend)


def _bases(part: Partition, spec: JobSpec, backend: Any) -> Any:
    from planner.solvers import bases

    n = bases.team_size(part.reps, spec.options)
    return bases.solve_bases(part.accounts, part.offices, reps=n, options=spec.options, backend=backend)


SOLVERS: dict[str, Callable[[Partition, JobSpec, Any], Any]] = {
    "days": _days, "week": _week, "territories": _territories, "bases": _bases}


def nothing_to_plan(part: Partition, spec: JobSpec) -> str:
    """Why the partition has nothing to plan for the spec's job ("" when it has something)."""
    if part.sellers == 0:
        return "no seller in the partition (managers only)"
    if not len(part.accounts):
        return "no account in the partition"
    if spec.rep_ids is not None and not _rep_ids(part, spec):
        return "none of the reps asked for is in the partition"
    return ""


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def solve_partition(part: Partition, spec: JobSpec,
                    solve: Callable[[Partition, JobSpec, Any], Any] | None = None) -> PartitionResult:
    """Plan one partition (in the worker that runs it); an error propagates (so that it is retried)."""
    t0, c0 = time.perf_counter(), time.process_time()
    where = f"{socket.gethostname()}:{os.getpid()}"
    why = nothing_to_plan(part, spec)
    if why:
        return PartitionResult(part.name, "skipped", error=why, worker=where, peak_mb=_peak_mb())
    fn = solve or SOLVERS[spec.job]
    with open_travel(spec) as travel:
        plan = fn(part, spec, travel.backend)
    return PartitionResult(part.name, "ok", plan=plan, seconds=time.perf_counter() - t0, worker=where,
                           peak_mb=_peak_mb(), cpu_seconds=time.process_time() - c0)


# --------------------------------------------------------------------------- many partitions
def _error(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:2000]


def _failed(part: Partition, exc: BaseException, attempts: int) -> PartitionResult:
    return PartitionResult(part.name, "failed", error=_error(exc), attempts=attempts)


def _announce(progress: ProgressFn, done: int, total: int, r: PartitionResult) -> None:
    what = {"ok": f"done in {r.seconds:.1f} s", "skipped": f"skipped ({r.error})",
            "failed": f"FAILED ({r.error[:120]})"}[r.status]
    progress(done / max(total, 1), f"{done}/{total} partitions; {r.name}: {what}")


def _in_process(parts: Sequence[Partition], spec: JobSpec, solve: Any, retries: int,
                progress: ProgressFn) -> list[PartitionResult]:
    out = []
    for k, part in enumerate(parts):
        for attempt in range(1, retries + 2):
            try:
                res = solve_partition(part, spec, solve)
                res = res if attempt == 1 else _replace_attempts(res, attempt)
                break
            except Exception as exc:  # any error of a partition is reported, the others go on
                res = _failed(part, exc, attempt)
        out.append(res)
        _announce(progress, k + 1, len(parts), res)
    return out


def _replace_attempts(res: PartitionResult, attempts: int) -> PartitionResult:
    import dataclasses

    return dataclasses.replace(res, attempts=attempts)


def _size(part: Partition) -> int:
    return len(part.accounts) + 20 * len(part.reps)


def _on_dask(client: Any, parts: Sequence[Partition], spec: JobSpec, solve: Any, retries: int,
             progress: ProgressFn) -> list[PartitionResult]:
    """Submit every partition (largest first), collect them as they end."""
    from distributed import as_completed

    order = sorted(range(len(parts)), key=lambda i: (-_size(parts[i]), i))
    futures = {}
    for rank, i in enumerate(order):
        fut = client.submit(solve_partition, parts[i], spec, solve, pure=False, retries=retries,
                            priority=len(order) - rank, key=f"national-{spec.job}-{i:05d}-{os.urandom(4).hex()}")
        futures[fut.key] = (i, fut)
    results: list[PartitionResult | None] = [None] * len(parts)
    done = 0
    for fut in as_completed([f for _, f in futures.values()]):
        i = futures[fut.key][0]
        if fut.status == "error":
            res = _failed(parts[i], fut.exception(), retries + 1)
        else:
            res = fut.result()
        fut.release()
        results[i] = res
        done += 1
        _announce(progress, done, len(parts), res)
    return [r for r in results if r is not None]


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A client on the user's scheduler, or on a local cluster of ``workers`` single-threaded processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # dashboard on a free port (the default 8787 may be taken; without bokeh there is none to see)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def run(partitioning: Partitioning, spec: JobSpec, *, workers: int | None = None, scheduler: str | None = None,
        client: Any = None, retries: int = 1, progress: ProgressFn = no_progress,
        solve: Callable[[Partition, JobSpec, Any], Any] | None = None) -> NationalRun:
    """Plan every partition (see the module docstring); ``solve(partition, spec, backend)`` replaces the
    job's solver (tests, new jobs: it must be importable or picklable by value in the workers)."""
    if retries < 0:
        raise InputError(f"retries must be >= 0, got {retries}")
    n = default_workers() if workers is None else int(workers)
    parts = list(partitioning.partitions)
    t0 = time.perf_counter()
    progress(0.0, f"{spec.job}: {len(parts)} partitions by {partitioning.by}")
    if client is not None:
        mode, n = f"client {client.scheduler.address}", len(client.scheduler_info().get("workers", {}))
        results = _on_dask(client, parts, spec, solve, retries, progress)
    elif scheduler or n >= 1:
        with dask_client(n, scheduler) as c:
            mode = f"scheduler {scheduler}" if scheduler else f"local cluster ({n} workers)"
            n = len(c.scheduler_info().get("workers", {})) if scheduler else n
            results = _on_dask(c, parts, spec, solve, retries, progress)
    else:
        mode, n = "in-process", 0
        results = _in_process(parts, spec, solve, retries, progress)
    return NationalRun(partitioning=partitioning, spec=spec, results=tuple(results),
                       seconds=time.perf_counter() - t0, mode=mode, workers=n)
