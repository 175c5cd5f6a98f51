"""Where to station people: open k bases among candidates and staff them.

Adapter between canonical tables and the matrix-level solvers of
``planner.solvers.pmedian`` (which hold the formulations):

- demand points are the accounts, or H3 cells of accounts when there are more
  than ``aggregate_above`` (each cell at its accounts' centroid, weighted by
  their weight); the aggregation error is reported by re-evaluating the plan
  at account level;
- cost = travel minutes from candidate base to demand point (``planner.geo.travel``);
- weight = what the user picks (``count``, ``class``, ``potential``);
- **p-median** (uncapacitated): minimise the weighted travel time with k open
  bases; **capacitated**: each base serves at most ``desks x (workload per rep)``
  and, if open, at least ``min_team x (workload per rep)``, where workload per
  rep = total weight / reps to station;
- candidates the user locks stay open, excluded ones never open.

Headcount: the reps to station at each open base are proportional to the
weight it serves (largest-remainder rounding), at least ``min_team``, at most
its desks when capacitated, summing to the reps available. KPIs before (every
account served from its nearest current office) and after: mean and 90th
percentile travel time per visit (one way), visits per rep-day (see
``planner.solvers.density``), share of accounts within 60 minutes.

When the settings cannot hold (no candidates, k above the candidates, total
workload above the capacity of any k bases, more locked than k) the plan says
so in ``report.violated`` and carries the closest plan it could make, or none
for settings that make no sense (``status='invalid'``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import plans, schema as S
from planner.errors import InputError
from planner.geo import travel
from planner.options import Options, option
from planner.plans import SolveReport
from planner.solvers import density

if TYPE_CHECKING:
    from planner.solvers.pmedian import PMedianResult

_MIN_SEARCH_S = 0.5  # the search gets at least this, and this share of the limit, whatever the preparation took
_MIN_SEARCH_SHARE = 0.1


@dataclass(frozen=True, kw_only=True)
class BaseOptions(Options):
    """Where to station people: how many bases, capacities, the weight of an account, locks."""

    what = "bases settings"

    k: int = option(2, doc="number of bases to open", label="Bases (k)", min=1, ui_max=8)
    capacitated: bool = option(False, doc="capacitated model: a base serves at most its desks' workload and, "
                                         "if open, at least min_team reps' workload", label="Capacitated")
    desks: int | None = option(None, doc="desks at every candidate base (capacitated model); default: each "
                                        "office's own desks", label="Desks/base", min=1, ui_max=40,
                               flag="--capacity")
    reps: int | None = option(None, doc="reps to station (default: the number of people in the reps table)",
                              min=1)
    min_team: int = option(2, doc="minimum reps at an open base", label="Min team", min=0, ui_max=10)
    weight: str = option("count", doc="what an account weighs: count (1 each), class (A 3, B 2, C 1) or "
                                      "potential (CNY)", label="Weight", choices=density.WEIGHTS)
    locked: tuple[str, ...] = option((), doc="office ids kept open", label="Keep open", flag="--lock")
    excluded: tuple[str, ...] = option((), doc="office ids never opened", label="Never open", flag="--exclude")
    aggregate_above: int = option(5000, doc="above this many accounts, demand points are H3 cells", min=1,
                                  cli=False, ui=False)
    resolution: int = option(8, doc="H3 resolution of the demand cells", min=5, max=10, cli=False, ui=False)
    candidate_sites: bool = option(True, doc="when the offices table lists no candidate sites, consider the "
                                            "county seats and towns of the counties that hold accounts too",
                                   label="Add county seats and towns")
    time_limit_s: float = option(30.0, doc="seconds for the whole solve, preparation included", label="Time limit",
                                 unit="s", above=0,
                                 ui_max=120, flag="--time-limit")
    seed: int = option(0, doc="random seed (same seed, same plan)", min=0)
    day: density.WorkingDay = field(default_factory=density.WorkingDay)

    def problems(self) -> list[str]:
        both = sorted(set(self.locked) & set(self.excluded))
        return [f"offices both locked and excluded: {both}: choose one"] if both else []

    @property
    def is_capacitated(self) -> bool:
        return self.capacitated or self.desks is not None


@dataclass(frozen=True)
class BasePlan:
    """Open bases with headcount, each account's base, KPIs before/after, how the search ended."""

    bases: pd.DataFrame  # open bases: id, name, lon, lat, accounts, weight, share, reps, desks, mean_time_min
    assignment: pd.DataFrame  # per account (index aligned): base id, time_min
    kpis_before: dict[str, float]
    kpis_after: dict[str, float]
    report: SolveReport
    demand_points: int
    aggregation_error: float  # relative difference of the objective, cells vs accounts (0 when not aggregated)
    options: BaseOptions

    def kpi_table(self) -> pd.DataFrame:
        rows = []
        for k in self.kpis_before:
            rows.append({"kpi": k, "today": self.kpis_before[k], "plan": self.kpis_after.get(k)})
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        return {"report": self.report.to_dict(), "kpis_before": self.kpis_before, "kpis_after": self.kpis_after,
                "bases": (self.bases[["id", "name", "accounts", "reps", "share", "mean_time_min"]].to_dict("records")
                          if len(self.bases) else []),
                "demand_points": self.demand_points, "aggregation_error": self.aggregation_error,
                "k": self.options.k, "capacitated": self.options.is_capacitated, "weight": self.options.weight}


