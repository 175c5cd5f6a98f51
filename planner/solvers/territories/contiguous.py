"""Contiguous territories: districting on a planar unit graph (issue 20).

``solve_districts(DistrictProblem, DistrictOptions) -> DistrictPlan`` splits ``U`` units (cells, zip
areas, ...; the caller builds them) into ``k`` territories, each one connected set of units of the
adjacency graph, compact, and balanced on up to three activity measures: classic commercial
territory design (Rios-Mercado & Fernandez 2009; Gliesch, Ritt & Moreira 2018). The solver knows
nothing of accounts or geodata: points in km, a CSR adjacency, measures.

Model
-----
With ``a_u`` the territory of unit ``u``, ``c_t`` the centre of territory ``t`` (its median unit:
the member minimising the weighted distance of the members), ``target_tm = share_t / sum(share) *
sum_u measure_um``::

    minimise   sum_u weight_u * |xy_u - xy_{c_{a_u}}|                      (dispersion, km)
               + keep * D * sum_{u: current_u >= 0, a_u != current_u} move_cost_u
    subject to every unit in exactly one territory
               every territory connected in the unit graph
               (1 - tol_m) target_tm <= sum_{u: a_u = t} measure_um <= (1 + tol_m) target_tm
                                                        (each measure m with a finite tolerance)
               a_u = locked_u                           (locked units)

``D`` = the mean weighted distance of a unit in the start plan (today's plan made contiguous, or the
grown plan): ``keep = 1`` prices one unit of move cost like one unit's typical distance to its
centre, so moving a unit pays only if it shortens its distance by more than a typical one;
``keep = 0`` re-plans from scratch (today's plan is only the start), a large ``keep`` keeps today's
territories as far as balance allows.

Method
------
1. Start: today's plan repaired (each territory keeps its largest connected piece, the orphaned
   units are flooded in by their neighbours, empty territories get a unit of the largest), or
   weighted k-means++ centres (``seed``) and balanced region growing (the lightest territory takes
   its nearest unassigned adjacent unit).
2. Local search on ``objective + penalty``: the penalty is, per territory and balanced measure, the
   relative violation beyond the band tightened by ``margin`` (x 1e4 D) plus beyond the tolerance
   itself (x 1e6 D): balance first, then compactness. First-improvement single boundary moves that
   keep the donor connected (BFS within the donor between the unit's donor-neighbours), swaps across
   a boundary for penalised territories, centres updated to the median unit (location-allocation),
   then iterated perturbation (random connected boundary moves out of penalised territories,
   restart from the best) until 60 rounds bring nothing or the time limit. With ``hubs`` (the
   offices), a plan that still breaks a tolerance at half the search's time is joined by a second
   start, wedges around the hubs (``sectors``: each hub's units cut by angle into sectors of equal
   load, repaired to be contiguous), searched the same way for the rest; the better plan is kept.
   Wedges reconcile measures that pull apart with the distance from the office (workload counts the
   drive, potential sits in the city), which compact blobs around k-means centres cannot. No decision reads the clock
   except stopping: with time to spare the same seed gives the same plan.
3. At most ``exact_max_units`` units: CP-SAT on the exact model (``contiguous_exact``: single-commodity
   flow from the centres), hinted with the heuristic plan, single worker, the time left.
4. Bound: the p-median Lagrangian over all units (``contiguous_bound``), valid for any plan since it
   drops contiguity and balance; on small instances CP-SAT's bound when that is higher (no moves
   priced). ``gap = (dispersion - bound) / dispersion``.

Every plan is checked afresh: contiguity by BFS (:func:`is_contiguous`), balance in floats.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from planner.errors import InputError
from planner.plans import no_progress
from planner.solvers.territories.contiguous_bound import pmedian_bound
from planner.solvers.territories.contiguous_exact import ExactInput, solve_exact
from planner.solvers.territories.contiguous_search import (
    SearchData,
    State,
    grow,
    kmeans_centres,
    local_search,
    median_unit,
    repair,
    sectors,
    seed_empty,
)

__all__ = ["DistrictProblem", "DistrictOptions", "DistrictPlan", "solve_districts", "is_contiguous",
           "realignment_curve"]

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class DistrictProblem:
    """Units (points in km, CSR adjacency, measures) to split into ``k`` contiguous territories.

    ``tolerance[m]`` is relative (0.05 = +-5 %), ``nan`` = measure m not balanced. ``share`` (k):
    relative targets (default equal). ``weight`` (U): dispersion weight (default ``measures[:, 0]``).
    ``current`` / ``locked`` (U): territory index or -1. ``move_cost`` (U): default 1. ``hubs`` (H, 2), km
    like ``xy``: where the territories' people start their trips (offices); when given, wedges around them
    are tried as a second start plan (:func:`planner.solvers.territories.contiguous_search.sectors`).
    Invalid input raises one :class:`planner.errors.InputError` naming every bad field.
    """

    xy: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    measures: np.ndarray
    tolerance: np.ndarray
    k: int
    share: np.ndarray | None = None
    weight: np.ndarray | None = None
    current: np.ndarray | None = None
    locked: np.ndarray | None = None
    move_cost: np.ndarray | None = None
    hubs: np.ndarray | None = None

    def __post_init__(self) -> None:
        problems = _check(self)
        if problems:
            raise InputError(problems, what="district problem")

    @property
    def n(self) -> int:
        return int(np.asarray(self.xy).shape[0])


@dataclass(frozen=True)
class DistrictOptions:
    time_limit_s: float = 10.0
    seed: int = 0
    keep: float = 0.0
    margin: float = 0.1
    exact_max_units: int = 200

    def __post_init__(self) -> None:
        bad = []
        if not (self.time_limit_s > 0):
            bad.append(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if not (self.keep >= 0):
            bad.append(f"keep must be >= 0, got {self.keep}")
        if not (0 <= self.margin < 1):
            bad.append(f"margin must be in [0, 1), got {self.margin}")
        if bad:
            raise InputError(bad, what="district options")


@dataclass(frozen=True, eq=False)
class DistrictPlan:
    assign: np.ndarray
    centres: np.ndarray
    dispersion: float
    bound: float | None
    gap: float | None
    status: str
    balance: np.ndarray
    within: np.ndarray
    contiguous: bool
    moves: int
    moved_cost: float
    seconds: float
    iterations: int
    solver: str
    message: str


def _check(p: DistrictProblem) -> list[str]:
    out: list[str] = []
    xy = np.asarray(p.xy)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] < 1 or not np.isfinite(xy).all():
        return [f"xy must be a finite (U, 2) array, got shape {xy.shape}"]
    U = xy.shape[0]
    ip, ix = np.asarray(p.indptr), np.asarray(p.indices)
    if ip.shape != (U + 1,) or ip[0] != 0 or np.any(np.diff(ip) < 0) or ip[-1] != ix.size:
        out.append("indptr must be a CSR row pointer of length U + 1 ending at len(indices)")
    elif ix.size and (ix.min() < 0 or ix.max() >= U):
        out.append("indices must be unit indices in [0, U)")
    ms = np.asarray(p.measures)
    if ms.ndim != 2 or ms.shape[0] != U or not 1 <= ms.shape[1] <= 3 or not np.isfinite(ms).all() or (ms < 0).any():
        out.append(f"measures must be a finite (U, K) array >= 0 with K in 1..3, got shape {ms.shape}")
        return out
    tol = np.asarray(p.tolerance, dtype=float)
    if tol.shape != (ms.shape[1],) or np.any(tol[~np.isnan(tol)] < 0):
        out.append("tolerance must be (K,) relative tolerances >= 0 (nan = not balanced)")
    if not (isinstance(p.k, (int, np.integer)) and 1 <= p.k <= U):
        out.append(f"k must be an integer in 1..U ({U}), got {p.k}")
        return out
    for name, arr, shape in (("share", p.share, (p.k,)), ("weight", p.weight, (U,)),
                             ("move_cost", p.move_cost, (U,))):
        if arr is not None:
            a = np.asarray(arr, dtype=float)
            if a.shape != shape or not np.isfinite(a).all() or (a < 0).any():
                out.append(f"{name} must be a finite array >= 0 of shape {shape}")
    if p.share is not None and not np.asarray(p.share, dtype=float).sum() > 0:
        out.append("share must have a positive sum")
    if p.hubs is not None:
        h = np.asarray(p.hubs, dtype=float)
        if h.ndim != 2 or h.shape[1] != 2 or h.shape[0] < 1 or not np.isfinite(h).all():
            out.append(f"hubs must be a finite (H, 2) array in km like xy, got shape {h.shape}")
    for name, arr in (("current", p.current), ("locked", p.locked)):
        if arr is not None:
            a = np.asarray(arr)
            if a.shape != (U,) or a.min() < -1 or a.max() >= p.k:
                out.append(f"{name} must be (U,) territory indices in [-1, k)")
    return out


def is_contiguous(indptr: np.ndarray, indices: np.ndarray, assign: np.ndarray, k: int) -> bool:
    """True if every unit is in a territory 0..k-1 and every territory is non-empty and connected (BFS)."""
    a = np.asarray(assign)
    if a.size and (a.min() < 0 or a.max() >= k):
        return False
    return all(c == 1 for c in pieces(indptr, indices, a, k))


def pieces(indptr: np.ndarray, indices: np.ndarray, assign: np.ndarray, k: int) -> list[int]:
    """Number of connected pieces of each territory 0..k-1 (BFS; units outside 0..k-1 ignored)."""
    a = np.asarray(assign).tolist()
    ip, ix = np.asarray(indptr).tolist(), np.asarray(indices).tolist()
    seen = [False] * len(a)
    count = [0] * k
    for s in range(len(a)):
        t = a[s]
        if seen[s] or not 0 <= t < k:
            continue
        count[t] += 1
        seen[s] = True
        q = deque([s])
        while q:
            u = q.popleft()
            for v in ix[ip[u]:ip[u + 1]]:
                if not seen[v] and a[v] == t:
                    seen[v] = True
                    q.append(v)
    return count


def _data(p: DistrictProblem, opt: DistrictOptions, lam: float, pen_scale: float) -> SearchData:
    U, k = p.n, p.k
    ms = np.asarray(p.measures, dtype=float)
    K = ms.shape[1]
    tol = np.asarray(p.tolerance, dtype=float)
    share = np.ones(k) if p.share is None else np.asarray(p.share, dtype=float)
    target = (share / share.sum())[:, None] * ms.sum(0)[None, :]
    bal = [m for m in range(K) if not np.isnan(tol[m]) and ms[:, m].sum() > 0]
    tt = np.where(np.isnan(tol), 0.0, tol)
    inner = tt * (1 - opt.margin)
    ip, ix = np.asarray(p.indptr).tolist(), np.asarray(p.indices).tolist()
    adj = [sorted(set(ix[ip[u]:ip[u + 1]]) - {u}) for u in range(U)]
    w = _weight(p)
    return SearchData(
        adj=adj, x=p.xy[:, 0].astype(float).tolist(), y=p.xy[:, 1].astype(float).tolist(), w=w.tolist(),
        meas=ms.tolist(), bal=bal, target=np.where(target > 0, target, 1.0).tolist(),
        lo_m=(target * (1 - inner)).tolist(), hi_m=(target * (1 + inner)).tolist(),
        lo_t=(target * (1 - tt)).tolist(), hi_t=(target * (1 + tt)).tolist(),
        locked=_vec(p.locked, U).tolist(), current=_vec(p.current, U).tolist(),
        move_cost=(np.ones(U) if p.move_cost is None else np.asarray(p.move_cost, dtype=float)).tolist(),
        lam=lam, pen_scale=pen_scale, k=k)


def _weight(p: DistrictProblem) -> np.ndarray:
    return np.asarray(p.measures, dtype=float)[:, 0] if p.weight is None else np.asarray(p.weight, dtype=float)


def _vec(a: np.ndarray | None, U: int) -> np.ndarray:
    return np.full(U, -1, dtype=np.int64) if a is None else np.asarray(a, dtype=np.int64)


def _start(p: DistrictProblem, opt: DistrictOptions) -> tuple[list[int], float]:
    """The start plan (keep-independent) and D, the mean weighted distance of a unit in it."""
    d0 = _data(p, opt, 0.0, 1.0)
    rng = np.random.default_rng(opt.seed)
    if p.current is not None and (np.asarray(p.current) >= 0).any():
        assign = repair(d0, _vec(p.current, p.n).tolist())
    else:
        cen = kmeans_centres(np.asarray(p.xy, dtype=float), _weight(p), p.k, rng)
        assign = grow(d0, np.asarray(p.xy, dtype=float), cen)
    st = State(d0, assign)
    seed_empty(st)
    D = st.dispersion() / p.n
    return st.assign, (D if D > 0 else 1.0)


def solve_districts(problem: DistrictProblem, options: DistrictOptions | None = None, *,
                    progress: ProgressCallback | None = None) -> DistrictPlan:
    """Contiguous, compact, balanced territories (model and method in the module docstring)."""
    return _solve(problem, options or DistrictOptions(), progress, None)


def _solve(p: DistrictProblem, opt: DistrictOptions, progress: ProgressCallback | None,
           start: tuple[list[int], float] | None) -> DistrictPlan:
    t0 = time.perf_counter()
    limit = opt.time_limit_s
    exact = p.n <= opt.exact_max_units

    def say(msg: str) -> None:
        if progress is not None:
            try:
                progress(min(1.0, (time.perf_counter() - t0) / limit), msg)
            except Exception:  # a broken display must not break the solve
                pass

    assign0, D = start if start is not None else _start(p, opt)
    d = _data(p, opt, opt.keep * D, D)
    st = State(d, assign0)
    say("start plan")
    counter = [0]
    heur_end = t0 + limit * (0.4 if exact else 0.8)
    if p.hubs is None:
        st = local_search(st, np.random.default_rng(opt.seed + 1), heur_end, counter, say)
    else:
        st = _wedges_if_stuck(p, d, st, opt.seed, heur_end, counter, say)
    assign = np.asarray(st.assign, dtype=np.int64)
    centres = np.asarray(st.centre, dtype=np.int64)
    solver, note, ex_bound, ex_status = "heuristic", "", None, ""
    if exact:  # the p-median bound first (a tenth of the limit), so that CP-SAT's time cannot starve it
        bound0 = _bound(p, assign, centres, time.perf_counter() + 0.1 * limit)
        say("CP-SAT")
        left = t0 + limit * 0.9 - time.perf_counter()
        watch = (lambda _f, m: say(m)) if progress is not None else no_progress
        res = solve_exact(_exact_input(p, d), assign, centres, left, opt.seed, watch) if left > 0.05 else None
        if res is not None:
            ex_bound, ex_status, note = res.bound, res.status, res.message
            if res.assign is not None and res.centres is not None and not _better(p, d, assign, res.assign):
                assign, centres, solver = res.assign, res.centres, "cp-sat"
    bound = bound0 if exact else _bound(p, assign, centres, t0 + limit * 0.97)
    if ex_bound is not None and (bound is None or ex_bound > bound):
        bound = ex_bound
    say("done")
    return _plan(p, d, assign, bound, ex_status, solver, note, counter[0], t0)


def _wedges_if_stuck(p: DistrictProblem, d: SearchData, st: State, seed: int, heur_end: float,
                     counter: list[int], say: Callable[[str], None]) -> State:
    """The local search from the given start for half the time; when its plan still breaks a tolerance,
    the rest of the time goes to a second start, wedges around the hubs (repaired to be contiguous), and
    the better plan is kept. A plan balanced by half time keeps the whole time."""
    mid = time.perf_counter() + 0.5 * max(0.0, heur_end - time.perf_counter())
    st = local_search(st, np.random.default_rng(seed + 1), mid, counter, say)
    if st.within_tolerance():
        return local_search(st, np.random.default_rng(seed + 2), heur_end, counter, say)
    say("wedges around the offices")
    alt = State(d, repair(d, sectors(d, np.asarray(p.xy, dtype=float), np.asarray(p.hubs, dtype=float))))
    seed_empty(alt)
    alt = local_search(alt, np.random.default_rng(seed + 3), heur_end, counter, say)
    return alt if alt.objective() < st.objective() else st


def _exact_input(p: DistrictProblem, d: SearchData) -> ExactInput:
    ip, ix = np.asarray(p.indptr), np.asarray(p.indices)
    rows = np.repeat(np.arange(p.n), np.diff(ip))
    e = np.stack((np.minimum(rows, ix), np.maximum(rows, ix)), 1)
    e = np.unique(e[e[:, 0] != e[:, 1]], axis=0)
    tol = np.asarray(p.tolerance, dtype=float)
    sym = (p.share is None or np.allclose(p.share, np.asarray(p.share)[0])) and p.locked is None \
        and (p.current is None or d.lam == 0)
    return ExactInput(xy=np.asarray(p.xy, dtype=float), edges=e, measures=np.asarray(p.measures, dtype=float),
                      bal=[m for m in d.bal if not np.isnan(tol[m])], lo=np.asarray(d.lo_t), hi=np.asarray(d.hi_t),
                      weight=_weight(p), locked=_vec(p.locked, p.n), current=_vec(p.current, p.n),
                      move_cost=np.asarray(d.move_cost), lam=d.lam, k=p.k, symmetric=bool(sym))


def _score(p: DistrictProblem, d: SearchData, assign: np.ndarray) -> tuple[int, float]:
    """(broken: 0 if balanced and contiguous, else 1; objective with median centres)."""
    st = State(d, assign.tolist())
    ok = is_contiguous(p.indptr, p.indices, assign, p.k) and _balance(p, assign)[1].all()
    return (0 if ok else 1), st.dispersion() + d.lam * st.moved_cost()


def _better(p: DistrictProblem, d: SearchData, a: np.ndarray, b: np.ndarray) -> bool:
    return _score(p, d, a) < _score(p, d, b)


def _balance(p: DistrictProblem, assign: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(worst relative deviation per measure, within per measure, (k, K) relative deviations)."""
    ms = np.asarray(p.measures, dtype=float)
    share = np.ones(p.k) if p.share is None else np.asarray(p.share, dtype=float)
    target = (share / share.sum())[:, None] * ms.sum(0)[None, :]
    load = np.zeros_like(target)
    np.add.at(load, assign, ms)
    dev = np.abs(load - target) / np.where(target > 0, target, 1.0)
    worst = dev.max(0)
    tol = np.asarray(p.tolerance, dtype=float)
    within = np.where(np.isnan(tol), True, worst <= np.nan_to_num(tol) + 1e-9)
    return worst, within, (load - target) / np.where(target > 0, target, 1.0)


