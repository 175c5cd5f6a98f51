"""Compiled (numba) kernels of the 0-1 knapsack DP of :mod:`planner.solvers.pmedian.knapsack_bound`.

Optional: needs the extra ``fast`` (``numba``). :func:`planner.solvers.pmedian.knapsack_bound.kernels`
imports this module only when asked, and hands it out only when the kernels run without a compile
(:func:`ready`: compiled in this process or in numba's on-disk cache, ``cache=True``) or the caller allows a
compile (a first compile takes ~8-13 s on this machine; ``python -m planner.solvers.pmedian.knapsack_kernels``
does it once per installation). Same values as the numpy DP; ties between equal item sets may differ.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from planner.solvers.compiled import cached

__all__ = ["nb_ascent", "nb_knapsacks", "nb_rho_least", "nb_forced", "ready", "warm_up"]

_NO_PAIR_HALF = 5e17  # half the cost of a pair ruled out (1e18 in the callers' tables)


class _State:
    compiled = False


@numba.njit(cache=True)
def nb_knapsacks(R: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray, want: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(rho, x): the 0-1 knapsack value of every used column over reduced costs ``R`` (columns x clients,
    inf where not used) and, for the columns in ``want``, an optimal item set (columns x clients)."""
    m, n = R.shape
    rho = np.full(m, np.inf)
    x = np.zeros((m, n), dtype=np.bool_)
    qmax = 0
    for j in range(m):
        if use[j] and Q[j] > qmax:
            qmax = Q[j]
    dp = np.zeros(qmax + 1)
    take = np.zeros((n, qmax + 1), dtype=np.bool_)
    items = np.zeros(n, dtype=np.int64)
    for j in range(m):
        if not use[j]:
            continue
        q = Q[j]
        cnt, tot, s = 0, 0, 0.0
        for i in range(n):
            if R[j, i] < 0.0 and d[i] <= q:
                if d[i] == 0:
                    s += R[j, i]
                    x[j, i] = True
                else:
                    items[cnt] = i
                    cnt += 1
                    tot += d[i]
        if tot <= q:
            for t in range(cnt):
                s += R[j, items[t]]
                x[j, items[t]] = True
            rho[j] = s
            continue
        for c in range(q + 1):
            dp[c] = 0.0
        if not want[j]:
            for t in range(cnt):
                w = d[items[t]]
                r = R[j, items[t]]
                for c in range(q, w - 1, -1):
                    v = dp[c - w] + r
                    if v < dp[c]:
                        dp[c] = v
            rho[j] = s + dp[q]
            continue
        for t in range(cnt):
            i = items[t]
            w = d[i]
            r = R[j, i]
            for c in range(w):
                take[t, c] = False
            for c in range(q, w - 1, -1):
                v = dp[c - w] + r
                if v < dp[c] - 1e-12:
                    dp[c] = v
                    take[t, c] = True
                else:
                    take[t, c] = False
        rho[j] = s + dp[q]
        c = q
        for t in range(cnt - 1, -1, -1):
            if take[t, c]:
                x[j, items[t]] = True
                c -= d[items[t]]
    return rho, x

@numba.njit(cache=True)
def _nb_one(R: np.ndarray, d: np.ndarray, q: int, j: int, items: np.ndarray, dp: np.ndarray
            ) -> float:  # pragma: no cover - compiled
    """The 0-1 knapsack value of column ``j`` at capacity ``q`` (no items kept)."""
    n = R.shape[1]
    cnt, tot, s = 0, 0, 0.0
    for i in range(n):
        if R[j, i] < 0.0 and d[i] <= q:
            if d[i] == 0:
                s += R[j, i]
            else:
                items[cnt] = i
                cnt += 1
                tot += d[i]
    if tot <= q:
        for t in range(cnt):
            s += R[j, items[t]]
        return s
    for c in range(q + 1):
        dp[c] = 0.0
    for t in range(cnt):
        w = d[items[t]]
        r = R[j, items[t]]
        for c in range(q, w - 1, -1):
            v = dp[c - w] + r
            if v < dp[c]:
                dp[c] = v
    return s + dp[q]

