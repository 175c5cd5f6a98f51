"""Lagrangian branch-and-bound on the open candidates of the uncapacitated p-median.

Objective and constraints (on the candidates ``F`` the reduction of
:mod:`planner.solvers.pmedian.uncapacitated` leaves, ``W[i, j] = weight_i *
cost_ij``)::

    min  sum_i sum_j W_ij x_ij
    s.t. sum_j x_ij = 1            (each client served once)
         x_ij <= y_j               (only by an open candidate)
         sum_j y_j = p,  y_j = 1 for the fixed-open (locked, or fixed by reduced costs)
         x, y binary

Method: best-first branch-and-bound on the ``y_j``. A node fixes some
candidates open (set ``S``) and some closed; its bound is the Lagrangian
relaxation of the assignment rows,
``L(lam) = sum_i lam_i + (the k = p - |S| smallest rho_j among the free)``,
``rho_j = sum_i min(0, W_ij - lam_i)``, with ``0 <= lam_i <= d_S(i)`` (the
client's cost at its closest fixed-open candidate; beyond that bound a larger
multiplier only lowers ``L``). Costs beyond a client's radius (the largest
cost of a plan no worse than the incumbent, from the reduction) are raised to
a large number: every plan they affect costs more than the incumbent, so the
bound stays valid for every plan that could improve on it. Each node runs a
short subgradient ascent warm-started from its parent's multipliers (target:
the incumbent), and at every step

- prunes the node when ``L`` proves nothing below the incumbent (with
  integral costs ``ceil(L) >= incumbent``),
- fixes free candidates by reduced costs: one not chosen is closed when
  ``L + rho_j - rho_(k-th chosen) >=`` incumbent, a chosen one is fixed open
  when ``L - rho_j + rho_(k+1-th) >=`` incumbent,
- offers the chosen open set as a plan (each client at its closest; a few of
  them, near the incumbent, improved by vertex substitution).

After the ascent the k free candidates chosen most often along it (they
approximate the LP's open set) are offered as a plan too, improved by vertex
substitution at the root (with many medians the LP is nearly integral and
this finds the optimum: pmed10, p = 67, proven at the root). A node with few
plans left (``comb(free, k) n k`` small) is enumerated exactly. Branching: on
the chosen free candidate whose closing raises the bound most (the ``y_j = 0``
child's bound is that value, the ``y_j = 1`` child's the node's), best bound
first. The search also stops after a time budget, a node budget, or when it
is stalled (``STALL_CLOSED_SHARE``): the caller then hands the rest to SCIP.

Result (:class:`BranchOutcome`): the best plan found (local column indices)
and its value; ``proven`` when the tree was exhausted (the plan is optimal, or within
``gap_tolerance``); ``bound`` a valid lower bound on the optimum (rounded up
with integral costs): the plan's value when proven without a tolerance, else
the smallest bound of the nodes left open (time limit) and, with a tolerance,
at most ``value - gap_tolerance * value`` (what the tolerance cut). No node
starts without the time the slowest one took.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from itertools import combinations, islice
from typing import Any

import numpy as np

from planner.solvers.pmedian.core import _Clock, _swap_search

# client x column evaluations under which a node's plans are all tried instead of bounded
NODE_ENUMERATE_MAX_WORK = 2e6
ROOT_STEPS = 150  # subgradient steps at the root (warm-started at the converged multipliers)
NODE_STEPS = 30  # ... at the other nodes (warm-started at the parent's)
# vertex substitution from node plans near the incumbent: at most SWAP_FREE + nodes / SWAP_PER_NODES runs
# (counted, not timed, so that the search is deterministic)
SWAP_FREE, SWAP_PER_NODES = 5, 20
# multipliers kept for the open nodes (float32, one vector per branched node) at most: beyond this the
# children warm-start from the root's (n = 12,920 clients: ~2,300 branched nodes, 120 MB)
MAX_STORED_MULTIPLIERS = 30_000_000
# a search that has closed (pruned, enumerated, solved) fewer than this share of its nodes after ``stall_nodes``
# is stalled (the tree only grows). Measured (best first closes little at first): a p = 50 file 0 of 400
# nodes closed (4 of 2,826 after 20 s); the p <= 40 trees that finish 0-9 % closed after 100 nodes, 6-25 %
# after 200, 19-42 % after 400
STALL_CLOSED_SHARE = 0.1


@dataclass
class BranchOutcome:
    """The search's result: best plan (local columns, sorted), its value, a lower bound, whether proven."""

    open: np.ndarray
    value: float
    bound: float
    proven: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(order=True)
