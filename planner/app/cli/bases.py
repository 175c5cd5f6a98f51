"""``planner bases``: where to station people: choose k bases and the reps at each."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner import geo, schema as S
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
from planner.app.export.bases import export
from planner.geo import backends
from planner.solvers import bases, density

NEEDS = ("accounts", "offices")
OPTIONAL = ("reps",)


def run(args: argparse.Namespace) -> int:
    tiles = map_tiles(args)
    if national.partitioned(args):
        return national.run_job("bases", args)
    tables = load_tables(args, NEEDS, OPTIONAL)
    acc, off = tables["accounts"], tables["offices"]
    opt = options_from_args(bases.BaseOptions, args)
    reps = bases.team_size(tables.get("reps"), opt)
    with open_travel(tables) as tr:
        plan = bases.solve_bases(acc, off, reps=reps, options=opt, progress=stderr_progress(), backend=tr.backend)
    end_progress()
    travel = backends.describe(tr)
    print(f"solver: {plan.report.describe()}")
    out = Path(args.out)
    if not len(plan.bases):
        export(plan, acc, out, inputs=tables.summary(), travel=travel)
        print(f"no plan: {plan.report.message}")
        return 2 if plan.report.status == "invalid" else 0
    print("\nOpen bases:")
    print(plan.bases[["id", "name", "accounts", "share", "reps", "mean_time_min"]].to_string(
        index=False, formatters={"share": "{:.1%}".format, "mean_time_min": "{:.0f}".format}))
    print("\nKPIs (today -> plan):")
    for r in plan.kpi_table().itertuples():
        print(f"  {r.kpi:<22} {r.today:>8.2f} -> {r.plan:>8.2f}")
    paths = export(plan, acc, out, inputs=tables.summary(), travel=travel)
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    units = geo.load_units("county")
    units = units[units["adcode"].isin(set(loc["county_adcode"]))]
    cl = density.find_clusters(acc)
    m = maps.bases_map(acc, plan, off[off[S.OFFICE_STATUS] == "current"], clusters=cl.table,
                       hexes=density.hex_cells(acc, resolution=7),
                       units=units, county_counts=loc.groupby("county_adcode").size(),
                       tiles=tiles)
    html = maps.save_html(m, out / "bases_map.html")
    print("\n" + wrote(args, [*paths.values(), html]))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    b = sub.add_parser("bases", help="where to station people: choose k bases and the reps at each",
                       description="Choose K bases among today's offices and candidate sites to minimise "
                                   "account-weighted travel time (p-median; capacitated with --capacity or "
                                   "--capacitated), staff them, and compare KPIs with today.")
    add_options(b, bases.BaseOptions)
    add_data_args(b)
    national.add_partition_args(b)
    add_map_args(b)
    b.set_defaults(func=run)
    return b
