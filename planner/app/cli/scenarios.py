"""``planner scenarios``: the named plans saved with the data, listed and compared side by side.

    planner scenarios [--data DIR]                          list them
    planner scenarios --compare "2027 draft" "keep owners"  KPIs side by side (balance, travel, moves)
    planner scenarios --changes "2027 draft" --out DIR      its change list (territories_changes.csv)
    planner scenarios --delete "old draft"

Scenarios are saved by ``planner territories --scenario NAME`` (and the territories notebook) in the
data folder's ``scenarios/`` (``planner.io.scenarios``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.app.cli.common import add_data_args, workspace
from planner.app.export.common import write_csv
from planner.errors import InputError
from planner.io import scenarios


def run(args: argparse.Namespace) -> int:
    root = workspace(args).scenarios_root()
    if args.compare:
        table = scenarios.compare([scenarios.load(root, n) for n in args.compare])
        print(table.to_string())
        return 0
    if args.changes is not None:
        if args.out is None:
            raise InputError("--changes needs --out DIR")
        sc = scenarios.load(root, args.changes)
        path = write_csv(sc.changes(), Path(args.out) / "territories_changes.csv")
        print(f"Wrote {path.name} into {args.out}")
        return 0
    if args.delete is not None:
        scenarios.delete(root, args.delete)
        print(f"Deleted scenario {args.delete!r}")
        return 0
    found = scenarios.list_all(root)
    if not found:
        print(f"No scenarios in {root} (save one with planner territories --scenario NAME)")
        return 0
    for sc in found:
        k = sc.kpis
        print(f"{sc.name}: saved {sc.meta.get('saved', '?')}, effective {sc.effective_date or '-'}, "
              f"{sc.meta.get('report', {}).get('status', '?')}, moved {k.get('moved', '?')}, "
              f"workload max/min {k.get('workload_max_over_min', float('nan')):.3f}")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("scenarios", help="list and compare the named territory scenarios saved with the data",
                       description="The territory plans saved with --scenario NAME: list them, compare them side "
                                   "by side, write one's change list, delete one.")
    p.add_argument("--compare", nargs="+", metavar="NAME", help="KPIs of these scenarios side by side")
    p.add_argument("--changes", metavar="NAME", help="write this scenario's change list into --out")
    p.add_argument("--delete", metavar="NAME", help="delete this scenario")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (with --changes)")
    add_data_args(p, out=False)
    p.set_defaults(func=run)
    return p
