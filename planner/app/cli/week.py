"""``planner week``: plan the team's week (visit cycles by class, eight visits a day, ride-alongs).

    planner week --start 2026-11-23 [--days 5] [--rep R05 ...] [--time-limit 30] [--no-rides]
                 [--compare-bases K] [--offer ACCOUNT_ID] [--no-map] [--data DIR] --out DIR

Writes into ``--out``: ``week_START.xlsx`` (the week grid, rep-days, an itinerary per rep, visits
due, left out, ride-alongs), ``week_START.ics`` and ``ics/REP_week_START.ics``, CSVs of stops,
rep-days, visits due and left out, a map per day ``week_START_DATE.html`` and ``summary.json``.
``--compare-bases K`` re-plans the same week from the K bases ``planner bases`` recommends and
writes ``bases_compare_START.csv`` (per rep) and ``bases_compare_days_START.csv`` (per rep-day).
``--offer ID`` writes ``slots_ID.csv``: the three best (day, time) slots for an appointment with
that account.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from planner.app import maps
from planner.app.cli import national
from planner.app.cli.common import (
    add_data_args,
    add_map_args,
    end_progress,
    load_tables,
    map_tiles,
    open_travel,
    parse_day,
    stderr_progress,
    wrote,
)
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.common import file_name, write_csv, write_json
from planner.app.export.week import write_all
from planner.errors import InputError
from planner.geo import backends
from planner.geo.travel import TravelBackend
from planner.io.workspace import Tables
from planner.solvers import bases, week

NEEDS = ("accounts", "reps", "offices")


def problem(tables: Tables, start: pd.Timestamp, days: int, reps: list[str] | None,
            travel: TravelBackend | None = None) -> week.WeekProblem:
    return week.WeekProblem(tables["accounts"], tables["reps"], tables["offices"], start, days=days,
                            rep_ids=tuple(reps) if reps else None, travel=travel)


def _compare(args: argparse.Namespace, tables: Tables, prob: week.WeekProblem, plan: week.WeekPlan,
             options: week.WeekOptions) -> list[Path]:
    """The same week from the recommended bases: per rep and per rep-day, before and after."""
    acc = tables["accounts"]
    bp = bases.solve_bases(acc, tables["offices"], reps=len(tables["reps"]),
                           options=bases.BaseOptions(k=args.compare_bases), backend=prob.travel)
    if not len(bp.bases):
        raise InputError(f"--compare-bases {args.compare_bases}: no bases plan ({bp.report.message})")
    print(f"bases (k = {args.compare_bases}): " + ", ".join(f"{i} {n} ({r} reps)" for i, n, r in zip(
        bp.bases["id"], bp.bases["name"], bp.bases["reps"])), file=sys.stderr)
    after = week.solve(week.rebased(prob, bp), options, stderr_progress(quiet=args.quiet))
    end_progress(args.quiet)
    days, reps = week.compare(plan, after)
    tag = plan.dates[0].strftime("%Y-%m-%d")
    out = Path(args.out)
    print(f"from the recommended bases: {after.kpis['visits_per_rep_day']} visits per rep-day (was "
          f"{plan.kpis['visits_per_rep_day']}), {after.kpis['rep_days_at_standard_pct']}% of rep-days at "
          f"{options.visits_per_day} (was {plan.kpis['rep_days_at_standard_pct']}%), "
          f"{after.kpis['new_visits']} first visits (was {plan.kpis['new_visits']})")
    keys = ("visits_per_rep_day", "rep_days_at_standard_pct", "new_visits", "travel_share", "cycle_kept_pct")
    return [write_csv(reps, out / f"bases_compare_{tag}.csv"), write_csv(days, out / f"bases_compare_days_{tag}.csv"),
            write_json(out / f"bases_compare_{tag}.json",
                       {"k": args.compare_bases, "bases": bp.bases[["id", "name", "reps"]].to_dict("records"),
                        "before": {k: plan.kpis[k] for k in keys}, "after": {k: after.kpis[k] for k in keys}})]


def run(args: argparse.Namespace) -> int:
    map_tiles(args)  # a bad --tiles stops here, before the solve
    if national.partitioned(args):
        return national.run_job("week", args)
    start = parse_day(args.start, "--start")
    tables = load_tables(args, NEEDS)
    with open_travel(tables, args.quiet) as travel:
        return _run(args, tables, start, travel)


def _run(args: argparse.Namespace, tables: Tables, start: pd.Timestamp, travel: backends.Opened) -> int:
    prob = problem(tables, start, args.days, args.rep, travel.backend)
    options = options_from_args(week.WeekOptions, args)
    plan = week.solve(prob, options, stderr_progress(quiet=args.quiet))
    end_progress(args.quiet)
    paths = write_all(plan, args.out, inputs=tables.summary(), travel=backends.describe(travel))
    out = Path(args.out)
    if not args.no_map:
        tiles = map_tiles(args)
        for d in plan.dates:
            tag = f"{plan.dates[0]:%Y-%m-%d}_{d:%Y-%m-%d}"
            m = maps.day_map(plan.day(d), tables["accounts"], tiles=tiles)
            paths.append(maps.save_html(m, out / f"week_{tag}.html"))
    if args.offer:
        slots = week.offer_slots(plan, prob, args.offer, duration_min=args.offer_minutes)
        paths.append(write_csv(slots, out / f"slots_{file_name(args.offer)}.csv"))
        print(slots.to_string(index=False))
    k = plan.kpis
    print(f"{k['reps']} reps, {k['rep_days']} rep-days, {k['visits']} visits ({k['visits_per_rep_day']} a day), "
          f"{k['rep_days_at_standard']} rep-days at {options.visits_per_day}, mix met {k['mix_met_pct']}%, "
          f"cycles kept {k['cycle_kept_pct']}% of {k['cycle_due']} due, appointments {k['appointments_kept']}/"
          f"{k['appointments_booked']}, {k['ride_days']} ride-along days; {plan.report.describe()[:300]}")
    if args.compare_bases:
        paths += _compare(args, tables, prob, plan, options)
    print(wrote(args, paths))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("week", help="plan the reps' week: visit cycles, eight visits a day, ride-alongs",
                       description="Plan every rep's working week: booked appointments on their day and time, "
                                   "follow-ups and closings as often as the account's class needs (A weekly, B "
                                   "fortnightly, C monthly), first visits from the public pool near each day's "
                                   "route, supervisors riding along with their newest reps; 8 visits a day "
                                   "(4 new, 2 follow-ups, 2 closings) wherever travel allows, and where not, why.")
    p.add_argument("--start", required=True, help="the first day, YYYY-MM-DD (weekends are skipped)")
    p.add_argument("--days", type=int, default=5, help="working days to plan (default 5)")
    p.add_argument("--rep", action="append", default=[], help="plan only this rep (repeatable)")
    p.add_argument("--compare-bases", type=int, default=0, metavar="K",
                   help="also plan the week from the K bases `planner bases` recommends, and compare")
    p.add_argument("--offer", default=None, metavar="ACCOUNT_ID",
                   help="the three best (day, time) slots to offer this account for an appointment")
    p.add_argument("--offer-minutes", type=int, default=60, help="length of the appointment to offer (default 60)")
    add_options(p, week.WeekOptions)
    add_data_args(p)
    add_map_args(p)
    national.add_partition_args(p)
    p.add_argument("--no-map", action="store_true", help="skip the HTML maps")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
    return p
