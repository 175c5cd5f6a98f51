"""Contiguous commercial territory design (districting) with ``solve_districts``.

    python benchmarks/districting.py [--sizes 500:10,2000:20,10000:100] [--tol 0.05,0.03]
                                     [--time-limit S] [--seeds 1] [--solve-seed 0]

Instances (generated, seeded): ``U`` points uniform in [0, 500]^2 km (the DU sets of Rios-Mercado &
Fernandez 2009, "A reactive GRASP for a commercial territory design problem with multiple balancing
requirements", Comput. Oper. Res. 36(3)), planar adjacency from the Delaunay triangulation (scipy),
three activity measures per unit drawn as integers uniform in [4, 20], [15, 400], [15, 100] (the
RF2009 generator's ranges: number of customers, sales volume, workload), the same tolerance on all
three (+-5 % and +-3 %), equal shares, dispersion weight 1 per unit (RF2009's objective: the
unweighted p-median dispersion). Instance ``du{U}_k{k}_s{seed}`` is drawn from
``numpy.random.default_rng(seed)``.

One JSON line per (instance, tolerance): instance, U, k, tol, seconds, dispersion, bound, gap_pct,
balance per measure (worst relative deviation, %), within, contiguous (checked again here by BFS),
status, iterations; then a summary line. One core: the heuristic is single-threaded Python, CP-SAT
(U <= 200 only) runs one worker.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import Summary
from scipy.spatial import Delaunay

from planner.solvers.territories.contiguous import DistrictOptions, DistrictProblem, is_contiguous, solve_districts


def delaunay_csr(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency (indptr, indices) of the Delaunay triangulation of the points."""
    tri = Delaunay(xy)
    indptr, indices = tri.vertex_neighbor_vertices
    return indptr.astype(np.int64), indices.astype(np.int64)


def instance(U: int, k: int, tol: float, seed: int) -> DistrictProblem:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 500.0, size=(U, 2))
    measures = np.stack([rng.integers(4, 21, U), rng.integers(15, 401, U), rng.integers(15, 101, U)], 1).astype(float)
    indptr, indices = delaunay_csr(xy)
    return DistrictProblem(xy=xy, indptr=indptr, indices=indices, measures=measures,
                           tolerance=np.full(3, tol), k=k, weight=np.ones(U))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500:10,2000:20,10000:100", help="U:k,...")
    ap.add_argument("--tol", default="0.05,0.03")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=1, help="instances per size (gen seeds 1..N)")
    ap.add_argument("--solve-seed", type=int, default=0)
    a = ap.parse_args(argv)
    summary = Summary()
    balanced = 0
    for size in a.sizes.split(","):
        U, k = (int(v) for v in size.split(":"))
        for gen in range(1, a.seeds + 1):
            for tol in (float(t) for t in a.tol.split(",")):
                p = instance(U, k, tol, gen)
                t = time.perf_counter()
                plan = solve_districts(p, DistrictOptions(time_limit_s=a.time_limit, seed=a.solve_seed))
                sec = time.perf_counter() - t
                cont = is_contiguous(p.indptr, p.indices, plan.assign, k)
                ok = bool(plan.within.all() and cont)
                balanced += ok
                gap = None if plan.gap is None else 100 * plan.gap
                summary.add(seconds=sec, status=plan.status, gap=gap)
                print(json.dumps({
                    "instance": f"du{U}_k{k}_s{gen}", "U": U, "k": k, "tol": tol, "seconds": round(sec, 2),
                    "dispersion": round(plan.dispersion, 1),
                    "bound": None if plan.bound is None else round(plan.bound, 1),
                    "gap_pct": None if gap is None else round(gap, 2),
                    "balance_pct": [round(100 * b, 2) for b in plan.balance.tolist()],
                    "within": plan.within.tolist(), "contiguous": cont, "status": plan.status,
                    "iterations": plan.iterations, "solver": plan.solver,
                    "message": plan.message[:160]}), flush=True)
    summary.print(balanced_and_contiguous=balanced, time_limit_s=a.time_limit)


if __name__ == "__main__":
    main()
