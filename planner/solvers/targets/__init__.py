"""Targets: forecast roll-up with confidence indices, gap splits ("eating the elephant"), pay.

- ``tables``: the job's input tables, months, validation;
- ``rollup``: the reporting tree, confidence indices, roll-up, gap splits, territory targets;
- ``pay``: gold/silver/bronze pay simulation and hoarding flags;
- ``report``: the month's report the CLI and the notebook both show.
"""

from planner.solvers.targets.pay import (
    TIERS,
    HoardingRules,
    PayRules,
    hoarding_flags,
    monthly_results,
    pay_summary,
    simulate_pay,
)
from planner.solvers.targets.report import MonthReport, month_report
from planner.solvers.targets.rollup import (
    LEVEL_NAMES,
    RAMP_MULTIPLIERS,
    SOURCE_EXAMPLE,
    GapOptions,
    GapPlan,
    GapProblem,
    IndexOptions,
    Org,
    Rollup,
    RollupOptions,
    TeamHistory,
    build_org,
    confidence_indices,
    gap_problem,
    level_name,
    months_to_close,
    rollup,
    split_gap,
    split_nodes,
    subtree_monthly,
    team_history,
    territory_targets,
    waterfall,
)
from planner.solvers.targets.tables import (
    ACTUAL_CNY,
    DEALS,
    FORECAST_CNY,
    INPUT_TABLES,
    MARKET_STAGE,
    MARKET_STAGES,
    MONTH,
    OPTIONAL_TABLES,
    PERSON,
    ROLLUP_LEVEL,
    TARGET_CNY,
    TargetsData,
    add_months,
    check_month,
    check_tables,
    month_span,
    parse_month,
    refine,
    validate,
)

__all__ = [
    "MonthReport", "month_report",
    "TIERS", "HoardingRules", "PayRules", "hoarding_flags", "monthly_results", "pay_summary", "simulate_pay",
    "LEVEL_NAMES", "RAMP_MULTIPLIERS", "SOURCE_EXAMPLE", "GapOptions", "GapPlan", "GapProblem", "IndexOptions",
    "Org", "Rollup", "RollupOptions", "TeamHistory", "build_org", "confidence_indices", "gap_problem", "level_name",
    "months_to_close", "rollup", "split_gap", "split_nodes", "subtree_monthly", "team_history",
    "territory_targets", "waterfall",
    "ACTUAL_CNY", "DEALS", "FORECAST_CNY", "INPUT_TABLES", "MARKET_STAGE", "MARKET_STAGES", "MONTH", "PERSON",
    "ROLLUP_LEVEL", "TARGET_CNY", "TargetsData", "add_months", "check_month", "month_span", "parse_month",
    "OPTIONAL_TABLES", "check_tables", "refine", "validate",
]
