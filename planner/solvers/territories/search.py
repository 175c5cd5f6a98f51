"""Territories search: the assignment core and the methods that solve it.

Used by ``planner.solvers.territories.solve`` (see the ``model`` docstring for the model
and method). Holds the integer scaling for CP-SAT (``_Scaler``), the
assignment instance on items x candidate reps (``_Core``) and its evaluation,
the HiGHS LP relaxation (elastic: every limit with a penalised slack), on
every item or on the items the Lagrangian prices leave open
(``planner.solvers.territories.prices``), argmax rounding, greedy repair
(moves, then swaps), the CP-SAT polish, the candidate items (accounts or grid
units, ``_Items``) with their widening around broken limits, and one solve
round (units first, then accounts).

Works on arrays; imports ``planner.solvers.territories`` only for type checking.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from planner.geo.travel import TravelBackend
from planner.plans import ProgressFn
from planner.solvers.territories.geometry import _grid_units
from planner.solvers.territories.prices import (
    DualResult,
    Prices,
    lagrange,
    reduced_costs,
    regrets,
    sub_core,
    value,
)

if TYPE_CHECKING:
    from ortools.sat.python import cp_model
    from scipy.sparse import csr_matrix

    from planner.solvers.territories.model import TerritoryOptions, TerritoryProblem, _Prep

_INT_LIMIT = 2**52  # largest |activity| allowed in the CP-SAT model (int64 with headroom)
_HIGHS_PARAMS = "output_flag=false"
_SLACK_MAX_PER_MILLE = 100_000  # a limit may be missed by up to 100 x in the closest plan
_LP_SHARE = 0.8  # of the time left: the rest for rounding, repair and polish (10,000 x 50: the LP takes 6.6-7.2 s)
_MIN_REPAIR_S = 0.1  # the greedy repair after rounding runs this long at least, even past the deadline
_MIN_POLISH_S = 0.1  # the CP-SAT polish is skipped with less time left
_DUAL_SHARE = 0.3  # of an instance's time: the most the Lagrangian prices may take
_DUAL_ITERS = 300  # subgradient steps of the prices (fewer when they converge or the time is up)
_FULL_LP_EDGES = 30_000  # up to this many item-rep pairs the LP takes every item (10,000 x 50, 91k: 8.5 s)
_FREE_SHARE = 0.25  # above, the LP decides this share of the items (those the prices leave most open) ...
_FREE_PER_REP = 10  # ... and at least this many per rep, ...
_LP_MARGIN_FACTOR = 2.0  # the LP's margin inside the limits, in plan margins (see _lp_margin) ...
_LP_MARGIN_MIN = 0.05  # ... and at least this share of each tolerance
_SLACK_OK = 0.01  # a reduced LP this close to its narrowed limits (relative, summed) is not widened:
# the limits it aims at are twice as far inside as the plan's, and the repair closes the rest
_FREE_CANDIDATES = 3  # ... each with its cheapest priced candidates (10,000 x 50: LP 0.6 s, not 1.7 s, same plan)

Loads = tuple[np.ndarray, np.ndarray, np.ndarray]  # per rep: workload minutes, potential CNY, accounts


# --------------------------------------------------------------------------- #
# Integer scaling (the one place where floats become integers for CP-SAT)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Scaler:
    """Units of the CP-SAT model: workload minutes, potential CNY and cost minutes per integer step.

    ``pick`` chooses the finest power-of-ten units for which the largest
    constraint activity stays below ``_INT_LIMIT`` and raises otherwise.
    Shares are in 1/100 and tolerances in 1/10,000.
    """

    work_unit_min: float
    pot_unit_cny: float
    cost_unit_min: float
    SHARE: int = 100
    TOL: int = 10_000

    @staticmethod
    def pick(total_work_min: float, total_pot_cny: float, total_cost_min: float, sum_share: float,
             n_slacks: int) -> _Scaler:
        s_int = max(1, round(sum_share * _Scaler.SHARE))
        # balance rows: TOL * S * W_r  vs  (TOL + tol) * share_r * T  vs  slack (per mille of the target)
        mult = 2 * _Scaler.TOL * max(s_int, _Scaler.SHARE * _SLACK_MAX_PER_MILLE // 1000)
        work = next((u for u in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
                     if mult * (total_work_min / u + 1) < _INT_LIMIT), None)
        pot_mult = 2 * _SLACK_MAX_PER_MILLE // 1000 + 4
        pot = next((u for u in (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
                    if pot_mult * (total_pot_cny / u + 1) < _INT_LIMIT), None)
        # objective: sum cost x + big * sum slacks, big = sum cost + 1
        obj_mult = 2 * _SLACK_MAX_PER_MILLE * max(n_slacks, 1)
        cost = next((u for u in (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
                     if obj_mult * (total_cost_min / u + 1) < _INT_LIMIT), None)
        if work is None or pot is None or cost is None:
            raise OverflowError(f"territory model too large for 64-bit integers (workload {total_work_min:.3g} min, "
                                f"potential {total_pot_cny:.3g} CNY, cost {total_cost_min:.3g}): use units")
        return _Scaler(work, pot, cost)

    def work(self, v: ArrayLike) -> np.ndarray:
        return np.rint(np.asarray(v, dtype=float) / self.work_unit_min).astype(np.int64)

    def pot(self, v: ArrayLike) -> np.ndarray:
        return np.rint(np.asarray(v, dtype=float) / self.pot_unit_cny).astype(np.int64)

    def cost(self, v: ArrayLike) -> np.ndarray:
        return np.rint(np.asarray(v, dtype=float) / self.cost_unit_min).astype(np.int64)

    def share(self, v: ArrayLike) -> np.ndarray:
        return np.maximum(1, np.rint(np.asarray(v, dtype=float) * self.SHARE)).astype(np.int64)

    def tol(self, v: float) -> int:
        return int(round(v * self.TOL))


def _check_int_range(values: Iterable[int | np.integer], what: str) -> None:
    m = max((abs(int(v)) for v in values), default=0)
    if m >= _INT_LIMIT:
        raise OverflowError(f"{what}: integer {m} exceeds the CP-SAT limit {_INT_LIMIT}")


# --------------------------------------------------------------------------- #
# The assignment core: items (accounts or units) x candidate reps
# --------------------------------------------------------------------------- #


@dataclass
class _Core:
    """An assignment instance on items (accounts or units).

    Edge arrays (``e_*``, length E, sorted by item): candidate (item, rep) pairs
    with workload minutes, cost, potential, accounts and accounts moved.
    ``fixed_*``: per-rep constants from locked accounts (and fixed items).
    """

    n_items: int
    n_reps: int
    e_item: np.ndarray
    e_rep: np.ndarray
    e_work: np.ndarray
    e_cost: np.ndarray
    e_pot: np.ndarray
    e_count: np.ndarray
    e_moved: np.ndarray
    share: np.ndarray
    capacity: np.ndarray
    fixed_work: np.ndarray
    fixed_pot: np.ndarray
    fixed_count: np.ndarray
    pot_total: float
    tol: float
    ptol: float
    max_moves: int | None
    move_penalty: float

    @property
    def starts(self) -> np.ndarray:
        return np.searchsorted(self.e_item, np.arange(self.n_items + 1))

    @property
    def obj(self) -> np.ndarray:
        return self.e_cost + self.move_penalty * self.e_moved

    def pot_targets(self) -> np.ndarray:
        return self.share / self.share.sum() * self.pot_total


@dataclass
class _Eval:
    work: np.ndarray
    pot: np.ndarray
    count: np.ndarray
    moved: float
    cost: float
    objective: float
    violated: list[tuple[str, int, float, float, float]]  # kind, rep, value, limit, relative excess


def _evaluate(core: _Core, chosen_edge: np.ndarray, eps: float = 1e-6) -> _Eval:
    """Loads and broken limits of an assignment (one edge index per item)."""
    R = core.n_reps
    er = core.e_rep[chosen_edge]
    work = core.fixed_work + np.bincount(er, weights=core.e_work[chosen_edge], minlength=R)
    pot = core.fixed_pot + np.bincount(er, weights=core.e_pot[chosen_edge], minlength=R)
    count = core.fixed_count + np.bincount(er, weights=core.e_count[chosen_edge], minlength=R)
    moved = float(core.e_moved[chosen_edge].sum())
    cost = float(core.e_cost[chosen_edge].sum())
    viol = []
    tgt_w = core.share / core.share.sum() * work.sum()
    tgt_p = core.pot_targets()
    for r in range(R):
        hi, lo = (1 + core.tol) * tgt_w[r], (1 - core.tol) * tgt_w[r]
        if work[r] > hi * (1 + eps) + eps:
            viol.append(("workload_max", r, work[r], hi, work[r] / max(hi, 1e-9) - 1))
        if work[r] < lo * (1 - eps) - eps:
            viol.append(("workload_min", r, work[r], lo, 1 - work[r] / max(lo, 1e-9)))
        if core.pot_total > 0:
            hi, lo = (1 + core.ptol) * tgt_p[r], (1 - core.ptol) * tgt_p[r]
            if pot[r] > hi * (1 + eps) + eps:
                viol.append(("potential_max", r, pot[r], hi, pot[r] / max(hi, 1e-9) - 1))
            if pot[r] < lo * (1 - eps) - eps:
                viol.append(("potential_min", r, pot[r], lo, 1 - pot[r] / max(lo, 1e-9)))
        if count[r] > core.capacity[r] + eps:
            viol.append(("capacity", r, count[r], core.capacity[r], count[r] / max(core.capacity[r], 1) - 1))
    if core.max_moves is not None and moved > core.max_moves + eps:
        viol.append(("max_moves", -1, moved, core.max_moves, moved / max(core.max_moves, 1) - 1))
    return _Eval(work, pot, count, moved, cost, cost + core.move_penalty * moved, viol)


class _LpRows:
    """Constraint rows of the LP, built block by block: (row, column, value) triplets and row bounds."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.nrow = 0

    def add(self, r_idx: ArrayLike, c_idx: ArrayLike, v: ArrayLike, lb: ArrayLike, ub: ArrayLike) -> None:
        """Rows ``nrow + r_idx`` (as many as ``lb`` has values) with their coefficients and bounds."""
        self.rows.append(np.asarray(r_idx, dtype=np.int64) + self.nrow)
        self.cols.append(np.asarray(c_idx, dtype=np.int64))
        self.vals.append(np.asarray(v, dtype=float))
        self.lo.append(np.asarray(lb, dtype=float))
        self.hi.append(np.asarray(ub, dtype=float))
        self.nrow += len(np.atleast_1d(lb))


