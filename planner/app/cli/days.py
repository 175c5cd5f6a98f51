"""``planner days``: plan the team's day (eight visits around the appointments).

    planner days --date 2026-11-24 [--rep R05 --rep R06] [--time-limit 10] [--ride-along R02]
                 [--lunch 45] [--radius-km 20] [--seed 0] [--no-map] [--data DIR] --out DIR

Writes into ``--out``: ``days_DATE.xlsx`` (an itinerary sheet per rep,
``kpis``, ``left_out``), ``days_DATE.ics`` (and one ``ics/REP_DATE.ics`` per
rep), ``stops_DATE.csv``, ``left_out_DATE.csv``, a map ``days_DATE.html`` and
``summary.json``.
"""

from __future__ import annotations

import argparse
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
from planner.app.export.days import write_all
from planner.geo import backends
from planner.geo.travel import TravelBackend
from planner.io.workspace import Tables
from planner.solvers import days

NEEDS = ("accounts", "reps", "offices")


def problem(tables: Tables, date: pd.Timestamp, reps: list[str] | None,
            travel: TravelBackend | None = None) -> days.DayProblem:
    return days.DayProblem(tables["accounts"], tables["reps"], tables["offices"], date,
                           rep_ids=tuple(reps) if reps else None, travel=travel)


def run(args: argparse.Namespace) -> int:
    tiles = map_tiles(args)
    if national.partitioned(args):
        return national.run_job("days", args)
    date = parse_day(args.date, "--date")
    tables = load_tables(args, NEEDS)
    with open_travel(tables, args.quiet) as travel:
        prob = problem(tables, date, args.rep, travel.backend)
        options = options_from_args(days.DayOptions, args)
        plan = days.solve(prob, options, stderr_progress(quiet=args.quiet))
        end_progress(args.quiet)
        ride = None
        if args.ride_along:
            plan, ride = days.ride_along(plan, prob, args.ride_along)
    paths = write_all(plan, args.out, ride=ride, inputs=tables.summary(), travel=backends.describe(travel))
    if not args.no_map:
        tag = plan.date.strftime("%Y-%m-%d")
        paths.append(maps.save_html(maps.day_map(plan, tables["accounts"], ride=ride, tiles=tiles),
                                    Path(args.out) / f"days_{tag}.html"))
    s = plan.summary()
    print(f"{s['reps']} reps, {s['visits']} visits, appointments {s['appointments_kept']}/{s['appointments_booked']}; "
          f"{plan.report.describe()[:300]}")
    print(wrote(args, paths))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("days", help="plan the reps' day: eight visits around the appointments",
                       description="Plan the team's day in one solve: each rep's booked appointments, due "
                                   "follow-ups and closings, and first visits from the public pool around them, "
                                   "out after the morning meeting and back for the evening review.")
    p.add_argument("--date", required=True, help="the day to plan, YYYY-MM-DD")
    p.add_argument("--rep", action="append", default=[], help="plan only this rep (repeatable)")
    p.add_argument("--ride-along", default=None, metavar="SUPERVISOR",
                   help="plan this supervisor's day joining his reps' visits (newest reps first)")
    add_options(p, days.DayOptions)
    add_data_args(p)
    add_map_args(p)
    national.add_partition_args(p)
    p.add_argument("--no-map", action="store_true", help="skip the HTML map")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
    return p
