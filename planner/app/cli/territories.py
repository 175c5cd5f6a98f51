"""``planner territories``: divide the accounts among the reps (balanced, compact, stable).

    planner territories [--reps 21] [--tolerance 10%] [--max-moves 200] [--data DIR] --out DIR
    planner territories --contiguous --tolerance 5% --districts 3 --scenario 2027 --effective-date 2027-01-01 ...

Writes into ``--out``: ``territories.gpkg`` (layer ``accounts``: every input
account with its territory, outcome and reason; layer ``reps``: bases and
KPIs), ``territories.xlsx`` (KPIs, a sheet per rep, moves, pool and kept),
``territories_map.html``, ``territories_changes.csv`` (the change list for
the CRM: account, from, to, change, reason, effective_date; every account),
``summary.json`` (status, objective, bound, gap, seconds, broken limits, KPIs,
input counts) and ``TABLE_rejected.csv`` for input rows that could not be
read. ``--contiguous`` draws territories as connected areas (the default
when no account has an owner among the reps): the GeoPackage then has
layers ``territories`` (polygons) and ``units``. ``--scenario NAME`` also
saves the plan with the data (``planner scenarios``); ``--curve`` writes the
realignment curve.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.app import maps
from planner.app.cli import national
from planner.app.cli.common import (
    add_data_args,
    add_map_args,
    end_progress,
    load_tables,
    map_tiles,
    open_travel,
    stderr_progress,
    wrote,
)
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.common import write_csv
from planner.app.export.territories import change_list, summary_dict, write_plan
from planner.geo import backends
from planner.io import scenarios
from planner.io.workspace import Tables
from planner.solvers import territories

NEEDS = ("accounts", "reps", "offices")


def problem(tables: Tables, n_reps: int | None) -> territories.TerritoryProblem:
    """The problem on the loaded tables; ``n_reps`` None: every seller in the reps table."""
    return territories.problem_from_tables(tables["accounts"], tables["reps"], tables["offices"], n_reps=n_reps)


def run(args: argparse.Namespace) -> int:
    tiles = map_tiles(args)
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
    when = scenarios.check_date(args.effective_date)
    paths = write_plan(plan, out, inputs=tables.summary(), travel=backends.describe(travel), effective_date=when)
    paths.append(maps.save_html(maps.territory_map(plan, tables["offices"], tiles=tiles), out / "territories_map.html"))
    if args.curve:
        paths.append(_curve(tables, args, options, out))
    if args.scenario is not None:
        sc = save_scenario(plan, tables.workspace.scenarios_root(), args.scenario, when)
        print(f"Saved scenario {sc.name!r}" + (f" (effective {when})" if when else "") + f" in {sc.folder}")
    k = plan.kpis
    print(f"Territories: {plan.report.describe()}")
    if plan.areas is not None:
        print(f"  contiguous areas: {k['contiguous']} on {k['units']} units; knn_same {k['knn_same']:.2f}, "
              f"hull_overlap {k['hull_overlap']:.2f}, dispersion {k['dispersion_km']:,.0f} km "
              f"(bound {k['dispersion_bound_km'] or float('nan'):,.0f})")
    print(f"  {k['assigned']} accounts assigned to {k['reps']} reps, {k['pool']} in the pool "
          f"({k['pool_returns']} returned by the {options.pool_return_days}-day rule), {k['kept_outside']} kept "
          f"outside; {k['moved']} moved")
    print(f"  workload max/min {k['workload_max_over_min']:.3f}, potential max/min "
          f"{k['potential_max_over_min']:.3f}, mean travel {k['mean_travel_min']:.1f} min ({k['compactness']})")
    show = plan.reps[["accounts", "workload_h", "potential_cny", "travel_min_mean", "moved_in", "moved_out"]]
    print(show.round(1).to_string())
    print(wrote(args, paths) + f" ({time.perf_counter() - t0:.1f} s)")
    return 0


def save_scenario(plan: territories.TerritoryPlan, root: Path, name: str, when: str | None) -> scenarios.Scenario:
    """Save ``plan`` as scenario ``name`` under ``root`` (change list, KPIs, report, options, areas)."""
    data = summary_dict(plan)
    return scenarios.save(root, name, job="territories", changes=change_list(plan, when), kpis=data["kpis"],
                          report={k: data[k] for k in ("status", "objective", "bound", "gap", "message")},
                          options=data["options"], effective_date=when, areas=plan.areas)


def _curve(tables: Tables, args: argparse.Namespace, options: territories.TerritoryOptions, out: Path) -> Path:
    keeps = [float(x) for x in str(args.curve).split(",")] if args.curve != "default" else \
        list(territories.CURVE_KEEPS)
    with open_travel(tables, True) as travel:
        table, _ = territories.realignment_curve(problem(tables, args.reps), options, keeps=keeps,
                                                 backend=travel.backend, progress=stderr_progress(quiet=args.quiet))
    end_progress(args.quiet)
    print("Realignment curve (fewer moves <-> more compact areas):")
    print(table.round(3).to_string(index=False))
    return write_csv(table, out / "realignment_curve.csv")


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
    p.add_argument("--effective-date", default=None, metavar="YYYY-MM-DD",
                   help="the day the plan takes effect: on every row of territories_changes.csv and in the scenario")
    p.add_argument("--scenario", default=None, metavar="NAME",
                   help="also save the plan as this named scenario with the data (planner scenarios compares them)")
    p.add_argument("--curve", nargs="?", const="default", default=None, metavar="KEEPS",
                   help="also write realignment_curve.csv: contiguous plans from keeping today's territories to "
                        "drawing them from scratch (keep values, default 8,2,1,0.5,0)")
    add_data_args(p)
    add_map_args(p)
    national.add_partition_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)
    return p
