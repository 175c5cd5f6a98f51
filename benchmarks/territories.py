"""Territories at scale: the planner against what a user would do without it.

    python benchmarks/territories.py                       # 10,000 x 50 and 50,000 x 200
    python benchmarks/territories.py --sizes 2000x10 --methods planner,kmeans,spopt
    python benchmarks/territories.py --sizes 20000x100,50000x200 --methods planner --time-limit default
    python benchmarks/territories.py --sizes demo,10000x50 --methods planner,contiguous,kmeans --shape

Makes seeded, scaled versions of the Fujian demo (``scaled_scenario``): demo
accounts replicated with about 1 km of jitter, reps based at distinct
bases at k-means centres of the accounts (where a planner would base them),
moved to the nearest free demo office within 3 km, one rep in ten
new (half a share), and today's owners drawn among the three reps nearest to
each account (messy current territories). Every account is owned and the
pool rule is off, so all accounts are divided.

Methods, all measured by the same ``metrics`` (workload = visits x (45 min +
round trip from the base / 8), per share; visit-weighted travel from the base):

- ``planner``: ``planner.territories.solve`` (tolerance 5 %, potential 10 %), scattered.
- ``contiguous``: the same with ``contiguous=True``: territories as connected areas of basic units.
- ``kmeans``: what a user would try: scikit-learn k-means on projected
  coordinates, clusters matched to the nearest reps, then greedy balancing
  (move the cheapest account out of the most loaded rep, or into the least
  loaded one, until workload is within +-5 % or no move helps). Potential is
  not balanced by this baseline, as a user would not manage both by hand.
- ``spopt``: PySAL spopt's SKATER regionalisation (connected regions of the
  accounts' Delaunay graph, with a floor on accounts per region,
  regions matched to the nearest reps), when spopt
  can be imported; install it aside with ``pip install --target DIR spopt``
  and pass ``--spopt-path DIR`` (it pulls matplotlib and ~40 packages).

Prints one JSON line per run: accounts, reps, workload_max_over_min,
potential_max_over_min, within_tolerance (both ratios inside +-5 % / +-10 %),
mean_travel_min, moved, seconds, cpu_seconds (this process's CPU time: with other
jobs on the machine the wall time grows, the CPU time much less), peak_mb
(resident high-water mark during the run, the inputs included), base_mb (the
resident memory on entry), method, status (+ time_limit_s for the planner); with ``--shape`` also
knn_same (mean share of an account's 5 nearest in its territory), hull_overlap (sum of the territories'
convex hulls over their union) and contiguous (checked on the accounts' own Voronoi graph).
``--sizes demo`` is the Fujian demo itself (its 1,062 planned accounts, 21 reps).
``--time-limit default`` runs the planner at ``TerritoryOptions``' own default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta

import numpy as np
import pandas as pd
from common import PeakMemory

from planner import demo, schema as S
from planner.geo import travel
from planner.solvers import territories

TOL, PTOL = 0.05, 0.10


def scaled_scenario(n_accounts: int, n_reps: int, seed: int = 1):
    """(accounts, reps, offices) canonical tables: a seeded, scaled demo."""
    sc = demo.load_demo()
    rng = np.random.default_rng(seed)
    src = sc.accounts
    idx = rng.integers(0, len(src), n_accounts)
    pts = src[[S.LON, S.LAT]].to_numpy()[idx] + rng.normal(0, 0.01, (n_accounts, 2))
    cand = sc.offices.drop_duplicates([S.LON, S.LAT])[[S.LON, S.LAT]].to_numpy()
    base_pts = _bases_near_accounts(pts, cand, n_reps, rng)
    rep_ids = [f"R{j + 1:03d}" for j in range(n_reps)]
    offices = pd.DataFrame({S.ID: [f"BASE-{j + 1:03d}" for j in range(n_reps)],
                            S.NAME: [f"Base of {r} (synthetic)" for r in rep_ids],
                            S.LON: base_pts[:, 0], S.LAT: base_pts[:, 1], S.OFFICE_STATUS: "current"})
    t = travel.travel_matrix(pts, base_pts).time_s
    top3 = np.argsort(t, axis=1)[:, :3]
    owner = top3[np.arange(n_accounts), rng.integers(0, 3, n_accounts)]
    accounts = pd.DataFrame({
        S.ID: [f"B{i + 1:06d}" for i in range(n_accounts)], S.NAME: [f"Account {i + 1} (synthetic)" for i in
                                                                       range(n_accounts)],
        S.LON: pts[:, 0], S.LAT: pts[:, 1], S.STATUS: src[S.STATUS].to_numpy()[idx],
        S.OWNER: np.asarray(rep_ids)[owner], S.CLASS: src[S.CLASS].to_numpy()[idx],
        S.POTENTIAL_CNY: np.round(src[S.POTENTIAL_CNY].to_numpy()[idx] * rng.lognormal(0, 0.2, n_accounts), -2),
        S.LAST_VISIT: pd.Timestamp(demo.DEMO_DATE) - pd.to_timedelta(rng.integers(1, 60, n_accounts), unit="D"),
    })
    new = rng.random(n_reps) < 0.1
    start = [demo.DEMO_DATE - timedelta(days=60 if nw else 900) for nw in new]
    reps = pd.DataFrame({S.ID: rep_ids, S.NAME: rep_ids, S.LEVEL: "sales",
                         S.BASE_OFFICE: offices[S.ID].to_numpy(), S.START_DATE: pd.to_datetime(start)})
    return accounts, reps, offices


def _bases_near_accounts(pts: np.ndarray, cand: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(k, 2) base points where a planner would put reps: k-means centres of the accounts, each moved to
    the nearest unused candidate office within 3 km (else kept at the centre itself)."""
    ref = pts.mean(axis=0)
    scale = np.array([111.32 * np.cos(np.radians(ref[1])), 110.57])
    xy, cxy = (pts - ref) * scale, (cand - ref) * scale
    centres = xy[rng.choice(len(xy), size=k, replace=False)]
    sq = (xy ** 2).sum(1)
    for _ in range(25):
        d = sq[:, None] - 2 * xy @ centres.T + (centres ** 2).sum(1)[None, :]
        lab = np.argmin(d, axis=1)
        for j in range(k):
            if (lab == j).any():
                centres[j] = xy[lab == j].mean(axis=0)
    out = centres.copy()
    free = np.ones(len(cxy), dtype=bool)
    for j in np.argsort(-np.bincount(lab, minlength=k)):  # big clusters choose first
        d = np.sqrt(((cxy - centres[j]) ** 2).sum(1))
        d[~free] = np.inf
        c = int(np.argmin(d))
        if d[c] <= 3.0:
            out[j] = cxy[c]
            free[c] = False
    return out / scale + ref


