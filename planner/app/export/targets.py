"""Writing the month's targets report: a workbook (a sheet per level, indices, gap splits, pay, hoarding,
territories) and ``summary.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from planner.app.export.common import excel, to_sheet, write_json
from planner.solvers import targets as T
from planner.solvers.targets import MonthReport, RollupOptions


def _money(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in df.columns:
        if str(c).endswith("_cny") and pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(0)
        elif c in ("index", "team_index", "ratio", "rate", "effective_rate", "next_rate", "cv", "dispersion",
                   "team_dispersion", "pattern_share", "mean_deals", "deal_cny") and \
                pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(3)
    return df


def write_workbook(rep: MonthReport, path: str | Path) -> Path:
    """``targets_MONTH.xlsx``: a sheet per level, indices, gap summary and split, pay, tiers, hoarding, territories."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    r, pay = rep.rollup, rep.pay
    with excel(p) as xw:
        for lv in r.levels:
            to_sheet(xw, _money(r.level(lv)), lv[:31])
        ind = r.indices.merge(r.nodes[["id", "name", "has_forecast"]], left_on=T.PERSON, right_on="id")
        ind = ind[ind["has_forecast"] | ind["override"].notna() | (ind["history_months"] > 0)]
        to_sheet(xw, _money(ind.drop(columns=["id"])), "indices")
        to_sheet(xw, _money(rep.gap_summary), "gap_summary")
        to_sheet(xw, _money(rep.gap_split), "gap_split")
        to_sheet(xw, _money(rep.pay_summary), "pay_summary")
        if len(pay):  # a row per rep, months across: pay, and the tier each month earned (next month's rate)
            to_sheet(xw, pay.pivot(index=T.PERSON, columns=T.MONTH, values="pay_cny").round(0).reset_index(), "pay")
            to_sheet(xw, pay.pivot(index=T.PERSON, columns=T.MONTH, values="tier").reset_index(), "tiers")
        to_sheet(xw, _money(rep.hoarding), "hoarding")
        if rep.territories is not None:
            to_sheet(xw, _money(rep.territories), "territories")
    return p


def summary_dict(rep: MonthReport, data: T.TargetsData, opt: RollupOptions, *, source: str,
                 workbook: str) -> dict[str, Any]:
    """The report in brief (``summary.json``)."""
    r, pay, pay_sum, hoard = rep.rollup, rep.pay, rep.pay_summary, rep.hoarding
    totals = r.totals()
    levels = {}
    for lv in r.levels:
        t = r.level(lv)
        levels[lv] = {"rows": int(len(t)), **{c: round(float(t[c].sum()), 2)
                                             for c in ("raw_cny", "adjusted_cny", "target_cny", "gap_cny")}}
    nd = r.nodes
    over = nd[nd["index_source"] == "override"]
    hist_idx = r.indices.set_index(T.PERSON)
    flagged = hoard[hoard["flagged"]] if len(hoard) else hoard
    terr = rep.territories
    return {
        "month": rep.month, "data": source, "synthetic": bool(data.people["synthetic"].all()),
        "people": int(len(nd)), "forecasting": int(nd["has_forecast"].sum()),
        "totals": {k: round(v, 2) for k, v in totals.items()},
        "levels": levels,
        "indices": {
            "rule": "index = clip((n*ratio + k)/(n + k), min, max); ratio = actual/forecast over the last "
                    f"{opt.index.window_months} months, k = {opt.index.prior_months:g}, "
                    f"clip {opt.index.min_index:g}..{opt.index.max_index:g}",
            "from_history": int(((nd["index_source"] == "history") & nd["has_forecast"]).sum()),
            "prior_only": int(((nd["index_source"] == "prior") & nd["has_forecast"]).sum()),
            "overridden": [{"rep": p, "index": float(v),
                            "history_index": round(float(hist_idx.at[p, "history_index"]), 3)}
                           for p, v in zip(over["id"], over["index"])],
            "team_overrides": dict(opt.team_overrides),
        },
        "gap_splits": [{"manager": n, **{k: (round(v, 2) if isinstance(v, float) else v)
                                         for k, v in p.to_dict().items() if k != "report"},
                        "status": p.report.status, "violated": list(p.report.violated)} for n, p in rep.splits],
        "pay": {"months": [str(pay[T.MONTH].min()), str(pay[T.MONTH].max())] if len(pay) else [],
                "reps": int(pay_sum[T.PERSON].nunique()) if len(pay_sum) else 0,
                "total_pay_cny": round(float(pay["pay_cny"].sum()), 2) if len(pay) else 0.0,
                "gold_months": int((pay["tier"] == "gold").sum()) if len(pay) else 0},
        "hoarding": {"assessed": int(len(hoard)),
                     "flagged": [{"rep": p, "reason": why} for p, why in zip(flagged.get(T.PERSON, []),
                                                                            flagged.get("reason", []))]},
        "territories": (terr[["id", "name", "market_stage", "potential_cny", "target_cny"]].to_dict("records")
                        if terr is not None else []),
        "workbook": workbook,
    }


def write_summary(path: str | Path, rep: MonthReport, data: T.TargetsData, opt: RollupOptions, *, source: str,
                  workbook: str, inputs: dict[str, Any] | None = None) -> Path:
    summary = summary_dict(rep, data, opt, source=source, workbook=workbook)
    if inputs is not None:
        summary["inputs"] = inputs
    return write_json(path, summary)