def _headcount(served: np.ndarray, reps: int, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer reps per base within [lower, upper], summing to ``reps``, that keep the
    heaviest workload per rep as small as possible.

    Each open base first gets its lower bound (at least one rep); every further
    rep goes to the base with the most work per rep (the D'Hondt rule, which
    minimises the maximum of served / reps). Limits that cannot all hold are
    returned as notes.
    """
    n = len(served)
    notes: list[str] = []
    lo = np.maximum(np.minimum(lower, upper), 1).astype(int)
    if lo.sum() > reps:
        notes.append(f"minimum team size needs {int(lo.sum())} reps, only {reps} available")
        lo = np.zeros(n, dtype=int)
    cap = upper.astype(int)
    if cap.sum() < reps:
        notes.append(f"desks at the open bases hold {int(cap.sum())} reps, {reps} to station")
        cap = np.full(n, reps)
    x = lo.copy()
    for _ in range(reps - int(x.sum())):
        with np.errstate(divide="ignore"):
            load = np.where(x > 0, served / np.maximum(x, 1), np.inf)
        load[x >= cap] = -np.inf
        x[int(np.argmax(load))] += 1
    return x, notes


SEAT_DESKS, TOWN_DESKS = 15, 8  # desks assumed at a generated candidate site (capacitated model)


def candidate_sites(accounts: pd.DataFrame, offices: pd.DataFrame) -> pd.DataFrame:
    """``offices`` plus candidate base sites where the table lists none: the seat of every county that
    holds accounts (``CS-<adcode>``) and the GeoNames towns in those counties (``TW-<geonameid>``), with
    ``SEAT_DESKS`` / ``TOWN_DESKS`` desks. Offices already marked ``candidate`` are the user's choice:
    then nothing is added."""
    from planner import geo

    status = offices[S.OFFICE_STATUS] if S.OFFICE_STATUS in offices else pd.Series("current", index=offices.index)
    if (status == "candidate").any() or not len(accounts):
        return offices
    loc = geo.locate(accounts[S.LON], accounts[S.LAT])
    counties = sorted(set(loc["county_adcode"]) - {""})
    units = geo.admin_units().set_index("adcode")
    seats = units.loc[[c for c in counties if c in units.index]]
    towns = geo.towns()
    towns = towns[towns["county_adcode"].isin(counties)]
    rows = [{S.ID: f"CS-{code}", S.NAME: f"{u.name_zh} {u.name_pinyin} county seat (candidate)",
             S.LON: float(u.seat_lon), S.LAT: float(u.seat_lat), S.DESKS: SEAT_DESKS, S.OFFICE_STATUS: "candidate",
             S.OFFICE_KIND: "county_seat", S.ADCODE: code} for code, u in seats.iterrows()]
    rows += [{S.ID: f"TW-{t.geonameid}", S.NAME: f"{t.name_zh} {t.name} town (candidate)", S.LON: float(t.lon),
              S.LAT: float(t.lat), S.DESKS: TOWN_DESKS, S.OFFICE_STATUS: "candidate", S.OFFICE_KIND: "town",
              S.ADCODE: t.county_adcode} for t in towns.itertuples()]
    taken = set(offices[S.ID].astype(str))
    extra = pd.DataFrame([r for r in rows if r[S.ID] not in taken])
    return pd.concat([offices, extra], ignore_index=True) if len(extra) else offices


def _too_small(off: pd.DataFrame, ids: list[str], allowed: list[int],
               opt: BaseOptions) -> tuple[list[int], list[str], str]:
    """Capacitated: candidates with fewer desks than the minimum team cannot open. Returns the candidates
    left, the problems (such an office locked open) and a note naming the ones left out."""
    if not opt.is_capacitated or S.DESKS not in off:
        return allowed, [], ""
    desks = off[S.DESKS].fillna(0).to_numpy(float)
    small = [i for i in allowed if desks[i] < opt.min_team]
    problems = [f"office {ids[i]} is locked open but has {desks[i]:g} desks, fewer than the minimum team of "
                f"{opt.min_team}: lower --min-team or give it more desks" for i in small if ids[i] in opt.locked]
    if not small:
        return allowed, problems, ""
    first = small[0]
    note = (f"{len(small)} candidate(s) with fewer desks than the minimum team of {opt.min_team} not considered "
            f"(e.g. {ids[first]} {off[S.NAME].iloc[first] if S.NAME in off else ''}: {desks[first]:g} desks); "
            f"lower --min-team or give them desks")
    return [i for i in allowed if i not in set(small)], problems, note


def _setting_problems(accounts: pd.DataFrame, opt: BaseOptions, allowed: list[int]) -> list[str]:
    """Settings that make no plan possible (each a sentence for ``report.violated``)."""
    problems = []
    if len(accounts) == 0:
        problems.append("no accounts to serve")
    if not allowed:
        problems.append("no candidate bases (all excluded or none given)")
    elif opt.k > len(allowed):
        problems.append(f"k = {opt.k} is larger than the {len(allowed)} candidate bases")
    if len(opt.locked) > opt.k:
        problems.append(f"{len(opt.locked)} locked bases but k = {opt.k}")
    return problems


def _costs(m: travel.Matrix, ids: list[str]) -> tuple[np.ndarray, str]:
    """Minutes from each demand point to each candidate; pairs with no road route (a road backend's
    ``null``) cost a penalty of a day (or ten times the longest trip) so the solver can still run, and
    the note names them."""
    finite = m.time_s[np.isfinite(m.time_s)]
    if finite.size == m.time_s.size:
        return m.time_s.astype(float) / 60.0, ""
    penalty_s = max(86_400.0, 10.0 * float(finite.max()) if finite.size else 0.0)
    note = m.describe_unreachable(None, ids) + " (demand point -> office; counted as a day's travel)"
    return m.finite_time_s(penalty_s) / 60.0, note


def _demand_points(accounts: pd.DataFrame, w_acc: pd.Series,
                   opt: BaseOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lon/lat, weight) of each demand point and the point of each account: the accounts, or
    above ``aggregate_above`` their H3 cells (at the accounts' centroid)."""
    if len(accounts) > opt.aggregate_above:
        cells = density.h3_cells(accounts[S.LON], accounts[S.LAT], opt.resolution)
        df = pd.DataFrame({"cell": cells, "w": w_acc.to_numpy(float), "lon": accounts[S.LON].to_numpy(float),
                           "lat": accounts[S.LAT].to_numpy(float)})
        g = df.groupby("cell", sort=True).agg(w=("w", "sum"), lon=("lon", "mean"), lat=("lat", "mean"))
        return g[["lon", "lat"]].to_numpy(float), g["w"].to_numpy(float), pd.Index(g.index).get_indexer(cells)
    return accounts[[S.LON, S.LAT]].to_numpy(float), w_acc.to_numpy(float), np.arange(len(accounts))


def _solver_seconds(opt: BaseOptions, elapsed: float, reserve: float) -> tuple[float, str]:
    """Seconds of the limit left for the search once the preparation took ``elapsed`` and ``reserve`` is
    kept for the account-level evaluation after it; at least ``_MIN_SEARCH_SHARE`` of the limit (and
    ``_MIN_SEARCH_S``), with a note when the preparation left less than that."""
    floor = max(_MIN_SEARCH_S, _MIN_SEARCH_SHARE * opt.time_limit_s)
    left = opt.time_limit_s - elapsed - reserve
    if left >= floor:
        return left, ""
    return floor, (f"preparation took {elapsed:.1f} s of the {opt.time_limit_s:g} s limit; the search had "
                   f"{floor:.1f} s")


def _solve_points(off: pd.DataFrame, ids: list[str], allowed: list[int], cost_min: np.ndarray,
                  demand_w: np.ndarray, reps_n: int, opt: BaseOptions, progress: plans.ProgressFn | None,
                  t0: float, reserve: float) -> tuple[PMedianResult, str]:
    """The p-median (or, capacitated, the CPMP with desks x workload per rep) on the demand points, with
    what is left of ``opt.time_limit_s`` since ``t0`` less ``reserve`` (``_solver_seconds``); the result
    and a note when the preparation took (nearly) all of the limit."""
    from planner.solvers import pmedian

    per_rep = float(demand_w.sum()) / reps_n
    locked_idx = tuple(ids.index(x) for x in opt.locked)
    excluded_idx = tuple(i for i in range(len(ids)) if i not in allowed)
    if opt.is_capacitated:
        desks = off[S.DESKS].fillna(0).to_numpy(float) if S.DESKS in off else np.full(len(off), reps_n, float)
        problem = pmedian.PMedianProblem(cost=cost_min, weight=demand_w, p=opt.k, locked=locked_idx,
                                         excluded=excluded_idx, capacity=desks * per_rep,
                                         demand=demand_w, min_load=np.full(len(off), opt.min_team * per_rep))
        limit, note = _solver_seconds(opt, time.perf_counter() - t0, reserve)
        return pmedian.solve_cpmp(problem, time_limit_s=limit, seed=opt.seed, progress=progress), note
    problem = pmedian.PMedianProblem(cost=cost_min, weight=demand_w, p=opt.k, locked=locked_idx,
                                     excluded=excluded_idx)
    limit, note = _solver_seconds(opt, time.perf_counter() - t0, reserve)
    return pmedian.solve_pmedian(problem, time_limit_s=limit, seed=opt.seed, progress=progress), note


def _account_times(accounts: pd.DataFrame, off: pd.DataFrame, acc_base: np.ndarray,
                   backend: travel.TravelBackend | None) -> np.ndarray:
    """Account-level minutes to the assigned base (exact, not the cell's)."""
    acc_xy = accounts[[S.LON, S.LAT]].to_numpy(float)
    t_acc = np.empty(len(accounts))
    for j in np.unique(acc_base):
        m = acc_base == j
        t_acc[m] = travel.travel_matrix(acc_xy[m], off.loc[[j], [S.LON, S.LAT]].to_numpy(float),
                                        backend=backend).time_s[:, 0] / 60.0
    return t_acc


def _bases_table(off: pd.DataFrame, ids: list[str], open_idx: np.ndarray, acc_base: np.ndarray,
                 t_acc: np.ndarray, wa: np.ndarray, served: np.ndarray, heads: np.ndarray,
                 opt: BaseOptions) -> pd.DataFrame:
    """One row per open base: where, accounts, weight and share served, reps, desks, mean time; heaviest first."""
    return pd.DataFrame({
        "id": [ids[j] for j in open_idx], "name": off.loc[open_idx, S.NAME].to_numpy(),
        S.LON: off.loc[open_idx, S.LON].to_numpy(float), S.LAT: off.loc[open_idx, S.LAT].to_numpy(float),
        "accounts": [int((acc_base == j).sum()) for j in open_idx], "weight": served,
        "share": served / max(served.sum(), 1e-9), "reps": heads,
        "desks": off.loc[open_idx, S.DESKS].to_numpy() if S.DESKS in off else np.nan,
        "mean_time_min": [float(np.average(t_acc[acc_base == j], weights=wa[acc_base == j]))
                          if wa[acc_base == j].sum() > 0 else float("nan") for j in open_idx],
        "status": off.loc[open_idx, S.OFFICE_STATUS].to_numpy() if S.OFFICE_STATUS in off else "",
        "locked": [ids[j] in set(opt.locked) for j in open_idx],
    }).sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)


