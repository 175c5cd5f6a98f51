"""The territory solve: classify accounts, search, make the plan and its KPIs (formulation in ``model``)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.geo import travel
from planner.geo.backends import minutes_matrix
from planner.plans import ProgressFn, SolveReport, Status, no_progress
from planner.solvers.territories import areas
from planner.solvers.territories.geometry import (
    _initial_centres,
    _project,
    _unproject,
)
from planner.solvers.territories.model import (
    TerritoryOptions,
    TerritoryPlan,
    TerritoryProblem,
    _anchor_mode,
    _classify,
)
from planner.solvers.territories.search import Round, Setup, _one_round


def solve(problem: TerritoryProblem, options: TerritoryOptions | None = None, *,
          progress: ProgressFn = no_progress, backend: travel.TravelBackend | None = None) -> TerritoryPlan:
    """Assign accounts to the reps of ``problem`` (see the module docstring for the model).

    Objective: visit-weighted travel from each rep's anchor plus
    ``move_penalty_min`` per account moved away from a current owner.
    Constraints: each planned account to one rep; workload and potential
    within their tolerances of each rep's share; capacities; ``max_moves``;
    locked accounts fixed; excluded, pool and pool-rule accounts left out.
    When the limits cannot all hold the plan is the closest one (least total
    relative violation), status ``partial``, ``report.violated`` naming each
    broken limit. Bad settings raise one ``InputError`` listing them.
    ``backend`` measures the travel (``planner.geo.backends``; default the
    built-in model); a pair with no road costs a month of minutes.

    Time limit: ``options.time_limit_s`` is wall time from the call to the
    plan. The set-up (classification, travel from the bases) counts; time is
    kept for the plan's tables and KPIs after the search (as long as the
    set-up took); the centre rounds share the rest equally. In each round the
    Lagrangian prices take at most 30 % (300 steps at most), each LP at most
    80 % of what is left, the greedy repair runs to the round's end (0.1 s at
    least), and on instances small enough for the full LP the CP-SAT polish
    gets what then remains in wall time (none under 0.1 s), and at most 3 % of
    the limit (3 units at most) in CP-SAT's deterministic time, so that the
    same seed gives the same plan when the wall time does not cut it.
    Whatever stage the time cuts, the plan returned is the best one found
    (the priced plan, repaired, when no LP finished), and a plan that breaks
    a tolerance says so: status ``partial``, message ``NOT BALANCED: ...``.

    With ``options.contiguous`` (default: on for a new design, when no planned
    account has an owner among the reps and there are at least two accounts
    per rep) the territories are connected areas of basic units instead
    (``planner.solvers.territories.areas``, its docstring gives that model).
    """
    options = options or TerritoryOptions()
    t0 = time.perf_counter()
    progress(0.0, "classifying accounts")
    setup = _setup(problem, options, progress, backend)
    t_end = t0 + options.time_limit_s - (0.02 + (time.perf_counter() - t0))  # the plan's tables after
    few = int(setup.planned.sum()) < max(3, 2 * problem.n_reps)
    if options.contiguous or (options.contiguous is None and not areas.is_realignment(setup) and not few):
        if not few:
            return _area_plan(setup, t0, t_end, progress)
        note = (f"contiguous areas need at least {max(3, 2 * problem.n_reps)} accounts to divide "
                f"({int(setup.planned.sum())} here): territories not drawn as areas")
        return _with_note(_scattered(problem, options, setup, t0, t_end, progress), note)
    return _scattered(problem, options, setup, t0, t_end, progress)


def _with_note(plan: TerritoryPlan, note: str) -> TerritoryPlan:
    from dataclasses import replace as _replace

    msg = "; ".join(m for m in (plan.report.message, note) if m)
    return _replace(plan, report=_replace(plan.report, message=msg))


def _scattered(problem: TerritoryProblem, options: TerritoryOptions, setup: Setup, t0: float, t_end: float,
               progress: ProgressFn) -> TerritoryPlan:
    """The scattered plan (the model's docstring): centre rounds, LP and repair."""
    rng = np.random.default_rng(options.seed)
    if setup.mode == "base":
        anchors = problem.base_lonlat.copy()
        iterations = 1
    else:
        anchors = _initial_centres(problem, setup.prep, setup.planned, setup.xy, setup.ref, rng)
        iterations = options.centre_iterations
    best = _centre_rounds(setup, anchors, iterations, t_end, progress)
    progress(0.95, "KPIs")
    return _make_plan(setup, best, t0)


def _capacity(problem: TerritoryProblem, options: TerritoryOptions, n_plan: int) -> np.ndarray:
    """Max accounts per rep: the problem's where given, else from ``max_accounts`` or the headroom."""
    share = problem.share
    if options.max_accounts is not None:
        capacity = np.maximum(1, np.floor(options.max_accounts * share)).astype(np.int64)
    else:
        capacity = np.ceil((1 + options.capacity_headroom) * n_plan * share / share.sum()).astype(np.int64)
        capacity = np.maximum(capacity, 1)
    return np.where(problem.capacity > 0, problem.capacity, capacity)


def _setup(problem: TerritoryProblem, options: TerritoryOptions, progress: ProgressFn,
           backend: travel.TravelBackend | None = None) -> Setup:
    """Classification, capacities, travel from the bases, workloads and the locked accounts' loads."""
    prep = _classify(problem, options)
    n, R = problem.n_accounts, problem.n_reps
    mode = _anchor_mode(problem, options)
    free = prep.status == 0
    planned = free | (prep.status == 1)
    pot = problem.potential_cny
    n_plan = int(planned.sum())
    capacity = _capacity(problem, options, n_plan)
    progress(0.05, "travel times from the bases")
    t_base = minutes_matrix(problem.lonlat, problem.base_lonlat, backend=backend) if n else \
        np.zeros((0, R), dtype=np.float32)
    v32 = prep.visits.astype(np.float32)[:, None]
    W = v32 * (np.float32(options.service_min) + np.float32(2.0 / options.visits_per_day) * t_base)
    lk = np.flatnonzero(prep.status == 1)
    fixed = (np.bincount(prep.cur[lk], weights=W[lk, prep.cur[lk]].astype(float), minlength=R),
             np.bincount(prep.cur[lk], weights=pot[lk], minlength=R),
             np.bincount(prep.cur[lk], minlength=R).astype(float))
    ref = problem.lonlat[planned].mean(axis=0) if n_plan else problem.base_lonlat.mean(axis=0)
    xy = _project(problem.lonlat, ref)
    use_units = int(free.sum()) > options.unit_threshold
    return Setup(problem, options, prep, mode, free, planned, lk, capacity, t_base, v32, W, fixed, ref, xy, use_units,
                 backend)


def _anchor_travel(setup: Setup, anchors: np.ndarray) -> np.ndarray:
    """Travel minutes (float32) from each rep's anchor: the base, or the territory centre."""
    if setup.mode == "base":
        return setup.t_base
    return minutes_matrix(setup.problem.lonlat, anchors, backend=setup.travel)


def _centre_rounds(setup: Setup, anchors: np.ndarray, iterations: int, t_end: float,
                   progress: ProgressFn) -> Round:
    """Solve with fixed anchors ``iterations`` times (centres move between rounds); the best round."""
    best: Round | None = None
    for it_no in range(iterations):
        budget_end = time.perf_counter() + (t_end - time.perf_counter()) / (iterations - it_no)
        progress(0.1 + 0.8 * it_no / iterations,
                 f"solving ({'units, then accounts' if setup.use_units else 'accounts'})"
                 + (f", centre round {it_no + 1} of {iterations}" if iterations > 1 else ""))
        t_anchor = _anchor_travel(setup, anchors)
        rnd = _one_round(setup, setup.visits32 * t_anchor, anchors, budget_end, progress)
        if best is None or rnd.key < best.key:
            best = rnd
        if setup.mode == "centre" and it_no < iterations - 1:
            anchors = _moved_centres(setup, rnd.assign, anchors)
        if time.perf_counter() >= t_end:
            break
    assert best is not None  # iterations >= 1 (an option with min=1)
    return best


def _moved_centres(setup: Setup, assign: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Each centre moved to its territory's visit-weighted centre (unchanged without accounts)."""
    sel = np.flatnonzero(assign >= 0)
    if not len(sel):
        return anchors
    R, xy, ref = setup.problem.n_reps, setup.xy, setup.ref
    w, a = setup.prep.visits[sel] + 1e-6, assign[sel]
    sw = np.bincount(a, weights=w, minlength=R)
    new_xy = _project(anchors, ref)
    ok = sw > 0
    new_xy[ok, 0] = np.bincount(a, weights=w * xy[sel, 0], minlength=R)[ok] / sw[ok]
    new_xy[ok, 1] = np.bincount(a, weights=w * xy[sel, 1], minlength=R)[ok] / sw[ok]
    return _unproject(new_xy, ref)


# --------------------------------------------------------------------------- #
# The plan: reasons of moves, KPIs, report
# --------------------------------------------------------------------------- #


_LIMIT_TEXT = {
    "workload_max": "workload above +{tol:.0%}", "workload_min": "workload below -{tol:.0%}",
    "potential_max": "potential above +{ptol:.0%}", "potential_min": "potential below -{ptol:.0%}",
    "capacity": "capacity", "max_moves": "max_moves",
}


def _describe(kind: str, rep: str, value: float, limit: float, options: TerritoryOptions) -> str:
    label = _LIMIT_TEXT[kind].format(tol=options.tolerance, ptol=options.potential_tolerance)
    if kind.startswith("workload"):
        return f"{label}: {rep} {value / 60:,.1f} h a month vs limit {limit / 60:,.1f} h"
    if kind.startswith("potential"):
        return f"{label}: {rep} {value:,.0f} CNY vs limit {limit:,.0f} CNY"
    if kind == "capacity":
        return f"capacity: {rep} {value:.0f} accounts > {limit:.0f}"
    return f"max_moves: {value:.0f} moves > {limit:.0f}"


def _ratio(v: np.ndarray) -> float:
    """Largest over smallest (inf when the smallest is 0 or there is nothing)."""
    return float(v.max() / v.min()) if len(v) and v.min() > 0 else math.inf


class _PlanArrays:
    """Per-account arrays of a round's assignment: rep index, outcome, moves, workload, travel."""

    def __init__(self, setup: Setup, assign: np.ndarray, t_anchor: np.ndarray) -> None:
        problem, prep = setup.problem, setup.prep
        rows = np.arange(problem.n_accounts)
        self.assign = assign
        self.a = a = np.maximum(assign, 0)
        self.assigned = assigned = assign >= 0
        self.territory = np.where(assigned, problem.rep_ids[a],
                                  np.where(prep.status == 3, problem.owner, S.PUBLIC_POOL))
        self.outcome = np.where(assigned, "assigned", np.where(prep.status == 3, "kept", "pool"))
        self.moved = assigned & (problem.owner != self.territory)
        self.work_min = np.where(assigned, setup.W[rows, a], 0.0).astype(float)
        self.travel_min = np.where(assigned, t_anchor[rows, a], np.nan).astype(float)
        self.base_travel = np.where(assigned, setup.t_base[rows, a], np.nan).astype(float)

    def loads(self, weights: np.ndarray | None, R: int) -> np.ndarray:
        """Per-rep sums of ``weights`` (counts when None) over the assigned accounts."""
        a, sel = self.a[self.assigned], self.assigned
        if weights is None:
            return np.bincount(a, minlength=R)
        return np.bincount(a, weights=weights[sel], minlength=R)


def _move_reasons(setup: Setup, pa: _PlanArrays, t_anchor: np.ndarray) -> np.ndarray:
    """Why each account is where it is: the classification's reason, or why it moved or stays."""
    problem, prep, options, capacity = setup.problem, setup.prep, setup.options, setup.capacity
    R, rep_ids = problem.n_reps, problem.rep_ids
    rows = np.arange(problem.n_accounts)
    frac = problem.share / problem.share.sum()
    # today's loads (all planned accounts staying with in-plan owners), for the reasons of moves
    stay = (prep.status <= 1) & (prep.cur >= 0)
    w_now = np.bincount(prep.cur[stay], weights=setup.W[rows[stay], prep.cur[stay]].astype(float), minlength=R)
    over_now = w_now > (1 + options.tolerance) * frac * w_now.sum()
    p_now = np.bincount(prep.cur[stay], weights=problem.potential_cny[stay], minlength=R)
    n_now = np.bincount(prep.cur[stay], minlength=R)
    reason = prep.reason.copy()
    word = "base" if setup.mode == "base" else "centre"
    ptol = options.potential_tolerance
    for i in np.flatnonzero(pa.moved & (prep.status != 1)):
        c, q = prep.cur[i], pa.a[i]
        o = problem.owner[i]
        if o == S.PUBLIC_POOL:
            reason[i] = "taken from the public pool (include_pool)"
        elif c < 0:
            reason[i] = f"owner {o} is not a rep of this plan"
        elif over_now[c]:
            reason[i] = (f"rebalance: {o} had {w_now[c] / 60:,.0f} h a month, above the +{options.tolerance:.0%} "
                         f"limit ({(1 + options.tolerance) * frac[c] * w_now.sum() / 60:,.0f} h)")
        elif n_now[c] > capacity[c]:
            reason[i] = f"capacity: {o} had {n_now[c]} accounts (capacity {capacity[c]})"
        elif p_now[c] > (1 + ptol) * frac[c] * p_now.sum():
            reason[i] = f"rebalance: {o} had {p_now[c]:,.0f} CNY potential, above the +{ptol:.0%} limit"
        elif t_anchor[i, q] < t_anchor[i, c]:
            reason[i] = f"compactness: {float(t_anchor[i, c] - t_anchor[i, q]):.0f} min nearer {rep_ids[q]}'s {word}"
        else:
            reason[i] = f"rebalance: {rep_ids[q]} needed workload or potential"
    for i in np.flatnonzero(pa.assigned & ~pa.moved & (prep.status == 0)):
        reason[i] = "stays with its owner"
    for i in np.flatnonzero(pa.assigned & ~pa.moved & (prep.status == 1)):
        if not str(reason[i]).startswith("pinned"):
            reason[i] = "locked with its owner"
    return reason


def _accounts_table(setup: Setup, pa: _PlanArrays, reason: np.ndarray) -> pd.DataFrame:
    problem, prep = setup.problem, setup.prep
    return pd.DataFrame({
        "owner": problem.owner, "territory": pa.territory, "outcome": pa.outcome, "moved": pa.moved,
        "reason": reason, "locked": prep.locked, "pool_return": prep.pool_return, "visits_per_month": prep.visits,
        "workload_h": pa.work_min / 60.0, "travel_min": pa.travel_min, "base_travel_min": pa.base_travel,
        "potential_cny": problem.potential_cny, "account_class": problem.account_class,
        S.LON: problem.lonlat[:, 0], S.LAT: problem.lonlat[:, 1],
    }, index=pd.Index(problem.account_ids, name=S.ID))


def _reps_table(setup: Setup, pa: _PlanArrays, anchors: np.ndarray) -> pd.DataFrame:
    problem, prep = setup.problem, setup.prep
    R, share = problem.n_reps, problem.share
    wl, pl = pa.loads(pa.work_min, R), pa.loads(problem.potential_cny, R)
    frac = share / share.sum()
    tgt_w, tgt_p = frac * wl.sum(), frac * pl.sum()
    vt = pa.loads(prep.visits * pa.travel_min, R)
    vs = pa.loads(prep.visits, R)
    mv_out = np.zeros(R, dtype=np.int64)
    owner_index = prep.cur if prep.owner_index is None else prep.owner_index
    src = pa.moved & (owner_index >= 0)
    np.add.at(mv_out, owner_index[src], 1)
    return pd.DataFrame({
        "share": share, "capacity": setup.capacity, "accounts": pa.loads(None, R), "workload_h": wl / 60.0,
        "target_workload_h": tgt_w / 60.0, "workload_ratio": np.divide(wl, tgt_w, out=np.zeros(R), where=tgt_w > 0),
        "potential_cny": pl, "target_potential_cny": tgt_p,
        "potential_ratio": np.divide(pl, tgt_p, out=np.zeros(R), where=tgt_p > 0),
        "travel_min_mean": np.divide(vt, vs, out=np.full(R, np.nan), where=vs > 0),
        "moved_in": np.bincount(pa.a[pa.moved], minlength=R), "moved_out": mv_out,
        "locked": np.bincount(prep.cur[prep.status == 1], minlength=R),
        "base_lon": problem.base_lonlat[:, 0], "base_lat": problem.base_lonlat[:, 1],
        "anchor_lon": anchors[:, 0], "anchor_lat": anchors[:, 1],
    }, index=pd.Index(problem.rep_ids, name="rep"))


def _kpis(setup: Setup, pa: _PlanArrays) -> dict[str, Any]:
    problem, prep, options = setup.problem, setup.prep, setup.options
    R, share, owner = problem.n_reps, problem.share, problem.owner
    wl, pl, cnt = pa.loads(pa.work_min, R), pa.loads(problem.potential_cny, R), pa.loads(None, R)
    sel, moved, visits = pa.assigned, pa.moved, prep.visits
    return {
        "accounts": int(problem.n_accounts), "assigned": int(sel.sum()), "pool": int((pa.outcome == "pool").sum()),
        "kept_outside": int((pa.outcome == "kept").sum()), "reps": int(R),
        "moved": int((moved & ((prep.cur if prep.owner_index is None else prep.owner_index) >= 0)).sum()),
        "moved_potential_cny": float(problem.potential_cny[moved].sum()),
        "reassigned_from_outside_owners": int((moved & (prep.cur < 0) & (owner != S.PUBLIC_POOL)).sum()),
        "taken_from_pool": int((moved & (owner == S.PUBLIC_POOL)).sum()),
        "pool_returns": int(prep.pool_return.sum()), "locked": int(prep.locked.sum()),
        "excluded": int(pd.Series(problem.account_ids).isin(options.excluded).sum()),
        "workload_h_total": float(wl.sum() / 60.0),
        "workload_max_over_min": _ratio(wl / share), "potential_max_over_min": _ratio(pl / share),
        "accounts_max_over_min": _ratio(cnt / share),
        "mean_travel_min": float((visits * pa.travel_min)[sel].sum() / visits[sel].sum()) if sel.any() else math.nan,
        "mean_base_travel_min": float((visits * pa.base_travel)[sel].sum() / visits[sel].sum()) if sel.any()
        else math.nan,
        "compactness": setup.mode,
    }


def _unbalanced(rnd: Round, setup: Setup) -> str:
    """``NOT BALANCED: ...`` naming each balance measure the plan breaks (how many reps, the worst), or ""."""
    options, rep_ids, R = setup.options, setup.problem.rep_ids, setup.problem.n_reps
    parts = []
    for measure, tol in (("workload", options.tolerance), ("potential", options.potential_tolerance)):
        bad = [(v[4], v[1], v[0].endswith("max")) for v in rnd.ev.violated if v[0].startswith(measure)]
        if bad:
            excess, r, above = max(bad)
            parts.append(f"{measure} outside +-{tol:.0%} for {len(bad)} of {R} reps (worst {rep_ids[r]}, "
                         f"{excess:.1%} {'above' if above else 'below'} its limit)")
    return "NOT BALANCED: " + "; ".join(parts) if parts else ""


def _report(setup: Setup, rnd: Round, seconds: float) -> SolveReport:
    """Status (optimal only with a proof on every pair), the broken limits and what the search did.

    A plan that breaks a balance tolerance is ``partial`` and says so first: its message and its first
    ``violated`` line start with ``NOT BALANCED`` and name the measure (workload, potential)."""
    options, rep_ids, R, mode = setup.options, setup.problem.rep_ids, setup.problem.n_reps, setup.mode
    violated = tuple(_describe(k, rep_ids[r] if r >= 0 else "", v, lim, options)
                     for k, r, v, lim, _ in rnd.ev.violated)
    objective, bound, messages = rnd.ev.objective, rnd.bound, rnd.messages
    exact = rnd.core.n_items == 0 or (min(options.candidates, R) >= R and not messages)
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    status: Status
    if violated:
        status = "partial"
    elif gap is not None and gap <= 1e-6 and exact:
        status = "optimal"
    else:
        status = "feasible"
    unbalanced = _unbalanced(rnd, setup)
    msg = ([unbalanced] if unbalanced else []) + \
        [f"{mode} compactness", f"{min(options.candidates, R)} candidate reps per account"] + messages
    if rnd.info.elastic:
        msg.append("the limits cannot all hold: closest plan (least total relative violation)")
    if unbalanced:
        violated = (unbalanced, *violated)
    return SolveReport(status=status, objective=objective, bound=bound, seconds=seconds,
                       solver="Lagrangian prices + HiGHS LP + CP-SAT", violated=violated, message="; ".join(msg))


def _make_plan(setup: Setup, rnd: Round, t0: float) -> TerritoryPlan:
    """The plan of the best round: accounts with reasons, reps, KPIs and the report."""
    t_anchor = _anchor_travel(setup, rnd.anchors)
    pa = _PlanArrays(setup, rnd.assign, t_anchor)
    accounts = _accounts_table(setup, pa, _move_reasons(setup, pa, t_anchor))
    reps = _reps_table(setup, pa, rnd.anchors)
    kpis = _kpis(setup, pa)
    kpis.update(areas.shape_kpis(setup.problem, rnd.assign))
    seconds = time.perf_counter() - t0
    report = _report(setup, rnd, seconds)
    kpis["seconds"] = seconds
    kpis["balanced"] = not report.message.startswith("NOT BALANCED")
    return TerritoryPlan(accounts=accounts, reps=reps, kpis=kpis, report=report, options=setup.options,
                         compactness=setup.mode)


def _area_plan(setup: Setup, t0: float, t_end: float, progress: ProgressFn) -> TerritoryPlan:
    """The contiguous plan (``planner.solvers.territories.areas``) with the same tables and KPIs."""
    from planner.geo.units import read_barriers

    options = setup.options
    setup = areas.static_workload_setup(setup)
    barriers = read_barriers(options.barriers) if options.barriers else None
    t_end -= 0.1 + 0.002 * setup.problem.n_accounts ** 0.5  # the polygons and tables after
    assign, res = areas.solve_areas(setup, t_end, progress, barriers)
    progress(0.9, "KPIs and areas")
    t_anchor = areas.minutes_from_centres(setup, res.centres)
    pa = _PlanArrays(setup, assign, t_anchor)
    accounts = _accounts_table(setup, pa, _move_reasons(setup, pa, t_anchor))
    unit = np.full(setup.problem.n_accounts, -1, dtype=np.int64)
    unit[setup.planned] = res.graph.unit_of
    accounts["unit"] = unit
    reps = _reps_table(setup, pa, res.centres)
    if res.district_of_rep is not None:
        reps["district"] = res.district_of_rep + 1
    kpis = _kpis(setup, pa)
    kpis.update(areas.area_kpis(setup, assign, res))
    kpis.update(areas.shape_kpis(setup.problem, assign))
    seconds = time.perf_counter() - t0
    over = [f"capacity: {rid} has {int(n)} accounts (capacity {int(c)})"
            for rid, n, c in zip(reps.index, reps["accounts"], reps["capacity"]) if n > c]
    report = areas.area_report(setup, res, seconds, kpis, over)
    kpis["seconds"] = seconds
    kpis["balanced"] = not report.message.startswith("NOT BALANCED")
    return TerritoryPlan(accounts=accounts, reps=reps, kpis=kpis, report=report, options=options,
                         compactness="areas", units=areas.units_frame(setup.problem, res),
                         areas=areas.areas_frame(setup.problem, res))


def kpi_table(plans: Mapping[str, TerritoryPlan]) -> pd.DataFrame:
    """Overall KPIs of several plans side by side (one column per scenario)."""
    keys = ["status", "compactness", "contiguous", "assigned", "pool", "moved", "moved_potential_cny",
            "pool_returns", "workload_max_over_min", "potential_max_over_min", "accounts_max_over_min",
            "mean_travel_min", "knn_same", "hull_overlap", "workload_h_total", "seconds"]
    data = {}
    for name, p in plans.items():
        k = dict(p.kpis, status=p.report.status)
        data[name] = [k.get(key) for key in keys]
    return pd.DataFrame(data, index=keys)


CURVE_KEEPS = (8.0, 2.0, 1.0, 0.5, 0.0)


def realignment_curve(problem: TerritoryProblem, options: TerritoryOptions | None = None, *,
                      keeps: Sequence[float] = CURVE_KEEPS, progress: ProgressFn = no_progress,
                      backend: travel.TravelBackend | None = None) -> tuple[pd.DataFrame, dict[float, TerritoryPlan]]:
    """Contiguous plans from "keep everything" to "from scratch": the trade-off between moves and shape.

    One row per plan: today's territories (``keep`` = inf, the accounts where they are, not redrawn),
    then a contiguous plan per ``keeps`` value (``options`` with ``contiguous=True, keep=k``; each gets
    the options' time limit), with accounts and potential moved, ``knn_same``, ``hull_overlap``,
    dispersion, balance and status. Returns the table and the plans by ``keep``."""
    from dataclasses import replace as _replace

    options = options or TerritoryOptions()
    base = _replace(options, contiguous=True)
    prep_owner = pd.Series(problem.owner).map({r: j for j, r in enumerate(problem.rep_ids)})
    today = prep_owner.fillna(-1).to_numpy(np.int64)
    shape = areas.shape_kpis(problem, today)
    rows: list[dict[str, Any]] = [{"plan": "today", "keep": math.inf, "moved": 0, "moved_potential_cny": 0.0,
                                   **shape, "dispersion_km": math.nan, "workload_max_over_min": math.nan,
                                   "balanced": None, "contiguous": None, "status": "today"}]
    plans: dict[float, TerritoryPlan] = {}
    for j, k in enumerate(keeps):
        progress(j / max(1, len(keeps)), f"plan {j + 1} of {len(keeps)} (keep {k:g})")
        plan = solve(problem, _replace(base, keep=float(k)), backend=backend)
        plans[float(k)] = plan
        kp = plan.kpis
        rows.append({"plan": "from scratch" if k == 0 else f"keep {k:g}", "keep": float(k), "moved": kp["moved"],
                     "moved_potential_cny": kp["moved_potential_cny"], "knn_same": kp["knn_same"],
                     "hull_overlap": kp["hull_overlap"], "dispersion_km": kp.get("dispersion_km", math.nan),
                     "workload_max_over_min": kp["workload_max_over_min"], "balanced": kp["balanced"],
                     "contiguous": kp.get("contiguous"), "status": plan.report.status})
    progress(1.0, "curve done")
    return pd.DataFrame(rows), plans
