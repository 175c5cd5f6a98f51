"""Solomon VRPTW with the day-planning engine (hierarchical objective).

    python benchmarks/vrptw.py DIR [--time-limit S] [--instances C101,R201] [--peer pyvrp]

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

The engine's default search applies (:class:`planner.routing.SearchOptions`):
every visit mandatory with a fixed vehicle cost, so a first OR-Tools plan goes
through route elimination (:mod:`planner.solvers.fleet`) for up to 60 % of the
time, then guided local search shortens the routes.

``--peer pyvrp`` also solves each instance with PyVRP (optional extra
``peers``) on the same integer data, same fixed cost per vehicle and the same
time limit, one after the other; the line gains ``pyvrp_vehicles``,
``pyvrp_distance``, ``pyvrp_gap_pct`` and ``pyvrp_feasible`` (every customer
once, windows, capacity, back by the depot's due date, checked from scratch).
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


def check(model: RoutingModel, routes: list[list[int]]) -> bool:
    """Every customer exactly once, windows on the start of service, capacity, back in time."""
    seen = sorted(c for r in routes for c in r)
    if seen != list(range(1, len(model.service))):
        return False
    cap = model.capacity[0] if model.capacity is not None else 0
    for r in routes:
        if model.demand is not None and int(np.asarray(model.demand)[r].sum()) > cap:
            return False
        t, prev = 0, 0
        for c in r + [0]:
            t = max(t + int(model.service[prev]) + int(model.travel[prev, c]), int(model.open[c]) if c else 0)
            if (c and t > model.close[c]) or (not c and t > model.vehicle_close[0]):
                return False
            prev = c
    return True


def solve_pyvrp(model: RoutingModel, rows: np.ndarray, seconds: float, seed: int) -> list[list[int]]:
    """PyVRP on the same integer data and fixed vehicle cost: routes as customer lists."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    md = Model()
    locs = [md.add_location(float(x), float(y)) for x, y in rows[:, 1:3]]
    depot = md.add_depot(locs[0], tw_early=0, tw_late=int(model.vehicle_close[0]))
    md.add_vehicle_type(num_available=model.n_vehicles, capacity=int(model.capacity[0]) if model.capacity else 0,
                        start_depot=depot, end_depot=depot, fixed_cost=int(model.fixed_cost),
                        tw_early=0, tw_late=int(model.vehicle_close[0]))
    dem = np.asarray(model.demand)
    for i in range(1, len(locs)):
        md.add_client(locs[i], delivery=int(dem[i]), service_duration=int(model.service[i]),
                      tw_early=int(model.open[i]), tw_late=int(model.close[i]))
    T = np.asarray(model.travel).tolist()
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            md.add_edge(a, b, distance=T[i][j], duration=T[i][j])
    res = md.solve(stop=MaxRuntime(seconds), seed=seed, display=False)
    # a client activity's idx counts the clients from 0; our node of client k is k + 1 (one depot, node 0)
    return [[int(x.idx) + 1 for x in r.schedule() if x.is_client()] for r in res.best.routes()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--instances", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--metaheuristic", default="GUIDED_LOCAL_SEARCH")
    ap.add_argument("--extra-operators", action="store_true", help="force OR-Tools' extra operators on")
    ap.add_argument("--peer", choices=("pyvrp",), default=None, help="also run this open solver, same budget")
    ap.add_argument("--engine", choices=("auto", "fast", "ortools"), default="auto",
                    help="SearchOptions.engine (ortools: the pure-Python route elimination)")
    ap.add_argument("--verbose", action="store_true", help="the engine's report message on stderr")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    bks = {}
    with open(d / "bks.csv", newline="") as f:
        for r in csv.DictReader(f):
            bks[r["instance"]] = (int(r["bks_vehicles"]), float(r["bks_distance"]))
    names = sorted(p.stem for p in d.glob("*.txt"))
    if a.instances:
        names = [n for n in names if n in a.instances.split(",")]
    gaps, extra_vehicles, peer_extra = [], 0, 0
    for name in names:
        nv, cap, rows = read_instance(d / f"{name}.txt")
        model, dist = build(nv, cap, rows)
        t0 = time.perf_counter()
        opts = SearchOptions(time_limit_s=a.time_limit, seed=a.seed, restarts=a.restarts, metaheuristic=a.metaheuristic,
                             engine=a.engine, extra_operators=True if a.extra_operators else None)
        res = route(model, opts)
        sec = time.perf_counter() - t0
        if a.verbose:
            print(f"{name}: {res.report.message}", file=sys.stderr, flush=True)
        used = [r for r in res.routes if len(r) > 2]
        total = float(sum(dist[x[0], y[0]] for r in used for x, y in zip(r[:-1], r[1:])))
        bv, bd = bks.get(name, (None, None))
        gap = None if bd is None else 100.0 * (total - bd) / bd
        if gap is not None and len(used) == bv:
            gaps.append(gap)
        if bv is not None:
            extra_vehicles += len(used) - bv
        line = {"instance": name, "vehicles": len(used), "distance": round(total, 2), "bks_vehicles": bv,
                "bks_distance": bd, "gap_pct": None if gap is None else round(gap, 3), "seconds": round(sec, 2),
                "missed": len(res.dropped), "feasible": check(model, [[n for n, _ in r[1:-1]] for r in used])}
        if a.peer == "pyvrp":
            tours = [r for r in solve_pyvrp(model, rows, a.time_limit, a.seed) if r]
            ptotal = float(sum(dist[x, y] for r in tours for x, y in zip([0] + r, r + [0])))
            peer_extra += len(tours) - bv if bv is not None else 0
            line.update({"pyvrp_vehicles": len(tours), "pyvrp_distance": round(ptotal, 2),
                         "pyvrp_gap_pct": None if bd is None else round(100.0 * (ptotal - bd) / bd, 3),
                         "pyvrp_feasible": check(model, tours)})
        print(json.dumps(line), flush=True)
    peer = {"pyvrp_extra_vehicles_total": peer_extra} if a.peer else {}
    print(json.dumps({"summary": True, "runs": len(names), "extra_vehicles_total": extra_vehicles, **peer,
                      "mean_distance_gap_pct_same_vehicles": round(float(np.mean(gaps)), 3) if gaps else None,
                      "worst_distance_gap_pct_same_vehicles": round(float(np.max(gaps)), 3) if gaps else None,
                      "time_limit_s": a.time_limit}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
