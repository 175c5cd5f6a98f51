"""The capacitated p-median (CPMP) with single-source assignment: :func:`solve_cpmp`.

A heuristic start (uncapacitated swap search, regret-greedy assignment within
capacity, shift/swap descent), then the classic x/y MIP with disaggregated
linking and an aggregate-capacity cut, solved by SCIP through OR-Tools (LP
reduced costs fix pairs on large instances). Problem, result and shared
machinery come from :mod:`planner.solvers.pmedian.core`; :mod:`planner.solvers.pmedian`
re-exports :func:`solve_cpmp`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.errors import InputError
from planner.plans import ProgressFn
from planner.solvers.pmedian.core import (
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
    _swap_search,
)

__all__ = ["solve_cpmp"]

_TIME_LIMIT_MESSAGE = "time limit reached; the bound gives the largest possible gap"


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


def _gap_assign(W: np.ndarray, d: np.ndarray, Q: np.ndarray, open_: np.ndarray,
                ml: np.ndarray | None = None) -> np.ndarray | None:
    """Single-source assignment of every client to an open column within capacity (regret greedy
    + shift/swap descent). Returns column per client, or None if the greedy gets stuck."""
    n = W.shape[0]
    sub = W[:, open_]
    cap = Q[open_].astype(np.float64).copy()
    assign = np.full(n, -1, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    eps = 1e-9 * max(1.0, float(Q.max(initial=1.0)))
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
        k = int(np.lexsort((-d[idx], -regret))[0])  # largest regret, then largest demand
        i = idx[k]
        j = int(np.argmin(costs[k]))
        assign[i] = j
        cap[j] -= d[i]
        todo[i] = False
    # descent: shift one client, or swap two clients between columns
    load = np.bincount(assign, weights=d, minlength=open_.size)
    Qo = Q[open_]
    rows = np.arange(n)
    for _ in range(50 * n):
        cur = sub[rows, assign]
        room = Qo - load
        gain = cur[:, None] - sub  # saving when moving i to column k
        ok = (d[:, None] <= room[None, :] + eps) & (gain > 1e-9)
        if ml is not None:  # the column left behind must keep its minimum load
            mlo = ml[open_]
            ok &= (load[assign] - d >= mlo[assign] - eps)[:, None]
        if ok.any():
            g = np.where(ok, gain, -np.inf)
            k = int(np.argmax(g))
            i, j = divmod(k, open_.size)
            load[assign[i]] -= d[i]
            load[j] += d[i]
            assign[i] = j
            continue
        # swaps (i in a, k in b): saving sub[i,a]+sub[k,b]-sub[i,b]-sub[k,a]
        best, best_pair = 1e-9, None
        for a in range(open_.size):
            ia = np.flatnonzero(assign == a)
            if ia.size == 0:
                continue
            ib = np.flatnonzero(assign != a)
            if ib.size == 0:
                continue
            b = assign[ib]
            save = cur[ia][:, None] + cur[ib][None, :] - sub[ia][:, b] - sub[ib, a][None, :]
            dd = d[ia][:, None] - d[ib][None, :]  # load moving from a to b
            feas = (dd <= room[b][None, :] + eps) & (-dd <= room[a] + eps)
            if ml is not None:
                mlo = ml[open_]
                feas &= (load[a] - dd >= mlo[a] - eps) & (load[b][None, :] + dd >= mlo[b][None, :] - eps)
            save = np.where(feas, save, -np.inf)
            k = int(np.argmax(save))
            if save.flat[k] > best:
                best, best_pair = save.flat[k], (ia[k // ib.size], ib[k % ib.size])
        if best_pair is None:
            break
        i, k = best_pair
        a, b = assign[i], assign[k]
        load[a] += d[k] - d[i]
        load[b] += d[i] - d[k]
        assign[i], assign[k] = b, a
    if ml is not None and (load < ml[open_] - eps).any():
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
        a2 = _gap_assign(W, d, Q, new, ml)
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
    regret greedy + descent. Returns (open, assign, value) in local column indices or None."""
    W, d, Q, ml, clock = ctx.lo.W, ctx.d, ctx.Q, ctx.ml, ctx.clock
    p, locked, locked_mask = ctx.lo.p, ctx.lo.locked, ctx.lo.locked_mask
    best: tuple[np.ndarray, np.ndarray, float] | None = None
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
    for _ in range(tries):
        if clock.left() <= 0:
            break
        g = _greedy(W, p, locked, rng=rng, rcl=3)
        o, _ = _swap_search(W, g, locked_mask, clock)
        starts.append(o)
    seen = set()
    rows = np.arange(W.shape[0])
    for o in starts:
        key = np.sort(o).tobytes()
        if key in seen or clock.left() <= 0 or clock.elapsed() > budget:
            continue
        seen.add(key)
        if Q[o].sum() < d.sum():
            continue
        o = np.sort(o)
        a = _gap_assign(W, d, Q, o, ml)
        if a is None:
            continue
        o, a, val = _improve_locations(ctx, o, a, float(W[rows, a].sum()), budget)
        if best is None or val < best[2]:
            best = (o, a, val)
    return best


