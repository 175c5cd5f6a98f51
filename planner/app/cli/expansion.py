"""``planner expansion``: score candidate cities, plan the entry roadmap and the rotation.

    planner expansion [--horizon Q] [--max-openings N] [--budget CNY] [--time-limit S] [--seed S]
                      [--require ADCODE ...] [--lock PERSON=ADCODE ...] [--exclude PERSON ...]
                      [--data DIR] --out DIR

Writes ``expansion.xlsx`` (scores with every component, roadmap with teams,
rotation with reasons, people, cash, skipped cities, binding limits in words)
and ``summary.json`` (status, objective, bound, gap, seconds, input counts).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.app.cli.common import add_data_args, load_tables, open_travel, wrote
from planner.app.cli.options import add_options, options_from_args
from planner.app.export.common import write_json
from planner.app.export.expansion import roadmap_with_teams, summary_dict, write_workbook
from planner.geo import backends
from planner.geo.travel import TravelBackend
from planner.io.workspace import Tables
from planner.solvers import expansion as E, rotation as R

NEEDS = ("accounts", "reps", "offices", "markets", "cadres")


def problem(tables: Tables, weights: E.ScoreWeights, roadmap: E.RoadmapOptions,
            travel: TravelBackend | None = None) -> tuple:
    """(scores, problem) on the loaded tables (``travel``: how travel between cities is measured)."""
    return E.problem_from_tables(tables["accounts"], tables["reps"], tables["offices"], tables["markets"],
                                 tables["cadres"], weights=weights, roadmap=roadmap, backend=travel)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    tables = load_tables(args, NEEDS)
    weights = options_from_args(E.ScoreWeights, args)
    opt = options_from_args(E.RoadmapOptions, args)
    with open_travel(tables) as tr:
        scores, prob = problem(tables, weights, opt, tr.backend)
    plan = E.solve_roadmap(prob, opt)
    rot = R.solve_rotation(prob, plan, options_from_args(R.RotationOptions, args, seed=opt.seed))
    out = Path(args.out)
    xlsx = write_workbook(out / "expansion.xlsx", scores, plan, rot)
    summary = summary_dict(scores, plan, rot, seconds=time.perf_counter() - t0)
    summary["inputs"] = tables.summary()
    summary["travel"] = backends.describe(tr)
    write_json(out / "summary.json", summary)
    team = roadmap_with_teams(plan, rot).set_index("adcode")["team"]
    print(f"roadmap: {plan.report.describe()}")
    for r in plan.roadmap.itertuples():
        print(f"  {r.label}: {r.name} ({r.adcode}), {r.groups} groups, team {team.get(r.adcode, '')}")
    for b in plan.binding:
        print(f"  binding: {b}")
    print(f"rotation: {rot.report.describe()}")
    print(wrote(args, [xlsx, out / "summary.json"]))
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("expansion", help="new cities: score, entry roadmap and rotation (CP-SAT)",
                       description="Score the candidate cities (markets) from your accounts, bench and offices, "
                                   "plan which city opens in which quarter, and who moves where.")
    add_options(p, E.RoadmapOptions)
    add_options(p, E.ScoreWeights)
    add_options(p, R.RotationOptions)
    add_data_args(p)
    p.set_defaults(func=run)
    return p
