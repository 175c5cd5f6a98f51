"""The capacitated p-median (CPMP) with single-source assignment: :func:`solve_cpmp`.

A heuristic start (uncapacitated swap search, regret-greedy assignment within
capacity, shift/swap descent), then the classic x/y MIP with disaggregated
linking and an aggregate-capacity cut, solved by SCIP through OR-Tools (LP
reduced costs fix pairs on large instances). Problem, result and shared
machinery come from :mod:`planner.pmedian_core`; :mod:`planner.pmedian`
re-exports :func:`solve_cpmp`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from planner.plans import ProgressFn
from planner.solvers.pmedian.core import (
    _LAST_REDUCED_COSTS,
    PMedianProblem,
    PMedianResult,
    _Clock,
    _greedy,
    _is_integral,
    _mip_solve,
    _proven,
    _result,
    _swap_search,
)

__all__ = ["solve_cpmp"]


# --------------------------------------------------------------------------- capacitated


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


def _cpmp_heuristic(W, d, Q, ml, p, locked, locked_mask, clock, rng, tries: int = 30, budget: float = 5.0):
    """Open sets from the uncapacitated swap search (and capacity-aware variants), assigned by
    regret greedy + descent. Returns (open, assign) in local column indices or None."""
    m = W.shape[1]
    best = None
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
    for t in range(tries):
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
        val = float(W[rows, a].sum())
        # location-allocation: move each base to the best spot for its clients, reassign, repeat
        for _ in range(20):
            if clock.elapsed() > budget:
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
        if best is None or val < best[2]:
            best = (o, a, val)
    return best


def _cpmp_model(W, d, Q, ml, p, locked_mask, soft: bool, penalty: float, pairs=None, closed=None):
    """Sparse data of the classic CPMP MIP. Variables: x (pairs), y (m), [s overload, u underload]."""
    from scipy.sparse import coo_matrix

    n, m = W.shape
    if pairs is not None:
        pi, pj = pairs
    elif soft:
        pi, pj = np.nonzero(np.ones((n, m), dtype=bool))
    else:
        pi, pj = np.nonzero(d[:, None] <= Q[None, :] + 1e-9)
    K = pi.size
    xv = np.arange(K)
    yv = K + np.arange(m)
    nv = K + m
    has_ml = ml is not None and (ml > 0).any()
    mlj = np.flatnonzero(ml > 0) if has_ml else np.zeros(0, dtype=np.int64)
    if soft:
        sv = nv + np.arange(m)
        nv += m
        uv = nv + np.arange(mlj.size)
        nv += mlj.size
    R, C, V, lo, hi = [], [], [], [], []
    r = 0
    # assignment rows
    R.append(r + pi); C.append(xv); V.append(np.ones(K)); lo.append(np.ones(n)); hi.append(np.ones(n)); r += n
    # capacity rows: sum d x - Q y (- s) <= 0
    R += [r + pj, r + np.arange(m)]; C += [xv, yv]; V += [d[pi], -Q.astype(float)]
    if soft:
        R.append(r + np.arange(m)); C.append(sv); V.append(-np.ones(m))
    lo.append(np.full(m, -np.inf)); hi.append(np.zeros(m)); r += m
    # min load rows: sum d x - ml y (+ u) >= 0
    if has_ml:
        rowof = np.full(m, -1)
        rowof[mlj] = r + np.arange(mlj.size)
        sel = rowof[pj] >= 0
        R += [rowof[pj][sel], rowof[mlj]]; C += [xv[sel], yv[mlj]]; V += [d[pi][sel], -ml[mlj]]
        if soft:
            R.append(rowof[mlj]); C.append(uv); V.append(np.ones(mlj.size))
        lo.append(np.zeros(mlj.size)); hi.append(np.full(mlj.size, np.inf)); r += mlj.size
    # linking x_ij <= y_j
    R += [r + xv, r + xv]; C += [xv, yv[pj]]; V += [np.ones(K), -np.ones(K)]
    lo.append(np.full(K, -np.inf)); hi.append(np.zeros(K)); r += K
    # cardinality
    R.append(np.full(m, r)); C.append(yv); V.append(np.ones(m)); lo.append([float(p)]); hi.append([float(p)]); r += 1
    if not soft:  # aggregate capacity: the open capacities hold all the demand
        R.append(np.full(m, r)); C.append(yv); V.append(Q.astype(float)); lo.append([float(d.sum())]); hi.append([np.inf]); r += 1
    A = coo_matrix((np.concatenate(V).astype(float), (np.concatenate(R), np.concatenate(C))), shape=(r, nv)).tocsr()
    lb = np.zeros(nv)
    ub = np.ones(nv)
    lb[yv[locked_mask]] = 1.0
    if closed is not None:
        ub[yv[closed]] = 0.0
    obj = np.zeros(nv)
    obj[xv] = W[pi, pj]
    integer = np.zeros(nv, dtype=bool)
    integer[: K + m] = True
    if soft:
        ub[K + m:] = np.inf
        obj[K + m:] = penalty
    return dict(lb=lb, ub=ub, obj=obj, integer=integer, row_lb=np.concatenate([np.asarray(a, float) for a in lo]),
                row_ub=np.concatenate([np.asarray(a, float) for a in hi]), A=A), (pi, pj, K)


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
    ``proven_infeasible`` and, for a partial plan, ``overload``.
    """
    if problem.capacity is None:
        raise ValueError("capacity: solve_cpmp needs capacity (n_candidates or a scalar)")
    clock = _Clock(time_limit_s, progress)
    cand = problem.allowed()
    W = np.ascontiguousarray(problem.weight[:, None] * problem.cost[:, cand])
    n, m = W.shape
    p = problem.p
    d = np.asarray(problem.demand, dtype=np.float64)
    Q = np.asarray(problem.capacity, dtype=np.float64)[cand]
    ml = None if problem.min_load is None else np.asarray(problem.min_load, dtype=np.float64)[cand]
    where = np.full(problem.n_candidates, -1, dtype=np.int64)
    where[cand] = np.arange(m)
    locked = np.sort(where[list(problem.locked)]).astype(np.int64) if problem.locked else np.zeros(0, np.int64)
    locked_mask = np.zeros(m, dtype=bool)
    locked_mask[locked] = True
    free = np.flatnonzero(~locked_mask)
    k = p - locked.size
    integral = _is_integral(W)
    rng = np.random.default_rng(seed)
    stats: dict[str, Any] = {"n_clients": n, "n_candidates": m, "p": p, "integral_costs": integral,
                             "proven_infeasible": False}
    total = float(d.sum())
    eps = 1e-9 * max(1.0, total)

    # 1. quick proofs of infeasibility
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
            violated.append(f"min_load: the {p} open bases need at least {least:g} of demand, total demand is {total:g}")

    def infeasible_result(reasons: list[str], how: str) -> PMedianResult:
        stats["proven_infeasible"] = True
        if not best_effort:
            return _result(problem, None, "infeasible", None, clock, how, stats, violated=tuple(reasons),
                           message="no plan meets the limits")
        clock.say("infeasible limits: searching the closest plan")
        scale = float(np.abs(W).sum(axis=1).max(initial=0.0)) * n + 1.0
        dpos = d[d > 0]
        unit = float(dpos.min()) if dpos.size else 1.0
        penalty = min(1e9, scale / max(unit, 1e-6))
        data, (pi, pj, K) = _cpmp_model(W, d, Q, ml, p, locked_mask, True, penalty)
        status, x, _, _, _ = _mip_solve(**data, hint=None, time_limit=max(0.5, clock.left()), seed=seed)
        if x is None:  # fall back to the largest capacities, everybody to the closest
            o = np.sort(np.concatenate((locked, free[np.argsort(-Q[free], kind="stable")[:k]])))
            a = o[np.argmin(W[:, o], axis=1)]
        else:
            xs = x[:K] > 0.5
            a = np.full(n, -1, dtype=np.int64)
            a[pi[xs]] = pj[xs]
            o = np.flatnonzero(x[K:K + m] > 0.5)
            if (a < 0).any() or o.size != p:
                o = np.sort(np.concatenate((locked, free[np.argsort(-Q[free], kind="stable")[:k]])))
                a = o[np.argmin(W[:, o], axis=1)]
        load = np.bincount(a, weights=d, minlength=m)
        stats["overload"] = float(np.maximum(load - Q, 0).sum())
        if ml is not None:
            stats["underload"] = float(np.maximum(ml[o] - load[o], 0).sum())
        return _result(problem, cand[o], "partial", None, clock, how + "+SCIP(soft)", stats, violated=tuple(reasons),
                       assign=cand[a], message="closest plan: limits are broken (see violated); "
                       "overloads and underloads were minimised first, then cost")

    if violated:
        return infeasible_result(violated, "checks")

    # 2. heuristic start
    clock.say("heuristic start")
    h = _cpmp_heuristic(W, d, Q, ml, p, locked, locked_mask, clock, rng)
    ub = math.inf
    best_open = best_assign = None
    if h is not None:
        best_open, best_assign, ub = h
        stats["heuristic"] = ub
    stats["heuristic_seconds"] = round(clock.elapsed(), 3)

    # 3. LP relaxation (GLOP): its reduced costs drop every x_ij / y_j that cannot be in a plan of
    #    cost <= the best plan's (LP value + reduced cost > upper bound)
    full, (pi0, pj0, K0) = _cpmp_model(W, d, Q, ml, p, locked_mask, False, 0.0)
    stats["x_variables"] = int(K0)
    lp_val = rc = xl = None
    if math.isfinite(ub) and clock.left() > 1.0:
        clock.say("LP relaxation")
        lp_data = dict(full)
        lp_data["integer"] = np.zeros_like(full["integer"])
        st, xl, lp_val, _, _ = _mip_solve(**lp_data, hint=None, time_limit=max(0.5, 0.2 * clock.left()), seed=seed,
                                          solver_name="glop", want_reduced_costs=True)
        rc = _LAST_REDUCED_COSTS[0]
        if st != "OPTIMAL" or rc is None or lp_val is None:
            lp_val = rc = None
        else:
            stats["lp_bound"] = lp_val

    def reduced_model():
        if rc is None:
            return full, (pi0, pj0, K0)
        thr = ub + 1e-6 * max(1.0, abs(ub))
        keep = ~((xl[:K0] < 1e-9) & (lp_val + rc[:K0] > thr))
        closed = (xl[K0:K0 + m] < 1e-9) & (lp_val + rc[K0:K0 + m] > thr) & ~locked_mask
        closed[best_open] = False
        keep &= ~closed[pj0]
        keep |= np.isin(pi0 * m + pj0, np.arange(n) * m + best_assign)  # the best plan stays feasible
        stats["x_variables_after_fixing"] = int(keep.sum())
        stats["closed_by_fixing"] = int(closed.sum())
        return _cpmp_model(W, d, Q, ml, p, locked_mask, False, 0.0, pairs=(pi0[keep], pj0[keep]), closed=closed)

    # 4. MIP rounds: a short first round; when it improves the plan, fix again and go on
    # (SCIP's restarts cost more than they bring once we fix by reduced costs ourselves: measured on
    # pmedcap1 p11, > 60 s -> 21 s without them; its cuts are needed there)
    params = "presolving/maxrestarts = 0\n"
    if integral:
        params += "limits/absgap = 0.999\n"
    if gap_tolerance > 0:
        params += f"limits/gap = {gap_tolerance:g}\n"
    status, mip_obj, mip_bound, mip_sec = "NOT_RUN", None, None, 0.0
    rounds = 0
    solver = "heuristic+SCIP(x/y)"
    while True:
        left = clock.left() - clock.margin()
        if left <= 0.05:
            break
        data, (pi, pj, K) = reduced_model()
        hint = None
        if best_open is not None:
            pos = {(int(a_), int(b_)): t for t, (a_, b_) in enumerate(zip(pi, pj))}
            hint = dict.fromkeys(range(K + m), 0.0)
            for i, j in enumerate(best_assign):
                hint[pos[(i, int(j))]] = 1.0
            for j in best_open:
                hint[K + int(j)] = 1.0
        last_round = rc is None or rounds >= 3
        limit = left if last_round else min(left, max(5.0, 0.25 * left))
        stats["mip_variables"] = int(data["A"].shape[1])
        stats["mip_rows"] = int(data["A"].shape[0])
        clock.say(f"exact search: {data['A'].shape[1]} variables")
        status, x, mip_obj, mip_bound, sec = _mip_solve(**data, hint=hint, time_limit=limit, seed=seed + rounds,
                                                        params=params)
        mip_sec += sec
        rounds += 1
        improved = False
        if x is not None:
            xs = x[:K] > 0.5
            a = np.full(n, -1, dtype=np.int64)
            a[pi[xs]] = pj[xs]
            o = np.flatnonzero(x[K:K + m] > 0.5)
            if not (a < 0).any() and o.size == p:
                val = float(W[np.arange(n), a].sum())
                if best_open is None or val < ub - 1e-9 * max(1.0, abs(ub)):
                    best_open, best_assign, ub = o, a, val
                    improved = True
        if status in ("OPTIMAL", "INFEASIBLE") or last_round or not improved:
            if status not in ("OPTIMAL", "INFEASIBLE") and not last_round and clock.left() > 0.5:
                rounds = 99  # no progress from fixing again: one last round with all the time left
                continue
            break
    stats["mip_rounds"] = rounds if rounds < 99 else "last"
    stats["mip_status"] = status
    stats["mip_seconds"] = round(mip_sec, 3)
    stats["mip_bound"] = mip_bound
    if lp_val is not None and mip_bound is not None and status != "OPTIMAL":
        mip_bound = max(mip_bound, lp_val)
    if status == "INFEASIBLE" and best_open is None:
        return infeasible_result(["capacity: no assignment of every client to one of p open bases fits "
                                  "the capacities" + (" and minimum loads" if ml is not None else "")
                                  + " (proven by the solver)"], solver)
    if best_open is None:
        return _result(problem, None, "time_limit_no_solution", mip_bound, clock, solver, stats,
                       message="no plan found within the time limit")
    bound = mip_bound if mip_bound is not None else None
    if status == "OPTIMAL":
        bound = ub if bound is None else min(ub, max(bound, mip_obj if mip_obj is not None else bound))
    if bound is not None and integral:
        bound = min(ub, float(math.ceil(bound - 1e-6 * max(1.0, abs(bound)))))
    done = status == "OPTIMAL" or (bound is not None and _proven(bound, ub, integral, gap_tolerance))
    clock.say("done", 1.0)
    return _result(problem, cand[best_open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   assign=cand[best_assign],
                   message="" if done else "time limit reached; the bound gives the largest possible gap")
