"""A stronger Lagrangian bound for the capacitated p-median: 0-1 knapsacks per candidate.

Relax the assignment rows ``sum_j x_ij = 1`` of the single-source CPMP with
multipliers ``lam`` (free sign). What is left splits by candidate::

    L(lam) = sum_i lam_i + sum_{j open} rho_j,
    rho_j  = min sum_i (W_ij - lam_i) x_ij  s.t.  sum_i d_i x_ij <= Q_j,  x_ij in {0, 1},

with the open candidates the locked ones plus the ``k`` free ones of least
``rho``. Keeping ``x`` binary inside each knapsack makes ``max L`` at least the
LP bound (the fractional knapsack of :mod:`planner.solvers.pmedian.capacitated`
gives exactly the LP bound); on the Osman-Christofides instances it closes
about half of the LP gap. Each knapsack is solved by dynamic programming over
integer demands, all candidates at once (one numpy step per client), so this
is used only when demands and capacities are integers (capacities are floored)
and ``clients x candidates x (capacity + 1)`` is small (``MAX_CELLS``).

Every ``L(lam)`` is a valid lower bound on the CPMP: single sourcing is kept,
only the assignment rows are relaxed (minimum loads and the aggregate-capacity
cut are left out, which can only lower it). The same tables give reduced costs
for variable fixing: forcing client ``i`` into candidate ``j`` costs at least
the knapsack of ``j`` with ``i`` in it (prefix and suffix tables over the
clients, combined at capacity ``Q_j - d_i``), and forcing ``j`` open or closed
swaps it with the last (next) free candidate of the relaxation.

The DP runs in numba kernels (:mod:`planner.solvers.pmedian.knapsack_kernels`, see :func:`kernels`) when
they are available without a compile, else in numpy. The branch and bound of
:mod:`planner.solvers.pmedian.cpmp_branch` uses the same tables at every node.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

__all__ = ["ENABLED", "MAX_CELLS", "IntKnapsacks", "KnapsackBound", "integer_data", "ascend", "fixing", "kernels",
           "select_k"]

STALL = 20  # steps without a better bound before the step size halves (measured: 8-12 stall early)
MAX_CELLS = 4_000_000  # clients x candidates x (capacity + 1); the fixing's prefix and suffix tables: 64 MB here
# (OR-Library n = 100: 1.2 M cells, ~1-5 ms per evaluation, ~50 ms for the fixing; measured)


ENABLED = True  # False: always the numpy DP (tests)


def kernels(compile_ok: bool = False) -> ModuleType | None:
    """The compiled kernels (:mod:`planner.solvers.pmedian.knapsack_kernels`) when numba imports and they
    run without a compile (or ``compile_ok``: the caller has the time for one), else None (numpy DP)."""
    if not ENABLED:
        return None
    try:
        from planner.solvers.pmedian import knapsack_kernels as kk
    except ImportError:  # numba is an optional extra
        return None
    if kk.ready() or compile_ok:
        return kk
    return None


def integer_data(d: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(integer demands, floored integer capacities) when every demand is a whole number and the DP is small
    enough (``MAX_CELLS``); else None (the fractional relaxation is used instead)."""
    if d.size == 0 or Q.size == 0 or not np.all(np.isfinite(d)) or not np.all(d == np.round(d)):
        return None
    qi = np.floor(np.minimum(Q, float(d.sum())) + 1e-9).astype(np.int64)
    if d.size * Q.size * (int(qi.max(initial=0)) + 1) > MAX_CELLS:
        return None
    return np.round(d).astype(np.int64), qi


