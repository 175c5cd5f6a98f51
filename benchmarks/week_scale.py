"""The team's week at scale: a seeded synthetic Guangdong sales team planned by ``planner.solvers.week``.

    python benchmarks/week_scale.py [--reps 50] [--accounts 10000] [--pool 5000] [--days 5]
                                    [--time-limit 50] [--seed 0] [--load 0.9] [--scale] [--profile N]

The instance (all synthetic, seeded):

* offices in up to 5 Pearl River Delta cities (Guangzhou, Shenzhen, Dongguan, Foshan, Huizhou; one
  office per ~10 reps); around each, accounts sit in a dense city core (sd ~6 km) and in 4 satellite
  manufacturing towns 12-40 km out (sd ~2.5 km);
* ``--reps`` selling reps (``sales``, a few experienced ``M0``), in teams of at most 8 per office, each
  team with an ``M1`` manager who owns no accounts and rides along with his new reps; one rep in five
  is new (started 20-170 days ago, not experienced);
* ``--accounts`` owned accounts: each rep's book lies around a home point of his office's area
  (sd ~4 km, 15 % scattered over the whole area); new reps own thin books (0.15 of an experienced
  rep's share), so that they take first visits from the public pool; ``--pool`` public-pool prospects
  over the same areas (70 %) and the space between them (30 %);
* visits owed: a rep's follow-up and closing accounts are sized so that the visits the week owes by
  class cycle (A 7, B 14, C 28 days; closings 7) are about ``--load`` (default 0.9) times his
  follow-up and closing slots (2 + 2 a day), kind by kind (a new rep: half of that).  Last visits:
  85 % of those accounts are "in phase" (last visit uniform over the last cycle), 15 % overdue (last
  visit up to 60 days ago).
  Everything else a rep owns is a stage-``new`` prospect (never visited).  This is why most owned
  accounts are ``new``: 2 + 2 cycle visits a day keep only ~30-40 cycle accounts per rep;
* 1-3 booked appointments (mean 2) per rep and day of the week, on accounts the week owes anyway (70 %)
  or on ``new`` prospects, 45-60 min, starting on the half hour between 9:00 and 16:00 at the earliest
  the rep can be there (leaving the base at 8:00, driving between appointments, same travel model as
  the solver), dropped when he could not be back by 18:00.

``week.solve`` is timed alone (the instance is built before).  One JSON line per run; ``--scale``
runs 10 %, 25 % and 50 % of the given sizes (time limit scaled with the reps) before the full size.
``--profile N`` runs the full size under cProfile and writes the top N functions (cumulative) to
stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import schema as S
from planner.solvers import week

START = pd.Timestamp("2026-03-02")  # a Monday
# (name, lon, lat) of Pearl River Delta cities, WGS-84, about the city centre
CITIES = (("Guangzhou", 113.264, 23.129), ("Shenzhen", 114.058, 22.543), ("Dongguan", 113.752, 23.021),
          ("Foshan", 113.122, 23.021), ("Huizhou", 114.416, 23.111))
KM = 1 / 100.0  # about one km in degrees at 23 N (1 deg lat = 111 km, 1 deg lon = 102 km)
CYCLE = {"A": 7, "B": 14, "C": 28}
FOLLOW_CLASSES = {"A": 0.15, "B": 0.35, "C": 0.5}
CLOSING_CLASSES = {"A": 0.3, "B": 0.4, "C": 0.3}
OVERDUE = 0.15  # share of cycle accounts overdue (last visit up to 60 days ago)


@dataclass
class Area:
    """An office's area: a city core and satellite towns, points drawn as a mixture of normals."""

    centres: np.ndarray  # (k, 2) lon, lat
    sd: np.ndarray  # (k,) degrees
    weight: np.ndarray  # (k,)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = rng.choice(len(self.weight), size=n, p=self.weight)
        return self.centres[k] + rng.normal(0, 1, (n, 2)) * self.sd[k, None]


def make_area(rng: np.random.Generator, lon: float, lat: float) -> Area:
    ang = rng.uniform(0, 2 * np.pi, 4)
    dist = rng.uniform(12, 40, 4) * KM
    towns = np.column_stack([lon + dist * np.cos(ang), lat + dist * np.sin(ang)])
    return Area(np.vstack([[lon, lat], towns]), np.array([6 * KM] + [2.5 * KM] * 4),
                np.array([0.5] + [0.125] * 4))


