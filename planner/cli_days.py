"""``planner days``: plan the team's day (eight visits around the appointments) from a shell.

    planner days --date 2026-11-24 [--rep R05 --rep R06] [--time-limit 10] --out out/days [--data DIR]
                 [--ride-along R02] [--lunch-min 45] [--radius-km 20] [--seed 0] [--no-map]

Reads ``accounts``, ``reps`` and ``offices`` (``.csv``/``.xlsx``) from ``--data``
(default: the synthetic demo) and writes into ``--out``: ``days_DATE.xlsx``
(an itinerary sheet per rep, ``kpis``, ``left_out``), ``days_DATE.ics`` (and
one ``ics/REP_DATE.ics`` per rep), ``stops_DATE.csv``, ``left_out_DATE.csv``,
a map ``days_DATE.html`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from planner import days, days_export, io

    if args.data:
        tables = {}
        for name, res in io.load_folder(args.data, ("accounts", "reps", "offices")).items():
            if res.rejected_rows:
                first = res.rejected.head(5).to_dict(orient="records")
                raise ValueError(f"{name}: {res.rejected_rows} row(s) rejected, e.g. {first}")
            tables[name] = res.table
    else:
        from planner import demo

        sc = demo.load_demo()
        tables = {"accounts": sc.accounts, "reps": sc.reps, "offices": sc.offices}
    try:
        date = pd.Timestamp(args.date)
    except (ValueError, TypeError):
        raise ValueError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None
    problem = days.DayProblem(tables["accounts"], tables["reps"], tables["offices"], date,
                              rep_ids=tuple(args.rep) if args.rep else None)
    options = days.DayOptions(time_limit_s=args.time_limit, seed=args.seed, lunch_min=args.lunch_min,
                              pool_radius_m=args.radius_km * 1000.0)
    plan = days.solve(problem, options)
    ride = None
    if args.ride_along:
        plan, ride = days.ride_along(plan, problem, args.ride_along, time_limit_s=min(5.0, args.time_limit))
    paths = days_export.write_all(plan, args.out, tables["accounts"], map_html=not args.no_map, ride=ride)
    s = plan.summary()
    print(f"{s['reps']} reps, {s['visits']} visits, appointments {s['appointments_kept']}/{s['appointments_booked']}; "
          f"{plan.report.describe()[:300]}")
    for p in paths:
        print(p)
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("days", help="plan the reps' day: eight visits around the appointments",
                              description=__doc__.splitlines()[0])
    p.add_argument("--date", required=True, help="the day to plan, YYYY-MM-DD")
    p.add_argument("--rep", action="append", default=[], help="plan only this rep (repeatable)")
    p.add_argument("--time-limit", type=float, default=10.0, help="search seconds (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lunch-min", type=int, default=0, help="lunch break minutes (default none)")
    p.add_argument("--radius-km", type=float, default=20.0, help="pool prospects within this of the appointments")
    p.add_argument("--ride-along", default=None, metavar="SUPERVISOR",
                   help="plan this supervisor's day joining his reps' visits (newest reps first)")
    p.add_argument("--no-map", action="store_true", help="skip the HTML map")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--data", default=None, help="folder with accounts, reps, offices (default: the demo)")
    p.set_defaults(func=run)
    return p


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="planner")
    register(ap.add_subparsers(dest="command"))
    a = ap.parse_args()
    sys.exit(a.func(a))
