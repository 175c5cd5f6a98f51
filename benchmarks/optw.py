"""(Team) orienteering with time windows (TOPTW) with the day-planning engine.

    python benchmarks/optw.py DIR [--time-limit S] [--m 1,2,3,4] [--instances c101,r101]

Solves every instance in DIR (format: DIR/README or ../shared/benchmarks/README.md)
for each tour count m with ``planner.routing.route`` -- the same engine that
plans the reps' days -- and prints one JSON line per (instance, m):
``{"instance", "m", "score", "best_known", "gap_pct", "seconds"}``, then a
summary line with the mean and worst gap.  Engine settings are the
defaults of ``planner.routing.SearchOptions`` (prize-aware insertion + shaking
for 85 % of the time, then OR-Tools guided local search), seed 0.

Distance rounding (the convention of the published values): Euclidean
distance truncated to 1 decimal (c, r, rc) or 2 decimals (pr); travel time =
distance.  The engine works in integers: every distance, service time and
window is multiplied by 10 (c, r, rc) or 100 (pr) and the truncated distance
becomes an exact integer, so the integer model is the published model.
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


def read_instance(path: Path):
    toks = path.read_text().split()
    n = int(toks[2])
    lines = [ln.split() for ln in path.read_text().splitlines()[2:] if ln.strip()]
    rows = []
    for parts in lines[: n + 1]:
        i, x, y, d, sc = int(parts[0]), float(parts[1]), float(parts[2]), float(parts[3]), float(parts[4])
        o, c = float(parts[-2]), float(parts[-1])
        rows.append((i, x, y, d, sc, o, c))
    return rows


def build(rows, m: int, decimals: int) -> RoutingModel:
    scale = 10 ** decimals
    xy = np.array([[r[1], r[2]] for r in rows])
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    travel = np.floor(dist * scale + 1e-7).astype(np.int64)
    service = np.round(np.array([r[3] for r in rows]) * scale).astype(np.int64)
    open_ = np.round(np.array([r[5] for r in rows]) * scale).astype(np.int64)
    close = np.round(np.array([r[6] for r in rows]) * scale).astype(np.int64)
    prize = np.round(np.array([r[4] for r in rows])).astype(np.int64)
    prize[0] = 0
    day = int(close[0])
    return RoutingModel(travel=travel, service=service, open=open_, close=close, prize=prize,
                        starts=(0,) * m, ends=(0,) * m, vehicle_open=(int(open_[0]),) * m,
                        vehicle_close=(day,) * m)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--m", default="1,2,3,4")
    ap.add_argument("--instances", default="")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prize-scale", type=int, default=None)
    ap.add_argument("--restarts", type=int, default=2)
    ap.add_argument("--no-extra-operators", action="store_true")
    ap.add_argument("--ils", action="store_true")
    ap.add_argument("--descent-share", type=float, default=None)
    ap.add_argument("--no-descent", action="store_true")
    ap.add_argument("--descent", choices=("auto", "full", "lean"), default="auto")
    ap.add_argument("--metaheuristic", default="GUIDED_LOCAL_SEARCH")
    ap.add_argument("--insertion-share", type=float, default=None, help="share of the time for the insertion phases")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    bks = {}
    with open(d / "bks.csv", newline="") as f:
        for r in csv.DictReader(f):
            bks[(r["instance"], int(r["m"]))] = float(r["bks_score"])
    ms = [int(x) for x in a.m.split(",") if x]
    names = sorted(p.stem for p in d.glob("*.txt"))
    if a.instances:
        names = [n for n in names if n in a.instances.split(",")]
    gaps = []
    for name in names:
        rows = read_instance(d / f"{name}.txt")
        decimals = 2 if name.startswith("pr") else 1
        for m in ms:
            model = build(rows, m, decimals)
            t0 = time.perf_counter()
            extra = {} if a.descent_share is None else {"descent_share": a.descent_share}
            if a.insertion_share is not None:
                extra["prize_insertion_share"] = a.insertion_share
            lean = {"auto": None, "full": False, "lean": True}[a.descent]
            opts = SearchOptions(time_limit_s=a.time_limit, seed=a.seed, prize_scale=a.prize_scale, restarts=a.restarts,
                                 extra_operators=False if a.no_extra_operators else None, iterated_local_search=a.ils,
                                 metaheuristic=a.metaheuristic, descent_in_loop=not a.no_descent, lean_descent=lean,
                                 **extra)
            res = route(model, opts)
            sec = time.perf_counter() - t0
            best = bks.get((name, m))
            gap = None if best is None else 100.0 * (best - res.prize) / best
            if gap is not None:
                gaps.append(gap)
            print(json.dumps({"instance": name, "m": m, "score": res.prize, "best_known": best,
                              "gap_pct": None if gap is None else round(gap, 3), "seconds": round(sec, 2)}),
                  flush=True)
    if gaps:
        print(json.dumps({"summary": True, "runs": len(gaps), "mean_gap_pct": round(float(np.mean(gaps)), 3),
                          "worst_gap_pct": round(float(np.max(gaps)), 3), "time_limit_s": a.time_limit}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