def _bound(p: DistrictProblem, assign: np.ndarray, centres: np.ndarray, deadline: float) -> float | None:
    xy, w = np.asarray(p.xy, dtype=float), _weight(p)
    dist = np.hypot(*(xy - xy[centres[assign]]).T)
    ub = float(w @ dist)
    if deadline - time.perf_counter() < 0.02:
        return None
    val, _ = pmedian_bound(xy, w, p.k, radius=float(dist.max()) + 1e-9, ub=ub, deadline=deadline)
    return val


def _plan(p: DistrictProblem, d: SearchData, assign: np.ndarray, bound: float | None, ex_status: str,
          solver: str, note: str, iterations: int, t0: float) -> DistrictPlan:
    xy, w = np.asarray(p.xy, dtype=float), _weight(p)
    centres = np.array([median_unit(np.flatnonzero(assign == t), xy[:, 0], xy[:, 1], w) for t in range(p.k)],
                       dtype=np.int64)
    disp = float(w @ np.hypot(*(xy - xy[centres[assign]]).T))
    worst, within, rel = _balance(p, assign)
    cont = is_contiguous(p.indptr, p.indices, assign, p.k)
    cur = _vec(p.current, p.n)
    moved = (cur >= 0) & (assign != cur)
    mc = np.ones(p.n) if p.move_cost is None else np.asarray(p.move_cost, dtype=float)
    if bound is not None:
        bound = min(bound, disp)
    gap = None if bound is None or disp <= 0 else (disp - bound) / disp
    if within.all() and cont:
        status = "optimal" if ex_status == "optimal" and solver == "cp-sat" or (gap is not None and gap <= 1e-9) \
            else "feasible"
        msg = f"balanced within tolerance, contiguous; {note}".rstrip("; ")
    else:
        status = "partial"
        msg = _not_balanced(p, rel, within, cont, assign)
        if ex_status == "infeasible":
            msg += "; CP-SAT proves no contiguous balanced plan exists"
    return DistrictPlan(assign=assign, centres=centres, dispersion=disp, bound=bound, gap=gap, status=status,
                        balance=worst, within=within, contiguous=cont, moves=int(moved.sum()),
                        moved_cost=float(mc[moved].sum()), seconds=time.perf_counter() - t0,
                        iterations=iterations, solver=solver, message=msg)


