"""Base location on a cost matrix: the p-median and the capacitated p-median.

Matrix-level solvers (no pandas, no geometry): rows are clients (accounts,
towns), columns are candidate bases, ``cost[i, j]`` is e.g. the travel minutes
from base ``j`` to client ``i`` and ``weight[i]`` how often client ``i`` is
visited. A GeoDataFrame adapter builds a :class:`PMedianProblem` and reads a
:class:`PMedianResult`.

- :func:`solve_pmedian`: uncapacitated p-median. Greedy + fast vertex
  substitution (Whitaker/Resende-Werneck swap evaluation, vectorised) for the
  upper bound; Lagrangian relaxation of the assignment constraints
  (subgradient) for the lower bound, Lagrangian heuristics and reduction
  (candidates fixed open/closed, each client's service radius capped); then an
  exact MIP on the reduced problem (Elloumi's radius formulation, SCIP via
  OR-Tools) warm-started with the best plan.
- :func:`solve_cpmp`: capacitated p-median with single-source assignment:
  classic x/y MIP with disaggregated linking, an aggregate-capacity cut and a
  heuristic start (SCIP via OR-Tools).
- :func:`read_orlib_pmed`, :func:`read_orlib_cpmp`: OR-Library instance readers.

Layout: the problem/result classes, readers and shared search machinery live
in :mod:`planner.pmedian_core`, the capacitated solver in :mod:`planner.cpmp`;
this module holds the uncapacitated solver and re-exports the public names.

Both solvers are deterministic for a given ``seed`` (single-threaded SCIP
with a fixed random seed) unless the time limit cuts the search.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from planner.plans import ProgressFn
from planner.solvers.pmedian.capacitated import solve_cpmp
from planner.solvers.pmedian.core import (
    PMedianProblem,
    PMedianResult,
    _Clock,
    _closest,
    _greedy,
    _is_integral,
    _mip_solve,
    _proven,
    _result,
    _swap_search,
    read_orlib_cpmp,
    read_orlib_pmed,
)

__all__ = [
    "PMedianProblem",
    "PMedianResult",
    "solve_pmedian",
    "solve_cpmp",
    "read_orlib_pmed",
    "read_orlib_cpmp",
]


# --------------------------------------------------------------------------- uncapacitated


def _select_p(rho: np.ndarray, free: np.ndarray, k: int) -> np.ndarray:
    """Indices (into rho) of the k smallest values among the ``free`` columns, sorted by rho."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    vals = rho[free]
    if k < vals.size:
        part = np.argpartition(vals, k - 1)[:k]
    else:
        part = np.arange(vals.size)
    part = part[np.argsort(vals[part], kind="stable")]
    return free[part]


class _Lagrangian:
    """Lagrangian relaxation of the assignment constraints sum_j x_ij >= 1 (multipliers lam >= 0).

    L(lam) = sum_i lam_i + sum_{j open} rho_j,  rho_j = sum_i min(0, W_ij - lam_i),
    with the open set = locked columns + the (p - |locked|) free columns of smallest rho.
    """

    def __init__(self, W: np.ndarray, p: int, locked: np.ndarray):
        self.W = W
        self.n, self.m = W.shape
        self.p = p
        self.locked = locked
        mask = np.ones(self.m, dtype=bool)
        mask[locked] = False
        self.free = np.flatnonzero(mask)
        self.k = p - locked.size

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        R = self.W - lam[:, None]
        np.minimum(R, 0.0, out=R)
        rho = R.sum(axis=0)
        sel = _select_p(rho, self.free, self.k)
        open_ = np.concatenate((self.locked, sel))
        value = float(lam.sum() + rho[open_].sum())
        return value, rho, sel

    def subgradient(self, lam: np.ndarray, open_: np.ndarray) -> np.ndarray:
        return 1.0 - (self.W[:, open_] < lam[:, None]).sum(axis=1)



_MIP_MAX_NONZEROS = 200_000


def _iterated_search(W, open_, value, locked_mask, clock, rng, stats, stop_at=-math.inf, max_rounds=100000):
    """Iterated local search: replace 1-3 random open columns by random closed ones, vertex
    substitution, keep if better; until the time limit (or max_rounds, or value <= stop_at)."""
    m = W.shape[1]
    best, best_val = np.sort(open_), value
    rounds = 0
    while rounds < max_rounds and clock.left() > 0 and best_val > stop_at + 1e-9:
        rounds += 1
        cur = best.copy()
        movable = np.flatnonzero(~locked_mask[cur])
        closed = np.setdiff1d(np.arange(m), cur)
        if movable.size == 0 or closed.size == 0:
            break
        k = int(rng.integers(1, min(3, movable.size, closed.size) + 1))
        cur[rng.choice(movable, size=k, replace=False)] = rng.choice(closed, size=k, replace=False)
        cand, val = _swap_search(W, cur, locked_mask, clock)
        if val < best_val - 1e-9 * max(1.0, abs(best_val)) and clock.left() > -1:
            best, best_val = np.sort(cand), val
    stats["ils_rounds"] = rounds
    stats["ils_value"] = best_val
    return best, best_val


