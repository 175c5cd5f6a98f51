"""Uncapacitated p-median benchmark: solve_pmedian on OR-Library files.

    python benchmarks/pmedian.py DIR [--time-limit S] [--seed K]
    python benchmarks/pmedian.py DIR --generate [--sizes 300,500,700,900] [--gen-seed K]

Solves every ``pmed*.txt`` in DIR (natural order) and prints one JSON line per
instance ``{"instance", "n", "p", "objective", "best_known", "gap_pct",
"seconds", "status", "bound_gap_pct"}`` (``best_known`` from DIR/bks.csv column
``optimal_value`` when present; ``gap_pct = 100 (objective - best_known) /
best_known``; ``bound_gap_pct`` the solver's own proven gap), then a summary
line ``{"summary": true, "instances", "optimal", "mean_gap_pct",
"worst_gap_pct", "total_seconds"}``. ``seconds`` is the solve's wall time
(reading the file and the shortest paths excluded, shown as ``read_seconds``).

``--generate`` first writes seeded random instances in the OR-Library format
into DIR (skipping files that exist), built like Beasley's (1985): a
Hamiltonian cycle 1-2-...-n-1 plus random vertex pairs (repeats allowed, the
last occurrence wins) up to n^2/50 edges, costs uniform in 1..100, and for each
n the p values 5, 10, n/10, n/5 and min(n/3, 200). No best-known values are
written: their quality is read from ``bound_gap_pct`` (objective vs. the
solver's proven lower bound).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import Summary, gap_pct, natural_key, read_bks

from planner.solvers.pmedian import PMedianProblem, read_orlib_pmed, solve_pmedian


def write_random_pmed(path: Path, n: int, p: int, seed: int, edges: int | None = None) -> None:
    """Beasley-style instance: cycle 1..n plus random pairs up to ``edges`` (default n^2/50), costs 1..100."""
    rng = np.random.default_rng(seed)
    m = max(n, edges if edges is not None else n * n // 50)
    a = list(range(1, n + 1))
    b = [i % n + 1 for i in range(1, n + 1)]
    extra = m - n
    i = rng.integers(1, n + 1, size=extra * 2)
    j = rng.integers(1, n + 1, size=extra * 2)
    ok = i != j
    i, j = i[ok][:extra], j[ok][:extra]
    cost = rng.integers(1, 101, size=m)
    lines = [f" {n} {m} {p} "]
    lines += [f" {u} {v} {c} " for u, v, c in zip(a + i.tolist(), b + j.tolist(), cost.tolist())]
    path.write_text("\n".join(lines) + "\n")


def generate(directory: Path, sizes: list[int], seed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        ps = sorted({5, 10, n // 10, n // 5, min(n // 3, 200)})
        for p in ps:
            f = directory / f"pmed_n{n}_p{p}.txt"
            if not f.exists():
                write_random_pmed(f, n, p, seed=seed * 1_000_003 + n * 1009 + p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", action="store_true", help="write seeded Beasley-style instances into DIR first")
    ap.add_argument("--sizes", default="300,500,700,900")
    ap.add_argument("--gen-seed", type=int, default=1)
    args = ap.parse_args()
    if args.generate:
        generate(args.dir, [int(s) for s in args.sizes.split(",") if s], args.gen_seed)
    bks = read_bks(args.dir, "optimal_value")
    files = sorted(args.dir.glob("pmed*.txt"), key=natural_key)
    if not files:
        sys.exit(f"no pmed*.txt in {args.dir}")
    summary = Summary()
    for f in files:
        t = time.perf_counter()
        cost, p = read_orlib_pmed(f)
        read_s = time.perf_counter() - t
        res = solve_pmedian(PMedianProblem(cost, None, p), time_limit_s=args.time_limit, seed=args.seed)
        rep = res.report
        best = bks.get(f.stem)
        gap = gap_pct(res.objective, best)
        summary.add(seconds=rep.seconds, status=rep.status, gap=gap)
        print(json.dumps({
            "instance": f.stem, "n": int(cost.shape[0]), "p": int(p), "objective": res.objective,
            "best_known": best, "gap_pct": None if gap is None else round(gap, 4),
            "seconds": round(rep.seconds, 3), "status": rep.status,
            "bound": rep.bound, "bound_gap_pct": None if rep.gap is None else round(100 * rep.gap, 4),
            "read_seconds": round(read_s, 3),
        }), flush=True)
    summary.print()


if __name__ == "__main__":
    main()
