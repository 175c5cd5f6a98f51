"""``planner expansion``: score candidate cities, plan the entry roadmap and the rotation from a shell.

    planner expansion [--horizon Q] [--max-openings N] [--budget CNY] [--time-limit S] [--seed S]
                      [--review-threshold X] [--floor-per-10 X] [--require ADCODE ...]
                      [--lock PERSON=ADCODE ...] [--exclude PERSON ...] --out DIR [--data DIR]

Reads the canonical demo tables (or ``--data DIR`` holding accounts, reps,
offices, markets, cadres CSVs) and writes into ``--out``:

- ``expansion.xlsx``: ``scores`` (every component and weighted share),
  ``roadmap`` (city, quarter, team), ``rotation`` (who moves where, with
  reasons), ``people`` (everyone: moves or stays, and why), ``cash`` (the cash
  curve), ``skipped`` (cities not opened), ``binding`` (limits in words);
- ``summary.json``: status, objective, bound, gap, seconds (and the rotation's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd


def _pairs(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for it in items:
        if "=" not in it:
            raise ValueError(f"--lock {it!r} is not PERSON=ADCODE (e.g. --lock C007=350500)")
        a, b = it.split("=", 1)
        out.append((a.strip(), b.strip()))
    return tuple(out)


def run(args: argparse.Namespace) -> int:
    from planner import demo, expansion as E, rotation as R

    t0 = time.perf_counter()
    if args.horizon < 1:
        raise ValueError("--horizon must be at least 1 quarter")
    if args.max_openings < 0:
        raise ValueError("--max-openings must be >= 0")
    if args.budget < 0:
        raise ValueError("--budget must be >= 0")
    if args.time_limit <= 0:
        raise ValueError("--time-limit must be > 0")
    sc = demo.load_demo(args.data)
    scores, prob = E.demo_problem(scenario=sc)
    opt = E.RoadmapOptions(horizon_q=args.horizon, max_openings_per_q=args.max_openings, budget_cny=args.budget,
                           time_limit_s=args.time_limit, seed=args.seed, review_threshold=args.review_threshold,
                           floor_per_10_reps=args.floor_per_10, required=tuple(args.require or ()),
                           locked=_pairs(args.lock or []), excluded=tuple(args.exclude or ()),
                           explain_time_limit_s=min(5.0, args.time_limit))
    plan = E.solve_roadmap(prob, opt)
    rot = R.solve_rotation(prob, plan, R.RotationOptions(time_limit_s=args.time_limit, seed=args.seed))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = dict(zip(scores["adcode"], scores["name"]))
    team = rot.assignments.groupby("adcode")["person"].apply(lambda s: ", ".join(s))
    roadmap = plan.roadmap.drop(columns=["stages"]).assign(team=lambda d: d["adcode"].map(team).fillna(""))
    with pd.ExcelWriter(out / "expansion.xlsx", engine="openpyxl") as xw:
        scores.to_excel(xw, sheet_name="scores", index=False)
        roadmap.to_excel(xw, sheet_name="roadmap", index=False)
        rot.assignments.to_excel(xw, sheet_name="rotation", index=False)
        rot.people.to_excel(xw, sheet_name="people", index=False)
        plan.cash.to_excel(xw, sheet_name="cash", index=False)
        plan.skipped.to_excel(xw, sheet_name="skipped", index=False)
        pd.DataFrame({"binding": list(plan.binding) or ["no limit binds"]}).to_excel(xw, sheet_name="binding",
                                                                                   index=False)
    rep = plan.report
    summary = {"status": rep.status, "objective": rep.objective, "bound": rep.bound, "gap": rep.gap,
               "seconds": round(time.perf_counter() - t0, 3), "solve_seconds": round(rep.seconds, 3),
               "violated": list(rep.violated), "message": rep.message,
               "openings": [{"adcode": r.adcode, "name": names.get(r.adcode, r.name), "quarter": r.label,
                             "groups": int(r.groups)} for r in plan.roadmap.itertuples()],
               "binding": list(plan.binding), "rotation": rot.report.to_dict(),
               "cash_cumulative_cny": float(plan.cash["cumulative_cny"].iloc[-1]) if len(plan.cash) else 0.0}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"roadmap: {rep.describe()}")
    for r in plan.roadmap.itertuples():
        print(f"  {r.label}: {r.name} ({r.adcode}), {r.groups} groups, team {team.get(r.adcode, '')}")
    for b in plan.binding:
        print(f"  binding: {b}")
    print(f"rotation: {rot.report.describe()}")
    print(f"wrote {out / 'expansion.xlsx'}, {out / 'summary.json'}", file=sys.stdout)
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("expansion", help="new cities: score, entry roadmap and rotation (CP-SAT)")
    p.add_argument("--horizon", type=int, default=8, help="quarters to plan (default 8)")
    p.add_argument("--max-openings", type=int, default=2, help="openings per quarter at most (default 2)")
    p.add_argument("--budget", type=float, default=3_000_000.0, help="relocation budget in CNY (default 3,000,000)")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per solve (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--review-threshold", type=float, default=75.0, help="review score for an M1.5/M0 to step up")
    p.add_argument("--floor-per-10", type=float, default=2.0, help="cadres each home team keeps per 10 reps")
    p.add_argument("--require", nargs="*", metavar="ADCODE", help="cities that must open")
    p.add_argument("--lock", nargs="*", metavar="PERSON=ADCODE", help="people who must open a city")
    p.add_argument("--exclude", nargs="*", metavar="PERSON", help="people who do not move")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--data", default=None, help="directory of canonical CSVs (default: the demo)")
    p.set_defaults(func=run)
    return p