def _lp_rows(core: _Core, total: float | None = None) -> _LpRows:
    """The LP's rows on columns x (E), T, slacks wu, wl, pu, pl, cap (R each), moves (1).

    Each slack is relative: 1 is 100 % of a rep's workload target, of its
    potential target, of its capacity, or of the move limit. With ``total``
    the team's workload is that constant instead of the variable T (whose row
    holds every edge: dropping it made the LPs of 200 reps 2-3 times faster).
    """
    E, K, R = len(core.e_item), core.n_items, core.n_reps
    frac = core.share / core.share.sum()
    c_T, c_s = E, E + 1
    least = np.minimum.reduceat(core.e_work, core.starts[:-1]).sum() if K else 0.0
    tref = frac * max(float(core.fixed_work.sum() + least), 1.0)  # slack unit: 100 % of a rep's target
    ptgt = core.pot_targets()
    cap = core.capacity.astype(float)
    out = _LpRows()
    eidx = np.arange(E)
    out.add(core.e_item, eidx, np.ones(E), np.ones(K), np.ones(K))  # each item once
    rr = np.arange(R)
    if total is None:
        # T - sum w x = fixed total
        out.add(np.zeros(E + 1, dtype=np.int64), np.r_[eidx, c_T], np.r_[-core.e_work, 1.0],
                [core.fixed_work.sum()], [core.fixed_work.sum()])
        # workload upper: sum w x - a_r T - tref_r s <= -fixed
        out.add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + rr],
                np.r_[core.e_work, -(1 + core.tol) * frac, -tref], np.full(R, -np.inf), -core.fixed_work)
        out.add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + R + rr],
                np.r_[core.e_work, -(1 - core.tol) * frac, tref], -core.fixed_work, np.full(R, np.inf))
    else:
        out.add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + rr], np.r_[core.e_work, -tref], np.full(R, -np.inf),
                (1 + core.tol) * frac * total - core.fixed_work)
        out.add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + R + rr], np.r_[core.e_work, tref],
                (1 - core.tol) * frac * total - core.fixed_work, np.full(R, np.inf))
    if core.pot_total > 0:
        pt = np.maximum(ptgt, 1e-9)
        out.add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 2 * R + rr], np.r_[core.e_pot, -pt],
                np.full(R, -np.inf), (1 + core.ptol) * ptgt - core.fixed_pot)
        out.add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 3 * R + rr], np.r_[core.e_pot, pt],
                (1 - core.ptol) * ptgt - core.fixed_pot, np.full(R, np.inf))
    out.add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 4 * R + rr], np.r_[core.e_count, -np.maximum(cap, 1)],
            np.full(R, -np.inf), cap - core.fixed_count)
    if core.max_moves is not None:
        mm = core.e_moved > 0
        out.add(np.zeros(int(mm.sum()) + 1, dtype=np.int64), np.r_[eidx[mm], c_s + 5 * R],
                np.r_[core.e_moved[mm], -max(core.max_moves, 1)], [-np.inf], [core.max_moves])
    return out


