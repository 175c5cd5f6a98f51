"""The ``planner`` command: every notebook job from a shell, for scripts and schedules.

    planner demo --out DIR                        where the accounts are, reach from the team's office
    planner import accounts FILE --crs gcj02 --out DIR
    planner bases --k 2 --out DIR                 where to station people
    planner territories --reps 21 --out DIR       balanced territories (--contiguous: drawn as areas)
    planner scenarios [--compare A B]             named territory plans saved with the data
    planner days --date 2026-11-24 --out DIR      the reps' day
    planner week --start 2026-11-23 --out DIR     the reps' week: visit cycles, eight a day, ride-alongs
    planner audit --visits FILE --out DIR         audit a visit log (visit honesty)
    planner expansion --out DIR                   new cities, roadmap, rotation
    planner targets --month 2026-11 --out DIR     forecast roll-up, gap splits, pay
    planner roads build REGION.osm.pbf --engine DIR   a local road engine from your OpenStreetMap extract
    planner roads calibrate --travel roads:DIR    fit the built-in travel model to your road times
    planner notebooks [--port N]                  the notebooks in JupyterLab
    planner days --by team [--workers N] ...      any of bases/territories/days/week per team, city or region
    planner national-demo --out DIR               a synthetic national organisation (regions, cities, teams)

Every job reads the Fujian demo, or your tables with ``--data DIR`` (see
``planner.io.workspace``), measures travel as ``--travel`` says (the built-in
model by default; road engines, OSRM, Amap: ``planner.geo.backends``), and
writes one output folder ``--out``, whole or
not at all (``planner.app.cli.runner``). Exit codes: 0 done (rows left out
are listed in ``TABLE_rejected.csv``); 2 bad settings or input that cannot be
used, with the reason on stderr; 130 interrupted (Ctrl-C), nothing written.
"""

from __future__ import annotations

import argparse

from planner import __version__


def build_parser() -> argparse.ArgumentParser:
    from planner.app.cli import (
        audit,
        bases,
        days,
        expansion,
        imports,
        national,
        notebooks,
        overview,
        roads,
        scenarios,
        targets,
        territories,
        week,
    )

    p = argparse.ArgumentParser(prog="planner", description="Territory and market-expansion planner for B2B "
                                "field-sales teams.")
    p.add_argument("--version", action="version", version=f"planner {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (overview, imports, bases, territories, scenarios, days, week, expansion, targets, audit, roads,
                   notebooks, national):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the job (see :mod:`planner.app.cli.runner` for outputs and Ctrl-C)."""
    from planner.app.cli import runner

    args = build_parser().parse_args(argv)
    if getattr(args, "out", None) is None:
        return runner.call(args.func, args)
    return runner.run(args.func, args)


__all__ = ["build_parser", "main"]