def _post_reserve(t_today: float | None, t_matrix: float, n_accounts: int, n_pairs: int) -> float:
    """Seconds to keep for the account-level evaluation after the search (travel from each account to its
    base, KPIs): twice what today's KPIs took (the same kind of work), else three times the travel
    matrix's rate for one base per account."""
    if t_today is not None:
        return 0.05 + 2.0 * t_today
    return 0.05 + 3.0 * t_matrix * n_accounts / max(n_pairs, 1)


def solve_bases(accounts: pd.DataFrame, offices: pd.DataFrame, *, reps: int, options: BaseOptions | None = None,
                backend: travel.TravelBackend | None = None, progress: plans.ProgressFn | None = None) -> BasePlan:
    """Choose ``options.k`` bases among ``offices`` (current and candidate) for ``accounts``.

    Objective and constraints are those of ``planner.solvers.pmedian`` on the
    demand points (see the module docstring): minimise the weighted travel
    minutes with k open bases, locked ones open and excluded ones closed; when
    capacitated, each base serves at most ``desks x`` and, if open, at least
    ``min_team x`` the workload per rep. Office ids in ``locked``/``excluded``
    that are not among ``offices`` raise ``InputError``; settings that make no
    plan possible give ``status='invalid'``.

    Time limit: ``options.time_limit_s`` is for the whole call. The
    preparation (today's KPIs, demand points, the travel matrix) counts; time
    is kept for the account-level evaluation after the search (``_post_reserve``);
    the search (``solve_pmedian`` / ``solve_cpmp``, which keep to the limit
    they are given) gets the rest, at least 10 % of the limit (0.5 s at least).
    When the preparation leaves less than that, the report's message says how
    long it took (``"preparation took 7.2 s of the 5 s limit; ..."``).
    """
    opt = options or BaseOptions()
    prog = progress or plans.no_progress
    t0 = time.perf_counter()
    reps_n = opt.reps or reps
    off = (candidate_sites(accounts, offices) if opt.candidate_sites else offices).reset_index(drop=True)
    if opt.desks is not None:
        off = off.assign(**{S.DESKS: opt.desks})
    ids = off[S.ID].astype(str).tolist()
    unknown = sorted((set(opt.locked) | set(opt.excluded)) - set(ids))
    if unknown:
        raise InputError(f"locked/excluded offices not among the candidates: {unknown}")
    allowed = [i for i, x in enumerate(ids) if x not in set(opt.excluded)]
    allowed, problems, small_note = _too_small(off, ids, allowed, opt)
    problems += _setting_problems(accounts, opt, allowed)
    if problems and small_note:
        problems.append(small_note)
    w_acc = density.account_weights(accounts, opt.weight)
    current = off[off.get(S.OFFICE_STATUS, pd.Series("candidate", index=off.index)) == "current"]
    before: dict[str, float] = {}
    t_today = None
    if len(current) and len(accounts):
        t = time.perf_counter()
        before = density.reach(accounts, current[[S.LON, S.LAT]].to_numpy(float), day=opt.day, weight=w_acc,
                               backend=backend).kpis(w_acc)
        t_today = time.perf_counter() - t
    if problems:
        rep = SolveReport("invalid", seconds=time.perf_counter() - t0, solver="bases", violated=tuple(problems),
                          message="; ".join(problems))
        return BasePlan(pd.DataFrame(), pd.DataFrame(index=accounts.index), before, {}, rep, 0, 0.0, opt)

    prog(0.05, "building demand points")
    demand_xy, demand_w, point_of_account = _demand_points(accounts, w_acc, opt)
    prog(0.15, f"travel times: {len(demand_xy)} demand points x {len(off)} candidates")
    t = time.perf_counter()
    cost_min, unreachable = _costs(travel.travel_matrix(demand_xy, off[[S.LON, S.LAT]].to_numpy(float),
                                                        backend=backend), ids)
    t_matrix = time.perf_counter() - t
    reserve = _post_reserve(t_today, t_matrix, len(accounts), len(demand_xy) * len(off))
    prog(0.3, "solving")
    res, note = _solve_points(off, ids, allowed, cost_min.astype(float), demand_w, reps_n, opt, progress, t0,
                              reserve)
    note = "; ".join(n for n in (small_note, unreachable, note) if n)
    prog(0.9, "headcount and KPIs")
    plan = _plan(accounts, off, ids, res, w_acc, point_of_account, reps_n, opt, backend, before, t0, note)
    prog(1.0, "done")
    return plan