def cycle_rate(cycle: int, span: int) -> float:
    """Expected visits a cycle account owes over ``span + 1`` calendar days (the generator's last visits)."""
    return (1 - OVERDUE) * (span + 1) / cycle + OVERDUE * (1 + span // cycle)


def last_visit_days(rng: np.random.Generator, cycle: int) -> int:
    """Days since the last visit: in phase (uniform over the cycle) or overdue (up to 60 days)."""
    if rng.random() < OVERDUE:
        return int(rng.integers(cycle + 1, max(cycle + 2, 61)))
    return int(rng.integers(1, cycle + 1))


def org(n_reps: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, list[Area]]:
    """Offices (one per ~10 reps, at most 5), teams of at most 8 with an M1 manager, one rep in 5 new."""
    n_off = min(len(CITIES), max(1, round(n_reps / 10)))
    offices = pd.DataFrame({S.ID: [f"OF{k + 1}" for k in range(n_off)],
                            S.NAME: [f"{CITIES[k][0]} office (synthetic)" for k in range(n_off)],
                            S.LON: [CITIES[k][1] for k in range(n_off)], S.LAT: [CITIES[k][2] for k in range(n_off)],
                            S.SYNTHETIC: True})
    areas = [make_area(rng, lon, lat) for lon, lat in zip(offices[S.LON], offices[S.LAT])]
    office_of = np.sort(np.arange(n_reps) % n_off)
    new = rng.random(n_reps) < 0.2
    rows = []
    for k in range(n_off):
        mine = np.flatnonzero(office_of == k)
        for t, team in enumerate(np.array_split(mine, max(1, math.ceil(len(mine) / 8)))):
            mgr = f"M{k + 1}{t + 1}"
            rows.append({S.ID: mgr, S.NAME: f"Manager {mgr} (synthetic)", S.TEAM: f"T{k + 1}{t + 1}", S.LEVEL: "M1",
                         S.BASE_OFFICE: f"OF{k + 1}", S.MANAGER: "", S.EXPERIENCED: True,
                         S.START_DATE: START - pd.Timedelta(days=int(rng.integers(900, 3000)))})
            for i in team:
                days_in = int(rng.integers(20, 170)) if new[i] else int(rng.integers(400, 2500))
                rows.append({S.ID: f"R{i + 1:03d}", S.NAME: f"Rep {i + 1} (synthetic)", S.TEAM: f"T{k + 1}{t + 1}",
                             S.LEVEL: "M0" if not new[i] and rng.random() < 0.15 else "sales",
                             S.BASE_OFFICE: f"OF{k + 1}", S.MANAGER: mgr, S.EXPERIENCED: not new[i],
                             S.START_DATE: START - pd.Timedelta(days=days_in)})
    reps = pd.DataFrame(rows).assign(**{S.SYNTHETIC: True})
    return reps, offices, areas


def book(rep: pd.Series, n: int, home: np.ndarray, area: Area, span: int, days: int, load: float,
         rng: np.random.Generator) -> pd.DataFrame:
    """One rep's accounts: cycle accounts sized to ``load`` x his follow-up and closing slots, the rest new."""
    scale = 1.0 if rep[S.EXPERIENCED] else 0.5  # a new rep has fewer accounts in the cycle yet
    n_close = round(scale * load * 2 * days / cycle_rate(7, span))
    fu_rate = sum(w * cycle_rate(CYCLE[c], span) for c, w in FOLLOW_CLASSES.items())
    n_fu = round(scale * load * 2 * days / fu_rate)
    n_close, n_fu = min(n_close, n // 3), min(n_fu, n // 2)
    stage = np.array(["closing"] * n_close + ["follow-up"] * n_fu + ["new"] * (n - n_close - n_fu))
    klass = np.concatenate([rng.choice(list(CLOSING_CLASSES), n_close, p=list(CLOSING_CLASSES.values())),
                            rng.choice(list(FOLLOW_CLASSES), n_fu, p=list(FOLLOW_CLASSES.values())),
                            rng.choice(["A", "B", "C"], n - n_close - n_fu, p=[0.1, 0.3, 0.6])])
    pts = home + rng.normal(0, 4 * KM, (n, 2))
    scatter = rng.random(n) < 0.15
    pts[scatter] = area.draw(rng, int(scatter.sum()))
    ago = np.full(n, -1)
    for i in range(n_close + n_fu):
        cyc = 7 if stage[i] == "closing" else CYCLE[klass[i]]
        ago[i] = last_visit_days(rng, cyc)
    due = np.array([ago[i] >= 0 and ago[i] >= (7 if stage[i] == "closing" else CYCLE[klass[i]]) - span
                    for i in range(n)])
    return pd.DataFrame({S.LON: pts[:, 0], S.LAT: pts[:, 1], S.OWNER: rep[S.ID], S.CLASS: klass, S.STAGE: stage,
                         S.STATUS: np.where(stage == "new", "prospect", "customer"),
                         S.LAST_VISIT: [START - pd.Timedelta(days=int(d)) if d >= 0 else pd.NaT for d in ago],
                         "_due": due})


def _day_appointments(idx: list[int], pts: np.ndarray, base: np.ndarray, date: pd.Timestamp,
                      rng: np.random.Generator) -> list[tuple[int, pd.Timestamp, pd.Timestamp]]:
    """Times for one rep-day's booked accounts ``idx``: a wished slot (9:00-16:00, on the half hour), moved
    later until it is reachable from the base (8:00) or the previous appointment; one the rep could not
    come back from by 18:00 is not booked."""
    from planner.geo.travel import travel_matrix

    wish = sorted(int(t) for t in rng.choice(np.arange(18, 33), len(idx), replace=False))  # half-hours
    tt = np.ceil(travel_matrix(np.vstack([base, pts])).time_s / 60.0)  # minutes, node 0 = the base
    out, free, at = [], 8 * 60.0, 0
    for k, (i, t) in enumerate(zip(idx, wish)):
        begin = 30 * math.ceil(max(30 * t, free + tt[at, k + 1]) / 30)
        length = int(rng.choice([45, 60]))
        if begin + length + tt[k + 1, 0] > 18 * 60:
            break
        out.append((i, date + pd.Timedelta(minutes=begin), date + pd.Timedelta(minutes=begin + length)))
        free, at = begin + length, k + 1
    return out


def appointments(acc: pd.DataFrame, offices: pd.DataFrame, reps: pd.DataFrame, dates: tuple[pd.Timestamp, ...],
                 rng: np.random.Generator) -> None:
    """1-3 appointments (mean 2) per rep and day, on due cycle accounts (70 %) or new prospects, at times
    the rep can reach from his base and between appointments."""
    start = pd.Series(pd.NaT, index=acc.index, dtype="datetime64[ns]")
    end = start.copy()
    base_of = reps.set_index(S.ID)[S.BASE_OFFICE]
    off = offices.set_index(S.ID)[[S.LON, S.LAT]]
    for rep, grp in acc[acc[S.OWNER] != S.PUBLIC_POOL].groupby(S.OWNER, sort=True):
        base = off.loc[base_of[rep]].to_numpy(float)
        due = list(rng.permutation(grp.index[grp["_due"]]))
        new = list(rng.permutation(grp.index[grp[S.STAGE] == "new"]))
        for d in dates:
            idx = []
            for _ in range(int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))):
                pick = due if (rng.random() < 0.7 and due) or not new else new
                if pick:
                    idx.append(int(pick.pop()))
            pts = acc.loc[idx, [S.LON, S.LAT]].to_numpy(float)
            for i, a, b in _day_appointments(idx, pts, base, d, rng):
                start[i], end[i] = a, b
    acc[S.APPT_START], acc[S.APPT_END] = start, end


