"""Writing a bases plan: GeoPackage, Excel and ``summary.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.export.common import excel, to_sheet, write_json
from planner.io import to_geodataframe
from planner.solvers.bases import BasePlan


def export(plan: BasePlan, accounts: pd.DataFrame, out_dir: str | Path, *,
           inputs: dict[str, Any] | None = None,
              travel: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write the plan: GeoPackage (layers ``bases`` and ``accounts``), Excel (bases, KPIs,
    accounts with their base) and ``summary.json`` (with the input tables' counts when given).
    Returns the paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = plan.summary()
    if inputs is not None:
        summary["inputs"] = inputs
    if travel is not None:  # which backend measured the travel (planner.geo.backends.describe)
        summary["travel"] = travel
    paths = {"summary": write_json(out / "summary.json", summary)}
    if not len(plan.bases):
        return paths
    acc_out = accounts.join(plan.assignment)
    paths["gpkg"] = out / "bases_plan.gpkg"
    if paths["gpkg"].exists():
        paths["gpkg"].unlink()
    to_geodataframe(plan.bases.rename(columns={"id": S.ID})).to_file(paths["gpkg"], layer="bases", driver="GPKG")
    to_geodataframe(acc_out).to_file(paths["gpkg"], layer="accounts", driver="GPKG")
    paths["excel"] = out / "bases_plan.xlsx"
    with excel(paths["excel"]) as xw:
        to_sheet(xw, plan.bases, "bases")
        to_sheet(xw, plan.kpi_table(), "kpis")
        to_sheet(xw, acc_out, "accounts")
    return paths
