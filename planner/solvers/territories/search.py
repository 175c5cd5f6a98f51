"""Territories search: the assignment core and the methods that solve it.

Used by ``planner.solvers.territories.solve`` (see its module docstring for the model
and method). Holds the integer scaling for CP-SAT (``_Scaler``), the
assignment instance on items x candidate reps (``_Core``) and its evaluation,
the HiGHS LP relaxation (elastic: every limit with a penalised slack),
argmax rounding, greedy repair (moves, then swaps), the CP-SAT polish, the
candidate items (accounts or grid units, ``_Items``) with their widening
around broken limits, and one solve round (units first, then accounts).

Works on arrays; imports ``planner.solvers.territories`` only for type checking.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from planner.geo.travel import TravelBackend
from planner.plans import ProgressFn
from planner.solvers.territories.geometry import _grid_units

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


def _lp_rows(core: _Core) -> _LpRows:
    """The LP's rows on columns x (E), T, slacks wu, wl, pu, pl, cap (R each), moves (1).

    Each slack is relative: 1 is 100 % of a rep's workload target, of its
    potential target, of its capacity, or of the move limit.
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
    # T - sum w x = fixed total
    out.add(np.zeros(E + 1, dtype=np.int64), np.r_[eidx, c_T], np.r_[-core.e_work, 1.0],
            [core.fixed_work.sum()], [core.fixed_work.sum()])
    rr = np.arange(R)
    # workload upper: sum w x - a_r T - tref_r s <= -fixed
    out.add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + rr],
            np.r_[core.e_work, -(1 + core.tol) * frac, -tref], np.full(R, -np.inf), -core.fixed_work)
    out.add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + R + rr],
            np.r_[core.e_work, -(1 - core.tol) * frac, tref], -core.fixed_work, np.full(R, np.inf))
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


def _lp(core: _Core, time_limit_s: float, *, elastic: bool) -> tuple[_LpSolution | None, str]:
    """LP relaxation: the solution (None when the LP did not solve) and a status word.

    ``elastic``: every limit gets a slack (relative to the limit) with a penalty
    that outweighs any cost, so the least total violation comes first; without,
    the slacks are fixed at 0.
    """
    import scipy.sparse as sp

    t_end = time.perf_counter() + time_limit_s
    E, K, R = len(core.e_item), core.n_items, core.n_reps
    c_s = E + 1
    n_sl = 5 * R + 1
    ncol = c_s + n_sl
    rows = _lp_rows(core)
    A = sp.csr_matrix((np.concatenate(rows.vals), (np.concatenate(rows.rows), np.concatenate(rows.cols))),
                      shape=(rows.nrow, ncol))
    lb_r, ub_r = np.concatenate(rows.lo), np.concatenate(rows.hi)
    var_lb = np.zeros(ncol)
    var_ub = np.r_[np.ones(E), np.inf, np.full(n_sl, np.inf if elastic else 0.0)]
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
    """The CP-SAT solver of the polish: at most ``time_limit_s`` of wall time and 10 % of the option's limit
    in deterministic work units (same seed, same plan on any machine, unless the wall time cuts it);
    Ctrl-C is not caught (``catch_sigint_signal`` off), so it reaches Python as ``KeyboardInterrupt``
    instead of ending the search with a cut plan that looks feasible."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.max_time_in_seconds = max(0.01, time_limit_s)
    p.max_deterministic_time = min(max(0.1 * options.time_limit_s, 0.5), 10.0)
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
    the fractional items and the items cheapest to move, started from the repaired plan."""
    best = _argmax_edges(core, xv)
    frac = np.flatnonzero(xv[best] < 1 - 1e-6)
    if len(frac) == 0:
        return best
    best = _repair(core, best, max(t_end, time.perf_counter() + _MIN_REPAIR_S))
    if not polish or t_end - time.perf_counter() < _MIN_POLISH_S:
        return best
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
                k = int(np.argmin(np.where(dv < -1e-9, dv * 1e9 + (obj[idx] - obj[ce]), np.inf)))
                changes = [(int(idx[k]), int(ce[k]))]
        if not changes:
            changes = _best_swap(core, best, cur_e, v_rep, work, pot, count, total, moved)
            if not changes:
                break
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
    return best


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
        need = factor * self.share / self.share.sum() * (self.W.min(axis=1).sum() + self.fixed[0].sum())
        per = self.C / np.maximum(self.N, 1.0)[:, None]
        for r in reps:
            order = np.argsort(per[:, r], kind="stable")
            upto = int(np.searchsorted(np.cumsum(self.W[order, r]), need[r])) + 1
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
    """How the search of one instance ended: the last LP status, the bound (None unless the plain LP
    was solved) and whether the limits could not all hold (``elastic``: the plan is the closest one)."""

    lp_status: str | None = None
    bound: float | None = None
    elastic: bool = False


