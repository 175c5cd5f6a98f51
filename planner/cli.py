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
    from planner import demo, geo, maps, summary, schema as S

    t0 = time.perf_counter()
    sc = demo.load_demo(args.data)
    acc = sc.accounts
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    tab = summary.account_summary(acc, located=loc)
    home = sc.home_office
    rch = summary.reach(acc, (float(home[S.LON]), float(home[S.LAT])), base_name=str(home[S.NAME]))
    print(summary.format_summary(tab, rch))
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