def _cpmp_model(ctx: _Cpmp, soft: bool, penalty: float, pairs: tuple[np.ndarray, np.ndarray] | None = None,
                closed: np.ndarray | None = None) -> _CpmpModel:
    """Sparse data of the classic CPMP MIP. Variables: x (pairs), y (m), [s overload, u underload]."""
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
    A = coo_matrix((np.concatenate(rows.V).astype(float), (np.concatenate(rows.R), np.concatenate(rows.C))),
                   shape=(rows.r, nv)).tocsr()
    lb, ub, obj = np.zeros(nv), np.ones(nv), np.zeros(nv)
    lb[yv[ctx.lo.locked_mask]] = 1.0
    if closed is not None:
        ub[yv[closed]] = 0.0
    obj[xv] = W[pi, pj]
    integer = np.zeros(nv, dtype=bool)
    integer[: K + m] = True
    if soft:
        ub[K + m:] = np.inf
        obj[K + m:] = penalty
    mip = MipModel(lb=lb, ub=ub, obj=obj, integer=integer, row_lb=np.concatenate(rows.lo),
                   row_ub=np.concatenate(rows.hi), A=A)
    return _CpmpModel(mip, pi, pj)


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
    (overloads and underloads penalised above any cost, status ``partial``)."""
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
    model = _cpmp_model(ctx, True, penalty)
    out = _mip_solve(model.mip, hint=None, time_limit=max(0.5, clock.left()), seed=ctx.seed)
    if out.x is None:  # fall back to the largest capacities, everybody to the closest
        o = ctx.largest_capacities()
        a = o[np.argmin(W[:, o], axis=1)]
    else:
        a, o = model.read(out.x, n, m)
        if (a < 0).any() or o.size != lo.p:
            o = ctx.largest_capacities()
            a = o[np.argmin(W[:, o], axis=1)]
    load = np.bincount(a, weights=d, minlength=m)
    stats["overload"] = float(np.maximum(load - ctx.Q, 0).sum())
    if ctx.ml is not None:
        stats["underload"] = float(np.maximum(ctx.ml[o] - load[o], 0).sum())
    return _result(problem, lo.cand[o], "partial", None, clock, how + "+SCIP(soft)", stats, violated=tuple(reasons),
                   assign=lo.cand[a], message="closest plan: limits are broken (see violated); "
                   "overloads and underloads were minimised first, then cost")


def _lp_fixing(ctx: _Cpmp, full: _CpmpModel) -> _LpFixing | None:
    """The LP relaxation (GLOP) of the full model; None when it does not solve to optimality in time."""
    ctx.clock.say("LP relaxation")
    lp = dataclasses.replace(full.mip, integer=np.zeros_like(full.mip.integer))
    out = _mip_solve(lp, hint=None, time_limit=max(0.5, 0.2 * ctx.clock.left()), seed=ctx.seed,
                     solver_name="glop", want_reduced_costs=True)
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
    xl, rc, ub = lp.x, lp.reduced_costs, inc.value
    thr = ub + 1e-6 * max(1.0, abs(ub))
    keep = ~((xl[:K0] < 1e-9) & (lp.value + rc[:K0] > thr))
    closed = (xl[K0:K0 + m] < 1e-9) & (lp.value + rc[K0:K0 + m] > thr) & ~ctx.lo.locked_mask
    closed[inc.open] = False
    keep &= ~closed[pj0]
    keep |= np.isin(pi0 * m + pj0, np.arange(n) * m + inc.assign)  # the best plan stays feasible
    ctx.stats["x_variables_after_fixing"] = int(keep.sum())
    ctx.stats["closed_by_fixing"] = int(closed.sum())
    return _cpmp_model(ctx, False, 0.0, pairs=(pi0[keep], pj0[keep]), closed=closed)


def _plan_hint(model: _CpmpModel, inc: _Incumbent, m: int) -> dict[int, float] | None:
    """The incumbent as a MIP start: its pairs and open columns at 1, every other variable at 0."""
    if inc.open is None or inc.assign is None:
        return None
    pos = {(int(a_), int(b_)): t for t, (a_, b_) in enumerate(zip(model.pi, model.pj))}
    hint = dict.fromkeys(range(model.K + m), 0.0)
    for i, j in enumerate(inc.assign):
        hint[pos[(i, int(j))]] = 1.0
    for j in inc.open:
        hint[model.K + int(j)] = 1.0
    return hint


def _mip_rounds(ctx: _Cpmp, full: _CpmpModel, lp: _LpFixing | None, inc: _Incumbent) -> MipOutcome:
    """MIP rounds: a short first round; when it improves the plan, fix again and go on.

    SCIP's restarts cost more than they bring once we fix by reduced costs
    ourselves (measured on pmedcap1 p11, > 60 s -> 21 s without them; its cuts
    are needed there). Returns the last round's outcome (status ``NOT_RUN``
    when there was no time for one); ``inc`` holds the best plan.
    """
    clock, stats, n, m = ctx.clock, ctx.stats, ctx.lo.n, ctx.lo.m
    params = "presolving/maxrestarts = 0\n"
    if ctx.lo.integral:
        params += "limits/absgap = 0.999\n"
    if ctx.gap_tolerance > 0:
        params += f"limits/gap = {ctx.gap_tolerance:g}\n"
    out = MipOutcome("NOT_RUN", None, None, None, 0.0)
    mip_sec, rounds = 0.0, 0
    while True:
        left = clock.left() - clock.margin()
        if left <= 0.05:
            break
        model = _reduced_model(ctx, full, lp, inc)
        hint = _plan_hint(model, inc, m)
        last_round = lp is None or rounds >= 3
        limit = left if last_round else min(left, max(5.0, 0.25 * left))
        stats["mip_variables"] = int(model.mip.A.shape[1])
        stats["mip_rows"] = int(model.mip.A.shape[0])
        clock.say(f"exact search: {model.mip.A.shape[1]} variables")
        out = _mip_solve(model.mip, hint=hint, time_limit=limit, seed=ctx.seed + rounds, params=params)
        mip_sec += out.seconds
        rounds += 1
        improved = False
        if out.x is not None:
            a, o = model.read(out.x, n, m)
            if not (a < 0).any() and o.size == ctx.lo.p:
                val = float(ctx.lo.W[np.arange(n), a].sum())
                if inc.open is None or val < inc.value - 1e-9 * max(1.0, abs(inc.value)):
                    inc.open, inc.assign, inc.value = o, a, val
                    improved = True
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


def _final_result(ctx: _Cpmp, out: MipOutcome, lp: _LpFixing | None, inc: _Incumbent,
                  best_effort: bool) -> PMedianResult:
    """The result after the MIP rounds: best plan, bound (MIP, LP, integrality) and status."""
    problem, clock, stats, lo = ctx.problem, ctx.clock, ctx.stats, ctx.lo
    solver = "heuristic+SCIP(x/y)"
    mip_bound = out.bound
    if lp is not None and mip_bound is not None and out.status != "OPTIMAL":
        mip_bound = max(mip_bound, lp.value)
    if out.status == "INFEASIBLE" and inc.open is None:
        return _infeasible_result(ctx, ["capacity: no assignment of every client to one of p open bases fits "
                                        "the capacities" + (" and minimum loads" if ctx.ml is not None else "")
                                        + " (proven by the solver)"], solver, best_effort)
    if inc.open is None or inc.assign is None:
        return _result(problem, None, "time_limit_no_solution", mip_bound, clock, solver, stats,
                       message="no plan found within the time limit")
    ub = inc.value
    bound = mip_bound
    if out.status == "OPTIMAL":
        bound = ub if bound is None else min(ub, max(bound, out.objective if out.objective is not None else bound))
    if bound is not None and lo.integral:
        bound = min(ub, _round_up(bound))
    done = out.status == "OPTIMAL" or (bound is not None and _proven(bound, ub, lo.integral, ctx.gap_tolerance))
    clock.say("done", 1.0)
    return _result(problem, lo.cand[inc.open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   assign=lo.cand[inc.assign], message="" if done else _TIME_LIMIT_MESSAGE)


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

    Solved by SCIP through OR-Tools, warm-started with a heuristic plan
    (uncapacitated swap search, regret-greedy assignment, shift/swap descent).

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
    ctx.clock.say("heuristic start")
    inc = _Incumbent()
    h = _cpmp_heuristic(ctx, rng)
    if h is not None:
        inc.open, inc.assign, inc.value = h
        ctx.stats["heuristic"] = inc.value
    ctx.stats["heuristic_seconds"] = round(ctx.clock.elapsed(), 3)

    # 3. LP relaxation (GLOP): its reduced costs drop every x_ij / y_j that cannot be in a plan of
    #    cost <= the best plan's (LP value + reduced cost > upper bound)
    full = _cpmp_model(ctx, False, 0.0)
    ctx.stats["x_variables"] = int(full.K)
    lp = _lp_fixing(ctx, full) if math.isfinite(inc.value) and ctx.clock.left() > 1.0 else None

    # 4. MIP rounds, then the result
    out = _mip_rounds(ctx, full, lp, inc)
    return _final_result(ctx, out, lp, inc, best_effort)
