"""Which slot to offer: the best (day, time) for a prospect who wants an appointment, given the week's plan.

:func:`offer_slots` tries the new appointment between every two consecutive stops of the rep's days
(and on days he has no route yet), starting when he can be there (on a quarter hour), pushes the rest
of the day back, and where the day no longer fits drops the visits that weigh least (never an
appointment).  Slots are ranked by visits lost, then added travel, then date and time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.solvers.week.demand import WeekProblem
from planner.solvers.week.solve import WeekPlan

__all__ = ("offer_slots",)

_QUARTER = 15 * 60


def _rep_for(plan: WeekPlan, problem: WeekProblem, row: pd.Series, rep: str | None) -> str:
    """The rep to book: ``rep``, else the owner, else (a pool prospect) the rep whose week passes nearest."""
    if rep is not None:
        if rep not in plan.bases:
            raise InputError(f"rep: {rep!r} is not planned this week")
        return rep
    if row[S.OWNER] in plan.bases:
        return str(row[S.OWNER])
    v = plan.stops[plan.stops["kind"] != "base"]
    if not len(v):
        raise InputError("offer_slots: the plan has no visits to place the appointment near; name the rep")
    d2 = (v[S.LON] - row[S.LON]) ** 2 + ((v[S.LAT] - row[S.LAT]) * 1.0) ** 2
    return str(v.loc[d2.idxmin(), "rep"])


def _day_route(plan: WeekPlan, problem: WeekProblem, rep: str, date: pd.Timestamp) -> pd.DataFrame:
    st = plan.stops[(plan.stops["rep"] == rep) & (plan.stops["date"] == date)].sort_values("seq")
    if len(st):
        return st.reset_index(drop=True)
    off = problem.offices.set_index(S.ID).loc[plan.bases[rep]]
    o = plan.options
    t0 = date + pd.Timedelta(minutes=o.day_start_min)
    base = {"rep": rep, "date": date, "kind": "base", S.ID: plan.bases[rep], S.NAME: "base office",
            S.LON: float(off[S.LON]), S.LAT: float(off[S.LAT]), "appointment": False, "prize": 0,
            "arrival": t0, "start": t0, "departure": t0}
    return pd.DataFrame([base, {**base, S.NAME: "evening review"}])


def _simulate(route: pd.DataFrame, tt: np.ndarray, nodes: Sequence[int], t0: int,
              date: pd.Timestamp) -> tuple[int, int]:
    """Leaving ``nodes[0]`` at ``t0`` and going through ``nodes[1:]`` (rows of ``route``): ``(seconds late
    for appointments in all, time back)``; times in seconds after midnight."""
    t = t0
    late = 0
    prev = nodes[0]
    for k in nodes[1:]:
        t += int(tt[prev, k])
        r = route.iloc[k] if k < len(route) else None
        if r is not None and bool(r["appointment"]) and r["kind"] != "base":
            s0 = int((r["start"] - date).total_seconds())
            late += max(0, t - s0)
            t = max(t, s0)
        if r is not None and r["kind"] != "base":
            t += int((r["departure"] - r["start"]).total_seconds())
        prev = k
    return late, t


def _try(route: pd.DataFrame, tt: np.ndarray, x: int, pos: int, dur: int, day0: int, day1: int,
         date: pd.Timestamp) -> tuple[int, int, list[int]] | None:
    """The new appointment (node ``x`` of ``tt``) after stop ``pos``: ``(start s, added travel s, dropped)``."""
    order = list(range(len(route)))
    head, tail = order[: pos + 1], order[pos + 1:]
    t = max(int((route.iloc[pos]["departure"] - date).total_seconds()), day0) + int(tt[pos, x])
    start = int(math.ceil(t / _QUARTER) * _QUARTER)
    if start + dur > day1:
        return None
    dropped: list[int] = []

    def after_drop(extra: list[int]) -> tuple[int, int]:
        return _simulate(route, tt, [x, *[k for k in tail if k not in dropped + extra]], start + dur, date)

    while True:
        late, back = after_drop([])
        if late == 0 and back <= day1:
            break
        optional = [k for k in tail if k not in dropped and route.iloc[k]["kind"] != "base"
                    and not bool(route.iloc[k]["appointment"])]
        if not optional:
            return None
        # the visit whose removal helps most (appointments kept first, then back earliest), lightest on ties
        dropped.append(min(optional, key=lambda k: (*after_drop([k]), int(route.iloc[k]["prize"]))))
    kept = [k for k in order if k not in dropped]
    before = sum(int(tt[a, b]) for a, b in zip(order, order[1:]))
    new = head + [x] + [k for k in tail if k in kept]
    after = sum(int(tt[a, b]) for a, b in zip(new, new[1:]))
    return start, after - before, dropped


def offer_slots(plan: WeekPlan, problem: WeekProblem, account_id: str, *, duration_min: int = 60, k: int = 3,
                rep: str | None = None) -> pd.DataFrame:
    """The ``k`` best (day, time) slots for an appointment with ``account_id`` in the planned week.

    Objective: fewest visits lost, then least added travel (then earliest).  Constraints: the rep
    is back by the end of the day; every booked appointment keeps its time; the new appointment
    starts on a quarter hour when the rep can be there, after the morning meeting.  The visits
    dropped to make room are the ones that weigh least (``prize``), never an appointment.
    Columns: rep, date, start, end, after (the stop before), added_travel_min, visits_lost, lost.
    """
    from planner.geo.backends import seconds_matrix

    acc = problem.accounts
    hit = acc[acc[S.ID] == account_id]
    if not len(hit):
        raise InputError(f"account_id: {account_id!r} is not an account")
    if duration_min <= 0 or k < 1:
        raise InputError("offer_slots: duration_min and k must be positive")
    row = hit.iloc[0]
    who = _rep_for(plan, problem, row, rep)
    o = plan.options
    day0, day1 = int(o.day_start_min * 60), int(o.day_end_min * 60)
    rows: list[dict[str, Any]] = []
    for date in plan.dates:
        if ((plan.rides["supervisor"] == who) & (plan.rides["date"] == date)).any():
            continue
        route = _day_route(plan, problem, who, date)
        pts = np.vstack([route[[S.LON, S.LAT]].to_numpy(float), [[float(row[S.LON]), float(row[S.LAT])]]])
        tt = seconds_matrix(pts, backend=problem.travel)
        x = len(route)
        for pos in range(len(route) - 1):
            got = _try(route, tt, x, pos, duration_min * 60, day0, day1, date)
            if got is None:
                continue
            start, added, dropped = got
            rows.append({"rep": who, "date": date, "start": date + pd.Timedelta(seconds=start),
                         "end": date + pd.Timedelta(seconds=start + duration_min * 60),
                         "after": str(route.iloc[pos][S.NAME]), "added_travel_min": round(added / 60.0, 1),
                         "visits_lost": len(dropped), "lost": ", ".join(str(route.iloc[j][S.ID]) for j in dropped)})
    out = pd.DataFrame(rows, columns=["rep", "date", "start", "end", "after", "added_travel_min", "visits_lost",
                                      "lost"])
    out = out.sort_values(["visits_lost", "added_travel_min", "date", "start"], kind="stable")
    return out.drop_duplicates(["date", "start"]).head(k).reset_index(drop=True)
