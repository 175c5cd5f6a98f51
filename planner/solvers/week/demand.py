"""What the week has to hold: the problem, the settings, the visits due, the pool's split, the ride-alongs.

* :class:`WeekProblem` -- accounts, reps, offices, the first day and the number of working days.
* :class:`WeekOptions` -- the day's settings (:class:`planner.solvers.days.DayOptions`) plus visit
  cycles by class, minimum gaps and the ride-along rules.
* :func:`due_visits` -- one row per visit the week owes: booked appointments on their day and time,
  due follow-ups and closings (class cycle, minimum gap), the reps' own new prospects.
* :func:`split_pool` -- every public-pool prospect to at most one rep: the rep whose week passes
  nearest (his due accounts, appointments and base), within the pool radius, up to the rep's
  first-visit slots times ``candidates_per_slot``.
* :func:`plan_rides` -- which supervisor rides along with which new rep on which day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.geo.travel import TravelBackend
from planner.options import option
from planner.solvers.days import DayOptions, DayProblem

__all__ = ("WeekProblem", "WeekOptions", "working_days", "due_visits", "split_pool", "plan_rides", "RIDE_STEPS")

# "I do, you watch; I explain, you listen; you do, I watch; you explain, I listen" (DOMAIN.md section 2)
RIDE_STEPS: tuple[str, ...] = ("我做你看 I do, you watch", "我说你听 I explain, you listen",
                               "你做我看 you do, I watch", "你说我听 you explain, I listen")


def working_days(start: pd.Timestamp, n: int) -> tuple[pd.Timestamp, ...]:
    """``n`` working days (Monday to Friday) from ``start`` on (``start`` itself when it is one)."""
    out: list[pd.Timestamp] = []
    d = pd.Timestamp(start).normalize()
    while len(out) < n:
        if d.day_of_week < 5:
            out.append(d)
        d += pd.Timedelta(days=1)
    return tuple(out)


@dataclass(frozen=True, eq=False)
class WeekProblem:
    """The team's week: canonical ``accounts``, ``reps``, ``offices``, the first day ``start`` and
    ``days`` working days (Monday to Friday).  ``rep_ids`` restricts the plan to some reps
    (default: every rep who owns an account or supervises a rep who does)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    start: pd.Timestamp
    days: int = 5
    rep_ids: tuple[str, ...] | None = None
    travel: TravelBackend | None = None  # road times (planner.geo.backends); None: the built-in model

    def __post_init__(self) -> None:
        try:
            start = pd.Timestamp(self.start).normalize()
        except (TypeError, ValueError):
            raise InputError(f"start: {self.start!r} is not a date", what="week problem") from None
        object.__setattr__(self, "start", start)
        if not 1 <= int(self.days) <= 30:
            raise InputError(f"days: {self.days} working days; plan 1 to 30", what="week problem")
        DayProblem(self.accounts, self.reps, self.offices, start, rep_ids=self.rep_ids)  # the same checks

    @property
    def dates(self) -> tuple[pd.Timestamp, ...]:
        return working_days(self.start, int(self.days))

    def plan_reps(self) -> list[str]:
        """The reps planned: ``rep_ids``, or the owners of accounts and their supervisors, in file order."""
        if self.rep_ids is not None:
            return list(self.rep_ids)
        owners = set(self.accounts[S.OWNER])
        managers = set(self.reps.loc[self.reps[S.ID].isin(owners), S.MANAGER].dropna()) \
            if S.MANAGER in self.reps.columns else set()
        return [r for r in self.reps[S.ID] if r in owners or r in managers]


