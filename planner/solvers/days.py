"""The rep's day: eight visits around two appointments, planned for the whole team.

* :func:`solve` -- the team's day: :class:`DayProblem` (accounts, reps,
  offices, a date) and :class:`DayOptions` -> :class:`DayPlan` (stops per rep,
  every account accounted for, KPIs, ``SolveReport``).  One routing solve for
  the whole team (:func:`planner.solvers.routing.route`), so no pool prospect goes to
  two reps.
* :func:`replan` -- the rest of one rep's day after some visits are done and
  a new appointment came in (finished visits untouched).
* :func:`ride_along` -- a supervisor's day joining reps' visits (陪访).

The routing engine (model, search, objective) lives in :mod:`planner.solvers.routing`;
its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.geo.travel import TravelBackend
from planner.options import Options, clock_text, option
from planner.plans import ProgressFn, SolveReport, no_progress
from planner.solvers.routing import RouteResult, RoutingModel, SearchOptions, route

__all__ = ("RoutingModel", "SearchOptions", "RouteResult", "route",
           "DayProblem", "DayOptions", "DayPlan", "solve", "replan", "merge_rep_plan", "ride_along", "KINDS")

KINDS: tuple[str, ...] = S.VISIT_KINDS  # visit types = account stages


# ---------------------------------------------------------------------------
# the team's day
# ---------------------------------------------------------------------------
_CLASS_W: Mapping[str, float] = MappingProxyType(S.CLASS_WEIGHTS)
_STAGE_W: Mapping[str, float] = MappingProxyType({"new": 1.0, "follow-up": 1.3, "closing": 1.8})


@dataclass(frozen=True, eq=False)
class DayProblem:
    """The team's day: canonical ``accounts``, ``reps``, ``offices`` and the ``date``.

    Appointments are the accounts whose ``appt_start``/``appt_end`` fall on
    ``date`` (owner = the rep who booked them).  ``rep_ids`` restricts the plan
    to some reps (default: every rep who owns an account or has an appointment).
    ``territories`` optionally maps a rep id to the pool account ids the rep may
    take (in addition to those within the radius).  ``starts`` maps a rep id
    to ``(lon, lat, time)``: the rep starts from there at that time instead of
    leaving the base office (re-planning during the day); ``exclude`` maps
    account ids to a reason they are not to be planned (done, planned for
    another rep).
    """

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    date: pd.Timestamp
    rep_ids: tuple[str, ...] | None = None
    territories: Mapping[str, frozenset[str]] | None = None
    starts: Mapping[str, tuple[float, float, pd.Timestamp]] | None = None
    exclude: Mapping[str, str] | None = None
    travel: TravelBackend | None = None  # road times (planner.geo.backends); None: the built-in model

    def __post_init__(self) -> None:
        object.__setattr__(self, "date", pd.Timestamp(self.date).normalize())
        problems = []
        for tname, tab, cols in (("accounts", self.accounts, (S.ID, S.LON, S.LAT, S.OWNER, S.STAGE)),
                                 ("reps", self.reps, (S.ID, S.BASE_OFFICE)),
                                 ("offices", self.offices, (S.ID, S.LON, S.LAT))):
            miss = [c for c in cols if c not in tab.columns]
            if miss:
                problems.append(f"{tname}: missing column(s) {', '.join(miss)}")
        if problems:
            raise InputError(problems, what="day problem")
        office_ids = set(self.offices[S.ID])
        for i, r in self.reps.iterrows():
            if r[S.BASE_OFFICE] not in office_ids:
                problems.append(f"reps row {r.get(S.SOURCE_ROW, i)} ({r[S.ID]}): base_office "
                                f"{r[S.BASE_OFFICE]!r} is not an office id")
        if self.rep_ids is not None:
            unknown = sorted(set(self.rep_ids) - set(self.reps[S.ID]))
            if unknown:
                problems.append(f"rep_ids: unknown rep(s) {', '.join(unknown)}")
        if S.APPT_START in self.accounts.columns and S.APPT_END in self.accounts.columns:
            a = self.accounts
            bad = a[a[S.APPT_START].notna() & (a[S.APPT_END].isna() | (a[S.APPT_END] <= a[S.APPT_START]))]
            for i, r in bad.iterrows():
                problems.append(f"accounts row {r.get(S.SOURCE_ROW, i)} ({r[S.ID]}): appt_end must be after appt_start")
        if problems:
            raise InputError(problems, what="day problem")


@dataclass(frozen=True, kw_only=True)
class DayOptions(Options):
    """Settings of the day (times in minutes after midnight)."""

    what = "day settings"

    day_start_min: int = option(S.DAY_START_MIN, doc="leave the base after the morning meeting", label="Leave",
                                min=0, max=24 * 60, clock=True, flag="--day-start")
    day_end_min: int = option(S.DAY_END_MIN, doc="back at the base for the evening review", label="Back by",
                              min=0, max=24 * 60, clock=True, flag="--day-end")
    service_min: Mapping[str, int] = option(factory=lambda: {"new": 30, "follow-up": 40, "closing": 60},
                                            doc="minutes a visit takes, by kind", ui=False)
    mix: Mapping[str, int] = option(factory=lambda: dict(S.VISIT_MIX), doc="the day's target mix of visits by kind",
                                    ui=False)
    visits_per_day: int = option(S.VISITS_PER_DAY, doc="visits a day at most", label="Visits/day", min=1,
                                 ui_max=12)
    lunch_min: int = option(0, doc="lunch break", label="Lunch", unit="min", min=0, ui_max=90, step=15)
    lunch_window_min: tuple[int, int] = option((11 * 60 + 30, 13 * 60 + 30), doc="lunch starts within this window",
                                               cli=False, ui=False)
    pool_radius_m: float = option(20_000.0, doc="pool prospects within this distance of the appointments",
                                  label="Pool radius", unit="km", min=0.0, scale=1000.0, ui_max=80, step=2,
                                  flag="--radius-km")
    follow_up_due_days: int = option(14, doc="a follow-up is due this many days after the last visit", min=0,
                                     ui=False)
    closing_due_days: int = option(7, doc="a closing is due this many days after the last visit", min=0, ui=False)
    candidates_per_slot: int = option(3, doc="candidates considered per open visit slot", min=1, ui=False)
    appointment_slack_min: int = option(0, doc="minutes late an appointment may start", min=0, ui=False)
    # a visit of prize 1000 (a B-class follow-up, about) is worth this many minutes of driving
    prize_worth_travel_min: float = option(180.0, doc="minutes of driving a B-class follow-up is worth", above=0.0,
                                           cli=False, ui=False)
    time_limit_s: float = option(10.0, doc="search time", label="Seconds", unit="s", above=0.0, ui_max=60,
                                 flag="--time-limit")
    seed: int = option(0, doc="random seed (same seed and work limit, same plan)", min=0)
    solution_limit: int | None = option(None, doc="stop after this many improving solutions: the same plan on any "
                                                  "machine (default: search until the time limit)", min=1, ui=False)
    ride_time_limit_s: float = option(2.0, doc="search time for a supervisor's ride-along day", unit="s",
                                      above=0.0, ui=False, flag="--ride-time-limit")

    def problems(self) -> list[str]:
        p = []
        if not self.day_start_min < self.day_end_min:
            p.append(f"the day must start ({clock_text(self.day_start_min)}) before it ends "
                     f"({clock_text(self.day_end_min)})")
        for k in KINDS:
            if k not in self.service_min or self.service_min[k] < 0:
                p.append(f"service_min: needs a non-negative value for {k!r}")
            if k not in self.mix or self.mix[k] < 0:
                p.append(f"mix: needs a non-negative count for {k!r}")
        if not p and sum(self.mix.values()) > self.visits_per_day:
            p.append(f"mix: {sum(self.mix.values())} visits ({', '.join(f'{v} {k}' for k, v in self.mix.items())}) "
                     f"do not fit in {self.visits_per_day} visits a day: lower the mix or raise visits_per_day")
        if self.lunch_window_min[0] > self.lunch_window_min[1]:
            p.append("lunch_window_min: the window must be ordered (start, end)")
        if self.lunch_min > self.day_end_min - self.day_start_min:
            p.append(f"lunch_min: a {self.lunch_min}-minute lunch is longer than the day")
        return p


@dataclass(frozen=True, eq=False)
class DayPlan:
    """``stops``: one row per stop (rep, seq, account, kind, times, travel);
    ``left_out``: every account not planned, with the reason; ``kpis``: one row
    per rep (visits, mix, appointments, "3-5-8", travel share, return time);
    ``contested``: pool prospects offered to several reps, with the rep who got
    them (for the others: "taken by another rep")."""

    date: pd.Timestamp
    stops: pd.DataFrame
    left_out: pd.DataFrame
    kpis: pd.DataFrame
    report: SolveReport
    options: DayOptions
    contested: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        k = self.kpis
        return {"date": str(self.date.date()), "reps": int(len(k)),
                "visits": int(k["visits"].sum()) if len(k) else 0,
                "appointments_kept": int(k["appointments_kept"].sum()) if len(k) else 0,
                "appointments_booked": int(k["appointments_booked"].sum()) if len(k) else 0,
                "new_visits": int(k["new"].sum()) if len(k) else 0,
                "left_out_reasons": self.left_out["reason_code"].value_counts().to_dict(),
                "taken_by_another_rep": 0 if self.contested is None else int(len(self.contested)),
                "report": self.report.to_dict()}


def prize_of(accounts: pd.DataFrame, date: pd.Timestamp, options: DayOptions) -> np.ndarray:
    """Prize per account: class x potential x stage x overdue-ness (integers, ~100-1500)."""
    cls = accounts.get(S.CLASS, pd.Series("C", index=accounts.index)).map(_CLASS_W).fillna(1.0).to_numpy()
    pot = accounts.get(S.POTENTIAL_CNY, pd.Series(0.0, index=accounts.index)).fillna(0.0).to_numpy(float)
    stage = accounts[S.STAGE].map(_STAGE_W).fillna(1.0).to_numpy()
    due = accounts[S.STAGE].map({"follow-up": options.follow_up_due_days,
                                 "closing": options.closing_due_days}).to_numpy(float)
    last = accounts.get(S.LAST_VISIT, pd.Series(pd.NaT, index=accounts.index))
    days = (date - pd.to_datetime(last)).dt.days.to_numpy(float)
    over = np.where(np.isnan(due) | np.isnan(days), 0.0,
                    np.clip((days - np.nan_to_num(due)) / np.nan_to_num(due, nan=1), 0, 1))
    val = cls * (1.0 + np.log1p(pot / 10_000.0) / 2.0) * stage * (1.0 + over)
    return np.maximum(1, np.round(100 * val)).astype(np.int64)


def _hav_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    from planner.geo.travel import haversine_matrix_m
    return haversine_matrix_m(np.column_stack([lon1, lat1]), np.column_stack([lon2, lat2]))


def solve(problem: DayProblem, options: DayOptions | None = None, progress: ProgressFn = no_progress) -> DayPlan:
    """Plan the day of every rep in one routing solve.

    Objective: maximise the prize of the visits (class, potential, stage,
    overdue-ness), then minimise travel.  Constraints: leave the base office
    no earlier than ``day_start_min`` and be back by ``day_end_min``; visits
    start inside their windows (appointments: at the booked time); at most
    ``visits_per_day`` visits; the mix (``mix``) as soft caps per visit type
    (exceeded only by appointments); optional lunch break; a pool prospect is
    offered only to reps whose appointments (or base, without appointments)
    lie within ``pool_radius_m`` or whose territory holds it, and goes to one
    rep at most.  Appointments are mandatory: one that cannot be kept is
    dropped, given a reason in ``left_out`` and named in ``report.violated``.
    Every account is either a stop or a ``left_out`` row with a reason.
    """
    t0 = time.perf_counter()
    o = options if options is not None else DayOptions()
    acc = problem.accounts.reset_index(drop=True)
    plan_reps = _plan_reps(problem, acc)
    progress(0.0, f"selecting candidates for {len(plan_reps)} reps")
    if not plan_reps or not len(acc):  # nothing to route (a team of managers only, an empty export)
        empty = pd.DataFrame(columns=list(_STOPS_COLS))
        lo = _left_out_frame(acc, dict.fromkeys(range(len(acc)), ("no_rep", "no rep planned")))
        return DayPlan(problem.date, empty, lo, _kpis(empty, {}, [], o, {}),
                       SolveReport("feasible", seconds=time.perf_counter() - t0, solver="ortools-routing",
                                   message="no rep to plan" if len(acc) else "no account to plan"), o)
    prize = prize_of(acc, problem.date, o)
    pool = _select_candidates(problem, acc, plan_reps, prize, o)
    progress(0.1, f"{len(pool.cand_rows)} candidates; travel times")
    nodes = _nodes(problem, acc, plan_reps, prize, pool, o)
    remaining = _search_seconds(o.time_limit_s - (time.perf_counter() - t0), len(nodes.service), len(plan_reps))
    res = route(_routing_model(nodes, len(plan_reps), o),
                SearchOptions(time_limit_s=remaining, seed=o.seed, solution_limit=o.solution_limit,
                              strategies=("PARALLEL_CHEAPEST_INSERTION",),
                              prize_scale=max(1, round(o.prize_worth_travel_min * 60 / 1000))),
                progress=lambda f, m: progress(None if f is None else 0.15 + 0.8 * f, m))
    stops_df, served, counts = _stops(res, nodes, acc, plan_reps, problem.date)
    reason, violated = _reasons(acc, pool, nodes, served, counts, plan_reps, o)
    left = _left_out_frame(acc, reason)
    left["candidate_for"] = [", ".join(pool.cand_for.get(i, [])) for i in left.index]
    left = left.reset_index(drop=True)
    booked = {r: sum(1 for x in pool.appt_rows.values() if x == r) for r in plan_reps}
    kpis = _kpis(stops_df, counts, plan_reps, o, booked)
    status = "partial" if violated else (
        "feasible" if res.report.status in ("feasible", "partial") else res.report.status)
    report = SolveReport(status, objective=float(res.prize), seconds=time.perf_counter() - t0,
                         solver="ortools-routing", violated=tuple(violated),
                         message=f"{len(plan_reps)} reps, {len(pool.cand_rows)} candidates, {res.report.message}")
    progress(1.0, "done")
    return DayPlan(problem.date, stops_df, left, kpis, report, o, _contested(acc, pool, served))


# seconds per node x rep by which the engine's last phase (OR-Tools' local search from the insertion plan)
# ends past its limit: it finishes a neighbourhood pass first (100 reps x 1,905 nodes: 2.5 s past the limit)
_ENGINE_OVERRUN_S_PER_PAIR = 1.3e-5


def _search_seconds(left: float, n_nodes: int, n_reps: int) -> float:
    """The routing engine's limit: 75 % of the time ``left`` (the rest for writing the plan), less what its
    last phase overruns on a model of this size (at most 40 % of ``left``), 0.5 s at least."""
    overrun = min(0.4 * left, _ENGINE_OVERRUN_S_PER_PAIR * n_nodes * n_reps)
    return max(0.5, 0.75 * left - overrun)


_STOPS_COLS = ("rep", "seq", S.ID, S.NAME, "kind", "appointment", S.LON, S.LAT, "arrival", "start",
               "departure", "travel_min", "prize")


@dataclass(frozen=True, eq=False)
class _Pool:
    """What may be visited and by whom; keys are rows of the (re-indexed) accounts."""

    on_day: pd.Series  # bool: an appointment on the date
    is_due: pd.Series  # bool: never visited, or the last visit is at least the stage's due days ago
    days_since: pd.Series  # days since the last visit (NaN: never)
    cand_for: dict[int, list[str]]  # candidate row -> the reps it is offered to
    appt_rows: dict[int, str]  # appointment row -> the rep who booked it
    near_any: np.ndarray  # bool: a pool prospect within some rep's radius or territory
    excluded: dict[int, str]  # row -> why it is not to be planned

    @property
    def appt_set(self) -> set[int]:
        return set(self.appt_rows)

    @property
    def cand_rows(self) -> list[int]:
        """Every row to plan (candidates and appointments), in order: node ``n_depots + j`` is row ``cand_rows[j]``."""
        return sorted(set(self.cand_for) | self.appt_set)


def _plan_reps(problem: DayProblem, acc: pd.DataFrame) -> list[str]:
    if problem.rep_ids is not None:
        return list(problem.rep_ids)
    owners = set(acc[S.OWNER])
    return [r for r in problem.reps[S.ID] if r in owners]


@dataclass(frozen=True, eq=False)
class _Columns:
    """The account columns the candidate selection reads, as arrays (read once, not once per rep)."""

    lon: np.ndarray
    lat: np.ndarray
    owner: np.ndarray  # str
    in_pool: np.ndarray  # bool
    stage: np.ndarray  # index into KINDS, -1 for other stages
    ids: pd.Series

    @staticmethod
    def of(acc: pd.DataFrame) -> _Columns:
        stage = acc[S.STAGE].map({k: j for j, k in enumerate(KINDS)}).fillna(-1).to_numpy(np.int64)
        owner = acc[S.OWNER].to_numpy(object)
        return _Columns(acc[S.LON].to_numpy(float), acc[S.LAT].to_numpy(float), owner,
                        (acc[S.OWNER] == S.PUBLIC_POOL).to_numpy(), stage, acc[S.ID])


def _select_candidates(problem: DayProblem, acc: pd.DataFrame, plan_reps: Sequence[str], prize: np.ndarray,
                       o: DayOptions) -> _Pool:
    """Every rep's appointments of the day and the candidates offered to each rep (see :func:`_rep_candidates`)."""
    date = problem.date
    rep_row = problem.reps.set_index(S.ID)
    off = problem.offices.set_index(S.ID)
    has_appt = acc[S.APPT_START].notna() if S.APPT_START in acc.columns else pd.Series(False, index=acc.index)
    on_day = has_appt & (pd.to_datetime(acc[S.APPT_START]).dt.normalize() == date) if has_appt.any() else has_appt
    last = pd.to_datetime(acc.get(S.LAST_VISIT, pd.Series(pd.NaT, index=acc.index)))
    days_since = (date - last).dt.days
    due_days = acc[S.STAGE].map({"follow-up": o.follow_up_due_days, "closing": o.closing_due_days})
    is_due = days_since.isna() | (days_since >= due_days)
    cand_for: dict[int, list[str]] = {}
    appt_rows: dict[int, str] = {}
    near_any = np.zeros(len(acc), bool)
    cols = _Columns.of(acc)
    rows_of = pd.Series(np.arange(len(acc))).groupby(cols.owner).indices  # owner -> its rows
    on_day_a, is_due_a = on_day.to_numpy(), is_due.to_numpy()
    for r in plan_reps:
        base = off.loc[rep_row.loc[r, S.BASE_OFFICE]]
        terr = problem.territories.get(r, frozenset()) if problem.territories else frozenset()
        own = rows_of.get(r, np.zeros(0, dtype=np.int64))
        appts, chosen, near = _rep_candidates(cols, own, base, prize, on_day_a, is_due_a, terr, o)
        for i in appts:
            appt_rows[int(i)] = r
        near_any |= near
        for i in chosen:
            cand_for.setdefault(i, []).append(r)
    excluded = {}
    if problem.exclude:
        ex_ids = set(problem.exclude)
        for i in np.flatnonzero(acc[S.ID].isin(ex_ids).to_numpy()):
            excluded[int(i)] = problem.exclude[acc.at[i, S.ID]]
            cand_for.pop(int(i), None)
            appt_rows.pop(int(i), None)
    return _Pool(on_day, is_due, days_since, cand_for, appt_rows, near_any, excluded)


