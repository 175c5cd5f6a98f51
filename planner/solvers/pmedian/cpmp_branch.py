"""Branch and bound for the capacitated p-median (single source) on the 0-1 knapsack Lagrangian.

Problem (local columns ``j``, clients ``i``, integer demands ``d`` and capacities ``Q``)::

    min  sum_ij W_ij x_ij
    s.t. sum_j x_ij = 1                 (each client to exactly one base)
         sum_i d_i x_ij <= Q_j y_j      (capacity of each open base)
         sum_j y_j = p,  locked columns open,  x, y binary,
         x_ij = 0 for the pairs the caller ruled out (reduced-cost fixing against the incumbent).

Method: the Lagrangian B&B equivalent of Ceselli & Righini's (2005) branch and price. Each node is the
problem with some columns fixed open or closed, some pairs ruled out and some clients fixed to a column
(the client leaves, its column opens and loses its demand of capacity). Its bound relaxes the assignment
rows (multipliers ``lam``): every usable column solves a 0-1 knapsack over its clients by DP on the
integer demands, the fixed-open columns plus the ``k`` free ones of least knapsack value are chosen
(:mod:`planner.solvers.pmedian.knapsack_bound`); a short subgradient ascent warm-started from the parent's
multipliers (Polyak steps towards the incumbent, starting with a step size of at least ``_CHILD_BETA``)
maximises it. A node is pruned when its bound proves the
incumbent (integral costs: rounded up); when the relaxed solution assigns every client exactly once it is
a plan and the node is solved. Otherwise its knapsack reduced costs fix columns open or closed and rule
out pairs (as at the root, :func:`planner.solvers.pmedian.knapsack_bound.fixing`, with the subtree's own
multipliers; the knapsacks shrink as pairs go), the relaxation's items (each client to the cheapest
knapsack that took it, the rest to the cheapest column with room) and each new set of open columns go to
``plan_of`` (the caller's assignment descent, which may improve the incumbent; the new sets for at most
3 % of the nodes and 5 more, a count so that the search is deterministic), and the node branches: on the
free column whose average opening over the ascent's last steps is the most fractional (open / closed), else on the
client whose average assignment is the most split (to its most used column / not to it). Nodes are
taken best bound first, with dives: the child that follows the relaxation is taken next while its bound
is within a quarter of the gap above the least open bound (the dives find the plans), so the global bound
is the least bound of the open nodes.

The knapsacks run in the compiled kernels of :mod:`planner.solvers.pmedian.knapsack_kernels` when
numba imports and they are compiled or cached (or ``compile_ok``), else in the numpy DP of
:class:`planner.solvers.pmedian.knapsack_bound.IntKnapsacks`: same bounds, ~10-30x slower. The compiled
selection solves exactly only the columns that can be among the ``k`` least (the others keep their
fractional knapsack value, a lower bound), which leaves the bound and the choice unchanged.

With the kernels the whole ascent of a node is one compiled call (``nb_ascent``, the same steps as the
numpy loop of ``_Search.evaluate``), cut to the steps that fit before the deadline.

Result (:class:`BranchOutcome`): ``proven`` when every node was pruned or solved (the incumbent is then
optimal, or within ``gap_tolerance``), else the bound is ``min`` over the open nodes (and the incumbent):
a valid lower bound on every plan at any stop (also when the open nodes' pair masks would pass
``_MAX_NODE_BYTES``). The search is deterministic up to where ``deadline`` stops it. ``stats``: nodes,
pruned, open nodes, depth, subgradient steps, branches on columns / clients, heuristic calls, seconds.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from planner.solvers.pmedian import knapsack_bound as kb

__all__ = ["BranchOutcome", "BranchState", "branch_and_bound"]

_BIG = 1e18  # a pair ruled out: never worth taking
_ROOT_STEPS = 120  # subgradient steps at the root node at most
_NODE_STEPS = 40  # ... at every other node (measured: 20 gives more nodes but a lower bound at 10 s)
_STALL = 6  # steps without a better bound before the step size halves
_PLUNGE = 0.25  # a dive goes on while its bound is within this share of the gap above the least open bound
# (measured on n = 100: 0 = best first finds no better plan; 0.5 finds it but the bound grows slower)
_PLAN_SHARE = 0.03  # nodes whose new open set goes to ``plan_of`` at most, plus 5 (a count: deterministic;
# measured on n = 100: 0.15 gave 1,900 nodes in 6 s, 0.03 gave 2,800 and the same or better plans)
_REPAIR_WITHIN = 0.01  # a repaired relaxation within 1 % of the incumbent goes to ``plan_of``'s descent
_AVG_FROM = 0.5  # the averages for branching use the steps after this fraction of the node's ascent
_FRACTIONAL_Y = 0.1  # a column is branched on when its average opening is within (0.1, 0.9)
_CHILD_BETA = 2.0  # a child's ascent starts with its parent's last step size, at least this (measured on n = 100:
# from the same multipliers 40 steps gain 2-3x more with 1-2 than with 0.25; 0.25 left n100_0 at 988 at 10 s,
# 1.0 at 992.2, 2.0 at 993.0 (all with its plan of 1000); 4.0 stalled at 975)
_MAX_NODE_BYTES = 300_000_000  # the open nodes' pair masks at most: the search stops (bound kept) beyond


def _knapsacks(kk: ModuleType | None, R: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray, fixed: np.ndarray,
               free: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho, chosen, x): the 0-1 knapsack value of every used column (inf elsewhere) over reduced costs ``R``
    (columns x clients), the chosen columns (``fixed`` plus the ``k`` of ``free`` of least rho) and an optimal
    item set of each chosen column (chosen x clients, bool)."""
    if kk is not None:  # the k least exactly, a lower bound elsewhere (``nb_rho_least``)
        fmask = np.zeros(use.size, dtype=bool)
        fmask[fixed] = True
        rho = kk.nb_rho_least(R, d, Q, use, fmask, k)
        chosen = np.concatenate((fixed, kb.select_k(rho, free, k)))
        mask = np.zeros(use.size, dtype=bool)
        mask[chosen] = True
        return rho, chosen, kk.nb_knapsacks(R, d, Q, mask, mask)[1][chosen]
    cols = np.flatnonzero(use)
    ks = kb.IntKnapsacks(np.zeros((R.shape[1], cols.size)), d, Q[cols], cols[:0], cols[:0], 0)
    rho = np.full(R.shape[0], np.inf)
    if cols.size:
        rho[cols] = ks._rho(R[cols])
    chosen = np.concatenate((fixed, kb.select_k(rho, free, k)))
    ks = kb.IntKnapsacks(np.zeros((R.shape[1], chosen.size)), d, Q[chosen], cols[:0], cols[:0], 0)
    return rho, chosen, ks._take(R[chosen], np.arange(chosen.size)).T > 0.5


