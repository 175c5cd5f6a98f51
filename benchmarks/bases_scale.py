"""Scale of the base-location job on seeded, scaled versions of the Fujian demo.

    python benchmarks/bases_scale.py [--sizes 3000,20000,100000] [--candidates 200] [--k 3] [--no-map]

Accounts are the demo's, replicated with a ~1 km jitter; candidates are the
demo's candidate sites (the first N). One JSON line per size:
{"accounts", "candidates", "k", "demand_points", "aggregation_error", "status",
"gap", "objective", "seconds", "cpu_seconds", "peak_mb", "mean_time_min",
"map_mb", "map_seconds"}. ``seconds`` and ``cpu_seconds`` are the wall and CPU
time of ``solve_bases`` alone (the process's CPU: with other jobs on the
machine the wall time grows, the CPU time much less); ``peak_mb`` the resident
high-water mark during it (the process's baseline, demo and accounts
included), ``base_mb`` that baseline (the resident memory on entry; the maps
of the earlier sizes raise it: use ``--no-map`` to compare memory).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import PeakMemory

from planner import demo, schema as S
from planner.app import maps
from planner.solvers import bases, density


def scaled_accounts(n: int, seed: int = 0) -> pd.DataFrame:
    sc = demo.load_demo()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(sc.accounts), n)
    acc = sc.accounts.iloc[idx].reset_index(drop=True).copy()
    acc[S.LON] = acc[S.LON] + rng.normal(0, 0.01, n)
    acc[S.LAT] = acc[S.LAT] + rng.normal(0, 0.01, n)
    acc[S.ID] = [f"S{i:07d}" for i in range(n)]
    return acc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3000,20000,100000")
    ap.add_argument("--candidates", type=int, default=200)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--no-map", action="store_true", help="skip the clusters and the map")
    args = ap.parse_args()
    sc = demo.load_demo()
    off = pd.concat([sc.offices[sc.offices[S.OFFICE_STATUS] == "current"],
                     sc.offices[sc.offices[S.OFFICE_STATUS] == "candidate"]]).head(args.candidates)
    for n in (int(x) for x in args.sizes.split(",")):
        acc = scaled_accounts(n)
        t, cpu = time.perf_counter(), time.process_time()
        with PeakMemory() as peak:
            plan = bases.solve_bases(acc, off, reps=max(25, n // 120),
                                     options=bases.BaseOptions(k=args.k, time_limit_s=args.time_limit))
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        mb, map_s = float("nan"), float("nan")
        if not args.no_map:
            t = time.perf_counter()
            cl = density.find_clusters(acc)
            m = maps.bases_map(acc, plan, off[off[S.OFFICE_STATUS] == "current"], clusters=cl.table, tiles=None)
            with tempfile.TemporaryDirectory() as tmp:
                p = maps.save_html(m, Path(tmp) / "m.html")
                mb = p.stat().st_size / 1e6
            map_s = time.perf_counter() - t
        print(json.dumps({"accounts": n, "candidates": len(off), "k": args.k, "demand_points": plan.demand_points,
                          "aggregation_error": round(plan.aggregation_error, 5), "status": plan.report.status,
                          "gap": plan.report.gap, "objective": plan.report.objective, "seconds": round(secs, 2),
                          "cpu_seconds": round(cpu, 2), "peak_mb": peak.mb, "base_mb": peak.base_mb,
                          "mean_time_min": round(plan.kpis_after.get("mean_time_min", float("nan")), 2),
                          "map_mb": round(mb, 2), "map_seconds": round(map_s, 2)}), flush=True)


if __name__ == "__main__":
    main()