def _rep_candidates(cols: _Columns, own: np.ndarray, base: pd.Series, prize: np.ndarray, on_day: np.ndarray,
                    is_due: np.ndarray, terr: frozenset[str],
                    o: DayOptions) -> tuple[np.ndarray, list[int], np.ndarray]:
    """One rep's appointment rows of the day, the candidate rows offered to the rep and the pool
    prospects within the rep's reach.  Per visit type, the best ``mix x candidates_per_slot`` by
    prize over distance to the appointments (or the base, without any): own accounts (rows ``own``,
    ascending) of the stage that are due, and for new visits also the pool within ``pool_radius_m``
    or the territory."""
    appts = own[on_day[own]]
    anchors = np.column_stack([cols.lon[appts], cols.lat[appts]]) if len(appts) else \
        np.array([[base[S.LON], base[S.LAT]]])
    pool_rows = np.flatnonzero(cols.in_pool)
    in_terr = cols.ids.iloc[pool_rows].isin(terr).to_numpy() if terr else np.zeros(len(pool_rows), bool)
    d_pool = _hav_m(cols.lon[pool_rows], cols.lat[pool_rows], anchors[:, 0], anchors[:, 1]).min(axis=1)
    reach = (d_pool <= o.pool_radius_m) | in_terr
    near = np.zeros(len(cols.lon), bool)
    near[pool_rows[reach]] = True
    d_own = _hav_m(cols.lon[own], cols.lat[own], anchors[:, 0], anchors[:, 1]).min(axis=1)
    chosen: list[int] = []
    for j, k in enumerate(KINDS):
        cap = o.mix[k] * o.candidates_per_slot
        mine = (cols.stage[own] == j) & ~on_day[own] & (True if k == "new" else is_due[own])
        idx, dist = own[mine], d_own[mine]
        if k == "new":  # with the pool prospects in reach, in row order as one set
            extra = pool_rows[reach & ~on_day[pool_rows]]
            idx, dist = np.r_[idx, extra], np.r_[dist, d_pool[reach & ~on_day[pool_rows]]]
            order = np.argsort(idx, kind="stable")
            idx, dist = idx[order], dist[order]
        rank = prize[idx] / (1.0 + dist / 10_000.0)
        idx = idx[np.argsort(-rank, kind="stable")][:cap]
        chosen.extend(idx.tolist())
    return appts, chosen, near


