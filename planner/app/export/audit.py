"""Exports of a :class:`planner.solvers.audit.AuditPlan` for the risk-control team.

- ``flags.csv`` -- one row per record and reason: ``visit_id, rep, account, check_in, reason,
  evidence`` and the positions;
- ``audit.xlsx`` -- sheets ``summary`` (counts by reason with their thresholds, in Chinese and
  English), ``by_rep`` (share flagged and counts by reason), ``by_week``, ``flags``,
  ``top_accounts`` and ``unchecked``;
- ``unchecked.csv`` -- records that could not be checked, with why;
- ``summary.json`` -- :meth:`AuditPlan.summary` plus the inputs.

The map is :func:`planner.app.maps.audit_map` (the command draws it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from planner.app.export.common import excel, to_sheet, write_csv, write_json
from planner.solvers.audit import REASON_LABELS, REASONS, AuditPlan

__all__ = ["REASON_LABELS", "summary_table", "write_excel", "write_all"]

_THRESHOLD = {"far_from_account": "far_m", "impossible_speed": "max_speed_kmh", "overlap": "overlap_min",
              "call_as_visit": "min_visit_min", "outside_hours": "day_start_min", "same_spot": "same_spot_m",
              "role_mismatch": ""}


def summary_table(plan: AuditPlan) -> pd.DataFrame:
    """One row per reason: records flagged, reps involved, the threshold that decides it."""
    f = plan.flags
    o = plan.options
    rows = []
    for r in REASONS:
        fr = f[f["reason"] == r]
        key = _THRESHOLD[r]
        rows.append({"reason": r, "原因 / what": REASON_LABELS[r], "records": int(len(fr)),
                     "reps": int(fr["rep"].nunique()), "threshold": f"{key} = {getattr(o, key)}" if key else ""})
    total = {"reason": "any", "原因 / what": "任一 any reason",
             "records": int(f["visit_id"].nunique()) if len(f) else 0,
             "reps": int(f["rep"].nunique()) if len(f) else 0,
             "threshold": f"{len(plan.records)} records audited, {len(plan.unchecked)} not checkable"}
    return pd.DataFrame([*rows, total])


def _flags_out(plan: AuditPlan) -> pd.DataFrame:
    f = plan.flags.copy()
    f["what"] = f["reason"].map(REASON_LABELS)
    first = ["visit_id", "rep", "account", "check_in", "reason", "what", "evidence"]
    return f[first + [c for c in f.columns if c not in first]]


def write_excel(plan: AuditPlan, path: str | Path) -> Path:
    with excel(path) as xw:
        to_sheet(xw, summary_table(plan), "summary")
        to_sheet(xw, plan.by_rep, "by_rep")
        to_sheet(xw, plan.by_week, "by_week")
        to_sheet(xw, _flags_out(plan), "flags")
        to_sheet(xw, plan.top_accounts, "top_accounts")
        to_sheet(xw, plan.unchecked, "unchecked")
    return Path(path)


def write_all(plan: AuditPlan, out_dir: str | Path, *, inputs: dict[str, Any] | None = None) -> list[Path]:
    """``flags.csv``, ``unchecked.csv``, ``audit.xlsx`` and ``summary.json`` into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    paths = [write_csv(_flags_out(plan), d / "flags.csv"), write_csv(plan.unchecked, d / "unchecked.csv"),
             write_excel(plan, d / "audit.xlsx")]
    summ = plan.summary()
    if inputs is not None:
        summ["inputs"] = inputs
    paths.append(write_json(d / "summary.json", summ))
    return paths
