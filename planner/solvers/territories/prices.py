"""Territories pricing: the Lagrangian of the assignment core, its bound, and the ambiguous items.

Used by ``planner.solvers.territories.search`` before any LP, so that large
instances never wait for a full LP. The per-rep limits of ``_Core`` (workload
and potential within their tolerances, capacity) and the move limit are
priced, each item then takes its cheapest candidate at those prices, and the
prices move by subgradient steps (Polyak steps towards a target just above
the best value, halved when the value stalls)::

    L(u) = sum_i min_e in i [obj_e + w_e (u1_r - u2_r) / s_r - w_e K + p_e (u3_r - u4_r) / q_r
                             + n_e u5_r / c_r + m_e u6 / mm]  + constants(u)

with ``u >= 0`` the prices of the scaled limits (workload above / below, potential
above / below, capacity, moves; ``s_r`` = a rep's share of a reference total
workload, ``q_r`` its potential target, ``c_r`` its capacity) and ``K`` the
workload prices passed on through the team total (every workload target is a
share of it). ``L(u)`` is a lower bound of the integer problem and of its LP
relaxation on the same candidate pairs, whatever ``u``.

The prices also say which items are worth an LP: an item whose cheapest
candidate beats its second by a wide margin (its regret) keeps it in every
good plan; the LP then only decides the items with small regrets, the others
fixed (``sub_core``). When the limits cannot hold on the candidates the prices
grow without bound; the LP's slacks then say which reps need more candidates
(the caller widens them). Everything is numpy on the edge arrays and
deterministic (iteration counts, not clocks, decide the result unless the time
runs out).

Works on arrays; imports ``planner.solvers.territories.search`` only for type checking.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from planner.solvers.territories.search import _Core

_RATE = 0.03  # Adam's learning rate, as a share of a rep's typical territory cost
_STALL_ITERS = 50  # halve the rate when the best value did not rise for this many steps


@dataclass(frozen=True, eq=False)
class Prices:
    """Prices of the limits (6 x R: workload above, below, potential above, below, capacity; moves)."""

    u: np.ndarray
    moves: float = 0.0

    @staticmethod
    def zero(n_reps: int) -> Prices:
        return Prices(np.zeros((5, n_reps)))


@dataclass(frozen=True, eq=False)
class _Scale:
    """Constants of the relaxed limits of a core: units, targets and the fixed loads."""

    s_w: np.ndarray  # a rep's share of the reference workload (minutes)
    s_p: np.ndarray  # potential targets (CNY)
    s_c: np.ndarray  # capacities (accounts, at least 1)
    s_m: float  # the move limit (at least 1)
    a: np.ndarray  # share fractions
    tref: float
    lo_p: np.ndarray
    hi_p: np.ndarray

    @staticmethod
    def of(core: _Core) -> _Scale:
        a = core.share / core.share.sum()
        starts = core.starts
        least = float(np.minimum.reduceat(core.e_work, starts[:-1]).sum()) if core.n_items else 0.0
        tref = max(float(core.fixed_work.sum()) + least, 1.0)
        ptgt = core.pot_targets()
        return _Scale(a * tref, np.maximum(ptgt, 1e-9), np.maximum(core.capacity.astype(float), 1.0),
                      float(max(core.max_moves or 0, 1)), a, tref, (1 - core.ptol) * ptgt, (1 + core.ptol) * ptgt)


def reduced_costs(core: _Core, prices: Prices, sc: _Scale | None = None) -> tuple[np.ndarray, float]:
    """Each edge's cost at ``prices`` and the constant part of the Lagrangian."""
    sc = sc or _Scale.of(core)
    u, er, tol = prices.u, core.e_rep, core.tol
    k = float(np.sum(u[0] * (1 + tol) - u[1] * (1 - tol))) / sc.tref  # through the team total
    rep_w = (u[0] - u[1]) / sc.s_w
    rc = core.obj + core.e_work * (rep_w[er] - k) + core.e_count * (u[4] / sc.s_c)[er]
    fw, fp, fc = core.fixed_work, core.fixed_pot, core.fixed_count
    fw_total = float(fw.sum())
    const = float(np.sum(rep_w * fw) - k * fw_total + np.sum(u[4] * (fc - core.capacity) / sc.s_c))
    if core.pot_total > 0:
        rc = rc + core.e_pot * ((u[2] - u[3]) / sc.s_p)[er]
        const += float(np.sum((u[2] * (fp - sc.hi_p) + u[3] * (sc.lo_p - fp)) / sc.s_p))
    if core.max_moves is not None:
        rc = rc + core.e_moved * (prices.moves / sc.s_m)
        const -= prices.moves * core.max_moves / sc.s_m
    return rc, const


