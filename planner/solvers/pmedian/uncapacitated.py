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
  exact search on the reduced problem: a Lagrangian branch-and-bound on the
  open candidates (:mod:`planner.solvers.pmedian.branch`), and when that stalls
  (or has not finished within a share of the time) an exact MIP (Elloumi's
  radius formulation, SCIP via OR-Tools) warm-started with the best plan.
- :func:`solve_cpmp`: capacitated p-median with single-source assignment:
  heuristic start, Lagrangian bound (fractional knapsack per candidate) and
  reduced-cost fixing, then the classic x/y MIP with disaggregated linking and
  an aggregate-capacity cut (SCIP via OR-Tools).
- :func:`read_orlib_pmed`, :func:`read_orlib_cpmp`: OR-Library instance readers.

Layout: the problem/result classes, readers and shared search machinery live
in :mod:`planner.solvers.pmedian.core`, the capacitated solver in :mod:`planner.solvers.pmedian.capacitated`;
this module holds the uncapacitated solver and re-exports the public names.

Both solvers are deterministic for a given ``seed`` (single-threaded SCIP
with a fixed random seed; the branch-and-bound counts, it does not time) unless
the time limit (or the branch-and-bound's share of it) cuts the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.plans import ProgressFn
from planner.solvers.pmedian.branch import branch_and_bound
from planner.solvers.pmedian.capacitated import solve_cpmp
from planner.solvers.pmedian.core import (
    MipModel,
    PMedianProblem,
    PMedianResult,
    _Clock,
    _closest,
    _greedy,
    _Local,
    _mip_solve,
    _proven,
    _result,
    _round_up,
    _select_p,
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

_MIP_MAX_NONZEROS = 200_000
# share of the time left the B&B gets before SCIP takes over (when the radius model fits SCIP)
_BRANCH_SHARE = 0.6
# ... or as soon as the B&B is stalled after that many nodes (``branch.STALL_CLOSED_SHARE``)
_BRANCH_STALL_NODES = 400
# ... unless by then it has closed at least this share of the gap it started with: it then keeps the time
_BRANCH_KEEP_CLOSED = 0.5
# share of the time left the B&B gets first when the radius model is too large for SCIP: then the reduction is
# redone with its plan (when better), which may bring the model within SCIP's reach
_BRANCH_FIRST_SHARE = 0.3
# seconds per client x candidate element of the reduction and of counting the radius model's levels
# (measured ~25 and ~100 ns on the project's machine, taken twice): neither starts without that time left
_REDUCE_SECONDS_PER_ELEMENT = 5e-8
_LEVELS_SECONDS_PER_ELEMENT = 2e-7
_TIME_LIMIT_MESSAGE = "time limit reached; the bound gives the largest possible gap"
# client x open-column evaluations of the exhaustive search over the reduced candidates (about a second);
# the Lagrangian ascent stops as soon as its reduction would leave no more than that
_ENUMERATE_MAX_WORK = 3e8
# ... when a step is that dear (clients x candidates): on small problems the ascent is cheap and ends with a
# stronger reduction (3,000 x 200: 0.3 s in all, 0.9 s when stopped early and enumerated)
_EARLY_STOP_MIN_ELEMENTS = 1_000_000


# --------------------------------------------------------------------------- uncapacitated


class _Lagrangian:
    """Lagrangian relaxation of the assignment constraints sum_j x_ij >= 1 (multipliers lam >= 0).

    L(lam) = sum_i lam_i + sum_{j open} rho_j,  rho_j = sum_i min(0, W_ij - lam_i),
    with the open set = locked columns + the (p - |locked|) free columns of smallest rho.
    """

    def __init__(self, W: np.ndarray, p: int, locked: np.ndarray) -> None:
        self.W = W
        self.n, self.m = W.shape
        self.p = p
        self.locked = locked
        mask = np.ones(self.m, dtype=bool)
        mask[locked] = False
        self.free = np.flatnonzero(mask)
        self.k = p - locked.size
        # one work array for every step (a fresh n x m array each step cost more in page faults than the
        # arithmetic: 12,920 x 200, 24 ms a step, 8 ms with the buffer)
        self._buf = np.empty_like(W)

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        R = np.subtract(self.W, lam[:, None], out=self._buf)
        np.minimum(R, 0.0, out=R)
        rho = R.sum(axis=0)
        sel = _select_p(rho, self.free, self.k)
        open_ = np.concatenate((self.locked, sel))
        value = float(lam.sum() + rho[open_].sum())
        return value, rho, sel

    def subgradient(self, lam: np.ndarray, open_: np.ndarray) -> np.ndarray:
        return 1.0 - (self.W[:, open_] < lam[:, None]).sum(axis=1)

    def cost(self, open_: np.ndarray) -> float:
        """The plan's value: each client at its closest column of ``open_``."""
        return float(self.W[:, open_].min(axis=1).sum())


@dataclass
class _Plan:
    """The best plan so far (local column indices) and its value, the upper bound."""

    open: np.ndarray
    value: float

    def offer(self, open_: np.ndarray, value: float) -> bool:
        """Take ``open_`` when it is better by more than rounding noise."""
        if value < self.value - 1e-9 * max(1.0, abs(self.value)):
            self.open, self.value = open_, value
            return True
        return False


@dataclass(frozen=True, eq=False)
class _Reduction:
    """What the Lagrangian reduced costs leave: candidates ``F`` (local), fixed open ones, client radii."""

    F: np.ndarray
    fixed_open: np.ndarray  # bool per local column
    radius: np.ndarray  # per client: the largest W worth modelling
    d1_best: np.ndarray  # per client: W to its closest open column in the best plan


def _lagrangian_bound(lo: _Local, lr: _Lagrangian, plan: _Plan, clock: _Clock,
                      gap_tolerance: float) -> tuple[float, np.ndarray, int]:
    """Subgradient ascent on the Lagrangian dual, with the Lagrangian heuristic improving ``plan``.

    Returns the best bound, its multipliers and the iterations run. Stops when
    the bound proves ``plan``, when (on problems where a step is dear,
    ``_EARLY_STOP_MIN_ELEMENTS``) the reduction at the best multipliers would
    leave few enough plans for the exhaustive search (``_ENUMERATE_MAX_WORK``),
    when the step is tiny, or when 30 % of the time left is used.
    """
    W, locked = lo.W, lo.locked
    lam = _closest(W, plan.open)[0].copy()
    best_L, best_lam = -math.inf, lam.copy()
    beta, stall, it = 2.0, 0, 0
    lagr_budget = clock.elapsed() + 0.3 * max(0.0, clock.left())
    seen: set[bytes] = set()
    ls_runs = 0
    while it < 2000:
        it += 1
        L, rho, sel = lr.evaluate(lam)
        if L > best_L + 1e-12 * max(1.0, abs(L)):
            best_L, best_lam, stall = L, lam.copy(), 0
            if lo.n * lo.m >= _EARLY_STOP_MIN_ELEMENTS and \
                    _enumeration_work(lo, *_reduced_size(lo, L, rho, sel, plan.value)) <= _ENUMERATE_MAX_WORK:
                break  # the reduction at these multipliers leaves few enough plans to try them all
        else:
            stall += 1
            if stall >= 25:
                beta *= 0.5
                stall = 0
        if _proven(best_L, plan.value, lo.integral, gap_tolerance) or beta < 1e-5:
            break
        open_ = np.concatenate((locked, sel))
        value = lr.cost(open_)
        key = np.sort(open_).tobytes()
        if key not in seen and (value < plan.value or (it % 50 == 0 and ls_runs < 20)):
            seen.add(key)
            if value < plan.value * (1 + 0.02):
                ls_runs += 1
                if plan.offer(*_swap_search(W, open_, lo.locked_mask, clock)):
                    clock.say(f"Lagrangian heuristic improved the plan to {plan.value:,.6g}")
                    if _proven(best_L, plan.value, lo.integral, gap_tolerance):
                        break
        grad = lr.subgradient(lam, open_)
        norm = float(grad @ grad)
        if norm == 0.0:  # the relaxed solution is a plan: L is optimal for this relaxation
            if value < plan.value:
                plan.open, plan.value = np.sort(open_), value
            break
        ub = plan.value
        lam = np.maximum(lam + beta * max(ub - L, 1e-9 * max(1.0, abs(ub))) / norm * grad, 0.0)
        if clock.elapsed() > lagr_budget:
            break
    return best_L, best_lam, it


def _reduced_size(lo: _Local, L: float, rho: np.ndarray, sel: np.ndarray, ub: float) -> tuple[int, int]:
    """Candidates the reduction of ``_reduce`` would leave at multipliers of value ``L`` (``rho``, ``sel``
    from ``_Lagrangian.evaluate``), and how many of them it would fix open (the locked ones included)."""
    thr = ub + 1e-7 * max(1.0, abs(ub))
    in_sel = np.zeros(lo.m, dtype=bool)
    in_sel[sel] = True
    free_out = np.flatnonzero(~in_sel & ~lo.locked_mask)
    last = rho[sel[-1]] if sel.size else math.inf
    closed = int((L + rho[free_out] - last > thr).sum())
    fixed = int((L - rho[sel] + rho[free_out].min() > thr).sum()) if free_out.size else 0
    return lo.m - closed, lo.locked.size + fixed


def _enumeration_work(lo: _Local, f: int, fixed_open: int) -> float:
    """Client x column evaluations to try every plan of ``f`` candidates, ``fixed_open`` of them open."""
    k = lo.p - fixed_open
    if k < 0 or k > f - fixed_open:
        return math.inf
    return float(math.comb(f - fixed_open, k)) * lo.n * lo.p


def _reduce(lo: _Local, lr: _Lagrangian, best_lam: np.ndarray, plan: _Plan, stats: dict[str, Any]) -> _Reduction:
    """Prune by Lagrangian reduced costs only what cannot be in a plan of cost <= the best plan's."""
    W, m = lo.W, lo.m
    ub = plan.value
    L, rho, sel = lr.evaluate(best_lam)
    thr = ub + 1e-7 * max(1.0, abs(ub))
    in_sel = np.zeros(m, dtype=bool)
    in_sel[sel] = True
    free_out = np.flatnonzero(~in_sel & ~lo.locked_mask)
    last = rho[sel[-1]] if sel.size else math.inf
    first_out = rho[free_out].min() if free_out.size else math.inf
    open_cost = np.full(m, L)  # bound on any plan in which j is open
    open_cost[free_out] = L + rho[free_out] - last
    fixed_closed = open_cost > thr
    fixed_open = lo.locked_mask.copy()
    if free_out.size:
        fixed_open[sel[(L - rho[sel] + first_out) > thr]] = True
    fixed_closed[plan.open] = False  # safety against rounding: the plan stays feasible
    F = np.flatnonzero(~fixed_closed)
    # client i served by j (its closest open) in a plan of cost <= ub only if this bound allows it
    serve = open_cost[F][None, :] + np.maximum(W[:, F] - best_lam[:, None], 0.0)
    ok = serve <= thr
    WF = W[:, F]
    R = np.where(ok, WF, -np.inf).max(axis=1)
    fo = np.flatnonzero(fixed_open[F])
    if fo.size:
        R = np.minimum(R, WF[:, fo].min(axis=1))
    d1_best = _closest(W, plan.open)[0]
    R = np.maximum(R, d1_best)
    stats["fixed_closed"] = int(fixed_closed.sum())
    stats["fixed_open"] = int(fixed_open.sum() - lo.locked.size)
    return _Reduction(F, fixed_open, R, d1_best)


@dataclass(frozen=True, eq=False)
class _Levels:
    """Each client's distinct costs up to its radius (``_radius_model``), as arrays over the clients.

    ``mask``: the client x candidate pairs modelled; ``level``: the rank of each pair's cost among its
    client's distinct costs; ``count``: distinct costs per client (``K``); ``values``: the distinct
    costs, client after client, ascending; ``first``: each client's smallest cost; ``skip``: clients
    every candidate serves at the same cost (nothing to model).
    """

    mask: np.ndarray
    level: np.ndarray
    count: np.ndarray
    values: np.ndarray
    first: np.ndarray
    skip: np.ndarray

    @staticmethod
    def of(WF: np.ndarray, radius: np.ndarray) -> _Levels:
        mask = WF <= radius[:, None]
        S = np.where(mask, WF, np.inf)
        order = np.argsort(S, axis=1, kind="stable")
        ss = np.take_along_axis(S, order, axis=1)
        new = np.isfinite(ss)
        new[:, 1:] &= ss[:, 1:] != ss[:, :-1]
        rank = np.cumsum(new, axis=1) - 1
        level = np.empty_like(rank)
        np.put_along_axis(level, order, rank, axis=1)
        count = new.sum(axis=1)
        return _Levels(mask, level, count, ss[new], ss[:, 0], (count == 1) & mask.all(axis=1))

    def nonzeros(self, f: int) -> int:
        """Nonzeros of the radius model: the cardinality row, one per pair, two per z variable."""
        kept = ~self.skip
        return int(f + self.mask[kept].sum() + 2 * (self.count[kept] - 1).sum())


def _radius_model(lo: _Local, red: _Reduction, best_open: np.ndarray,
                  lev: _Levels | None = None) -> tuple[MipModel, float, dict[int, float]]:
    """Elloumi's radius formulation on the reduced problem: the model, its constant and the plan as a hint.

    Variables: ``y_j`` (j in F), then per client ``i`` with cost levels
    ``l_1 < ... < l_K`` (up to its radius) ``z_ik = 1`` when ``i`` pays more
    than ``l_k``: ``z_i1 + sum_{j: W_ij <= l_1} y_j >= 1``, ``z_ik + sum_{j: W_ij
    = l_k} y_j >= z_i(k-1)``; objective ``sum_i l_1 + sum_k (l_(k+1) - l_k) z_ik``.
    Built with array operations (client after client, the same rows and columns in the same order).
    """
    from scipy.sparse import coo_matrix

    F, p = red.F, lo.p
    f = F.size
    lev = lev or _Levels.of(lo.W[:, F], red.radius)
    offset = 0.0
    for v in lev.first.tolist():  # summed one by one, in client order
        offset += v
    kept = ~lev.skip
    K = np.where(kept, lev.count, 0)
    r0 = 1 + np.concatenate(([0], np.cumsum(K)[:-1]))  # first row of each client
    z0 = f + np.concatenate(([0], np.cumsum(np.maximum(K - 1, 0))[:-1]))  # first z of each client
    xi, xj = np.nonzero(lev.mask & kept[:, None])
    zc = np.repeat(np.arange(lo.n), np.maximum(K - 1, 0))  # the client of each z
    zk = np.arange(zc.size) - np.repeat(z0 - f, np.maximum(K - 1, 0))  # its level k
    client = np.concatenate((xi, zc, zc))
    rows = np.concatenate((r0[xi] + lev.level[xi, xj], r0[zc] + zk, r0[zc] + zk + 1))
    cols = np.concatenate((xj, z0[zc] + zk, z0[zc] + zk))
    vals = np.concatenate((np.ones(xi.size), np.ones(zc.size), -np.ones(zc.size)))
    o = np.argsort(client, kind="stable")  # client after client: its pairs, then z (+1), then z (-1)
    n_rows, n_vars = 1 + int(K.sum()), f + zc.size
    A = coo_matrix((np.concatenate((np.ones(f), vals[o])),
                    (np.concatenate((np.zeros(f, dtype=np.int64), rows[o])), np.concatenate((np.arange(f), cols[o])))),
                   shape=(n_rows, n_vars)).tocsr()
    row_lb = np.zeros(n_rows)
    row_lb[0] = float(p)
    row_lb[r0[kept]] = 1.0
    rub = np.full(n_rows, np.inf)
    rub[0] = float(p)
    vstart = np.concatenate(([0], np.cumsum(lev.count)))  # each client's distinct costs in ``values``
    at = vstart[zc] + zk
    zobj = lev.values[at + 1] - lev.values[at]
    d1 = red.d1_best[zc]
    zhint = (lev.values[at] < d1 - 1e-12 * np.maximum(1.0, d1)).astype(float)
    lb = np.zeros(n_vars)
    lb[:f][red.fixed_open[F]] = 1.0
    # z integral too: z = max(0, 1 - sum y) is 0/1 anyway, and SCIP then knows the objective is integral
    model = MipModel(lb=lb, ub=np.ones(n_vars), obj=np.concatenate((np.zeros(f), zobj)),
                     integer=np.ones(n_vars, dtype=bool), row_lb=row_lb, row_ub=rub, A=A)
    posF = np.full(lo.m, -1, dtype=np.int64)
    posF[F] = np.arange(f)
    yh = np.zeros(f)
    yh[posF[best_open]] = 1.0
    return model, offset, dict(enumerate(np.concatenate((yh, zhint)).tolist()))


def _radius_params(integral: bool, gap_tolerance: float) -> str:
    # general-purpose cuts do not pay on this formulation (measured: pmed6 7 s -> 2.5 s without them)
    params = "separating/maxrounds = 0\nseparating/maxroundsroot = 0\n"
    if integral:
        params += "limits/absgap = 0.999\n"
    if gap_tolerance > 0:
        params += f"limits/gap = {gap_tolerance:g}\n"
    return params


def _exact_search(problem: PMedianProblem, lo: _Local, red: _Reduction, plan: _Plan, bound: float,
                  clock: _Clock, stats: dict[str, Any], seed: int, gap_tolerance: float,
                  lam: np.ndarray, lr: _Lagrangian) -> PMedianResult:
    """Step 4: exhaustive search when the reduction leaves few plans; else the Lagrangian
    branch-and-bound (:mod:`planner.solvers.pmedian.branch`) warm-started at the multipliers ``lam``,
    then, when it has not finished within ``_BRANCH_SHARE`` of the time left, SCIP on the radius
    formulation with the rest, the B&B's plan as its hint (when the model is too large for SCIP, the
    B&B gets all the time; when the B&B improved the plan, the reduction is redone with it first, for a
    smaller model). The model's size is counted before it is built; SCIP gets the time left less the
    margin and its estimated set-up (``_Clock.solver_time``).
    """
    f = red.F.size
    if _enumeration_work(lo, f, int(red.fixed_open[red.F].sum())) <= _ENUMERATE_MAX_WORK:
        return _enumerated(problem, lo, red, plan, bound, clock, stats)
    lev, nnz = _levels(lo, red, clock, stats)
    if lev is None:
        stats["mip_status"] = "skipped: no time left to build the model"
    elif nnz > _MIP_MAX_NONZEROS:
        # too large for SCIP's simplex within the time (measured: n = 900, p = 5, 296k nonzeros, root LP
        # unsolved after 60 s)
        stats["mip_status"] = "skipped: reduced model too large"
    scip_ok = lev is not None and nnz <= _MIP_MAX_NONZEROS
    solver = "greedy+swap+lagrangian+branch-and-bound"
    bound, done, red, scip_lev = _tree(lo, lr, red, plan, bound, lam, clock, stats, gap_tolerance,
                                       (lev, nnz) if lev is not None and scip_ok else None)
    if done or scip_lev is None:
        clock.say("done", 1.0)
        return _result(problem, lo.cand[plan.open], "optimal" if done else "feasible", bound, clock, solver,
                       stats, message="" if done else _TIME_LIMIT_MESSAGE)
    (lev, nnz), f = scip_lev, red.F.size
    left = clock.solver_time(nnz)
    if left > 0.05:
        model, offset, hint = _radius_model(lo, red, plan.open, lev)
        left = clock.solver_time(nnz)
    if left <= 0.05:
        return _result(problem, lo.cand[plan.open], "feasible", bound, clock, solver, stats,
                       message="time limit reached before the exact search")
    clock.say(f"exact search: {f} candidates, {stats['mip_variables']} variables, {nnz} nonzeros")
    out = _mip_solve(model, hint=hint, time_limit=left, seed=seed, params=_radius_params(lo.integral, gap_tolerance),
                     obj_offset=offset)
    stats["mip_status"] = out.status
    stats["mip_seconds"] = round(out.seconds, 3)
    if out.x is not None:
        y_open = red.F[np.flatnonzero(out.x[:f] > 0.5)]
        if y_open.size == lo.p:
            plan.offer(np.sort(y_open), float(_closest(lo.W, y_open)[0].sum()))
    ub = plan.value
    if out.status == "OPTIMAL":
        bound = max(bound, out.bound if out.bound is not None else -math.inf,
                    out.objective if out.objective is not None else -math.inf)
        bound = min(bound, ub)
    elif out.status == "INFEASIBLE":
        bound = ub  # nothing in the reduced problem beats ub (it holds the plan itself)
    elif out.bound is not None:
        bound = max(bound, out.bound)
    if lo.integral and math.isfinite(bound):
        bound = _round_up(bound)
    bound = min(bound, ub)
    done = out.status in ("OPTIMAL", "INFEASIBLE") or _proven(bound, ub, lo.integral, gap_tolerance)
    stats["mip_bound"] = out.bound
    clock.say("done", 1.0)
    return _result(problem, lo.cand[plan.open], "optimal" if done else "feasible", bound, clock,
                   solver + "+SCIP(radius)", stats, message="" if done else _TIME_LIMIT_MESSAGE)


def _levels(lo: _Local, red: _Reduction, clock: _Clock, stats: dict[str, Any]) -> tuple[_Levels | None, int]:
    """The radius model's levels and nonzeros (recorded in ``stats``); None when there is no time to count."""
    f = red.F.size
    if clock.left() <= _LEVELS_SECONDS_PER_ELEMENT * lo.n * f:
        return None, 0
    lev = _Levels.of(lo.W[:, red.F], red.radius)
    nnz = lev.nonzeros(f)
    K = np.where(lev.skip, 0, lev.count)
    stats["mip_candidates"] = int(f)
    stats["mip_variables"] = int(f + np.maximum(K - 1, 0).sum())
    stats["mip_rows"] = int(1 + K.sum())
    stats["mip_nonzeros"] = int(nnz)
    return lev, nnz


def _tree(lo: _Local, lr: _Lagrangian, red: _Reduction, plan: _Plan, bound: float, lam: np.ndarray,
          clock: _Clock, stats: dict[str, Any], gap_tolerance: float, scip: tuple[_Levels, int] | None
          ) -> tuple[float, bool, _Reduction, tuple[_Levels, int] | None]:
    """The branch-and-bound phase of the exact search. ``scip``: the radius model's levels and nonzeros when
    it fits SCIP. Returns (bound, proven, the reduction to go on with, its model's levels and nonzeros when
    SCIP gets the rest, else None).

    The tree first gets ``_BRANCH_SHARE`` of the time left when the radius model fits SCIP (stopping early
    when stalled), else ``_BRANCH_FIRST_SHARE``. Unfinished: a tree that closed at least
    ``_BRANCH_KEEP_CLOSED`` of its gap keeps all the time (measured: a p = 10 file 76 % closed when the stall
    rule stopped it, proven by the tree alone in 6 s where SCIP on its 121 k-nonzero model moved nothing in
    17 s); else, when it improved the plan, the reduction is redone with it (a far smaller model: 73 k -> 14 k
    nonzeros on a p = 50 file, 341 k -> ... on a p = 70 one) and SCIP gets the rest if the model fits it;
    otherwise the tree goes on with the rest of the time."""
    before, root = plan.value, bound
    share = _BRANCH_SHARE if scip is not None else _BRANCH_FIRST_SHARE
    bound, done = _branched(lo, red, plan, bound, lam, clock, stats, gap_tolerance, share * clock.left(),
                            scip is not None)
    if done:
        return bound, True, red, None
    if scip is not None and bound - root >= _BRANCH_KEEP_CLOSED * (before - root):
        scip = None
    elif plan.value < before and \
            clock.left() > (_REDUCE_SECONDS_PER_ELEMENT + _LEVELS_SECONDS_PER_ELEMENT) * lo.n * lo.m:
        red = _reduce(lo, lr, lam, plan, stats)  # the better plan prunes more
        lev, nnz = _levels(lo, red, clock, stats)
        if lev is not None and nnz <= _MIP_MAX_NONZEROS:
            return bound, False, red, (lev, nnz)
        scip = None
    if scip is not None:
        return bound, False, red, scip
    bound2, done = _branched(lo, red, plan, bound, lam, clock, stats, gap_tolerance, math.inf, False)
    return max(bound, bound2), done, red, None


def _branched(lo: _Local, red: _Reduction, plan: _Plan, bound: float, lam: np.ndarray, clock: _Clock,
              stats: dict[str, Any], gap_tolerance: float, budget: float, stall: bool) -> tuple[float, bool]:
    """The Lagrangian branch-and-bound on the reduced candidates for at most ``budget`` seconds (valid:
    the reduction only drops what no plan better than the incumbent uses, the radii only what such a
    plan cannot pay). Improves ``plan``; returns the bound (rounded up with integral costs) and whether
    the plan is proven."""
    clock.say(f"branch-and-bound: {red.F.size} candidates")
    out = branch_and_bound(lo.W, lo.p, red.F, red.fixed_open, red.radius, lo.locked_mask, plan.open, plan.value,
                           lam, bound, clock, integral=lo.integral, gap_tolerance=gap_tolerance, time_budget=budget,
                           stall_nodes=_BRANCH_STALL_NODES if stall else None)
    stats.update(out.stats)
    plan.offer(out.open, float(_closest(lo.W, out.open)[0].sum()))
    if out.proven and gap_tolerance <= 0:
        return plan.value, True
    bound = max(bound, out.bound)
    if lo.integral and math.isfinite(bound):
        bound = _round_up(bound)
    bound = min(bound, plan.value)
    return bound, out.proven or _proven(bound, plan.value, lo.integral, gap_tolerance)


def _enumerated(problem: PMedianProblem, lo: _Local, red: _Reduction, plan: _Plan, bound: float, clock: _Clock,
                stats: dict[str, Any]) -> PMedianResult:
    """Step 4 when the reduction leaves few plans: every plan of the candidates ``F`` with the fixed ones open,
    in batches (an optimal plan is among them: the reduction only drops what no plan <= the best one
    uses). Stopped by the time limit, the best plan tried so far is kept, not proven."""
    from itertools import combinations, islice

    F = red.F
    fo, rest = F[red.fixed_open[F]], F[~red.fixed_open[F]]
    k = lo.p - fo.size
    base = lo.W[:, fo].min(axis=1) if fo.size else np.full(lo.n, np.inf)
    WT = np.ascontiguousarray(lo.W[:, rest].T)
    batch = max(1, 2_000_000 // max(1, k * lo.n))
    combos = combinations(range(rest.size), k)
    best_val, best_open, tried, done = math.inf, plan.open, 0, True
    clock.say(f"exhaustive search: {math.comb(rest.size, k):,} plans of {F.size} candidates")
    while True:
        chunk = np.array(list(islice(combos, batch)), dtype=np.int64)
        if not len(chunk):
            break
        chunk = chunk.reshape(len(chunk), k)
        vals = np.minimum(base[None, :], WT[chunk].min(axis=1)).sum(axis=1) if k else np.array([base.sum()])
        tried += len(chunk)
        j = int(np.argmin(vals))
        if vals[j] < best_val:
            best_val, best_open = float(vals[j]), np.sort(np.concatenate((fo, rest[chunk[j]])))
        if clock.left() <= 0:
            done = False
            break
    plan.offer(best_open, float(_closest(lo.W, best_open)[0].sum()))
    stats["enumerated_plans"] = tried
    if done:
        bound = plan.value
    elif lo.integral:
        bound = _round_up(bound)
    clock.say("done", 1.0)
    return _result(problem, lo.cand[plan.open], "optimal" if done else "feasible", min(bound, plan.value), clock,
                   "greedy+swap+lagrangian+enumeration", stats, message="" if done else _TIME_LIMIT_MESSAGE)


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
    Lagrangian reduced costs), then on the reduced problem either every plan
    (when few are left) or a Lagrangian branch-and-bound on the open
    candidates (reduced-cost fixing at every node, best bound first;
    :mod:`planner.solvers.pmedian.branch`); when the tree stalls (fewer than
    10 % of 400 nodes closed) or has not finished within ``_BRANCH_SHARE`` of
    the time left, SCIP on the reduced radius formulation (Elloumi 2010)
    warm-started with the best plan takes the rest of the time (a model too
    large for SCIP leaves all of it to the branch-and-bound). The search stops as soon as
    the bound proves the plan optimal (with integer costs: ``ceil(bound) >=
    objective``), when the relative gap is at most ``gap_tolerance``, or at
    ``time_limit_s`` (total wall time, heuristics included).

    Time limit: ``time_limit_s`` is wall time from the call to the result.
    The swap search stops at it (no swap starts with less time left than the
    longest one took); the Lagrangian bound takes at most 30 % of what is
    left; the reduction and the model are not started without the time they
    need (estimated per client x candidate); no branch-and-bound node starts
    with less time left than the slowest one took; SCIP gets the rest less a
    margin and its estimated set-up (``SETUP_SECONDS_PER_NONZERO`` per nonzero).

    Status: ``optimal`` (proven), ``feasible`` (stopped by the time limit:
    the report's ``bound`` and ``gap`` say how far from optimal at most).
    There is always a plan: bad settings (p larger than the allowed
    candidates, more locked than p, ...) are rejected earlier by
    :class:`PMedianProblem` with an ``InputError`` naming the field.
    ``progress(fraction, message)`` is called between stages.
    """
    clock = _Clock(time_limit_s, progress)
    lo = _Local.of(problem)
    W, p, m = lo.W, lo.p, lo.m
    stats: dict[str, Any] = {"n_clients": lo.n, "n_candidates": m, "p": p, "integral_costs": lo.integral}
    if p >= m or p == lo.locked.size:
        chosen = np.arange(m) if p >= m else lo.locked
        clock.say("nothing to choose: every allowed candidate is open" if p >= m else "all p candidates are locked",
                  1.0)
        value = float(_closest(W, chosen)[0].sum())
        return _result(problem, lo.cand[chosen], "optimal", value, clock, "direct", stats)

    # 1. upper bound: greedy + vertex substitution
    clock.say("greedy start")
    g = _greedy(W, p, lo.locked)
    stats["greedy"] = float(_closest(W, g)[0].sum())
    clock.say("vertex substitution")
    plan = _Plan(*_swap_search(W, g, lo.locked_mask, clock))
    stats["heuristic"] = plan.value
    stats["swap_seconds"] = round(clock.elapsed(), 3)

    # 2. Lagrangian relaxation: lower bound, Lagrangian heuristic
    clock.say(f"Lagrangian bound (plan {plan.value:,.6g})")
    lr = _Lagrangian(W, p, lo.locked)
    bound, best_lam, iterations = _lagrangian_bound(lo, lr, plan, clock, gap_tolerance)
    stats["lagrangian_bound"] = bound
    stats["lagrangian_iterations"] = iterations
    stats["lagrangian_seconds"] = round(clock.elapsed(), 3)
    stats["upper_bound_before_mip"] = plan.value
    if _proven(bound, plan.value, lo.integral, gap_tolerance):
        if lo.integral:
            bound = max(bound, _round_up(bound))
        clock.say("proven optimal by the Lagrangian bound", 1.0)
        return _result(problem, lo.cand[plan.open], "optimal", min(bound, plan.value), clock,
                       "greedy+swap+lagrangian", stats)

    # 3. reduction by Lagrangian reduced costs, 4. exact search on the reduced radius formulation
    return _reduce_and_search(problem, lo, lr, best_lam, plan, bound, clock, stats, seed, gap_tolerance)


def _reduce_and_search(problem: PMedianProblem, lo: _Local, lr: _Lagrangian, best_lam: np.ndarray, plan: _Plan,
                       bound: float, clock: _Clock, stats: dict[str, Any], seed: int,
                       gap_tolerance: float) -> PMedianResult:
    """Steps 3-4: the reduction, then the exact search; neither starts without the time the reduction
    needs (``_REDUCE_SECONDS_PER_ELEMENT`` per client x candidate): the plan and bound so far then."""
    if clock.left() <= _REDUCE_SECONDS_PER_ELEMENT * lo.n * lo.m:
        if lo.integral:
            bound = _round_up(bound)
        return _result(problem, lo.cand[plan.open], "feasible", min(bound, plan.value), clock,
                       "greedy+swap+lagrangian", stats, message=_TIME_LIMIT_MESSAGE)
    clock.say(f"reduction (bound {bound:,.6g}, plan {plan.value:,.6g})")
    red = _reduce(lo, lr, best_lam, plan, stats)
    return _exact_search(problem, lo, red, plan, bound, clock, stats, seed, gap_tolerance, best_lam, lr)