class _Node:
    bound: float
    order: tuple[int, int]  # (-depth, sequence): deeper first among equal bounds, then FIFO
    fixed: np.ndarray = field(compare=False)  # bool per F column: fixed open
    closed: np.ndarray = field(compare=False)  # bool per F column: fixed closed
    lam: np.ndarray = field(compare=False)  # the parent's multipliers (shared by siblings, read-only)
    depth: int = field(compare=False, default=0)


class _Search:
    def __init__(self, W: np.ndarray, p: int, F: np.ndarray, radius: np.ndarray, locked_mask: np.ndarray,
                 best_open: np.ndarray, best_value: float, clock: _Clock, integral: bool,
                 gap_tolerance: float, enumerate_work: float = NODE_ENUMERATE_MAX_WORK) -> None:
        self.W, self.p, self.F = W, p, F
        self.enumerate_work = enumerate_work
        self.WF = np.ascontiguousarray(W[:, F])
        big = 4.0 * float(self.WF.max()) + 1.0
        self.WB = np.where(self.WF <= radius[:, None], self.WF, big)  # the bound's costs
        self.n, self.f = self.WF.shape
        self.locked_mask = locked_mask
        self.open, self.ub = np.sort(best_open), float(best_value)
        self.clock = clock
        self.integral = integral
        self.tol = max(gap_tolerance, 1e-9)
        self.seen: set[bytes] = set()
        self.swap_s = 0.0
        self.stored = 0  # multiplier vectors kept for open nodes
        self.root_lam = np.zeros(0)
        self.t0 = time.perf_counter()
        self.stats: dict[str, Any] = {"bb_nodes": 0, "bb_pruned": 0, "bb_enumerated": 0, "bb_max_depth": 0,
                                      "bb_fixed_closed": 0, "bb_fixed_open": 0, "bb_swaps": 0, "bb_improved": 0,
                                      "bb_branched": 0}

    # ---------------------------------------------------------------- helpers

    def cut(self, x: Any) -> Any:
        """True where bound ``x`` proves that nothing below the incumbent is there (vectorised)."""
        ub = self.ub
        x = np.asarray(x, dtype=np.float64)
        out = x >= ub - self.tol * max(1.0, abs(ub))
        if self.integral:
            out |= np.ceil(x - 1e-6 * np.maximum(1.0, np.abs(x))) >= ub - 1e-6
        return out

    def offer(self, cols: np.ndarray, value: float | None = None) -> bool:
        """Offer the plan of F columns ``cols``; True when it improves the incumbent."""
        if value is None:
            value = float(self.WF[:, cols].min(axis=1).sum())
        if value < self.ub - 1e-9 * max(1.0, abs(self.ub)):
            self.open, self.ub = np.sort(self.F[cols]), value
            self.stats["bb_improved"] += 1
            return True
        return False

    def improve(self, cols: np.ndarray, value: float, force: bool = False) -> None:
        """Vertex substitution from a node's plan near the incumbent (``SWAP_FREE``, ``SWAP_PER_NODES``)."""
        key = np.sort(cols).tobytes()
        if key in self.seen:
            return
        if not force and (value > self.ub * 1.01 + 1e-9 or
                          self.stats["bb_swaps"] >= SWAP_FREE + self.stats["bb_nodes"] // SWAP_PER_NODES):
            return
        self.seen.add(key)
        t = time.perf_counter()
        open_, val = _swap_search(self.W, self.F[cols], self.locked_mask, self.clock)
        self.swap_s += time.perf_counter() - t
        self.stats["bb_swaps"] += 1
        if val < self.ub - 1e-9 * max(1.0, abs(self.ub)):
            self.open, self.ub = np.sort(open_), float(val)
            self.stats["bb_improved"] += 1

    def enumerate(self, fixed: np.ndarray, free: np.ndarray, k: int) -> None:
        """Try every plan of the node (the fixed open + k of ``free``), with the real costs."""
        base = self.WF[:, fixed].min(axis=1) if fixed.size else np.full(self.n, np.inf)
        WT = np.ascontiguousarray(self.WF[:, free].T)
        batch = max(1, 500_000 // max(1, k * self.n))
        combos = combinations(range(free.size), k)
        while True:
            chunk = np.array(list(islice(combos, batch)), dtype=np.int64).reshape(-1, k)
            if not len(chunk):
                break
            vals = np.minimum(base[None, :], WT[chunk].min(axis=1)).sum(axis=1)
            j = int(np.argmin(vals))
            self.offer(np.concatenate((fixed, free[chunk[j]])), float(vals[j]))
        self.stats["bb_enumerated"] += 1

    # ---------------------------------------------------------------- one node

    def node(self, nd: _Node, steps: int, recover: bool = False) -> list[_Node]:
        """Bound, fix, and branch one node: its children (none when it is pruned or solved)."""
        fixed, closed = nd.fixed.copy(), nd.closed.copy()
        k = self.p - int(fixed.sum())
        free = np.flatnonzero(~fixed & ~closed)
        fo = np.flatnonzero(fixed)
        dS = self.WB[:, fo].min(axis=1) if fo.size else np.full(self.n, np.inf)
        lam = np.minimum(nd.lam, dS)
        Wf = self.WB[:, free]
        best_L, best_lam = -math.inf, lam
        beta, stall = 1.0, 0
        chosen = np.zeros(self.f)  # how often each column was chosen (primal recovery at the root)
        for _ in range(steps):
            if k < 0 or free.size < k:
                return []
            if k == 0 or free.size == k:
                self.offer(np.concatenate((fo, free)) if k else fo)
                return []
            if math.comb(free.size, k) * self.n * k <= self.enumerate_work:
                self.enumerate(fo, free, k)
                return []
            R = np.subtract(Wf, lam[:, None])
            np.minimum(R, 0.0, out=R)
            rho = R.sum(axis=0)
            part = np.argpartition(rho, k)
            sel, nxt = part[:k], float(rho[part[k]])
            kth = float(rho[sel].max())
            L = float(lam.sum() + rho[sel].sum())
            if self.cut(L):
                self.stats["bb_pruned"] += 1
                return []
            if L > best_L + 1e-9 * max(1.0, abs(L)):
                best_L, best_lam, stall = L, lam, 0
            else:
                stall += 1
                if stall >= 3:
                    beta, stall = beta * 0.5, 0
            # reduced-cost fixing (valid at any multipliers)
            in_sel = np.zeros(free.size, dtype=bool)
            in_sel[sel] = True
            close_now = ~in_sel & self.cut(L + rho - kth)
            open_now = in_sel & self.cut(L - rho + nxt)
            if close_now.any() or open_now.any():
                self.stats["bb_fixed_closed"] += int(close_now.sum())
                self.stats["bb_fixed_open"] += int(open_now.sum())
                closed[free[close_now]] = True
                fixed[free[open_now]] = True
                if open_now.any():
                    dS = np.minimum(dS, self.WB[:, free[open_now]].min(axis=1))
                    lam = np.minimum(lam, dS)
                keep = ~close_now & ~open_now
                free, Wf = free[keep], Wf[:, keep]
                fo = np.flatnonzero(fixed)
                k = self.p - fo.size
                best_L, best_lam = -math.inf, lam  # a new subproblem: its own best multipliers
                continue
            # Lagrangian heuristic: the chosen open set as a plan
            cols = np.concatenate((fo, free[sel]))
            chosen[free[sel]] += 1.0
            value = float(self.WF[:, cols].min(axis=1).sum())
            if not self.offer(cols, value):
                self.improve(cols, value)
            if beta < 0.02:
                break
            # projected subgradient step towards the incumbent
            g = 1.0 - (Wf[:, sel] < lam[:, None]).sum(axis=1)
            g[(g > 0) & (lam >= dS)] = 0.0
            g[(g < 0) & (lam <= 0.0)] = 0.0
            norm = float(g @ g)
            if norm == 0.0:
                break
            lam = np.clip(lam + beta * max(self.ub - L, 1e-9 * max(1.0, abs(self.ub))) / norm * g, 0.0, dS)
        if 0 < k < free.size and chosen.any():
            self.recover(fo, free, k, chosen, recover)
        if k <= 0 or free.size <= k:  # the last fixing left a plan or nothing
            if k == 0 or free.size == k:
                self.offer(np.concatenate((fo, free)) if k else fo)
            return []
        return self.children(nd, fixed, closed, free, Wf, best_lam, k)

    def recover(self, fo: np.ndarray, free: np.ndarray, k: int, chosen: np.ndarray, force: bool) -> None:
        """The ``k`` free columns chosen most often along the ascent (they approximate the LP's open set)
        with the fixed-open ``fo``, offered as a plan and improved by vertex substitution."""
        top = free[np.argsort(-chosen[free], kind="stable")[:k]]
        cols = np.concatenate((fo, top))
        value = float(self.WF[:, cols].min(axis=1).sum())
        if not self.offer(cols, value):
            self.improve(cols, value, force=force)

    def children(self, nd: _Node, fixed: np.ndarray, closed: np.ndarray, free: np.ndarray, Wf: np.ndarray,
                 lam: np.ndarray, k: int) -> list[_Node]:
        """Branch a node at the multipliers ``lam`` (its best): on the chosen free candidate whose closing
        raises the bound most; the ``y_j = 1`` child keeps the node's bound, the ``y_j = 0`` child gets that
        raised bound (and is not made when it is cut)."""
        R = np.subtract(Wf, lam[:, None])
        np.minimum(R, 0.0, out=R)
        rho = R.sum(axis=0)
        part = np.argpartition(rho, k)
        sel, nxt = part[:k], float(rho[part[k]])
        L = float(lam.sum() + rho[sel].sum())
        if self.cut(L):
            self.stats["bb_pruned"] += 1
            return []
        down = L - rho[sel] + nxt  # the y_j = 0 child's bound at these multipliers
        b = int(np.argmax(down))
        j = int(free[sel[b]])
        if self.stored * self.n < MAX_STORED_MULTIPLIERS:
            self.stored += 1
            lam = lam.astype(np.float32)  # any multipliers give a valid bound: the children re-evaluate
            lam.setflags(write=False)
        else:
            lam = self.root_lam
        one_fixed = fixed.copy()
        one_fixed[j] = True
        zero_closed = closed.copy()
        zero_closed[j] = True
        depth = nd.depth + 1
        self.stats["bb_max_depth"] = max(self.stats["bb_max_depth"], depth)
        self.stats["bb_branched"] += 1
        kids = [_Node(max(L, nd.bound), (-depth, 0), one_fixed, closed, lam, depth)]
        if not self.cut(float(down[b])):
            kids.append(_Node(max(float(down[b]), nd.bound), (-depth, 0), fixed, zero_closed, lam, depth))
        return kids

    # ---------------------------------------------------------------- the tree

    def run(self, fixed_open: np.ndarray, root_lam: np.ndarray, root_bound: float,
            max_nodes: int | None = None, stop_at: float = math.inf, stall_nodes: int | None = None) -> BranchOutcome:
        lam0 = self.root_lam = root_lam.copy()
        lam0.setflags(write=False)
        heap = [_Node(root_bound, (0, 0), fixed_open.copy(), np.zeros(self.f, dtype=bool), lam0, 0)]
        seq, node_s, root = 0, 0.0, True
        while heap:
            if self.cut(heap[0].bound):
                self.stats["bb_pruned"] += len(heap)
                heap = []
                break
            now = time.perf_counter()
            if self.clock.left() <= max(node_s, 0.002) + 0.02 or now + max(node_s, 0.002) > stop_at or \
                    (max_nodes is not None and self.stats["bb_nodes"] >= max_nodes):
                break
            done = self.stats["bb_nodes"] - self.stats["bb_branched"]  # nodes closed without children
            if stall_nodes is not None and self.stats["bb_nodes"] >= stall_nodes and \
                    done < STALL_CLOSED_SHARE * self.stats["bb_nodes"]:
                self.stats["bb_stalled"] = True
                break
            nd = heapq.heappop(heap)
            t = time.perf_counter()
            kids = self.node(nd, ROOT_STEPS if root else NODE_STEPS, recover=root)
            root = False
            node_s = max(node_s, time.perf_counter() - t)
            self.stats["bb_nodes"] += 1
            for kid in kids:
                seq += 1
                kid.order = (kid.order[0], seq)
                heapq.heappush(heap, kid)
        heap = [nd for nd in heap if not self.cut(nd.bound)]
        proven = not heap
        if proven and self.tol <= 1e-9:
            bound = self.ub
        else:
            # what a gap tolerance cut had a bound >= ub (1 - tol) (the ub of then, or larger)
            cut_by_tol = self.ub - self.tol * max(1.0, abs(self.ub)) if self.tol > 1e-9 else math.inf
            bound = max(root_bound, min([cut_by_tol] + [nd.bound for nd in heap]))
            if self.integral and math.isfinite(bound):
                bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
            bound = min(bound, self.ub)
        self.stats["bb_open_nodes"] = len(heap)
        self.stats["bb_seconds"] = round(time.perf_counter() - self.t0, 3)
        self.stats["bb_swap_seconds"] = round(self.swap_s, 3)
        return BranchOutcome(self.open, self.ub, bound, proven, self.stats)


def branch_and_bound(W: np.ndarray, p: int, F: np.ndarray, fixed_open: np.ndarray, radius: np.ndarray,
                     locked_mask: np.ndarray, best_open: np.ndarray, best_value: float, root_lam: np.ndarray,
                     root_bound: float, clock: _Clock, *, integral: bool, gap_tolerance: float = 0.0,
                     max_nodes: int | None = None, time_budget: float = math.inf, stall_nodes: int | None = None,
                     enumerate_work: float = NODE_ENUMERATE_MAX_WORK) -> BranchOutcome:
    """Lagrangian branch-and-bound (module docstring) on the candidates ``F`` (local columns of ``W``).

    ``fixed_open``: bool per local column (must be open: locked or fixed by reduced costs);
    ``radius``: per client, the largest cost of a plan no worse than ``best_value`` (``inf``: no cap);
    ``best_open``/``best_value``: the incumbent (local columns; every one in ``F``); ``root_lam``: the
    root's multipliers; ``root_bound``: a valid lower bound already known. Stops when the tree is
    exhausted, at the clock's deadline, after ``time_budget`` seconds, after ``max_nodes`` nodes, or
    (``stall_nodes``) when after that many nodes fewer than ``STALL_CLOSED_SHARE`` of them were closed;
    ``enumerate_work``: a node whose
    plans cost at most that many client x column evaluations is enumerated instead of bounded.
    """
    search = _Search(W, p, F, radius, locked_mask, best_open, best_value, clock, integral, gap_tolerance,
                     enumerate_work)
    return search.run(np.asarray(fixed_open)[F].astype(bool), np.asarray(root_lam, dtype=np.float64), root_bound,
                      max_nodes, time.perf_counter() + time_budget, stall_nodes)
