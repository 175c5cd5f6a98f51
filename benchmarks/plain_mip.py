"""Baseline for the p-median: the classic x_ij / y_j MIP through OR-Tools SCIP.

    python benchmarks/plain_mip.py DIR [--time-limit S]

min sum_ij c_ij x_ij  s.t.  sum_j x_ij = 1,  x_ij <= y_j,  sum_j y_j = p,
x, y binary; no heuristic, no reduction: what a plain model gets. Solves
every ``pmed*.txt`` in DIR and prints one JSON line per instance
``{"instance", "n", "p", "objective", "best_known", "gap_pct", "seconds",
"build_seconds", "status"}`` then a summary line, like benchmarks/pmedian.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import Summary, gap_pct, natural_key, read_bks
from ortools.linear_solver import pywraplp

from planner.solvers.pmedian import read_orlib_pmed


def solve_plain(cost, p, time_limit: float):
    t0 = time.perf_counter()
    n, m = cost.shape
    solver = pywraplp.Solver.CreateSolver("SCIP")
    y = [solver.BoolVar(f"y{j}") for j in range(m)]
    x = [[solver.BoolVar(f"x{i}_{j}") for j in range(m)] for i in range(n)]
    for i in range(n):
        solver.Add(sum(x[i]) == 1)
        for j in range(m):
            solver.Add(x[i][j] <= y[j])
    solver.Add(sum(y) == p)
    obj = solver.Objective()
    for i in range(n):
        for j in range(m):
            obj.SetCoefficient(x[i][j], float(cost[i, j]))
    obj.SetMinimization()
    solver.SetTimeLimit(int(time_limit * 1000))
    build = time.perf_counter() - t0
    status = solver.Solve()
    seconds = time.perf_counter() - t0
    names = {pywraplp.Solver.OPTIMAL: "optimal", pywraplp.Solver.FEASIBLE: "feasible",
             pywraplp.Solver.INFEASIBLE: "infeasible", pywraplp.Solver.NOT_SOLVED: "time_limit_no_solution"}
    st = names.get(status, "invalid")
    value = obj.Value() if st in ("optimal", "feasible") else None
    return st, value, seconds, build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()
    bks = read_bks(args.dir, "optimal_value")
    files = sorted(args.dir.glob("pmed*.txt"), key=natural_key)
    if not files:
        sys.exit(f"no pmed*.txt in {args.dir}")
    summary = Summary()
    for f in files:
        cost, p = read_orlib_pmed(f)
        st, value, seconds, build = solve_plain(cost, p, args.time_limit)
        best = bks.get(f.stem)
        gap = gap_pct(value, best)
        summary.add(seconds=seconds, status=st, gap=gap)
        print(json.dumps({"instance": f.stem, "n": cost.shape[0], "p": p, "objective": value, "best_known": best,
                          "gap_pct": None if gap is None else round(gap, 4), "seconds": round(seconds, 3),
                          "build_seconds": round(build, 3), "status": st}), flush=True)
    summary.print()


if __name__ == "__main__":
    main()
