"""The capacitated p-median (CPMP) with single-source assignment: :func:`solve_cpmp`.

A heuristic start (uncapacitated swap search, regret-greedy assignment within
capacity, shift/swap descent), a Lagrangian bound (assignment rows relaxed: a
fractional knapsack per candidate) whose reduced costs drop pairs and
candidates; with whole-number demands the stronger 0-1 knapsack Lagrangian of
:mod:`planner.solvers.pmedian.knapsack_bound` from its multipliers (each set of
bases it opens tried as a heuristic start), then an iterated swap search over
the open set (``_swap_ils``) and fixing by its reduced costs too; then, when
the knapsack Lagrangian ran (whole-number demands), there are no minimum
loads and its compiled kernels are there (numba), the branch and bound of :mod:`planner.solvers.pmedian.cpmp_branch` on
what is left (the knapsack bound at every node); otherwise the classic x/y
MIP with disaggregated linking, an aggregate-capacity cut and the knapsack
Lagrangian's cuts ``sum_i (W_ij - lam_i) x_ij >= rho_j y_j`` (its bound at the
root), solved by SCIP through OR-Tools (on small models the LP relaxation's
reduced costs drop more first). Problem, result and shared
machinery come from :mod:`planner.solvers.pmedian.core`; :mod:`planner.solvers.pmedian`
re-exports :func:`solve_cpmp`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.errors import InputError
from planner.plans import ProgressFn
from planner.solvers.pmedian import cpmp_branch as cb, knapsack_bound as kb
from planner.solvers.pmedian.core import (
    SETUP_SECONDS_PER_NONZERO,
    MipModel,
    MipOutcome,
    PMedianProblem,
    PMedianResult,
    _Clock,
    _greedy,
    _Local,
    _mip_solve,
    _proven,
    _result,
    _round_up,
    _select_p,
    _swap_search,
)

__all__ = ["solve_cpmp"]

_TIME_LIMIT_MESSAGE = "time limit reached; the bound gives the largest possible gap"
_SWAP_BLOCK = 4_000_000  # client pairs one swap step of the assignment descent evaluates per column at most
_LP_MAX_NONZEROS = 200_000  # GLOP: measured unsolved after 30 s at 150k nonzeros (3,000 x 248, demo)
_MIP_MAX_NONZEROS = 3_000_000  # SCIP: ~10 s just to load and presolve 3.7M nonzeros (measured)
_MIN_MIP_SECONDS = 0.05
_FIX_SECONDS_PER_PAIR = 1e-7  # Lagrangian fixing: measured ~40 ns per client x candidate pair
_NO_PAIR = 1e18  # the cost of a pair ruled out, in the knapsack tables
_KNAPSACK_STARTS = 60  # open sets of the knapsack Lagrangian tried as heuristic starts at most
_ILS_IDLE_KICKS = 25  # kicks without a better plan before the swap search stops (it found 996 of n100_7 after ~10)
_ILS_MAX_SECONDS = 5.0  # the swap search's time at most (at a 60 s limit it otherwise took 11 s on p16, proven anyway)
_COMPILE_MIN_LIMIT = 60.0  # time limit (s) from which the knapsack kernels may be compiled in the solve (~8-13 s once)
_ILS_NEAR = 8  # candidates per open column in the swap search: the closest to its clients, the least rho


# --------------------------------------------------------------------------- capacitated


@dataclass(eq=False)
class _Cpmp:
    """One capacitated solve: the problem on its allowed candidates, demands and limits, shared state."""

    problem: PMedianProblem
    lo: _Local
    d: np.ndarray  # demand per client
    Q: np.ndarray  # capacity per local column
    ml: np.ndarray | None  # minimum load per local column
    clock: _Clock
    seed: int
    gap_tolerance: float
    stats: dict[str, Any]
    # what the root leaves for the branch and bound: pairs (clients, columns), columns closed / opened, the
    # knapsack Lagrangian's multipliers (set by ``_bound_and_fix`` when it ran)
    branch_input: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @staticmethod
    def of(problem: PMedianProblem, capacity: np.ndarray, clock: _Clock, seed: int, gap_tolerance: float) -> _Cpmp:
        lo = _Local.of(problem)
        min_load = problem.min_loads
        stats: dict[str, Any] = {"n_clients": lo.n, "n_candidates": lo.m, "p": lo.p,
                                 "integral_costs": lo.integral, "proven_infeasible": False}
        return _Cpmp(problem, lo, np.asarray(problem.demands, dtype=np.float64),
                     np.asarray(capacity, dtype=np.float64)[lo.cand],
                     None if min_load is None else np.asarray(min_load, dtype=np.float64)[lo.cand],
                     clock, seed, gap_tolerance, stats)

    @property
    def free(self) -> np.ndarray:
        """Local columns that are not locked."""
        return np.flatnonzero(~self.lo.locked_mask)

    @property
    def k(self) -> int:
        """Columns to open besides the locked ones."""
        return self.lo.p - self.lo.locked.size

    def largest_capacities(self) -> np.ndarray:
        """The locked columns plus the free ones of largest capacity, sorted."""
        free = self.free
        return np.sort(np.concatenate((self.lo.locked, free[np.argsort(-self.Q[free], kind="stable")[:self.k]])))


@dataclass(eq=False)
class _Incumbent:
    """The best plan so far in local columns: open columns, column per client, value (inf: none yet)."""

    open: np.ndarray | None = None
    assign: np.ndarray | None = None
    value: float = math.inf


@dataclass(frozen=True, eq=False)
class _CpmpModel:
    """The x/y MIP and its pairs: variable ``t < K`` is x for client ``pi[t]`` and column ``pj[t]``."""

    mip: MipModel
    pi: np.ndarray
    pj: np.ndarray
    closed: np.ndarray | None = None  # local columns fixed closed (y_j <= 0)
    opened: np.ndarray | None = None  # local columns fixed open (y_j >= 1)
    cuts: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # Lagrangian cuts (lam, rho): see ``_cpmp_model``

    @property
    def K(self) -> int:
        return int(self.pi.size)

    def read(self, x: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """(column per client, -1 if none; open columns) of the values ``x``."""
        xs = x[:self.K] > 0.5
        a = np.full(n, -1, dtype=np.int64)
        a[self.pi[xs]] = self.pj[xs]
        return a, np.flatnonzero(x[self.K:self.K + m] > 0.5)


@dataclass(frozen=True, eq=False)
class _LpFixing:
    """The LP relaxation of the full model: value, values and reduced costs (for fixing by reduced cost)."""

    value: float
    x: np.ndarray
    reduced_costs: np.ndarray


class _Rows:
    """Sparse constraint rows built block by block: (row, column, value) triplets and each row's bounds."""

    def __init__(self) -> None:
        self.R: list[np.ndarray] = []
        self.C: list[np.ndarray] = []
        self.V: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.r = 0  # rows closed so far

    def coef(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        self.R.append(rows)
        self.C.append(cols)
        self.V.append(vals)

    def close(self, lo: np.ndarray | list[float], hi: np.ndarray | list[float]) -> None:
        """Bounds of the next ``len(lo)`` rows (whose coefficients were given since the last close)."""
        self.lo.append(np.asarray(lo, float))
        self.hi.append(np.asarray(hi, float))
        self.r += len(lo)


def _regret_greedy(sub: np.ndarray, d: np.ndarray, cap: np.ndarray, eps: float) -> np.ndarray | None:
    """Regret greedy: repeatedly the client with the largest regret (then the largest demand, then the
    lowest index) to its cheapest column with room; None when a client fits nowhere.

    Regrets change only when a column's room falls below the demand of a client that fitted it, so
    the order is computed once and followed until that happens (the same plan as recomputing it after
    every client, without the quadratic cost).
    """
    n = sub.shape[0]
    assign = np.full(n, -1, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    big = float(sub.max(initial=0.0)) * 4 + 1.0
    while todo.any():
        idx = np.flatnonzero(todo)
        fits = d[idx, None] <= cap[None, :] + eps
        costs = np.where(fits, sub[idx], np.inf)
        if not np.isfinite(costs.min(axis=1)).all():
            return None
        if costs.shape[1] >= 2:
            two = np.partition(costs, 1, axis=1)[:, :2]
            regret = np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], big)
        else:
            regret = np.full(idx.size, big)
        column = np.argmin(costs, axis=1)
        widest = np.where(fits, d[idx, None], -np.inf).max(axis=0)  # largest demand that fits each column
        for k in np.lexsort((-d[idx], -regret)):  # largest regret, then largest demand
            i, j = idx[k], int(column[k])
            assign[i] = j
            cap[j] -= d[i]
            todo[i] = False
            if widest[j] > cap[j] + eps:  # a client may no longer fit j: recompute
                break
    return assign


