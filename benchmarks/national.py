"""Partitioned national runs: the synthetic national organisation planned team by team on Dask.

    python benchmarks/national.py [--regions 20] [--reps 10000] [--accounts 400000] [--workers 1 2]
                                  [--job days|week] [--by team|city|region] [--solution-limit 30]
                                  [--time-limit 60] [--simulate 16] [--seed 20261123]

The organisation is ``planner.demo.national`` (seeded): written as Parquet into a temporary folder and
loaded through the workspace loader as the command would (``build_seconds``, ``load_seconds``), split
``--by`` (``partition_seconds``).  Then, for each ``--workers W``, a local cluster of W single-threaded
worker processes is started (``startup_seconds``) and every partition planned on it
(``planner.national.run.run``): ``seconds`` is that run, from the first submission to the last result,
merge included.  ``peak_mb`` is the peak of the summed resident memory of the worker processes,
sampled every 0.2 s with psutil; ``client_peak_mb`` that of this process.  ``work_seconds`` sums the
partitions' own wall times in the workers, ``cpu_seconds`` the processor time they had: a
``cpu_share`` well under 1 means other processes were using the cores too (the multi-worker figures
are then no measure of scaling).
The day and week planners run at a fixed work budget (``--solution-limit`` improving solutions; the
time limit is only a safety cap), so the plans do not depend on W.

One JSON line per W, then a summary line: ``speedup`` (the 1-worker seconds over W's) and
``efficiency`` (speedup / W), and the 16-worker simulation: the measured per-partition seconds
(``partition_seconds_each``, in the workers) scheduled longest first onto ``--simulate`` workers
(LPT), plus the overhead measured at the largest W (its wall time less the LPT schedule of its own
partition times: submission, transfers, the merge).  ``loadavg`` says how busy the
machine was (other processes share its cores).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import tempfile
import threading
import time

from planner.demo import national as N
from planner.io import Workspace
from planner.national import merge, partition as P, run as R


def lpt_makespan(seconds: list[float], workers: int) -> float:
    """Longest-processing-time-first schedule of ``seconds`` onto ``workers``: the finishing time."""
    loads = [0.0] * max(1, workers)
    heapq.heapify(loads)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


class MemorySampler:
    """Peak summed RSS (MB) of this process's descendants (the workers), and of this process."""

    def __init__(self, every_s: float = 0.2) -> None:
        import psutil

        self.me = psutil.Process()
        self.every_s = every_s
        self.workers_mb = 0.0
        self.client_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        import psutil

        total = 0
        for child in self.me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        self.workers_mb = max(self.workers_mb, total / 2**20)
        self.client_mb = max(self.client_mb, self.me.memory_info().rss / 2**20)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def organisation(a: argparse.Namespace) -> tuple[dict, P.Partitioning, dict]:
    """Generate, write, load and split the organisation; the tables, the split and the set-up times."""
    t0 = time.perf_counter()
    cfg = N.NationalConfig(regions=a.regions, reps=a.reps, accounts=a.accounts, seed=a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        N.write(tmp, cfg, fmt="parquet")
        t1 = time.perf_counter()
        tables = Workspace.open(tmp).load(["accounts", "reps", "offices"])
        t2 = time.perf_counter()
    frames = tables.frames
    parts = P.partition(frames["accounts"], frames["reps"], frames["offices"], by=a.by)
    t3 = time.perf_counter()
    times = {"build_seconds": round(t1 - t0, 2), "load_seconds": round(t2 - t1, 2),
             "partition_seconds": round(t3 - t2, 2), "rejected_rows": sum(len(r) for r in tables.rejected.values())}
    return frames, parts, times


def spec_for(a: argparse.Namespace, frames: dict) -> R.JobSpec:
    from planner.solvers import days, week

    if a.job == "days":
        opt = days.DayOptions(solution_limit=a.solution_limit, time_limit_s=a.time_limit, seed=0)
        day = N.APPOINTMENT_DATE
    else:
        opt = week.WeekOptions(solution_limit=a.solution_limit, time_limit_s=a.time_limit, seed=0)
        day = N.TODAY
    return R.job_spec(a.job, opt, frames["accounts"], frames["reps"], day=day)


def one_run(a: argparse.Namespace, w: int, parts: P.Partitioning, spec: R.JobSpec) -> tuple[dict, list[float]]:
    t0 = time.perf_counter()
    with MemorySampler() as mem, R.dask_client(w) as client:
        startup = time.perf_counter() - t0
        t1 = time.perf_counter()
        done = R.run(parts, spec, client=client)
        plan = merge.merge(done)
        sec = time.perf_counter() - t1
    each = [round(r.seconds, 3) for r in done.results]
    cpu = sum(r.cpu_seconds for r in done.results)
    slowest = sorted(done.results, key=lambda r: -r.seconds)[:3]
    s = plan.summary
    line = {"regions": a.regions, "reps": a.reps, "accounts": a.accounts, "workers": w, "job": a.job, "by": a.by,
            "partitions": len(parts), "seconds": round(sec, 2), "startup_seconds": round(startup, 2),
            "peak_mb": round(mem.workers_mb, 1), "client_peak_mb": round(mem.client_mb, 1),
            "plans_ok": s["plans_ok"], "plans_failed": s["plans_failed"], "plans_skipped": s["plans_skipped"],
            "solution_limit": a.solution_limit, "work_seconds": round(sum(each), 2), "cpu_seconds": round(cpu, 2),
            "cpu_share": round(cpu / max(sum(each), 1e-9), 3),
            "slowest": {r.name: round(r.seconds, 2) for r in slowest},
            "longest_partition_seconds": max(each, default=0.0),
            "totals": {k: v for k, v in s["totals"].items() if k in ("reps", "visits", "rep_days", "new_visits",
                                                                    "appointments_kept", "appointments_booked")},
            "broken": len(s["broken"]), "loadavg": [round(x, 2) for x in os.getloadavg()],
            "partition_seconds_each": each}
    return line, each


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=20)
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=400_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--job", choices=("days", "week"), default="days")
    ap.add_argument("--by", choices=P.BY, default="team")
    ap.add_argument("--solution-limit", type=int, default=R.SOLUTION_LIMIT)
    ap.add_argument("--time-limit", type=float, default=60.0, help="a safety cap per partition (s)")
    ap.add_argument("--simulate", type=int, default=16, help="workers to simulate from the measured times")
    ap.add_argument("--seed", type=int, default=N.DEFAULT_SEED)
    a = ap.parse_args(argv)
    frames, parts, setup = organisation(a)
    print(json.dumps({"setup": True, "regions": a.regions, "reps": a.reps, "accounts": a.accounts, "by": a.by,
                      "partitions": len(parts), **setup}), flush=True)
    spec = spec_for(a, frames)
    lines = []
    for w in a.workers:
        line, each = one_run(a, w, parts, spec)
        lines.append(line)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    base = next((x for x in lines if x["workers"] == 1), lines[0])
    top = max(lines, key=lambda x: x["workers"])
    overhead = max(0.0, top["seconds"] - lpt_makespan(top["partition_seconds_each"], top["workers"]))
    sim = lpt_makespan(base["partition_seconds_each"], a.simulate)
    print(json.dumps({"summary": True, "job": a.job, "by": a.by, "partitions": len(parts),
                      "speedup": {str(x["workers"]): round(base["seconds"] / x["seconds"], 3) for x in lines},
                      "efficiency": {str(x["workers"]): round(base["seconds"] / x["seconds"] / x["workers"], 3)
                                     for x in lines},
                      f"simulated_{a.simulate}_workers_seconds": round(sim + overhead, 2),
                      f"simulated_{a.simulate}_workers_lpt_only_seconds": round(sim, 2),
                      "lpt_lower_bound_seconds": round(max(sum(base["partition_seconds_each"]) / a.simulate,
                                                           base["longest_partition_seconds"]), 2),
                      "overhead_seconds_at_max_workers": round(overhead, 2)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
