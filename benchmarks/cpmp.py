"""Capacitated p-median benchmark: solve_cpmp on Osman & Christofides files.

    python benchmarks/cpmp.py DIR [--time-limit S] [--seed K]
    python benchmarks/cpmp.py DIR --generate N [--gen-seed K]

Solves every ``pmedcap*.txt`` in DIR (natural order; distances are Euclidean
truncated to integers, the convention of the published values) and prints one
JSON line per instance ``{"instance", "n", "p", "objective", "best_known",
"gap_pct", "seconds", "cpu_seconds", "status", "bound_gap_pct", "max_load", "capacity"}``
(``best_known`` from DIR/bks.csv column ``bks_value`` when present), then a
summary line ``{"summary": true, "instances", "optimal", "mean_gap_pct",
"worst_gap_pct", "total_seconds"}``. Every plan is checked: each client
assigned once to an open base, no base over capacity. ``bound`` is the solver's
proven lower bound (always a number when there is a plan).

``--generate N`` first writes N seeded random instances of each Osman-Christofides
size into DIR (skipping files that exist), built like theirs: integer
coordinates uniform in 1..100, demands uniform in 1..20 (drawn again while their total
exceeds p x capacity), capacity 120, n = 50
with p = 5 and n = 100 with p = 10 (files ``pmedcap_gen_n{n}_{k}.txt``). They have
no known optima: read ``bound_gap_pct`` (objective vs. the proven bound).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Summary, gap_pct, natural_key, read_bks

from planner.solvers.pmedian import PMedianProblem, read_orlib_cpmp, solve_cpmp


def write_random_cpmp(path: Path, n: int, p: int, seed: int, capacity: int = 120) -> None:
    """An instance in the OR-Library ``pmedcap1`` layout: ``0 0``, ``n p capacity``, then ``id x y demand``."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(1, 101, size=(n, 2))
    demand = rng.integers(1, 21, size=n)
    while demand.sum() > p * capacity:  # no plan can exist: draw the demands again
        demand = rng.integers(1, 21, size=n)
    lines = [" 0 0", f" {n} {p} {capacity}"] + [f" {i + 1} {x} {y} {d}" for i, ((x, y), d) in
                                                enumerate(zip(xy.tolist(), demand.tolist()))]
    path.write_text("\n".join(lines) + "\n")


def generate(directory: Path, count: int, seed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n, p in ((50, 5), (100, 10)):
        for k in range(count):
            f = directory / f"pmedcap_gen_n{n}_{k}.txt"
            if not f.exists():
                write_random_cpmp(f, n, p, seed=seed * 1_000_003 + n * 1009 + k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="write N seeded instances per size first")
    ap.add_argument("--gen-seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated instance names to run (default: all)")
    args = ap.parse_args()
    if args.generate:
        generate(args.dir, args.generate, args.gen_seed)
    bks = read_bks(args.dir, "bks_value")
    files = sorted(args.dir.glob("pmedcap*.txt"), key=natural_key)
    if args.only:
        files = [f for f in files if f.stem in args.only.split(",")]
    if not files:
        sys.exit(f"no pmedcap*.txt in {args.dir}")
    summary = Summary()
    for f in files:
        t = time.perf_counter()
        cost, demand, capacity, p = read_orlib_cpmp(f)
        read_s = time.perf_counter() - t
        problem = PMedianProblem(cost, None, p, capacity=capacity, demand=demand)
        cpu = time.process_time()
        res = solve_cpmp(problem, time_limit_s=args.time_limit, seed=args.seed)
        cpu = time.process_time() - cpu
        rep = res.report
        ok_plan = rep.status in ("optimal", "feasible")
        max_load = None
        if ok_plan:
            loads = res.loads(problem)
            assert (res.assign >= 0).all() and np.isin(res.assign, res.open).all(), f.stem
            assert len(res.open) == p and (loads <= capacity + 1e-9).all(), f.stem
            max_load = float(loads.max())
        best = bks.get(f.stem)
        gap = gap_pct(res.objective, best) if ok_plan else None
        summary.add(seconds=rep.seconds, status=rep.status, gap=gap)
        print(json.dumps({
            "instance": f.stem, "n": int(cost.shape[0]), "p": int(p),
            "objective": res.objective if ok_plan else None, "best_known": best,
            "gap_pct": None if gap is None else round(gap, 4), "seconds": round(rep.seconds, 3),
            "cpu_seconds": round(cpu, 3), "status": rep.status, "bound": rep.bound,
            "bound_gap_pct": None if rep.gap is None else round(100 * rep.gap, 4),
            "max_load": max_load, "capacity": float(capacity.max()), "read_seconds": round(read_s, 3),
        }), flush=True)
    summary.print()


if __name__ == "__main__":
    main()