@numba.njit(cache=True)
def nb_rho_least(R: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray, fixed: np.ndarray, k: int
                 ) -> np.ndarray:  # pragma: no cover - compiled
    """Knapsack values good enough to choose the ``k`` least of the used columns not ``fixed``: exact for
    the fixed columns and for every column that can be among the ``k`` least; for the others their
    fractional knapsack value (a lower bound, not below the ``k``-th least exact value). Columns go through
    the DP in order of their fractional value, until the next one's is at least the ``k``-th least exact."""
    m, n = R.shape
    rho = np.full(m, np.inf)
    lb = np.full(m, np.inf)
    qmax = 0
    for j in range(m):
        if use[j] and Q[j] > qmax:
            qmax = Q[j]
    dp = np.zeros(qmax + 1)
    items = np.zeros(n, dtype=np.int64)
    ratio = np.zeros(n)
    for j in range(m):
        if not use[j]:
            continue
        if fixed[j]:
            rho[j] = _nb_one(R, d, Q[j], j, items, dp)
            continue
        q = Q[j]
        cnt, s = 0, 0.0
        for i in range(n):
            if R[j, i] < 0.0 and d[i] <= q:
                if d[i] == 0:
                    s += R[j, i]
                else:
                    items[cnt] = i
                    ratio[cnt] = R[j, i] / d[i]
                    cnt += 1
        order = np.argsort(ratio[:cnt])
        room = q
        for t in range(cnt):
            i = items[order[t]]
            if d[i] <= room:
                s += R[j, i]
                room -= d[i]
            else:
                s += R[j, i] * room / d[i]
                break
        lb[j] = s
    free_cols = np.flatnonzero(use & ~fixed)
    order = free_cols[np.argsort(lb[free_cols], kind="mergesort")]
    best = np.full(max(k, 1), np.inf)  # the k least exact values, ascending
    for t in range(order.size):
        j = order[t]
        if k > 0 and lb[j] >= best[k - 1]:
            for u in range(t, order.size):
                rho[order[u]] = lb[order[u]]
            break
        v = _nb_one(R, d, Q[j], j, items, dp)
        rho[j] = v
        if k > 0 and v < best[k - 1]:
            pos = k - 1
            while pos > 0 and best[pos - 1] > v:
                best[pos] = best[pos - 1]
                pos -= 1
            best[pos] = v
    return rho

