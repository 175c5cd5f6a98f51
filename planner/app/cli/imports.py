"""``planner import TABLE FILE``: load one of your files into a canonical table, with every bad row explained."""

from __future__ import annotations

import argparse

from planner import io, schema as S
from planner.app.cli.common import wrote
from planner.geo.coords import CRS_NAMES


def run(args: argparse.Namespace) -> int:
    res = io.load(args.file, args.entity, crs=args.crs, columns=args.columns, sheet=args.sheet)
    table_path, rej_path = io.write_result(res, args.out)
    print(f"read {res.read}, loaded {res.loaded}, rejected {res.rejected_rows}")
    for note in res.notes:
        print(f"note: {note}")
    if res.rejected_rows:
        print(f"rejected rows and reasons: {rej_path.name}")
        for r in res.rejected.head(10).itertuples():
            print(f"  row {r.row} {r.field}: {r.reason} ({r.value!s})")
        if len(res.rejected) > 10:
            print(f"  ... {len(res.rejected) - 10} more problems in {rej_path.name}")
    print(wrote(args, [table_path, rej_path]))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    i = sub.add_parser("import", help="load one of your files into a canonical table",
                       description="Read a CSV/Excel/GeoJSON/GeoPackage/Parquet file, map its columns, convert "
                                   "its coordinates to WGS-84 and validate every row. Writes TABLE.csv and "
                                   "TABLE_rejected.csv (row, id, field, value, reason) into --out.")
    i.add_argument("entity", choices=list(S.SCHEMAS), metavar="TABLE", help=", ".join(S.SCHEMAS))
    i.add_argument("file")
    i.add_argument("--crs", choices=list(CRS_NAMES), default="wgs84",
                   help="coordinate system of the file: wgs84 (GPS), gcj02 (Amap, Tencent), bd09 (Baidu)")
    i.add_argument("--columns", default=None,
                   help="column mapping 'field=header,...' or a JSON object/file, e.g. 'id=客户编号,lon=经度'")
    i.add_argument("--sheet", default=None, help="Excel sheet name (default: the first)")
    i.add_argument("--out", required=True, help="output folder")
    i.set_defaults(func=run)
    return i