def _plan(accounts: pd.DataFrame, off: pd.DataFrame, ids: list[str], res: PMedianResult, w_acc: pd.Series,
          point_of_account: np.ndarray, reps_n: int, opt: BaseOptions, backend: travel.TravelBackend | None,
          before: dict[str, float], t0: float, note: str) -> BasePlan:
    """The plan from the search's result: each account's base and time, headcount, KPIs, the report."""
    n_points = len(res.assign) if res.assign is not None else 0
    message = "; ".join(m for m in (res.report.message, note) if m)
    if res.assign is None or len(res.open) == 0:
        rep = SolveReport(res.report.status, seconds=time.perf_counter() - t0, solver=res.report.solver,
                          violated=res.report.violated, message=message)
        return BasePlan(pd.DataFrame(), pd.DataFrame(index=accounts.index), before, {}, rep, n_points, 0.0, opt)

    acc_base = np.asarray(res.assign)[point_of_account]
    t_acc = _account_times(accounts, off, acc_base, backend)
    wa = w_acc.to_numpy(float)
    obj_accounts = float((wa * t_acc).sum())
    agg_err = abs(obj_accounts - res.objective) / max(obj_accounts, 1e-9) if len(accounts) > opt.aggregate_above \
        else 0.0
    open_idx = np.asarray(sorted(res.open))
    served = np.array([wa[acc_base == j].sum() for j in open_idx])
    desks_open = off.loc[open_idx, S.DESKS].fillna(0).to_numpy(float) if (opt.is_capacitated and S.DESKS in off) \
        else np.full(len(open_idx), reps_n, float)
    heads, notes = _headcount(served, reps_n, np.full(len(open_idx), opt.min_team), desks_open)
    visits = density.visits_per_day(t_acc, opt.day)
    bases = _bases_table(off, ids, open_idx, acc_base, t_acc, wa, served, heads, opt)
    assignment = pd.DataFrame({"base": [ids[j] for j in acc_base], "time_min": t_acc,
                               "visits_per_day": visits}, index=accounts.index)
    r = res.report
    rep = SolveReport("partial" if notes and r.status in ("optimal", "feasible") else r.status, objective=r.objective,
                      bound=r.bound, seconds=time.perf_counter() - t0, solver=r.solver,
                      violated=tuple(r.violated) + tuple(notes), message=message)
    return BasePlan(bases, assignment, before, density.time_kpis(t_acc, visits, wa), rep, n_points,
                    float(agg_err), opt)