def _forced(kk: ModuleType | None, R: np.ndarray, d: np.ndarray, Q: np.ndarray, use: np.ndarray) -> np.ndarray:
    """``F[j, i]``: the least knapsack value of used column ``j`` with client ``i`` in it (inf when ruled out,
    unused or too large)."""
    if kk is not None:
        return kk.nb_forced(R, d, Q, use)
    F = np.full(R.shape, np.inf)
    cols = np.flatnonzero(use)
    if cols.size:
        Rc = np.minimum(R[cols], _BIG)
        ks = kb.IntKnapsacks(Rc.T.copy(), d, Q[cols], cols[:0], cols[:0], 0)
        Fc = ks.forced(np.zeros(R.shape[1]))
        Fc[Rc >= 0.5 * _BIG] = np.inf
        F[cols] = Fc
    return F


_PlanOf = Callable[[np.ndarray, np.ndarray | None], tuple[float, np.ndarray] | None]
# plan_of(open columns, a position in them per client or None): a plan (value, column per client) or None


@dataclass
class BranchState:
    """The incumbent, shared with the caller: open columns, column per client, value (inf: none)."""

    open: np.ndarray | None
    assign: np.ndarray | None
    value: float


@dataclass(frozen=True, eq=False)
class BranchOutcome:
    """How the search ended: ``proven`` (no open node can beat the incumbent), the global lower
    ``bound`` (inf when the problem has no plan and the search finished), and its statistics."""

    proven: bool
    bound: float
    stats: dict[str, Any]


@dataclass(eq=False)
class _Node:
    """A subproblem: columns fixed open / closed, allowed pairs (clients x columns), clients fixed to a
    column (-1: free), the multipliers and step size to start from, the parent's bound, the depth."""

    fixed_open: np.ndarray
    closed: np.ndarray
    allow: np.ndarray
    assigned: np.ndarray
    lam: np.ndarray
    beta: float
    bound: float
    depth: int
    steps: int = _NODE_STEPS


