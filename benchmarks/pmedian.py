"""Uncapacitated p-median benchmark: solve_pmedian on OR-Library files.

    python benchmarks/pmedian.py DIR [--time-limit S] [--seed K] [--only NAMES]
    python benchmarks/pmedian.py --generate --out-dir DIR [--gen-seed K] [--time-limit S] [--only NAMES]

Solves every ``pmed*.txt`` in DIR (natural order) and prints one JSON line per
instance ``{"instance", "n", "p", "objective", "best_known", "gap_pct",
"seconds", "cpu_seconds", "status", "bound", "bound_gap_pct"}`` (``best_known``
from DIR/bks.csv column ``optimal_value`` when present; ``gap_pct = 100
(objective - best_known) / best_known``; ``bound`` and ``bound_gap_pct`` the
solver's own proven lower bound and gap), then a summary line ``{"summary":
true, "instances", "optimal", "mean_gap_pct", "worst_gap_pct",
"total_seconds"}``. ``seconds`` is the solve's wall time as the solver reports
it and ``cpu_seconds`` this process's CPU time (``time.process_time``) over the
same call (reading the file and the shortest paths excluded, shown as
``read_seconds``).

``--generate`` first writes 30 seeded random instances in the OR-Library pmed
text format into ``--out-dir`` (skipping files that exist), one per OR-Library
problem pmed11-40 with that problem's n, edge count and p (files
``pmed{k}_gen.txt``; table ``PMED_11_40`` below, from OR-Library's pmedinfo:
edges = n^2/50), then solves that folder exactly as it solves real files. The
graphs are built like the real files (pmed1-10 start with the cycle 1-2-...-n-1,
then random vertex pairs): the Hamiltonian cycle 1-2-...-n-1 (so the graph is
connected), then random pairs u != v up to the edge count (a pair may repeat:
the last occurrence wins, as in the reader), costs uniform integers 1..100. No
best-known values exist for them: their quality is read from ``bound_gap_pct``
(objective vs. the solver's proven lower bound).
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


# OR-Library pmed11-40 (pmedinfo): problem -> (n, edges, p); edges = n^2 / 50
PMED_11_40: dict[int, tuple[int, int, int]] = {
    11: (300, 1800, 5), 12: (300, 1800, 10), 13: (300, 1800, 30), 14: (300, 1800, 60), 15: (300, 1800, 100),
    16: (400, 3200, 5), 17: (400, 3200, 10), 18: (400, 3200, 40), 19: (400, 3200, 80), 20: (400, 3200, 133),
    21: (500, 5000, 5), 22: (500, 5000, 10), 23: (500, 5000, 50), 24: (500, 5000, 100), 25: (500, 5000, 167),
    26: (600, 7200, 5), 27: (600, 7200, 10), 28: (600, 7200, 60), 29: (600, 7200, 120), 30: (600, 7200, 200),
    31: (700, 9800, 5), 32: (700, 9800, 10), 33: (700, 9800, 70), 34: (700, 9800, 140),
    35: (800, 12800, 5), 36: (800, 12800, 10), 37: (800, 12800, 80),
    38: (900, 16200, 5), 39: (900, 16200, 10), 40: (900, 16200, 90),
}


def generate(directory: Path, seed: int) -> None:
    """One instance per OR-Library problem pmed11-40 (same n, edges, p): ``pmed{k}_gen.txt``."""
    directory.mkdir(parents=True, exist_ok=True)
    for k, (n, m, p) in PMED_11_40.items():
        f = directory / f"pmed{k}_gen.txt"
        if not f.exists():
            write_random_pmed(f, n, p, seed=seed * 1_000_003 + k, edges=m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path, nargs="?", help="folder of pmed*.txt (with --generate: --out-dir)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", action="store_true",
                    help="write seeded instances shaped like pmed11-40 into --out-dir, then solve them")
    ap.add_argument("--out-dir", type=Path, help="where --generate writes (and the folder then solved)")
    ap.add_argument("--gen-seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated instance names to run (default: all)")
    args = ap.parse_args()
    if args.generate:
        if args.out_dir is None:
            ap.error("--generate needs --out-dir")
        generate(args.out_dir, args.gen_seed)
        args.dir = args.out_dir
    if args.dir is None:
        ap.error("give DIR (or --generate --out-dir DIR)")
    bks = read_bks(args.dir, "optimal_value")
    files = sorted(args.dir.glob("pmed*.txt"), key=natural_key)
    if args.only:
        files = [f for f in files if f.stem in args.only.split(",")]
    if not files:
        sys.exit(f"no pmed*.txt in {args.dir}")
    summary = Summary()
    for f in files:
        t = time.perf_counter()
        cost, p = read_orlib_pmed(f)
        read_s = time.perf_counter() - t
        cpu = time.process_time()
        res = solve_pmedian(PMedianProblem(cost, None, p), time_limit_s=args.time_limit, seed=args.seed)
        cpu = time.process_time() - cpu
        rep = res.report
        best = bks.get(f.stem)
        gap = gap_pct(res.objective, best)
        summary.add(seconds=rep.seconds, status=rep.status, gap=gap)
        print(json.dumps({
            "instance": f.stem, "n": int(cost.shape[0]), "p": int(p), "objective": res.objective,
            "best_known": best, "gap_pct": None if gap is None else round(gap, 4),
            "seconds": round(rep.seconds, 3), "cpu_seconds": round(cpu, 3), "status": rep.status,
            "bound": rep.bound, "bound_gap_pct": None if rep.gap is None else round(100 * rep.gap, 4),
            "read_seconds": round(read_s, 3),
        }), flush=True)
    summary.print()


if __name__ == "__main__":
    main()