@dataclass(frozen=True, kw_only=True)
class WeekOptions(DayOptions):
    """Settings of the week: the day's settings plus visit cycles and ride-alongs."""

    what = "week settings"

    # the day's settings that mean something else in a week, or nothing
    pool_radius_m: float = option(20_000.0, doc="pool prospects within this distance of the rep's week (his visits "
                                                "owed, appointments and base)", label="Pool radius", unit="km",
                                  min=0.0, scale=1000.0, ui_max=80, step=2, flag="--radius-km")
    follow_up_due_days: int = option(14, doc="not used by the week: follow-ups follow cycle_days", min=0, ui=False,
                                     cli=False)
    ride_time_limit_s: float = option(2.0, doc="not used by the week: ride-alongs are planned in the one solve",
                                      above=0.0, ui=False, cli=False)
    time_limit_s: float = option(30.0, doc="search time for the whole team's week", label="Seconds", unit="s",
                                 above=0.0, ui_max=120, flag="--time-limit")
    cycle_days: Mapping[str, int] = option(factory=lambda: {"A": 7, "B": 14, "C": 28},
                                           doc="an account of each class is due this many days after its last "
                                               "visit (A every week, B every two weeks, C every month)", ui=False)
    min_gap_days: Mapping[str, int] = option(factory=lambda: {"A": 4, "B": 7, "C": 14},
                                             doc="never two visits of an account of each class closer than this",
                                             ui=False)
    visit_worth_travel_min: float = option(240.0, doc="minutes of driving any visit is worth on top of its prize, "
                                                      "so that a day fills to the standard where travel allows",
                                           min=0.0, ui=False)
    cycle_worth_travel_min: float = option(180.0, doc="minutes of driving a visit owed by its cycle is worth "
                                                      "more than a first visit", min=0.0, ui=False)
    rides: bool = option(True, doc="supervisors ride along with their newest reps (陪访)", label="Ride-alongs")
    new_rep_days: int = option(180, doc="a rep is new (ridden with) for this many days after starting, or while "
                                        "not marked experienced", min=0, ui=False)
    ride_days_per_rep: int = option(2, doc="days a supervisor rides along with each new rep in the week", min=0,
                                    ui_max=5, label="Ride days/new rep")
    ride_days_per_supervisor: int = option(3, doc="days of the week a supervisor rides along at most", min=0,
                                           ui_max=5, ui=False)

    def problems(self) -> list[str]:
        p = super().problems()
        for name in ("cycle_days", "min_gap_days"):
            table = getattr(self, name)
            for c in S.CLASS_WEIGHTS:
                if c not in table or int(table[c]) < 1:
                    p.append(f"{name}: needs a whole number of days >= 1 for class {c!r}")
        if not p:
            for c in S.CLASS_WEIGHTS:
                if self.min_gap_days[c] > self.cycle_days[c]:
                    p.append(f"min_gap_days: {self.min_gap_days[c]} days for class {c} is longer than its cycle "
                             f"of {self.cycle_days[c]} days")
        return p

    def day_options(self) -> DayOptions:
        """The day's settings alone (what a day of this week was planned with)."""
        fields = {f: getattr(self, f) for f in DayOptions.__dataclass_fields__ if f in self.__dataclass_fields__}
        return DayOptions(**fields)


# ---------------------------------------------------------------------------
# visits due
# ---------------------------------------------------------------------------
_DUE_COLS = ("row", S.ID, "rep", "kind", "klass", "occurrence", "first_day", "last_day", "due_date",
             "appointment", "appt_start_s", "appt_service_s", "source")


def _appointments(acc: pd.DataFrame, dates: Sequence[pd.Timestamp], reps: set[str]) -> list[dict[str, Any]]:
    if S.APPT_START not in acc.columns:
        return []
    rows = []
    day_of = {d: k for k, d in enumerate(dates)}
    a0 = pd.to_datetime(acc[S.APPT_START])
    a1 = pd.to_datetime(acc[S.APPT_END])
    for i in np.flatnonzero(a0.notna().to_numpy()):
        day = a0.iat[i].normalize()
        if day not in day_of or acc[S.OWNER].iat[i] not in reps:
            continue
        rows.append({"row": int(i), S.ID: acc[S.ID].iat[i], "rep": acc[S.OWNER].iat[i], "kind": acc[S.STAGE].iat[i],
                     "klass": acc[S.CLASS].iat[i], "occurrence": 0, "first_day": day_of[day], "last_day": day_of[day],
                     "due_date": day, "appointment": True, "source": "appointment",
                     "appt_start_s": int((a0.iat[i] - day).total_seconds()),
                     "appt_service_s": int((a1.iat[i] - a0.iat[i]).total_seconds())})
    return rows


def _windows(first: pd.Timestamp, cycle: int, gap: int, dates: Sequence[pd.Timestamp]) -> list[tuple[int, int]]:
    """Day-index windows of the visits owed from ``first`` (the earliest allowed day) on, one per cycle.
    Window k is ``[first + k cycle, first + k cycle + cycle - gap]`` in calendar days, the last one open to
    the end of the horizon; consecutive windows are ``gap`` days apart, so two visits never come closer."""
    out: list[tuple[int, int]] = []
    k = 0
    while first + pd.Timedelta(days=k * cycle) <= dates[-1]:
        lo = first + pd.Timedelta(days=k * cycle)
        more = first + pd.Timedelta(days=(k + 1) * cycle) <= dates[-1]
        hi = lo + pd.Timedelta(days=cycle - gap) if more else dates[-1]
        idx = [j for j, d in enumerate(dates) if lo <= d <= hi]
        if idx:
            out.append((idx[0], idx[-1]))
        k += 1
    return out