@dataclass(eq=False)
class _Eval:
    """A node's best Lagrangian value and what goes with it (multipliers, knapsack values, chosen columns,
    their items), the averages for branching, the final step size; ``plan``: the relaxation is a plan."""

    value: float
    lam: np.ndarray
    rho: np.ndarray
    chosen: np.ndarray
    x: np.ndarray
    ybar: np.ndarray
    xbar: np.ndarray
    beta: float
    plan: bool


class _Search:
    """One branch and bound: the data, the incumbent, the clock and the counters."""

    def __init__(self, W: np.ndarray, d: np.ndarray, Q: np.ndarray, p: int, state: BranchState,
                 integral: bool, gap_tolerance: float, deadline: float,
                 plan_of: _PlanOf | None, kk: ModuleType | None) -> None:
        self.W, self.WT = W, np.ascontiguousarray(W.T)
        self.d, self.Q, self.p = d.astype(np.int64), Q.astype(np.int64), p
        self.n, self.m = W.shape
        self.state, self.integral, self.tol, self.deadline = state, integral, gap_tolerance, deadline
        self.plan_of, self.kk = plan_of, kk
        self.seen: set[bytes] = set()
        self.nodes = self.pruned = self.plans = self.max_depth = self.steps = 0
        self.y_branches = self.x_branches = self.plan_calls = self.repair_calls = 0
        self.plan_s, self.t0 = 0.0, time.perf_counter()
        self.step_s = 0.0  # the longest compiled subgradient step so far (seconds)
        self.lost = math.inf  # the least bound of a node left without a branch (none: inf)

    # ------------------------------------------------------------------ bounds

    def proves(self, lb: float) -> bool:
        """Whether ``lb`` shows no plan in the node beats the incumbent (by a whole unit when integral)."""
        ub = self.state.value
        if not (math.isfinite(lb) and math.isfinite(ub)):
            return lb == math.inf
        if self.integral and math.ceil(lb - 1e-6 * max(1.0, abs(lb))) >= ub - 1e-6:
            return True
        return ub - lb <= max(self.tol, 1e-9) * max(1.0, abs(ub))

    def threshold(self) -> float:
        """The largest relaxation value a pair or column may have and stay in the node."""
        ub = self.state.value
        if self.integral:
            return ub - 1.0 + 1e-6 * max(1.0, abs(ub))
        return ub - max(self.tol, 1e-9) * max(1.0, abs(ub))

    def usable(self, node: _Node) -> tuple[np.ndarray, np.ndarray, int] | None:
        """(capacities left, free columns mask, free columns to open) of a node, or None when it has no plan
        (too many columns fixed, too few left, a column over capacity, a client with nowhere to go)."""
        fixed = node.assigned >= 0
        Qn = self.Q - np.bincount(node.assigned[fixed], weights=self.d[fixed], minlength=self.m).astype(np.int64)
        free = ~node.fixed_open & ~node.closed
        k = self.p - int(node.fixed_open.sum())
        if k < 0 or int(free.sum()) < k or (Qn[node.fixed_open] < 0).any():
            return None
        cols = node.fixed_open | free
        if not (node.allow[~fixed][:, cols]).any(axis=1).all():
            return None
        return Qn, free, k

    def evaluate(self, node: _Node, Qn: np.ndarray, free: np.ndarray, k: int) -> _Eval:
        """Subgradient ascent on the node's knapsack Lagrangian from its multipliers."""
        active = node.assigned < 0
        fixed_cols = np.flatnonzero(node.fixed_open)
        free_cols = np.flatnonzero(free)
        use = node.fixed_open | free
        WTn = np.where(node.allow.T & active[None, :], self.WT, _BIG)
        const = float(self.W[np.flatnonzero(~active), node.assigned[~active]].sum())
        lam = np.where(active, node.lam, 0.0)
        if self.kk is not None:  # the same ascent, compiled; no more steps than fit before the deadline
            ub = self.state.value
            t = time.perf_counter()
            steps = max(1, min(node.steps, int((self.deadline - t) / max(self.step_s, 1e-6))))
            r = self.kk.nb_ascent(WTn, self.d, Qn, use, node.fixed_open.copy(), k, lam, active, const, node.beta,
                                  steps, _STALL, int(_AVG_FROM * node.steps), ub, self.integral, self.tol)
            self.steps += int(r[9])
            self.step_s = max(self.step_s, (time.perf_counter() - t) / max(1, int(r[9])))
            return _Eval(float(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], float(r[7]), bool(r[8]))
        beta, stall = node.beta, 0
        best: _Eval | None = None
        ybar, xbar, wsum = np.zeros(self.m), np.zeros((self.m, self.n)), 0.0
        ub = self.state.value
        start = int(_AVG_FROM * node.steps)
        for it in range(node.steps):
            self.steps += 1
            R = WTn - lam[None, :]
            rho, chosen, xc = _knapsacks(self.kk, R, self.d, Qn, use, fixed_cols, free_cols, k)
            cover = xc.sum(axis=0)
            L = const + float(lam[active].sum() + rho[chosen].sum())
            g = np.where(active, 1.0 - cover, 0.0)
            norm = float(g @ g)
            if best is None or L > best.value + 1e-9 * max(1.0, abs(L)):
                best = _Eval(L, lam.copy(), rho, chosen, xc, ybar, xbar, beta, norm == 0.0)
                stall = 0
            else:
                stall += 1
                if stall >= _STALL:
                    beta, stall = beta * 0.5, 0
            if it >= start:
                ybar[chosen] += 1.0
                xbar[chosen] += xc
                wsum += 1.0
            if norm == 0.0 or self.proves(best.value) or beta < 1e-3 or time.perf_counter() > self.deadline:
                break
            target = ub if math.isfinite(ub) else best.value + max(0.01 * abs(best.value), 1.0)
            lam = lam + beta * max(target - L, 1e-6 * max(1.0, abs(target))) / norm * g
        assert best is not None
        if wsum > 0:
            best.ybar, best.xbar = ybar / wsum, xbar / wsum
        else:
            best.ybar = np.zeros(self.m)
            best.ybar[best.chosen] = 1.0
            best.xbar = np.zeros((self.m, self.n))
            best.xbar[best.chosen] = best.x
        best.beta = beta
        return best

    # ------------------------------------------------------------------ node work

    def take_plan(self, node: _Node, ev: _Eval) -> None:
        """The relaxation assigns every client once: a plan of value ``ev.value``."""
        a = node.assigned.copy()
        rows, cols = np.nonzero(ev.x)
        a[cols] = ev.chosen[rows]
        if (a < 0).any():
            return
        val = float(self.W[np.arange(self.n), a].sum())
        self.plans += 1
        if val < self.state.value - 1e-9 * max(1.0, abs(val)):
            self.state.open = np.unique(np.concatenate((ev.chosen, np.flatnonzero(node.fixed_open))))
            self.state.assign, self.state.value = a, val

    def repair(self, node: _Node, ev: _Eval) -> np.ndarray | None:
        """A plan near the relaxation's: each client where the knapsacks put it (the cheapest if several),
        the others to the cheapest open column with room, largest demand first; position in the open
        columns per client, or None when a client fits nowhere."""
        o = np.unique(np.concatenate((ev.chosen, np.flatnonzero(node.fixed_open))))
        pos = np.searchsorted(o, ev.chosen)
        cost = np.where(ev.x, self.W[:, ev.chosen].T, np.inf)  # chosen x clients
        best = np.argmin(cost, axis=0)
        a = np.where(np.isfinite(cost.min(axis=0)), pos[best], -1)
        fixed = node.assigned >= 0
        a[fixed] = np.searchsorted(o, node.assigned[fixed])
        load = np.bincount(a[a >= 0], weights=self.d[a >= 0], minlength=o.size)
        room = self.Q[o] - load
        sub = self.W[:, o]
        for i in np.flatnonzero(a < 0)[np.argsort(-self.d[a < 0], kind="stable")]:
            c = np.where(room >= self.d[i], sub[i], np.inf)
            k = int(np.argmin(c))
            if not np.isfinite(c[k]):
                return None
            a[i] = k
            room[k] -= self.d[i]
        return a

    def try_open_set(self, node: _Node, ev: _Eval) -> None:
        """Hand the node's open columns and the relaxation's repaired assignment to ``plan_of`` (and a new
        set of open columns alone); keep a better plan."""
        if self.plan_of is None:
            return
        o = np.unique(np.concatenate((ev.chosen, np.flatnonzero(node.fixed_open))))
        if o.size != self.p:
            return
        t = time.perf_counter()
        start = self.repair(node, ev)
        if start is not None:
            value = float(self.W[np.arange(self.n), o[start]].sum())
            if value <= self.state.value * (1.0 + _REPAIR_WITHIN) or not math.isfinite(self.state.value):
                self.take(o, self.plan_of(o, start))
                self.repair_calls += 1
        key = o.tobytes()
        if key not in self.seen and self.plan_calls <= _PLAN_SHARE * self.nodes + 5:
            self.seen.add(key)
            self.take(o, self.plan_of(o, None))
            self.plan_calls += 1
        self.plan_s += time.perf_counter() - t

    def take(self, o: np.ndarray, r: tuple[float, np.ndarray] | None) -> None:
        """Keep the plan ``r`` (value, column per client) on the open columns ``o`` if it is better."""
        if r is not None and r[0] < self.state.value - 1e-9 * max(1.0, abs(r[0])):
            self.state.open, self.state.assign, self.state.value = o, r[1], r[0]

    def fix(self, node: _Node, ev: _Eval, Qn: np.ndarray, free: np.ndarray) -> bool:
        """Reduced-cost fixing in the node (columns open/closed, pairs out) against the incumbent; False when
        that leaves the node without a plan."""
        thr = self.threshold()
        L, rho, chosen = ev.value, ev.rho, ev.chosen
        is_ch = np.zeros(self.m, dtype=bool)
        is_ch[chosen] = True
        free_ch = chosen[free[chosen]]
        free_rest = np.flatnonzero(free & ~is_ch)
        rho_last = float(rho[free_ch].max()) if free_ch.size else math.inf
        rho_next = float(rho[free_rest].min()) if free_rest.size else math.inf
        rho_f = np.where(np.isfinite(rho), rho, 0.0)  # inf: columns not in use
        base = np.where(is_ch, L - rho_f, L - rho_last)  # -inf when no free column is chosen: none can open
        closing = free & ~is_ch & ((base + rho_f > thr) | (free_ch.size == 0))
        opening = free & is_ch & (L - rho_f + rho_next > thr)
        node.closed = node.closed | closing
        node.fixed_open = node.fixed_open | opening
        use = node.fixed_open | (free & ~closing)
        active = node.assigned < 0
        WTn = np.where(node.allow.T & active[None, :], self.WT, _BIG)
        F = _forced(self.kk, WTn - ev.lam[None, :], self.d, Qn, use)
        with np.errstate(invalid="ignore"):
            keep = (base[:, None] + F <= thr) & use[:, None]
        node.allow = node.allow & keep.T
        return self.usable(node) is not None

    def branch(self, node: _Node, ev: _Eval, free: np.ndarray) -> list[_Node]:
        """Two children: on the most fractional free column, else on the most split client."""
        kids: list[_Node] = []
        yb = np.where(free, ev.ybar, 0.0)
        frac = np.minimum(yb, 1.0 - yb)
        j = int(np.argmax(frac))
        beta = max(ev.beta, _CHILD_BETA)
        if frac[j] > _FRACTIONAL_Y:
            self.y_branches += 1
            a = self.child(node, ev, beta)
            a.fixed_open = node.fixed_open.copy()
            a.fixed_open[j] = True
            b = self.child(node, ev, beta)
            b.closed = node.closed.copy()
            b.closed[j] = True
            b.allow = node.allow.copy()
            b.allow[:, j] = False
            return [a, b] if yb[j] >= 0.5 else [b, a]
        active = node.assigned < 0
        usable = node.fixed_open | free
        xb = np.where(usable[:, None] & node.allow.T & active[None, :], ev.xbar, 0.0)  # columns x clients
        top = xb.max(axis=0)
        split = np.where(active, np.minimum(top, np.maximum(0.0, 1.0 - top)) + 0.01 * (xb > 0).sum(axis=0), -1.0)
        i = int(np.argmax(split))
        if split[i] < 0:
            return kids
        col = np.where(node.allow[i] & usable, xb[:, i] - 1e-9 * self.W[i], -np.inf)
        j = int(np.argmax(col))
        if not np.isfinite(col[j]):
            return kids
        self.x_branches += 1
        a = self.child(node, ev, beta)
        a.assigned = node.assigned.copy()
        a.assigned[i] = j
        a.fixed_open = node.fixed_open.copy()
        a.fixed_open[j] = True
        a.allow = node.allow.copy()
        a.allow[i, :] = False
        a.allow[i, j] = True
        b = self.child(node, ev, beta)
        b.allow = node.allow.copy()
        b.allow[i, j] = False
        return [a, b]

    def child(self, node: _Node, ev: _Eval, beta: float) -> _Node:
        return _Node(node.fixed_open, node.closed, node.allow, node.assigned, ev.lam, beta, ev.value,
                     node.depth + 1)

    def run(self, root: _Node) -> BranchOutcome:
        t0 = self.t0 = time.perf_counter()
        heap: list[tuple[float, int, int, _Node]] = []
        count = 0
        heapq.heappush(heap, (root.bound, 0, count, root))
        cut = False
        plunge: tuple[float, int, int, _Node] | None = None  # the child taken next (a dive), outside the heap
        while heap or plunge is not None:
            if time.perf_counter() > self.deadline or len(heap) * self.n * self.m > _MAX_NODE_BYTES:
                cut = True
                break
            if plunge is not None:
                bound, _, _, node = plunge
                plunge = None
            else:
                bound, _, _, node = heapq.heappop(heap)
            if self.proves(bound):
                self.pruned += 1
                continue
            self.nodes += 1
            self.max_depth = max(self.max_depth, node.depth)
            u = self.usable(node)
            if u is None:
                self.pruned += 1
                continue
            ev = self.evaluate(node, *u)
            if time.perf_counter() > self.deadline and not self.proves(ev.value):
                heapq.heappush(heap, (max(bound, ev.value), -node.depth, count, node))
                cut = True
                break
            self.try_open_set(node, ev)
            if ev.plan:
                self.take_plan(node, ev)
            if self.proves(ev.value) or ev.plan:
                self.pruned += 1
                continue
            if not self.fix(node, ev, u[0], u[1]):
                self.pruned += 1
                continue
            u2 = self.usable(node)
            if u2 is None:
                self.pruned += 1
                continue
            kids = self.branch(node, ev, u2[1])
            if not kids:  # nothing to branch on (not expected): the node stays open, no proof
                self.lost = min(self.lost, max(bound, ev.value))
                continue
            for t, kid in enumerate(kids):
                count += 1
                item = (max(bound, ev.value), -kid.depth, count, kid)
                low = heap[0][0] if heap else item[0]
                if t == 0 and item[0] <= low + _PLUNGE * (self.state.value - low):
                    plunge = item
                else:
                    heapq.heappush(heap, item)
        if plunge is not None:
            heapq.heappush(heap, plunge)
        ub = self.state.value
        lb = min([ub, self.lost] + [h[0] for h in heap])
        stats = {"nodes": self.nodes, "pruned": self.pruned, "open_nodes": len(heap) + (1 if cut else 0),
                 "max_depth": self.max_depth, "subgradient_steps": self.steps, "plans_in_tree": self.plans,
                 "y_branches": self.y_branches, "heuristic_calls": self.plan_calls, "repairs": self.repair_calls,
                 "heuristic_seconds": round(self.plan_s, 3), "x_branches": self.x_branches,
                 "seconds": round(time.perf_counter() - t0, 3), "compiled": self.kk is not None}
        proven = not cut and not heap and math.isinf(self.lost)
        return BranchOutcome(proven, lb, stats)


