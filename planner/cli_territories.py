"""``planner territories``: divide the accounts among the reps from a shell.

    planner territories --reps 21 --out out/territories
    planner territories --reps 12 --tolerance 0.05 --max-moves 200 --data DIR --out DIR

Reads the demo (or canonical ``accounts``, ``reps`` and ``offices`` files in
``--data``: CSV, Excel, GeoJSON, GeoPackage or Parquet), solves with
``planner.territories`` and writes into ``--out``:

- ``territories.gpkg``: layer ``accounts`` (every input account with its
  territory, outcome and reason) and layer ``reps`` (bases and KPIs);
- ``territories.xlsx``: a ``KPIs`` sheet (overall and per rep), one sheet per
  rep with its accounts, a ``moves`` sheet and a ``pool and kept`` sheet;
- ``territories_map.html``: the map (territory colours, bases);
- ``summary.json``: status, objective, bound, gap, seconds, broken limits, KPIs;
- ``<entity>_rejected.csv`` for input rows that could not be read (if any).

``register(subparsers)`` adds the sub-command; ``write_plan`` is shared with
the notebook app's export.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

import pandas as pd

from planner import schema as S

_ENTITIES = ("accounts", "reps", "offices")


def load_tables(data_dir: str | Path | None) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Canonical accounts, reps and offices (demo when ``data_dir`` is None) and the rejected rows by entity."""
    from planner import demo, io

    if data_dir is None:
        sc = demo.load_demo()
        return {"accounts": sc.accounts, "reps": sc.reps, "offices": sc.offices}, {}
    results = io.load_folder(data_dir, _ENTITIES)
    tables = {k: r.table for k, r in results.items()}
    rejected = {k: r.rejected for k, r in results.items() if len(r.rejected)}
    return tables, rejected