def _solve_items(items: _Items, mask: np.ndarray, options: TerritoryOptions, t_end: float, progress: ProgressFn,
                 label: str, *, polish: bool = True) -> tuple[np.ndarray | None, _Core, SolveInfo]:
    """LP (widening the candidates while limits cannot hold), rounding, greedy repair, CP-SAT polish.

    Returns the chosen edge per item (None when the time ran out before any
    LP solution), the instance it refers to, and info (LP status, bound).
    """
    info = SolveInfo()
    core = items.core(mask)
    t_start = time.perf_counter()
    round_no = 0
    last: tuple[_LpSolution, float, _Core] | None = None
    while True:
        # The penalised LP is as fast as the plain one and always feasible; with no slack left it is the
        # plain LP's optimum, otherwise the candidates are widened around the broken limits and it runs again.
        t = time.perf_counter()
        sol, st = _lp(core, max((t_end - t) * _LP_SHARE, 0.1), elastic=True)
        if sol is None:
            progress(None, f"{label}: LP {st} after {time.perf_counter() - t:.1f} s ({len(core.e_item):,} pairs)")
            break
        violation = float(sol.slacks.sum())
        last = (sol, violation, core)
        progress(None, f"{label}: LP {st} in {time.perf_counter() - t:.1f} s ({core.n_items:,} items, "
                       f"{len(core.e_item):,} item-rep pairs, total relative violation {violation:.3g})")
        round_no += 1
        if violation <= 1e-7 or round_no > 3 or time.perf_counter() > t_end - 0.5 * (t_end - t_start) or \
                not items.expand(mask, core, sol.x, sol.slacks, round_no):
            break
        core = items.core(mask)
    info.lp_status = st
    if last is None:
        return None, core, info
    sol, violation, core = last
    info.elastic = violation > 1e-7
    info.bound = sol.objective if not info.elastic else None
    t = time.perf_counter()
    chosen = _settle(core, sol.x, options, t_end, polish=polish)
    info.elastic = info.elastic and bool(_evaluate(core, chosen).violated)
    progress(None, f"{label}: rounding, repair" + (" and CP-SAT polish" if polish else "")
             + f" in {time.perf_counter() - t:.1f} s")
    return chosen, core, info


def _start_edges(core: _Core, prefer_rep: np.ndarray) -> np.ndarray:
    """Edge per item for a preferred rep (current owner), else the cheapest candidate."""
    starts = core.starts
    best = np.empty(core.n_items, dtype=np.int64)
    order = np.lexsort((core.e_cost, core.e_item))
    best[:] = order[starts[:-1]]
    hit = np.flatnonzero((prefer_rep[core.e_item] == core.e_rep) & (prefer_rep[core.e_item] >= 0))
    best[core.e_item[hit]] = hit
    return best


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
                messages: list[str]) -> tuple[np.ndarray, bool, bool, SolveInfo]:
    """The unit level: grid cell x owner units, LP + rounding + repair. Returns each free account's
    unit rep, whether the unit plan misses limits, whether its LP failed, and the info."""
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
    lp_failed = False
    if chosen_u is None:
        chosen_u = _start_edges(core_u, items_u.cur)
        lp_failed = True
    unit_rep = core_u.e_rep[chosen_u][item_of[free]]
    unit_violated = bool(_evaluate(core_u, chosen_u).violated)
    messages.append(f"{n_units} units (grid cells from {cell:.1f} km x owner), refined at account level")
    return unit_rep, unit_violated, lp_failed, info


def _one_round(setup: Setup, C: np.ndarray, anchors: np.ndarray, budget_end: float, progress: ProgressFn) -> Round:
    """One solve with fixed anchors (``C``: visit-weighted travel from them): units first when
    ``setup.use_units``, then accounts."""
    problem, prep, free, options = setup.problem, setup.prep, setup.free, setup.options
    n, n_free = problem.n_accounts, int(free.sum())
    assign = np.full(n, -1, dtype=np.int64)
    assign[setup.lk] = prep.cur[setup.lk]
    messages: list[str] = []
    info = SolveInfo()
    lp_failed = False
    unit_rep, unit_violated = None, False
    if setup.use_units and n_free:
        unit_rep, unit_violated, lp_failed, info = _unit_round(setup, C, budget_end, progress, messages)
    item_of = np.full(n, -1, dtype=np.int64)
    item_of[free] = np.arange(n_free)
    items = _Items.build(setup, item_of, n_free, C)
    acc = items.acc
    k_acc = options.candidates if unit_rep is None else min(options.candidates, 3)
    # refining a unit plan: each account keeps its unit's rep, so no extra reach is needed
    mask = items.initial_mask(k_acc, unit_rep, reach=0.0 if unit_rep is not None else 3.0)
    core = items.core(mask)
    chosen = np.zeros(0, dtype=np.int64)
    bound = None
    if n_free and unit_rep is not None and unit_violated:
        # the unit plan misses limits, so the account LP would be infeasible too: repair greedily
        chosen = _repair(core, _start_edges(core, unit_rep), max(budget_end, time.perf_counter() + _MIN_REPAIR_S))
        messages.append("unit plan misses limits: account level repaired greedily")
    elif n_free:
        found, core_a, info_a = _solve_items(items, mask, options, budget_end, progress, "accounts")
        if found is None:
            if unit_rep is not None:
                chosen = _start_edges(core, unit_rep)
                messages.append("account-level refinement stopped by the time limit: unit plan kept")
            else:
                chosen = _start_edges(core, prep.cur[acc])
                lp_failed = True
        else:
            chosen, core, info = found, core_a, info_a
            bound = info.bound
    if n_free:
        assign[acc] = core.e_rep[chosen]
    return Round(assign, _evaluate(core, chosen), core, info, bound, lp_failed, messages, anchors)