def branch_and_bound(W: np.ndarray, d: np.ndarray, Q: np.ndarray, p: int, *, allow: np.ndarray,
                     closed: np.ndarray, opened: np.ndarray, lam: np.ndarray, state: BranchState,
                     integral: bool, deadline: float, gap_tolerance: float = 0.0, root_bound: float = -math.inf,
                     plan_of: _PlanOf | None = None, compile_ok: bool = False) -> BranchOutcome:
    """Search the CPMP (module docstring) on ``W`` (clients x columns) with integer demands ``d`` and
    capacities ``Q``: ``allow`` the pairs left (clients x columns), ``closed``/``opened`` columns fixed,
    ``lam`` the root multipliers, ``state`` the incumbent (updated in place with every better plan),
    ``deadline`` a ``time.perf_counter()`` value, ``root_bound`` a known bound (the root's key).

    Returns the outcome: ``proven`` when the search finished (``state`` then holds an optimal plan, or
    none exists: ``bound`` inf), else ``bound`` = the least bound of the open nodes (and the incumbent)."""
    n, m = W.shape
    root = _Node(opened.astype(bool).copy(), closed.astype(bool).copy(), allow.astype(bool).copy(),
                 np.full(n, -1, dtype=np.int64), lam.astype(np.float64).copy(), 1.0, root_bound, 0,
                 steps=_ROOT_STEPS)
    root.allow[:, root.closed] = False
    search = _Search(W, d, Q, p, state, integral, gap_tolerance, deadline, plan_of, kb.kernels(compile_ok))
    return search.run(root)