def _json_number(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_dict(plan) -> dict:
    """The plan's report, overall KPIs and per-rep KPIs as plain JSON-able data."""
    rep = plan.report.to_dict()
    reps = plan.reps.reset_index().round(4)
    return {
        "status": rep["status"], "objective": rep["objective"], "bound": rep["bound"], "gap": rep["gap"],
        "seconds": round(rep["seconds"], 3), "solver": rep["solver"], "violated": rep["violated"],
        "message": rep["message"],
        "kpis": {k: _json_number(v) for k, v in plan.kpis.items()},
        "reps": [{k: _json_number(v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                 for row in reps.to_dict(orient="records")],
        "options": {"tolerance": plan.options.tolerance, "potential_tolerance": plan.options.potential_tolerance,
                    "max_moves": plan.options.max_moves, "move_penalty_min": plan.options.move_penalty_min,
                    "pool_return_days": plan.options.pool_return_days, "include_pool": plan.options.include_pool,
                    "locked": sorted(plan.options.locked), "excluded": sorted(plan.options.excluded),
                    "time_limit_s": plan.options.time_limit_s, "seed": plan.options.seed},
    }


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name))[:31] or "sheet"
    out, k = base, 2
    while out.lower() in used:
        suffix = f" ({k})"
        out = base[:31 - len(suffix)] + suffix
        k += 1
    used.add(out.lower())
    return out


def write_plan(plan, out_dir: str | Path, *, offices: pd.DataFrame | None = None,
               stem: str = "territories") -> list[Path]:
    """Write the plan as GeoPackage, Excel, HTML map and ``summary.json``; returns the paths written."""
    from planner import io

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = plan.accounts.reset_index()
    paths = []
    gpkg = out / f"{stem}.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    io.to_geodataframe(acc).to_file(gpkg, layer="accounts", driver="GPKG")
    reps = plan.reps.reset_index()
    import geopandas as gpd

    gpd.GeoDataFrame(reps, geometry=gpd.points_from_xy(reps["base_lon"], reps["base_lat"]), crs="EPSG:4326") \
        .to_file(gpkg, layer="reps", driver="GPKG")
    paths.append(gpkg)
    xlsx = out / f"{stem}.xlsx"
    kpis = pd.DataFrame({"kpi": list(plan.kpis), "value": [str(v) if isinstance(v, str) else v
                                                           for v in plan.kpis.values()]})
    report = pd.DataFrame({"kpi": ["status", "objective", "bound", "gap", "violated", "message"],
                           "value": [plan.report.status, plan.report.objective, plan.report.bound, plan.report.gap,
                                     "; ".join(plan.report.violated), plan.report.message]})
    cols = ["id", "name", "owner", "territory", "moved", "reason", "locked", "account_class", "visits_per_month",
            "workload_h", "travel_min", "potential_cny", S.LON, S.LAT]
    with pd.ExcelWriter(xlsx, engine="openpyxl") as xw:
        used: set[str] = set()
        sheet = _sheet_name("KPIs", used)
        pd.concat([report, kpis], ignore_index=True).to_excel(xw, sheet_name=sheet, index=False)
        plan.reps.reset_index().to_excel(xw, sheet_name=sheet, index=False, startrow=len(report) + len(kpis) + 2)
        for rep_id in plan.reps.index:
            sub = acc[(acc["territory"] == rep_id) & (acc["outcome"] == "assigned")]
            sub[[c for c in cols if c in sub]].to_excel(xw, sheet_name=_sheet_name(rep_id, used), index=False)
        mv = acc[acc["moved"]]
        mv[[c for c in cols if c in mv]].to_excel(xw, sheet_name=_sheet_name("moves", used), index=False)
        left = acc[acc["outcome"] != "assigned"]
        left[[c for c in cols + ["outcome"] if c in left]].to_excel(xw, sheet_name=_sheet_name("pool and kept", used),
                                                                    index=False)
    paths.append(xlsx)
    from planner import maps
    from planner.ui_territories import territory_map

    paths.append(maps.save_html(territory_map(plan, offices), out / f"{stem}_map.html"))
    summary = out / "summary.json" if stem == "territories" else out / f"{stem}_summary.json"
    summary.write_text(json.dumps(summary_dict(plan), ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    paths.append(summary)
    return paths


def _cmd_territories(args: argparse.Namespace) -> int:
    from planner import territories

    t0 = time.perf_counter()
    tables, rejected = load_tables(args.data)
    problem = territories.problem_from_tables(tables["accounts"], tables["reps"], tables["offices"], n_reps=args.reps)
    options = territories.TerritoryOptions(
        tolerance=args.tolerance, potential_tolerance=args.potential_tolerance, max_moves=args.max_moves,
        time_limit_s=args.time_limit, seed=args.seed, include_pool=args.include_pool,
        pool_return_days=None if args.pool_return_days == 0 else args.pool_return_days)

    from planner.plans import stderr_progress

    plan = territories.solve(problem, options, progress=stderr_progress(quiet=args.quiet))
    if not args.quiet:
        print(file=sys.stderr)
    out = Path(args.out)
    paths = write_plan(plan, out, offices=tables["offices"])
    for entity, rej in rejected.items():
        p = out / f"{entity}_rejected.csv"
        rej.to_csv(p, index=False)
        paths.append(p)
        print(f"{entity}: {rej['row'].nunique()} rows could not be read; reasons in {p}")
    k = plan.kpis
    print(f"Territories: {plan.report.describe()}")
    print(f"  {k['assigned']} accounts assigned to {k['reps']} reps, {k['pool']} in the pool "
          f"({k['pool_returns']} returned by the {options.pool_return_days}-day rule), {k['kept_outside']} kept "
          f"outside; {k['moved']} moved")
    print(f"  workload max/min {k['workload_max_over_min']:.3f}, potential max/min "
          f"{k['potential_max_over_min']:.3f}, mean travel {k['mean_travel_min']:.1f} min ({k['compactness']})")
    show = plan.reps[["accounts", "workload_h", "potential_cny", "travel_min_mean", "moved_in", "moved_out"]]
    print(show.round(1).to_string())
    print("Wrote " + ", ".join(str(p) for p in paths) + f" ({time.perf_counter() - t0:.1f} s)")
    return 0


def _fraction(text: str) -> float:
    """``0.1`` or ``10%``."""
    t = str(text).strip()
    try:
        return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction or percentage: {text!r}") from None


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``territories`` to an argparse sub-parsers object; returns the sub-parser."""
    p = subparsers.add_parser(
        "territories", help="divide the accounts among the reps (balanced, compact, stable)",
        description="Assign accounts to reps: workload and potential balanced within tolerances, territories "
                    "compact, as few accounts moved as possible; stale accounts back to the public pool. "
                    "Writes territories.gpkg, territories.xlsx, territories_map.html and summary.json.")
    p.add_argument("--reps", type=int, required=True, help="number of reps (sellers by id; vacancies added if more)")
    p.add_argument("--tolerance", type=_fraction, default=0.10,
                   help="workload balance, +- fraction of each rep's share (0.10 or 10%%; default 0.10)")
    p.add_argument("--potential-tolerance", type=_fraction, default=0.15, help="potential balance (default 0.15)")
    p.add_argument("--max-moves", type=int, default=None, help="at most this many accounts change owner")
    p.add_argument("--pool-return-days", type=int, default=90,
                   help="owned accounts not visited for longer go back to the public pool (0 = rule off)")
    p.add_argument("--include-pool", action="store_true", help="also divide the accounts in the public pool")
    p.add_argument("--time-limit", type=float, default=30.0, help="search time limit in seconds (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same plan)")
    p.add_argument("--data", default=None, help="folder with accounts, reps and offices files (default: the demo)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_territories)
    return p
