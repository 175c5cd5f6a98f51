"""The month's targets report: roll-up, a gap split per manager, pay and hoarding, territory targets.

``month_report(data, month, ...)`` is what ``planner targets`` and the
targets notebook both compute for a month; each piece is a function of
:mod:`planner.solvers.targets.rollup` and :mod:`planner.solvers.targets.pay`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner.errors import InputError
from planner.solvers.targets.pay import hoarding_flags, pay_summary, simulate_pay
from planner.solvers.targets.rollup import (
    GapOptions,
    GapPlan,
    Rollup,
    RollupOptions,
    gap_problem,
    rollup,
    split_gap,
    split_nodes,
    team_history,
    territory_targets,
)
from planner.solvers.targets.tables import MONTH, TargetsData, check_month


@dataclass(frozen=True)
class MonthReport:
    """Everything the targets job reports for one month."""

    month: str
    rollup: Rollup
    splits: tuple[tuple[str, GapPlan], ...]  # (manager, plan)
    gap_summary: pd.DataFrame
    gap_split: pd.DataFrame
    pay: pd.DataFrame  # a row per rep and month before the month planned
    pay_summary: pd.DataFrame
    hoarding: pd.DataFrame
    territories: pd.DataFrame | None


def _gap_rows(splits: list[tuple[str, GapPlan]], r: Rollup) -> tuple[pd.DataFrame, pd.DataFrame]:
    summary_rows, split_rows = [], []
    for node, plan in splits:
        pb = plan.problem
        summary_rows.append({"manager": node, "name": r.node(node)["name"], "target_cny": pb.target_cny,
                             "run_rate_cny": pb.run_rate_cny, "gap_cny": plan.gap_cny, "deal_cny": pb.deal_cny,
                             "months": pb.months, "groups": len(pb.groups), "stretch_deals": sum(pb.stretch_deals),
                             "deals_needed": plan.deals_needed, "planned_deals": plan.planned_deals,
                             "shortfall_deals": plan.shortfall_deals, "shortfall_cny": plan.shortfall_cny,
                             "months_needed": plan.months_needed, "status": plan.report.status, "text": plan.text})
        split_rows.append(plan.split.assign(manager=node, deal_cny=pb.deal_cny))
    gap_split = pd.concat(split_rows, ignore_index=True) if split_rows else pd.DataFrame()
    if len(gap_split):
        gap_split = gap_split[["manager", "group", "month_no", MONTH, "stretch_deals", "new_deals", "extra_deals",
                               "extra_cny", "deal_cny"]]
    return pd.DataFrame(summary_rows), gap_split


def month_report(data: TargetsData, month: str, *, rollup_options: RollupOptions | None = None,
                 gap_options: GapOptions | None = None, nodes: list[str] | None = None,
                 territory_total_cny: float | None = None) -> MonthReport:
    """Roll ``month`` up, split each manager's gap (``nodes``; default every area manager) over
    ``gap_options.months``, simulate pay and flag hoarding over the months before, and set the
    territory targets (when the data has territories)."""
    month = check_month(month, name="month")
    gopt = gap_options or GapOptions()
    r = rollup(data, month, rollup_options)
    chosen = list(nodes) if nodes else split_nodes(r)
    unknown = [n for n in chosen if n not in r.org.index]
    if unknown:
        raise InputError([f"manager {n!r} is not in the people table" for n in unknown], what="gap split")
    hist = team_history(data, r)
    splits = [(n, split_gap(gap_problem(data, r, n, months=gopt.months, history=hist), gopt)) for n in chosen]
    gap_summary, gap_split = _gap_rows(splits, r)
    past = data.actuals[data.actuals[MONTH] < month]
    pay = simulate_pay(past)
    hoard = hoarding_flags(past, data.people.set_index("id")["manager"])
    terr = (territory_targets(data.territories, total_cny=territory_total_cny)
            if data.territories is not None else None)
    return MonthReport(month=month, rollup=r, splits=tuple(splits), gap_summary=gap_summary, gap_split=gap_split,
                       pay=pay, pay_summary=pay_summary(pay), hoarding=hoard, territories=terr)


__all__ = ["MonthReport", "month_report"]
