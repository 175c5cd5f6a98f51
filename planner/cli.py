"""The ``planner`` command: the notebook jobs from a shell, for scripts and schedules.

    planner demo --out DIR
    planner import accounts FILE --crs gcj02 [--columns MAPPING] --out DIR

Exit codes: 0 done (an import with rejected rows is still done: the rejected
table says why); 2 bad arguments or a file that cannot be read, with a
one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from planner import __version__


def _cmd_demo(args: argparse.Namespace) -> int:
    from planner import demo, density, geo, maps, summary, schema as S

    t0 = time.perf_counter()
    sc = demo.load_demo(args.data)
    acc = sc.accounts
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    tab = summary.account_summary(acc, located=loc)
    home = sc.home_office
    rch = density.reach(acc, [(float(home[S.LON]), float(home[S.LAT]))])
    print(summary.format_summary(tab, rch, str(home[S.NAME])))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    units = geo.load_units("county")
    units = units[units["prefecture_adcode"].isin(set(loc["prefecture_adcode"]) - {""})]
    counts = tab.groupby("county_adcode")["accounts"].sum()
    m = maps.demo_map(acc, sc.offices[sc.offices[S.OFFICE_STATUS] == "current"], units, counts,
                      tiles=None if args.no_tiles else maps.DEFAULT_TILES)
    html_path = maps.save_html(m, out / "demo_map.html")
    tab.to_csv(out / "accounts_by_county.csv", index=False)
    (out / "summary.json").write_text(json.dumps({
        "accounts": int(len(acc)), "base": str(home[S.NAME]),
        "share_within_min": {str(k): round(v, 4) for k, v in rch.shares.items()},
        "median_time_min": round(float(rch.time_min.median()), 1),
        "by_prefecture": {k or "(none)": int(v) for k, v in tab.groupby("prefecture")["accounts"].sum().items()},
    }, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"\nWrote {html_path}, {out / 'accounts_by_county.csv'}, {out / 'summary.json'} "
          f"({time.perf_counter() - t0:.1f} s)")
    print("Open the notebooks: jupyter lab notebooks/00_start_here.ipynb")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from planner import io

    res = io.load(args.file, args.entity, crs=args.crs, columns=args.columns, sheet=args.sheet)
    table_path, rej_path = io.write_result(res, args.out)
    print(f"read {res.read}, loaded {res.loaded}, rejected {res.rejected_rows}")
    if res.rejected_rows:
        print(f"rejected rows and reasons: {rej_path}")
        for r in res.rejected.head(10).itertuples():
            print(f"  row {r.row} {r.field}: {r.reason} ({r.value!s})")
        if len(res.rejected) > 10:
            print(f"  ... {len(res.rejected) - 10} more problems in {rej_path.name}")
    print(f"canonical table: {table_path}")
    return 0


def _load_job_inputs(args: argparse.Namespace):
    """The demo scenario, with the user's accounts/offices files replacing the demo's when given."""
    from planner import demo, io

    sc = demo.load_demo(getattr(args, "data", None))
    acc, off = sc.accounts, sc.offices
    for name in ("accounts", "offices"):
        path = getattr(args, name, None)
        if path:
            res = io.load(path, name, crs=args.crs, columns=getattr(args, "columns", None))
            if res.rejected_rows:
                print(f"{name}: {res.summary()}; the rejected rows are left out (see planner import)")
            if name == "accounts":
                acc = res.table
            else:
                off = res.table
    return sc, acc, off


def _cmd_bases(args: argparse.Namespace) -> int:
    from planner import bases, density, geo, maps, schema as S

    sc, acc, off = _load_job_inputs(args)
    if args.capacity is not None:
        off = off.copy()
        off[S.DESKS] = args.capacity
    opt = bases.BaseOptions(k=args.k, capacitated=args.capacity is not None or args.capacitated,
                            reps=args.reps, min_team=args.min_team, weight=args.weight,
                            locked=tuple(args.lock or ()), excluded=tuple(args.exclude or ()),
                            time_limit_s=args.time_limit, seed=args.seed)
    from planner.plans import stderr_progress

    bar = stderr_progress()
    plan = bases.solve_bases(acc, off, reps=len(sc.reps), options=opt, progress=bar)
    print(f"\nsolver: {plan.report.describe()}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not len(plan.bases):
        bases.export(plan, acc, out)
        print(f"no plan: {plan.report.message}")
        return 2 if plan.report.status == "invalid" else 0
    print("\nOpen bases:")
    print(plan.bases[["id", "name", "accounts", "share", "reps", "mean_time_min"]].to_string(
        index=False, formatters={"share": "{:.1%}".format, "mean_time_min": "{:.0f}".format}))
    print("\nKPIs (today -> plan):")
    for r in plan.kpi_table().itertuples():
        print(f"  {r.kpi:<22} {r.today:>8.2f} -> {r.plan:>8.2f}")
    paths = bases.export(plan, acc, out)
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    units = geo.load_units("county")
    units = units[units["adcode"].isin(set(loc["county_adcode"]))]
    cl = density.find_clusters(acc)
    m = maps.bases_map(acc, plan, off[off[S.OFFICE_STATUS] == "current"], clusters=cl.table,
                       hexes=density.hex_cells(acc, resolution=7),
                       units=units, county_counts=loc.groupby("county_adcode").size(),
                       tiles=None if args.no_tiles else maps.DEFAULT_TILES)
    maps.save_html(m, out / "bases_map.html")
    print(f"\nWrote {', '.join(str(p) for p in paths.values())}, {out / 'bases_map.html'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="planner", description="Territory and market-expansion planner "
                                "for B2B field-sales teams.")
    p.add_argument("--version", action="version", version=f"planner {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="run the main job on the embedded Fujian demo",
                       description="Load the Fujian demo, print where the accounts are and how far they sit "
                                   "from the Xiamen office, and write an HTML map.")
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--data", default=None, help="folder with the demo CSVs (default: geodata/demo)")
    d.add_argument("--no-tiles", action="store_true", help="no background tiles (fully offline map)")
    d.set_defaults(func=_cmd_demo)

    i = sub.add_parser("import", help="load a user's file into a canonical table",
                       description="Read a CSV/Excel/GeoJSON/GeoPackage/Parquet file, map its columns, convert "
                                   "its coordinates to WGS-84 and validate every row. Writes ENTITY.csv and "
                                   "ENTITY_rejected.csv (row, id, field, value, reason) into --out.")
    i.add_argument("entity", choices=["accounts", "reps", "offices", "markets", "cadres"])
    i.add_argument("file")
    i.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84",
                   help="coordinate system of the file: wgs84 (GPS), gcj02 (Amap, Tencent), bd09 (Baidu)")
    i.add_argument("--columns", default=None,
                   help="column mapping 'field=header,...' or a JSON object/file, e.g. 'id=客户编号,lon=经度'")
    i.add_argument("--sheet", default=None, help="Excel sheet name (default: the first)")
    i.add_argument("--out", required=True, help="output folder")
    i.set_defaults(func=_cmd_import)

    b = sub.add_parser("bases", help="where to station people: choose k bases and the reps at each",
                       description="Choose K bases among today's offices and candidate sites (county seats, towns) "
                                   "to minimise account-weighted travel time (p-median; capacitated with "
                                   "--capacity), staff them, and compare KPIs with today. Runs on the demo, or on "
                                   "your --accounts/--offices files.")
    b.add_argument("--k", type=int, required=True, help="number of bases to open")
    b.add_argument("--capacity", type=int, default=None, help="desks per base (capacitated model)")
    b.add_argument("--capacitated", action="store_true", help="use the offices' own desks as capacities")
    b.add_argument("--min-team", type=int, default=2, help="minimum reps at an open base (default 2)")
    b.add_argument("--reps", type=int, default=None, help="reps to station (default: the team's size)")
    b.add_argument("--weight", choices=["count", "class", "potential"], default="count")
    b.add_argument("--lock", action="append", metavar="OFFICE_ID", help="keep this office open (repeatable)")
    b.add_argument("--exclude", action="append", metavar="OFFICE_ID", help="never open this office (repeatable)")
    b.add_argument("--time-limit", type=float, default=30.0, help="seconds for the search (default 30)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--accounts", default=None, help="your accounts file (default: the demo's)")
    b.add_argument("--offices", default=None, help="your offices/candidates file (default: the demo's)")
    b.add_argument("--crs", choices=["wgs84", "gcj02", "bd09"], default="wgs84", help="coordinates of your files")
    b.add_argument("--data", default=None, help="folder with the demo CSVs (default: geodata/demo)")
    b.add_argument("--no-tiles", action="store_true", help="no background tiles (fully offline map)")
    b.add_argument("--out", required=True, help="output folder")
    b.set_defaults(func=_cmd_bases)

    from planner import cli_days, cli_expansion, cli_targets, cli_territories

    cli_territories.register(sub)
    cli_days.register(sub)
    cli_expansion.register(sub)
    cli_targets.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from planner.io import FileReadError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (FileReadError, FileNotFoundError, ValueError) as exc:
        msg = " ".join(str(exc).split())
        print(f"planner {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