def instance(n_reps: int, n_acc: int, n_pool: int, days: int, load: float,
             seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reps, offices, areas = org(n_reps, rng)
    dates = week.working_days(START, days)
    span = (dates[-1] - dates[0]).days
    sellers = reps[reps[S.LEVEL] != "M1"].reset_index(drop=True)
    w = np.where(sellers[S.EXPERIENCED], rng.uniform(0.7, 1.3, len(sellers)), 0.15)
    sizes = np.floor(n_acc * w / w.sum()).astype(int)
    sizes[: n_acc - sizes.sum()] += 1
    off_idx = {o: k for k, o in enumerate(offices[S.ID])}
    parts = []
    for (_, rep), n in zip(sellers.iterrows(), sizes):
        area = areas[off_idx[rep[S.BASE_OFFICE]]]
        parts.append(book(rep, int(n), area.draw(rng, 1)[0], area, span, days, load, rng))
    pool_pts = np.vstack([areas[k].draw(rng, 1)[0] for k in rng.integers(0, len(areas), int(n_pool * 0.7))]
                         + [np.empty((0, 2))])
    lo, hi = offices[[S.LON, S.LAT]].min().to_numpy() - 0.3, offices[[S.LON, S.LAT]].max().to_numpy() + 0.3
    pool_pts = np.vstack([pool_pts, rng.uniform(lo, hi, (n_pool - len(pool_pts), 2))])
    parts.append(pd.DataFrame({S.LON: pool_pts[:, 0], S.LAT: pool_pts[:, 1], S.OWNER: S.PUBLIC_POOL,
                               S.CLASS: rng.choice(["A", "B", "C"], n_pool, p=[0.1, 0.3, 0.6]), S.STAGE: "new",
                               S.STATUS: "prospect", S.LAST_VISIT: pd.NaT, "_due": False}))
    acc = pd.concat(parts, ignore_index=True)
    acc.insert(0, S.ID, [f"A{i:06d}" for i in range(len(acc))])
    acc.insert(1, S.NAME, [f"Company {i} (synthetic)" for i in range(len(acc))])
    acc[S.POTENTIAL_CNY] = np.round(rng.lognormal(np.log(60_000), 0.9, len(acc)), -2)
    acc[S.LAST_VISIT] = pd.to_datetime(acc[S.LAST_VISIT])
    appointments(acc, offices, reps, dates, rng)
    acc[S.SYNTHETIC] = True
    return acc.drop(columns=["_due"]), reps, offices


def run(n_reps: int, n_acc: int, n_pool: int, days: int, limit: float, seed: int, load: float,
        profile: int = 0) -> dict:
    t0 = time.perf_counter()
    acc, reps, offices = instance(n_reps, n_acc, n_pool, days, load, seed)
    build = time.perf_counter() - t0
    problem = week.WeekProblem(acc, reps, offices, START, days=days)
    opts = week.WeekOptions(time_limit_s=limit, seed=seed)
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    plan = week.solve(problem, opts)
    sec = time.perf_counter() - t0
    if prof is not None:
        import pstats
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(profile)
    k, rep = plan.kpis, plan.report
    short = k.get("shortfalls", {})
    pool_ids = set(acc.loc[acc[S.OWNER] == S.PUBLIC_POOL, S.ID])
    visits = plan.stops[plan.stops["kind"] != "base"]
    return {"reps": n_reps, "managers": int((reps[S.LEVEL] == "M1").sum()),
            "new_reps": int((~reps[S.EXPERIENCED].astype(bool)).sum()), "offices": len(offices),
            "accounts": n_acc, "pool": n_pool, "days": days, "seed": seed, "time_limit_s": limit,
            "build_seconds": round(build, 2), "seconds": round(sec, 2), "visits": k["visits"],
            "rep_days": k["rep_days"], "rep_days_at_8": k["rep_days_at_standard"],
            "rep_days_short_time": int(short.get("time", 0)), "rep_days_short_supply": int(short.get("supply", 0)),
            "visits_per_rep_day": k["visits_per_rep_day"], "mix_met_pct": k["mix_met_pct"],
            "cycle_kept_pct": k["cycle_kept_pct"], "cycle_kept_pct_by_class": k["cycle_kept_pct_by_class"],
            "cycle_due": k["cycle_due"], "cycle_slots": k["cycle_slots"], "cycle_kept": k["cycle_kept"],
            "appointments_booked": k["appointments_booked"], "appointments_kept": k["appointments_kept"],
            "new_visits": k["new_visits"], "pool_visits": int(visits[S.ID].isin(pool_ids).sum()),
            "ride_days": k["ride_days"], "travel_share": k["travel_share"], "status": rep.status,
            "objective": rep.objective, "bound": rep.bound,
            "gap_pct": round(100 * rep.gap, 2) if rep.gap is not None else None, "message": rep.message}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=50, help="selling reps (managers come on top, 1 per team of 8)")
    ap.add_argument("--accounts", type=int, default=10_000, help="owned accounts")
    ap.add_argument("--pool", type=int, default=5_000, help="public-pool prospects")
    ap.add_argument("--days", type=int, default=5, help="working days from Monday 2026-03-02")
    ap.add_argument("--time-limit", type=float, default=50.0, help="WeekOptions.time_limit_s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--load", type=float, default=0.9, help="visits owed by cycle / follow-up+closing slots, aimed")
    ap.add_argument("--scale", action="store_true", help="10 %%, 25 %% and 50 %% of the sizes first")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile: top N functions to stderr")
    a = ap.parse_args(argv)
    fractions = (0.1, 0.25, 0.5, 1.0) if a.scale else (1.0,)
    for f in fractions:
        line = run(max(1, round(a.reps * f)), round(a.accounts * f), round(a.pool * f), a.days,
                   round(a.time_limit * f, 2), a.seed, a.load, a.profile if f == 1.0 else 0)
        print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