def _not_balanced(p: DistrictProblem, rel: np.ndarray, within: np.ndarray, cont: bool, assign: np.ndarray) -> str:
    tol = np.asarray(p.tolerance, dtype=float)
    parts = []
    for m in np.flatnonzero(~within):
        out = np.abs(rel[:, m]) > tol[m] + 1e-9
        t = int(np.argmax(np.abs(rel[:, m])))
        parts.append(f"measure {m}: {int(out.sum())} of {p.k} territories outside +-{100 * tol[m]:.3g}%, "
                     f"worst {100 * rel[t, m]:+.1f}% (territory {t})")
    if not cont:
        cnt = pieces(p.indptr, p.indices, assign, p.k)
        parts.append(f"contiguity: {sum(c != 1 for c in cnt)} of {p.k} territories not one connected piece, "
                     f"worst {max(cnt)} pieces")
    return "NOT BALANCED: " + "; ".join(parts)


def realignment_curve(problem: DistrictProblem, options: DistrictOptions | None = None,
                      keeps: Sequence[float] = (100.0, 10.0, 3.0, 1.0, 0.3, 0.0)) -> list[DistrictPlan]:
    """Plans from "keep everything" (large keep) to "from scratch" (keep 0), all from today's plan.

    Each plan gets ``options.time_limit_s``; the start plan and ``D`` are shared, so the plans differ
    only in the price of moves.
    """
    opt = options or DistrictOptions()
    if problem.current is None:
        raise InputError(["realignment needs current (today's territories)"], what="district problem")
    start = _start(problem, opt)
    return [_solve(problem, replace(opt, keep=float(kp)), None, start) for kp in keeps]
