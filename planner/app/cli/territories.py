"""``planner territories``: divide the accounts among the reps (balanced, compact, stable).

    planner territories [--reps 21] [--tolerance 10%] [--max-moves 200] [--data DIR] --out DIR

Writes into ``--out``: ``territories.gpkg`` (layer ``accounts``: every input
account with its territory, outcome and reason; layer ``reps``: bases and
KPIs), ``territories.xlsx`` (KPIs, a sheet per rep, moves, pool and kept),
``territories_map.html``, ``summary.json`` (status, objective, bound, gap,
seconds, broken limits, KPIs, input counts) and ``TABLE_rejected.csv`` for
input rows that could not be read.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.app import maps
from planner.app.cli import national
from planner.app.cli.common import add_data_args, end_progress, load_tables, open_travel, stderr_progress, wrote
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.territories import write_plan
from planner.geo import backends
from planner.io.workspace import Tables
from planner.solvers import territories

NEEDS = ("accounts", "reps", "offices")


def problem(tables: Tables, n_reps: int | None) -> territories.TerritoryProblem:
    """The problem on the loaded tables; ``n_reps`` None: every seller in the reps table."""
    return territories.problem_from_tables(tables["accounts"], tables["reps"], tables["offices"], n_reps=n_reps)


def run(args: argparse.Namespace) -> int:
    if national.partitioned(args):
        return national.run_job("territories", args)
    t0 = time.perf_counter()
    tables = load_tables(args, NEEDS)
    options = options_from_args(territories.TerritoryOptions, args)
    with open_travel(tables, args.quiet) as travel:
        plan = territories.solve(problem(tables, args.reps), options, progress=stderr_progress(quiet=args.quiet),
                                 backend=travel.backend)
    end_progress(args.quiet)
    out = Path(args.out)
    paths = write_plan(plan, out, inputs=tables.summary(), travel=backends.describe(travel))
    paths.append(maps.save_html(maps.territory_map(plan, tables["offices"]), out / "territories_map.html"))
    k = plan.kpis
    print(f"Territories: {plan.report.describe()}")
    print(f"  {k['assigned']} accounts assigned to {k['reps']} reps, {k['pool']} in the pool "
          f"({k['pool_returns']} returned by the {options.pool_return_days}-day rule), {k['kept_outside']} kept "
          f"outside; {k['moved']} moved")
    print(f"  workload max/min {k['workload_max_over_min']:.3f}, potential max/min "
          f"{k['potential_max_over_min']:.3f}, mean travel {k['mean_travel_min']:.1f} min ({k['compactness']})")
    show = plan.reps[["accounts", "workload_h", "potential_cny", "travel_min_mean", "moved_in", "moved_out"]]
    print(show.round(1).to_string())
    print(wrote(args, paths) + f" ({time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``territories`` to an argparse sub-parsers object; returns the sub-parser."""
    p = sub.add_parser(
        "territories", help="divide the accounts among the reps (balanced, compact, stable)",
        description="Assign accounts to reps: workload and potential balanced within tolerances, territories "
                    "compact, as few accounts moved as possible; stale accounts back to the public pool. "
                    "Writes territories.gpkg, territories.xlsx, territories_map.html and summary.json.")
    p.add_argument("--reps", type=int, default=None,
                   help="number of reps (default: every seller in the reps table; vacancies added if more)")
    add_options(p, territories.TerritoryOptions)
    add_data_args(p)
    national.add_partition_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
    return p
