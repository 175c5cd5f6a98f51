"""Writing a territory plan: GeoPackage (accounts and reps), Excel (KPIs, a sheet per rep, moves), ``summary.json``."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.app.export.common import excel, sheet_name, to_sheet, write_csv, write_json
from planner.io import to_geodataframe
from planner.solvers.territories import TerritoryPlan


def _json_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_dict(plan: TerritoryPlan) -> dict[str, Any]:
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


CHANGE_COLUMNS = ["account", "from", "to", "change", "reason", "effective_date"]


def change_list(plan: TerritoryPlan, effective_date: date | str | None = None) -> pd.DataFrame:
    """What the CRM needs to apply the plan: one row per input account (none is left out).

    ``change``: ``move`` (to another rep), ``stays`` (same rep), ``to public pool`` (an owned account
    the plan returns), ``stays in pool``, ``kept outside`` (owner not in the plan); ``effective_date``
    (ISO ``YYYY-MM-DD``) on every row when the plan is staged, else empty."""
    a = plan.accounts
    owner, terr, outcome = a["owner"].astype(str), a["territory"].astype(str), a["outcome"].astype(str)
    change = np.select(
        [outcome.eq("assigned") & a["moved"].astype(bool), outcome.eq("assigned"),
         outcome.eq("pool") & owner.ne(S.PUBLIC_POOL), outcome.eq("pool")],
        ["move", "stays", "to public pool", "stays in pool"], default="kept outside")
    when = "" if effective_date is None else pd.Timestamp(effective_date).date().isoformat()
    return pd.DataFrame({"account": a.index.astype(str), "from": owner.to_numpy(), "to": terr.to_numpy(),
                         "change": change, "reason": a["reason"].astype(str).to_numpy(), "effective_date": when})


def write_plan(plan: TerritoryPlan, out_dir: str | Path, *, stem: str = "territories",
               inputs: dict[str, Any] | None = None,
               travel: dict[str, Any] | None = None, effective_date: date | str | None = None) -> list[Path]:
    """Write the plan as GeoPackage, Excel, the change list (CSV) and ``summary.json``; returns the paths.

    The GeoPackage has layers ``accounts`` and ``reps`` and, for contiguous plans, ``territories``
    (one polygon per rep) and ``units`` (the basic units with their territory)."""
    import geopandas as gpd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = plan.accounts.reset_index()
    paths = []
    gpkg = out / f"{stem}.gpkg"
    if gpkg.exists():
        gpkg.unlink()
    to_geodataframe(acc).to_file(gpkg, layer="accounts", driver="GPKG")
    reps = plan.reps.reset_index()
    gpd.GeoDataFrame(reps, geometry=gpd.points_from_xy(reps["base_lon"], reps["base_lat"]), crs="EPSG:4326") \
        .to_file(gpkg, layer="reps", driver="GPKG")
    if plan.areas is not None:
        plan.areas.to_file(gpkg, layer="territories", driver="GPKG")
    if plan.units is not None:
        plan.units.to_file(gpkg, layer="units", driver="GPKG")
    paths.append(gpkg)
    changes = change_list(plan, effective_date)
    paths.append(write_csv(changes, out / f"{stem}_changes.csv"))
    xlsx = out / f"{stem}.xlsx"
    kpis = pd.DataFrame({"kpi": list(plan.kpis), "value": [str(v) if isinstance(v, str) else v
                                                           for v in plan.kpis.values()]})
    report = pd.DataFrame({"kpi": ["status", "objective", "bound", "gap", "violated", "message"],
                           "value": [plan.report.status, plan.report.objective, plan.report.bound, plan.report.gap,
                                     "; ".join(plan.report.violated), plan.report.message]})
    cols = ["id", "name", "owner", "territory", "moved", "reason", "locked", "account_class", "visits_per_month",
            "workload_h", "travel_min", "potential_cny", S.LON, S.LAT]
    with excel(xlsx) as xw:
        used: set[str] = set()
        sheet = sheet_name("KPIs", used)
        to_sheet(xw, pd.concat([report, kpis], ignore_index=True), sheet)
        to_sheet(xw, plan.reps.reset_index(), sheet, startrow=len(report) + len(kpis) + 2)
        for rep_id in plan.reps.index:
            sub = acc[(acc["territory"] == rep_id) & (acc["outcome"] == "assigned")]
            to_sheet(xw, sub[[c for c in cols if c in sub]], sheet_name(rep_id, used))
        mv = acc[acc["moved"]]
        to_sheet(xw, mv[[c for c in cols if c in mv]], sheet_name("moves", used))
        to_sheet(xw, changes[changes["change"].isin(["move", "to public pool"])], sheet_name("changes", used))
        left = acc[acc["outcome"] != "assigned"]
        to_sheet(xw, left[[c for c in cols + ["outcome"] if c in left]], sheet_name("pool and kept", used))
    paths.append(xlsx)
    summary = out / "summary.json" if stem == "territories" else out / f"{stem}_summary.json"
    data = summary_dict(plan)
    data["effective_date"] = None if effective_date is None else pd.Timestamp(effective_date).date().isoformat()
    data["changes"] = {str(k): int(v) for k, v in changes["change"].value_counts().sort_index().items()}
    if inputs is not None:
        data["inputs"] = inputs
    if travel is not None:  # which backend measured the travel (planner.geo.backends.describe)
        data["travel"] = travel
    paths.append(write_json(summary, data))
    return paths
