"""The team's week in one plan: every rep's days out of the base and back, visits owed by cycle, the pool split.

See :func:`solve` for the objective and the constraints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.geo.travel import TravelBackend
from planner.plans import ProgressFn, SolveReport, no_progress
from planner.solvers.days import KINDS, DayPlan, prize_of
from planner.solvers.routing import RouteResult, RoutingModel, SearchOptions, route
from planner.solvers.week.demand import WeekOptions, WeekProblem, due_visits, plan_rides, ride_steps, split_pool

__all__ = ("WeekPlan", "solve")

STOP_COLS = ("rep", "date", "seq", S.ID, S.NAME, "kind", "klass", "appointment", S.LON, S.LAT, "arrival", "start",
             "departure", "travel_min", "prize", "due_date", "ride_along", "ride_step")


@dataclass(frozen=True, eq=False)
class WeekPlan:
    """The week: ``stops`` (one row per stop, bases included, per rep and date, ``ride_along`` = the
    supervisor who joins, on the rep's base rows too: they leave and come back together),
    ``rep_days`` (one row per rep and day: ``role`` selling / riding / no accounts, ``with`` = on a
    riding row the rep joined, on a selling row the supervisor who joins; visits, mix, 3-5-8, travel,
    and for a day short of the standard the reason in numbers), ``rides`` (supervisor, rep, date),
    ``due`` (every visit the week owes and when it was planned, or why not), ``left_out`` (every
    account with no visit, with the reason), ``kpis`` (the week's numbers) and the ``report``."""

    dates: tuple[pd.Timestamp, ...]
    stops: pd.DataFrame
    rep_days: pd.DataFrame
    rides: pd.DataFrame
    due: pd.DataFrame
    left_out: pd.DataFrame
    kpis: dict[str, Any]
    report: SolveReport
    options: WeekOptions
    bases: dict[str, str] = field(default_factory=dict)  # rep -> base office id

    def day(self, date: pd.Timestamp | str) -> DayPlan:
        """One day of the week as a :class:`DayPlan` (for the day's map, itinerary and calendar)."""
        d = pd.Timestamp(date).normalize()
        if d not in self.dates:
            raise KeyError(f"{d.date()} is not a day of this week ({self.dates[0].date()} to {self.dates[-1].date()})")
        st = self.stops[self.stops["date"] == d].drop(columns=["date"]).reset_index(drop=True)
        rd = self.rep_days[(self.rep_days["date"] == d) & (self.rep_days["role"] == "selling")]
        kp = rd.drop(columns=["date"]).reset_index(drop=True)
        return DayPlan(d, st, self.left_out, kp, self.report, self.options.day_options())

    def summary(self) -> dict[str, Any]:
        return {"dates": [str(d.date()) for d in self.dates], **self.kpis, "report": self.report.to_dict()}


# ---------------------------------------------------------------------------
# one rep's week
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _RepWeek:
    """One rep's routing instance: node 0 the base, then the candidates (rows of ``cand``)."""

    rep: str
    base_pt: tuple[float, float]
    days: tuple[int, ...]  # vehicle v works day index days[v]
    cand: pd.DataFrame  # row (account row), kind, klass, appointment, first_day, last_day, due_key, prize, ...
    model: RoutingModel


def _caps(supply: Mapping[str, int], n_days: int, o: WeekOptions) -> tuple[int, ...]:
    """Per-day visit caps by kind.  Follow-ups and closings are capped at their share of the mix (2 and
    2), so first visits keep theirs wherever the week owes more; first visits fill the rest of the day
    (their cap is ``visits_per_day``), so a day whose follow-ups and closings are out of reach still
    fills to the standard from the pool.  When the week has fewer first-visit candidates than their
    share, the missing slots go to follow-ups and closings."""
    caps = {k: int(o.mix[k]) for k in KINDS}
    caps["new"] = int(o.visits_per_day)
    extra = math.ceil(max(0, o.mix["new"] * n_days - supply.get("new", 0)) / max(n_days, 1))
    extra += max(0, o.visits_per_day - sum(o.mix.values()))
    for k in ("follow-up", "closing"):
        spare = supply.get(k, 0) - o.mix[k] * n_days
        if extra > 0 and spare > 0:
            add = min(extra, math.ceil(spare / max(n_days, 1)))
            caps[k] += add
            extra -= add
    return tuple(caps[k] for k in KINDS)


def _rep_week(rep: str, base: tuple[float, float], cand: pd.DataFrame, days: Sequence[int],
              o: WeekOptions, travel: TravelBackend | None = None) -> _RepWeek:
    """The routing instance of one rep's week: a vehicle per working day out of the base and back;
    a candidate may be served only on the days of its window (appointments: their day and time)."""
    from planner.geo.backends import seconds_matrix

    pts = np.vstack([[base[0], base[1]], cand[[S.LON, S.LAT]].to_numpy(float).reshape(-1, 2)])
    tt = seconds_matrix(pts, backend=travel)
    day0, day1 = int(o.day_start_min * 60), int(o.day_end_min * 60)
    n = len(pts)
    service = np.zeros(n, np.int64)
    open_ = np.full(n, day0, np.int64)
    close = np.full(n, day1, np.int64)
    kind = np.full(n, -1, np.int64)
    mand = np.zeros(n, bool)
    allowed: list[tuple[int, ...] | None] = [None] * n
    appt = cand["appointment"].to_numpy(bool)
    service[1:] = np.where(appt, cand["appt_service_s"].to_numpy(np.int64),
                           cand["kind"].map(lambda k: int(o.service_min.get(k, 30)) * 60).to_numpy(np.int64))
    open_[1:] = np.where(appt, cand["appt_start_s"].to_numpy(np.int64), day0)
    close[1:] = np.where(appt, open_[1:] + o.appointment_slack_min * 60, day1 - service[1:])
    kind[1:] = cand["kind"].map(lambda k: KINDS.index(k) if k in KINDS else 0).to_numpy(np.int64)
    mand[1:] = appt
    for j, (lo, hi) in enumerate(zip(cand["first_day"], cand["last_day"])):
        allowed[j + 1] = tuple(v for v, d in enumerate(days) if lo <= d <= hi)
    supply = cand["kind"].value_counts().to_dict()
    caps = _caps(supply, len(days), o)
    prize = np.concatenate([[0], cand["prize"].to_numpy(np.int64)])
    nv = len(days)
    lunch = None
    if o.lunch_min > 0:
        lunch = tuple((o.lunch_window_min[0] * 60, o.lunch_window_min[1] * 60, o.lunch_min * 60) for _ in range(nv))
    model = RoutingModel(travel=tt, service=service, open=open_, close=close, prize=prize, starts=(0,) * nv,
                         ends=(0,) * nv, vehicle_open=(day0,) * nv, vehicle_close=(day1,) * nv, mandatory=mand,
                         kind=kind, kind_caps=(caps,) * nv, max_visits=(int(o.visits_per_day),) * nv,
                         allowed=tuple(allowed), lunch=lunch)
    return _RepWeek(rep, (float(base[0]), float(base[1])), tuple(days), cand.reset_index(drop=True), model)


def _read(rw: _RepWeek, res: RouteResult, acc: pd.DataFrame, dates: Sequence[pd.Timestamp],
          base_id: str) -> tuple[list[tuple[Any, ...]], dict[int, int]]:
    """Stops of one rep's week (bases included on days he goes out) and ``candidate -> day index``."""
    m, cand = rw.model, rw.cand
    rows: list[tuple[Any, ...]] = []
    served: dict[int, int] = {}
    names = acc[S.NAME].tolist() if S.NAME in acc.columns else [""] * len(acc)
    recs = cand.to_dict("records")
    for v, stops in enumerate(res.routes):
        if len(stops) <= 2:
            continue
        d = rw.days[v]
        date = dates[d]
        prev, dep = stops[0][0], int(stops[0][1])
        bx, by = rw.base_pt
        rows.append((rw.rep, date, 0, base_id, "base office", "base", "", False, bx, by, dep, dep, dep, 0.0, 0,
                     pd.NaT, "", ""))
        for seq, (node, start) in enumerate(stops[1:], start=1):
            trav = int(m.travel[prev, node])
            arrival = dep + trav
            if seq == len(stops) - 1:
                rows.append((rw.rep, date, seq, base_id, "evening review", "base", "", False, bx, by, arrival, arrival,
                             arrival, trav / 60.0, 0, pd.NaT, "", ""))
                break
            c = recs[node - 1]
            i = int(c["row"])
            begin = max(int(start), arrival)
            dep = begin + int(m.service[node])
            served[node - 1] = d
            rows.append((rw.rep, date, seq, c[S.ID], names[i], c["kind"], c["klass"], bool(c["appointment"]),
                         float(c[S.LON]), float(c[S.LAT]), arrival, begin, dep, trav / 60.0, int(c["prize"]),
                         c["due_date"], "", ""))
            prev = node
    return rows, served


def _stops_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    st = pd.DataFrame(rows, columns=list(STOP_COLS))
    for c in ("arrival", "start", "departure"):
        st[c] = st["date"] + pd.to_timedelta(st[c].astype("int64"), unit="s")
    st["appointment"] = st["appointment"].astype(bool)
    return st


# ---------------------------------------------------------------------------
# the team's week
# ---------------------------------------------------------------------------
def solve(problem: WeekProblem, options: WeekOptions | None = None, progress: ProgressFn = no_progress) -> WeekPlan:
    """Plan every rep's week: for each working day an ordered route out of the base after the morning
    meeting and back for the evening review.

    Objective (per rep, lexicographic through the routing engine's scaling): keep every booked
    appointment, then collect the most prize (class x potential x stage x overdue-ness, as in the day
    planner), then the least travel.  Constraints: visits start inside the day and inside their
    windows (appointments at the booked time, on their day); at most ``visits_per_day`` visits a day
    and the mix (4 new / 2 follow-ups / 2 closings) as per-day caps, a kind's missing slots handed to
    the others when the week has too few candidates of it (:func:`_caps`); a follow-up or closing is
    visited only on the days of its cycle window and never twice inside its class's minimum gap
    (:func:`planner.solvers.week.demand.due_visits`); a pool prospect goes to one rep at most and is
    visited once (:func:`planner.solvers.week.demand.split_pool`); a supervisor riding along
    (:func:`planner.solvers.week.demand.plan_rides`) has no route of his own that day, so nobody is
    ever in two places.

    Decomposition: once the pool is split, no visit can be served by two reps, so the team's week
    is exactly the union of independent per-rep weeks (one vehicle per working day each); they are
    solved one after another, each with an equal share of what is left of ``time_limit_s``.
    Reported: visits against an upper bound (per rep, the smaller of ``visits_per_day`` x his
    working days and his candidates), and every visit owed that is not planned, with the reason.
    """
    t0 = time.perf_counter()
    o = options if options is not None else WeekOptions()
    acc = _canonical(problem.accounts)
    dates = problem.dates
    plan_reps = problem.plan_reps()
    rep_tab = problem.reps.drop_duplicates(S.ID).set_index(S.ID)
    off = problem.offices.drop_duplicates(S.ID).set_index(S.ID)
    base_of = {r: str(rep_tab.loc[r, S.BASE_OFFICE]) for r in plan_reps}
    progress(0.0, f"visits due for {len(plan_reps)} reps over {len(dates)} days")
    due, not_due = due_visits(acc, dates, plan_reps, o)
    busy = {r: set(due.loc[(due["rep"] == r) & due["appointment"], "first_day"].astype(int)) for r in plan_reps}
    rides = plan_rides(problem.reps, plan_reps, dates, busy, o)
    riding = {(s, d) for s, d in zip(rides["supervisor"], rides["day"])}
    active = {r: [d for d in range(len(dates)) if (r, d) not in riding] for r in plan_reps}
    cands, pool_reason = _candidates(acc, due, off, base_of, active, o, dates)
    results: dict[str, tuple[_RepWeek, dict[int, int]]] = {}
    rows: list[tuple[Any, ...]] = []
    todo = [r for r in plan_reps if active[r] and len(cands[r])]
    for k, r in enumerate(todo):
        progress(0.1 + 0.85 * k / max(len(todo), 1), f"rep {r} ({k + 1}/{len(todo)})")
        b = off.loc[base_of[r]]
        # what is left of the time, shared equally, less a reserve for reading the plans back
        left = o.time_limit_s * 0.95 - (time.perf_counter() - t0) - 0.04 * (len(todo) - k) - 1e-4 * len(acc)
        rw, res = _solve_rep(r, (float(b[S.LON]), float(b[S.LAT])), cands[r], active[r], o,
                             max(0.05, left / (len(todo) - k)), problem.travel)
        got, served = _read(rw, res, acc, dates, base_of[r])
        rows.extend(got)
        results[r] = (rw, served)
    stops = _with_rides(_stops_frame(rows), rides, dates)
    progress(0.97, "KPIs")
    return _assemble(problem, o, acc, dates, plan_reps, due, not_due, pool_reason, results, stops, rides, active,
                     base_of, time.perf_counter() - t0)


def _search(o: WeekOptions, seconds: float) -> SearchOptions:
    return SearchOptions(time_limit_s=seconds, seed=o.seed, solution_limit=o.solution_limit,
                         strategies=("PARALLEL_CHEAPEST_INSERTION",), prize_scale=_prize_scale(o))


def _solve_rep(rep: str, base: tuple[float, float], cand: pd.DataFrame, days: Sequence[int], o: WeekOptions,
               seconds: float, travel: TravelBackend | None = None) -> tuple[_RepWeek, RouteResult]:
    """One rep's week in two passes: first the visits owed (appointments and cycles) alone, a third of
    the time; then everything, with the owed visits the first pass placed weighing ten times any other
    visit (on any day of their window; appointments still come first), so first visits fill the days
    around them and do not push an owed visit out."""
    owed = (cand["source"] == "cycle").to_numpy()
    cand = cand.copy()
    if owed.any() and (~owed).any():
        first = _rep_week(rep, base, cand[owed | cand["appointment"].to_numpy(bool)], days, o, travel)
        res1 = route(first.model, _search(o, seconds / 3))
        placed = {int(first.cand["key"].iat[node - 1]) for r in res1.routes for node, _ in r[1:-1]}
        must = cand["key"].isin(placed).to_numpy() & owed
        cand.loc[must, "prize"] += 10 * int(cand["prize"].max())  # after the appointments, before the rest
        seconds -= seconds / 3
    rw = _rep_week(rep, base, cand, days, o, travel)
    return rw, route(rw.model, _search(o, seconds))


def _prize_scale(o: WeekOptions) -> int:
    """Seconds of travel a unit of prize is worth (a prize of 1000 = ``prize_worth_travel_min``)."""
    return max(1, round(o.prize_worth_travel_min * 60 / 1000))


def _canonical(accounts: pd.DataFrame) -> pd.DataFrame:
    acc = accounts.reset_index(drop=True).copy()
    defaults = {S.CLASS: "C", S.STAGE: "new", S.LAST_VISIT: pd.NaT, S.POTENTIAL_CNY: 0.0}
    for c, v in defaults.items():
        if c not in acc.columns:
            acc[c] = v
    acc[S.CLASS] = acc[S.CLASS].fillna("C")
    return acc


def _candidates(acc: pd.DataFrame, due: pd.DataFrame, off: pd.DataFrame, base_of: Mapping[str, str],
                active: Mapping[str, list[int]], o: WeekOptions,
                dates: Sequence[pd.Timestamp]) -> tuple[dict[str, pd.DataFrame], dict[int, str]]:
    """Each rep's candidates (his visits owed on his working days, and his share of the pool) with
    their prizes, and why every pool prospect not shared out is left out."""
    prize = prize_of(acc, dates[0], o.day_options())
    lon, lat = acc[S.LON].to_numpy(float), acc[S.LAT].to_numpy(float)
    anchors: dict[str, np.ndarray] = {}
    slots: dict[str, int] = {}
    for r, days in active.items():
        mine = due[due["rep"] == r]
        if not len(mine):  # a manager with no accounts of his own gets no pool prospects either
            continue
        b = off.loc[base_of[r]]
        pts = np.column_stack([lon[mine["row"].to_numpy(int)], lat[mine["row"].to_numpy(int)]])
        anchors[r] = np.vstack([pts, [[float(b[S.LON]), float(b[S.LAT])]]]) if days else np.empty((0, 2))
        supply = mine["kind"].value_counts()
        short = sum(max(0, o.mix[k] * len(days) - int(supply.get(k, 0))) for k in KINDS if k != "new")
        slots[r] = max(0, o.mix["new"] * len(days) + short - int(supply.get("new", 0)))
    taken, pool_reason = split_pool(acc, anchors, slots, o)
    pool = pd.DataFrame({"row": list(taken), "rep": list(taken.values())}, columns=["row", "rep"])
    pool[S.ID] = acc[S.ID].to_numpy()[pool["row"].to_numpy(int)]
    pool = pool.assign(kind="new", klass=acc[S.CLASS].to_numpy()[pool["row"].to_numpy(int)], occurrence=0,
                       first_day=0, last_day=len(dates) - 1, due_date=dates[0], appointment=False, appt_start_s=0,
                       appt_service_s=0)
    allc = pd.concat([due, pool.assign(source="pool")], ignore_index=True)
    allc["appointment"] = allc["appointment"].astype(bool)
    scale = _prize_scale(o)
    allc["prize"] = prize[allc["row"].to_numpy(int)] + int(round(o.visit_worth_travel_min * 60 / scale))
    # a visit owed by its cycle outweighs any first visit, and weighs its class once more (A first)
    owed = (allc["source"] == "cycle").to_numpy()
    allc.loc[owed, "prize"] += int(round(o.cycle_worth_travel_min * 60 / scale)) + (
        allc.loc[owed, "klass"].map(S.CLASS_WEIGHTS).fillna(1.0) * 300).astype(np.int64)
    allc[S.LON] = lon[allc["row"].to_numpy(int)]
    allc[S.LAT] = lat[allc["row"].to_numpy(int)]
    allc["key"] = np.arange(len(allc))
    out = {}
    for r, days in active.items():
        c = allc[allc["rep"] == r]
        ok = [any(lo <= d <= hi for d in days) for lo, hi in zip(c["first_day"], c["last_day"])]
        out[r] = c[np.asarray(ok, bool)] if len(c) else c
    return out, pool_reason


def _with_rides(stops: pd.DataFrame, rides: pd.DataFrame, dates: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Mark the visits a supervisor joins (``ride_along``) and the teaching step of each (``ride_step``)."""
    st = stops.copy()
    for (sup, rep), grp in rides.groupby(["supervisor", "rep"], sort=True):
        days = {dates[int(d)] for d in grp["day"]}
        hit = (st["rep"] == rep) & st["date"].isin(days) & (st["kind"] != "base")
        idx = st[hit].sort_values(["date", "seq"]).index
        st.loc[idx, "ride_along"] = str(sup)
        st.loc[idx, "ride_step"] = ride_steps(len(idx))
        base_rows = (st["rep"] == rep) & st["date"].isin(days) & (st["kind"] == "base")
        st.loc[base_rows, "ride_along"] = str(sup)
    return st


def _hm(sec: float) -> str:
    sec = int(sec)
    return f"{sec // 3600:02d}:{(sec % 3600) // 60:02d}"


def _dur(minutes: float) -> str:
    m = int(round(minutes))
    return f"{m // 60} h {m % 60:02d}" if m >= 60 else f"{m} min"


def _why_unserved(rw: _RepWeek, node: int, served_days: Mapping[int, dict[str, int]],
                  o: WeekOptions) -> tuple[str, str]:
    """Why candidate ``node`` of a rep's week is not planned: its appointment cannot be kept, it fits
    in none of its days, its days are full of its kind or of visits, or it weighs less than what is."""
    m = rw.model
    go, back = int(m.travel[0, node]), int(m.travel[node, 0])
    earliest = m.vehicle_open[0] + go
    if bool(rw.model.mandatory is not None and rw.model.mandatory[node]):  # only appointments are mandatory
        if earliest > m.close[node]:
            return "appointment", (f"appointment cannot be kept: earliest arrival {_hm(earliest)} is after the "
                                   f"booked start {_hm(m.close[node])}")
        if int(m.close[node]) + int(m.service[node]) + back > m.vehicle_close[0]:
            return "appointment", "appointment cannot be kept: the rep would be back after the end of the day"
        return "appointment", "appointment cannot be kept: it conflicts with another appointment"
    if max(earliest, int(m.open[node])) + int(m.service[node]) + back > m.vehicle_close[0]:
        return "window", f"cannot fit in a day: {go / 60:.0f} min from the base each way with its visit"
    given = m.allowed[node] if m.allowed is not None else None
    allowed: Sequence[int] = given if given is not None else range(len(rw.days))
    k = KINDS[int(m.kind[node])] if m.kind is not None else "new"
    caps = m.kind_caps[0] if m.kind_caps is not None else (o.visits_per_day,) * len(KINDS)
    counts = [served_days.get(v, {}) for v in allowed]
    if all(c.get(k, 0) >= caps[KINDS.index(k)] for c in counts):
        return "mix", f"every day of its window already holds its {caps[KINDS.index(k)]} {k} visit(s)"
    if all(sum(c.values()) >= o.visits_per_day for c in counts):
        return "full", f"every day of its window already holds {o.visits_per_day} visits"
    return "time", "no room left in the days of its window (lower priority than the visits planned)"


def _reasons(results: Mapping[str, tuple[_RepWeek, dict[int, int]]], o: WeekOptions) -> dict[int, tuple[str, str]]:
    """``candidate key -> (code, sentence)`` for every candidate not planned."""
    out: dict[int, tuple[str, str]] = {}
    for rw, served in results.values():
        per_day: dict[int, dict[str, int]] = {}
        kinds = [str(k) for k in rw.cand["kind"].tolist()]
        for j, d in served.items():
            v = rw.days.index(d)
            k = kinds[j]
            per_day.setdefault(v, {}).setdefault(k, 0)
            per_day[v][k] += 1
        for j, key in enumerate(rw.cand["key"].tolist()):
            if j not in served:
                out[int(key)] = _why_unserved(rw, j + 1, per_day, o)
    return out


def _due_table(due: pd.DataFrame, results: Mapping[str, tuple[_RepWeek, dict[int, int]]],
               reasons: Mapping[int, tuple[str, str]], dates: Sequence[pd.Timestamp]) -> pd.DataFrame:
    """Every visit owed with the day it is planned, or the reason it is not."""
    visited: dict[int, pd.Timestamp] = {}
    for rw, served in results.values():
        for j, d in served.items():
            visited[int(rw.cand["key"].iat[j])] = dates[d]
    t = due.copy()
    t["key"] = np.arange(len(t))
    t["planned_on"] = [visited.get(k, pd.NaT) for k in t["key"]]
    t["reason"] = ["" if k in visited else reasons.get(k, ("no_day", "the rep has no working day in its window"))[1]
                   for k in t["key"]]
    t["window"] = [f"{dates[int(a)].date()} .. {dates[int(b)].date()}" for a, b in zip(t["first_day"], t["last_day"])]
    return t.drop(columns=["row", "key", "appt_start_s", "appt_service_s", "first_day", "last_day"])


def _rep_day_row(r: str, d: int, date: pd.Timestamp, st: pd.DataFrame, rw: _RepWeek | None,
                 served: Mapping[int, int], o: WeekOptions, booked: int) -> dict[str, Any]:
    """One selling rep-day: visits by kind, 3-5-8, travel, times and, short of the standard, why."""
    v = st[st["kind"] != "base"]
    c = {k: int((v["kind"] == k).sum()) for k in KINDS}
    travel = float(st["travel_min"].sum()) if len(st) else 0.0
    leave = st["departure"].iloc[0] if len(st) else pd.NaT
    back = st["arrival"].iloc[-1] if len(st) else pd.NaT
    span = (back - leave).total_seconds() / 60.0 if len(st) else 0.0
    first = v["arrival"].iloc[0] if len(v) else pd.NaT
    kept = int(v["appointment"].sum())
    row: dict[str, Any] = {
        "rep": r, "date": date, "role": "selling", "with": "", "visits": int(len(v)), **c,
        "appointments_booked": booked, "appointments_kept": kept, "standard_3_5_8": f"{kept}-{c['new']}-{len(v)}",
        "mix_met": all(c[k] >= o.mix[k] for k in KINDS), "at_standard": len(v) >= o.visits_per_day,
        "travel_min": round(travel, 1), "travel_share": round(travel / span, 3) if span > 0 else 0.0,
        "leave": leave, "first_visit": first, "return": back, "prize": int(v["prize"].sum()) if len(v) else 0,
        "shortfall_code": "", "shortfall": ""}
    if len(v) < o.visits_per_day:
        row["shortfall_code"], row["shortfall"] = _shortfall(rw, d, served, st, v, travel, o)
    return row


def _shortfall(rw: _RepWeek | None, d: int, served: Mapping[int, int], st: pd.DataFrame, v: pd.DataFrame,
               travel: float, o: WeekOptions) -> tuple[str, str]:
    """Why a rep-day holds fewer visits than the standard, in numbers."""
    waiting = 0
    if rw is not None and d in rw.days:
        vd = rw.days.index(d)
        allowed = rw.model.allowed or ()
        appt = rw.cand["appointment"].tolist()
        waiting = sum(1 for j in range(len(rw.cand)) if j not in served and not bool(appt[j])
                      and (allowed[j + 1] is None or vd in (allowed[j + 1] or ())))
    if waiting == 0:
        return "supply", (f"{len(v)} of {o.visits_per_day}: nothing else to visit that day (every due account "
                          f"and pool prospect within {o.pool_radius_m / 1000:.0f} km of the rep's week is planned)")
    if not len(v):
        return "time", f"0 of {o.visits_per_day}: no visit fits in the day ({waiting} candidates too far)"
    first = v["arrival"].iloc[0]
    lead = float(v["travel_min"].iloc[0])
    return "time", (f"{len(v)} of {o.visits_per_day}: first visit reachable at {first:%H:%M} ({_dur(lead)} from the "
                    f"base), {_dur(travel)} of driving, back at {st['arrival'].iloc[-1]:%H:%M}; {waiting} "
                    f"candidates did not fit")


_IDLE: dict[str, Any] = {"with": "", "visits": 0, **dict.fromkeys(KINDS, 0), "appointments_booked": 0,
                         "appointments_kept": 0, "standard_3_5_8": "", "mix_met": False, "at_standard": False,
                         "travel_min": 0.0, "travel_share": 0.0, "leave": pd.NaT, "first_visit": pd.NaT,
                         "return": pd.NaT, "prize": 0, "shortfall_code": "", "shortfall": ""}


def _rep_days(plan_reps: Sequence[str], dates: Sequence[pd.Timestamp], stops: pd.DataFrame, rides: pd.DataFrame,
              results: Mapping[str, tuple[_RepWeek, dict[int, int]]], due: pd.DataFrame,
              o: WeekOptions) -> pd.DataFrame:
    riding = {(s, int(d)): rep for s, rep, d in zip(rides["supervisor"], rides["rep"], rides["day"])}
    joined = {(rep, int(d)): s for s, rep, d in zip(rides["supervisor"], rides["rep"], rides["day"])}
    appts = due[due["appointment"].astype(bool)].groupby(["rep", "first_day"]).size().to_dict()
    rows = []
    by_day = {key: g.sort_values("seq") for key, g in stops.groupby(["rep", "date"], sort=False)}
    empty = stops.iloc[0:0]
    for r in plan_reps:
        rw, served = results.get(r, (None, {}))
        for d, date in enumerate(dates):
            if (r, d) in riding:
                rows.append({**_IDLE, "rep": r, "date": date, "role": "riding", "with": riding[(r, d)]})
                continue
            if rw is None and not (due["rep"] == r).any():
                rows.append({**_IDLE, "rep": r, "date": date, "role": "no accounts"})
                continue
            st = by_day.get((r, date), empty)
            row = _rep_day_row(r, d, date, st, rw, served, o, int(appts.get((r, d), 0)))
            row["with"] = joined.get((r, d), "")
            rows.append(row)
    return pd.DataFrame(rows)


def _left_out(acc: pd.DataFrame, stops: pd.DataFrame, plan_reps: Sequence[str], not_due: Mapping[int, str],
              pool_reason: Mapping[int, str], cand_reason: Mapping[int, tuple[str, str]],
              cand_row: Mapping[int, tuple[int, str]]) -> pd.DataFrame:
    """Every account with no visit in the week, once, with the reason (``candidate_for``: the rep whose
    week it was offered to, for the day map).  In order: a candidate's reason, not due, the pool's
    split, the owner not planned, no working day."""
    visited = set(stops.loc[stops["kind"] != "base", S.ID])
    n = len(acc)
    code = pd.Series("no_day", index=range(n), dtype=object)
    text = pd.Series("the rep has no working day this week to visit it", index=range(n), dtype=object)
    own = acc[S.OWNER].reset_index(drop=True)
    no_rep = (own != S.PUBLIC_POOL) & ~own.isin(set(plan_reps))
    code[no_rep] = "no_rep"
    text[no_rep] = "owner " + own[no_rep].astype(str) + " is not in the plan"
    for rows, c in ((pool_reason, "pool"), (not_due, "not_due")):
        idx = list(rows)
        code[idx] = c
        text[idx] = [rows[i] for i in idx]
    offered = pd.Series("", index=range(n), dtype=object)
    for key in sorted(cand_reason, reverse=True):  # the first candidate of an account wins
        row, rep = cand_row[key]
        code[row], text[row] = cand_reason[key]
        offered[row] = rep
    keep = ~acc[S.ID].reset_index(drop=True).isin(visited)
    out = pd.DataFrame({S.ID: acc[S.ID].to_numpy(), S.OWNER: own.to_numpy(), "stage": acc[S.STAGE].to_numpy(),
                        "klass": acc[S.CLASS].to_numpy(), "reason_code": code.to_numpy(), "reason": text.to_numpy(),
                        "candidate_for": offered.to_numpy()})
    return out[keep.to_numpy()].reset_index(drop=True)


def _pct(num: float, den: float) -> float:
    return round(100.0 * num / den, 1) if den else 100.0


def _kpis(rep_days: pd.DataFrame, due_t: pd.DataFrame, rides: pd.DataFrame, stops: pd.DataFrame,
          o: WeekOptions) -> dict[str, Any]:
    """The week's numbers: visits and the standard per rep-day, cycles kept by class, travel, ride-alongs."""
    sell = rep_days[rep_days["role"] == "selling"] if len(rep_days) else rep_days
    n = len(sell)
    owed = due_t[due_t["kind"].isin(["follow-up", "closing"])]
    kept = owed["planned_on"].notna()
    by_class = {str(c): _pct(int(kept[owed["klass"] == c].sum()), int((owed["klass"] == c).sum()))
                for c in sorted(owed["klass"].dropna().unique())}
    visits = int(sell["visits"].sum()) if n else 0
    return {
        "reps": int(rep_days["rep"].nunique()) if len(rep_days) else 0, "rep_days": n, "visits": visits,
        "visits_per_rep_day": round(visits / n, 2) if n else 0.0,
        "rep_days_at_standard": int(sell["at_standard"].sum()) if n else 0,
        "rep_days_at_standard_pct": _pct(int(sell["at_standard"].sum()), n) if n else 0.0,
        "mix_met_pct": _pct(int(sell["mix_met"].sum()), n) if n else 0.0,
        "new_visits": int(sell["new"].sum()) if n else 0,
        "appointments_booked": int(sell["appointments_booked"].sum()) if n else 0,
        "appointments_kept": int(sell["appointments_kept"].sum()) if n else 0,
        "cycle_due": int(len(owed)),
        "cycle_slots": int(sum(o.mix[k] for k in ("follow-up", "closing")) * n),
        "cycle_kept": int(kept.sum()), "cycle_kept_pct": _pct(int(kept.sum()), len(owed)),
        "cycle_kept_pct_by_class": by_class,
        "travel_share": round(float(sell["travel_share"].mean()), 3) if n else 0.0,
        "shortfalls": sell["shortfall_code"].replace("", np.nan).dropna().value_counts().to_dict() if n else {},
        "ride_days": int(len(rides)),
        "ride_days_per_new_rep": rides.groupby("rep").size().astype(int).to_dict() if len(rides) else {},
        "joined_visits": int((stops["ride_along"] != "").sum() - (stops["kind"] == "base")[stops["ride_along"] != ""]
                             .sum()) if len(stops) else 0,
    }


def _assemble(problem: WeekProblem, o: WeekOptions, acc: pd.DataFrame, dates: Sequence[pd.Timestamp],
              plan_reps: Sequence[str], due: pd.DataFrame, not_due: Mapping[int, str],
              pool_reason: Mapping[int, str], results: Mapping[str, tuple[_RepWeek, dict[int, int]]],
              stops: pd.DataFrame, rides: pd.DataFrame, active: Mapping[str, list[int]], base_of: dict[str, str],
              seconds: float) -> WeekPlan:
    reasons = _reasons(results, o)
    cand_row = {int(k): (int(r), rw.rep) for rw, _ in results.values() for k, r in zip(rw.cand["key"], rw.cand["row"])}
    due_t = _due_table(due, results, reasons, dates)
    rep_days = _rep_days(plan_reps, dates, stops, rides, results, due, o)
    left = _left_out(acc, stops, plan_reps, not_due, pool_reason, reasons, cand_row)
    kpis = _kpis(rep_days, due_t, rides, stops, o)
    rides_t = rides.assign(date=[dates[int(d)] for d in rides["day"]]).drop(columns=["day"])
    violated = [f"{r}: {i} {why}" for r, i, why, a in zip(due_t["rep"], due_t[S.ID], due_t["reason"],
                                                          due_t["appointment"]) if a and why]
    bound = sum(min(o.visits_per_day * len(active[r]), len(rw.cand)) for r, (rw, _) in results.items())
    report = SolveReport("partial" if violated else "feasible", objective=float(kpis["visits"]),
                         bound=float(bound), seconds=seconds,
                         solver="ortools-routing (a week per rep)", violated=tuple(violated),
                         message=f"{len(results)} reps' weeks, {sum(len(rw.cand) for rw, _ in results.values())} "
                                 f"candidates; objective and bound in visits")
    return WeekPlan(tuple(dates), stops, rep_days, rides_t, due_t, left, kpis, report, o, dict(base_of))
