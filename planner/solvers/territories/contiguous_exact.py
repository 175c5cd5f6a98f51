"""Exact contiguous districting with CP-SAT (small unit graphs).

Variables: ``x[u,t]`` unit u in territory t (label ``lab_u = sum_t t x[u,t]``); ``c[v,t]`` v is the
centre of t (one per territory, a member); ``z[u,v]`` u is served by centre v, which needs
``lab_u = lab_v`` and v a centre; edge ``e = {u, v}``: ``s_e`` (both ends in one territory, enforced
as ``lab_u = lab_v``) and flows ``f_uv, f_vu in [0, U s_e]``. Contiguity (single-commodity flow from
the centres): ``inflow_u - outflow_u >= 1 - U * is_centre_u``: a piece of a territory without its
centre would need a net inflow equal to its size over edges that all stay inside it, impossible.

    minimise  sum_uv round(S weight_u dist_uv) z_uv + round(S lam move_cost_u) (1 - x[u, current_u])
    s.t.      ceil(S_m lo_tm) <= sum_u round(S_m measure_um) x[u,t] <= floor(S_m hi_tm)

Integer scaling is done here only: distances x weights scaled to at most ``_OBJ_MAX`` per term (the
reported bound is lowered by the worst rounding, half a step per unit), measures to ``_MEAS_MAX`` per
total (the plan's balance is checked again in floats by the caller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.plans import ProgressFn, no_progress
from planner.solvers.watch import run_watched

_OBJ_MAX = 1_000_000
_MEAS_MAX = 1_000_000


@dataclass(frozen=True, eq=False)
class ExactResult:
    assign: np.ndarray | None
    centres: np.ndarray | None
    status: str          # "optimal" | "feasible" | "infeasible" | "unknown"
    bound: float | None  # on dispersion (only when lam == 0)
    message: str


@dataclass(frozen=True, eq=False)
class ExactInput:
    xy: np.ndarray
    edges: np.ndarray         # (E, 2) u < v
    measures: np.ndarray      # (U, K)
    bal: list[int]
    lo: np.ndarray            # (k, K) tolerance band
    hi: np.ndarray
    weight: np.ndarray
    locked: np.ndarray
    current: np.ndarray
    move_cost: np.ndarray
    lam: float
    k: int
    symmetric: bool           # territories interchangeable (equal shares, nothing locked, no moves priced)


def solve_exact(inp: ExactInput, hint: np.ndarray, hint_centres: np.ndarray, time_limit: float,
                seed: int, progress: ProgressFn = no_progress) -> ExactResult:
    from ortools.sat.python import cp_model

    U, k = inp.xy.shape[0], inp.k
    m = cp_model.CpModel()
    x = [[m.new_bool_var(f"x{u}_{t}") for t in range(k)] for u in range(U)]
    c = [[m.new_bool_var(f"c{u}_{t}") for t in range(k)] for u in range(U)]
    lab = [m.new_int_var(0, k - 1, f"l{u}") for u in range(U)]
    isc = [m.new_bool_var(f"ic{u}") for u in range(U)]
    for u in range(U):
        m.add_exactly_one(x[u])
        m.add(lab[u] == cp_model.LinearExpr.weighted_sum(x[u], list(range(k))))
        m.add(isc[u] == cp_model.LinearExpr.sum(c[u]))
        for t in range(k):
            m.add_implication(c[u][t], x[u][t])
        if inp.locked[u] >= 0:
            m.add(x[u][int(inp.locked[u])] == 1)
    for t in range(k):
        m.add_exactly_one(c[u][t] for u in range(U))
    if inp.symmetric and k > 1:
        idx = [cp_model.LinearExpr.weighted_sum([c[u][t] for u in range(U)], list(range(U))) for t in range(k)]
        for t in range(k - 1):
            m.add(idx[t] < idx[t + 1])
    _balance(m, inp, x)
    D = np.hypot(inp.xy[:, None, 0] - inp.xy[None, :, 0], inp.xy[:, None, 1] - inp.xy[None, :, 1])
    cost = inp.weight[:, None] * D
    S = _OBJ_MAX / max(float(cost.max()), 1e-12)
    z = [[m.new_bool_var(f"z{u}_{v}") for v in range(U)] for u in range(U)]
    for u in range(U):
        m.add_exactly_one(z[u])
        for v in range(U):
            m.add_implication(z[u][v], isc[v])
            if u != v:
                m.add(lab[u] == lab[v]).only_enforce_if(z[u][v])
        m.add_implication(isc[u], z[u][u])
    _flow(m, inp, lab, isc)
    vs: list[Any] = []
    cs: list[int] = []
    const = 0
    for u in range(U):
        for v in range(U):
            if cost[u, v] > 0:
                vs.append(z[u][v])
                cs.append(int(round(S * cost[u, v])))
        cur = int(inp.current[u])
        if inp.lam > 0 and cur >= 0:  # lam * move_cost * (1 - x[u, cur])
            coef = int(round(S * inp.lam * inp.move_cost[u]))
            const += coef
            vs.append(x[u][cur])
            cs.append(-coef)
    m.minimize(cp_model.LinearExpr.weighted_sum(vs, cs) + const)
    for u in range(U):
        for t in range(k):
            m.add_hint(x[u][t], int(hint[u]) == t)
            m.add_hint(c[u][t], int(hint_centres[t]) == u)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    st = run_watched(lambda: solver.solve(m), solver.stop_search, progress, label="CP-SAT", limit_s=time_limit)
    name = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible"}.get(
        st, "unknown")
    bound = None
    if inp.lam == 0 and st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = max(0.0, (solver.best_objective_bound - 0.5 * U) / S)
    elif inp.lam == 0 and st == cp_model.UNKNOWN and math.isfinite(solver.best_objective_bound):
        bound = max(0.0, (solver.best_objective_bound - 0.5 * U) / S)
    if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return ExactResult(None, None, name, bound, f"CP-SAT: {solver.status_name(st)}")
    assign = np.array([solver.value(lab[u]) for u in range(U)], dtype=np.int64)
    centres = np.array([next(u for u in range(U) if solver.boolean_value(c[u][t])) for t in range(k)],
                       dtype=np.int64)
    return ExactResult(assign, centres, name, bound, f"CP-SAT: {solver.status_name(st)}")


def _balance(m: Any, inp: ExactInput, x: list[list[Any]]) -> None:
    from ortools.sat.python import cp_model

    U, k = inp.xy.shape[0], inp.k
    for j in inp.bal:
        tot = float(inp.measures[:, j].sum())
        if tot <= 0:
            continue
        Sm = _MEAS_MAX / tot
        q = [int(round(Sm * float(inp.measures[u, j]))) for u in range(U)]
        for t in range(k):
            lo = math.ceil(Sm * float(inp.lo[t, j]) - 1e-9)
            hi = math.floor(Sm * float(inp.hi[t, j]) + 1e-9)
            us = [u for u in range(U) if q[u]]
            expr = cp_model.LinearExpr.weighted_sum([x[u][t] for u in us], [q[u] for u in us])
            m.add(expr >= lo)
            m.add(expr <= hi)


def _flow(m: Any, inp: ExactInput, lab: list[Any], isc: list[Any]) -> None:
    from ortools.sat.python import cp_model

    U = inp.xy.shape[0]
    inflow: list[list[Any]] = [[] for _ in range(U)]
    outflow: list[list[Any]] = [[] for _ in range(U)]
    for a, b in inp.edges.tolist():
        s = m.new_bool_var(f"s{a}_{b}")
        m.add(lab[a] == lab[b]).only_enforce_if(s)
        for p, q in ((a, b), (b, a)):
            f = m.new_int_var(0, U, f"f{p}_{q}")
            m.add(f <= U * s)
            outflow[p].append(f)
            inflow[q].append(f)
    for u in range(U):
        m.add(cp_model.LinearExpr.sum(inflow[u]) - cp_model.LinearExpr.sum(outflow[u]) >= 1 - U * isc[u])
