"""``planner audit``: audit a visit log (visit honesty, 风控).

    planner audit [--visits FILE] [--crs gcj02] [--far-m 500] [--max-speed-kmh 120] ... [--data DIR] --out DIR

The log comes from ``--visits FILE`` (any supported format; Chinese CRM headers recognised; phones in
China usually report GCJ-02: say so with ``--crs gcj02`` or in ``planner.toml``), else from the data
folder's ``visits.*``; accounts, reps and offices from ``--data`` (default: the demo, with its demo
log).  Writes ``flags.csv`` (one row per record and reason, with the evidence), ``audit.xlsx`` for the
risk-control team, ``unchecked.csv``, ``audit_map.html`` (flagged check-ins with a line to their
account) and ``summary.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.app import maps
from planner.app.cli.common import add_data_args, add_map_args, load_tables, map_tiles, wrote
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.audit import REASON_LABELS, write_all
from planner.solvers import audit

NEEDS = ("accounts", "reps", "offices", "visits")


def run(args: argparse.Namespace) -> int:
    tiles = map_tiles(args)
    if args.visits:
        args.file = [*(args.file or []), ("visits", args.visits)]
    tables = load_tables(args, NEEDS)
    options = options_from_args(audit.AuditOptions, args)
    plan = audit.audit(tables["visits"], tables["accounts"], tables["reps"], tables["offices"], options)
    paths = write_all(plan, args.out, inputs=tables.summary())
    if not args.no_map:
        paths.append(maps.save_html(maps.audit_map(plan, tiles=tiles),
                                    Path(args.out) / "audit_map.html"))
    s = plan.summary()
    share = s["flagged"] / max(s["visits"], 1)
    print(f"{s['visits']} records audited in {s['seconds']} s: {s['flagged']} flagged ({share:.1%}), "
          f"{s['unchecked']} not checkable")
    for r, n in s["by_reason"].items():
        if n:
            print(f"  {n:>6}  {REASON_LABELS[r]}")
    print(wrote(args, paths))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("audit", help="audit a visit log: visits far from the account, impossible speeds, "
                                     "overlaps, calls logged as visits, ...",
                       description="Flag the records of a visit log that the physics or the record itself "
                                   "contradicts, with the evidence in numbers, for the risk-control team.")
    p.add_argument("--visits", default=None, metavar="FILE", help="the visit log (default: visits.* in --data, "
                                                                   "or the demo's)")
    add_options(p, audit.AuditOptions)
    add_data_args(p)
    p.add_argument("--no-map", action="store_true", help="skip the HTML map")
    add_map_args(p)
    p.set_defaults(func=run)
    return p
