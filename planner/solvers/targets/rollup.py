"""Targets: forecasts rolled up with confidence indices, the gap split into deals, pay tiers.

The job of ``DOMAIN.md`` section 5, as pure functions over plain tables:

- **Roll-up** (``rollup``). Each rep forecasts the month; the supervisor
  applies a confidence index per rep. The default index comes from history
  (``confidence_indices``): over the last ``window_months`` months before the
  month planned, with ``n`` months where the rep forecast more than 0,
  ``ratio = sum(actual) / sum(forecast)`` and::

      index = clip((n * ratio + k * 1.0) / (n + k), min_index, max_index)

  i.e. the ratio shrunk towards 1.0 with the weight of ``k = prior_months``
  imaginary months that came out exactly as forecast (an empirical-Bayes style
  rule: a new rep gets 1.0, a rep with a year of 50% hit rate about 0.6).
  A supervisor's override (``overrides[rep] = index``) replaces it and is
  kept and shown (``index_source == "override"``). A manager may also put an
  index on a whole team reported to him (``team_overrides[manager] = index``,
  the source's area manager judging a supervisor's forecast; 1.0 by default).
  Every level shows the raw sum, the adjusted forecast, the target and the gap
  (target - adjusted); raw and target are plain sums of the subtree, and the
  adjusted forecast of a node is ``team_index * (own adjusted + sum of the
  children's adjusted)``, so with no team overrides every column sums exactly.
- **Levels** come from the tree, not from job titles: a node's height is 0 for
  a person with no reports and 1 + the largest height of its reports; heights
  0..4 are named rep, supervisor, area, region, national. The table for a
  level (``Rollup.level``) is the cut of the tree at that height (the highest
  node of each branch whose height is at most the level's), plus an "(own)"
  row for any manager above the cut who forecasts or is targeted himself, so
  every level's rows add up to the national total.
- **Eating the elephant** (``split_gap``): target versus run-rate gives a gap;
  the run-rate climbs by ``gap / months`` each month and the climb is cut into
  deals of the average size for the groups, respecting each group's stretch.
- **New territories** (``territory_targets``): potential x ramp-stage multiplier.
- **Pay** (``simulate_pay``): gold/silver/bronze; this month's result sets next
  month's commission rate. ``hoarding_flags`` flags reps whose results bunch
  into single months.

Input tables (``TargetsData``, checked by ``check_tables``; the workspace loader reads a
folder of CSV/Excel files): ``people`` (canonical rep columns ``id``, ``name``,
``level``, ``team``, ``manager``: each person's manager id, empty only at the
top), ``forecasts`` (``rep``, ``month``, ``forecast_cny``), ``actuals``
(``rep``, ``month``, ``actual_cny``, ``deals``), ``targets`` (``rep``, ``month``,
``target_cny``) and optionally ``territories`` (``id``, ``name``,
``potential_cny``, ``market_stage``). Months are ``YYYY-MM``; money is CNY.

Layout: the input tables (columns, months, validation) live in
:mod:`planner.solvers.targets.tables`, pay and hoarding in :mod:`planner.solvers.targets.pay`;
this module holds the tree, the roll-up, the gap split and territory targets,
and re-exports every public name of the other two.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import raise_if_any
from planner.options import Options, option
from planner.plans import SolveReport
from planner.solvers.targets.pay import (  # noqa: F401  (re-exported: pay and hoarding)
    TIERS,
    HoardingRules,
    PayRules,
    hoarding_flags,
    monthly_results,
    pay_summary,
    simulate_pay,
)
from planner.solvers.targets.tables import (  # noqa: F401  (re-exported: the input tables)
    ACTUAL_CNY,
    DEALS,
    FORECAST_CNY,
    INPUT_TABLES,
    MARKET_STAGE,
    MARKET_STAGES,
    MONTH,
    PERSON,
    ROLLUP_LEVEL,
    TARGET_CNY,
    TargetsData,
    add_months,
    check_month,
    check_tables,
    month_span,
    parse_month,
    validate,
)

LEVEL_NAMES = ("rep", "supervisor", "area", "region", "national")
# Share of a territory's monthly potential expected as this month's target at
# each market-density stage (DOMAIN.md section 4): an assumption, a parameter.
RAMP_MULTIPLIERS: Mapping[str, float] = MappingProxyType(
    {"sowing": 0.10, "cultivating": 0.25, "growing": 0.50, "harvesting": 0.80})


# --- the tree --------------------------------------------------------------------------

@dataclass(frozen=True)
class Org:
    """The reporting tree as arrays over ``ids`` (the people table's order)."""

    ids: tuple[str, ...]
    parent: np.ndarray  # index of the manager, -1 at the top
    depth: np.ndarray
    height: np.ndarray
    leaves: np.ndarray  # people without reports in each subtree
    root: int

    @cached_property
    def index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.ids)}

    def children(self, i: int) -> list[int]:
        return np.flatnonzero(self.parent == i).tolist()

    def subtree_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` (rows = people) over each person's subtree, self included."""
        return _subtree_sum(self.parent, self.depth, values)

    def path(self, i: int) -> list[str]:
        out = []
        while i >= 0:
            out.append(self.ids[i])
            i = int(self.parent[i])
        return out[::-1]


def _subtree_sum(parent: np.ndarray, depth: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float, copy=True)
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        np.add.at(out, parent[at], out[at])
    return out


def build_org(people: pd.DataFrame) -> Org:
    """The tree of a validated ``people`` table (one top, no cycles)."""
    ids = tuple(people[S.ID])
    idx = {p: i for i, p in enumerate(ids)}
    parent = np.array([idx.get(m, -1) if m else -1 for m in people[S.MANAGER]], dtype=int)
    roots = np.flatnonzero(parent < 0)
    if len(roots) != 1:
        raise ValueError(f"the tree needs exactly one top, found {len(roots)}: validate the people table first")
    n = len(ids)
    depth = np.full(n, -1, dtype=int)
    depth[roots[0]] = 0
    frontier = [int(roots[0])]
    kids: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p >= 0:
            kids[p].append(i)
    while frontier:
        nxt = []
        for i in frontier:
            for c in kids[i]:
                depth[c] = depth[i] + 1
                nxt.append(c)
        frontier = nxt
    if (depth < 0).any():
        raise ValueError("the tree has a cycle: validate the people table first")
    height = np.zeros(n, dtype=int)
    for d in range(int(depth.max()), 0, -1):
        at = np.flatnonzero(depth == d)
        np.maximum.at(height, parent[at], height[at] + 1)
    leaves = np.array([0.0 if kids[i] else 1.0 for i in range(n)])
    return Org(ids=ids, parent=parent, depth=depth, height=height,
               leaves=_subtree_sum(parent, depth, leaves).astype(int), root=int(roots[0]))


def level_name(height: int) -> str:
    return LEVEL_NAMES[height] if 0 <= height < len(LEVEL_NAMES) else f"level {height}"


# --- confidence indices and the roll-up --------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class IndexOptions:
    """How default confidence indices come from history (see the module docstring)."""

    prior_months: float = 3.0
    window_months: int = 12
    min_index: float = 0.3
    max_index: float = 1.5

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.prior_months) and self.prior_months >= 0):
            problems.append("prior_months must be >= 0")
        if self.window_months < 1:
            problems.append("window_months must be at least 1")
        if not 0 <= self.min_index <= 1 <= self.max_index:
            problems.append("min_index must be in 0..1 and max_index at least 1")
        raise_if_any(problems, what="index options")


def confidence_indices(forecasts: pd.DataFrame, actuals: pd.DataFrame, month: str, people: list[str] | None = None,
                       *, options: IndexOptions | None = None) -> pd.DataFrame:
    """Default index per rep from the months before ``month`` (one row per rep, ``rep`` index).

    Columns: ``history_months`` (n), ``forecast_sum_cny``, ``actual_sum_cny``,
    ``ratio`` (actual/forecast, NaN without history), ``index`` (shrunk and clipped).
    Only months with both a forecast above 0 and an actual count.
    """
    opt = options or IndexOptions()
    month = check_month(month)
    lo = add_months(month, -opt.window_months)
    f = forecasts[(forecasts[MONTH] >= lo) & (forecasts[MONTH] < month) & (forecasts[FORECAST_CNY] > 0)]
    both = f[[PERSON, MONTH, FORECAST_CNY]].merge(actuals[[PERSON, MONTH, ACTUAL_CNY]], on=[PERSON, MONTH])
    g = both.groupby(PERSON).agg(history_months=(MONTH, "size"), forecast_sum_cny=(FORECAST_CNY, "sum"),
                                 actual_sum_cny=(ACTUAL_CNY, "sum"))
    reps = people if people is not None else sorted(set(forecasts[PERSON]) | set(actuals[PERSON]))
    g = g.reindex(reps)
    g.index.name = PERSON
    g["history_months"] = g["history_months"].fillna(0).astype(int)
    g[["forecast_sum_cny", "actual_sum_cny"]] = g[["forecast_sum_cny", "actual_sum_cny"]].fillna(0.0)
    n = g["history_months"].to_numpy(float)
    ratio = np.where(n > 0, g["actual_sum_cny"] / np.where(n > 0, g["forecast_sum_cny"], 1.0), np.nan)
    g["ratio"] = ratio
    k = opt.prior_months
    shrunk = np.where(n > 0, (n * np.nan_to_num(ratio) + k) / np.maximum(n + k, 1e-12), 1.0)
    g["index"] = np.clip(shrunk, opt.min_index, opt.max_index)
    return g


def _check_index_map(m: Mapping[str, float], name: str, problems: list[str]) -> dict[str, float]:
    """``m`` with string keys and float indices; each index not a number in 0..3 is added to ``problems``."""
    out = {}
    for k, v in dict(m).items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            problems.append(f"{name}[{k!r}] = {v!r} must be a number in 0..3")
            continue
        if not (math.isfinite(x) and 0 <= x <= 3):
            problems.append(f"{name}[{k!r}] = {x} must be a number in 0..3")
        out[str(k)] = x
    return out


@dataclass(frozen=True, kw_only=True)
class RollupOptions:
    """``overrides``: rep -> confidence index set by the supervisor; ``team_overrides``:
    manager -> index applied to that manager's whole team as reported upward."""

    index: IndexOptions = field(default_factory=IndexOptions)
    overrides: Mapping[str, float] = field(default_factory=dict)
    team_overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems: list[str] = []
        object.__setattr__(self, "overrides", _check_index_map(self.overrides, "overrides", problems))
        object.__setattr__(self, "team_overrides", _check_index_map(self.team_overrides, "team_overrides", problems))
        raise_if_any(problems, what="roll-up options")


@dataclass(frozen=True)
class Rollup:
    """The month's roll-up: ``nodes`` has one row per person (people order)."""

    month: str
    nodes: pd.DataFrame
    indices: pd.DataFrame
    org: Org
    options: RollupOptions

    @property
    def levels(self) -> tuple[str, ...]:
        top = max(len(LEVEL_NAMES) - 1, int(self.org.height.max()))
        return tuple(level_name(h) for h in range(top + 1))

    @property
    def total(self) -> pd.Series:
        return self.nodes.iloc[self.org.root]

    def node(self, person: str) -> pd.Series:
        return self.nodes.iloc[self.org.index[person]]

    def level(self, which: str | int) -> pd.DataFrame:
        """Rows of one level: the cut of the tree at that height plus "(own)" rows above it.

        ``row`` says what a row is: ``person`` (no reports), ``team`` (a manager's
        whole subtree) or ``own`` (a manager's own forecast and target, when
        he has any, shown on the levels below his). The rows of every level add
        up to the top's raw, target (and adjusted, when no team index is set).
        """
        if isinstance(which, str) and which not in self.levels:
            raise ValueError(f"unknown level {which!r}: use one of {', '.join(self.levels)}")
        h = self.levels.index(which) if isinstance(which, str) else int(which)
        nd = self.nodes
        height = self.org.height
        par = self.org.parent
        par_h = np.where(par >= 0, height[np.maximum(par, 0)], np.iinfo(np.int64).max)
        cut = nd[(height <= h) & (par_h > h)].copy()
        cut["row"] = np.where(cut["height"] > 0, "team", "person")
        cut.loc[cut["height"] > 0, "index"] = np.nan
        cut.loc[cut["height"] > 0, "index_source"] = ""
        own = nd[(height > h) & nd["has_own_figures"].to_numpy()].copy()
        if len(own):
            own["row"] = "own"
            own[S.NAME] = own[S.NAME] + " (own)"
            own["raw_cny"] = own["own_forecast_cny"]
            own["adjusted_cny"] = own["own_adjusted_cny"] * own["team_index"]
            own["target_cny"] = own["own_target_cny"]
            own["gap_cny"] = own["target_cny"] - own["adjusted_cny"]
            own["reps"] = 1
            own["overridden_in_team"] = (own["index_source"] == "override").astype(int)
        rows = pd.concat([cut, own]) if len(own) else cut
        rows = rows.sort_values(["path", "row"], kind="stable")
        cols = [S.ID, S.NAME, "row", ROLLUP_LEVEL, "path", S.MANAGER, "reps", "raw_cny", "index",
                "index_source", "overridden_in_team", "team_index", "adjusted_cny", "target_cny", "gap_cny"]
        return rows[cols].reset_index(drop=True)

    def totals(self) -> dict[str, float]:
        t = self.total
        return {k: float(t[k]) for k in ("raw_cny", "adjusted_cny", "target_cny", "gap_cny")}


def rollup(data: TargetsData, month: str, options: RollupOptions | None = None) -> Rollup:
    """Roll this month's forecasts up the tree with confidence indices (module docstring).

    Every person appears once in ``nodes`` (people without a forecast this
    month have 0 and ``has_forecast == False``). ValueError when the month has
    no forecasts, or an override names an unknown person (or a team override a
    person without reports).
    """
    opt = options or RollupOptions()
    month = check_month(month)
    org = build_org(data.people)
    ids = list(org.ids)
    idx = org.index
    bad = sorted(set(opt.overrides) - set(ids))
    if bad:
        raise ValueError(f"overrides name people not in the tree: {bad}")
    bad = sorted(p for p in opt.team_overrides if p not in idx or org.height[idx[p]] == 0)
    if bad:
        raise ValueError(f"team_overrides name people without reports (use overrides for reps): {bad}")
    fm = data.forecasts[data.forecasts[MONTH] == month]
    if fm.empty:
        months = data.forecast_months
        raise ValueError(f"no forecasts for month {month}; the forecasts cover {months[0] if months else '-'}"
                         f"..{months[-1] if months else '-'}")
    n = len(ids)
    own_f = np.zeros(n)
    has_f = np.zeros(n, dtype=bool)
    pos = fm[PERSON].map(idx).to_numpy(dtype=int)
    own_f[pos] = fm[FORECAST_CNY].to_numpy(float)
    has_f[pos] = True
    tm = data.targets[data.targets[MONTH] == month]
    own_t = np.zeros(n)
    own_t[tm[PERSON].map(idx).to_numpy(dtype=int)] = tm[TARGET_CNY].to_numpy(float)

    ind = confidence_indices(data.forecasts, data.actuals, month, ids, options=opt.index)
    index = ind["index"].to_numpy(float).copy()
    source = np.where(ind["history_months"].to_numpy() > 0, "history", "prior").astype(object)
    overridden = np.zeros(n, dtype=bool)
    for p, v in opt.overrides.items():
        index[idx[p]] = v
        source[idx[p]] = "override"
        overridden[idx[p]] = True
    ind = ind.assign(history_index=ind["index"], override=[opt.overrides.get(p, np.nan) for p in ids],
                     index=index, index_source=source)
    team_index = np.ones(n)
    team_over = np.zeros(n, dtype=bool)
    for p, v in opt.team_overrides.items():
        team_index[idx[p]] = v
        team_over[idx[p]] = True

    own_adj = own_f * index
    # adjusted: deepest first, each node reports team_index * (own + children's reported)
    team_adj = own_adj.copy()
    adjusted = np.zeros(n)
    for d in range(int(org.depth.max()), -1, -1):
        at = np.flatnonzero(org.depth == d)
        adjusted[at] = team_adj[at] * team_index[at]
        if d > 0:
            np.add.at(team_adj, org.parent[at], adjusted[at])
    raw = org.subtree_sum(own_f)
    target = org.subtree_sum(own_t)
    n_over = org.subtree_sum((overridden & has_f) | team_over).astype(int)
    pp = data.people
    paths = [" / ".join(org.path(i)) for i in range(n)]
    nodes = pd.DataFrame({
        S.ID: ids, S.NAME: pp[S.NAME].to_numpy(), S.LEVEL: pp[S.LEVEL].to_numpy(),
        ROLLUP_LEVEL: [level_name(int(h)) for h in org.height], "height": org.height, "depth": org.depth,
        S.MANAGER: pp[S.MANAGER].to_numpy(), "path": paths, "reps": org.leaves,
        "has_forecast": has_f, "own_forecast_cny": own_f, "index": index, "index_source": source,
        "own_adjusted_cny": own_adj, "own_target_cny": own_t,
        "has_own_figures": has_f | (own_t > 0),
        "raw_cny": raw, "team_adjusted_cny": team_adj, "team_index": team_index, "team_overridden": team_over,
        "adjusted_cny": adjusted, "target_cny": target, "gap_cny": target - adjusted,
        "overridden_in_team": n_over, S.SYNTHETIC: pp[S.SYNTHETIC].to_numpy(),
    })
    return Rollup(month=month, nodes=nodes, indices=ind.reset_index(), org=org, options=opt)


def waterfall(r: Rollup, person: str) -> pd.DataFrame:
    """Steps from the raw forecast to the target for one node, for a waterfall chart.

    ``raw forecast`` (total), one step per report (and "own") = its adjusted minus
    its raw, a ``team index`` step when the node's team index is not 1,
    ``adjusted`` (total), ``gap`` (step to the target), ``target`` (total).
    Columns: ``label``, ``kind`` (total/step), ``start_cny``, ``end_cny``.
    """
    org = r.org
    i = org.index[person]
    nd = r.nodes
    me = nd.iloc[i]
    steps = [("raw forecast", "total", 0.0, float(me["raw_cny"]))]
    level = float(me["raw_cny"])
    parts = []
    if me["has_forecast"]:
        parts.append(("own" if org.height[i] > 0 else f"index x{me['index']:.2f}",
                      float(me["own_adjusted_cny"] - me["own_forecast_cny"])))
    for c in org.children(i):
        ch = nd.iloc[c]
        parts.append((f"{ch[S.ID]} x{ch['adjusted_cny'] / ch['raw_cny']:.2f}" if ch["raw_cny"] else str(ch[S.ID]),
                      float(ch["adjusted_cny"] - ch["raw_cny"])))
    for label, delta in parts:
        steps.append((label, "step", level, level + delta))
        level += delta
    if me["team_index"] != 1.0:
        steps.append((f"team index x{me['team_index']:.2f}", "step", level, float(me["adjusted_cny"])))
    level = float(me["adjusted_cny"])
    steps.append(("adjusted", "total", 0.0, level))
    steps.append(("gap", "step", level, float(me["target_cny"])))
    steps.append(("target", "total", 0.0, float(me["target_cny"])))
    return pd.DataFrame(steps, columns=["label", "kind", "start_cny", "end_cny"])


def subtree_monthly(data: TargetsData, org: Org, column: str, months: list[str]) -> pd.DataFrame:
    """``column`` of ``actuals``/``forecasts``/``targets`` summed over each subtree: people x months."""
    src = {ACTUAL_CNY: data.actuals, DEALS: data.actuals, FORECAST_CNY: data.forecasts,
           TARGET_CNY: data.targets}[column]
    src = src[src[MONTH].isin(months)]
    mat = np.zeros((len(org.ids), len(months)))
    if len(src):
        r = src[PERSON].map(org.index).to_numpy(dtype=int)
        c = src[MONTH].map({m: j for j, m in enumerate(months)}).to_numpy(dtype=int)
        np.add.at(mat, (r, c), src[column].to_numpy(float))
    return pd.DataFrame(org.subtree_sum(mat), index=list(org.ids), columns=months)


# --- eating the elephant --------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class GapProblem:
    """A team's monthly target, today's run-rate, the months to close the gap, its groups.

    ``stretch_deals[g]``: how many more deals a month group ``g`` can add on top
    of the previous month (its ramp speed); ``gap_problem`` takes it from
    history: the best run of months above the group's average, in deals.
    """

    target_cny: float
    run_rate_cny: float
    months: int
    deal_cny: float
    groups: tuple[str, ...]
    stretch_deals: tuple[int, ...]
    start_month: str | None = None

    def __post_init__(self) -> None:
        problems = []
        for name, v in (("target_cny", self.target_cny), ("run_rate_cny", self.run_rate_cny)):
            if not (math.isfinite(v) and v >= 0):
                problems.append(f"{name} must be a number >= 0, got {v}")
        if int(self.months) != self.months or self.months < 1:
            problems.append(f"months must be a whole number >= 1, got {self.months}")
        if not (math.isfinite(self.deal_cny) and self.deal_cny > 0):
            problems.append(f"deal_cny must be > 0, got {self.deal_cny}")
        object.__setattr__(self, "groups", tuple(str(g) for g in self.groups))
        object.__setattr__(self, "stretch_deals", tuple(int(s) for s in self.stretch_deals))
        if not self.groups:
            problems.append("groups must not be empty")
        if len(set(self.groups)) != len(self.groups):
            problems.append("groups must be unique")
        if len(self.stretch_deals) != len(self.groups):
            problems.append("stretch_deals needs one value per group")
        if any(s < 0 for s in self.stretch_deals):
            problems.append("stretch_deals must be >= 0")
        if self.start_month is not None:
            month = parse_month(self.start_month)
            if month is None:
                problems.append(f"start_month {self.start_month!r} is not a month YYYY-MM")
            object.__setattr__(self, "start_month", month)
        raise_if_any(problems, what="gap problem")


@dataclass(frozen=True, kw_only=True)
class GapOptions(Options):
    """``months``: months to close the gap; ``rounding``: deals needed by month t = round-half-up
    (``nearest``) or ceiling (``up``) of t x step / deal; ``max_months``: how far to look for the
    months a gap that cannot close in time would need."""

    what = "gap settings"

    months: int = option(3, doc="months to close each gap", label="Months", min=1, max=36, ui_max=12)
    rounding: Literal["nearest", "up"] = option("nearest", doc="deals needed rounded to nearest or up",
                                                choices=("nearest", "up"), ui=False)
    max_months: int = option(120, doc="how far to look for the months a gap would need", min=1, cli=False,
                             ui=False)


@dataclass(frozen=True)
class GapPlan:
    """``split``: group x month (``new_deals`` this month, ``extra_deals`` over today's
    run-rate, ``extra_cny``); ``by_month``: required vs planned per month."""

    problem: GapProblem
    split: pd.DataFrame
    by_month: pd.DataFrame
    report: SolveReport
    gap_cny: float
    step_cny: float
    deals_needed: int
    planned_deals: int
    shortfall_deals: int
    shortfall_cny: float
    rounding_residual_cny: float
    months_needed: int | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"gap_cny": self.gap_cny, "step_cny": self.step_cny, "deals_needed": self.deals_needed,
                "planned_deals": self.planned_deals, "shortfall_deals": self.shortfall_deals,
                "shortfall_cny": self.shortfall_cny, "rounding_residual_cny": self.rounding_residual_cny,
                "months_needed": self.months_needed, "text": self.text, "report": self.report.to_dict()}


def _round(x: float, rounding: str) -> int:
    x = round(x, 9)  # 3 x 1/3 is 1, not 0.999...
    return int(math.floor(x + 0.5)) if rounding == "nearest" else int(math.ceil(x))


def _required(gap: float, months: int, deal: float, rounding: str) -> list[int]:
    return [_round(t * gap / months / deal, rounding) for t in range(1, months + 1)]


def months_to_close(gap_cny: float, deal_cny: float, stretch_total: int, *, rounding: str = "nearest",
                    max_months: int = 120) -> int | None:
    """Fewest months whose even ramp the groups' total stretch can follow (None: not within max_months)."""
    if gap_cny <= 0:
        return 0
    if stretch_total <= 0:
        return None
    for T in range(1, max_months + 1):
        req = _required(gap_cny, T, deal_cny, rounding)
        if all(d <= t * stretch_total for t, d in enumerate(req, start=1)):
            return T
    return None


def split_gap(problem: GapProblem, options: GapOptions | None = None) -> GapPlan:
    """Split the gap between target and run-rate into extra deals per group and month.

    Rule ("eating the elephant", DOMAIN.md section 5): ``gap = target - run_rate``;
    the run-rate climbs by ``step = gap / months`` each month, so by month t the
    team needs ``d_t = R(t * step / deal)`` extra deals a month over today
    (``R`` per ``options.rounding``). A group can add at most ``stretch`` deals a
    month on top of the previous month and never gives one back.

    Greedy, one deal at a time: month t's new deals go to the group, among those
    with stretch left this month, with the lowest ``extra_deals / stretch``
    (ties: larger stretch, then input order), until the month's need is met or
    every group is at its stretch. Why it is optimal for the shortfall: with
    total stretch ``S`` no plan can be more than ``t * S`` deals above today by
    month t, and the greedy reaches ``min(d_t, t * S)`` every month (the month's
    need ``d_t - d_{t-1}`` never exceeds ``S`` while ``d_t <= t * S``, because
    ``d_t`` rounds a straight line). The order rule spreads the load: with equal
    stretch the groups take turns.

    Objective: shortfall in deals at the last month (bound: ``max(0, d_T - T*S)``).
    No search, so no time limit: at most ``months x S`` steps, deterministic.
    Infeasible (the gap cannot close in ``months``): status ``partial``, the plan
    still gives every group its full stretch, ``violated`` and ``text`` say the
    shortfall (deals and CNY a month) and ``months_needed`` the months an even
    ramp at this stretch would take (None when the total stretch is 0).
    """
    t0 = time.perf_counter()
    opt = options or GapOptions()
    p = problem
    T = int(p.months)
    gap = max(0.0, p.target_cny - p.run_rate_cny)
    req = _required(gap, T, p.deal_cny, opt.rounding)
    level, split, by_month = _greedy_ramp(p, req, gap / T)
    D = req[-1] if req else 0
    planned = int(level.sum())
    short = D - planned
    needed = T if short == 0 else months_to_close(gap, p.deal_cny, sum(p.stretch_deals), rounding=opt.rounding,
                                                  max_months=opt.max_months)
    text, report = _gap_story(p, opt, gap, req, split, by_month, short, needed, t0)
    return GapPlan(problem=p, split=split, by_month=by_month, report=report, gap_cny=gap, step_cny=gap / T,
                   deals_needed=D, planned_deals=planned, shortfall_deals=short,
                   shortfall_cny=float(short * p.deal_cny), rounding_residual_cny=gap - D * p.deal_cny,
                   months_needed=needed, text=text)


def _greedy_ramp(p: GapProblem, req: list[int], step: float) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """The greedy of ``split_gap``: (extra deals per group by the last month, group x month, month rows)."""
    G, T = len(p.groups), int(p.months)
    stretch = np.array(p.stretch_deals, dtype=int)
    level = np.zeros(G, dtype=int)
    rows, mrows = [], []
    for t in range(1, T + 1):
        inc = np.zeros(G, dtype=int)
        need = max(0, req[t - 1] - int(level.sum()))
        for _ in range(need):
            room = np.flatnonzero(inc < stretch)
            if len(room) == 0:
                break
            load = (level[room] + inc[room]) / stretch[room]
            key = sorted(zip(load, -stretch[room], room))
            inc[key[0][2]] += 1
        level = level + inc
        month = add_months(p.start_month, t - 1) if p.start_month else f"month {t}"
        for g in range(G):
            rows.append({"group": p.groups[g], "month_no": t, MONTH: month, "new_deals": int(inc[g]),
                         "extra_deals": int(level[g]), "extra_cny": float(level[g] * p.deal_cny),
                         "stretch_deals": int(stretch[g])})
        adding = [p.groups[g] + (f" +{inc[g]}" if inc[g] > 1 else "") for g in range(G) if inc[g] > 0]
        mrows.append({"month_no": t, MONTH: month, "required_extra_cny": step * t, "required_deals": req[t - 1],
                      "planned_deals": int(level.sum()), "short_deals": req[t - 1] - int(level.sum()),
                      "new_deals": int(inc.sum()), "groups_adding": len(adding), "who": ", ".join(adding),
                      "planned_run_rate_cny": p.run_rate_cny + level.sum() * p.deal_cny})
    return level, pd.DataFrame(rows), pd.DataFrame(mrows)


def _gap_story(p: GapProblem, opt: GapOptions, gap: float, req: list[int], split: pd.DataFrame,
               by_month: pd.DataFrame, short: int, needed: int | None, t0: float) -> tuple[str, SolveReport]:
    """The plan in words and its report (``partial`` with the shortfall when the gap cannot close in time)."""
    G, T = len(p.groups), int(p.months)
    step = gap / T
    S_tot = sum(p.stretch_deals)
    D = req[-1] if req else 0
    residual = gap - D * p.deal_cny
    if gap <= 0:
        text = (f"No gap: the run-rate {p.run_rate_cny:,.0f} is at or above the target {p.target_cny:,.0f}.")
        return text, SolveReport("optimal", objective=0.0, bound=0.0, solver="greedy", message="no gap",
                                 seconds=time.perf_counter() - t0)
    q = step / p.deal_cny
    text = (f"Gap {gap:,.0f} CNY a month; over {T} month(s) that is {step:,.0f} more each month, "
            f"{q:.2f} deals of {p.deal_cny:,.0f} (planned as {req[0]} in month 1, {D} a month more "
            f"than today by month {T}).")
    first = by_month.iloc[0]
    if first["new_deals"] and (by_month["new_deals"] == first["new_deals"]).all() and \
            (split["new_deals"] <= 1).all():
        k = int(first["groups_adding"])
        text += (f" Each month {k} of the {G} groups {'closes' if k == 1 else 'close'} one more deal "
                 f"(month 1: {first['who']}).")
    if abs(residual) >= 0.5:
        text += (f" Rounding to whole deals leaves {abs(residual):,.0f} CNY a month "
                 f"{'uncovered' if residual > 0 else 'over the target'}.")
    if short <= 0:
        return text, SolveReport("optimal", objective=0.0, bound=0.0, solver="greedy",
                                 seconds=time.perf_counter() - t0)
    more = (f"at this stretch it takes {needed} months" if needed is not None else
            "no number of months closes it at this stretch" if S_tot == 0 else
            f"it takes more than {opt.max_months} months at this stretch")
    msg = (f"groups can add {S_tot} deal(s) a month in all; by month {T} the team is {short} deal(s) "
           f"({short * p.deal_cny:,.0f} CNY a month) short of the target; {more}")
    text += " Cannot close in time: " + msg + "."
    return text, SolveReport("partial", objective=float(short), bound=float(max(0, D - T * S_tot)), solver="greedy",
                             violated=(f"stretch: {msg}",), message="gap cannot be closed in time",
                             seconds=time.perf_counter() - t0)


SOURCE_EXAMPLE = GapProblem(target_cny=1_000_000, run_rate_cny=700_000, months=3, deal_cny=33_000,
                            groups=("group 1", "group 2", "group 3", "group 4", "group 5"),
                            stretch_deals=(1, 1, 1, 1, 1))
"""DOMAIN.md section 5: 1,000,000 target, 700,000 today, 3 months, 5 groups, deals of 33,000."""


@dataclass(frozen=True)
class TeamHistory:
    """Monthly actuals and deals summed over every subtree (people x months), before ``month``."""

    month: str
    months: list[str]
    amount_cny: pd.DataFrame
    deals: pd.DataFrame


def team_history(data: TargetsData, r: Rollup, *, window_months: int = 12) -> TeamHistory:
    """The ``window_months`` months of actuals before ``r.month`` (those present), per subtree."""
    if window_months < 1:
        raise ValueError("window_months must be at least 1")
    have = set(data.actual_months)
    hist = [m for m in (add_months(r.month, -k) for k in range(window_months, 0, -1)) if m in have]
    return TeamHistory(month=r.month, months=hist, amount_cny=subtree_monthly(data, r.org, ACTUAL_CNY, hist),
                       deals=subtree_monthly(data, r.org, DEALS, hist))


def gap_problem(data: TargetsData, r: Rollup, person: str, *, months: int = 3, lookback_months: int = 3,
                window_months: int = 12, best_of_months: int = 3, history: TeamHistory | None = None) -> GapProblem:
    """The elephant for one manager: groups are the people reporting to him.

    target: the node's target for ``r.month``; run-rate: mean monthly actual of
    the subtree over the ``lookback_months`` months before; deal size: actual /
    deals over the ``window_months`` months before; a group's stretch:
    ``floor(best average deals over best_of_months consecutive months - mean
    deals a month)`` over the window, at least 0: what the group has sustained
    above its norm (``best_of_months=1``: its best single month, more generous).
    Pass ``history`` (``team_history``) when splitting many nodes.
    """
    if best_of_months < 1 or lookback_months < 1:
        raise ValueError("best_of_months and lookback_months must be at least 1")
    org = r.org
    if person not in org.index:
        raise ValueError(f"{person!r} is not in the tree")
    i = org.index[person]
    kids = org.children(i)
    if not kids:
        raise ValueError(f"{person} has no reports: the gap split needs a manager")
    h = history if history is not None else team_history(data, r, window_months=window_months)
    hist = h.months
    if not hist:
        raise ValueError(f"no actuals before {r.month}: the gap split needs history")
    amt, dls = h.amount_cny, h.deals
    run = float(amt.loc[person, hist[-lookback_months:]].mean())
    deals_total = float(dls.loc[person].sum())
    if deals_total <= 0:
        raise ValueError(f"{person}'s team has no deals before {r.month}: no average deal size")
    deal = float(amt.loc[person].sum()) / deals_total
    ids = [org.ids[c] for c in kids]
    g = dls.loc[ids]
    best = g.T.rolling(min(best_of_months, len(hist))).mean().max()
    stretch = np.maximum(0, np.floor(best - g.mean(axis=1) + 1e-9)).astype(int)
    return GapProblem(target_cny=float(r.nodes.iloc[i]["target_cny"]), run_rate_cny=run, months=months,
                      deal_cny=deal, groups=tuple(ids), stretch_deals=tuple(stretch.tolist()),
                      start_month=r.month)


def split_nodes(r: Rollup) -> list[str]:
    """Managers whose gap the source splits: area level (groups = supervisors' teams), else the top."""
    at = np.flatnonzero(r.org.height == 2)
    return [r.org.ids[i] for i in at] if len(at) else [r.org.ids[r.org.root]]


# --- new territories ------------------------------------------------------------------------

def territory_targets(territories: pd.DataFrame, *, total_cny: float | None = None,
                      multipliers: Mapping[str, float] | None = None, round_cny: float = 1000.0) -> pd.DataFrame:
    """Monthly targets for territories and new cities from their potential and ramp stage.

    ``weight = potential_cny x multipliers[market_stage]`` (monthly potential,
    and the share of it a market at that stage is expected to deliver: sowing
    0.10, cultivating 0.25, growing 0.50, harvesting 0.80 by default). Without
    ``total_cny`` the target is the weight; with it, the total is shared in
    proportion to the weights. Targets are rounded to ``round_cny`` with the
    largest-remainder rule, so with a total they add up to it exactly (a total
    that is a multiple of ``round_cny``). ``multipliers`` default to ``RAMP_MULTIPLIERS``.
    """
    multipliers = RAMP_MULTIPLIERS if multipliers is None else multipliers
    bad = sorted(set(territories[MARKET_STAGE]) - set(multipliers))
    if bad:
        raise ValueError(f"no ramp multiplier for market stage(s) {bad}")
    if round_cny <= 0:
        raise ValueError("round_cny must be > 0")
    out = territories.copy()
    mult = out[MARKET_STAGE].map(multipliers).to_numpy(float)
    w = out[S.POTENTIAL_CNY].to_numpy(float) * mult
    out["ramp_multiplier"] = mult
    if total_cny is None:
        exact = w
    else:
        if not (math.isfinite(total_cny) and total_cny >= 0):
            raise ValueError("total_cny must be >= 0")
        exact = total_cny * w / w.sum() if w.sum() > 0 else np.full(len(w), total_cny / max(len(w), 1))
    units = exact / round_cny
    if total_cny is None:
        base = np.floor(units + 0.5)
    else:  # largest remainder: the rounded targets add up to the total
        base = np.floor(units + 1e-9)
        left = int(round(total_cny / round_cny - base.sum()))
        base[np.argsort(-(units - base), kind="stable")[:max(left, 0)]] += 1
    out[TARGET_CNY] = base * round_cny
    out["share"] = out[TARGET_CNY] / out[TARGET_CNY].sum() if out[TARGET_CNY].sum() else 0.0
    return out