class IntKnapsacks:
    """The 0-1 knapsacks of every candidate at multipliers ``lam``, solved together by DP.

    ``W`` is clients x candidates (local columns), ``d`` integer demands, ``Q`` integer capacities,
    ``locked``/``free`` local columns and ``k`` the free columns to open.
    """

    def __init__(self, W: np.ndarray, d: np.ndarray, Q: np.ndarray, locked: np.ndarray, free: np.ndarray,
                 k: int, kk: ModuleType | None = None) -> None:
        self.WT = np.ascontiguousarray(W.T, dtype=np.float64)  # m x n
        self.d, self.Q = d, Q
        self.m, self.n = self.WT.shape
        self.qmax = int(Q.max(initial=0))
        self.locked, self.free, self.k = locked, free, k
        self.kk = kk  # the compiled kernels (``kernels()``), or None: numpy

    def _dp(self, R: np.ndarray, items: np.ndarray, keep: bool) -> tuple[np.ndarray, list[np.ndarray]]:
        """Knapsack DP over ``items`` (clients) for every column: ``dp[j, w]`` = least cost within capacity
        ``w``. ``keep``: also the table after each item (for backtracking)."""
        dp = np.zeros((self.m, self.qmax + 1))
        tabs = [dp] if keep else []
        for i in items:
            w = int(self.d[i])
            new = dp.copy() if keep else dp
            if w == 0:
                np.minimum(new, dp + np.minimum(R[:, i], 0.0)[:, None], out=new)
            elif w <= self.qmax:
                cand = dp[:, :self.qmax + 1 - w] + R[:, i][:, None]
                new[:, w:] = np.minimum(dp[:, w:], cand)
            dp = new
            if keep:
                tabs.append(dp)
        return dp, tabs

    def _rho(self, R: np.ndarray) -> np.ndarray:
        """The knapsack value of every column. A column whose clients of negative reduced cost all fit takes
        them all; the others go through the DP together (one numpy step per client)."""
        neg = np.minimum(R, 0.0)
        rho = neg.sum(axis=1)
        bind = np.flatnonzero(((R < 0) * self.d[None, :]).sum(axis=1) > self.Q)
        if bind.size:
            Rb = neg[bind]
            dp = np.zeros((bind.size, self.qmax + 1))
            for i in np.flatnonzero((Rb < 0).any(axis=0)):
                w = int(self.d[i])
                if w <= self.qmax:
                    np.minimum(dp[:, w:], dp[:, :self.qmax + 1 - w] + Rb[:, i][:, None], out=dp[:, w:])
            rho[bind] = dp[np.arange(bind.size), self.Q[bind]]
        return rho

    def _take(self, R: np.ndarray, chosen: np.ndarray) -> np.ndarray:
        """x (clients x ``chosen``) of an optimal 0-1 knapsack of each chosen column (DP with backtracking)."""
        Rc = R[chosen]
        items = np.flatnonzero((Rc < 0).any(axis=0))
        dp = np.zeros((chosen.size, self.qmax + 1))
        took: list[np.ndarray | None] = []
        for i in items:
            w = int(self.d[i])
            if w > self.qmax:
                took.append(None)
                continue
            cand = dp[:, :self.qmax + 1 - w] + np.minimum(Rc[:, i], 0.0)[:, None]
            t = cand < dp[:, w:] - 1e-12
            np.minimum(dp[:, w:], cand, out=dp[:, w:])
            took.append(t)
        x = np.zeros((self.n, chosen.size))
        c = self.Q[chosen].copy()
        cj = np.arange(chosen.size)
        for t_i in range(items.size - 1, -1, -1):
            tk = took[t_i]
            if tk is None:
                continue
            i, w = items[t_i], int(self.d[items[t_i]])
            sel = cj[c >= w]
            hit = tk[sel, c[sel] - w]
            if hit.any():
                x[i, sel[hit]] = 1.0
                c[sel[hit]] -= w
        return x

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(L(lam), rho per column, open columns, subgradient, x of the open columns as a clients x open 0/1
        matrix)."""
        R = self.WT - lam[None, :]
        if self.kk is not None:
            fixed = np.zeros(self.m, dtype=bool)
            fixed[self.locked] = True
            rho = self.kk.nb_rho_least(R, self.d, self.Q, np.ones(self.m, dtype=bool), fixed, self.k)
            chosen = np.concatenate((self.locked, select_k(rho, self.free, self.k)))
            mask = np.zeros(self.m, dtype=bool)
            mask[chosen] = True
            x = self.kk.nb_knapsacks(R, self.d, self.Q, mask, mask)[1][chosen].T.astype(np.float64)
        else:
            rho = self._rho(R)
            chosen = np.concatenate((self.locked, select_k(rho, self.free, self.k)))
            x = self._take(R, chosen)
        grad = 1.0 - x.sum(axis=1)
        return float(lam.sum() + rho[chosen].sum()), rho, chosen, grad, x

    def forced(self, lam: np.ndarray) -> np.ndarray:
        """``F[j, i]``: the least value of knapsack ``j`` with client ``i`` in it (inf when ``d_i > Q_j``)."""
        R = self.WT - lam[None, :]
        if self.kk is not None:
            return self.kk.nb_forced(R, self.d, self.Q, np.ones(self.m, dtype=bool))
        items = np.arange(self.n)
        _, pre = self._dp(R, items, keep=True)  # pre[t]: items 0..t-1
        _, suf_rev = self._dp(R, items[::-1], keep=True)  # suf_rev[t]: the last t items
        F = np.full((self.m, self.n), np.inf)
        for q in np.unique(self.Q):
            js = np.flatnonzero(self.Q == q)
            for i in range(self.n):
                w = int(self.d[i])
                if w > q:
                    continue
                a = pre[i][js, :q - w + 1]
                b = suf_rev[self.n - 1 - i][js, :q - w + 1][:, ::-1]
                F[js, i] = R[js, i] + (a + b).min(axis=1)
        return F


def select_k(rho: np.ndarray, free: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` free columns of least ``rho``, sorted by rho."""
    if k <= 0 or free.size == 0:
        return np.zeros(0, dtype=np.int64)
    return free[np.argsort(rho[free], kind="stable")[:k]]


