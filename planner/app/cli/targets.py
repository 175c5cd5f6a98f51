"""``planner targets``: the month's forecast roll-up, gap splits and pay simulation.

    planner targets --month 2026-11 [--months 3] [--override REP=INDEX ...] [--team-override MANAGER=INDEX ...]
                    [--node ID ...] [--territory-total CNY] [--data DIR] --out DIR

Reads the tables ``people``, ``forecasts``, ``actuals``, ``targets`` (and
optionally ``territories``) of the workspace (default: the synthetic demo,
whose ``planner.toml`` points at ``geodata/demo/targets``; ``python -m
planner.demo.targets`` rewrites it) and writes ``targets_YYYY-MM.xlsx`` (a
sheet per level: raw sum, index, adjusted forecast, target, gap; indices; gap
summary and split; pay and tiers; hoarding; territories) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.app.cli.common import add_data_args, load_tables, wrote
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.targets import write_summary, write_workbook
from planner.errors import InputError
from planner.io.workspace import Tables
from planner.solvers import targets as T


def index_pairs(items: list[str], flag: str) -> dict[str, float]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{flag} {item!r} is not ID=INDEX (e.g. {flag} R05=0.5)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise InputError(f"{flag} {item!r}: {v!r} is not a number") from None
    return out


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    month = T.check_month(args.month, name="--month")
    data_holder: dict[str, T.TargetsData] = {}

    def refine(tables: Tables) -> Tables:
        data_holder["data"], out = T.refine(tables)
        return out

    tables = load_tables(args, T.INPUT_TABLES, T.OPTIONAL_TABLES, refine=refine)
    data = data_holder["data"]
    opt = T.RollupOptions(overrides=index_pairs(args.override, "--override"),
                          team_overrides=index_pairs(args.team_override, "--team-override"))
    rep = T.month_report(data, month, rollup_options=opt, gap_options=options_from_args(T.GapOptions, args),
                         nodes=args.node or None, territory_total_cny=args.territory_total)
    out = Path(args.out)
    xlsx = write_workbook(rep, out / f"targets_{month}.xlsx")
    source = str(tables.workspace.folder or tables.workspace.label)
    write_summary(out / "summary.json", rep, data, opt, source=source, workbook=xlsx.name, inputs=tables.summary())
    r = rep.rollup
    nd = r.nodes
    totals = r.totals()
    synthetic = bool(data.people["synthetic"].all())
    print(f"Targets for {month} ({len(nd)} people, {int(nd['has_forecast'].sum())} forecasting"
          f"{', synthetic data' if synthetic else ''})")
    print(f"  raw forecast {totals['raw_cny']:>14,.0f}   adjusted {totals['adjusted_cny']:>14,.0f}   "
          f"target {totals['target_cny']:>14,.0f}   gap {totals['gap_cny']:>14,.0f}")
    over = nd[nd["index_source"] == "override"]
    if len(over):
        print(f"  overridden indices: {', '.join(f'{p}={v:g}' for p, v in zip(over['id'], over['index']))}")
    for n, p in rep.splits[:10]:
        print(f"  {n}: {p.text}")
    if len(rep.splits) > 10:
        print(f"  ... {len(rep.splits) - 10} more gap splits in the workbook")
    hoard = rep.hoarding
    flagged = hoard[hoard["flagged"]] if len(hoard) else hoard
    if len(flagged):
        print(f"  possible hoarding: {', '.join(flagged[T.PERSON].astype(str).tolist()[:10])}"
              f"{' ...' if len(flagged) > 10 else ''}")
    print(wrote(args, [xlsx, out / "summary.json"]) + f" ({time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``targets`` sub-command to an argparse sub-parsers object."""
    p = sub.add_parser(
        "targets", help="roll up the month's forecasts, split gaps into deals, simulate pay",
        description="Roll this month's forecasts up the reporting tree with confidence indices (from history, "
                    "or overridden), split each area's gap to target into extra deals per group and month "
                    "('eating the elephant'), simulate gold/silver/bronze pay and flag possible deal "
                    "hoarding. Writes targets_MONTH.xlsx (a sheet per level) and summary.json into --out.")
    p.add_argument("--month", required=True, help="the month planned, YYYY-MM (forecasts must exist for it)")
    add_options(p, T.GapOptions)
    p.add_argument("--override", action="append", default=[], metavar="REP=INDEX",
                   help="a supervisor's confidence index for a rep (repeatable)")
    p.add_argument("--team-override", action="append", default=[], metavar="MANAGER=INDEX",
                   help="an index on a whole team as reported upward (repeatable)")
    p.add_argument("--node", action="append", default=[], metavar="ID",
                   help="manager whose gap to split over his reports (repeatable; default: every area manager)")
    p.add_argument("--territory-total", type=float, default=None, metavar="CNY",
                   help="share this monthly total over the territories by potential x ramp stage "
                        "(default: each territory's potential x its stage multiplier)")
    add_data_args(p)
    p.set_defaults(func=run)
    return p