def _swap_move(sub: np.ndarray, d: np.ndarray, assign: np.ndarray, cur: np.ndarray, load: np.ndarray,
               room: np.ndarray, ml_open: np.ndarray | None, eps: float) -> tuple[int, int] | None:
    """The best exchange of two clients between open columns (saving > 0, within capacity and minimum
    loads), or None. Blocks above ``_SWAP_BLOCK`` pairs look at the costliest clients of the column only."""
    best, best_pair = 1e-9, None
    for a in range(sub.shape[1]):
        ia = np.flatnonzero(assign == a)
        if ia.size == 0:
            continue
        ib = np.flatnonzero(assign != a)
        if ib.size == 0:
            continue
        if ia.size * ib.size > _SWAP_BLOCK:
            ia = ia[np.argsort(-cur[ia], kind="stable")[:max(1, _SWAP_BLOCK // ib.size)]]
        b = assign[ib]
        save = cur[ia][:, None] + cur[ib][None, :] - sub[ia][:, b] - sub[ib, a][None, :]
        dd = d[ia][:, None] - d[ib][None, :]  # load moving from a to b
        feas = (dd <= room[b][None, :] + eps) & (-dd <= room[a] + eps)
        if ml_open is not None:
            feas &= (load[a] - dd >= ml_open[a] - eps) & (load[b][None, :] + dd >= ml_open[b][None, :] - eps)
        save = np.where(feas, save, -np.inf)
        k = int(np.argmax(save))
        if save.flat[k] > best:
            best, best_pair = save.flat[k], (int(ia[k // ib.size]), int(ib[k % ib.size]))
    return best_pair


_GAP_STEPS = 120  # subgradient steps of the assignment's knapsack Lagrangian (``_lagrangian_start``; measured on
# n100_0's optimal open set: 30 steps 1021, 60 steps 1001, 120 steps 997 = optimal, ~3.5 ms; the greedy: 1054)
_GAP_MAX_CELLS = 400_000  # clients x open columns x (capacity + 1) at most for it (n = 100, p = 10: 121,000)


def _lagrangian_start(sub: np.ndarray, d: np.ndarray, Q: np.ndarray, greedy: np.ndarray | None, cutoff: float
                      ) -> tuple[np.ndarray | None, bool]:
    """A start for the assignment to the open columns of ``sub`` (clients x open) from its knapsack Lagrangian
    (assignment rows relaxed, one 0-1 knapsack per column; a short ascent in the compiled kernel, stopped when
    it shows that no assignment beats ``min(greedy, cutoff)``): each client to the cheapest knapsack that took
    it, the rest to the cheapest column with room, largest demand first. Returns (the start when it is
    cheaper than ``greedy``, else None; False when the Lagrangian bound shows that no assignment beats
    ``cutoff``). Nothing is computed without the compiled kernels, with demands or capacities not whole
    numbers, with fewer than two columns or tables over ``_GAP_MAX_CELLS``: (None, True)."""
    n, m = sub.shape
    kk = kb.kernels()
    data = kb.integer_data(d, Q) if kk is not None and m >= 2 else None
    if kk is None or data is None or n * m * (int(data[1].max()) + 1) > _GAP_MAX_CELLS:
        return None, True
    di, qi = data
    rows = np.arange(n)
    g_val = float(sub[rows, greedy].sum()) if greedy is not None else math.inf
    ub = min(g_val, cutoff)
    integral = bool(np.all(sub == np.round(sub)))
    lam0 = np.partition(sub, 1, axis=1)[:, 1]
    ones = np.ones(m, dtype=bool)
    r = kk.nb_ascent(np.ascontiguousarray(sub.T), di, qi, ones, ones.copy(), 0, lam0, np.ones(n, dtype=bool), 0.0,
                     2.0, _GAP_STEPS, 6, _GAP_STEPS, ub, integral, 0.0)
    lb = float(r[0])
    slack = 1.0 - 1e-6 * max(1.0, abs(lb)) if integral else 1e-9 * max(1.0, abs(lb))
    if lb > cutoff - slack:  # no assignment beats the cutoff (integral costs: by a whole unit)
        return None, False
    if lb > g_val - slack:  # nothing beats the greedy
        return None, True
    chosen, x = r[3], r[4]
    cost = np.where(x, sub[:, chosen].T, np.inf)
    a = np.where(np.isfinite(cost.min(axis=0)), chosen[np.argmin(cost, axis=0)], -1)
    room = qi - np.bincount(a[a >= 0], weights=di[a >= 0], minlength=m)
    for i in np.flatnonzero(a < 0)[np.argsort(-di[a < 0], kind="stable")]:
        c = np.where(room >= di[i], sub[i], np.inf)
        k = int(np.argmin(c))
        if not np.isfinite(c[k]):
            return None, True
        a[i] = k
        room[k] -= di[i]
    return (a if float(sub[rows, a].sum()) < g_val else None), True


def _gap_assign(W: np.ndarray, d: np.ndarray, Q: np.ndarray, open_: np.ndarray,
                ml: np.ndarray | None = None, deadline: float = math.inf,
                start: np.ndarray | None = None, cutoff: float = math.inf) -> np.ndarray | None:
    """Single-source assignment of every client to an open column within capacity (regret greedy, or
    ``start``: a feasible position in ``open_`` per client, + shift/swap descent, stopped at ``deadline``).
    Without ``start`` and minimum loads, the start of the assignment's knapsack Lagrangian replaces the
    greedy when it is cheaper (``_lagrangian_start``). Returns column per client, or None if the greedy gets
    stuck, the minimum loads do not hold, or that Lagrangian's bound shows no assignment below ``cutoff``."""
    n = W.shape[0]
    sub = W[:, open_]
    eps = 1e-9 * max(1.0, float(Q.max(initial=1.0)))
    greedy = _regret_greedy(sub, d, Q[open_].astype(np.float64).copy(), eps) if start is None else start.copy()
    if start is None and ml is None:  # the knapsack Lagrangian's start when it is the cheaper one
        lag, beats = _lagrangian_start(sub, d, Q[open_], greedy, cutoff)
        if not beats:
            return None  # no assignment beats the cutoff
        if lag is not None:
            greedy = lag
    if greedy is None:
        return None
    assign = greedy
    # descent: shift one client, or swap two clients between columns
    load = np.bincount(assign, weights=d, minlength=open_.size)
    Qo = Q[open_]
    ml_open = None if ml is None else ml[open_]
    rows = np.arange(n)
    for _ in range(50 * n):
        if time.perf_counter() > deadline:
            break
        cur = sub[rows, assign]
        room = Qo - load
        gain = cur[:, None] - sub  # saving when moving i to column k
        ok = (d[:, None] <= room[None, :] + eps) & (gain > 1e-9)
        if ml_open is not None:  # the column left behind must keep its minimum load
            ok &= (load[assign] - d >= ml_open[assign] - eps)[:, None]
        if ok.any():
            g = np.where(ok, gain, -np.inf)
            k = int(np.argmax(g))
            i, j = divmod(k, open_.size)
            load[assign[i]] -= d[i]
            load[j] += d[i]
            assign[i] = j
            continue
        pair = _swap_move(sub, d, assign, cur, load, room, ml_open, eps)
        if pair is None:
            break
        i, k = pair
        a, b = assign[i], assign[k]
        load[a] += d[k] - d[i]
        load[b] += d[i] - d[k]
        assign[i], assign[k] = b, a
    if ml_open is not None and (load < ml_open - eps).any():
        return None
    return open_[assign]


def _improve_locations(ctx: _Cpmp, o: np.ndarray, a: np.ndarray, val: float,
                       budget: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Location-allocation: move each base to the best spot for its clients, reassign, repeat."""
    W, d, Q, ml, locked_mask = ctx.lo.W, ctx.d, ctx.Q, ctx.ml, ctx.lo.locked_mask
    m = W.shape[1]
    rows = np.arange(W.shape[0])
    for _ in range(20):
        if ctx.clock.elapsed() > budget:
            break
        new = o.copy()
        for t, j in enumerate(o):
            if locked_mask[j]:
                continue
            members = a == j
            dem = d[members].sum()
            score = W[members].sum(axis=0)
            bad = (Q < dem - 1e-9) | np.isin(np.arange(m), np.delete(new, t))
            if ml is not None:
                bad |= ml > dem + 1e-9
            score[bad] = np.inf
            k = int(np.argmin(score))
            if score[k] < score[j] - 1e-9:
                new[t] = k
        new = np.sort(new)
        if np.array_equal(new, o):
            break
        a2 = _gap_assign(W, d, Q, new, ml, deadline=ctx.clock.t0 + budget, cutoff=val)
        if a2 is None:
            break
        v2 = float(W[rows, a2].sum())
        if v2 >= val - 1e-9:
            break
        o, a, val = new, a2, v2
    return o, a, val


def _cpmp_heuristic(ctx: _Cpmp, rng: np.random.Generator, tries: int = 30,
                    budget: float = 5.0) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Open sets from the uncapacitated swap search (and capacity-aware variants), assigned by
    regret greedy + descent, until ``budget`` seconds into the solve. Returns (open, assign, value) in
    local column indices or None."""
    W, Q, clock = ctx.lo.W, ctx.Q, ctx.clock
    p, locked, locked_mask = ctx.lo.p, ctx.lo.locked, ctx.lo.locked_mask
    starts = []
    try:
        g = _greedy(W, p, locked)
        o, _ = _swap_search(W, g, locked_mask, clock)
        starts.append(o)
    except Exception:  # pragma: no cover - defensive
        pass
    # capacity-aware start: demand-weighted costs and large capacities first
    order = np.argsort(-Q, kind="stable")
    big = [j for j in order if not locked_mask[j]][: max(0, p - locked.size)]
    starts.append(np.sort(np.concatenate((locked, np.array(big, dtype=np.int64)))))
    for _ in range(tries):  # randomised starts for half the budget; the other half assigns them
        if clock.left() <= 0 or clock.elapsed() > 0.5 * budget:
            break
        g = _greedy(W, p, locked, rng=rng, rcl=3)
        o, _ = _swap_search(W, g, locked_mask, clock)
        starts.append(o)
    inc = _Incumbent()
    _assign_starts(ctx, starts, inc, budget, set())
    return None if inc.open is None or inc.assign is None else (inc.open, inc.assign, inc.value)


def _assign_starts(ctx: _Cpmp, starts: list[np.ndarray], inc: _Incumbent, budget: float, seen: set[bytes]) -> None:
    """Each new open set with capacity for all: assigned (regret greedy + descent; dropped when the
    assignment's knapsack Lagrangian shows it cannot beat ``inc``), its bases moved to their clients' best
    spots; ``inc`` takes the best. Stops ``budget`` seconds into the solve, except
    that without any plan yet one more start is assigned (regret greedy only) so that there is one."""
    W, d, Q, ml, clock = ctx.lo.W, ctx.d, ctx.Q, ctx.ml, ctx.clock
    rows = np.arange(W.shape[0])
    late = False
    for o in starts:
        key = np.sort(o).tobytes()
        if key in seen or Q[o].sum() < d.sum():
            continue
        if clock.left() <= 0 or clock.elapsed() > budget:
            if inc.open is not None or late:
                continue
            late = True
        seen.add(key)
        o = np.sort(o)
        a = _gap_assign(W, d, Q, o, ml, deadline=clock.t0 + budget, cutoff=inc.value)
        if a is None:
            continue
        o, a, val = _improve_locations(ctx, o, a, float(W[rows, a].sum()), budget)
        if val < inc.value:
            inc.open, inc.assign, inc.value = o, a, val


def _more_starts(ctx: _Cpmp, rng: np.random.Generator, inc: _Incumbent, first: list[np.ndarray],
                 budget: float) -> int:
    """When the exact search cannot run: the time left (up to ``budget`` seconds into the solve) on
    more starts (``first``, e.g. the Lagrangian's open set, then randomised greedy + swap search),
    each assigned and improved like the first ones; ``inc`` keeps the best. Returns the starts tried."""
    W, p, lo, clock = ctx.lo.W, ctx.lo.p, ctx.lo, ctx.clock
    seen: set[bytes] = set()
    tried = 0
    starts = list(first)
    while clock.elapsed() < budget and clock.left() > 0:
        if not starts:
            g = _greedy(W, p, lo.locked, rng=rng, rcl=3)
            starts.append(_swap_search(W, g, lo.locked_mask, clock)[0])
        _assign_starts(ctx, starts, inc, budget, seen)
        tried += len(starts)
        starts = []
    return tried


def _cpmp_model(ctx: _Cpmp, soft: bool, penalty: float, pairs: tuple[np.ndarray, np.ndarray] | None = None,
                closed: np.ndarray | None = None, opened: np.ndarray | None = None,
                cuts: tuple[tuple[np.ndarray, np.ndarray], ...] = ()) -> _CpmpModel:
    """Sparse data of the classic CPMP MIP. Variables: x (pairs), y (m), [s overload, u underload].

    ``cuts`` (hard model only): for each ``(lam, rho)`` of the 0-1 knapsack Lagrangian
    (:mod:`planner.solvers.pmedian.knapsack_bound`) the rows ``sum_i (W_ij - lam_i) x_ij >= rho_j y_j``,
    valid because a column's clients form a knapsack-feasible set whose reduced cost is at least
    ``rho_j``; with ``sum_j y_j = p`` they lift the LP bound to the Lagrangian one."""
    from scipy.sparse import coo_matrix

    W, d, Q, ml = ctx.lo.W, ctx.d, ctx.Q, ctx.ml
    n, m = W.shape
    if pairs is not None:
        pi, pj = pairs
    elif soft:
        pi, pj = np.nonzero(np.ones((n, m), dtype=bool))
    else:
        pi, pj = np.nonzero(d[:, None] <= Q[None, :] + 1e-9)
    K = pi.size
    xv, yv = np.arange(K), K + np.arange(m)
    mlj = np.flatnonzero(ml > 0) if ml is not None and (ml > 0).any() else np.zeros(0, dtype=np.int64)
    sv, uv = K + m + np.arange(m), K + 2 * m + np.arange(mlj.size)  # slacks (soft only)
    nv = K + m + (m + mlj.size if soft else 0)
    rows = _Rows()
    rows.coef(rows.r + pi, xv, np.ones(K))  # assignment rows
    rows.close(np.ones(n), np.ones(n))
    # capacity rows: sum d x - Q y (- s) <= 0
    rows.coef(rows.r + pj, xv, d[pi])
    rows.coef(rows.r + np.arange(m), yv, -Q.astype(float))
    if soft:
        rows.coef(rows.r + np.arange(m), sv, -np.ones(m))
    rows.close(np.full(m, -np.inf), np.zeros(m))
    if ml is not None and mlj.size:  # min load rows: sum d x - ml y (+ u) >= 0
        rowof = np.full(m, -1)
        rowof[mlj] = rows.r + np.arange(mlj.size)
        sel = rowof[pj] >= 0
        rows.coef(rowof[pj][sel], xv[sel], d[pi][sel])
        rows.coef(rowof[mlj], yv[mlj], -ml[mlj])
        if soft:
            rows.coef(rowof[mlj], uv, np.ones(mlj.size))
        rows.close(np.zeros(mlj.size), np.full(mlj.size, np.inf))
    rows.coef(rows.r + xv, xv, np.ones(K))  # linking x_ij <= y_j
    rows.coef(rows.r + xv, yv[pj], -np.ones(K))
    rows.close(np.full(K, -np.inf), np.zeros(K))
    rows.coef(np.full(m, rows.r), yv, np.ones(m))  # cardinality
    rows.close([float(ctx.lo.p)], [float(ctx.lo.p)])
    if not soft:  # aggregate capacity: the open capacities hold all the demand
        rows.coef(np.full(m, rows.r), yv, Q.astype(float))
        rows.close([float(d.sum())], [np.inf])
        for lam, rho in cuts:  # Lagrangian cuts, a little slack for rounding
            rows.coef(rows.r + pj, xv, W[pi, pj] - lam[pi])
            rows.coef(rows.r + np.arange(m), yv, -rho)
            rows.close(-1e-7 * (1.0 + np.abs(rho)), np.full(m, np.inf))
    A = coo_matrix((np.concatenate(rows.V).astype(float), (np.concatenate(rows.R), np.concatenate(rows.C))),
                   shape=(rows.r, nv)).tocsr()
    lb, ub, obj = np.zeros(nv), np.ones(nv), np.zeros(nv)
    lb[yv[ctx.lo.locked_mask]] = 1.0
    if closed is not None:
        ub[yv[closed]] = 0.0
    if opened is not None:
        lb[yv[opened]] = 1.0
    obj[xv] = W[pi, pj]
    integer = np.zeros(nv, dtype=bool)
    integer[: K + m] = True
    if soft:
        ub[K + m:] = np.inf
        obj[K + m:] = penalty
    mip = MipModel(lb=lb, ub=ub, obj=obj, integer=integer, row_lb=np.concatenate(rows.lo),
                   row_ub=np.concatenate(rows.hi), A=A)
    return _CpmpModel(mip, pi, pj, closed, opened, () if soft else cuts)


def _model_nonzeros(K: int, m: int) -> int:
    """Nonzeros of the x/y model with ``K`` pairs (assignment, capacity, minimum load, linking rows)."""
    return 5 * K + 4 * m


def _feasible_pairs(ctx: _Cpmp) -> tuple[np.ndarray, np.ndarray]:
    """(client, column) of every pair whose demand fits the column's capacity, row by row."""
    pi, pj = np.nonzero(ctx.d[:, None] <= ctx.Q[None, :] + 1e-9)
    return pi.astype(np.int64), pj.astype(np.int64)


def _quick_infeasibility(ctx: _Cpmp) -> list[str]:
    """Limits that no plan can meet, found without a search (total capacity, a client's demand, min loads)."""
    d, Q, ml, locked, free, k = ctx.d, ctx.Q, ctx.ml, ctx.lo.locked, ctx.free, ctx.k
    total = float(d.sum())
    eps = 1e-9 * max(1.0, total)
    violated: list[str] = []
    best_cap = float(Q[locked].sum() + np.sort(Q[free])[::-1][:k].sum())
    if total > best_cap + eps:
        violated.append(f"capacity: total demand {total:g} exceeds the largest possible capacity {best_cap:g}")
    too_big = np.flatnonzero(d > Q.max() + eps)
    if too_big.size:
        i = int(too_big[0])
        violated.append(f"capacity: client {i} has demand {d[i]:g}, more than the largest capacity {Q.max():g}"
                        + (f" ({too_big.size} clients)" if too_big.size > 1 else ""))
    if ml is not None:
        least = float(ml[locked].sum() + np.sort(ml[free])[:k].sum())
        if least > total + eps:
            violated.append(f"min_load: the {ctx.lo.p} open bases need at least {least:g} of demand, "
                            f"total demand is {total:g}")
    return violated


def _infeasible_result(ctx: _Cpmp, reasons: list[str], how: str, best_effort: bool) -> PMedianResult:
    """The limits cannot all hold: no plan (``infeasible``), or with ``best_effort`` the closest plan
    (overloads and underloads penalised above any cost, status ``partial``). When that model is too
    large for the time left (``_mip_time``), the closest plan is ``_spread_over_largest``'s."""
    problem, clock, stats, lo = ctx.problem, ctx.clock, ctx.stats, ctx.lo
    stats["proven_infeasible"] = True
    if not best_effort:
        return _result(problem, None, "infeasible", None, clock, how, stats, violated=tuple(reasons),
                       message="no plan meets the limits")
    clock.say("infeasible limits: searching the closest plan")
    W, d, n, m = lo.W, ctx.d, lo.n, lo.m
    scale = float(np.abs(W).sum(axis=1).max(initial=0.0)) * n + 1.0
    dpos = d[d > 0]
    unit = float(dpos.min()) if dpos.size else 1.0
    penalty = min(1e9, scale / max(unit, 1e-6))
    out = MipOutcome("NOT_RUN", None, None, None, 0.0)
    model = None
    if _mip_time(ctx, _model_nonzeros(n * m, m)) > 0:
        model = _cpmp_model(ctx, True, penalty)
        limit = _mip_time(ctx, int(model.mip.A.nnz))
        if limit > 0:
            out = _mip_solve(model.mip, hint=None, time_limit=limit, seed=ctx.seed)
    a, o = (np.zeros(0, dtype=np.int64),) * 2
    if out.x is not None and model is not None:
        a, o = model.read(out.x, n, m)
    if out.x is None or (a < 0).any() or o.size != lo.p:
        o, a = _spread_over_largest(ctx)
        how, message = how + "+greedy(soft)", ("closest plan: limits are broken (see violated); the bases of "
                                               "largest capacity, the overload spread over them")
    else:
        how, message = how + "+SCIP(soft)", ("closest plan: limits are broken (see violated); overloads and "
                                             "underloads were minimised first, then cost")
    load = np.bincount(a, weights=d, minlength=m)
    stats["overload"] = float(np.maximum(load - ctx.Q, 0).sum())
    if ctx.ml is not None:
        stats["underload"] = float(np.maximum(ctx.ml[o] - load[o], 0).sum())
    return _result(problem, lo.cand[o], "partial", None, clock, how, stats, violated=tuple(reasons),
                   assign=lo.cand[a], message=message)


def _spread_over_largest(ctx: _Cpmp) -> tuple[np.ndarray, np.ndarray]:
    """(open, assign): columns of the largest total capacity (among equal capacities, the p-median's
    choice), clients assigned within capacities scaled up to hold all the demand (so the total overload
    is the least possible), else each to its closest."""
    W, d, Q, lo = ctx.lo.W, ctx.d, ctx.Q, ctx.lo
    o = ctx.largest_capacities()
    free = o[~lo.locked_mask[o]]
    if free.size:
        kth = Q[free].min()
        forced = np.union1d(lo.locked, np.flatnonzero((Q > kth) & ~lo.locked_mask))
        cols = np.union1d(forced, np.flatnonzero(Q == kth))
        sub_locked = np.searchsorted(cols, forced)
        mask = np.zeros(cols.size, dtype=bool)
        mask[sub_locked] = True
        g = _greedy(W[:, cols], lo.p, sub_locked)
        o = cols[_swap_search(W[:, cols], g, mask, ctx.clock)[0]]
    grow = max(1.0, float(d.sum()) / max(float(Q[o].sum()), 1e-9)) * (1 + 1e-9)
    a = _gap_assign(W, d, Q * grow, o, None, deadline=ctx.clock.deadline - ctx.clock.margin())
    return o, (o[np.argmin(W[:, o], axis=1)] if a is None else a)


@dataclass(frozen=True, eq=False)
class _LagBound:
    """The best Lagrangian bound, its multipliers and, at them, each column's knapsack value ``rho``,
    capacity price ``price`` (<= 0; 0 when the column is not full) and the columns the relaxation opens."""

    value: float
    lam: np.ndarray
    rho: np.ndarray
    price: np.ndarray
    chosen: np.ndarray
    iterations: int


class _CapLagrangian:
    """Lagrangian relaxation of the assignment rows ``sum_j x_ij = 1`` (multipliers ``lam``, free sign).

    ``L(lam) = sum_i lam_i + sum_{j open} rho_j`` where ``rho_j = min sum_i (W_ij - lam_i) x_ij`` over
    ``0 <= x_ij <= 1``, ``sum_i d_i x_ij <= Q_j`` (a fractional knapsack: the most negative cost per
    unit of demand first) and the open columns are the locked ones plus the ``k`` free ones of least
    ``rho``. Every ``L(lam)`` is a lower bound on the CPMP: it relaxes single sourcing and the
    assignment rows, and leaves out the minimum loads and the aggregate-capacity cut.
    """

    def __init__(self, ctx: _Cpmp) -> None:
        self.WT = np.ascontiguousarray(ctx.lo.W.T)  # m x n: a column's clients are contiguous
        self.d, self.Q = ctx.d, ctx.Q
        self.m = self.WT.shape[0]
        self.eps = 1e-9 * max(1.0, float(ctx.Q.max(initial=1.0)))
        tight = bool((ctx.d > ctx.Q.min(initial=0.0) + 1e-9).any())
        self.fitsT = (ctx.d[None, :] <= ctx.Q[:, None] + 1e-9) if tight else None
        self.locked, self.free, self.k = ctx.lo.locked, ctx.free, ctx.k

    def knapsacks(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rho, price) per column and the items taken: (column, client, fraction) triplets."""
        R = self.WT - lam[None, :]
        neg = R < 0
        if self.fitsT is not None:
            neg &= self.fitsT
        jj, ii = np.nonzero(neg)
        r, dd = R[jj, ii], self.d[ii]
        x = np.ones(r.size)
        price = np.zeros(self.m)
        full = np.bincount(jj, weights=dd, minlength=self.m) > self.Q + self.eps
        if full.any():
            sel = np.flatnonzero(full[jj])
            ratio = np.where(dd[sel] > 0, r[sel] / np.maximum(dd[sel], 1e-300), -np.inf)
            o = np.lexsort((ratio, jj[sel]))
            sel, ratio, jo, do = sel[o], ratio[o], jj[sel[o]], dd[sel[o]]
            cum = np.cumsum(do)
            start = np.searchsorted(jo, jo, side="left")
            before = cum - do - (cum[start] - do[start])  # demand taken before the item in its column
            frac = np.where(do > 0, np.clip((self.Q[jo] - before) / np.maximum(do, 1e-300), 0.0, 1.0), 1.0)
            x[sel] = frac
            cut = np.flatnonzero(frac < 1.0)
            cols, first = np.unique(jo[cut], return_index=True)
            price[cols] = ratio[cut[first]]  # the first item that does not fit whole sets the price
        rho = np.bincount(jj, weights=x * r, minlength=self.m)
        return rho, price, jj, ii, x

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(L(lam), rho, price, open columns, subgradient of L at lam)."""
        rho, price, jj, ii, x = self.knapsacks(lam)
        chosen = np.concatenate((self.locked, _select_p(rho, self.free, self.k)))
        is_open = np.zeros(self.m, dtype=bool)
        is_open[chosen] = True
        taken = is_open[jj]
        grad = 1.0 - np.bincount(ii[taken], weights=x[taken], minlength=lam.size)
        return float(lam.sum() + rho[chosen].sum()), rho, price, chosen, grad


def _cap_lagrangian(ctx: _Cpmp, inc: _Incumbent, budget: float) -> _LagBound:
    """Subgradient ascent on the Lagrangian dual of ``_CapLagrangian`` (Polyak steps towards the best
    plan's value), for at most ``budget`` seconds (no step starts with less left than the last took);
    stops early when the bound proves the plan, the step is tiny or the relaxed solution is a plan."""
    lr, lo, clock = _CapLagrangian(ctx), ctx.lo, ctx.clock
    stop = clock.elapsed() + max(0.0, budget)
    if inc.assign is not None:
        lam = lo.W[np.arange(lo.n), inc.assign].copy()
    else:
        lam = lo.W.min(axis=1).copy()
    best: _LagBound | None = None
    beta, stall, it, step = 2.0, 0, 0, 0.0
    while it < 2000:
        it += 1
        t = time.perf_counter()
        L, rho, price, chosen, grad = lr.evaluate(lam)
        if best is None or L > best.value + 1e-12 * max(1.0, abs(L)):
            best, stall = _LagBound(L, lam.copy(), rho, price, chosen, it), 0
        else:
            stall += 1
            if stall >= 15:  # measured: 25 (as uncapacitated) is slower to start, 5-10 stall before the end
                beta, stall = beta * 0.5, 0
        target = inc.value if math.isfinite(inc.value) else best.value + max(0.05 * abs(best.value), 1.0)
        norm = float(grad @ grad)
        step = max(step, time.perf_counter() - t)
        if norm == 0.0 or beta < 1e-5 or clock.elapsed() + step > stop or clock.left() <= step \
                or _proven(best.value, inc.value, lo.integral, ctx.gap_tolerance):
            break
        lam = lam + beta * max(target - L, 1e-9 * max(1.0, abs(target))) / norm * grad
    assert best is not None  # one step at least
    return dataclasses.replace(best, iterations=it)


def _fix_threshold(ctx: _Cpmp, ub: float) -> float:
    """The largest relaxation value a pair or column may have and stay: a plan must beat ``ub`` (by a
    whole unit with integral costs; the best plan's own pairs and columns always stay)."""
    if ctx.lo.integral and math.isfinite(ub):
        return ub - 1.0 + 1e-6 * max(1.0, abs(ub))
    return ub + 1e-6 * max(1.0, abs(ub))


def _lagrangian_fixing(ctx: _Cpmp, lag: _LagBound, inc: _Incumbent) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs and columns that can be in a plan of cost <= the best plan's, by the Lagrangian's
    reduced costs: (clients, columns) of the kept pairs and the columns fixed closed.

    With ``j`` forced open the relaxation costs at least ``L + rho_j - rho_last`` (``rho_last``: the
    largest ``rho`` of the free columns it opens; 0 extra for an open one); forcing ``x_ij = 1`` adds at
    least the knapsack's reduced cost ``max(0, W_ij - lam_i - price_j d_i)``. Every pair of the best plan
    stays.
    """
    lo, d = ctx.lo, ctx.d
    m = lo.m
    pi, pj = _feasible_pairs(ctx)
    if inc.open is None or inc.assign is None:
        return pi, pj, np.zeros(m, dtype=bool)
    thr = _fix_threshold(ctx, inc.value)
    is_open = np.zeros(m, dtype=bool)
    is_open[lag.chosen] = True
    free_open = lag.chosen[~lo.locked_mask[lag.chosen]]
    if free_open.size:
        extra = np.where(is_open, 0.0, lag.rho - float(lag.rho[free_open].max()))
    else:  # every open column is locked: no other can open
        extra = np.where(is_open, 0.0, math.inf)
    closed = (lag.value + extra > thr) & ~lo.locked_mask
    closed[inc.open] = False
    rc = np.maximum(lo.W[pi, pj] - lag.lam[pi] - lag.price[pj] * d[pi], 0.0)
    keep = (lag.value + extra[pj] + rc <= thr) & ~closed[pj]
    keep[np.searchsorted(pi * m + pj, np.arange(lo.n) * m + inc.assign)] = True  # the best plan stays
    ctx.stats["x_variables_after_lagrangian"] = int(keep.sum())
    ctx.stats["closed_by_lagrangian"] = int(closed.sum())
    return pi[keep], pj[keep], closed


def _lp_fixing(ctx: _Cpmp, full: _CpmpModel) -> _LpFixing | None:
    """The LP relaxation (GLOP) of the model, for at most a fifth of the time left; None when the model is
    above ``_LP_MAX_NONZEROS`` or the LP does not solve to optimality in time."""
    nnz = int(full.mip.A.nnz)
    limit = min(0.2 * ctx.clock.left(), ctx.clock.solver_time(nnz))
    if nnz > _LP_MAX_NONZEROS or limit <= _MIN_MIP_SECONDS:
        return None
    ctx.clock.say("LP relaxation")
    lp = dataclasses.replace(full.mip, integer=np.zeros_like(full.mip.integer))
    out = _mip_solve(lp, hint=None, time_limit=limit, seed=ctx.seed, solver_name="glop",
                     want_reduced_costs=True)
    if out.status != "OPTIMAL" or out.reduced_costs is None or out.objective is None or out.x is None:
        return None
    ctx.stats["lp_bound"] = out.objective
    return _LpFixing(out.objective, out.x, out.reduced_costs)


def _reduced_model(ctx: _Cpmp, full: _CpmpModel, lp: _LpFixing | None, inc: _Incumbent) -> _CpmpModel:
    """The model without every x_ij / y_j that cannot be in a plan of cost <= the incumbent's
    (LP value + reduced cost > upper bound); the incumbent itself stays feasible."""
    if lp is None or inc.open is None or inc.assign is None:
        return full
    n, m, K0, pi0, pj0 = ctx.lo.n, ctx.lo.m, full.K, full.pi, full.pj
    xl, rc = lp.x, lp.reduced_costs
    thr = _fix_threshold(ctx, inc.value)
    keep = ~((xl[:K0] < 1e-9) & (lp.value + rc[:K0] > thr))
    closed = (xl[K0:K0 + m] < 1e-9) & (lp.value + rc[K0:K0 + m] > thr) & ~ctx.lo.locked_mask
    if full.closed is not None:
        closed |= full.closed
    closed[inc.open] = False
    keep &= ~closed[pj0]
    keep |= np.isin(pi0 * m + pj0, np.arange(n) * m + inc.assign)  # the best plan stays feasible
    ctx.stats["x_variables_after_fixing"] = int(keep.sum())
    ctx.stats["closed_by_fixing"] = int(closed.sum())
    return _cpmp_model(ctx, False, 0.0, pairs=(pi0[keep], pj0[keep]), closed=closed, opened=full.opened,
                       cuts=full.cuts)


def _plan_hint(model: _CpmpModel, inc: _Incumbent, m: int) -> dict[int, float] | None:
    """The incumbent as a MIP start: its pairs and open columns at 1, every other variable at 0."""
    if inc.open is None or inc.assign is None:
        return None
    key = model.pi * m + model.pj  # ascending: the pairs are kept in row order
    hint = np.zeros(model.K + m)
    hint[np.searchsorted(key, np.arange(inc.assign.size) * m + inc.assign)] = 1.0
    hint[model.K + inc.open] = 1.0
    return dict(enumerate(hint.tolist()))


def _mip_params(ctx: _Cpmp) -> str:
    """SCIP settings of the rounds: no restarts, at most 5 rounds of cuts at the root (measured: a
    generated 100-client instance proven in 5.6-7.5 s instead of > 8 s; OR-Library p11 in ~2 s instead
    of 3.6-6.8 s), and stop at a proven gap (integral costs: below 1)."""
    params = "presolving/maxrestarts = 0\nseparating/maxroundsroot = 5\n"
    if ctx.lo.integral:
        params += "limits/absgap = 0.999\n"
    if ctx.gap_tolerance > 0:
        params += f"limits/gap = {ctx.gap_tolerance:g}\n"
    return params


def _mip_time(ctx: _Cpmp, nonzeros: int) -> float:
    """Seconds SCIP may take on a model with ``nonzeros`` (0 when it should not run: its set-up would
    take more than half the time left, or less than ``_MIN_MIP_SECONDS`` would be left for it)."""
    clock = ctx.clock
    avail = clock.solver_time(nonzeros)
    if nonzeros > _MIP_MAX_NONZEROS or SETUP_SECONDS_PER_NONZERO * nonzeros > 0.5 * clock.left() \
            or avail <= _MIN_MIP_SECONDS:
        return 0.0
    return avail


def _mip_rounds(ctx: _Cpmp, full: _CpmpModel, lp: _LpFixing | None, inc: _Incumbent) -> MipOutcome:
    """MIP rounds: a short first round; when it improves the plan, fix again and go on.

    SCIP's restarts cost more than they bring once we fix by reduced costs
    ourselves (measured on pmedcap1 p11, > 60 s -> 21 s without them; its cuts
    are needed there). Each round gets the time left less the margin and
    SCIP's estimated set-up (``_mip_time``). Returns the last round's outcome
    (status ``NOT_RUN`` when there was no time for one, or the model is too
    large to load in the time left); ``inc`` holds the best plan.
    """
    clock, stats, m = ctx.clock, ctx.stats, ctx.lo.m
    params = _mip_params(ctx)
    out = MipOutcome("NOT_RUN", None, None, None, 0.0)
    mip_sec, rounds = 0.0, 0
    while _mip_time(ctx, _model_nonzeros(full.K, m)) > 0:
        model = _reduced_model(ctx, full, lp, inc)
        hint = _plan_hint(model, inc, m)
        avail = _mip_time(ctx, int(model.mip.A.nnz))
        if avail <= 0:
            break
        last_round = lp is None or rounds >= 3
        limit = avail if last_round else min(avail, max(5.0, 0.25 * avail))
        stats["mip_variables"] = int(model.mip.A.shape[1])
        stats["mip_rows"] = int(model.mip.A.shape[0])
        clock.say(f"exact search: {model.mip.A.shape[1]} variables")
        out = _mip_solve(model.mip, hint=hint, time_limit=limit, seed=ctx.seed + rounds, params=params)
        mip_sec += out.seconds
        rounds += 1
        improved = _take_mip_plan(ctx, model, out, inc)
        if out.status in ("OPTIMAL", "INFEASIBLE") or last_round or not improved:
            if out.status not in ("OPTIMAL", "INFEASIBLE") and not last_round and clock.left() > 0.5:
                rounds = 99  # no progress from fixing again: one last round with all the time left
                continue
            break
    stats["mip_rounds"] = rounds if rounds < 99 else "last"
    stats["mip_status"] = out.status
    stats["mip_seconds"] = round(mip_sec, 3)
    stats["mip_bound"] = out.bound
    return out


def _take_mip_plan(ctx: _Cpmp, model: _CpmpModel, out: MipOutcome, inc: _Incumbent) -> bool:
    """Whether the MIP's plan (if any, complete) beats ``inc``; if so ``inc`` takes it."""
    n = ctx.lo.n
    if out.x is None:
        return False
    a, o = model.read(out.x, n, ctx.lo.m)
    if (a < 0).any() or o.size != ctx.lo.p:
        return False
    val = float(ctx.lo.W[np.arange(n), a].sum())
    if inc.open is None or val < inc.value - 1e-9 * max(1.0, abs(inc.value)):
        inc.open, inc.assign, inc.value = o, a, val
        return True
    return False


def _best_bound(out: MipOutcome, lp: _LpFixing | None, lag: _LagBound | None) -> float | None:
    """The largest valid lower bound: SCIP's, the LP relaxation's, the Lagrangian's (None: none)."""
    found = [b for b in (out.bound, None if lp is None else lp.value, None if lag is None else lag.value)
             if b is not None and math.isfinite(b)]
    return max(found) if found else None


def _final_result(ctx: _Cpmp, out: MipOutcome, lp: _LpFixing | None, lag: _LagBound | None, inc: _Incumbent,
                  best_effort: bool) -> PMedianResult:
    """The result after the MIP rounds: best plan, bound (MIP, LP, Lagrangian, integrality) and status."""
    problem, clock, stats, lo = ctx.problem, ctx.clock, ctx.stats, ctx.lo
    solver = "heuristic+lagrangian+SCIP(x/y)" if out.status != "NOT_RUN" else "heuristic+lagrangian"
    if "branch_and_bound" in stats:
        solver = "heuristic+lagrangian+branch-and-bound(knapsack Lagrangian)"
    bound = _best_bound(out, lp, lag)
    if out.status == "INFEASIBLE" and inc.open is None:
        return _infeasible_result(ctx, ["capacity: no assignment of every client to one of p open bases fits "
                                        "the capacities" + (" and minimum loads" if ctx.ml is not None else "")
                                        + " (proven by the solver)"], solver, best_effort)
    if inc.open is None or inc.assign is None:
        return _result(problem, None, "time_limit_no_solution", bound, clock, solver, stats,
                       message="no plan found within the time limit")
    ub = inc.value
    if out.status == "OPTIMAL":
        bound = ub if bound is None else min(ub, max(bound, out.objective if out.objective is not None else bound))
    if bound is not None and lo.integral:
        bound = _round_up(bound)
    if bound is not None:
        bound = min(ub, bound)
    done = out.status == "OPTIMAL" or (bound is not None and _proven(bound, ub, lo.integral, ctx.gap_tolerance))
    message = ""
    if not done:
        skipped = stats.get("mip_skipped")
        message = _TIME_LIMIT_MESSAGE + (f"; {skipped}" if skipped else "")
    clock.say("done", 1.0)
    return _result(problem, lo.cand[inc.open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   assign=lo.cand[inc.assign], message=message)


def _bound_and_fix(ctx: _Cpmp, inc: _Incumbent) -> tuple[_LagBound, _CpmpModel | None]:
    """The Lagrangian bounds, a better plan, and the model without what the bounds' reduced costs rule out
    (None when even that is too large to load in the time left).

    The fractional bound takes a quarter of the time left at most, or 60 % when the whole model is too
    large for SCIP (the bound and its fixing are then what can make it fit); the 0-1 knapsack bound
    (``_knapsack_ascent``, on what the fractional one leaves) a third of what is left after it; the
    iterated swap search (``_swap_ils``) a fifth of what is left then (``_ILS_MAX_SECONDS`` at most). The
    returned bound's ``value`` is the larger of the two bounds."""
    clock, stats = ctx.clock, ctx.stats
    clock.say("Lagrangian bound")
    t = clock.elapsed()
    pairs = int((ctx.d[:, None] <= ctx.Q[None, :] + 1e-9).sum())
    share = 0.25 if _mip_time(ctx, _model_nonzeros(pairs, ctx.lo.m)) > 0 else 0.6
    lag = _cap_lagrangian(ctx, inc, share * max(0.0, clock.left()))
    stats["lagrangian_bound"] = lag.value
    stats["lagrangian_iterations"] = lag.iterations
    stats["lagrangian_seconds"] = round(clock.elapsed() - t, 3)
    if _proven(lag.value, inc.value, ctx.lo.integral, ctx.gap_tolerance):
        return lag, None
    if clock.left() <= _FIX_SECONDS_PER_PAIR * pairs:
        stats["mip_skipped"] = "exact search skipped: no time left for it"
        return lag, None
    pi, pj, closed = _lagrangian_fixing(ctx, lag, inc)
    kn = _knapsack_ascent(ctx, inc, lag, pi, pj, closed)
    if kn is not None and kn[1].value > lag.value:
        lag = dataclasses.replace(lag, value=kn[1].value)
    if not _proven(lag.value, inc.value, ctx.lo.integral, ctx.gap_tolerance) and inc.open is not None:
        before = inc.value
        rho = lag.rho if kn is None else _widen(kn[2], kn[1].rho, ctx.lo.m, np.inf)
        budget = min(_ILS_MAX_SECONDS, 0.2 * max(0.0, clock.left()))
        stats["swap_search_starts"] = _swap_ils(ctx, inc, rho, clock.elapsed() + budget)
        if inc.value < before:
            pi, pj, closed = _lagrangian_fixing(ctx, lag, inc)
    if _proven(lag.value, inc.value, ctx.lo.integral, ctx.gap_tolerance):
        return lag, None
    opened: np.ndarray | None = None
    cuts: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    if kn is not None:
        pi, pj, closed, opened = _knapsack_fixing(ctx, inc, kn, pi, pj, closed)
        cuts = ((kn[1].lam, _widen(kn[2], kn[1].rho, ctx.lo.m, 0.0)),)
        ctx.branch_input = (pi, pj, closed, opened, kn[1].lam)
    stats["x_variables"] = int(pi.size)
    if _mip_time(ctx, _model_nonzeros(int(pi.size), ctx.lo.m)) <= 0:
        stats["mip_skipped"] = (f"exact search skipped: its model ({int(pi.size):,} assignment pairs) cannot "
                                f"load and solve in the time left; local search used the time instead")
        return lag, None
    return lag, _cpmp_model(ctx, False, 0.0, pairs=(pi, pj), closed=closed, opened=opened, cuts=cuts)


def _use_branch(ctx: _Cpmp, inc: _Incumbent, lag: _LagBound) -> bool:
    """Whether the branch and bound of :mod:`planner.solvers.pmedian.cpmp_branch` runs: the root left it
    its input (whole-number demands, the knapsack Lagrangian ran), the compiled knapsack kernels are there
    (with the numpy DP SCIP is the faster prover: measured p11 unproven at 10 s against 4 s), there is a
    plan, no minimum loads, the bound does not prove the plan yet and there is time."""
    return (ctx.branch_input is not None and inc.open is not None and ctx.ml is None
            and kb.kernels(compile_ok=ctx.clock.limit >= _COMPILE_MIN_LIMIT) is not None
            and not _proven(lag.value, inc.value, ctx.lo.integral, ctx.gap_tolerance)
            and ctx.clock.left() > ctx.clock.margin() + _MIN_MIP_SECONDS)


def _branch(ctx: _Cpmp, inc: _Incumbent) -> MipOutcome:
    """The branch and bound (:func:`planner.solvers.pmedian.cpmp_branch.branch_and_bound`) on the pairs and
    columns the root left, from the knapsack Lagrangian's multipliers, until the deadline less the margin;
    every new set of open columns of a node is assigned by ``_gap_assign`` (a plan may beat ``inc``).
    Returned as a MIP outcome: ``OPTIMAL`` when the search finished, else ``FEASIBLE`` with its bound."""
    assert ctx.branch_input is not None and inc.open is not None and inc.assign is not None
    pi, pj, closed, opened, lam = ctx.branch_input
    lo, clock = ctx.lo, ctx.clock
    data = kb.integer_data(ctx.d, ctx.Q)
    assert data is not None
    clock.say("exact search: branch and bound")
    t = clock.elapsed()
    cols = np.flatnonzero(~closed)
    where = np.full(lo.m, -1, dtype=np.int64)
    where[cols] = np.arange(cols.size)
    allow = np.zeros((lo.n, cols.size), dtype=bool)
    allow[pi, where[pj]] = True
    allow[np.arange(lo.n), where[inc.assign]] = True
    state = cb.BranchState(where[inc.open], where[inc.assign], inc.value)
    rows = np.arange(lo.n)
    stop = clock.deadline - clock.margin()

    def plan_of(o: np.ndarray, start: np.ndarray | None) -> tuple[float, np.ndarray] | None:
        if ctx.Q[cols[o]].sum() < ctx.d.sum():
            return None
        a = _gap_assign(lo.W, ctx.d, ctx.Q, cols[o], None, deadline=stop, start=start, cutoff=state.value)
        return None if a is None else (float(lo.W[rows, a].sum()), where[a])

    res = cb.branch_and_bound(lo.W[:, cols], data[0], data[1][cols], lo.p, allow=allow,
                              closed=np.zeros(cols.size, dtype=bool),
                              opened=(opened | lo.locked_mask)[cols], lam=lam, state=state,
                              integral=lo.integral, deadline=stop, gap_tolerance=ctx.gap_tolerance,
                              root_bound=float(ctx.stats.get("knapsack_bound", -math.inf)), plan_of=plan_of,
                              compile_ok=clock.limit >= _COMPILE_MIN_LIMIT)
    if state.value < inc.value and state.open is not None and state.assign is not None:
        inc.open, inc.assign, inc.value = np.sort(cols[state.open]), cols[state.assign], state.value
    ctx.stats["branch_and_bound"] = res.stats
    ctx.stats["branch_seconds"] = round(clock.elapsed() - t, 3)
    return MipOutcome("OPTIMAL" if res.proven else "FEASIBLE", None, inc.value,
                      res.bound if math.isfinite(res.bound) else None, res.stats["seconds"])


def _widen(cols: np.ndarray, values: np.ndarray, m: int, fill: float) -> np.ndarray:
    """``values`` of the local columns ``cols`` as an array over all ``m`` columns (``fill`` elsewhere)."""
    out = np.full(m, fill)
    out[cols] = values
    return out


_Knapsacks = tuple[kb.IntKnapsacks, kb.KnapsackBound, np.ndarray]  # the knapsacks, their bound, their columns


def _knapsack_ascent(ctx: _Cpmp, inc: _Incumbent, lag: _LagBound, pi: np.ndarray, pj: np.ndarray,
                     closed: np.ndarray) -> _Knapsacks | None:
    """The 0-1 knapsack Lagrangian (:mod:`planner.solvers.pmedian.knapsack_bound`) over the pairs and
    columns the fractional one left (``pi, pj``, not ``closed``), from its multipliers, for a third of the
    time left at most; each new set of columns it opens is assigned and improved like a heuristic start
    (``inc`` takes a better plan). Its value bounds the plans that can beat the best one, so ``min(plan,
    value)`` bounds the problem. None without a plan, when demands are not whole numbers or the tables
    would be too large."""
    data = kb.integer_data(ctx.d, ctx.Q)
    budget = 0.33 * ctx.clock.left()
    if data is None or budget <= 0.05 or inc.open is None or inc.assign is None:
        return None
    t = ctx.clock.elapsed()
    ctx.clock.say("Lagrangian bound (0-1 knapsacks)")
    lo = ctx.lo
    cols = np.flatnonzero(~closed)
    where = np.full(lo.m, -1, dtype=np.int64)
    where[cols] = np.arange(cols.size)
    Wr = np.full((lo.n, cols.size), _NO_PAIR)  # a pair ruled out never enters a knapsack
    Wr[pi, where[pj]] = lo.W[pi, pj]
    kk = kb.kernels(compile_ok=ctx.clock.limit >= _COMPILE_MIN_LIMIT)
    ctx.stats["knapsack_kernels"] = "numpy" if kk is None else "compiled"
    ks = kb.IntKnapsacks(Wr, data[0], data[1][cols], where[lo.locked], where[ctx.free[~closed[ctx.free]]], ctx.k,
                         kk=kk)
    seen: set[bytes] = set()
    stop = ctx.clock.elapsed() + budget

    def heuristic(sub: np.ndarray) -> float | None:
        if len(seen) < _KNAPSACK_STARTS:
            _assign_starts(ctx, [cols[sub]], inc, stop, seen)
        return inc.value if math.isfinite(inc.value) else None

    bound = kb.ascend(ks, lag.lam, inc.value, ctx.clock.t0 + stop,
                      lambda lb, ub: _proven(lb, ub, lo.integral, ctx.gap_tolerance), heuristic)
    ctx.stats["knapsack_bound"] = bound.value
    ctx.stats["knapsack_iterations"] = bound.iterations
    ctx.stats["knapsack_seconds"] = round(ctx.clock.elapsed() - t, 3)
    return ks, bound, cols


def _knapsack_fixing(ctx: _Cpmp, inc: _Incumbent, kn: _Knapsacks, pi: np.ndarray, pj: np.ndarray,
                     closed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the knapsack reduced costs leave of the pairs ``pi, pj`` and the columns: ``(pi, pj, closed,
    opened)``; the best plan stays feasible."""
    ks, bound, cols = kn
    lo = ctx.lo
    assert inc.open is not None and inc.assign is not None
    t = ctx.clock.elapsed()
    keep, closed_k, opened_k = kb.fixing(ks, bound, _fix_threshold(ctx, inc.value), lo.locked_mask[cols])
    where = np.full(lo.m, -1, dtype=np.int64)
    where[cols] = np.arange(cols.size)
    is_inc = np.zeros(lo.m, dtype=bool)
    is_inc[inc.open] = True
    closed2, opened = closed.copy(), np.zeros(lo.m, dtype=bool)
    closed2[cols[closed_k]] = True
    opened[cols[opened_k]] = True
    closed2 &= ~is_inc
    opened &= is_inc
    sel = (where[pj] >= 0) & ~closed2[pj]
    sel[sel] = keep[where[pj[sel]], pi[sel]]
    sel[np.searchsorted(pi * lo.m + pj, np.arange(lo.n) * lo.m + inc.assign)] = True
    stats = ctx.stats
    stats["x_variables_after_knapsack"] = int(sel.sum())
    stats["closed_by_knapsack"] = int(closed2.sum())
    stats["opened_by_knapsack"] = int(opened.sum())
    stats["knapsack_fixing_seconds"] = round(ctx.clock.elapsed() - t, 3)
    return pi[sel], pj[sel], closed2, opened


def _swap_ils(ctx: _Cpmp, inc: _Incumbent, rho: np.ndarray, stop: float) -> int:
    """Iterated local search over the open set until ``stop`` seconds into the solve: replace one open
    column by one of its candidates (the columns closest to its clients and those of least Lagrangian
    ``rho``), first improvement, every set assigned by ``_gap_assign``; when no swap improves, two random
    swaps from the best plan and descend again, until ``_ILS_IDLE_KICKS`` kicks in a row found nothing
    better. ``inc`` takes every better plan. Returns the sets assigned."""
    W, d, Q, ml, lo, clock = ctx.lo.W, ctx.d, ctx.Q, ctx.ml, ctx.lo, ctx.clock
    assert inc.open is not None and inc.assign is not None
    rows, rng = np.arange(lo.n), np.random.default_rng(ctx.seed + 1)
    cheap = np.argsort(np.where(lo.locked_mask, np.inf, rho), kind="stable")[:_ILS_NEAR]
    cache: dict[bytes, tuple[tuple[float, np.ndarray] | None, float]] = {}  # (plan or None, cutoff used)

    def value(o: np.ndarray, cutoff: float = math.inf) -> tuple[float, np.ndarray] | None:
        """The plan of ``o`` (None: none, or none below ``cutoff``)."""
        key = o.tobytes()
        hit = cache.get(key)
        if hit is None or (hit[0] is None and hit[1] < cutoff):
            a = _gap_assign(W, d, Q, o, ml, deadline=clock.t0 + stop, cutoff=cutoff)
            cache[key] = (None if a is None else (float(W[rows, a].sum()), a), cutoff)
        return cache[key][0]

    def candidates(o: np.ndarray, a: np.ndarray, j: int) -> np.ndarray:
        score = W[a == j].sum(axis=0)
        score[o] = np.inf
        score[lo.locked_mask] = np.inf
        near = np.argsort(score, kind="stable")[:_ILS_NEAR]
        return np.unique(np.concatenate((near[np.isfinite(score[near])], cheap[~np.isin(cheap, o)])))

    def descend(o: np.ndarray, a: np.ndarray, v: float) -> tuple[np.ndarray, np.ndarray, float]:
        improved = True
        while improved and clock.elapsed() < stop:
            improved = False
            for pos in rng.permutation(o.size):
                if lo.locked_mask[o[pos]]:
                    continue
                for c in candidates(o, a, int(o[pos])):
                    o2 = np.sort(np.concatenate((np.delete(o, pos), [c])))
                    r = value(o2, v)
                    if r is not None and r[0] < v - 1e-9 * max(1.0, abs(v)):
                        o, (v, a), improved = o2, r, True
                        break
                if improved or clock.elapsed() >= stop:
                    break
        return o, a, v

    best = descend(np.sort(inc.open), inc.assign, inc.value)
    free_pos = np.flatnonzero(~lo.locked_mask[best[0]])
    idle = 0
    while clock.elapsed() < stop and free_pos.size and idle < _ILS_IDLE_KICKS:
        idle += 1
        o = best[0].copy()
        for pos in rng.choice(free_pos, size=min(2, free_pos.size), replace=False):
            cand = candidates(o, best[1], int(o[pos]))
            if cand.size:
                o[pos] = rng.choice(cand)
        o = np.sort(o)
        r = value(o)
        if r is not None:
            cur = descend(o, r[1], r[0])
            if cur[2] < best[2]:
                best, idle = cur, 0
        free_pos = np.flatnonzero(~lo.locked_mask[best[0]])
    if best[2] < inc.value:
        inc.open, inc.assign, inc.value = best
    return len(cache)


def _start(ctx: _Cpmp, rng: np.random.Generator) -> _Incumbent:
    """Step 2 of :func:`solve_cpmp`: the heuristic plan (at most 40 % of the limit, 5 s)."""
    ctx.clock.say("heuristic start")
    inc = _Incumbent()
    h = _cpmp_heuristic(ctx, rng, budget=min(5.0, 0.4 * ctx.clock.limit))
    if h is not None:
        inc.open, inc.assign, inc.value = h
        ctx.stats["heuristic"] = inc.value
    ctx.stats["heuristic_seconds"] = round(ctx.clock.elapsed(), 3)
    return inc


def solve_cpmp(problem: PMedianProblem, *, time_limit_s: float = 60.0, seed: int = 0,
               progress: ProgressFn | None = None, best_effort: bool = True,
               gap_tolerance: float = 0.0) -> PMedianResult:
    """Capacitated p-median with single-source assignment.

    Formulation (x_ij = client i served by candidate j, y_j = j open)::

        min  sum_ij weight_i * cost_ij * x_ij
        s.t. sum_j x_ij = 1                         (each client to exactly one base)
             sum_i demand_i x_ij <= capacity_j y_j  (capacity of each open base)
             sum_i demand_i x_ij >= min_load_j y_j  (if min_load is given)
             x_ij <= y_j,  sum_j y_j = p,  locked open, excluded closed
             x, y binary     (+ the valid cut sum_j capacity_j y_j >= total demand)

    Method (module docstring): heuristic plan, fractional and (whole-number
    demands) 0-1 knapsack Lagrangian bounds, swap search over the open set,
    fixing by reduced costs (a plan must beat the best one, by a whole unit
    with integral costs); then with whole-number demands, no minimum loads
    and the compiled knapsack kernels (numba) a branch and bound on the
    knapsack Lagrangian (:mod:`planner.solvers.pmedian.cpmp_branch`: columns /
    clients branched, reduced-cost fixing and a plan search at every node)
    for the time left; else LP fixing on small models, then SCIP on what
    is left, warm-started, with the knapsack Lagrangian's cuts. Status
    ``optimal`` when a bound meets the plan (integral costs: rounded up) or
    the branch and bound finished, else ``feasible``; ``bound`` is the largest
    of SCIP's (or the branch and bound's least open node), the LP's and the
    Lagrangians' (a number whenever there is a plan: the Lagrangians need no
    solver), ``gap`` from it. ``stats["branch_and_bound"]`` holds the search's
    nodes, depth and seconds.

    Time limit: ``time_limit_s`` is wall time from the call to the result.
    Heuristic start <= 40 % of it (5 s at most); fractional Lagrangian <= a
    quarter of what is left (60 % when the model is too large for SCIP);
    knapsack Lagrangian <= a third of what is left then (300 steps); swap
    search <= a fifth after it (5 s; 25 idle kicks); the branch and bound the
    rest less the margin (else LP <= a fifth; SCIP the rest less a margin and
    its estimated set-up, ``SETUP_SECONDS_PER_NONZERO`` per nonzero). The
    knapsack kernels are compiled in the solve only at a limit of 60 s or more
    (``_COMPILE_MIN_LIMIT``; once per installation, or ``python -m
    planner.solvers.pmedian.knapsack_kernels``): below it, without a cache,
    the numpy DP runs. A model too large to load and solve in that time is not
    given to SCIP: the time goes to more heuristic starts; the message says so.

    Infeasible limits never raise: when the total demand exceeds the largest
    capacity any p bases can offer (locked ones included), a client's demand
    exceeds every capacity, the minimum loads cannot all be met, or the solver
    proves that no single-source assignment fits, the report's ``violated``
    names the limit (e.g. ``"capacity: total demand X exceeds the largest
    possible capacity Y"``). With ``best_effort=True`` (default) the result
    still carries the closest plan (overloads/underloads penalised heavily,
    then cost) with status ``partial``; with ``best_effort=False`` status is
    ``infeasible`` and there is no plan (``assign`` is -1). ``stats`` holds
    ``proven_infeasible`` and, for a partial plan, ``overload``. A problem
    without ``capacity`` raises ``InputError``.
    """
    capacity = problem.capacities
    if capacity is None:
        raise InputError("capacity: solve_cpmp needs capacity (n_candidates or a scalar)")
    ctx = _Cpmp.of(problem, capacity, _Clock(time_limit_s, progress), seed, gap_tolerance)
    rng = np.random.default_rng(seed)

    # 1. quick proofs of infeasibility
    violated = _quick_infeasibility(ctx)
    if violated:
        return _infeasible_result(ctx, violated, "checks", best_effort)

    # 2. heuristic start
    inc = _start(ctx, rng)

    # 3. Lagrangian bound and fixing, 4. LP relaxation (GLOP) on small models: their reduced costs drop
    #    every x_ij / y_j that cannot be in a plan of cost <= the best plan's (bound + reduced cost > plan)
    #    then 4'. the branch and bound, or 5. the MIP rounds
    return _exact(ctx, inc, rng, best_effort)


def _exact(ctx: _Cpmp, inc: _Incumbent, rng: np.random.Generator, best_effort: bool) -> PMedianResult:
    """Steps 3-5 of :func:`solve_cpmp`: bounds and fixing, then the branch and bound on the knapsack
    Lagrangian (integer demands, no minimum loads, compiled kernels) or LP fixing and the MIP rounds; with
    no time for either, more heuristic starts."""
    lag, full = _bound_and_fix(ctx, inc)
    out = MipOutcome("NOT_RUN", None, None, None, 0.0)
    lp = None
    if _use_branch(ctx, inc, lag):
        out = _branch(ctx, inc)
    elif full is not None:
        lp = _lp_fixing(ctx, full) if math.isfinite(inc.value) and ctx.clock.left() > 1.0 else None
        out = _mip_rounds(ctx, full, lp, inc)
    if out.status == "NOT_RUN" and not _proven(lag.value, inc.value, ctx.lo.integral, ctx.gap_tolerance):
        ctx.stats.setdefault("mip_skipped", "exact search skipped: no time left for it")
        ctx.stats["more_starts"] = _more_starts(ctx, rng, inc, [lag.chosen], ctx.clock.limit - ctx.clock.margin())
    return _final_result(ctx, out, lp, lag, inc, best_effort)
