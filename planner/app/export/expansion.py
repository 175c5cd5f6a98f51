"""Writing an expansion plan: the workbook (scores, roadmap, rotation, people, cash, skipped, binding)
and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app.export.common import excel, to_sheet
from planner.solvers.expansion import RoadmapPlan
from planner.solvers.rotation import RotationPlan


def roadmap_with_teams(plan: RoadmapPlan, rot: RotationPlan) -> pd.DataFrame:
    """The roadmap with each opening's team (the people the rotation sends)."""
    team = rot.assignments.groupby("adcode")["person"].apply(lambda s: ", ".join(s))
    return plan.roadmap.drop(columns=["stages"]).assign(team=lambda d: d["adcode"].map(team).fillna(""))


def write_workbook(path: str | Path, scores: pd.DataFrame, plan: RoadmapPlan, rot: RotationPlan) -> Path:
    """``expansion.xlsx``: scores, roadmap (with teams), rotation, people, cash, skipped, binding."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with excel(p) as xw:
        to_sheet(xw, scores, "scores")
        to_sheet(xw, roadmap_with_teams(plan, rot), "roadmap")
        to_sheet(xw, rot.assignments, "rotation")
        to_sheet(xw, rot.people, "people")
        to_sheet(xw, plan.cash, "cash")
        to_sheet(xw, plan.skipped, "skipped")
        to_sheet(xw, pd.DataFrame({"binding": list(plan.binding) or ["no limit binds"]}), "binding")
    return p


def summary_dict(scores: pd.DataFrame, plan: RoadmapPlan, rot: RotationPlan, *, seconds: float) -> dict[str, Any]:
    """Status, objective, bound, gap, seconds, the openings, binding limits, the rotation's report, the cash."""
    rep = plan.report
    names = dict(zip(scores[S.ADCODE], scores[S.NAME]))
    return {"status": rep.status, "objective": rep.objective, "bound": rep.bound, "gap": rep.gap,
            "seconds": round(seconds, 3), "solve_seconds": round(rep.seconds, 3),
            "violated": list(rep.violated), "message": rep.message,
            "openings": [{"adcode": r.adcode, "name": names.get(r.adcode, r.name), "quarter": r.label,
                          "groups": int(r.groups)} for r in plan.roadmap.itertuples()],
            "binding": list(plan.binding), "rotation": rot.report.to_dict(),
            "cash_cumulative_cny": float(plan.cash["cumulative_cny"].iloc[-1]) if len(plan.cash) else 0.0}
