"""Partitioned national runs from the shell: ``planner <job> --by team|city|region`` and ``planner national-demo``.

    planner days --date 2026-11-24 --by team [--workers N | --scheduler tcp://HOST:PORT] --data DIR --out DIR
    planner week --start 2026-11-23 --by city ...      planner territories --by team ...
    planner bases --by region ...                      planner national-demo --out DIR [--regions 20 ...]

``--by`` splits the organisation (``planner.national.partition``), plans each partition in its own
worker process on Dask (a local cluster of ``--workers`` processes, default one per core; ``0``: in
this process; ``--scheduler``: the user's cluster; ``planner.national.run``) and gathers the plans
(``planner.national.merge``).  Writes into ``--out``:

- ``summary.json``: national totals, one row per partition (size, outcome, solver status, what
  it breaks, seconds, KPIs), the failed partitions with their errors, every plan that breaks a limit,
  the rows the split left out by reason, the options;
- ``partitions.csv`` (the per-partition rows), ``partition_assignment.csv`` (every row's partition and
  how it got there) and ``partition_left_out.csv`` (rows in no partition, with the reason);
- the plans' tables concatenated with a ``partition`` column: ``<job>_<table>[_DATE].csv`` (days:
  stops, left_out, kpis, contested; week: stops, rep_days, due, left_out, rides; territories:
  accounts, reps; bases: open, accounts);
- ``national_<job>[_DATE].html``: a map with one layer per partition (``--no-map`` to skip);
- with ``--partition-files``, each partition's own folder ``partitions/NAME/`` written by the job's
  usual writer (Excel itineraries, calendars, GeoPackages, ...).

Progress across partitions goes to stderr; every failed partition and every plan that breaks a
limit is printed there too, loudly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from planner.app import maps
from planner.app.cli.common import end_progress, load_tables, map_tiles, parse_day, stderr_progress, wrote
from planner.app.cli.options import options_from_args
from planner.app.export.common import file_name, write_csv, write_json
from planner.demo.national import DEFAULT_SEED
from planner.errors import InputError
from planner.national import merge as M, partition as P, run as R

NEEDS = ("accounts", "reps", "offices")


def add_partition_args(p: argparse.ArgumentParser) -> None:
    """``--by``, ``--workers``, ``--scheduler``, ``--partition-files``: a partitioned national run."""
    g = p.add_argument_group("national runs (one plan per partition, on Dask)")
    g.add_argument("--by", choices=list(P.BY), default=None,
                   help="plan each team, city (prefecture of the base office) or region (the markets table's "
                        "region, else the province) on its own, in parallel, and gather the plans")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local cluster (default: one per core; 0: in this process)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the partitions on this Dask scheduler instead of a local cluster")
    g.add_argument("--partition-files", action="store_true",
                   help="also write each partition's own output folder (partitions/NAME/) with the job's files")


def partitioned(args: argparse.Namespace) -> bool:
    """True for a ``--by`` run; ``--workers``/``--scheduler`` without ``--by`` is an error."""
    if getattr(args, "by", None):
        if args.workers is not None and args.workers < 0:
            raise InputError(f"--workers must be >= 0, got {args.workers}")
        return True
    if getattr(args, "workers", None) is not None or getattr(args, "scheduler", None):
        raise InputError("--workers and --scheduler apply to a partitioned run: add --by team|city|region")
    return False


# --------------------------------------------------------------------------- the run
def _refuse(job: str, args: argparse.Namespace, options: Any) -> None:
    """Flags a partitioned run cannot honour."""
    bad: list[str] = []
    if job == "days" and getattr(args, "ride_along", None):
        bad.append("--ride-along plans one supervisor's day: run it on his team without --by")
    if job == "week" and (getattr(args, "compare_bases", None) or getattr(args, "offer", None)):
        bad.append("--compare-bases and --offer work on one team: run them without --by")
    if job == "territories" and getattr(args, "reps", None) is not None:
        bad.append("--reps: each partition divides its accounts among its own sellers")
    if job == "bases" and getattr(options, "reps", None) is not None:
        bad.append("--reps: each partition stations its own reps")
    if bad:
        raise InputError(bad, what=f"planner {job} --by {args.by}")


def _spec(job: str, args: argparse.Namespace, tables: Any) -> R.JobSpec:
    from planner.solvers import bases, days, territories, week

    cls = {"days": days.DayOptions, "week": week.WeekOptions, "territories": territories.TerritoryOptions,
           "bases": bases.BaseOptions}[job]
    options = options_from_args(cls, args)
    _refuse(job, args, options)
    day = parse_day(args.date, "--date") if job == "days" else parse_day(args.start, "--start") \
        if job == "week" else None
    return R.job_spec(job, options, tables["accounts"], tables["reps"], day=day, days=getattr(args, "days", 5),
                      rep_ids=getattr(args, "rep", None) or None, travel=tables.workspace.travel)


def run_job(job: str, args: argparse.Namespace) -> int:
    """Run ``job`` partitioned by ``args.by`` and write its outputs (see the module docstring)."""
    tiles = map_tiles(args)
    tables = load_tables(args, NEEDS, ("markets",))
    spec = _spec(job, args, tables)
    parts = P.partition(tables["accounts"], tables["reps"], tables["offices"], by=args.by,
                        markets=tables.get("markets"))
    quiet = bool(getattr(args, "quiet", False))
    for note in parts.notes:
        print(f"  {note}", file=sys.stderr)
    done = R.run(parts, spec, workers=args.workers, scheduler=args.scheduler, progress=stderr_progress(quiet=quiet))
    end_progress(quiet)
    plan = M.merge(done)
    out = Path(args.out)
    paths = write_national(plan, out, inputs=tables.summary())
    if args.partition_files:
        paths += write_partition_files(plan, out / "partitions")
    if not getattr(args, "no_map", False):
        paths.append(maps.save_html(national_map(plan, tiles=tiles), out / f"national_{job}{_tag(plan)}.html"))
    _report(plan)
    print(wrote(args, paths))
    return 0 if plan.summary["plans_ok"] or not plan.summary["plans_failed"] else 2


def _report(plan: M.NationalPlan) -> None:
    s = plan.summary
    print(f"{s['job']} by {s['by']}: {s['partitions']} partitions, {s['plans_ok']} planned, {s['plans_skipped']} "
          f"skipped, {s['plans_failed']} failed; {s['seconds']:.1f} s on {s['mode']}")
    totals = ", ".join(f"{k} {v}" for k, v in list(s["totals"].items())[:12])
    if totals:
        print(f"  totals: {totals}")
    if s["left_out"]["rows"]:
        print(f"  left out by the split: {s['left_out']['by_table']} (partition_left_out.csv)")
    warnings = plan.warnings()
    if warnings:
        print(f"WARNING: {len(warnings)} partition(s) need attention:", file=sys.stderr)
        for w in warnings:
            print(f"  !! {w}", file=sys.stderr)


# --------------------------------------------------------------------------- files
def _tag(plan: M.NationalPlan) -> str:
    d = plan.run.spec.date
    return "" if d is None else f"_{d:%Y-%m-%d}"


def write_national(plan: M.NationalPlan, out: Path, *, inputs: dict[str, Any] | None = None) -> list[Path]:
    """``summary.json``, the per-partition rows, the split's assignment and left-out rows, the plans' tables."""
    summary = dict(plan.summary)
    if inputs is not None:
        summary["files"] = inputs
    paths = [write_json(out / "summary.json", summary)]
    rows = plan.partitions.copy()
    if "violated" in rows:
        rows["violated"] = rows["violated"].map(lambda v: "; ".join(v) if isinstance(v, list) else v)
    paths.append(write_csv(rows, out / "partitions.csv"))
    paths.append(write_csv(plan.run.partitioning.assignment, out / "partition_assignment.csv"))
    paths.append(write_csv(plan.left_out, out / "partition_left_out.csv"))
    tag = _tag(plan)
    for name, table in plan.tables.items():
        paths.append(write_csv(table, out / f"{plan.job}_{name}{tag}.csv"))
    return paths


def write_partition_files(plan: M.NationalPlan, root: Path) -> list[Path]:
    """Each planned partition's own folder, written by the job's usual writer."""
    from planner.app.export import bases as xb, days as xd, territories as xt, week as xw

    paths: list[Path] = []
    run = plan.run
    for part, res in zip(run.partitioning.partitions, run.results):
        if not res.ok:
            continue
        d = root / file_name(part.name)
        if plan.job == "days":
            paths += xd.write_all(res.plan, d)
        elif plan.job == "week":
            paths += xw.write_all(res.plan, d)
        elif plan.job == "territories":
            paths += xt.write_plan(res.plan, d)
        else:
            paths += list(xb.export(res.plan, part.accounts, d).values())
    return paths


# --------------------------------------------------------------------------- the map
def _feature_collection(points: pd.DataFrame, m: Any) -> dict[str, Any]:
    lon, lat = maps.to_display(m, points["lon"].to_numpy(float), points["lat"].to_numpy(float))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 6), round(float(y), 6)]},
         "properties": {"t": maps.esc(f"{k} {lab}".strip())}}
        for x, y, k, lab in zip(lon, lat, points["kind"], points["label"])]}


def _add_group(m: Any, g: M.LayerGroup, colour: str) -> Any:
    import folium

    shown = "" if len(g.points) == g.total_points else f", {len(g.points)} of {g.total_points} shown"
    fg = folium.FeatureGroup(name=maps.esc(f"{g.name} ({g.status}{shown})"))
    if len(g.points):
        folium.GeoJson(_feature_collection(g.points, m), marker=folium.CircleMarker(
            radius=3, weight=1, color=colour, fill=True, fill_color=colour, fill_opacity=0.75),
            tooltip=folium.GeoJsonTooltip(fields=["t"], labels=False)).add_to(fg)
    for route in g.routes:
        lon, lat = maps.to_display(m, [p[0] for p in route], [p[1] for p in route])
        folium.PolyLine([[float(b), float(a)] for a, b in zip(lon, lat)], color=colour, weight=2,
                        opacity=0.7).add_to(fg)
    lon, lat = maps.to_display(m, g.sites["lon"].to_numpy(float), g.sites["lat"].to_numpy(float))
    for x, y, label in zip(lon, lat, g.sites["label"]):
        folium.RegularPolygonMarker([float(y), float(x)], number_of_sides=4, radius=6, color="#111", weight=1,
                                    fill=True, fill_color=colour, fill_opacity=1.0,
                                    tooltip=maps.tip(f"{g.name}: {label}")).add_to(fg)
    fg.add_to(m)
    return fg


def national_map(plan: M.NationalPlan, *, max_points: int = 50_000, tiles: str | None = maps.DEFAULT_TILES) -> Any:
    """One layer group per partition (points, routes, sites in the partition's colour), a legend, the layer list."""
    groups = M.layer_groups(plan, max_points=max_points)
    lon = pd.concat([g.points["lon"] for g in groups] + [g.sites["lon"] for g in groups] + [pd.Series(dtype=float)])
    lat = pd.concat([g.points["lat"] for g in groups] + [g.sites["lat"] for g in groups] + [pd.Series(dtype=float)])
    bounds = (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())) if len(lon) else None
    m = maps.base_map(bounds=bounds, tiles=tiles)
    colours = {g.name: maps.QUALITATIVE[g.colour % len(maps.QUALITATIVE)] for g in groups}
    layers = {g.name: _add_group(m, g, colours[g.name]) for g in groups}
    shown = groups[:40]
    maps.add_legend(m, f"{plan.job} by {plan.run.partitioning.by}: {len(groups)} partitions",
                    {g.name: colours[g.name] for g in shown}, layers={g.name: layers[g.name] for g in shown},
                    note="" if len(groups) <= 40 else f"the first 40 of {len(groups)}; every one in the layer list")
    maps.add_layer_control(m)
    return m