def metrics(problem: territories.TerritoryProblem, rep_of: np.ndarray, *, service_min: float = 45.0,
            visits_per_day: float = 8.0) -> dict:
    """Balance and compactness of any assignment (rep index per account), measured one way for all methods."""
    vis = pd.Series(problem.account_class).map(territories.DEFAULT_VISITS_PER_MONTH).to_numpy(float)
    t = travel.travel_matrix(problem.lonlat, problem.base_lonlat).time_s
    rows = np.arange(problem.n_accounts)
    tt = t[rows, rep_of].astype(float) / 60.0
    R = problem.n_reps
    w = np.bincount(rep_of, weights=vis * (service_min + 2 * tt / visits_per_day), minlength=R) / problem.share
    p = np.bincount(rep_of, weights=problem.potential_cny, minlength=R) / problem.share
    owner = pd.Series(problem.owner).map({r: j for j, r in enumerate(problem.rep_ids)}).to_numpy()
    return {"workload_max_over_min": round(float(w.max() / max(w.min(), 1e-9)), 4),
            "potential_max_over_min": round(float(p.max() / max(p.min(), 1e-9)), 4),
            "mean_travel_min": round(float((vis * tt).sum() / vis.sum()), 2),
            "moved": int((owner != rep_of).sum())}


def shape_metrics(problem: territories.TerritoryProblem, rep_of: np.ndarray) -> dict:
    """knn_same, hull_overlap (``planner.solvers.territories.shape``) and ``contiguous``: every territory's
    accounts connected in the accounts' own unit graph (``planner.geo.units``, one unit per distinct point,
    built here, not by the solver; a unit shared by two territories counts for neither)."""
    from planner.geo.units import build_units
    from planner.solvers.territories.shape import hull_overlap, knn_same

    sel = rep_of >= 0
    ll, lab = problem.lonlat[sel], rep_of[sel]
    g = build_units(ll, max_units=max(len(ll), 10))
    pieces = 0
    for r in np.unique(lab):
        units_r = np.unique(g.unit_of[lab == r])
        pieces += g.components(units_r) > 1
    return {"knn_same": round(knn_same(ll, lab), 4), "hull_overlap": round(hull_overlap(ll, lab), 4),
            "contiguous": bool(pieces == 0), "territories_in_pieces": int(pieces)}


def run_planner(problem, time_limit_s: float | None, seed: int, margin: float | None = None,
                contiguous: bool = False, count_tol: float | None = None, keep: float = 1.0):
    limit = {} if time_limit_s is None else {"time_limit_s": time_limit_s}
    if margin is not None:
        limit["balance_margin"] = margin
    opts = territories.TerritoryOptions(tolerance=TOL, potential_tolerance=PTOL, pool_return_days=None,
                                        seed=seed, contiguous=contiguous, count_tolerance=count_tol, keep=keep,
                                        **limit)
    plan = territories.solve(problem, opts)
    rep_index = {r: j for j, r in enumerate(problem.rep_ids)}
    rep_of = plan.accounts["territory"].map(rep_index).to_numpy()
    return rep_of, plan.report.status + (f" ({plan.report.message})" if plan.report.message else "")