def _run_lp(obj: np.ndarray, A: csr_matrix, row_lb: np.ndarray, row_ub: np.ndarray, var_lb: np.ndarray,
            var_ub: np.ndarray, t_end: float) -> tuple[np.ndarray | None, float | None, str]:
    """HiGHS (GLOP when HiGHS is missing) on ``min obj x, row_lb <= A x <= row_ub, var_lb <= x <= var_ub``."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    model = mbh.ModelBuilderHelper()
    # the stub types these arrays as numpy.ndarray[numpy.float64[m, 1]] (pybind11 notation), which mypy misreads
    model.fill_model_from_sparse_data(var_lb, var_ub, obj, row_lb, row_ub, A)  # type: ignore[arg-type]
    solver_name = "highs"
    solver = mbh.ModelSolverHelper(solver_name)
    if not solver.solver_is_supported():
        solver_name = "glop"
        solver = mbh.ModelSolverHelper(solver_name)
    solver.enable_output(False)
    if solver_name == "highs":
        solver.set_solver_specific_parameters(_HIGHS_PARAMS)  # no banner on stdout
    solver.set_time_limit_in_seconds(max(0.05, t_end - time.perf_counter()))
    solver.solve(model)
    st = solver.status()
    if st == mbh.SolveStatus.OPTIMAL and solver.has_solution():
        return np.asarray(solver.variable_values()), float(solver.objective_value()), "optimal"
    if time.perf_counter() >= t_end - 0.05:
        return None, None, "time_limit"
    return None, None, "infeasible" if st == mbh.SolveStatus.INFEASIBLE else st.name.lower()


@dataclass(frozen=True, eq=False)
class _LpSolution:
    """Edge values, objective (cost only) and the slacks (relative; 5 x R per-rep limits in the order
    workload max, workload min, potential max, potential min, capacity, then max moves)."""

    x: np.ndarray
    objective: float
    slacks: np.ndarray


def _lp(core: _Core, time_limit_s: float, *, elastic: bool,
        total: float | None = None) -> tuple[_LpSolution | None, str]:
    """LP relaxation: the solution (None when the LP did not solve) and a status word.

    ``elastic``: every limit gets a slack (relative to the limit) with a penalty
    that outweighs any cost, so the least total violation comes first; without,
    the slacks are fixed at 0. ``total``: the team's workload, held constant
    (see ``_lp_rows``; the value is then no bound).
    """
    import scipy.sparse as sp

    t_end = time.perf_counter() + time_limit_s
    E, K, R = len(core.e_item), core.n_items, core.n_reps
    c_s = E + 1
    n_sl = 5 * R + 1
    ncol = c_s + n_sl
    rows = _lp_rows(core, total)
    A = sp.csr_matrix((np.concatenate(rows.vals), (np.concatenate(rows.rows), np.concatenate(rows.cols))),
                      shape=(rows.nrow, ncol))
    lb_r, ub_r = np.concatenate(rows.lo), np.concatenate(rows.hi)
    var_lb = np.zeros(ncol)
    var_ub = np.r_[np.ones(E), np.inf if total is None else 0.0, np.full(n_sl, np.inf if elastic else 0.0)]
    cost_obj = np.r_[core.obj, 0.0, np.zeros(n_sl)]
    if not elastic:
        xv, obj, st = _run_lp(cost_obj, A, lb_r, ub_r, var_lb, var_ub, t_end)
        if xv is None or obj is None:
            return None, st
        return _LpSolution(xv[:E], obj, xv[c_s:]), st
    # one LP: a slack of 1 (100 % of a limit) costs as much as the whole plan's travel, times 100
    big = 100.0 * max(float(np.minimum.reduceat(core.obj, core.starts[:-1]).sum()) if K else 0.0, 1.0)
    xv, obj, st = _run_lp(cost_obj + np.r_[np.zeros(E + 1), np.full(n_sl, big)], A, lb_r, ub_r, var_lb, var_ub,
                          t_end)
    if xv is None:
        return None, st
    return _LpSolution(xv[:E], float(core.obj @ xv[:E]), xv[c_s:]), st


def _argmax_edges(core: _Core, xv: np.ndarray) -> np.ndarray:
    """The edge with the largest LP value of each item."""
    order = np.lexsort((-xv, core.e_item))
    return order[core.starts[:-1]]


def _edge_loads(core: _Core, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per-rep workload, potential and accounts of the fixed constants plus ``edges``, and their moves."""
    R = core.n_reps
    er = core.e_rep[edges]
    return (core.fixed_work + np.bincount(er, weights=core.e_work[edges], minlength=R),
            core.fixed_pot + np.bincount(er, weights=core.e_pot[edges], minlength=R),
            core.fixed_count + np.bincount(er, weights=core.e_count[edges], minlength=R),
            float(core.e_moved[edges].sum()))