def due_visits(acc: pd.DataFrame, dates: Sequence[pd.Timestamp], reps: Sequence[str],
               o: WeekOptions) -> tuple[pd.DataFrame, dict[int, str]]:
    """The visits the week owes, and why every other owned account gets none (``row -> reason``).

    An account with an appointment on a day of the week gets that appointment (mandatory, its booked
    time) and nothing else.  A follow-up or closing is due ``cycle_days[class]`` after its last visit
    (a closing at most ``closing_due_days`` after); never visited, it is due now.  Its first visit comes
    no earlier than ``min_gap_days[class]`` after the last one; further visits in a long horizon follow
    the cycle (:func:`_windows`).  A rep's own prospect of stage ``new`` may be visited on any day.
    """
    rep_set = set(reps)
    rows = _appointments(acc, dates, rep_set)
    with_appt = {r["row"] for r in rows}
    last = pd.to_datetime(acc[S.LAST_VISIT]) if S.LAST_VISIT in acc.columns else pd.Series(pd.NaT, index=acc.index)
    not_due: dict[int, str] = {}
    owners, stages, classes, ids = (acc[c].tolist() for c in (S.OWNER, S.STAGE, S.CLASS, S.ID))
    lasts = list(last)
    for i in range(len(acc)):
        rep, stage, klass = owners[i], stages[i], classes[i]
        if rep not in rep_set or i in with_appt:
            continue
        base = {"row": i, S.ID: ids[i], "rep": rep, "kind": stage, "klass": klass,
                "appointment": False, "appt_start_s": 0, "appt_service_s": 0}
        if stage == "new":
            rows.append({**base, "source": "own prospect", "occurrence": 0, "first_day": 0,
                         "last_day": len(dates) - 1, "due_date": dates[0]})
            continue
        cycle = int(o.cycle_days.get(klass, o.cycle_days["C"]))
        if stage == "closing":
            cycle = min(cycle, int(o.closing_due_days))
        gap = min(int(o.min_gap_days.get(klass, o.min_gap_days["C"])), cycle)
        lv = lasts[i]
        due = dates[0] if pd.isna(lv) else max(lv.normalize() + pd.Timedelta(days=cycle), dates[0])
        if due > dates[-1]:
            not_due[i] = f"not due this week: next visit due {due.date()} ({klass}-class cycle {cycle} days)"
            continue
        first = dates[0] if pd.isna(lv) else max(lv.normalize() + pd.Timedelta(days=gap), dates[0])
        for k, (lo, hi) in enumerate(_windows(first, cycle, gap, dates)):
            rows.append({**base, "source": "cycle", "occurrence": k, "first_day": lo, "last_day": hi,
                         "due_date": max(due + pd.Timedelta(days=k * cycle), dates[lo])})
    out = pd.DataFrame(rows, columns=list(_DUE_COLS))
    out["appointment"] = out["appointment"].astype(bool)
    for c in ("row", "occurrence", "first_day", "last_day", "appt_start_s", "appt_service_s"):
        out[c] = out[c].astype(np.int64)
    return out, not_due


# ---------------------------------------------------------------------------
# the pool's split
# ---------------------------------------------------------------------------
def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def split_pool(acc: pd.DataFrame, anchors: Mapping[str, np.ndarray], slots: Mapping[str, int],
               o: WeekOptions) -> tuple[dict[int, str], dict[int, str]]:
    """Public-pool prospects to reps: ``(row -> rep, row -> reason for the rest)``.

    ``anchors[rep]`` are the (lon, lat) points the rep's week passes (due accounts, appointments,
    base); ``slots[rep]`` his first-visit slots in the week.  Pairs within ``pool_radius_m`` are taken
    nearest first; a rep takes at most ``slots x candidates_per_slot`` prospects; a prospect goes to one
    rep (so no prospect is offered to two reps).
    """
    from scipy.spatial import cKDTree

    pool_rows = np.flatnonzero((acc[S.OWNER] == S.PUBLIC_POOL).to_numpy())
    if len(pool_rows) == 0 or not anchors:
        return {}, {}
    reps = list(anchors)
    xyz = _unit_xyz(acc[S.LON].to_numpy(float)[pool_rows], acc[S.LAT].to_numpy(float)[pool_rows])
    dist = np.full((len(pool_rows), len(reps)), np.inf)
    for j, r in enumerate(reps):
        pts = np.asarray(anchors[r], float).reshape(-1, 2)
        if len(pts):
            chord, _ = cKDTree(_unit_xyz(pts[:, 0], pts[:, 1])).query(xyz, k=1)
            dist[:, j] = 2 * 6_371_000.0 * np.arcsin(np.clip(chord / 2, 0, 1))
    cap = {r: int(slots.get(r, 0)) * int(o.candidates_per_slot) for r in reps}
    taken: dict[int, str] = {}
    used = dict.fromkeys(reps, 0)
    pi, rj = np.nonzero(dist <= o.pool_radius_m)
    for k in np.argsort(dist[pi, rj], kind="stable"):
        row, rep = int(pool_rows[pi[k]]), reps[rj[k]]
        if row in taken or used[rep] >= cap[rep]:
            continue
        taken[row] = rep
        used[rep] += 1
    km = o.pool_radius_m / 1000
    reason = {}
    for k, row in enumerate(pool_rows.tolist()):
        if row in taken:
            continue
        if not np.isfinite(dist[k]).any() or dist[k].min() > o.pool_radius_m:
            reason[row] = f"pool prospect more than {km:.0f} km from every rep's week"
        else:
            near = [reps[j] for j in np.flatnonzero(dist[k] <= o.pool_radius_m)]
            reason[row] = (f"pool prospect within {km:.0f} km of {', '.join(near[:5])}, whose first-visit slots "
                           f"already have nearer candidates")
    return taken, reason


