"""(Team) orienteering with time windows (TOPTW) with the day-planning engine.

    python benchmarks/optw.py DIR [--time-limit S] [--m 1,2,3,4] [--instances c101,r101] [--peer pyvrp]
    python benchmarks/optw.py DIR --generate N [--sizes 100,200,300] [--gen-seed K] [--peer pyvrp]

Solves every instance in DIR (format: DIR/README or ../shared/benchmarks/README.md)
for each tour count m with ``planner.routing.route`` -- the same engine that
plans the reps' days -- and prints one JSON line per (instance, m):
``{"instance", "m", "score", "best_known", "gap_pct", "seconds"}``, then a
summary line with the mean and worst gap.  Engine settings are the
defaults of ``planner.routing.SearchOptions``, seed 0.

``--peer pyvrp`` also solves each (instance, m) with PyVRP (the optional extra
``peers``: ``pip install -e .[peers]``) on the same integer data and the same
time limit, one after the other: the line gains ``pyvrp_score``,
``pyvrp_gap_pct``, ``pyvrp_seconds``, ``pyvrp_feasible`` and ``vs_pyvrp_pct``
(100 (ours - PyVRP) / PyVRP: positive = we collect more). PyVRP's model: every
customer optional with prize = score x (m x day + 1), so that one unit of score
outweighs any travel (score first, then distance, as in ours); m vehicles with
the depot's window as their shift; a customer's window on the start of
service; service as its service duration. Both plans are checked from scratch
(windows, return by the end of the day, each customer at most once, at most m
tours) and a plan that breaks a limit scores nothing (``*_feasible``).

``--generate N`` first writes N seeded instances of each size in ``--sizes``
into DIR (skipping files that exist), built like Cordeau's pr01-pr10: customers
uniform in [-100, 100]^2, depot at the centre, service 1-25, score 1-25, a day of
1000, each window 90-180 wide around a random time the customer can be
reached and left in (files ``prgen_n{n}_{k}.txt``, the pr convention: distances
truncated to 2 decimals). They have no best-known values; read ``vs_pyvrp_pct``.

``--engine`` sets ``SearchOptions.engine``: ``auto`` (default; the compiled engine of
``planner.solvers.toptw_fast`` when numba is installed, these models always qualify), ``fast``
or ``ortools``; each line names the engine that ran (``engine``: ``toptw-fast`` or
``ortools-routing``). Before the runs the compiled engine's kernels are compiled or loaded from
numba's cache once for the process, and the seconds it took are printed first (``warm_up_s``,
``was_cached``): a compile happens once per installation; in a fresh process of the product,
loading the cache (~0.4 s) is counted in the time limit of the first call.

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
import re
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


def write_random_toptw(path: Path, n: int, seed: int, day: int = 1000) -> None:
    """A Cordeau-style instance (pr01-pr10 layout; see the module docstring)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-100.0, 100.0, size=(n, 2)).round(3)
    service = rng.integers(1, 26, size=n)
    score = rng.integers(1, 26, size=n)
    lines = [f"5 3 {n} 4", f"{day} 200", f" 0 0.000 0.000 0 0 0 0 0 {day}"]
    for i in range(n):
        dist = float(np.hypot(*xy[i]))
        lo, hi = int(np.ceil(dist)), int(day - dist - service[i])
        width = int(rng.integers(90, 181))
        centre = int(rng.integers(lo, max(lo, hi) + 1))
        o, c = max(lo, centre - width // 2), min(hi, centre + width // 2)
        lines.append(f" {i + 1} {xy[i, 0]:.3f} {xy[i, 1]:.3f} {service[i]} {score[i]} 1 1 1 {o} {max(o, c)}")
    path.write_text("\n".join(lines) + "\n")


def generate(directory: Path, count: int, sizes: list[int], seed: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        for k in range(count):
            f = directory / f"prgen_n{n}_{k}.txt"
            if not f.exists():
                write_random_toptw(f, n, seed=seed * 1_000_003 + n * 1009 + k)


def plan_score(model: RoutingModel, routes: list[list[int]]) -> tuple[int, bool]:
    """(score, feasible) of tours given as customer lists, checked from scratch on the integer model."""
    seen: set[int] = set()
    ok = len([r for r in routes if r]) <= model.n_vehicles
    for r in routes:
        t, prev = model.vehicle_open[0], 0
        for c in r:
            t = max(t + int(model.service[prev]) + int(model.travel[prev, c]), int(model.open[c]))
            ok &= t <= model.close[c] and c not in seen and c != 0
            seen.add(c)
            prev = c
        ok &= t + int(model.service[prev]) + int(model.travel[prev, 0]) <= model.vehicle_close[0]
    return int(sum(int(model.prize[c]) for c in seen)), bool(ok)


def solve_pyvrp(model: RoutingModel, xy: np.ndarray, seconds: float, seed: int) -> tuple[list[list[int]], float]:
    """PyVRP on the same integer data (see the module docstring): (tours as customer lists, seconds)."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    m, day = model.n_vehicles, int(model.vehicle_close[0])
    factor = m * day + 1  # a unit of score outweighs any travel
    md = Model()
    locs = [md.add_location(float(x), float(y)) for x, y in xy]
    depot = md.add_depot(locs[0], tw_early=int(model.open[0]), tw_late=day)
    md.add_vehicle_type(num_available=m, start_depot=depot, end_depot=depot, tw_early=int(model.vehicle_open[0]),
                        tw_late=day)
    for i in range(1, len(locs)):
        md.add_client(locs[i], service_duration=int(model.service[i]), tw_early=int(model.open[i]),
                      tw_late=int(model.close[i]), prize=int(model.prize[i]) * factor, required=False)
    T = np.asarray(model.travel).tolist()
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            md.add_edge(a, b, distance=T[i][j], duration=T[i][j])
    t = time.perf_counter()
    res = md.solve(stop=MaxRuntime(seconds), seed=seed, display=False)
    sec = time.perf_counter() - t
    # a client activity's idx counts the clients from 0; our node of client k is k + 1 (one depot, node 0)
    return [[int(x.idx) + 1 for x in r.schedule() if x.is_client()] for r in res.best.routes()], sec


def options_of(a) -> SearchOptions:
    extra = {} if a.descent_share is None else {"descent_share": a.descent_share}
    if a.insertion_share is not None:
        extra["prize_insertion_share"] = a.insertion_share
    lean = {"auto": None, "full": False, "lean": True}[a.descent]
    return SearchOptions(time_limit_s=a.time_limit, seed=a.seed, prize_scale=a.prize_scale, restarts=a.restarts,
                         extra_operators=False if a.no_extra_operators else None, iterated_local_search=a.ils,
                         metaheuristic=a.metaheuristic, descent_in_loop=not a.no_descent, lean_descent=lean,
                         engine=a.engine, **extra)


def run_one(a, name: str, rows, m: int, best: float | None) -> dict:
    """Our engine (and the peer) on one (instance, m): the JSON line as a dict."""
    model = build(rows, m, 2 if name.startswith("pr") else 1)
    t0 = time.perf_counter()
    res = route(model, options_of(a))
    sec = time.perf_counter() - t0
    score, ok = plan_score(model, [[n for n, _ in r[1:-1]] for r in res.routes])
    score = score if ok else 0
    out = {"instance": name, "n": len(rows) - 1, "m": m, "score": score, "best_known": best,
           "gap_pct": None if best is None else round(100.0 * (best - score) / best, 3), "seconds": round(sec, 2),
           "engine": res.report.solver}
    if not ok:
        out["feasible"] = False
    if a.peer == "pyvrp":
        xy = np.array([[r[1], r[2]] for r in rows])
        tours, psec = solve_pyvrp(model, xy, a.time_limit, a.seed)
        pscore, pok = plan_score(model, tours)
        pscore = pscore if pok else 0
        out.update({"pyvrp_score": pscore, "pyvrp_feasible": pok,
                    "pyvrp_gap_pct": None if best is None else round(100.0 * (best - pscore) / best, 3),
                    "pyvrp_seconds": round(psec, 2),
                    "vs_pyvrp_pct": round(100.0 * (score - pscore) / max(pscore, 1), 3)})
    return out


def parse(argv=None):
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
    ap.add_argument("--engine", choices=("auto", "ortools", "fast"), default="auto",
                    help="SearchOptions.engine (the compiled engine needs the extra 'fast': numba)")
    ap.add_argument("--peer", choices=("pyvrp",), default=None, help="also run this open solver, same budget")
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="write N seeded instances per size first")
    ap.add_argument("--sizes", default="100,200,300")
    ap.add_argument("--gen-seed", type=int, default=1)
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse(argv)
    d = Path(a.dir)
    if a.generate:
        generate(d, a.generate, [int(x) for x in a.sizes.split(",") if x], a.gen_seed)
    bks = {}
    if (d / "bks.csv").exists():
        with open(d / "bks.csv", newline="") as f:
            for r in csv.DictReader(f):
                bks[(r["instance"], int(r["m"]))] = float(r["bks_score"])
    if a.engine != "ortools":  # the compiled engine's kernels: compiled once per installation, then cached
        try:
            from planner.solvers import toptw_fast
        except ImportError:
            pass
        else:
            cached = toptw_fast.ready()
            print(json.dumps({"warm_up_s": round(toptw_fast.warm_up(), 2), "was_cached": cached}), flush=True)
    ms = [int(x) for x in a.m.split(",") if x]
    names = sorted((p.stem for p in d.glob("*.txt")), key=lambda s: [int(t) if t.isdigit() else t
                                                                   for t in re.split(r"(\d+)", s)])
    if a.instances:
        names = [n for n in names if n in a.instances.split(",")]
    lines = []
    for name in names:
        rows = read_instance(d / f"{name}.txt")
        for m in ms:
            lines.append(run_one(a, name, rows, m, bks.get((name, m))))
            print(json.dumps(lines[-1]), flush=True)
    print(json.dumps(summary(lines, a)))
    return 0


def summary(lines: list[dict], a) -> dict:
    out: dict = {"summary": True, "runs": len(lines), "time_limit_s": a.time_limit}
    for who, key in (("", "gap_pct"), ("pyvrp_", "pyvrp_gap_pct")):
        gaps = [x[key] for x in lines if x.get(key) is not None]
        if gaps:
            out[f"{who}mean_gap_pct"] = round(float(np.mean(gaps)), 3)
            out[f"{who}worst_gap_pct"] = round(float(np.max(gaps)), 3)
    vs = [x["vs_pyvrp_pct"] for x in lines if "vs_pyvrp_pct" in x]
    if vs:
        out.update({"mean_vs_pyvrp_pct": round(float(np.mean(vs)), 3), "ahead_of_pyvrp": sum(v > 0 for v in vs),
                    "level_with_pyvrp": sum(v == 0 for v in vs), "behind_pyvrp": sum(v < 0 for v in vs)})
    return out


if __name__ == "__main__":
    sys.exit(main())