@dataclass(frozen=True, eq=False)
class _Nodes:
    """The routing nodes of the day: the depots (bases, then re-planning starts), then one node
    per candidate row; times in seconds after midnight, whole minutes."""

    pts: np.ndarray  # (lon, lat) per node
    n_depots: int
    depot_ids: list[str]
    depot_names: list[str]
    cand_rows: list[int]  # node n_depots + j is account row cand_rows[j]
    travel: np.ndarray
    service: np.ndarray
    open: np.ndarray
    close: np.ndarray
    prize: np.ndarray
    kind: np.ndarray  # index into KINDS
    mandatory: np.ndarray
    allowed: tuple[tuple[int, ...] | None, ...]
    starts: tuple[int, ...]  # per rep
    ends: tuple[int, ...]
    vehicle_open: tuple[int, ...]
    day_end: int

    def node_of(self) -> dict[int, int]:
        return {i: self.n_depots + j for j, i in enumerate(self.cand_rows)}


def _nodes(problem: DayProblem, acc: pd.DataFrame, plan_reps: Sequence[str], prize: np.ndarray, pool: _Pool,
           o: DayOptions) -> _Nodes:
    """Depots and candidates as routing nodes: travel times, windows (appointments: the booked
    start, plus the slack), service times, prizes, visit types and the reps allowed."""
    from planner.geo.backends import seconds_matrix

    date = problem.date
    rep_row = problem.reps.set_index(S.ID)
    off = problem.offices.set_index(S.ID)
    starts_at = problem.starts or {}
    # nodes: bases first, then re-planning starts, then candidates
    base_ids = sorted({rep_row.loc[r, S.BASE_OFFICE] for r in plan_reps})
    base_node = {b: i for i, b in enumerate(base_ids)}
    custom = [r for r in plan_reps if r in starts_at]
    depot_pts = [[off.loc[b, S.LON], off.loc[b, S.LAT]] for b in base_ids] + \
        [[float(starts_at[r][0]), float(starts_at[r][1])] for r in custom]
    nb = len(depot_pts)
    cand_rows = pool.cand_rows
    lon = acc[S.LON].to_numpy(float)
    lat = acc[S.LAT].to_numpy(float)
    pts = np.array(depot_pts + [[lon[i], lat[i]] for i in cand_rows], float).reshape(-1, 2)
    # whole minutes (rounded up), so every time on the plan is a clock minute; above 1,000 nodes a block
    # of rows at a time, so that the travel model's temporaries stay small (1,905 nodes: 120 MB at once)
    if len(pts) <= 1000:
        tt = seconds_matrix(pts, backend=problem.travel)
    else:
        tt = np.empty((len(pts), len(pts)), np.int64)
        step = max(1, 250_000 // len(pts))
        for r0 in range(0, len(pts), step):
            tt[r0:r0 + step] = seconds_matrix(pts[r0:r0 + step], pts, backend=problem.travel)
    n = len(pts)
    day0 = int(o.day_start_min * 60)
    day1 = int(o.day_end_min * 60)
    service = np.zeros(n, np.int64)
    open_ = np.full(n, day0, np.int64)
    close = np.full(n, day1, np.int64)
    prize_n = np.zeros(n, np.int64)
    kind_n = np.full(n, -1, np.int64)
    mand = np.zeros(n, bool)
    allowed: list[tuple[int, ...] | None] = [None] * n
    vidx = {r: v for v, r in enumerate(plan_reps)}
    for j, i in enumerate(cand_rows):
        node = nb + j
        st = acc.at[i, S.STAGE]
        kind_n[node] = KINDS.index(st) if st in KINDS else 0
        prize_n[node] = prize[i]
        if i in pool.appt_rows:
            a0 = pd.Timestamp(acc.at[i, S.APPT_START])
            a1 = pd.Timestamp(acc.at[i, S.APPT_END])
            s0 = int((a0 - date).total_seconds())
            open_[node] = s0
            close[node] = s0 + o.appointment_slack_min * 60
            service[node] = int((a1 - a0).total_seconds())
            mand[node] = True
            allowed[node] = (vidx[pool.appt_rows[i]],)
        else:
            service[node] = int(o.service_min[st] * 60) if st in o.service_min else 30 * 60
            close[node] = day1 - service[node]
            allowed[node] = tuple(vidx[r] for r in pool.cand_for[i])
    ends = tuple(base_node[rep_row.loc[r, S.BASE_OFFICE]] for r in plan_reps)
    starts = tuple(len(base_ids) + custom.index(r) if r in custom else ends[v] for v, r in enumerate(plan_reps))
    vopen = tuple(min(day1, max(0, int((pd.Timestamp(starts_at[r][2]) - date).total_seconds())))
                  if r in custom else day0 for r in plan_reps)
    return _Nodes(pts, nb, list(base_ids) + ["current position"] * len(custom),
                  ["base office"] * len(base_ids) + ["now (after the finished visits)"] * len(custom), cand_rows,
                  tt, service, open_, close, prize_n, kind_n, mand, tuple(allowed), starts, ends, vopen, day1)


def _routing_model(nodes: _Nodes, n_reps: int, o: DayOptions) -> RoutingModel:
    """The routing instance: one vehicle per rep, the mix as soft caps, the visit limit, lunch."""
    lunch = None
    if o.lunch_min > 0:
        lunch = tuple((o.lunch_window_min[0] * 60, o.lunch_window_min[1] * 60, o.lunch_min * 60) for _ in range(n_reps))
    return RoutingModel(travel=nodes.travel, service=nodes.service, open=nodes.open, close=nodes.close,
                        prize=nodes.prize, starts=nodes.starts, ends=nodes.ends, vehicle_open=nodes.vehicle_open,
                        vehicle_close=(nodes.day_end,) * n_reps, mandatory=nodes.mandatory, kind=nodes.kind,
                        kind_caps=tuple(tuple(int(o.mix[k]) for k in KINDS) for _ in range(n_reps)),
                        max_visits=(int(o.visits_per_day),) * n_reps, allowed=nodes.allowed, lunch=lunch)


def _stops(res: RouteResult, nodes: _Nodes, acc: pd.DataFrame, plan_reps: Sequence[str],
           date: pd.Timestamp) -> tuple[pd.DataFrame, dict[int, str], dict[str, dict[str, int]]]:
    """The routes read back: one row per stop (bases included when the rep goes out), the rep
    serving each account row, and the visits per rep and type."""
    tt, pts, nb = nodes.travel, nodes.pts, nodes.n_depots
    rows = []
    served: dict[int, str] = {}
    counts: dict[str, dict[str, int]] = {}
    ids = acc[S.ID].to_numpy(object)
    names = acc[S.NAME].to_numpy(object) if S.NAME in acc.columns else np.full(len(acc), "", dtype=object)
    for v, stops in enumerate(res.routes):
        r = plan_reps[v]
        counts[r] = dict.fromkeys(KINDS, 0)
        prev_node, prev_dep = stops[0][0], stops[0][1]
        for seq, (node, start) in enumerate(stops):
            is_depot = seq == 0 or seq == len(stops) - 1
            trav = 0 if seq == 0 else int(tt[prev_node, node])
            arrival = prev_dep + trav if seq else start
            if is_depot:
                if len(stops) == 2:
                    continue
                rows.append((r, seq, nodes.depot_ids[node], nodes.depot_names[node] if seq == 0 else "evening review",
                             "base", False, float(pts[node, 0]), float(pts[node, 1]), arrival, max(start, arrival),
                             max(start, arrival), trav / 60.0, 0))
                prev_node, prev_dep = node, max(start, arrival)
                continue
            i = nodes.cand_rows[node - nb]
            served[i] = r
            k = KINDS[nodes.kind[node]]
            counts[r][k] += 1
            start = max(start, arrival)
            dep = start + int(nodes.service[node])
            rows.append((r, seq, ids[i], names[i], k,
                         bool(nodes.mandatory[node]), float(pts[node, 0]), float(pts[node, 1]), arrival, start, dep,
                         trav / 60.0, int(nodes.prize[node])))
            prev_node, prev_dep = node, dep
    stops_df = pd.DataFrame(rows, columns=list(_STOPS_COLS))
    for c in ("arrival", "start", "departure"):
        stops_df[c] = date + pd.to_timedelta(stops_df[c].astype("int64"), unit="s")
    return stops_df, served, counts


def _reasons(acc: pd.DataFrame, pool: _Pool, nodes: _Nodes, served: Mapping[int, str],
             counts: Mapping[str, Mapping[str, int]], plan_reps: Sequence[str],
             o: DayOptions) -> tuple[dict[int, tuple[str, str]], list[str]]:
    """Why each account not served is left out (``(code, sentence)`` per row), and the
    appointments that could not be kept (``report.violated``)."""
    vidx = {r: v for v, r in enumerate(plan_reps)}
    node_of = nodes.node_of()
    reason: dict[int, tuple[str, str]] = {}
    violated = []
    owner, stage, ids = acc[S.OWNER].to_numpy(object), acc[S.STAGE].to_numpy(object), acc[S.ID].to_numpy(object)
    on_day, is_due, days_since = pool.on_day.to_numpy(), pool.is_due.to_numpy(), pool.days_since.to_numpy()
    for i in range(len(acc)):
        if i in served:
            continue
        own = owner[i]
        if i in pool.excluded:
            reason[i] = ("excluded", pool.excluded[i])
        elif i in pool.appt_rows:
            why = _missed_appointment(nodes, node_of[i], vidx[pool.appt_rows[i]])
            reason[i] = ("appointment", why)
            violated.append(f"{pool.appt_rows[i]}: {ids[i]} {why}")
        elif i in pool.cand_for:
            reason[i] = _unplanned_candidate(nodes, node_of[i], pool.cand_for[i], vidx, counts, o)
        elif own == S.PUBLIC_POOL:
            if pool.near_any[i]:
                reason[i] = ("not_selected", "pool prospect near a rep but lower priority than the candidates offered")
            else:
                reason[i] = ("radius", f"pool prospect outside {o.pool_radius_m / 1000:.0f} km of every rep's "
                                       f"appointments and outside the territories")
        elif own not in vidx:
            reason[i] = ("no_rep", f"owner {own} is not in the plan")
        elif on_day[i]:
            reason[i] = ("appointment", "appointment on this date is not in the plan")
        elif stage[i] in ("follow-up", "closing") and not is_due[i]:
            reason[i] = ("not_due", f"not due: last visit {int(days_since[i])} day(s) ago")
        else:
            reason[i] = ("not_selected", "lower priority than the candidates offered to its rep")
    return reason, violated


def _missed_appointment(nodes: _Nodes, node: int, v: int) -> str:
    """Why the appointment at ``node`` of rep ``v`` cannot be kept."""
    tt, close, day1 = nodes.travel, nodes.close, nodes.day_end
    earliest = nodes.vehicle_open[v] + int(tt[nodes.starts[v], node])
    back = int(close[node]) + int(nodes.service[node]) + int(tt[node, nodes.ends[v]])
    if earliest > close[node]:
        return (f"appointment cannot be kept: earliest arrival {_hm(earliest)} is after the booked start "
                f"{_hm(int(close[node]))}")
    if back > day1:
        return (f"appointment cannot be kept: back at the office at {_hm(back)}, after the end of the day "
                f"{_hm(day1)}")
    return "appointment cannot be kept: it conflicts with another appointment"


def _unplanned_candidate(nodes: _Nodes, node: int, takers: Sequence[str], vidx: Mapping[str, int],
                         counts: Mapping[str, Mapping[str, int]], o: DayOptions) -> tuple[str, str]:
    """Why the candidate at ``node`` (offered to ``takers``) was not planned: out of every taker's
    day, the mix or the visit limit reached, or no time left for its prize."""
    tt, vopen, starts, ends = nodes.travel, nodes.vehicle_open, nodes.starts, nodes.ends
    open_, close, service, day1 = nodes.open, nodes.close, nodes.service, nodes.day_end
    k = KINDS[nodes.kind[node]]
    fits = [r for r in takers
            if vopen[vidx[r]] + tt[starts[vidx[r]], node] <= close[node]
            and max(vopen[vidx[r]] + tt[starts[vidx[r]], node], open_[node]) + service[node]
            + tt[node, ends[vidx[r]]] <= day1]
    if not fits:
        return ("window", f"cannot fit in the day: {tt[starts[vidx[takers[0]]], node] / 60:.0f} min "
                          f"from the base each way with its {service[node] / 60:.0f} min visit")
    if all(counts.get(r, {}).get(k, 0) >= o.mix[k] for r in fits):
        return ("mix", f"mix: {o.mix[k]} {k} visit(s) already planned for {', '.join(fits)}")
    if all(sum(counts.get(r, {}).values()) >= o.visits_per_day for r in fits):
        return ("mix", f"visit limit: {o.visits_per_day} visits already planned for {', '.join(fits)}")
    return ("time", f"time: no room left in the day of {', '.join(fits)} (lower prize than the visits planned)")


def _contested(acc: pd.DataFrame, pool: _Pool, served: Mapping[int, str]) -> pd.DataFrame:
    """Pool prospects a rep wanted but another rep got (served, so not left out): the competition."""
    taken = []
    for i, rs in pool.cand_for.items():
        if i in served and len(rs) > 1:
            taken.append((i, served[i], [r for r in rs if r != served[i]]))
    if not taken:
        return pd.DataFrame(columns=[S.ID, S.OWNER, "reason_code", "reason", "candidate_for"])
    return pd.DataFrame([{S.ID: acc.at[i, S.ID], S.OWNER: acc.at[i, S.OWNER], "reason_code": "taken",
                          "reason": f"taken by another rep ({by})", "candidate_for": ", ".join(others)}
                         for i, by, others in taken])


def _hm(sec: int) -> str:
    sec = int(sec)
    return f"{sec // 3600:02d}:{(sec % 3600) // 60:02d}"


def _left_out_frame(acc: pd.DataFrame, reason: Mapping[int, tuple[str, str]]) -> pd.DataFrame:
    idx = sorted(reason)
    out = pd.DataFrame({S.ID: acc.loc[idx, S.ID].to_numpy(), S.OWNER: acc.loc[idx, S.OWNER].to_numpy(),
                        "reason_code": [reason[i][0] for i in idx], "reason": [reason[i][1] for i in idx]},
                       index=idx)
    return out


def _kpis(stops: pd.DataFrame, counts: Mapping[str, Mapping[str, int]], plan_reps: Sequence[str], o: DayOptions,
          booked: Mapping[str, int]) -> pd.DataFrame:
    """One row per rep: visits by type, appointments booked and kept, "3-5-8", travel share, times, prize."""
    rows = []
    by_rep = dict(tuple(stops.groupby("rep", sort=False))) if len(stops) else {}
    empty = stops.iloc[:0]
    for r in plan_reps:
        s = by_rep.get(r, empty)
        v = s[s["kind"] != "base"]
        c = counts.get(r, dict.fromkeys(KINDS, 0))
        if len(s):
            leave, back = s["departure"].iloc[0], s["arrival"].iloc[-1]
            span_min = (back - leave).total_seconds() / 60.0
        else:
            leave = back = pd.NaT
            span_min = 0.0
        travel = float(s["travel_min"].sum()) if len(s) else 0.0
        kept = int(v["appointment"].sum())
        rows.append({"rep": r, "visits": int(len(v)), **{k: int(c[k]) for k in KINDS},
                     "appointments_booked": int(booked.get(r, 0)), "appointments_kept": kept,
                     "standard_3_5_8": f"{kept}-{int(c['new'])}-{int(len(v))}",
                     "mix_met": all(c[k] >= o.mix[k] for k in KINDS),
                     "travel_min": round(travel, 1),
                     "travel_share": round(travel / span_min, 3) if span_min > 0 else 0.0,
                     "leave": leave, "return": back, "prize": int(v["prize"].sum()) if len(v) else 0})
    return pd.DataFrame(rows)


def merge_rep_plan(team: DayPlan, rep: str, new: DayPlan) -> DayPlan:
    """The team plan with ``rep``'s day replaced by ``new`` (from :func:`replan`).

    Other reps' stops and KPIs are kept as they were; an account leaves the
    left-out table when ``rep`` now visits it, and an account ``rep`` dropped
    comes back with the re-plan's reason, so every account is still either a
    stop or left out, once.
    """
    order = {r: k for k, r in enumerate(team.kpis["rep"])}
    stops = pd.concat([team.stops[team.stops["rep"] != rep], new.stops], ignore_index=True)
    stops = stops.sort_values(["rep", "seq"], key=lambda c: c.map(order) if c.name == "rep" else c,
                              kind="stable").reset_index(drop=True)
    if "ride_along" in stops.columns:
        stops["ride_along"] = stops["ride_along"].fillna("")
    kpis = pd.concat([team.kpis[team.kpis["rep"] != rep], new.kpis], ignore_index=True)
    kpis = kpis.sort_values("rep", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    now_ids = set(new.stops.loc[new.stops["kind"] != "base", S.ID])
    was = set(team.stops.loc[(team.stops["rep"] == rep) & (team.stops["kind"] != "base"), S.ID])
    left = pd.concat([team.left_out[~team.left_out[S.ID].isin(now_ids)],
                      new.left_out[new.left_out[S.ID].isin(was - now_ids)]], ignore_index=True)
    return DayPlan(team.date, stops, left, kpis, new.report, team.options, team.contested)


def replan(plan: DayPlan, problem: DayProblem, rep: str, *, done: Sequence[str], now: pd.Timestamp,
           new_appointments: pd.DataFrame | None = None, options: DayOptions | None = None,
           progress: ProgressFn = no_progress) -> DayPlan:
    """Re-plan the rest of one rep's day without touching the finished visits.

    ``done`` are account ids of ``rep``'s visits already made (stops of
    ``plan``, kept as they are, in their order); the rep is at the last of them
    (or at the base) at ``now``.  ``new_appointments`` (columns ``id``,
    ``appt_start``, ``appt_end``) adds or moves appointments (the account is
    given to ``rep`` for the day).  Accounts planned for other reps stay theirs.
    Returns a plan of ``rep`` alone: the finished stops, then the new ones.
    """
    o = options or plan.options
    mine = plan.stops[(plan.stops["rep"] == rep) & (plan.stops["kind"] != "base")].sort_values("seq")
    unknown = sorted(set(done) - set(mine[S.ID]))
    if unknown:
        raise InputError(f"done: {', '.join(unknown)} are not stops of {rep} in the plan")
    finished = mine[mine[S.ID].isin(list(done))]
    now = pd.Timestamp(now)
    acc = problem.accounts.copy()
    if new_appointments is not None and len(new_appointments):
        miss = sorted(set(new_appointments[S.ID]) - set(acc[S.ID]))
        if miss:
            raise InputError(f"new_appointments: unknown account id(s) {', '.join(miss)}")
        na = new_appointments.set_index(S.ID)
        hit = acc[S.ID].isin(na.index)
        acc.loc[hit, S.APPT_START] = pd.to_datetime(acc.loc[hit, S.ID].map(na[S.APPT_START]))
        acc.loc[hit, S.APPT_END] = pd.to_datetime(acc.loc[hit, S.ID].map(na[S.APPT_END]))
        acc.loc[hit, S.OWNER] = rep
    exclude = dict.fromkeys(finished[S.ID], f"visited earlier today by {rep}")
    others = plan.stops[(plan.stops["rep"] != rep) & (plan.stops["kind"] != "base")]
    exclude.update({a: f"planned for {r}" for a, r in zip(others[S.ID], others["rep"])})
    if len(finished):
        last = finished.iloc[-1]
        start = (float(last[S.LON]), float(last[S.LAT]), max(now, last["departure"]))
    else:
        b = problem.offices.set_index(S.ID).loc[problem.reps.set_index(S.ID).loc[rep, S.BASE_OFFICE]]
        start = (float(b[S.LON]), float(b[S.LAT]), now)
    sub = DayProblem(acc, problem.reps, problem.offices, problem.date, rep_ids=(rep,),
                     territories=problem.territories, starts={rep: start}, exclude=exclude, travel=problem.travel)
    # the finished visits count towards the day's mix and visit limit
    left_mix = {k: max(0, o.mix[k] - int((finished["kind"] == k).sum())) for k in KINDS}
    o2 = dataclasses.replace(o, mix=left_mix, visits_per_day=max(1, o.visits_per_day - len(finished)))
    new = solve(sub, o2, progress)
    rest = new.stops.copy()
    head = plan.stops[(plan.stops["rep"] == rep) & (plan.stops["kind"] == "base")].sort_values("seq").head(1)
    fixed = pd.concat([head, finished], ignore_index=True)
    if len(rest):
        rest = rest.iloc[1:]  # drop the 'current position' start row
    stops = pd.concat([fixed, rest], ignore_index=True)
    stops["seq"] = range(len(stops))
    counts = {rep: {k: int((stops["kind"] == k).sum()) for k in KINDS}}
    booked = int(new.kpis["appointments_booked"].sum()) + int(finished["appointment"].sum())
    kpis = _kpis(stops, counts, [rep], o, {rep: booked})
    return DayPlan(plan.date, stops, new.left_out, kpis, new.report, o)


def _ride_order(plan: DayPlan, rr: pd.DataFrame, supervisor: str, reps: Sequence[str] | None) -> list[str]:
    """The reps to join, newest first (default: the supervisor's reports, else every planned rep)."""
    if reps is None:
        mine = [r for r in plan.kpis["rep"] if S.MANAGER in rr.columns and rr.loc[r, S.MANAGER] == supervisor]
        reps = mine or [r for r in plan.kpis["rep"] if r != supervisor]
    chosen = [r for r in reps if r != supervisor]
    if S.START_DATE not in rr.columns:
        return chosen
    return sorted(chosen, key=lambda r: pd.Timestamp(rr.loc[r, S.START_DATE]) if pd.notna(rr.loc[r, S.START_DATE])
                  else pd.Timestamp.min, reverse=True)


def _ride_model(plan: DayPlan, vis: pd.DataFrame, base: pd.Series, order: list[str],
                supervisor: str, travel: TravelBackend | None) -> tuple[RoutingModel, np.ndarray]:
    """One vehicle from the supervisor's base: the reps' visits to join (optional, prized by the rep's
    newness) and the supervisor's own visits (mandatory, at their planned times)."""
    from planner.geo.backends import seconds_matrix

    o = plan.options
    rank = {r: k for k, r in enumerate(order)}
    own = (vis["rep"] == supervisor).to_numpy()
    pts = np.vstack([[base[S.LON], base[S.LAT]], vis[[S.LON, S.LAT]].to_numpy(float)])
    tt = seconds_matrix(pts, backend=travel)
    start_s = ((vis["start"] - plan.date).dt.total_seconds()).astype(np.int64).to_numpy()
    dep_s = ((vis["departure"] - plan.date).dt.total_seconds()).astype(np.int64).to_numpy()
    prize = np.zeros(len(pts), np.int64)
    prize[1:] = [0 if r == supervisor else 100 * (len(order) - rank[r]) + (20 if k == "closing" or a else 0)
                 for r, k, a in zip(vis["rep"], vis["kind"], vis["appointment"])]
    model = RoutingModel(travel=tt, service=np.concatenate([[0], dep_s - start_s]),
                         open=np.concatenate([[0], start_s]), close=np.concatenate([[0], start_s]), prize=prize,
                         starts=(0,), ends=(0,), vehicle_open=(o.day_start_min * 60,),
                         vehicle_close=(o.day_end_min * 60,), mandatory=np.concatenate([[False], own]))
    return model, tt


def ride_along(plan: DayPlan, problem: DayProblem, supervisor: str, *, reps: Sequence[str] | None = None,
               time_limit_s: float | None = None, seed: int | None = None) -> tuple[DayPlan, pd.DataFrame]:
    """Plan a supervisor's day (陪访) joining visits of ``reps`` (default: the
    supervisor's reports, else every planned rep), newest reps first.

    Objective: the most joined visits, weighted by the rep's newness (the
    newest rep's visits weigh most; closings and appointments a little more),
    then the least travel.  The supervisor leaves his base office no earlier
    than the day's start, arrives at each joined visit by its planned start,
    stays for the whole visit and is back by the day's end (same engine,
    :func:`route`).  When the supervisor has visits of his own in the plan,
    they stay where they are and he joins only visits that fit around them:
    nobody is in two places.  ``time_limit_s`` and ``seed`` default to the
    plan's ``ride_time_limit_s`` and ``seed``.  Returns the plan with a
    ``ride_along`` column on the stops (the supervisor's id where he joins)
    and the supervisor's itinerary.
    """
    if supervisor not in set(problem.reps[S.ID]):
        raise InputError(f"supervisor: unknown rep id {supervisor!r}")
    rr = problem.reps.set_index(S.ID)
    order = _ride_order(plan, rr, supervisor, reps)
    st = plan.stops
    vis = st[st["rep"].isin([*order, supervisor]) & (st["kind"] != "base")].reset_index()
    cols = ["supervisor", "rep", S.ID, S.NAME, "start", "departure", "travel_min"]
    o = plan.options
    if not (vis["rep"] != supervisor).any():
        out = plan.stops.assign(ride_along="")
        return DayPlan(plan.date, out, plan.left_out, plan.kpis, plan.report, plan.options, plan.contested), \
            pd.DataFrame(columns=cols)
    base = problem.offices.set_index(S.ID).loc[rr.loc[supervisor, S.BASE_OFFICE]]
    model, tt = _ride_model(plan, vis, base, order, supervisor, problem.travel)
    res = route(model, SearchOptions(time_limit_s=o.ride_time_limit_s if time_limit_s is None else time_limit_s,
                                     seed=o.seed if seed is None else seed, solution_limit=o.solution_limit))
    rows, joined = [], {}
    prev = 0
    for node, _start in res.routes[0][1:-1]:
        v = vis.iloc[node - 1]
        if v["rep"] != supervisor:
            joined[int(v["index"])] = supervisor
            rows.append((supervisor, v["rep"], v[S.ID], v[S.NAME], v["start"], v["departure"],
                         tt[prev, node] / 60.0))
        prev = node
    out = plan.stops.copy()
    out["ride_along"] = [joined.get(i, "") for i in out.index]
    return (DayPlan(plan.date, out, plan.left_out, plan.kpis, plan.report, plan.options, plan.contested),
            pd.DataFrame(rows, columns=cols))