class _PolishModel:
    """The CP-SAT model of ``_polish``: a Boolean per candidate edge of the free items, the LP's limits.

    The other items are fixed as in ``best`` (their loads are constants). With
    ``elastic`` each limit has a slack in per mille of the limit, penalised by
    ``big`` (more than any cost); the objective is cost + ``big`` x slacks.
    """

    def __init__(self, core: _Core, best: np.ndarray, free_items: np.ndarray, elastic: bool) -> None:
        from ortools.sat.python import cp_model

        self.core, self.elastic = core, elastic
        in_free = np.zeros(core.n_items, dtype=bool)
        in_free[free_items] = True
        self.fw, self.fp, self.fc, self.fm = _edge_loads(core, best[~in_free])
        self.fe = fe = np.flatnonzero(in_free[core.e_item])
        self.sc = sc = _Scaler.pick(float(self.fw.sum() + core.e_work[fe].sum()), core.pot_total + 1.0,
                                    float(np.abs(core.obj[fe]).sum()) + 1.0, float(core.share.sum()),
                                    5 * core.n_reps + 1)
        self.m = m = cp_model.CpModel()
        self.x = x = [m.new_bool_var(f"x{e}") for e in fe]
        loc = np.full(len(core.e_item), -1, dtype=np.int64)
        loc[fe] = np.arange(len(fe))
        starts = core.starts
        for it in free_items:
            m.add_exactly_one([x[k] for k in loc[starts[it]:starts[it + 1]]])
            m.add_hint(x[loc[best[it]]], True)
        hint_set = set(loc[best[free_items]].tolist())
        for k in range(len(fe)):
            if k not in hint_set:
                m.add_hint(x[k], False)
        self.w_int = sc.work(core.e_work[fe])
        self.fw_int = sc.work(self.fw)
        self.tot_hi = int(self.fw_int.sum() + self.w_int.sum()) + 1
        self.t_hint = int(self.fw_int.sum() + self.w_int[loc[best[free_items]]].sum())
        self.T = m.new_int_var(0, self.tot_hi, "T")
        m.add(self.T == int(self.fw_int.sum()) + cp_model.LinearExpr.weighted_sum(x, self.w_int.tolist()))
        self.svars: list[cp_model.IntVar] = []
        self._limits()
        obj_i = sc.cost(core.obj[fe])
        big = int(np.abs(obj_i).sum()) + 1
        _check_int_range([big * _SLACK_MAX_PER_MILLE * len(self.svars), int(np.abs(obj_i).sum())], "objective")
        m.minimize(cp_model.LinearExpr.weighted_sum(x, obj_i.tolist())
                   + (big * cp_model.LinearExpr.sum(self.svars) if self.svars else 0))

    def slack(self, unit: int) -> cp_model.LinearExpr | int:
        """A new slack times ``unit`` (violation in per mille of the limit), or 0 when not elastic."""
        if not self.elastic:
            return 0
        s = self.m.new_int_var(0, _SLACK_MAX_PER_MILLE, "")
        self.svars.append(s)
        return s * unit

    def _limits(self) -> None:
        """Workload and potential balance, capacity of every rep, then the move limit."""
        from ortools.sat.python import cp_model

        core, sc, m, fe = self.core, self.sc, self.m, self.fe
        er = core.e_rep[fe]
        p_int, fp_int = sc.pot(core.e_pot[fe]), sc.pot(self.fp)
        sh = sc.share(core.share)
        s_sum = int(sh.sum())
        tol = sc.tol(core.tol)
        ptgt = core.pot_targets()
        for r in range(core.n_reps):
            idx = np.flatnonzero(er == r)
            xs = [self.x[k] for k in idx]
            load = cp_model.LinearExpr.weighted_sum(xs, self.w_int[idx].tolist()) + int(self.fw_int[r])
            unit_w = max(1, sc.TOL * int(sh[r]) * self.t_hint // 1000)
            _check_int_range([sc.TOL * s_sum * self.tot_hi, (sc.TOL + tol) * int(sh[r]) * self.tot_hi,
                              unit_w * _SLACK_MAX_PER_MILLE], "workload balance row")
            m.add(sc.TOL * s_sum * load <= (sc.TOL + tol) * int(sh[r]) * self.T + self.slack(unit_w))
            m.add(sc.TOL * s_sum * load >= (sc.TOL - tol) * int(sh[r]) * self.T - self.slack(unit_w))
            if core.pot_total > 0:
                ploads = cp_model.LinearExpr.weighted_sum(xs, p_int[idx].tolist()) + int(fp_int[r])
                unit_p = max(1, int(sc.pot(ptgt[r] / 1000)))
                m.add(ploads <= int(math.floor((1 + core.ptol) * ptgt[r] / sc.pot_unit_cny)) + self.slack(unit_p))
                m.add(ploads >= int(math.ceil((1 - core.ptol) * ptgt[r] / sc.pot_unit_cny)) - self.slack(unit_p))
            counts = cp_model.LinearExpr.weighted_sum(xs, np.rint(core.e_count[fe][idx]).astype(np.int64).tolist())
            m.add(counts + int(round(self.fc[r])) <= int(core.capacity[r])
                  + self.slack(max(1, int(core.capacity[r]) // 1000)))
        if core.max_moves is not None:
            mv = np.rint(core.e_moved[fe]).astype(np.int64)
            m.add(cp_model.LinearExpr.weighted_sum(self.x, mv.tolist()) + int(round(self.fm))
                  <= core.max_moves + self.slack(max(1, core.max_moves // 1000)))


def polish_solver(options: TerritoryOptions, time_limit_s: float) -> cp_model.CpSolver:
    """The CP-SAT solver of the polish: at most ``time_limit_s`` of wall time and 3 % of the option's limit
    in deterministic work units, 3 at most (same seed, same plan on any machine, unless the wall time cuts
    it; on the demo, 10 % took 8 s of each 10 s centre round for 0.03 % less travel);
    Ctrl-C is not caught (``catch_sigint_signal`` off), so it reaches Python as ``KeyboardInterrupt``
    instead of ending the search with a cut plan that looks feasible."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.max_time_in_seconds = max(0.01, time_limit_s)
    p.max_deterministic_time = min(max(0.03 * options.time_limit_s, 0.5), 3.0)
    p.relative_gap_limit = 1e-4
    p.random_seed = int(options.seed)
    p.num_workers = int(options.workers)
    p.interleave_search = options.workers > 1
    p.catch_sigint_signal = False
    return solver


def _polish(core: _Core, best: np.ndarray, free_items: np.ndarray, options: TerritoryOptions,
            time_limit_s: float, *, elastic: bool = True) -> np.ndarray:
    """CP-SAT on ``free_items`` (every other item fixed as in ``best``), starting from ``best``.

    Same limits as the LP; with ``elastic`` each has a penalised slack in per
    mille of the limit (so a plan that misses limits is still a solution),
    objective cost + ``big`` x slack; without, the limits are hard (``best``
    must meet them). Returns ``best`` with the free items re-chosen.
    """
    from ortools.sat.python import cp_model

    if len(free_items) == 0:
        return best
    t_end = time.perf_counter() + time_limit_s
    model = _PolishModel(core, best, free_items, elastic)
    left = t_end - time.perf_counter()  # building the model counts
    if left < _MIN_POLISH_S:
        return best
    solver = polish_solver(options, left)
    st = solver.solve(model.m)
    out = best.copy()
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        vals = np.array([solver.boolean_value(v) for v in model.x], dtype=bool)
        chosen = model.fe[vals]
        out[core.e_item[chosen]] = chosen
    return out


def _settle(core: _Core, xv: np.ndarray, options: TerritoryOptions, t_end: float, *, polish: bool) -> np.ndarray:
    """Integer plan from LP values: argmax rounding, greedy repair of the limits, then (``polish``) CP-SAT on
    the fractional items and the items cheapest to move, started from the repaired plan.

    The repair and the polish aim inside the limits by ``options.balance_margin`` (``_tight``); when that
    cannot hold, the plan is repaired again against the limits themselves."""
    best = _argmax_edges(core, xv)
    frac = np.flatnonzero(xv[best] < 1 - 1e-6)
    tight = _tight(core, options.balance_margin)
    if len(frac) == 0 and not _evaluate(tight, best).violated:
        return best
    best = _repair(tight, best, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
    if polish and len(frac) and t_end - time.perf_counter() >= _MIN_POLISH_S:
        best = _polished(tight, best, frac, options, t_end)
    if _evaluate(core, best).violated:
        best = _repair(core, best, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
    return best


def _polished(core: _Core, best: np.ndarray, frac: np.ndarray, options: TerritoryOptions, t_end: float) -> np.ndarray:
    """CP-SAT on the fractional items and the items cheapest to move, from ``best``; the better plan."""
    in_free = np.zeros(core.n_items, dtype=bool)
    in_free[frac] = True
    n_extra = min(core.n_items - len(frac), max(200, 10 * core.n_reps))
    if n_extra > 0:
        obj = core.obj
        alt = np.where(np.arange(len(obj)) == best[core.e_item], np.inf, obj)
        regret = np.minimum.reduceat(alt, core.starts[:-1]) - obj[best]
        regret[in_free] = np.inf
        extra = np.argsort(regret, kind="stable")[:n_extra]
        in_free[extra[np.isfinite(regret[extra])]] = True
    before = _evaluate(core, best)
    cand = _polish(core, best, np.flatnonzero(in_free), options, t_end - time.perf_counter(),
                   elastic=bool(before.violated))
    after = _evaluate(core, cand)
    worse = sum(v[4] for v in after.violated) > sum(v[4] for v in before.violated) + 1e-9
    return best if worse or (not after.violated and after.objective > before.objective) else cand


def _lp_margin(options: TerritoryOptions) -> float:
    """The LP aims twice as far inside the limits as the plan must (``balance_margin``), and never on
    them: rounding its fractional items moves loads by about one account, which would break limits the
    LP sits on (50,000 x 200 with no margin at all: 27 reps just outside, beyond what the repair mends)."""
    return min(0.9, max(_LP_MARGIN_FACTOR * options.balance_margin, _LP_MARGIN_MIN))


def _tight(core: _Core, margin: float) -> _Core:
    """The instance with its tolerances narrowed by ``margin`` (a share of each): the search's aim."""
    if margin <= 0:
        return core
    return dataclasses.replace(core, tol=core.tol * (1 - margin), ptol=core.ptol * (1 - margin))


def _violation(core: _Core, reps: np.ndarray, work: np.ndarray, pot: np.ndarray, count: np.ndarray,
               total_work: float | np.ndarray) -> np.ndarray:
    """Relative excess over the limits of ``reps`` given their loads (0 where all hold), elementwise."""
    frac = core.share[reps] / core.share.sum()
    hi_w, lo_w = (1 + core.tol) * frac * total_work, (1 - core.tol) * frac * total_work
    v = np.maximum(work / np.maximum(hi_w, 1e-9) - 1, 0) + np.maximum(1 - work / np.maximum(lo_w, 1e-9), 0)
    if core.pot_total > 0:
        tp = core.pot_targets()[reps]
        v = v + np.maximum(pot / np.maximum((1 + core.ptol) * tp, 1e-9) - 1, 0)
        v = v + np.maximum(1 - pot / np.maximum((1 - core.ptol) * tp, 1e-9), 0)
    return v + np.maximum(count / np.maximum(core.capacity[reps], 1) - 1, 0)


def _repair(core: _Core, best: np.ndarray, t_end: float, max_steps: int = 100_000) -> np.ndarray:
    """Greedy local search after rounding: move one item at a time to cut the total relative violation.

    Each step takes the candidate move with the largest violation decrease (the
    smallest cost increase among equals), within the move limit. The other
    reps' workload targets shift with the total only slightly and are held
    within a step. Stops when every limit holds, no move helps, or at ``t_end``.
    """
    best = best.copy()
    R = core.n_reps
    reps = np.arange(R)
    item_rep = core.e_rep[best]
    work = core.fixed_work + np.bincount(item_rep, weights=core.e_work[best], minlength=R)
    pot = core.fixed_pot + np.bincount(item_rep, weights=core.e_pot[best], minlength=R)
    count = core.fixed_count + np.bincount(item_rep, weights=core.e_count[best], minlength=R)
    moved = float(core.e_moved[best].sum())
    obj = core.obj
    for _ in range(max_steps):
        total = float(work.sum())
        v_rep = _violation(core, reps, work, pot, count, total)
        if v_rep.sum() <= 1e-9 or time.perf_counter() > t_end:
            break
        cur_e = best[core.e_item]  # each edge's item's chosen edge
        a, b = core.e_rep[cur_e], core.e_rep
        ok = (a != b) & ((v_rep[a] > 0) | (v_rep[b] > 0))  # moves touching a rep that breaks a limit
        if core.max_moves is not None:
            ok &= moved - core.e_moved[cur_e] + core.e_moved <= core.max_moves + 1e-9
        idx = np.flatnonzero(ok)
        changes: list[tuple[int, int]] = []  # (new edge, old edge) to apply
        if len(idx):
            ce, ia, ib = cur_e[idx], a[idx], b[idx]
            t2 = total + core.e_work[idx] - core.e_work[ce]
            va = _violation(core, ia, work[ia] - core.e_work[ce], pot[ia] - core.e_pot[ce],
                            count[ia] - core.e_count[ce], t2)
            vb = _violation(core, ib, work[ib] + core.e_work[idx], pot[ib] + core.e_pot[idx],
                            count[ib] + core.e_count[idx], t2)
            dv = va + vb - v_rep[ia] - v_rep[ib]
            if dv.min() < -1e-9:
                changes = _disjoint_moves(idx, ce, ia, ib, dv * 1e9 + (obj[idx] - obj[ce]), dv < -1e-9,
                                          core, moved)
        if not changes:
            changes = _best_swap(core, best, cur_e, v_rep, work, pot, count, total, moved)
            if not changes:
                break
        moved = _apply_moves(changes, core, best, (work, pot, count), moved)
    return best


def _apply_moves(changes: Sequence[tuple[int, int]], core: Any, best: np.ndarray,
                 loads: tuple[np.ndarray, np.ndarray, np.ndarray], moved: Any) -> Any:
    """Apply (new edge, old edge) moves: each item's chosen edge in ``best``, the reps' workload, potential
    and count in ``loads`` (in place); returns the moves count updated."""
    work, pot, count = loads
    for e, old in changes:
        ra, rb = int(core.e_rep[old]), int(core.e_rep[e])
        work[ra] -= core.e_work[old]
        work[rb] += core.e_work[e]
        pot[ra] -= core.e_pot[old]
        pot[rb] += core.e_pot[e]
        count[ra] -= core.e_count[old]
        count[rb] += core.e_count[e]
        moved += core.e_moved[e] - core.e_moved[old]
        best[int(core.e_item[e])] = e
    return moved


def _disjoint_moves(idx: np.ndarray, ce: np.ndarray, ia: np.ndarray, ib: np.ndarray, score: np.ndarray,
                    good: np.ndarray, core: _Core, moved: float) -> list[tuple[int, int]]:
    """The best move (least ``score`` among the ``good`` ones), then the next best ones that touch
    neither of the reps already touched (their effects add up: each rep's loads change once), within
    the move limit: (new edge, old edge) pairs."""
    cand = np.flatnonzero(good)
    cand = cand[np.argsort(score[cand], kind="stable")[:4 * core.n_reps]]
    used: set[int] = set()
    out: list[tuple[int, int]] = []
    for k in cand.tolist():
        a, b = int(ia[k]), int(ib[k])
        if a in used or b in used:
            continue
        e, old = int(idx[k]), int(ce[k])
        dm = float(core.e_moved[e] - core.e_moved[old])
        if core.max_moves is not None and moved + dm > core.max_moves + 1e-9:
            continue
        used.update((a, b))
        moved += dm
        out.append((e, old))
    return out


def _improve(core: _Core, best: np.ndarray, t_end: float, max_steps: int = 10_000) -> np.ndarray:
    """Cost descent within the limits of ``core``: moves of one item to a cheaper candidate that keep both
    reps within every limit (the most saving first, in batches on disjoint pairs of reps), until none is
    left or at ``t_end``. After the repair, which cares for the limits first, this takes back what the
    limits do not need: 0.2 % of the travel at 10,000 x 50, 0.8 % at 50,000 x 200, in 0.02-0.2 s."""
    best = best.copy()
    loads = _edge_loads(core, best)
    work, pot, count = loads[0].copy(), loads[1].copy(), loads[2].copy()
    moved = loads[3]
    obj = core.obj
    for _ in range(max_steps):
        if time.perf_counter() > t_end:
            break
        cur_e = best[core.e_item]
        gain = obj[cur_e] - obj
        idx = np.flatnonzero(gain > 1e-9)
        if core.max_moves is not None:
            idx = idx[moved - core.e_moved[cur_e[idx]] + core.e_moved[idx] <= core.max_moves + 1e-9]
        if not len(idx):
            break
        ce = cur_e[idx]
        ia, ib = core.e_rep[ce], core.e_rep[idx]
        total = float(work.sum())
        t2 = total + core.e_work[idx] - core.e_work[ce]
        va = _violation(core, ia, work[ia] - core.e_work[ce], pot[ia] - core.e_pot[ce],
                        count[ia] - core.e_count[ce], t2)
        vb = _violation(core, ib, work[ib] + core.e_work[idx], pot[ib] + core.e_pot[idx],
                        count[ib] + core.e_count[idx], t2)
        ok = (va <= 1e-12) & (vb <= 1e-12)
        if not ok.any():
            break
        changes = _disjoint_moves(idx, ce, ia, ib, -gain[idx], ok, core, moved)
        moved = _apply_moves(changes, core, best, (work, pot, count), moved)
    return best


def _improved(core: _Core, chosen: np.ndarray, options: TerritoryOptions, t_end: float) -> np.ndarray:
    """``_improve`` within the narrowest limits the plan meets (the margin, else the limits themselves); a
    plan that breaks a limit is left as it is (its repair already did what it could)."""
    for limits in (_tight(core, options.balance_margin), core):
        if not _evaluate(limits, chosen).violated:
            out = _improve(limits, chosen, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
            return chosen if _evaluate(core, out).violated else out
    return chosen


def _best_swap(core: _Core, best: np.ndarray, cur_e: np.ndarray, v_rep: np.ndarray, work: np.ndarray,
               pot: np.ndarray, count: np.ndarray, total: float, moved: float) -> list[tuple[int, int]]:
    """The exchange of two items between the most violated rep and a neighbour that cuts violation most."""
    a = int(np.argmax(v_rep))
    out_e = np.flatnonzero((core.e_rep[cur_e] == a) & (core.e_rep != a))  # a's items -> b
    in_e = np.flatnonzero((core.e_rep == a) & (core.e_rep[cur_e] != a))  # b's items -> a
    best_pair, best_score = None, 0.0
    for b in np.unique(core.e_rep[out_e]):
        o = out_e[core.e_rep[out_e] == b]
        i = in_e[core.e_rep[cur_e[in_e]] == b]
        if len(o) == 0 or len(i) == 0:
            continue
        o, i = o[:400], i[:400]
        oc, ic = cur_e[o], cur_e[i]  # current edges (item at a; item at b)
        # a loses item(o) (edge oc), gains item(i) (edge i); b loses item(i) (edge ic), gains item(o) (edge o)
        dwa = core.e_work[i][None, :] - core.e_work[oc][:, None]
        dwb = core.e_work[o][:, None] - core.e_work[ic][None, :]
        dpa = core.e_pot[i][None, :] - core.e_pot[oc][:, None]
        dca = core.e_count[i][None, :] - core.e_count[oc][:, None]
        t2 = total + dwa + dwb
        ra, rb = np.full(dwa.shape, a), np.full(dwa.shape, b)
        va = _violation(core, ra, work[a] + dwa, pot[a] + dpa, count[a] + dca, t2)
        vb = _violation(core, rb, work[b] + dwb, pot[b] - dpa, count[b] - dca, t2)
        dv = va + vb - v_rep[a] - v_rep[b]
        if core.max_moves is not None:
            dm = (core.e_moved[o] - core.e_moved[oc])[:, None] + (core.e_moved[i] - core.e_moved[ic])[None, :]
            dv = np.where(moved + dm <= core.max_moves + 1e-9, dv, np.inf)
        k = np.unravel_index(np.argmin(dv), dv.shape)
        if dv[k] < best_score - 1e-9:
            best_score = float(dv[k])
            best_pair = [(int(o[k[0]]), int(oc[k[0]])), (int(i[k[1]]), int(ic[k[1]]))]
    return best_pair or []


# --------------------------------------------------------------------------- #
# Candidate items (accounts or grid units) and one solve round
# --------------------------------------------------------------------------- #


@dataclass
class _Items:
    """Free accounts grouped into items (accounts or units) with their full item x rep matrices.

    ``mask`` (items x reps) says which pairs are candidates; ``core(mask)``
    builds the sparse instance. Candidates start as the ``k`` cheapest reps of
    each item, its current owner, an optional extra rep (the unit's rep when
    refining), and for every rep its cheapest items up to ``reach`` times its
    share of the workload; ``expand`` widens them where the LP found limits
    that cannot hold.
    """

    W: np.ndarray
    C: np.ndarray
    P: np.ndarray
    N: np.ndarray
    cur: np.ndarray
    acc: np.ndarray  # free account indices, sorted by item
    share: np.ndarray
    capacity: np.ndarray
    fixed: Loads
    pot_total: float
    options: TerritoryOptions

    @staticmethod
    def build(setup: Setup, item_of: np.ndarray, n_items: int, C: np.ndarray) -> _Items:
        """Items of the free accounts (``item_of[i]`` for account ``i``) on the workload and cost matrices."""
        free, W, pot, fixed = setup.free, setup.W, setup.problem.potential_cny, setup.fixed
        acc = np.flatnonzero(free)
        order = np.argsort(item_of[acc], kind="stable")
        acc = acc[order]
        bounds = np.searchsorted(item_of[acc], np.arange(n_items + 1))
        if n_items == len(acc):
            Wi, Ci, Pi, Ni = W[acc].astype(float), C[acc].astype(float), pot[acc], np.ones(len(acc))
        else:
            Wi = np.add.reduceat(W[acc].astype(float), bounds[:-1], axis=0)
            Ci = np.add.reduceat(C[acc].astype(float), bounds[:-1], axis=0)
            Pi = np.add.reduceat(pot[acc], bounds[:-1])
            Ni = np.diff(bounds).astype(float)
        cur = setup.prep.cur[acc[bounds[:-1]]] if n_items else np.zeros(0, dtype=np.int64)
        return _Items(Wi, Ci, Pi, Ni, cur, acc, setup.problem.share.astype(float), setup.capacity.astype(float),
                      fixed, float(pot[free].sum() + fixed[1].sum()), setup.options)

    @property
    def n_items(self) -> int:
        return len(self.N)

    def _reach(self, mask: np.ndarray, reps: Iterable[int], factor: float) -> None:
        """Each rep of ``reps`` gets its cheapest items (cost per account) up to ``factor`` times its share
        of the workload and of the potential (so that a remote base, or a rep in a poor area, can fill up)."""
        frac = self.share / self.share.sum()
        need = factor * frac * (self.W.min(axis=1).sum() + self.fixed[0].sum())
        need_p = factor * frac * self.pot_total
        cum_p = self.pot_total > 0
        per = self.C / np.maximum(self.N, 1.0)[:, None]
        for r in reps:
            order = np.argsort(per[:, r], kind="stable")
            upto = int(np.searchsorted(np.cumsum(self.W[order, r]), need[r])) + 1
            if cum_p:
                upto = max(upto, int(np.searchsorted(np.cumsum(self.P[order]), need_p[r])) + 1)
            mask[order[:upto], r] = True

    def initial_mask(self, k: int, extra_rep: np.ndarray | None = None, reach: float = 3.0) -> np.ndarray:
        n, R = self.n_items, len(self.share)
        mask = np.zeros((n, R), dtype=bool)
        k = min(k, R)
        if k >= R:
            mask[:] = True
            return mask
        if n:
            np.put_along_axis(mask, np.argpartition(self.C, k - 1, axis=1)[:, :k], True, axis=1)
            if reach > 0:
                self._reach(mask, range(R), reach)
        has = self.cur >= 0
        mask[np.flatnonzero(has), self.cur[has]] = True
        if extra_rep is not None:
            mask[np.arange(n), extra_rep] = True
        return mask

    def expand(self, mask: np.ndarray, core: _Core, xv: np.ndarray, slacks: np.ndarray, round_no: int) -> bool:
        """Widen the candidates around broken limits; False when nothing could be added."""
        R = len(self.share)
        before = int(mask.sum())
        sl = slacks[:5 * R].reshape(5, R)
        under = np.flatnonzero((sl[1] > 1e-7) | (sl[3] > 1e-7))
        over = np.flatnonzero((sl[0] > 1e-7) | (sl[2] > 1e-7) | (sl[4] > 1e-7))
        self._reach(mask, under, 3.0 * 3 ** round_no)
        if len(over):
            items = np.unique(core.e_item[(xv > 1e-9) & np.isin(core.e_rep, over)])
            k = min(R, self.options.candidates * 2 ** round_no)
            if len(items) and k < R:
                near = np.argpartition(self.C[items], k - 1, axis=1)[:, :k]
                mask[items[:, None], near] = True
            elif len(items):
                mask[items] = True
        return int(mask.sum()) > before

    def core(self, mask: np.ndarray) -> _Core:
        o = self.options
        e_item, e_rep = np.nonzero(mask)
        moved_n = np.where(self.cur[e_item] >= 0, (e_rep != self.cur[e_item]) * self.N[e_item], 0.0)
        fw, fp, fc = self.fixed
        return _Core(self.n_items, len(self.share), e_item, e_rep, self.W[e_item, e_rep], self.C[e_item, e_rep],
                     self.P[e_item], self.N[e_item], moved_n, self.share, self.capacity, fw, fp, fc,
                     self.pot_total, o.tolerance, o.potential_tolerance, o.max_moves, o.move_penalty_min)


@dataclass
class SolveInfo:
    """How the search of one instance ended: the last LP status, the bound (None when none is known:
    the LP's value when it took every item and needed no slack, else the Lagrangian bound), whether
    the LP found that the limits cannot all hold on the candidates (``elastic``: the plan is the
    closest one), the prices (for the next level) and notes for the report."""

    lp_status: str | None = None
    bound: float | None = None
    elastic: bool = False
    prices: Prices | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _LpOutcome:
    """What the LP stage left: edge values on ``core`` (None: no LP finished), the LP status, its total
    relative slack, the LP bound (``None`` unless the plain LP over every item was solved) and
    whether the limits were found unable to hold on the candidates."""

    core: _Core
    x: np.ndarray | None
    status: str
    slack: float = 0.0
    bound: float | None = None
    infeasible: bool = False
    prices: Prices | None = None  # updated prices when the candidates were widened
    free: np.ndarray | None = None  # the items the LP decided (None: every item) ...
    fixed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # ... the others' edges
    hit: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # reps widened last


def _solve_items(items: _Items, mask: np.ndarray, options: TerritoryOptions, t_end: float, progress: ProgressFn,
                 label: str, *, polish: bool = True,
                 prices: Prices | None = None) -> tuple[np.ndarray, _Core, SolveInfo]:
    """Prices, LP (on the ambiguous items of large instances), rounding, repair, CP-SAT polish.

    1. Lagrangian prices (``prices.lagrange``, from ``prices`` when given):
       a bound and, whatever happens next, a plan to fall back on.
    2. Up to ``_FULL_LP_EDGES`` item-rep pairs, the LP on every item (widening
       the candidates while limits cannot hold, as before); above, the LP on
       the items whose choice the prices leave open, the others fixed on their
       cheapest priced candidate (``_ambiguous_lp``).
    3. Rounding and repair (``_settle``); when no LP finished, the priced plan
       repaired. Then cost descent within the limits (``_improved``).
       Returns the chosen edge per item, the instance it refers to, and info
       (LP status, bound, prices).
    """
    info = SolveInfo()
    core = core0 = items.core(mask)
    t_start = time.perf_counter()
    dual = lagrange(core, t_start + _DUAL_SHARE * (t_end - t_start), prices=prices, max_iters=_DUAL_ITERS)
    info.prices = dual.prices
    progress(None, f"{label}: prices in {time.perf_counter() - t_start:.1f} s ({dual.iterations} steps, "
                   f"{core.n_items:,} items, {len(core.e_item):,} item-rep pairs)")
    full = len(core.e_item) <= _FULL_LP_EDGES
    lp = (_full_lp if full else _ambiguous_lp)(items, mask, core, dual, options, t_end, progress, label)
    info.lp_status, core = lp.status, lp.core
    t = time.perf_counter()
    if lp.x is None:
        start = _edges_for(core, core0.e_rep[dual.plan])
        chosen = _settle_plan(core, start, options, t_end)
        info.notes.append(f"{label}: time limit before the LP finished: the priced plan, repaired")
    elif lp.free is not None:  # round and repair on the LP's items first: the others stay as fixed
        sub, keep = sub_core(core, lp.free, lp.fixed)
        chosen = lp.fixed.copy()
        chosen[lp.free] = keep[_settle(sub, lp.x[keep], options, t_end, polish=False)]
        if _evaluate(_tight(core, options.balance_margin), chosen).violated:  # the fixed items may move too
            chosen = _settle_plan(core, chosen, options, t_end)
    else:
        chosen = _settle(core, lp.x, options, t_end, polish=polish and full)
    chosen = _improved(core, chosen, options, t_end)
    violated = bool(_evaluate(core, chosen).violated)
    info.elastic = lp.infeasible and violated
    info.prices = lp.prices or dual.prices
    info.bound = lp.bound if lp.bound is not None else (None if lp.infeasible else value(core, info.prices))
    progress(None, f"{label}: rounding, repair" + (" and CP-SAT polish" if polish and full else "")
             + f" in {time.perf_counter() - t:.1f} s")
    return chosen, core, info


def _full_lp(items: _Items, mask: np.ndarray, core: _Core, dual: DualResult, options: TerritoryOptions,
             t_end: float, progress: ProgressFn, label: str) -> _LpOutcome:
    """The LP over every item at the limits (the bound), widening the candidates while limits cannot
    hold; then, when its plan sits outside the margin, the LP at the narrowed limits for the plan."""
    t_start = time.perf_counter()
    round_no = 0
    out = _LpOutcome(core, None, "not run")
    while True:
        # The penalised LP is as fast as the plain one and always feasible; with no slack left it is the
        # plain LP's optimum, otherwise the candidates are widened around the broken limits and it runs again.
        t = time.perf_counter()
        sol, st = _lp(core, max((t_end - t) * _LP_SHARE, 0.1), elastic=True)
        if sol is None:
            progress(None, f"{label}: LP {st} after {time.perf_counter() - t:.1f} s ({len(core.e_item):,} pairs)")
            out.status = st if out.x is None else out.status  # the status of the LP whose values are used
            break
        violation = float(sol.slacks.sum())
        out = _LpOutcome(core, sol.x, st, violation, sol.objective if violation <= 1e-7 else None, violation > 1e-7)
        progress(None, f"{label}: LP {st} in {time.perf_counter() - t:.1f} s ({core.n_items:,} items, "
                       f"{len(core.e_item):,} item-rep pairs, total relative violation {violation:.3g})")
        round_no += 1
        if violation <= 1e-7 or round_no > 3 or time.perf_counter() > t_end - 0.5 * (t_end - t_start) or \
                not items.expand(mask, core, sol.x, sol.slacks, round_no):
            break
        core = items.core(mask)
    tight = _tight(out.core, _lp_margin(options))
    if out.x is not None and not out.infeasible and tight is not out.core and \
            _fractional_violation(tight, out.x) > 1e-6 and time.perf_counter() < t_end - 0.5 * (t_end - t_start):
        sol, st = _lp(tight, max((t_end - time.perf_counter()) * _LP_SHARE, 0.1), elastic=True)
        if sol is not None and float(sol.slacks.sum()) <= 1e-7:
            out.x = sol.x
    return out


def _ambiguous_lp(items: _Items, mask: np.ndarray, core: _Core, dual: DualResult, options: TerritoryOptions,
                  t_end: float, progress: ProgressFn, label: str) -> _LpOutcome:
    """The LP at the narrowed limits on the items whose choice the prices leave open (the smallest
    regrets: ``_FREE_SHARE`` of the items, at least ``_FREE_PER_REP`` per rep, each with its
    ``_FREE_CANDIDATES`` cheapest priced candidates), every other item fixed on its cheapest priced
    candidate. While the LP needs slack (up to four rounds), the reps it could not balance get more
    candidates (``_Items.expand``), the prices are updated on the wider instance, and every item that
    may go to those reps is freed with them, with twice as many small-regret items."""
    t_start = time.perf_counter()
    n_free = min(core.n_items, max(int(_FREE_SHARE * core.n_items), _FREE_PER_REP * core.n_reps))
    prices, hit = dual.prices, np.zeros(0, dtype=np.int64)
    free = np.zeros(0, dtype=np.int64)
    out = _LpOutcome(core, None, "not run")
    for round_no in range(1, 5):
        fixed, regret = regrets(core, prices)
        near = np.unique(core.e_item[np.isin(core.e_rep, hit)])
        free = np.union1d(np.union1d(free, near), np.argsort(regret, kind="stable")[:n_free])
        sub, keep = _trimmed(sub_core(_tight(core, _lp_margin(options)), free, fixed), core, prices, hit)
        t = time.perf_counter()
        total = float(core.fixed_work.sum() + core.e_work[fixed].sum())  # of the priced plan
        sol, st = _lp(sub, max((t_end - t) * _LP_SHARE, 0.1), elastic=True, total=total)
        if sol is None:
            progress(None, f"{label}: LP {st} after {time.perf_counter() - t:.1f} s ({len(sub.e_item):,} pairs)")
            out.status = st if out.x is None else out.status  # the status of the LP whose values are used
            break
        x = np.zeros(len(core.e_item))
        x[fixed] = 1.0
        x[fixed[free]] = 0.0
        x[keep] = sol.x
        slack = float(sol.slacks.sum())
        out = _LpOutcome(core, x, st, slack, free=free, fixed=fixed, hit=hit, prices=prices)
        progress(None, f"{label}: LP {st} in {time.perf_counter() - t:.1f} s ({sub.n_items:,} of {core.n_items:,} "
                       f"items, {len(sub.e_item):,} item-rep pairs, total relative violation {slack:.3g})")
        if slack <= _SLACK_OK or round_no == 4 or time.perf_counter() > t_end - 0.5 * (t_end - t_start):
            break
        R = core.n_reps
        hit = np.flatnonzero(sol.slacks[:5 * R].reshape(5, R).sum(axis=0) > 1e-7)
        if items.expand(mask, core, x, sol.slacks, round_no):
            core = items.core(mask)
            t = time.perf_counter()
            prices = lagrange(core, t + 0.5 * _DUAL_SHARE * (t_end - t), prices=prices,
                              max_iters=_DUAL_ITERS // 3).prices
        n_free = min(core.n_items, 2 * n_free)
    return out


def _trimmed(sub_keep: tuple[_Core, np.ndarray], core: _Core, prices: Prices,
             hit: np.ndarray) -> tuple[_Core, np.ndarray]:
    """The sub-instance with each item's ``_FREE_CANDIDATES`` cheapest priced candidates and its
    candidates among the reps ``hit`` (those the last LP could not balance)."""
    sub, keep = sub_keep
    rc = reduced_costs(core, prices)[0][keep]
    order = np.lexsort((rc, sub.e_item))
    rank = np.empty(len(rc), dtype=np.int64)
    rank[order] = np.arange(len(rc)) - sub.starts[sub.e_item[order]]
    sel = np.flatnonzero((rank < _FREE_CANDIDATES) | np.isin(sub.e_rep, hit))
    return dataclasses.replace(sub, e_item=sub.e_item[sel], e_rep=sub.e_rep[sel], e_work=sub.e_work[sel],
                               e_cost=sub.e_cost[sel], e_pot=sub.e_pot[sel], e_count=sub.e_count[sel],
                               e_moved=sub.e_moved[sel]), keep[sel]


def _edges_for(core: _Core, reps: np.ndarray) -> np.ndarray:
    """The edge of each item to its rep in ``reps`` (the item's cheapest edge where that is no candidate)."""
    R = core.n_reps
    key = core.e_item * R + core.e_rep
    want = np.arange(core.n_items) * R + reps
    pos = np.minimum(np.searchsorted(key, want), len(key) - 1)
    ok = key[pos] == want
    if ok.all():
        return pos
    cheapest_edge = np.lexsort((core.obj, core.e_item))[core.starts[:-1]]
    return np.where(ok, pos, cheapest_edge)


def _settle_plan(core: _Core, start: np.ndarray, options: TerritoryOptions, t_end: float) -> np.ndarray:
    """An integer plan repaired towards the narrowed limits, then (when they cannot hold) the limits."""
    best = _repair(_tight(core, options.balance_margin), start, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
    if _evaluate(core, best).violated:
        best = _repair(core, best, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
    return best


def _fractional_violation(core: _Core, xv: np.ndarray) -> float:
    """Total relative excess of the fractional loads of ``xv`` over the limits of ``core``."""
    R = core.n_reps
    work = core.fixed_work + np.bincount(core.e_rep, weights=core.e_work * xv, minlength=R)
    pot = core.fixed_pot + np.bincount(core.e_rep, weights=core.e_pot * xv, minlength=R)
    count = core.fixed_count + np.bincount(core.e_rep, weights=core.e_count * xv, minlength=R)
    return float(_violation(core, np.arange(R), work, pot, count, float(work.sum())).sum())


# --------------------------------------------------------------------------- #
# One solve round (units first, then accounts)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class Setup:
    """What every round of a territory solve shares (built once by ``solve``).

    ``W`` (accounts x reps, float32): workload minutes a month; ``t_base``:
    travel minutes from each rep's base; ``free``: accounts to divide;
    ``planned``: free or locked with a rep of the plan; ``lk``: the locked
    ones; ``fixed``: the locked accounts' per-rep loads; ``xy``: projected km
    around ``ref`` (lon, lat); ``mode``: travel from the rep's ``base`` or a
    territory ``centre``.
    """

    problem: TerritoryProblem
    options: TerritoryOptions
    prep: _Prep
    mode: str
    free: np.ndarray
    planned: np.ndarray
    lk: np.ndarray
    capacity: np.ndarray
    t_base: np.ndarray
    visits32: np.ndarray  # visits a month, float32 column (n, 1)
    W: np.ndarray
    fixed: Loads
    ref: np.ndarray
    xy: np.ndarray
    use_units: bool
    travel: TravelBackend | None = None  # road times (planner.geo.backends); None: the built-in model


@dataclass(eq=False)
class Round:
    """The outcome of one round with fixed anchors: rep index per account (-1: not planned), its evaluation
    on the instance solved last, the bound, whether the LP failed, notes, and the anchors used."""

    assign: np.ndarray
    ev: _Eval
    core: _Core
    info: SolveInfo
    bound: float | None
    lp_failed: bool
    messages: list[str]
    anchors: np.ndarray

    @property
    def key(self) -> tuple[float, bool, float]:
        """Order of rounds: least total relative violation, then an LP that finished, then the objective."""
        return sum(v[4] for v in self.ev.violated), self.lp_failed, self.ev.objective


def _unit_round(setup: Setup, C: np.ndarray, budget_end: float, progress: ProgressFn,
                messages: list[str]) -> tuple[np.ndarray, SolveInfo]:
    """The unit level: grid cell x owner units, prices + LP + rounding + repair, in 40 % of the time left.
    Returns each free account's unit rep and the info (its prices start the account level)."""
    problem, prep, free, options = setup.problem, setup.prep, setup.free, setup.options
    n, n_free = problem.n_accounts, int(free.sum())
    max_size = max(1, int(0.1 * n_free / problem.n_reps))  # a unit is at most a tenth of a rep's accounts
    inv, n_units, cell = _grid_units(setup.xy[free], prep.cur[free], options.units, max_size)
    item_of = np.full(n, -1, dtype=np.int64)
    item_of[free] = inv
    items_u = _Items.build(setup, item_of, n_units, C)
    mid = time.perf_counter() + (budget_end - time.perf_counter()) * 0.4
    chosen_u, core_u, info = _solve_items(items_u, items_u.initial_mask(options.candidates), options, mid,
                                          progress, "units", polish=False)
    unit_rep = core_u.e_rep[chosen_u][item_of[free]]
    messages.append(f"{n_units} units (grid cells from {cell:.1f} km x owner), refined at account level")
    messages.extend(info.notes)
    return unit_rep, info


def _one_round(setup: Setup, C: np.ndarray, anchors: np.ndarray, budget_end: float, progress: ProgressFn) -> Round:
    """One solve with fixed anchors (``C``: visit-weighted travel from them): units first when
    ``setup.use_units`` (their prices start the account level), then accounts."""
    problem, prep, free, options = setup.problem, setup.prep, setup.free, setup.options
    n, n_free = problem.n_accounts, int(free.sum())
    assign = np.full(n, -1, dtype=np.int64)
    assign[setup.lk] = prep.cur[setup.lk]
    messages: list[str] = []
    info = SolveInfo()
    unit_rep = None
    if setup.use_units and n_free:
        unit_rep, info = _unit_round(setup, C, budget_end, progress, messages)
    item_of = np.full(n, -1, dtype=np.int64)
    item_of[free] = np.arange(n_free)
    items = _Items.build(setup, item_of, n_free, C)
    acc = items.acc
    k_acc = options.candidates if unit_rep is None else min(options.candidates, 3)
    # refining a unit plan: each account keeps its unit's rep, so no extra reach is needed
    mask = items.initial_mask(k_acc, unit_rep, reach=0.0 if unit_rep is not None else 3.0)
    if not n_free:
        core = items.core(mask)
        return Round(assign, _evaluate(core, np.zeros(0, dtype=np.int64)), core, info, None, False, messages,
                     anchors)
    chosen, core, info = _solve_items(items, mask, options, budget_end, progress, "accounts", prices=info.prices)
    messages.extend(info.notes)
    assign[acc] = core.e_rep[chosen]
    lp_failed = info.lp_status != "optimal"
    return Round(assign, _evaluate(core, chosen), core, info, info.bound, lp_failed, messages, anchors)