def team_size(reps: pd.DataFrame | None, options: BaseOptions) -> int:
    """Reps to station: ``options.reps``, else the number of people in the reps table."""
    if options.reps is not None:
        return options.reps
    if reps is None or not len(reps):
        raise InputError("bases: no reps table to count the team: give the number of reps to station (--reps N)")
    return int(len(reps))


def compare_k(accounts: pd.DataFrame, offices: pd.DataFrame, *, reps: int, ks: tuple[int, ...] = (1, 2, 3, 4),
              options: BaseOptions | None = None) -> pd.DataFrame:
    """One row per k: the open bases with their reps, KPIs after, and the solver status.

    The first row is today (the current offices), for comparison."""
    base = options or BaseOptions()
    rows: list[dict[str, Any]] = []
    for k in ks:
        plan = solve_bases(accounts, offices, reps=reps, options=base.replace(k=k))
        if not rows and plan.kpis_before:
            cur = offices[offices[S.OFFICE_STATUS] == "current"]
            rows.append({"k": "today", "bases": "; ".join(cur[S.NAME]), **plan.kpis_before, "status": ""})
        rows.append({"k": k, "bases": "; ".join(f"{n} ({r})" for n, r in zip(plan.bases.get("name", []),
                                                                               plan.bases.get("reps", []))),
                     **plan.kpis_after, "status": plan.report.status})
    return pd.DataFrame(rows)