# ---------------------------------------------------------------------------
# ride-alongs
# ---------------------------------------------------------------------------
def _is_new(reps: pd.DataFrame, start: pd.Timestamp, o: WeekOptions) -> pd.Series:
    exp = reps[S.EXPERIENCED].fillna(False).astype(bool) if S.EXPERIENCED in reps.columns else \
        pd.Series(False, index=reps.index)
    if S.START_DATE in reps.columns:
        days_in = (start - pd.to_datetime(reps[S.START_DATE])).dt.days
        recent = days_in.notna() & (days_in < o.new_rep_days)
    else:
        recent = pd.Series(False, index=reps.index)
    return (~exp) | recent


def plan_rides(reps: pd.DataFrame, plan_reps: Sequence[str], dates: Sequence[pd.Timestamp],
               busy: Mapping[str, set[int]], o: WeekOptions) -> pd.DataFrame:
    """Whole-day ride-alongs: ``supervisor, rep, day`` (day index), newest reps first.

    A supervisor (the ``manager`` of planned reps) rides with each of his new reps (not experienced,
    or started less than ``new_rep_days`` ago) on ``ride_days_per_rep`` days, at most
    ``ride_days_per_supervisor`` days in all, never on a day he has an appointment of his own
    (``busy[supervisor]``: day indices), spread over the week (the days he is least used, earliest
    first).  On a ride day the supervisor goes where the rep goes: one route, two people.
    """
    cols = ["supervisor", "rep", "day"]
    if not o.rides or S.MANAGER not in reps.columns or o.ride_days_per_rep == 0:
        return pd.DataFrame(columns=cols)
    r = reps[reps[S.ID].isin(plan_reps)].copy()
    r["new"] = _is_new(r, dates[0], o)
    r["_start"] = pd.to_datetime(r[S.START_DATE]) if S.START_DATE in r.columns else pd.NaT
    new = r[r["new"] & r[S.MANAGER].isin(set(plan_reps))]
    rows: list[tuple[str, str, int]] = []
    for sup, grp in new.groupby(S.MANAGER, sort=True):
        grp = grp.sort_values("_start", ascending=False, kind="stable", na_position="last")
        free = [d for d in range(len(dates)) if d not in busy.get(str(sup), set())]
        budget = min(int(o.ride_days_per_supervisor), len(free))
        want = {rep: int(o.ride_days_per_rep) for rep in grp[S.ID]}
        taken: set[int] = set()
        while budget > 0 and any(want.values()) and len(taken) < len(free):
            for rep in list(want):
                if want[rep] == 0 or budget == 0:
                    continue
                day = _spread_day(free, taken, len(dates))
                if day is None:
                    break
                rows.append((str(sup), str(rep), day))
                taken.add(day)
                want[rep] -= 1
                budget -= 1
    return pd.DataFrame(rows, columns=cols).sort_values(["supervisor", "day"], kind="stable").reset_index(drop=True)


def _spread_day(free: Sequence[int], taken: set[int], n_days: int) -> int | None:
    """The free day farthest from the days already taken (earliest on ties)."""
    options = [d for d in free if d not in taken]
    if not options:
        return None
    if not taken:
        return options[0]
    return max(options, key=lambda d: (min(abs(d - t) for t in taken), -d))


def ride_steps(n: int) -> list[str]:
    """The teaching step of each of ``n`` joined visits in order: four equal parts, one per step."""
    return [RIDE_STEPS[min(3, math.floor(4 * k / max(n, 1)))] for k in range(n)]