# --------------------------------------------------------------------------- planner national-demo
def run_demo(args: argparse.Namespace) -> int:
    from planner.demo import national as N

    cfg = N.NationalConfig(regions=args.regions, reps=args.reps, accounts=args.accounts, seed=args.seed)
    paths = N.write(Path(args.out), cfg, fmt=args.format)
    print(f"a synthetic organisation: {cfg.regions} regions, {cfg.reps} people, {cfg.accounts} accounts "
          f"(seed {cfg.seed}); appointments on {N.APPOINTMENT_DATE}, week from {N.TODAY}")
    print(wrote(args, paths))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``national-demo`` (the ``--by`` flags are added by each job's own sub-command)."""
    p = sub.add_parser("national-demo", help="write a synthetic national organisation (regions, cities, teams)",
                       description="Write accounts, reps and offices of a seeded synthetic organisation over "
                                   "real prefectures: regions (provinces), cities, offices, teams of 8-12 under "
                                   "supervisors, accounts around towns. Plan it with --data DIR --by ...")
    p.add_argument("--regions", type=int, default=20, help="regions (provinces), default 20")
    p.add_argument("--reps", type=int, default=10_000, help="people, managers included (default 10000)")
    p.add_argument("--accounts", type=int, default=400_000, help="accounts (default 400000)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format (default csv)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run_demo)
    return p
