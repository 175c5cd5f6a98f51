"""Solomon VRPTW with the day-planning engine (hierarchical objective).

    python benchmarks/vrptw.py DIR [--time-limit S] [--instances C101,R201]

Every customer is mandatory; the objective is hierarchical: a fixed cost per
vehicle larger than any route set's distance (fewest vehicles first), then
total distance.  Compared with ``bks_vehicles`` / ``bks_distance`` of
``bks.csv`` (double-precision distances).  The engine works in integers:
distances and times are Euclidean x 100, rounded to the nearest integer
(so a window can be off by at most 0.005 time units); the distance printed
is recomputed in double precision from the routes.  One JSON line per
instance: ``{"instance", "vehicles", "distance", "bks_vehicles",
"bks_distance", "gap_pct", "seconds", "missed"}`` (gap on distance, meaningful
when the vehicle counts are equal), then a summary line.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

from planner.solvers.routing import RoutingModel, SearchOptions, route

SCALE = 100


def read_instance(path: Path):
    lines = path.read_text().splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip().upper().startswith("NUMBER"))
    nv, cap = (int(x) for x in lines[k + 1].split()[:2])
    rows = []
    for ln in lines[next(i for i, ln in enumerate(lines) if ln.strip().upper().startswith("CUSTOMER")) + 1:]:
        parts = ln.split()
        if len(parts) == 7 and parts[0].isdigit():
            rows.append([float(x) for x in parts])
    return nv, cap, np.array(rows)


def build(nv: int, cap: int, a: np.ndarray) -> tuple[RoutingModel, np.ndarray]:
    xy = a[:, 1:3]
    dist = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    travel = np.round(dist * SCALE).astype(np.int64)
    n = len(a)
    horizon = int(round(a[0, 5] * SCALE))
    fixed = int(travel.max()) * (n + 1)
    model = RoutingModel(travel=travel, service=np.round(a[:, 6] * SCALE).astype(np.int64),
                         open=np.round(a[:, 4] * SCALE).astype(np.int64),
                         close=np.round(a[:, 5] * SCALE).astype(np.int64),
                         prize=np.ones(n, np.int64), mandatory=np.ones(n, bool), starts=(0,) * nv, ends=(0,) * nv,
                         vehicle_open=(0,) * nv, vehicle_close=(horizon,) * nv,
                         demand=a[:, 3].astype(np.int64), capacity=(cap,) * nv, fixed_cost=fixed)
    return model, dist


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--instances", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--metaheuristic", default="GUIDED_LOCAL_SEARCH")
    ap.add_argument("--extra-operators", action="store_true", help="force OR-Tools' extra operators on")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    bks = {}
    with open(d / "bks.csv", newline="") as f:
        for r in csv.DictReader(f):
            bks[r["instance"]] = (int(r["bks_vehicles"]), float(r["bks_distance"]))
    names = sorted(p.stem for p in d.glob("*.txt"))
    if a.instances:
        names = [n for n in names if n in a.instances.split(",")]
    gaps, extra_vehicles = [], 0
    for name in names:
        nv, cap, rows = read_instance(d / f"{name}.txt")
        model, dist = build(nv, cap, rows)
        t0 = time.perf_counter()
        opts = SearchOptions(time_limit_s=a.time_limit, seed=a.seed, restarts=a.restarts, metaheuristic=a.metaheuristic,
                             extra_operators=True if a.extra_operators else None)
        res = route(model, opts)
        sec = time.perf_counter() - t0
        used = [r for r in res.routes if len(r) > 2]
        total = float(sum(dist[x[0], y[0]] for r in used for x, y in zip(r[:-1], r[1:])))
        bv, bd = bks.get(name, (None, None))
        gap = None if bd is None else 100.0 * (total - bd) / bd
        if gap is not None and len(used) == bv:
            gaps.append(gap)
        if bv is not None:
            extra_vehicles += len(used) - bv
        print(json.dumps({"instance": name, "vehicles": len(used), "distance": round(total, 2), "bks_vehicles": bv,
                          "bks_distance": bd, "gap_pct": None if gap is None else round(gap, 3),
                          "seconds": round(sec, 2), "missed": len(res.dropped)}), flush=True)
    print(json.dumps({"summary": True, "runs": len(names), "extra_vehicles_total": extra_vehicles,
                      "mean_distance_gap_pct_same_vehicles": round(float(np.mean(gaps)), 3) if gaps else None,
                      "worst_distance_gap_pct_same_vehicles": round(float(np.max(gaps)), 3) if gaps else None,
                      "time_limit_s": a.time_limit}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
