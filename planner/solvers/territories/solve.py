"""The territory solve: classify accounts, search, make the plan and its KPIs (formulation in ``model``)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from planner import schema as S
from planner.geo import travel
from planner.plans import ProgressFn, SolveReport, no_progress
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
from planner.solvers.territories.search import (
    _one_round,
)


def solve(problem: TerritoryProblem, options: TerritoryOptions | None = None, *,
          progress: ProgressFn = no_progress) -> TerritoryPlan:
    """Assign accounts to the reps of ``problem`` (see the module docstring for the model).

    Objective: visit-weighted travel from each rep's anchor plus
    ``move_penalty_min`` per account moved away from a current owner.
    Constraints: each planned account to one rep; workload and potential
    within their tolerances of each rep's share; capacities; ``max_moves``;
    locked accounts fixed; excluded, pool and pool-rule accounts left out.
    When the limits cannot all hold the plan is the closest one (least total
    relative violation), status ``partial``, ``report.violated`` naming each
    broken limit. Bad settings raise one ``ValueError`` listing them.
    """
    options = options or TerritoryOptions()
    t0 = time.perf_counter()
    t_end = t0 + options.time_limit_s
    progress(0.0, "classifying accounts")
    prep = _classify(problem, options)
    n, R = problem.n_accounts, problem.n_reps
    mode = _anchor_mode(problem, options)
    free = prep.status == 0
    planned = free | (prep.status == 1)
    pot = problem.potential_cny
    share = problem.share
    n_plan = int(planned.sum())
    if options.max_accounts is not None:
        capacity = np.maximum(1, np.floor(options.max_accounts * share)).astype(np.int64)
    else:
        capacity = np.ceil((1 + options.capacity_headroom) * n_plan * share / share.sum()).astype(np.int64)
        capacity = np.maximum(capacity, 1)
    capacity = np.where(problem.capacity > 0, problem.capacity, capacity)
    progress(0.05, "travel times from the bases")
    t_base = travel.travel_matrix(problem.lonlat, problem.base_lonlat).time_s / np.float32(60.0) if n else \
        np.zeros((0, R), dtype=np.float32)
    v32 = prep.visits.astype(np.float32)[:, None]
    W = v32 * (np.float32(options.service_min) + np.float32(2.0 / options.visits_per_day) * t_base)
    lk = np.flatnonzero(prep.status == 1)
    fixed = (np.bincount(prep.cur[lk], weights=W[lk, prep.cur[lk]].astype(float), minlength=R),
             np.bincount(prep.cur[lk], weights=pot[lk], minlength=R),
             np.bincount(prep.cur[lk], minlength=R).astype(float))
    ref = problem.lonlat[planned].mean(axis=0) if n_plan else problem.base_lonlat.mean(axis=0)
    xy = _project(problem.lonlat, ref)
    rng = np.random.default_rng(options.seed)
    if mode == "base":
        anchors = problem.base_lonlat.copy()
        iterations = 1
    else:
        anchors = _initial_centres(problem, prep, planned, xy, ref, rng)
        iterations = options.centre_iterations
    n_free = int(free.sum())
    use_units = n_free > options.unit_threshold
    best: dict | None = None
    for it_no in range(iterations):
        budget_end = time.perf_counter() + (t_end - time.perf_counter()) / (iterations - it_no)
        progress(0.1 + 0.8 * it_no / iterations, f"solving ({'units, then accounts' if use_units else 'accounts'})"
                 + (f", centre round {it_no + 1} of {iterations}" if iterations > 1 else ""))
        t_anchor = t_base if mode == "base" else travel.travel_matrix(problem.lonlat, anchors).time_s / np.float32(60)
        st = _one_round(problem, options, prep, free, lk, W, v32 * t_anchor, fixed, share, capacity, xy,
                        use_units, budget_end, progress)
        st["anchors"] = anchors
        key = (sum(v[4] for v in st["ev"].violated), st["lp_failed"], st["ev"].objective)
        if best is None or key < best["key"]:
            best = dict(st, key=key)
        if mode == "centre" and it_no < iterations - 1:  # move each centre to its territory's centre of visits
            assign = st["assign"]
            sel = np.flatnonzero(assign >= 0)
            if len(sel):
                w, a = prep.visits[sel] + 1e-6, assign[sel]
                sw = np.bincount(a, weights=w, minlength=R)
                new_xy = _project(anchors, ref)
                ok = sw > 0
                new_xy[ok, 0] = np.bincount(a, weights=w * xy[sel, 0], minlength=R)[ok] / sw[ok]
                new_xy[ok, 1] = np.bincount(a, weights=w * xy[sel, 1], minlength=R)[ok] / sw[ok]
                anchors = _unproject(new_xy, ref)
        if time.perf_counter() >= t_end:
            break
    progress(0.95, "KPIs")
    return _make_plan(problem, options, prep, best["assign"], best["anchors"], mode, W, t_base, capacity,
                      best["ev"], best["core"], best["info"], best["bound"], best["lp_failed"], best["messages"], t0)


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


def _make_plan(problem, options, prep, assign, anchors, mode, W, t_base, capacity, ev, core, info, bound,
               lp_failed, messages, t0) -> TerritoryPlan:
    n, R = problem.n_accounts, problem.n_reps
    rep_ids = problem.rep_ids
    ids = problem.account_ids
    t_anchor = t_base if mode == "base" else travel.travel_matrix(problem.lonlat, anchors).time_s / np.float32(60)
    rows = np.arange(n)
    a = np.maximum(assign, 0)
    assigned = assign >= 0
    territory = np.where(assigned, rep_ids[a], np.where(prep.status == 3, problem.owner, S.PUBLIC_POOL))
    outcome = np.where(assigned, "assigned", np.where(prep.status == 3, "kept", "pool"))
    moved = assigned & (problem.owner != territory)
    work_min = np.where(assigned, W[rows, a], 0.0).astype(float)
    travel_min = np.where(assigned, t_anchor[rows, a], np.nan).astype(float)
    base_travel = np.where(assigned, t_base[rows, a], np.nan).astype(float)
    visits = prep.visits
    pot = problem.potential_cny
    # per-rep loads (floats) and targets
    wl = np.bincount(a[assigned], weights=work_min[assigned], minlength=R)
    pl = np.bincount(a[assigned], weights=pot[assigned], minlength=R)
    cnt = np.bincount(a[assigned], minlength=R)
    share = problem.share
    frac = share / share.sum()
    tgt_w, tgt_p = frac * wl.sum(), frac * pl.sum()
    # today's loads (all planned accounts staying with in-plan owners), for the reasons of moves
    stay = (prep.status <= 1) & (prep.cur >= 0)
    w_now = np.bincount(prep.cur[stay], weights=W[rows[stay], prep.cur[stay]].astype(float), minlength=R)
    over_now = w_now > (1 + options.tolerance) * frac * w_now.sum()
    p_now = np.bincount(prep.cur[stay], weights=pot[stay], minlength=R)
    n_now = np.bincount(prep.cur[stay], minlength=R)
    reason = prep.reason.copy()
    word = "base" if mode == "base" else "centre"
    for i in np.flatnonzero(moved):
        c, q = prep.cur[i], a[i]
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
        elif p_now[c] > (1 + options.potential_tolerance) * frac[c] * p_now.sum():
            reason[i] = f"rebalance: {o} had {p_now[c]:,.0f} CNY potential, above the +{options.potential_tolerance:.0%} limit"
        elif t_anchor[i, q] < t_anchor[i, c]:
            reason[i] = f"compactness: {float(t_anchor[i, c] - t_anchor[i, q]):.0f} min nearer {rep_ids[q]}'s {word}"
        else:
            reason[i] = f"rebalance: {rep_ids[q]} needed workload or potential"
    for i in np.flatnonzero(assigned & ~moved & (prep.status == 0)):
        reason[i] = "stays with its owner"
    for i in np.flatnonzero(assigned & ~moved & (prep.status == 1)):
        reason[i] = "locked with its owner"
    accounts = pd.DataFrame({
        "owner": problem.owner, "territory": territory, "outcome": outcome, "moved": moved, "reason": reason,
        "locked": prep.locked, "pool_return": prep.pool_return, "visits_per_month": visits,
        "workload_h": work_min / 60.0, "travel_min": travel_min, "base_travel_min": base_travel,
        "potential_cny": pot, "account_class": problem.account_class,
        S.LON: problem.lonlat[:, 0], S.LAT: problem.lonlat[:, 1],
    }, index=pd.Index(ids, name=S.ID))
    vt = np.bincount(a[assigned], weights=(visits * travel_min)[assigned], minlength=R)
    vs = np.bincount(a[assigned], weights=visits[assigned], minlength=R)
    mv_in = np.bincount(a[moved], minlength=R)
    mv_out = np.zeros(R, dtype=np.int64)
    src = moved & (prep.cur >= 0)
    np.add.at(mv_out, prep.cur[src], 1)
    reps = pd.DataFrame({
        "share": share, "capacity": capacity, "accounts": cnt, "workload_h": wl / 60.0,
        "target_workload_h": tgt_w / 60.0, "workload_ratio": np.divide(wl, tgt_w, out=np.zeros(R), where=tgt_w > 0),
        "potential_cny": pl, "target_potential_cny": tgt_p,
        "potential_ratio": np.divide(pl, tgt_p, out=np.zeros(R), where=tgt_p > 0),
        "travel_min_mean": np.divide(vt, vs, out=np.full(R, np.nan), where=vs > 0),
        "moved_in": mv_in, "moved_out": mv_out,
        "locked": np.bincount(prep.cur[prep.status == 1], minlength=R),
        "base_lon": problem.base_lonlat[:, 0], "base_lat": problem.base_lonlat[:, 1],
        "anchor_lon": anchors[:, 0], "anchor_lat": anchors[:, 1],
    }, index=pd.Index(rep_ids, name="rep"))
    per_w, per_p = wl / share, pl / share

    def ratio(v):
        return float(v.max() / v.min()) if len(v) and v.min() > 0 else math.inf

    sel = assigned
    kpis = {
        "accounts": int(n), "assigned": int(sel.sum()), "pool": int((outcome == "pool").sum()),
        "kept_outside": int((outcome == "kept").sum()), "reps": int(R),
        "moved": int((moved & (prep.cur >= 0)).sum()),
        "reassigned_from_outside_owners": int((moved & (prep.cur < 0) & (problem.owner != S.PUBLIC_POOL)).sum()),
        "taken_from_pool": int((moved & (problem.owner == S.PUBLIC_POOL)).sum()),
        "pool_returns": int(prep.pool_return.sum()), "locked": int(prep.locked.sum()),
        "excluded": int(pd.Series(ids).isin(options.excluded).sum()),
        "workload_h_total": float(wl.sum() / 60.0),
        "workload_max_over_min": ratio(per_w), "potential_max_over_min": ratio(per_p),
        "accounts_max_over_min": ratio(cnt / share),
        "mean_travel_min": float((visits * travel_min)[sel].sum() / visits[sel].sum()) if sel.any() else math.nan,
        "mean_base_travel_min": float((visits * base_travel)[sel].sum() / visits[sel].sum()) if sel.any() else math.nan,
        "compactness": mode,
    }
    violated = tuple(_describe(k, rep_ids[r] if r >= 0 else "", v, lim, options)
                     for k, r, v, lim, _ in ev.violated)
    objective = ev.objective
    seconds = time.perf_counter() - t0
    exact = core.n_items == 0 or (min(options.candidates, R) >= R and not messages)
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    if violated:
        status = "partial"
    elif lp_failed:
        status = "partial"
    elif gap is not None and gap <= 1e-6 and exact:
        status = "optimal"
    else:
        status = "feasible"
    msg = [f"{mode} compactness", f"{min(options.candidates, R)} candidate reps per account"] + messages
    if lp_failed:
        msg.append("time limit before the LP finished: start plan (current owners, else nearest) returned")
    if info.get("elastic"):
        msg.append("the limits cannot all hold: closest plan (least total relative violation)")
    report = SolveReport(status=status, objective=objective, bound=bound, seconds=seconds,
                         solver="HiGHS LP + CP-SAT", violated=violated, message="; ".join(msg))
    kpis["seconds"] = seconds
    return TerritoryPlan(accounts=accounts, reps=reps, kpis=kpis, report=report, options=options, compactness=mode)


def kpi_table(plans: Mapping[str, TerritoryPlan]) -> pd.DataFrame:
    """Overall KPIs of several plans side by side (one column per scenario)."""
    keys = ["status", "assigned", "pool", "moved", "pool_returns", "workload_max_over_min",
            "potential_max_over_min", "mean_travel_min", "workload_h_total", "seconds"]
    data = {}
    for name, p in plans.items():
        k = dict(p.kpis, status=p.report.status)
        data[name] = [k.get(key) for key in keys]
    return pd.DataFrame(data, index=keys)