@dataclass(frozen=True, eq=False)
class KnapsackBound:
    """The best bound found, its multipliers, the columns it opens and the iterations run."""

    value: float
    lam: np.ndarray
    rho: np.ndarray
    chosen: np.ndarray
    iterations: int


def ascend(ks: IntKnapsacks, lam0: np.ndarray, ub: float, deadline: float, proven: Callable[[float, float], bool],
           on_open_set: Callable[[np.ndarray], float | None] | None = None, max_iter: int = 300,
           beta0: float = 2.0) -> KnapsackBound:
    """Subgradient ascent on ``L`` from ``lam0`` (Polyak steps towards ``ub``, halved after ``STALL`` steps without
    a better bound) until ``deadline`` (perf_counter), ``max_iter`` steps, a tiny step or ``proven(bound)``.
    ``on_open_set(columns)`` (optional) sees each new set of columns the relaxation opens and returns an
    improved ``ub`` (a Lagrangian heuristic) or None."""
    lam = lam0.astype(np.float64).copy()
    best: KnapsackBound | None = None
    beta, stall, step_s, seen = beta0, 0, 0.0, set()
    it = 0
    while it < max_iter:
        it += 1
        t = time.perf_counter()
        L, rho, chosen, grad, _ = ks.evaluate(lam)
        if best is None or L > best.value + 1e-9 * max(1.0, abs(L)):
            best, stall = KnapsackBound(L, lam.copy(), rho, chosen, it), 0
        else:
            stall += 1
            if stall >= STALL:
                beta, stall = beta * 0.5, 0
        key = np.sort(chosen).tobytes()
        if on_open_set is not None and key not in seen:
            seen.add(key)
            better = on_open_set(np.sort(chosen))
            if better is not None:
                ub = min(ub, better)
        step_s = max(step_s, time.perf_counter() - t)
        norm = float(grad @ grad)
        if norm == 0.0 or beta < 1e-4 or proven(best.value, ub) or time.perf_counter() + step_s > deadline:
            break
        target = ub if math.isfinite(ub) else best.value + max(0.01 * abs(best.value), 1.0)
        lam = lam + beta * max(target - L, 1e-6 * max(1.0, abs(target))) / norm * grad
    assert best is not None
    return KnapsackBound(best.value, best.lam, best.rho, best.chosen, it)


def fixing(ks: IntKnapsacks, kb: KnapsackBound, threshold: float, locked_mask: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs and columns that cannot be in a plan of cost <= ``threshold``, by the knapsack reduced costs:
    ``(keep, closed, forced_open)`` with ``keep`` a candidates x clients mask."""
    L, rho, chosen = kb.value, kb.rho, kb.chosen
    m = rho.size
    is_open = np.zeros(m, dtype=bool)
    is_open[chosen] = True
    free_chosen = chosen[~locked_mask[chosen]]
    free_rest = np.flatnonzero(~is_open & ~locked_mask)
    rho_last = float(rho[free_chosen].max()) if free_chosen.size else math.inf
    rho_next = float(rho[free_rest].min()) if free_rest.size else math.inf
    # forcing j open (not chosen): it replaces the last free column chosen; closing a chosen free column:
    # the next one takes its place
    base = np.where(is_open, L - rho, L - rho_last)
    closed = ~is_open & (base + rho > threshold) & ~locked_mask
    forced_open = is_open & ~locked_mask & (L - rho + rho_next > threshold)
    F = ks.forced(kb.lam)
    keep = (base[:, None] + F <= threshold) & ~closed[:, None]
    return keep, closed, forced_open