def solve_pmedian(problem: PMedianProblem, *, time_limit_s: float = 60.0, seed: int = 0,
                  progress: ProgressFn | None = None, gap_tolerance: float = 0.0) -> PMedianResult:
    """Uncapacitated p-median (``capacity``, ``demand`` and ``min_load`` are ignored).

    Formulation::

        min  sum_i sum_j weight_i * cost_ij * x_ij
        s.t. sum_j x_ij = 1            (each client served once)
             x_ij <= y_j               (only by an open candidate)
             sum_j y_j = p,  y_j = 1 for locked j,  y_j = 0 for excluded j
             x, y binary

    Each client is assigned to its closest open candidate. Method: greedy +
    vertex substitution (upper bound), Lagrangian relaxation of
    ``sum_j x_ij = 1`` by subgradient (lower bound, Lagrangian heuristic, and
    reduction: candidates fixed open/closed and client radii capped by
    Lagrangian reduced costs), then SCIP on the reduced radius formulation
    (Elloumi 2010) warm-started with the best plan. The search stops as soon as
    the bound proves the plan optimal (with integer costs: ``ceil(bound) >=
    objective``), when the relative gap is at most ``gap_tolerance``, or at
    ``time_limit_s`` (total wall time, heuristics included).

    Status: ``optimal`` (proven), ``feasible`` (stopped by the time limit:
    the report's ``bound`` and ``gap`` say how far from optimal at most).
    There is always a plan: bad settings (p larger than the allowed
    candidates, more locked than p, ...) are rejected earlier by
    :class:`PMedianProblem` with a ``ValueError`` naming the field.
    ``progress(fraction, message)`` is called between stages.
    """
    clock = _Clock(time_limit_s, progress)
    cand = problem.allowed()
    W = np.ascontiguousarray(problem.weight[:, None] * problem.cost[:, cand])
    n, m = W.shape
    p = problem.p
    where = np.full(problem.n_candidates, -1, dtype=np.int64)
    where[cand] = np.arange(m)
    locked = np.sort(where[list(problem.locked)]).astype(np.int64) if problem.locked else np.zeros(0, np.int64)
    locked_mask = np.zeros(m, dtype=bool)
    locked_mask[locked] = True
    integral = _is_integral(W)
    stats: dict[str, Any] = {"n_clients": n, "n_candidates": m, "p": p, "integral_costs": integral}
    solver = "greedy+swap"

    if p >= m or p == locked.size:
        chosen = np.arange(m) if p >= m else locked
        clock.say("nothing to choose: every allowed candidate is open" if p >= m else "all p candidates are locked", 1.0)
        value = float(_closest(W, chosen)[0].sum())
        return _result(problem, cand[chosen], "optimal", value, clock, "direct", stats)

    # 1. upper bound: greedy + vertex substitution
    clock.say("greedy start")
    g = _greedy(W, p, locked)
    stats["greedy"] = float(_closest(W, g)[0].sum())
    clock.say("vertex substitution")
    best_open, ub = _swap_search(W, g, locked_mask, clock)
    stats["heuristic"] = ub
    stats["swap_seconds"] = round(clock.elapsed(), 3)

    # 2. Lagrangian relaxation: lower bound, Lagrangian heuristic, reduction
    clock.say(f"Lagrangian bound (plan {ub:,.6g})")
    lr = _Lagrangian(W, p, locked)
    d1_best = _closest(W, best_open)[0]
    lam = d1_best.copy()
    best_L, best_lam = -math.inf, lam.copy()
    beta, stall, it = 2.0, 0, 0
    lagr_budget = clock.elapsed() + 0.3 * max(0.0, clock.left())
    seen: set[bytes] = set()
    ls_runs = 0
    max_iter = 2000
    while it < max_iter:
        it += 1
        L, rho, sel = lr.evaluate(lam)
        if L > best_L + 1e-12 * max(1.0, abs(L)):
            best_L, best_lam, stall = L, lam.copy(), 0
        else:
            stall += 1
            if stall >= 25:
                beta *= 0.5
                stall = 0
        if _proven(best_L, ub, integral, gap_tolerance) or beta < 1e-5:
            break
        open_ = np.concatenate((locked, sel))
        value = float(W[:, open_].min(axis=1).sum())
        key = np.sort(open_).tobytes()
        if key not in seen and (value < ub or (it % 50 == 0 and ls_runs < 20)):
            seen.add(key)
            if value < ub * (1 + 0.02):
                ls_runs += 1
                cand_open, cand_val = _swap_search(W, open_, locked_mask, clock)
                if cand_val < ub - 1e-9 * max(1.0, abs(ub)):
                    best_open, ub = cand_open, cand_val
                    clock.say(f"Lagrangian heuristic improved the plan to {ub:,.6g}")
                    if _proven(best_L, ub, integral, gap_tolerance):
                        break
        grad = lr.subgradient(lam, open_)
        norm = float(grad @ grad)
        if norm == 0.0:  # the relaxed solution is a plan: L is optimal for this relaxation
            if value < ub:
                best_open, ub = np.sort(open_), value
            break
        lam = np.maximum(lam + beta * max(ub - L, 1e-9 * max(1.0, abs(ub))) / norm * grad, 0.0)
        if clock.elapsed() > lagr_budget:
            break
    stats["lagrangian_bound"] = best_L
    stats["lagrangian_iterations"] = it
    stats["lagrangian_seconds"] = round(clock.elapsed(), 3)
    stats["upper_bound_before_mip"] = ub
    bound = best_L
    if _proven(bound, ub, integral, gap_tolerance):
        if integral:
            bound = max(bound, float(math.ceil(bound - 1e-6 * max(1.0, abs(bound)))))
        clock.say("proven optimal by the Lagrangian bound", 1.0)
        return _result(problem, cand[best_open], "optimal", min(bound, ub), clock, solver + "+lagrangian", stats)

    # 3. reduction by Lagrangian reduced costs (prune only what cannot be in a plan of cost <= ub)
    clock.say(f"reduction (bound {best_L:,.6g}, plan {ub:,.6g})")
    L, rho, sel = lr.evaluate(best_lam)
    thr = ub + 1e-7 * max(1.0, abs(ub))
    in_sel = np.zeros(m, dtype=bool)
    in_sel[sel] = True
    free_out = np.flatnonzero(~in_sel & ~locked_mask)
    last = rho[sel[-1]] if sel.size else math.inf
    first_out = rho[free_out].min() if free_out.size else math.inf
    open_cost = np.full(m, L)  # bound on any plan in which j is open
    open_cost[free_out] = L + rho[free_out] - last
    fixed_closed = open_cost > thr
    fixed_open = locked_mask.copy()
    if free_out.size:
        fixed_open[sel[(L - rho[sel] + first_out) > thr]] = True
    fixed_closed[best_open] = False  # safety against rounding: the plan stays feasible
    F = np.flatnonzero(~fixed_closed)
    # client i served by j (its closest open) in a plan of cost <= ub only if this bound allows it
    serve = open_cost[F][None, :] + np.maximum(W[:, F] - best_lam[:, None], 0.0)
    ok = serve <= thr
    WF = W[:, F]
    R = np.where(ok, WF, -np.inf).max(axis=1)
    fo = np.flatnonzero(fixed_open[F])
    if fo.size:
        R = np.minimum(R, WF[:, fo].min(axis=1))
    R = np.maximum(R, d1_best := _closest(W, best_open)[0])
    stats["fixed_closed"] = int(fixed_closed.sum())
    stats["fixed_open"] = int(fixed_open.sum() - locked.size)

    # 4. radius formulation on the reduced problem
    f = F.size
    posF = np.full(m, -1, dtype=np.int64)
    posF[F] = np.arange(f)
    rows_i, cols_i, vals_i = [], [], []
    row_lb: list[np.ndarray] = []
    zobj: list[np.ndarray] = []
    zhint: list[np.ndarray] = []
    offset = 0.0
    r0, z0 = 1, f  # row 0 is sum y = p; variables 0..f-1 are y
    for i in range(n):
        idx = np.flatnonzero(WF[i] <= R[i])
        levels, inv = np.unique(WF[i, idx], return_inverse=True)
        K = levels.size
        offset += levels[0]
        if K == 1 and idx.size == f:
            continue  # every candidate serves i at the same cost: nothing to model
        rows_i.append(r0 + inv)
        cols_i.append(idx)
        vals_i.append(np.ones(idx.size))
        if K > 1:
            k = np.arange(K - 1)
            rows_i.append(np.concatenate((r0 + k, r0 + k + 1)))
            cols_i.append(np.concatenate((z0 + k, z0 + k)))
            vals_i.append(np.concatenate((np.ones(K - 1), -np.ones(K - 1))))
            zobj.append(np.diff(levels))
            zhint.append((levels[:-1] < d1_best[i] - 1e-12 * max(1.0, d1_best[i])).astype(float))
        lbs = np.zeros(K)
        lbs[0] = 1.0
        row_lb.append(lbs)
        r0 += K
        z0 += K - 1
    from scipy.sparse import coo_matrix

    n_rows, n_vars = r0, z0
    rows = np.concatenate([np.zeros(f, dtype=np.int64)] + rows_i)
    cols = np.concatenate([np.arange(f)] + cols_i)
    vals = np.concatenate([np.ones(f)] + vals_i)
    A = coo_matrix((vals, (rows, cols)), shape=(n_rows, n_vars)).tocsr()
    rlb = np.concatenate([[float(p)]] + row_lb)
    rub = np.full(n_rows, np.inf)
    rub[0] = float(p)
    lb = np.zeros(n_vars)
    lb[:f][fixed_open[F]] = 1.0
    ub_v = np.ones(n_vars)
    obj = np.concatenate([np.zeros(f)] + zobj) if zobj else np.zeros(n_vars)
    # z integral too: z = max(0, 1 - sum y) is 0/1 anyway, and SCIP then knows the objective is integral
    integer = np.ones(n_vars, dtype=bool)
    yh = np.zeros(f)
    yh[posF[best_open]] = 1.0
    hint_vals = np.concatenate([yh] + zhint) if zhint else yh
    hint = dict(enumerate(hint_vals.tolist()))
    stats["mip_candidates"] = int(f)
    stats["mip_variables"] = int(n_vars)
    stats["mip_rows"] = int(n_rows)
    stats["mip_nonzeros"] = int(A.nnz)
    # general-purpose cuts do not pay on this formulation (measured: pmed6 7 s -> 2.5 s without them)
    params = "separating/maxrounds = 0\nseparating/maxroundsroot = 0\n"
    if integral:
        params += "limits/absgap = 0.999\n"
    if gap_tolerance > 0:
        params += f"limits/gap = {gap_tolerance:g}\n"
    if A.nnz > _MIP_MAX_NONZEROS:
        # too large for SCIP's simplex within the time (measured: n = 900, p = 5, 296k nonzeros, root LP
        # unsolved after 60 s); spend the time on iterated local search for the plan instead
        stats["mip_status"] = "skipped: reduced model too large"
        best_open, ub = _iterated_search(W, best_open, ub, locked_mask, clock, rng=np.random.default_rng(seed),
                                         stats=stats, stop_at=bound)
        solver += "+lagrangian+ILS"
        done = _proven(bound, ub, integral, gap_tolerance)
        if integral:
            bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
        return _result(problem, cand[best_open], "optimal" if done else "feasible", min(bound, ub), clock, solver,
                       stats, message="" if done else "time limit reached; the bound gives the largest possible gap")
    left = clock.left() - clock.margin()
    if left <= 0.05:
        return _result(problem, cand[best_open], "feasible", bound, clock, solver + "+lagrangian", stats,
                       message="time limit reached before the exact search")
    clock.say(f"exact search: {f} candidates, {n_vars} variables, {A.nnz} nonzeros")
    status, x, mip_obj, mip_bound, mip_sec = _mip_solve(
        lb=lb, ub=ub_v, obj=obj, integer=integer, row_lb=rlb, row_ub=rub, A=A, hint=hint,
        time_limit=left, seed=seed, params=params, obj_offset=offset)
    stats["mip_status"] = status
    stats["mip_seconds"] = round(mip_sec, 3)
    solver = "greedy+swap+lagrangian+SCIP(radius)"
    if x is not None:
        y_open = F[np.flatnonzero(x[:f] > 0.5)]
        if y_open.size == p:
            val = float(_closest(W, y_open)[0].sum())
            if val < ub - 1e-9 * max(1.0, abs(ub)):
                best_open, ub = np.sort(y_open), val
    if status == "OPTIMAL":
        bound = max(bound, mip_bound if mip_bound is not None else -math.inf, mip_obj if mip_obj is not None else -math.inf)
        bound = min(bound, ub)
    elif status == "INFEASIBLE":
        bound = ub  # nothing in the reduced problem beats ub (it holds the plan itself)
    elif mip_bound is not None:
        bound = max(bound, mip_bound)
    if integral and math.isfinite(bound):
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    bound = min(bound, ub)
    done = status in ("OPTIMAL", "INFEASIBLE") or _proven(bound, ub, integral, gap_tolerance)
    stats["mip_bound"] = mip_bound
    clock.say("done", 1.0)
    return _result(problem, cand[best_open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   message="" if done else "time limit reached; the bound gives the largest possible gap")