def cheapest(rc: np.ndarray, e_item: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the value and the edge of its cheapest candidate (the first among equals)."""
    mins = np.minimum.reduceat(rc, starts[:-1])
    hit = np.flatnonzero(rc <= mins[e_item])
    first = np.r_[True, e_item[hit[1:]] != e_item[hit[:-1]]]
    return mins, hit[first]


@dataclass(frozen=True, eq=False)
class DualResult:
    """The best prices and bound, and the least-violating priced plan (an edge per item, then the
    cheapest among equals) with its total relative violation."""

    prices: Prices
    bound: float
    plan: np.ndarray
    violation: float
    iterations: int


class _Loads:
    """Per-rep loads of a plan (an edge per item) and the scaled excess over each limit."""

    def __init__(self, core: _Core, sc: _Scale, chosen: np.ndarray) -> None:
        R, er = core.n_reps, core.e_rep[chosen]
        self.work = core.fixed_work + np.bincount(er, weights=core.e_work[chosen], minlength=R)
        self.pot = core.fixed_pot + np.bincount(er, weights=core.e_pot[chosen], minlength=R)
        self.count = core.fixed_count + np.bincount(er, weights=core.e_count[chosen], minlength=R)
        self.moved = float(core.e_moved[chosen].sum())
        total = float(self.work.sum())
        g = np.zeros((5, R))
        g[0] = (self.work - (1 + core.tol) * sc.a * total) / sc.s_w
        g[1] = ((1 - core.tol) * sc.a * total - self.work) / sc.s_w
        if core.pot_total > 0:
            g[2] = (self.pot - sc.hi_p) / sc.s_p
            g[3] = (sc.lo_p - self.pot) / sc.s_p
        else:
            g[2:4] = -1.0
        g[4] = (self.count - core.capacity) / sc.s_c
        self.g = g
        self.g_moves = (self.moved - core.max_moves) / sc.s_m if core.max_moves is not None else -1.0

    @property
    def violation(self) -> float:
        return float(np.maximum(self.g, 0).sum() + max(self.g_moves, 0.0))


def lagrange(core: _Core, t_end: float, *, prices: Prices | None = None, max_iters: int = 300) -> DualResult:
    """Projected subgradient ascent on ``L(u)`` from ``prices`` (zero by default) for at most
    ``max_iters`` steps (fewer when every limit holds with complementary prices, or at ``t_end``).

    Steps are Adam's (each price moves by about the learning rate, scaled by its own recent
    subgradients, with momentum): with hundreds of reps one step size for all prices (Polyak's)
    left the bound 2 % short after 300 steps, Adam's 0.1 %. The rate starts at ``_RATE`` of a
    rep's typical territory cost and halves when the best value stalls for ``_STALL_ITERS`` steps."""
    sc = _Scale.of(core)
    starts, R = core.starts, core.n_reps
    p = prices or Prices.zero(R)
    u = np.r_[p.u.ravel(), p.moves]
    typical = float(np.median(np.abs(core.obj))) or float(np.abs(core.obj).mean()) or 1.0
    rate = _RATE * typical * max(core.n_items / R, 1.0)
    m1, m2 = np.zeros_like(u), np.zeros_like(u)
    best = (-np.inf, p)
    plan, plan_key = np.zeros(core.n_items, dtype=np.int64), (np.inf, np.inf)
    since, it = 0, 0
    while it < max_iters:
        it += 1
        cur = Prices(u[:-1].reshape(5, R), float(u[-1]))
        rc, const = reduced_costs(core, cur, sc)
        mins, chosen = cheapest(rc, core.e_item, starts)
        val = float(mins.sum()) + const
        loads = _Loads(core, sc, chosen)
        key = (round(loads.violation, 12), float(core.obj[chosen].sum()))
        if key < plan_key:
            plan, plan_key = chosen, key
        if not np.isfinite(best[0]) or val > best[0] + 1e-9 * abs(best[0]):
            best, since = (val, Prices(cur.u.copy(), cur.moves)), 0
        else:
            since += 1
        g = np.r_[loads.g.ravel(), loads.g_moves if core.max_moves is not None else 0.0]
        g = np.where((g > 0) | (u > 0), g, 0.0)  # a price at 0 with its limit holding stays at 0
        if not g.any() or time.perf_counter() > t_end:
            break
        if since >= _STALL_ITERS:
            rate, since = rate / 2, 0
        m1 = 0.9 * m1 + 0.1 * g
        m2 = 0.999 * m2 + 0.001 * g * g
        u = np.maximum(u + rate * (m1 / (1 - 0.9 ** it)) / (np.sqrt(m2 / (1 - 0.999 ** it)) + 1e-12), 0.0)
    return DualResult(best[1], float(best[0]), plan, plan_key[0], it)


def value(core: _Core, prices: Prices) -> float:
    """``L(prices)``: a lower bound of the plan's objective on the candidate pairs of ``core``."""
    if core.n_items == 0:
        return 0.0
    rc, const = reduced_costs(core, prices)
    return float(np.minimum.reduceat(rc, core.starts[:-1]).sum()) + const


def regrets(core: _Core, prices: Prices) -> tuple[np.ndarray, np.ndarray]:
    """Per item, at ``prices``: its cheapest edge and how much dearer its second candidate is (inf: none)."""
    rc, _ = reduced_costs(core, prices)
    starts = core.starts
    mins, first = cheapest(rc, core.e_item, starts)
    rest = rc.copy()
    rest[first] = np.inf
    second = np.minimum.reduceat(rest, starts[:-1])
    return first, second - mins


def sub_core(core: _Core, free: np.ndarray, fixed_edges: np.ndarray) -> tuple[_Core, np.ndarray]:
    """The instance on the ``free`` items alone (sorted item indices), every other item fixed on its
    edge of ``fixed_edges`` (its loads become constants, its moves come off the move limit).
    Returns the sub-instance and, for each of its edges, the edge of ``core``."""
    in_free = np.zeros(core.n_items, dtype=bool)
    in_free[free] = True
    fixed = fixed_edges[~in_free]
    R, er = core.n_reps, core.e_rep[fixed]
    fw = core.fixed_work + np.bincount(er, weights=core.e_work[fixed], minlength=R)
    fp = core.fixed_pot + np.bincount(er, weights=core.e_pot[fixed], minlength=R)
    fc = core.fixed_count + np.bincount(er, weights=core.e_count[fixed], minlength=R)
    fm = float(core.e_moved[fixed].sum())
    keep = np.flatnonzero(in_free[core.e_item])
    new_id = np.cumsum(in_free) - 1
    mm = None if core.max_moves is None else max(0, int(core.max_moves - round(fm)))
    sub = dataclasses.replace(core, n_items=int(in_free.sum()), e_item=new_id[core.e_item[keep]],
                              e_rep=core.e_rep[keep], e_work=core.e_work[keep], e_cost=core.e_cost[keep],
                              e_pot=core.e_pot[keep], e_count=core.e_count[keep], e_moved=core.e_moved[keep],
                              fixed_work=fw, fixed_pot=fp, fixed_count=fc, max_moves=mm)
    return sub, keep