def _subset(problem: territories.TerritoryProblem, sel: np.ndarray) -> territories.TerritoryProblem:
    """The problem on the accounts ``sel`` (the demo's planned accounts: owned, visited within 90 days)."""
    from dataclasses import replace

    return replace(problem, account_ids=problem.account_ids[sel], lonlat=problem.lonlat[sel],
                   account_class=problem.account_class[sel], potential_cny=problem.potential_cny[sel],
                   owner=problem.owner[sel], days_since_visit=problem.days_since_visit[sel])


def _project(problem):
    ref = problem.lonlat.mean(axis=0)
    k = np.cos(np.radians(ref[1]))
    return np.c_[(problem.lonlat[:, 0] - ref[0]) * 111.32 * k, (problem.lonlat[:, 1] - ref[1]) * 110.57], ref, k


def run_kmeans(problem, seed: int):
    """k-means on coordinates, clusters matched to reps by base distance, then greedy workload balancing."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

    xy, ref, k = _project(problem)
    R = problem.n_reps
    vis = pd.Series(problem.account_class).map(territories.DEFAULT_VISITS_PER_MONTH).to_numpy(float)
    km = KMeans(n_clusters=R, n_init=3, random_state=seed).fit(xy, sample_weight=vis)
    bxy = np.c_[(problem.base_lonlat[:, 0] - ref[0]) * 111.32 * k, (problem.base_lonlat[:, 1] - ref[1]) * 110.57]
    d = np.sqrt(((km.cluster_centers_[:, None, :] - bxy[None, :, :]) ** 2).sum(2))
    ci, ri = linear_sum_assignment(d)
    rep_of_cluster = np.empty(R, dtype=np.int64)
    rep_of_cluster[ci] = ri
    rep_of = rep_of_cluster[km.labels_]
    t = travel.travel_matrix(problem.lonlat, problem.base_lonlat).time_s.astype(float) / 60.0
    w = vis[:, None] * (45.0 + t / 4.0)
    share = problem.share
    load = np.bincount(rep_of, weights=w[np.arange(len(rep_of)), rep_of], minlength=R)
    for _ in range(20 * len(rep_of)):
        target = share / share.sum() * load.sum()
        ratio = load / target
        hi, lo = int(np.argmax(ratio)), int(np.argmin(ratio))
        if ratio[hi] <= 1 + TOL and ratio[lo] >= 1 - TOL:
            break
        if ratio[hi] - 1 >= 1 - ratio[lo]:  # push the cheapest account out of the most loaded rep
            mine = np.flatnonzero(rep_of == hi)
            extra = vis[mine, None] * (t[mine] - t[mine, hi][:, None])
            extra[:, ratio >= 1.0] = np.inf
            if not np.isfinite(extra).any():
                break
            i, q = np.unravel_index(np.argmin(extra), extra.shape)
            a, r = mine[i], hi
        else:  # pull the cheapest account into the least loaded rep
            other = np.flatnonzero(ratio[rep_of] > 1.0)
            if len(other) == 0:
                break
            extra = vis[other] * (t[other, lo] - t[other, rep_of[other]])
            a, r, q = other[int(np.argmin(extra))], None, lo
            r = rep_of[a]
        load[r] -= w[a, r]
        load[q] += w[a, q]
        rep_of[a] = q
    return rep_of, "heuristic"


def run_spopt(problem, seed: int):
    """PySAL spopt SKATER: connected regions on the Delaunay graph, floor of half the mean accounts per region."""
    import geopandas as gpd
    import libpysal
    from spopt.region import Skater

    xy, _, _ = _project(problem)
    gdf = gpd.GeoDataFrame({"x": xy[:, 0], "y": xy[:, 1]}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]))
    # Delaunay neighbours: a connected graph (SKATER cannot cut islands smaller than the floor)
    from scipy.spatial import Delaunay

    tri = Delaunay(xy + np.random.default_rng(seed).normal(0, 1e-6, xy.shape))  # jitter: duplicate points
    nbrs: dict[int, set] = {i: set() for i in range(len(xy))}
    for simplex in tri.simplices:
        for a in simplex:
            nbrs[int(a)].update(int(b) for b in simplex if b != a)
    w = libpysal.weights.W({i: sorted(v) for i, v in nbrs.items()}, silence_warnings=True)
    floor = int(0.5 * len(xy) / problem.n_reps)
    model = Skater(gdf, w, ["x", "y"], n_clusters=problem.n_reps, floor=floor, trace=False,
                   islands="increase")
    np.random.seed(seed)
    model.solve()
    labels = np.asarray(model.labels_)
    from scipy.optimize import linear_sum_assignment

    R = problem.n_reps
    cen = np.array([xy[labels == c].mean(axis=0) if (labels == c).any() else xy.mean(axis=0) for c in range(R)])
    ref = problem.lonlat.mean(axis=0)
    k = np.cos(np.radians(ref[1]))
    bxy = np.c_[(problem.base_lonlat[:, 0] - ref[0]) * 111.32 * k, (problem.base_lonlat[:, 1] - ref[1]) * 110.57]
    d = np.sqrt(((cen[:, None, :] - bxy[None, :, :]) ** 2).sum(2))
    ci, ri = linear_sum_assignment(d)
    rep_of_cluster = np.empty(R, dtype=np.int64)
    rep_of_cluster[ci] = ri
    return rep_of_cluster[np.clip(labels, 0, R - 1)], "heuristic"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000x50,50000x200", help="comma list of ACCOUNTSxREPS")
    ap.add_argument("--methods", default="planner,kmeans", help="planner, kmeans, spopt")
    ap.add_argument("--time-limit", default="0",
                    help="planner time limit in seconds (0: 55 up to 20,000 accounts, else 170; 'default': the "
                         "option's default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--margin", type=float, default=None,
                    help="the planner's balance_margin (default: the option's, 0.1 of each tolerance)")
    ap.add_argument("--tol", type=float, default=0.05, help="workload tolerance (default 0.05)")
    ap.add_argument("--ptol", type=float, default=0.10,
                    help="potential tolerance (default 0.10; 10 = potential not balanced in practice)")
    ap.add_argument("--keep", type=float, default=1.0,
                    help="contiguous: how strongly today's territories are kept (0 = from scratch; default 1)")
    ap.add_argument("--shape", action="store_true",
                    help="also knn_same, hull_overlap and contiguous (how drawable the territories are)")
    ap.add_argument("--spopt-path", default=None, help="folder where spopt was installed with pip --target")
    args = ap.parse_args(argv)
    global TOL, PTOL
    TOL, PTOL = args.tol, args.ptol
    if args.spopt_path:
        sys.path.append(args.spopt_path)  # appended: the project's own packages keep priority
    for size in args.sizes.split(","):
        if size == "demo":  # the Fujian demo as it is (pool rule and all): the knn/hull figures
            sc = demo.load_demo()
            problem = territories.problem_from_tables(sc.accounts, sc.reps, sc.offices)
            keep = territories.solve(problem, territories.TerritoryOptions(time_limit_s=1, contiguous=False))
            sel = (keep.accounts["outcome"] == "assigned").to_numpy()
            problem = _subset(problem, sel)
            n, r = problem.n_accounts, problem.n_reps
        else:
            n, r = (int(v) for v in size.lower().split("x"))
            accounts, reps, offices = scaled_scenario(n, r, seed=args.seed)
            problem = territories.problem_from_tables(accounts, reps, offices, as_of=demo.DEMO_DATE)
        for method in args.methods.split(","):
            t0, cpu0 = time.perf_counter(), time.process_time()
            extra: dict = {}
            peak = PeakMemory()
            try:
                if method in ("planner", "contiguous"):
                    tl = None if args.time_limit == "default" else \
                        (float(args.time_limit) or (55.0 if n <= 20000 else 170.0))
                    extra["time_limit_s"] = territories.TerritoryOptions().time_limit_s if tl is None else tl
                    with peak:
                        rep_of, status = run_planner(problem, tl, args.seed, args.margin,
                                                     contiguous=method == "contiguous", keep=args.keep)
                elif method == "kmeans":
                    with peak:
                        rep_of, status = run_kmeans(problem, args.seed)
                elif method == "spopt":
                    with peak:
                        rep_of, status = run_spopt(problem, args.seed)
                else:
                    raise ValueError(f"unknown method {method!r}")
            except ImportError as exc:
                print(json.dumps({"accounts": n, "reps": r, "method": method, "status": f"not available: {exc}"}))
                continue
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            m = metrics(problem, rep_of)
            if args.shape:
                m.update(shape_metrics(problem, rep_of))
            within = m["workload_max_over_min"] <= (1 + TOL) / (1 - TOL) + 1e-3 and \
                m["potential_max_over_min"] <= (1 + PTOL) / (1 - PTOL) + 1e-3
            row = {"accounts": n, "reps": r, **m, "within_tolerance": within, "seconds": round(seconds, 2),
                   "cpu_seconds": round(cpu, 2), "peak_mb": peak.mb, "base_mb": peak.base_mb, "method": method,
                   **extra, "status": status}
            print(json.dumps(row, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