@numba.njit(cache=True)
def nb_forced(R: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray
              ) -> np.ndarray:  # pragma: no cover - compiled
    """``F[j, i]``: the least knapsack value of used column ``j`` with client ``i`` in it (prefix and suffix
    tables over its clients of negative reduced cost; inf when ruled out, unused or too large)."""
    m, n = R.shape
    F = np.full((m, n), np.inf)
    qmax = 0
    for j in range(m):
        if use[j] and Q[j] > qmax:
            qmax = Q[j]
    pre = np.zeros((n + 1, qmax + 1))
    suf = np.zeros((n + 1, qmax + 1))
    items = np.zeros(n, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    for j in range(m):
        if not use[j]:
            continue
        q = Q[j]
        cnt = 0
        for i in range(n):
            pos[i] = -1
            if R[j, i] < 0.0 and d[i] <= q:
                pos[i] = cnt
                items[cnt] = i
                cnt += 1
        for c in range(q + 1):
            pre[0, c] = 0.0
            suf[cnt, c] = 0.0
        for t in range(cnt):
            w = d[items[t]]
            r = R[j, items[t]]
            for c in range(q + 1):
                v = pre[t, c]
                if c >= w and pre[t, c - w] + r < v:
                    v = pre[t, c - w] + r
                pre[t + 1, c] = v
        for t in range(cnt - 1, -1, -1):
            w = d[items[t]]
            r = R[j, items[t]]
            for c in range(q + 1):
                v = suf[t + 1, c]
                if c >= w and suf[t + 1, c - w] + r < v:
                    v = suf[t + 1, c - w] + r
                suf[t, c] = v
        for i in range(n):
            if R[j, i] >= _NO_PAIR_HALF or d[i] > q:
                continue
            rest = q - d[i]
            t = pos[i]
            if t < 0:
                F[j, i] = R[j, i] + pre[cnt, rest]
            else:
                best = np.inf
                for c in range(rest + 1):
                    v = pre[t, c] + suf[t + 1, rest - c]
                    if v < best:
                        best = v
                F[j, i] = R[j, i] + best
    return F



@numba.njit(cache=True)
def _chosen(rho: np.ndarray, free_cols: np.ndarray, fixed_cols: np.ndarray, k: int
            ) -> np.ndarray:  # pragma: no cover - compiled
    """The fixed-open columns, then the ``k`` free ones of least ``rho`` (stable order)."""
    order = np.argsort(rho[free_cols], kind="mergesort")
    chosen = np.empty(fixed_cols.size + k, dtype=np.int64)
    chosen[:fixed_cols.size] = fixed_cols
    for t in range(k):
        chosen[fixed_cols.size + t] = free_cols[order[t]]
    return chosen


@numba.njit(cache=True)
def _value_and_subgradient(lam: np.ndarray, rho: np.ndarray, chosen: np.ndarray, xall: np.ndarray,
                           active: np.ndarray, const: float, g: np.ndarray
                           ) -> tuple[float, float]:  # pragma: no cover - compiled
    """The Lagrangian value at ``lam`` with the ``chosen`` columns' knapsacks ``xall``, and its subgradient
    ``g`` (1 - times each active client is taken; written in place) with its squared norm."""
    L = const
    norm = 0.0
    for i in range(lam.size):
        if active[i]:
            L += lam[i]
            c = 0.0
            for t in range(chosen.size):
                if xall[chosen[t], i]:
                    c += 1.0
            g[i] = 1.0 - c
            norm += g[i] * g[i]
        else:
            g[i] = 0.0
    for t in range(chosen.size):
        L += rho[chosen[t]]
    return L, norm


@numba.njit(cache=True)
def _proves(best_val: float, ub: float, integral: bool, tol: float) -> bool:  # pragma: no cover - compiled
    """Whether the bound ``best_val`` proves ``ub`` (integral costs: a plan must beat it by a whole unit)."""
    if not np.isfinite(ub):
        return False
    if integral:
        return best_val - 1e-6 * max(1.0, abs(best_val)) > ub - 1.0 + 1e-9
    return ub - best_val <= max(tol, 1e-9) * max(1.0, abs(ub))


@numba.njit(cache=True)
def nb_ascent(WTn: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray, fixed: np.ndarray, k: int,
              lam0: np.ndarray, active: np.ndarray, const: float, beta0: float, steps: int, stall_max: int,
              avg_from: int, ub: float, integral: bool, tol: float
              ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, bool,
                         int]:  # pragma: no cover - compiled
    """A node's subgradient ascent (:meth:`planner.solvers.pmedian.cpmp_branch._Search.evaluate`, the same
    steps): (best value, its lam, rho, chosen columns, their items, average opening, average items,
    final step size, whether the relaxation is a plan, steps run)."""
    m, n = WTn.shape
    lam = lam0.copy()
    R = np.empty((m, n))
    free_cols = np.flatnonzero(use & ~fixed)
    fixed_cols = np.flatnonzero(fixed)
    nch = fixed_cols.size + k
    best_val = -np.inf
    best_lam = lam.copy()
    best_rho = np.zeros(m)
    best_ch = np.zeros(nch, dtype=np.int64)
    best_x = np.zeros((nch, n), dtype=np.bool_)
    best_plan = False
    ybar = np.zeros(m)
    xbar = np.zeros((m, n))
    wsum = 0.0
    beta, stall, it = beta0, 0, 0
    g = np.zeros(n)
    while it < steps:
        it += 1
        for j in range(m):
            for i in range(n):
                R[j, i] = WTn[j, i] - lam[i]
        rho = nb_rho_least(R, d, Q, use, fixed, k)
        chosen = _chosen(rho, free_cols, fixed_cols, k)
        mask = np.zeros(m, dtype=np.bool_)
        for t in range(nch):
            mask[chosen[t]] = True
        _, xall = nb_knapsacks(R, d, Q, mask, mask)
        L, norm = _value_and_subgradient(lam, rho, chosen, xall, active, const, g)
        if L > best_val + 1e-9 * max(1.0, abs(L)):
            best_val = L
            best_lam[:] = lam
            best_rho[:] = rho
            best_ch[:] = chosen
            for t in range(nch):
                best_x[t, :] = xall[chosen[t], :]
            best_plan = norm == 0.0
            stall = 0
        else:
            stall += 1
            if stall >= stall_max:
                beta *= 0.5
                stall = 0
        if it > avg_from:
            for t in range(nch):
                j = chosen[t]
                ybar[j] += 1.0
                for i in range(n):
                    if xall[j, i]:
                        xbar[j, i] += 1.0
            wsum += 1.0
        if norm == 0.0 or _proves(best_val, ub, integral, tol) or beta < 1e-3:
            break
        target = ub if np.isfinite(ub) else best_val + max(0.01 * abs(best_val), 1.0)
        step = beta * max(target - L, 1e-6 * max(1.0, abs(target))) / norm
        for i in range(n):
            lam[i] += step * g[i]
    if wsum > 0:
        ybar /= wsum
        xbar /= wsum
    else:
        for t in range(nch):
            ybar[best_ch[t]] = 1.0
            for i in range(n):
                if best_x[t, i]:
                    xbar[best_ch[t], i] = 1.0
    return best_val, best_lam, best_rho, best_ch, best_x, ybar, xbar, beta, best_plan, it


def ready() -> bool:
    """Whether the kernels run without a compile: compiled in this process, or in numba's on-disk cache."""
    return _State.compiled or cached((nb_knapsacks, nb_rho_least, nb_forced, _nb_one, nb_ascent))


def warm_up() -> float:
    """Compile the kernels (or load them from the cache) on a tiny instance; the seconds it took."""
    t = time.perf_counter()
    R = np.array([[-1.0, -2.0, 3.0], [-4.0, 1.0, -1.0]])
    d, Q, use = np.array([2, 2, 1], np.int64), np.array([3, 3], np.int64), np.ones(2, dtype=bool)
    nb_knapsacks(R, d, Q, use, use)
    nb_rho_least(R, d, Q, use, ~use, 1)
    nb_forced(R, d, Q, use)
    nb_ascent(R, d, Q, use, ~use, 1, np.zeros(3), np.ones(3, dtype=bool), 0.0, 1.0, 2, 6, 1, 10.0, True, 0.0)
    _State.compiled = True
    return time.perf_counter() - t


if __name__ == "__main__":
    print(f"knapsack_kernels: ready in {warm_up():.2f} s")
