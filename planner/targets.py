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

Input tables (``TargetsData``, checked by ``validate``; ``read_tables`` reads a
folder of CSV/Excel files): ``people`` (canonical rep columns ``id``, ``name``,
``level``, ``team``, ``manager``: each person's manager id, empty only at the
top), ``forecasts`` (``rep``, ``month``, ``forecast_cny``), ``actuals``
(``rep``, ``month``, ``actual_cny``, ``deals``), ``targets`` (``rep``, ``month``,
``target_cny``) and optionally ``territories`` (``id``, ``name``,
``potential_cny``, ``market_stage``). Months are ``YYYY-MM``; money is CNY.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, Mapping

import numpy as np
import pandas as pd

from planner import schema as S
from planner.plans import SolveReport

# --- columns of this job's tables (not canonical entities: kept here) ------------
PERSON = "rep"
MONTH = "month"
FORECAST_CNY = "forecast_cny"
ACTUAL_CNY = "actual_cny"
DEALS = "deals"
TARGET_CNY = "target_cny"
MARKET_STAGE = "market_stage"
ROLLUP_LEVEL = "rollup_level"

LEVEL_NAMES = ("rep", "supervisor", "area", "region", "national")
MARKET_STAGES = ("sowing", "cultivating", "growing", "harvesting")
# Share of a territory's monthly potential expected as this month's target at
# each market-density stage (DOMAIN.md section 4): an assumption, a parameter.
RAMP_MULTIPLIERS: Mapping[str, float] = {"sowing": 0.10, "cultivating": 0.25, "growing": 0.50, "harvesting": 0.80}
TIERS = ("none", "bronze", "silver", "gold")
INPUT_TABLES = ("people", "forecasts", "actuals", "targets")

_ID_ALIASES = ("rep_id", "person", "person_id", "id", "员工编号", "工号", "销售", "姓名编号")
_MONTH_ALIASES = ("period", "月份", "月", "年月")
_TABLE_SCHEMAS = {
    "forecasts": S.Schema("forecasts", (
        S.Field(PERSON, "id", required=True, aliases=_ID_ALIASES),
        S.Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
        S.Field(FORECAST_CNY, "float", required=True, aliases=("forecast", "预测", "预测业绩", "预测金额")),
    ), id_field=PERSON),
    "actuals": S.Schema("actuals", (
        S.Field(PERSON, "id", required=True, aliases=_ID_ALIASES),
        S.Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
        S.Field(ACTUAL_CNY, "float", required=True, aliases=("actual", "result", "业绩", "实际业绩", "到账")),
        S.Field(DEALS, "int", required=True, aliases=("deal_count", "orders", "单数", "签单数")),
    ), id_field=PERSON),
    "targets": S.Schema("targets", (
        S.Field(PERSON, "id", required=True, aliases=_ID_ALIASES),
        S.Field(MONTH, "str", required=True, aliases=_MONTH_ALIASES),
        S.Field(TARGET_CNY, "float", required=True, aliases=("target", "目标", "目标业绩", "任务")),
    ), id_field=PERSON),
    "territories": S.Schema("territories", (
        S.Field(S.ID, "id", required=True, aliases=("territory", "territory_id", "adcode", "区划代码", "编号")),
        S.Field(S.NAME, "str", aliases=("city", "城市", "名称")),
        S.Field(S.POTENTIAL_CNY, "float", required=True, aliases=("potential", "潜力", "月潜力")),
        S.Field(MARKET_STAGE, "str", required=True, aliases=("stage", "阶段", "市场阶段")),
    )),
}
_STAGE_ALIASES = {"播种": "sowing", "耕耘": "cultivating", "成长": "growing", "收获": "harvesting",
                  "sow": "sowing", "cultivate": "cultivating", "grow": "growing", "harvest": "harvesting"}


# --- months ------------------------------------------------------------------------

_MONTH_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:[-/.]01(?:[ T]00:00(?::00)?)?)?$")


def parse_month(text: object) -> str | None:
    """``'2026-11'`` (also ``2026/11``, ``2026年11月``, an Excel ``2026-11-01 00:00:00``) or None."""
    m = _MONTH_RE.match(str(text).strip())
    if not m:
        return None
    y, mo = int(m.group(1)), int(m.group(2))
    return f"{y:04d}-{mo:02d}" if 1 <= mo <= 12 else None


def check_month(text: str, *, name: str = "month") -> str:
    """The month as ``YYYY-MM``, or ValueError naming ``name``."""
    m = parse_month(text)
    if m is None:
        raise ValueError(f"{name} {text!r} is not a month YYYY-MM")
    return m


def add_months(month: str, k: int) -> str:
    y, m = int(month[:4]), int(month[5:7])
    t = y * 12 + (m - 1) + k
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


def month_span(first: str, last: str) -> list[str]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


# --- input tables and validation -----------------------------------------------------

@dataclass(frozen=True)
class TargetsData:
    """Validated inputs; every frame keeps ``source_row`` (the row a person sees in the file)."""

    people: pd.DataFrame
    forecasts: pd.DataFrame
    actuals: pd.DataFrame
    targets: pd.DataFrame
    territories: pd.DataFrame | None = None

    @property
    def forecast_months(self) -> list[str]:
        return sorted(set(self.forecasts[MONTH]))

    @property
    def actual_months(self) -> list[str]:
        return sorted(set(self.actuals[MONTH]))


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, int, str, str, str]] = []

    def add(self, table: str, row: int, fieldname: str, value: object, reason: str) -> None:
        self.items.append((table, int(row), fieldname, str(value), reason))

    def add_mask(self, table: str, rows: np.ndarray, mask, fieldname: str, values, reason) -> None:
        mask = np.asarray(mask, dtype=bool)
        vals = np.broadcast_to(np.asarray(values, dtype=object), mask.shape)[mask]
        reasons = np.broadcast_to(np.asarray(reason, dtype=object), mask.shape)[mask]
        for r, v, why in zip(rows[mask], vals, reasons):
            self.add(table, r, fieldname, v, why)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        order = {t: k for k, t in enumerate(dict.fromkeys(t for t, *_ in self.items))}
        items = sorted(self.items, key=lambda it: (order[it[0]], it[1]))
        lines = [f"{t} row {r}, {f}: {reason}" + (f" (value {v!r})" if v not in ("", "nan") else "")
                 for t, r, f, v, reason in items]
        raise ValueError(f"{len(lines)} problem(s) in the targets inputs: " + "; ".join(lines))


def _rows(df: pd.DataFrame) -> np.ndarray:
    if S.SOURCE_ROW in df.columns:
        return df[S.SOURCE_ROW].to_numpy(dtype=int)
    return np.arange(len(df)) + 2  # spreadsheet rows: the header is row 1


def _text(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    s = df[col].astype(object).where(df[col].notna(), "").astype(str).str.strip()
    return s.where(~s.isin(["nan", "None", "<NA>", "NaN"]), "")


def _numbers(text: pd.Series) -> pd.Series:
    cleaned = text.str.replace(r"[¥￥元\s]", "", regex=True).str.replace(r"(?<=\d)[,，](?=\d{3})", "", regex=True)
    return pd.to_numeric(cleaned.where(cleaned != ""), errors="coerce")


def _months(text: pd.Series) -> pd.Series:
    """Vectorised ``parse_month``: ``YYYY-MM`` strings, None where not a month."""
    m = text.str.extract(_MONTH_RE)
    y = pd.to_numeric(m[0], errors="coerce")
    mo = pd.to_numeric(m[1], errors="coerce")
    ok = y.notna() & mo.between(1, 12)
    out = y.fillna(0).astype(int).astype(str).str.zfill(4) + "-" + mo.fillna(0).astype(int).astype(str).str.zfill(2)
    return out.where(ok, None)


def _check_people(people: pd.DataFrame, probs: _Problems) -> pd.DataFrame:
    rows = _rows(people)
    ids = _text(people, S.ID)
    mgr = _text(people, S.MANAGER)
    out = pd.DataFrame({S.ID: ids.to_numpy(), S.NAME: _text(people, S.NAME).to_numpy(),
                        S.LEVEL: _text(people, S.LEVEL).to_numpy(), S.TEAM: _text(people, S.TEAM).to_numpy(),
                        S.MANAGER: mgr.to_numpy(), S.SOURCE_ROW: rows})
    syn = _text(people, S.SYNTHETIC).map(S.parse_bool)
    out[S.SYNTHETIC] = syn.where(syn.notna(), False).astype(bool).to_numpy()
    first: dict[str, int] = {}
    for r, i in zip(rows, ids):
        if i == "":
            probs.add("people", r, S.ID, "", "missing id")
        elif i in first:
            probs.add("people", r, S.ID, i, f"duplicate id (first at row {first[i]})")
        else:
            first[i] = r
    has_reports = set(m for m in mgr if m)
    tops = [(r, i) for r, i, m in zip(rows, ids, mgr) if i and not m and i in has_reports]
    for r, i, m in zip(rows, ids, mgr):
        if not i:
            continue
        if m and m not in first:
            probs.add("people", r, S.MANAGER, m, "not a known person (manager unknown)")
        elif not m and i not in has_reports and len(first) > 1:
            probs.add("people", r, S.MANAGER, "", "no manager: only the top of the tree may have none "
                      "(a rep with no supervisor)")
    if len(tops) > 1:
        names = ", ".join(f"{i} (row {r})" for r, i in tops)
        for r, i in tops:
            probs.add("people", r, S.MANAGER, "", f"more than one top of the tree ({names}): give them one manager")
    # cycles: follow managers; a chain that never reaches the top is in or under a cycle
    parent = {i: m for i, m in zip(ids, mgr) if i}
    state: dict[str, int] = {}  # 1 = reaches the top (or an unknown manager, reported above), 2 = cyclic
    for start in parent:
        path, seen = [], set()
        cur = start
        while cur in parent and cur not in state and cur not in seen:
            seen.add(cur)
            path.append(cur)
            cur = parent[cur] if parent[cur] else None
            if cur is None or cur not in parent:
                break
        if cur is not None and cur in seen:  # a new cycle, closed at cur
            k = path.index(cur)
            cyc = path[k:] + [cur]
            text = " -> ".join(cyc)
            for p in path[k:]:
                probs.add("people", first[p], S.MANAGER, parent[p], f"cycle in the tree: {text}")
                state[p] = 2
            for p in path[:k]:
                probs.add("people", first[p], S.MANAGER, parent[p], f"reports into the cycle {text}")
                state[p] = 2
        else:
            res = state.get(cur, 1) if cur is not None else 1
            for p in path:
                if res == 2:
                    probs.add("people", first[p], S.MANAGER, parent[p], "reports into a cycle")
                state[p] = res
    return out


def _check_monthly(name: str, df: pd.DataFrame, value_cols: tuple[str, ...], known: set[str],
                   probs: _Problems) -> pd.DataFrame:
    rows = _rows(df)
    who = _text(df, PERSON)
    months_txt = _text(df, MONTH)
    months = _months(months_txt)
    out = pd.DataFrame({PERSON: who.to_numpy(), MONTH: months.to_numpy(), S.SOURCE_ROW: rows})
    for c in (PERSON, MONTH, *value_cols):
        if c not in df.columns:
            probs.add(name, 1, c, "", "column missing")
    probs.add_mask(name, rows, who == "", PERSON, "", "missing rep id")
    probs.add_mask(name, rows, (who != "") & ~who.isin(known), PERSON, who, "not in people (unknown rep)")
    probs.add_mask(name, rows, months.isna(), MONTH, months_txt, "not a month YYYY-MM")
    for c in value_cols:
        txt = _text(df, c)
        num = _numbers(txt)
        empty = (txt == "").to_numpy()
        finite = np.isfinite(num.to_numpy(dtype=float))
        probs.add_mask(name, rows, empty, c, "", "missing value")
        probs.add_mask(name, rows, ~empty & ~finite, c, txt, "not a number")
        probs.add_mask(name, rows, finite & (num < 0).to_numpy(), c, txt, "negative")
        if c == DEALS:
            probs.add_mask(name, rows, finite & (num >= 0).to_numpy() & (num != np.round(num)).to_numpy(), c, txt,
                           "not a whole number")
        out[c] = num.to_numpy(dtype=float)
    have = out[MONTH].notna()
    dup = have & out.duplicated([PERSON, MONTH], keep="first")
    if dup.any():
        first = out[have & ~dup].set_index([PERSON, MONTH])[S.SOURCE_ROW]
        d = out[dup]
        firsts = [first.get((p, m)) for p, m in zip(d[PERSON], d[MONTH])]
        probs.add_mask(name, d[S.SOURCE_ROW].to_numpy(), np.ones(len(d), dtype=bool), MONTH, d[MONTH].to_numpy(),
                       [f"second row for this rep and month (first at row {f})" for f in firsts])
    return out


def _check_territories(df: pd.DataFrame, probs: _Problems) -> pd.DataFrame:
    rows = _rows(df)
    ids = _text(df, S.ID)
    pot_t = _text(df, S.POTENTIAL_CNY)
    pot = _numbers(pot_t)
    stage_t = _text(df, MARKET_STAGE)
    stage = stage_t.map(lambda v: _STAGE_ALIASES.get(v, _STAGE_ALIASES.get(v.lower(), v.lower())))
    for r, i, t, v, st, s in zip(rows, ids, pot_t, pot, stage_t, stage):
        if i == "":
            probs.add("territories", r, S.ID, "", "missing id")
        if not np.isfinite(v):
            probs.add("territories", r, S.POTENTIAL_CNY, t, "not a number" if t else "missing value")
        elif v < 0:
            probs.add("territories", r, S.POTENTIAL_CNY, t, "negative")
        if s not in MARKET_STAGES:
            probs.add("territories", r, MARKET_STAGE, st, f"unknown stage (expected one of {', '.join(MARKET_STAGES)})")
    return pd.DataFrame({S.ID: ids.to_numpy(), S.NAME: _text(df, S.NAME).to_numpy(),
                         S.POTENTIAL_CNY: pot.to_numpy(dtype=float), MARKET_STAGE: stage.to_numpy(),
                         S.SOURCE_ROW: rows})


def validate(people: pd.DataFrame, forecasts: pd.DataFrame, actuals: pd.DataFrame, targets: pd.DataFrame,
             territories: pd.DataFrame | None = None) -> TargetsData:
    """Check every row of every table in one pass; one ValueError lists all problems.

    Problems named with table, row (``source_row`` when present, else the
    spreadsheet row: header row 1, first record row 2) and field: a missing or
    duplicate id; a manager that is not a known person; a person with no
    manager who is not the single top of the tree (a rep with no supervisor);
    more than one top; a cycle (and everyone reporting into one); an unknown
    rep, a month that is not ``YYYY-MM``, a missing, non-numeric or negative
    value, deals that are not whole, two rows for the same rep and month.
    """
    probs = _Problems()
    ppl = _check_people(people, probs)
    known = set(ppl[S.ID]) - {""}
    fc = _check_monthly("forecasts", forecasts, (FORECAST_CNY,), known, probs)
    ac = _check_monthly("actuals", actuals, (ACTUAL_CNY, DEALS), known, probs)
    tg = _check_monthly("targets", targets, (TARGET_CNY,), known, probs)
    terr = _check_territories(territories, probs) if territories is not None else None
    probs.raise_if_any()
    ac[DEALS] = ac[DEALS].astype(int)
    return TargetsData(people=ppl, forecasts=fc, actuals=ac, targets=tg, territories=terr)


def read_tables(directory: str | Path) -> TargetsData:
    """Read ``people``, ``forecasts``, ``actuals``, ``targets`` (and ``territories``) from a folder.

    Each as ``.csv``/``.xlsx``/``.parquet``; headers are matched to the
    columns above (aliases include common Chinese headers). Raises
    ``FileReadError`` for a missing file or column, ValueError for bad rows.
    """
    from planner import io

    d = Path(directory)
    if not d.is_dir():
        raise io.FileReadError(f"targets data folder not found: {d}")
    frames: dict[str, pd.DataFrame | None] = {}
    for name in (*INPUT_TABLES, "territories"):
        p = io.find_file(d, name)
        if p is None:
            if name == "territories":
                frames[name] = None
                continue
            raise io.FileReadError(f"no {name}.csv (or .xlsx) in {d}: the targets job needs "
                                   f"{', '.join(INPUT_TABLES)}")
        raw = io.read_raw(p)
        sch = S.REPS if name == "people" else _TABLE_SCHEMAS[name]
        colmap = io.resolve_columns(list(raw.columns), sch)
        missing = [f.name for f in sch.fields if f.required and f.name not in colmap]
        if name == "people" and S.MANAGER not in colmap:
            missing.append(S.MANAGER)
        if missing:
            raise io.FileReadError(f"{p.name}: no column for required field(s) {missing}; "
                                   f"the file has {list(raw.columns)}")
        df = pd.DataFrame({k: raw[h] for k, h in colmap.items()})
        df[S.SOURCE_ROW] = np.arange(len(raw)) + 2
        frames[name] = df
    return validate(frames["people"], frames["forecasts"], frames["actuals"], frames["targets"],
                    frames["territories"])


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
        if not (math.isfinite(self.prior_months) and self.prior_months >= 0):
            raise ValueError("prior_months must be >= 0")
        if self.window_months < 1:
            raise ValueError("window_months must be at least 1")
        if not 0 <= self.min_index <= 1 <= self.max_index:
            raise ValueError("min_index must be in 0..1 and max_index at least 1")


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


def _check_index_map(m: Mapping[str, float], name: str) -> dict[str, float]:
    out = {}
    for k, v in dict(m).items():
        v = float(v)
        if not (math.isfinite(v) and 0 <= v <= 3):
            raise ValueError(f"{name}[{k!r}] = {v} must be a number in 0..3")
        out[str(k)] = v
    return out


@dataclass(frozen=True, kw_only=True)
class RollupOptions:
    """``overrides``: rep -> confidence index set by the supervisor; ``team_overrides``:
    manager -> index applied to that manager's whole team as reported upward."""

    index: IndexOptions = field(default_factory=IndexOptions)
    overrides: Mapping[str, float] = field(default_factory=dict)
    team_overrides: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", _check_index_map(self.overrides, "overrides"))
        object.__setattr__(self, "team_overrides", _check_index_map(self.team_overrides, "team_overrides"))


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

    def totals(self) -> dict:
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

@dataclass(frozen=True)
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
        for name in ("target_cny", "run_rate_cny"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {v}")
        if int(self.months) != self.months or self.months < 1:
            raise ValueError(f"months must be a whole number >= 1, got {self.months}")
        if not (math.isfinite(self.deal_cny) and self.deal_cny > 0):
            raise ValueError(f"deal_cny must be > 0, got {self.deal_cny}")
        object.__setattr__(self, "groups", tuple(str(g) for g in self.groups))
        object.__setattr__(self, "stretch_deals", tuple(int(s) for s in self.stretch_deals))
        if not self.groups:
            raise ValueError("groups must not be empty")
        if len(set(self.groups)) != len(self.groups):
            raise ValueError("groups must be unique")
        if len(self.stretch_deals) != len(self.groups):
            raise ValueError("stretch_deals needs one value per group")
        if any(s < 0 for s in self.stretch_deals):
            raise ValueError("stretch_deals must be >= 0")
        if self.start_month is not None:
            object.__setattr__(self, "start_month", check_month(self.start_month, name="start_month"))


@dataclass(frozen=True, kw_only=True)
class GapOptions:
    """``rounding``: deals needed by month t = round-half-up (``nearest``) or ceiling
    (``up``) of t x step / deal; ``max_months``: how far to look for the months a
    gap that cannot close in time would need."""

    rounding: Literal["nearest", "up"] = "nearest"
    max_months: int = 120

    def __post_init__(self) -> None:
        if self.rounding not in ("nearest", "up"):
            raise ValueError(f"rounding must be 'nearest' or 'up', got {self.rounding!r}")
        if self.max_months < 1:
            raise ValueError("max_months must be at least 1")


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

    def to_dict(self) -> dict:
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
    G, T = len(p.groups), int(p.months)
    gap = max(0.0, p.target_cny - p.run_rate_cny)
    step = gap / T
    req = _required(gap, T, p.deal_cny, opt.rounding)
    stretch = np.array(p.stretch_deals, dtype=int)
    S_tot = int(stretch.sum())
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
    split = pd.DataFrame(rows)
    by_month = pd.DataFrame(mrows)
    D = req[-1] if req else 0
    planned = int(level.sum())
    short = D - planned
    residual = gap - D * p.deal_cny
    needed = T if short == 0 else months_to_close(gap, p.deal_cny, S_tot, rounding=opt.rounding,
                                                  max_months=opt.max_months)
    bound = float(max(0, D - T * S_tot))
    if gap <= 0:
        text = (f"No gap: the run-rate {p.run_rate_cny:,.0f} is at or above the target {p.target_cny:,.0f}.")
        report = SolveReport("optimal", objective=0.0, bound=0.0, solver="greedy", message="no gap",
                             seconds=time.perf_counter() - t0)
    else:
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
        if short > 0:
            more = (f"at this stretch it takes {needed} months" if needed is not None else
                    "no number of months closes it at this stretch" if S_tot == 0 else
                    f"it takes more than {opt.max_months} months at this stretch")
            msg = (f"groups can add {S_tot} deal(s) a month in all; by month {T} the team is {short} deal(s) "
                   f"({short * p.deal_cny:,.0f} CNY a month) short of the target; {more}")
            text += " Cannot close in time: " + msg + "."
            report = SolveReport("partial", objective=float(short), bound=bound, solver="greedy",
                                 violated=(f"stretch: {msg}",), message="gap cannot be closed in time",
                                 seconds=time.perf_counter() - t0)
        else:
            report = SolveReport("optimal", objective=0.0, bound=0.0, solver="greedy",
                                 seconds=time.perf_counter() - t0)
    return GapPlan(problem=p, split=split, by_month=by_month, report=report, gap_cny=gap, step_cny=step,
                   deals_needed=D, planned_deals=planned, shortfall_deals=short,
                   shortfall_cny=float(short * p.deal_cny), rounding_residual_cny=residual,
                   months_needed=needed, text=text)


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
                      multipliers: Mapping[str, float] = RAMP_MULTIPLIERS, round_cny: float = 1000.0) -> pd.DataFrame:
    """Monthly targets for territories and new cities from their potential and ramp stage.

    ``weight = potential_cny x multipliers[market_stage]`` (monthly potential,
    and the share of it a market at that stage is expected to deliver: sowing
    0.10, cultivating 0.25, growing 0.50, harvesting 0.80 by default). Without
    ``total_cny`` the target is the weight; with it, the total is shared in
    proportion to the weights. Targets are rounded to ``round_cny`` with the
    largest-remainder rule, so with a total they add up to it exactly (a total
    that is a multiple of ``round_cny``).
    """
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


# --- pay and hoarding ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PayRules:
    """Gold/silver/bronze: a month's result sets the next month's commission rate.

    Gold at 100,000 CNY a month is the source's figure; the other thresholds
    and all rates are assumptions, to be set per company.
    """

    bronze_cny: float = 30_000.0
    silver_cny: float = 60_000.0
    gold_cny: float = 100_000.0
    base_rate: float = 0.05
    bronze_rate: float = 0.08
    silver_rate: float = 0.10
    gold_rate: float = 0.12
    start_tier: str = "none"

    def __post_init__(self) -> None:
        if not 0 < self.bronze_cny < self.silver_cny < self.gold_cny:
            raise ValueError("thresholds must satisfy 0 < bronze_cny < silver_cny < gold_cny")
        rates = (self.base_rate, self.bronze_rate, self.silver_rate, self.gold_rate)
        if not all(0 <= x <= 1 for x in rates):
            raise ValueError("rates must be within 0..1")
        if list(rates) != sorted(rates):
            raise ValueError("rates must not fall from base to gold")
        if self.start_tier not in TIERS:
            raise ValueError(f"start_tier must be one of {', '.join(TIERS)}")

    @property
    def thresholds(self) -> tuple[float, float, float]:
        return (self.bronze_cny, self.silver_cny, self.gold_cny)

    def tier(self, result_cny: float) -> str:
        return TIERS[int(np.searchsorted(self.thresholds, result_cny, side="right"))]

    def rate(self, tier: str) -> float:
        return (self.base_rate, self.bronze_rate, self.silver_rate, self.gold_rate)[TIERS.index(tier)]


def monthly_results(actuals: pd.DataFrame, column: str = ACTUAL_CNY) -> pd.DataFrame:
    """reps x months of ``column``; months inside a rep's first..last month with no row are 0, outside NaN."""
    if actuals.empty:
        return pd.DataFrame()
    months = month_span(min(actuals[MONTH]), max(actuals[MONTH]))
    mat = actuals.pivot_table(index=PERSON, columns=MONTH, values=column, aggfunc="sum").reindex(columns=months)
    first = actuals.groupby(PERSON)[MONTH].min()
    last = actuals.groupby(PERSON)[MONTH].max()
    cols = np.array(months)
    inside = (cols[None, :] >= first.reindex(mat.index).to_numpy()[:, None]) & \
             (cols[None, :] <= last.reindex(mat.index).to_numpy()[:, None])
    return mat.where(~(inside & mat.isna()), 0.0)


def simulate_pay(actuals: pd.DataFrame, rules: PayRules | None = None) -> pd.DataFrame:
    """Month by month: ``tier`` earned by the result, ``rate_tier`` set by last month, ``pay_cny``.

    A rep's first month is paid at ``rules.start_tier``; a month with no row
    inside the rep's span is a result of 0 (it earns no tier).
    """
    rules = rules or PayRules()
    cols = [PERSON, MONTH, "result_cny", "tier", "rate_tier", "rate", "pay_cny"]
    mat = monthly_results(actuals)
    if mat.empty:
        return pd.DataFrame(columns=cols)
    x = mat.to_numpy(float)
    valid = ~np.isnan(x)
    tier = np.searchsorted(np.array(rules.thresholds), np.nan_to_num(x), side="right")
    prev = np.full(tier.shape, TIERS.index(rules.start_tier))
    prev[:, 1:] = np.where(valid[:, :-1], tier[:, :-1], prev[:, 1:])  # valid months are contiguous
    rates = np.array([rules.rate(t) for t in TIERS])
    r_i, m_i = np.nonzero(valid)
    names = np.array(TIERS, dtype=object)
    out = pd.DataFrame({PERSON: mat.index.to_numpy()[r_i], MONTH: mat.columns.to_numpy()[m_i],
                        "result_cny": x[r_i, m_i], "tier": names[tier[r_i, m_i]],
                        "rate_tier": names[prev[r_i, m_i]], "rate": rates[prev[r_i, m_i]]})
    out["pay_cny"] = out["result_cny"] * out["rate"]
    return out[cols]


def pay_summary(pay: pd.DataFrame, rules: PayRules | None = None) -> pd.DataFrame:
    """Per rep: result and pay, months per tier, the pay had the same total come evenly
    (``even_pay_cny``: the scheme pays for steady months, so bunching costs the rep), and
    the tier and rate the last month sets for the next (``next_rate_tier``, ``next_rate``)."""
    rules = rules or PayRules()
    if pay.empty:
        return pd.DataFrame(columns=[PERSON, "months", "result_cny", "pay_cny"])
    by = pay.groupby(PERSON, sort=True)
    out = by.agg(months=(MONTH, "size"), result_cny=("result_cny", "sum"), pay_cny=("pay_cny", "sum"))
    for tier in TIERS[1:]:
        out[f"{tier}_months"] = (pay["tier"] == tier).groupby(pay[PERSON]).sum().astype(int)
    out["effective_rate"] = np.where(out["result_cny"] > 0, out["pay_cny"] / out["result_cny"].where(
        out["result_cny"] > 0, 1.0), 0.0)
    rates = np.array([rules.rate(t) for t in TIERS])
    even = out["result_cny"] / out["months"]
    even_tier = np.searchsorted(np.array(rules.thresholds), even.to_numpy(), side="right")
    out["even_pay_cny"] = even * (rules.rate(rules.start_tier) + (out["months"] - 1) * rates[even_tier])
    out["cost_of_bunching_cny"] = out["even_pay_cny"] - out["pay_cny"]
    last = pay.sort_values([PERSON, MONTH], kind="stable").groupby(PERSON).tail(1).set_index(PERSON)
    out["last_month"] = last[MONTH]
    out["next_rate_tier"] = last["tier"]
    out["next_rate"] = last["tier"].map(dict(zip(TIERS, rates)))
    return out.reset_index()


@dataclass(frozen=True, kw_only=True)
class HoardingRules:
    """When a rep's deals look held back for a better month (``hoarding_flags``).

    Rule A (bunching): the deals a month are over-dispersed. A rep who closes
    deals as they come has monthly counts close to Poisson, whose variance
    equals its mean whatever the rep's volume; holding deals back and releasing
    them together makes the variance much larger. With the dispersion
    ``D = sample variance / mean`` of the rep's monthly deal counts, flag when
    ``D >= max(min_dispersion, dispersion_factor x the team's median D)``
    (team: people with the same manager; the whole table when fewer than 3 of
    them are assessed). The coefficient of variation of the results (``cv``)
    is shown but not used: it is high for any low-volume rep.
    Rule B (release after a dry month): at least ``min_patterns`` months, and
    at least ``min_pattern_share`` of the months that follow a dry month, land
    within ``just_above_share`` above a tier threshold right after a month
    below ``near_zero_share`` x the bronze threshold.
    Reps with fewer than ``min_months`` months are not assessed.
    """

    dispersion_factor: float = 2.0
    min_dispersion: float = 3.5
    near_zero_share: float = 0.1
    just_above_share: float = 0.1
    min_patterns: int = 4
    min_pattern_share: float = 0.5
    min_months: int = 6

    def __post_init__(self) -> None:
        if self.dispersion_factor <= 0 or self.min_dispersion < 0:
            raise ValueError("dispersion_factor must be > 0 and min_dispersion >= 0")
        if not 0 <= self.near_zero_share < 1 or not 0 < self.just_above_share < 1:
            raise ValueError("near_zero_share must be in 0..1 and just_above_share in (0, 1)")
        if self.min_patterns < 1 or not 0 <= self.min_pattern_share <= 1 or self.min_months < 3:
            raise ValueError("min_patterns must be >= 1, min_pattern_share in 0..1 and min_months >= 3")


def hoarding_flags(actuals: pd.DataFrame, team: Mapping[str, str] | pd.Series | None = None, *,
                   rules: HoardingRules | None = None, pay_rules: PayRules | None = None) -> pd.DataFrame:
    """One row per rep: ``dispersion``, ``team_dispersion``, ``cv``, ``patterns`` (rule B months),
    ``flagged`` and ``reason`` (``HoardingRules`` states the rules)."""
    rules = rules or HoardingRules()
    pr = pay_rules or PayRules()
    res = monthly_results(actuals)
    if res.empty:
        return pd.DataFrame(columns=[PERSON, "months", "flagged", "reason"])
    cnt = monthly_results(actuals, DEALS).reindex(index=res.index, columns=res.columns)
    x, d = res.to_numpy(float), cnt.to_numpy(float)
    valid = ~np.isnan(x)
    n = valid.sum(axis=1)
    x0, d0 = np.where(valid, x, 0.0), np.where(valid, d, 0.0)
    mean = x0.sum(axis=1) / np.maximum(n, 1)
    std = np.sqrt(np.maximum((x0 ** 2).sum(axis=1) / np.maximum(n, 1) - mean ** 2, 0.0))
    dm = d0.sum(axis=1) / np.maximum(n, 1)
    dvar = np.maximum((d0 ** 2).sum(axis=1) - n * dm ** 2, 0.0) / np.maximum(n - 1, 1)
    disp = np.where((n > 1) & (dm > 0), dvar / np.where(dm > 0, dm, 1.0), 0.0)
    both = valid[:, :-1] & valid[:, 1:]
    dry = both & (x0[:, :-1] < rules.near_zero_share * pr.bronze_cny)
    nxt = x0[:, 1:]
    just = np.zeros(nxt.shape, dtype=bool)
    for th in pr.thresholds:
        just |= (nxt >= th) & (nxt <= th * (1 + rules.just_above_share))
    pat = dry & just
    n_pat = pat.sum(axis=1)
    share = n_pat / np.maximum(dry.sum(axis=1), 1)
    months = res.columns.to_numpy()[1:]
    teams = pd.Series(team) if team is not None and not isinstance(team, pd.Series) else team
    out = pd.DataFrame({PERSON: res.index.to_numpy(), "months": n, "mean_cny": mean, "mean_deals": dm,
                        "cv": np.where(mean > 0, std / np.where(mean > 0, mean, 1.0), 0.0), "dispersion": disp,
                        "patterns": [", ".join(months[row]) for row in pat], "pattern_share": share,
                        "team": (teams.reindex(res.index).fillna("").astype(str).to_numpy() if teams is not None
                                 else "")})
    assessed = out["months"] >= rules.min_months
    overall = float(out.loc[assessed, "dispersion"].median()) if assessed.any() else np.nan
    g = out[assessed & (out["team"] != "")].groupby("team")["dispersion"].agg(["median", "size"])
    med = g.loc[g["size"] >= 3, "median"]
    out["team_dispersion"] = out["team"].map(med).fillna(overall).astype(float)
    rule_a = assessed & (out["dispersion"] >= np.maximum(rules.min_dispersion,
                                                         rules.dispersion_factor * out["team_dispersion"]))
    rule_b = assessed & (n_pat >= rules.min_patterns) & (share >= rules.min_pattern_share)
    out["flagged"] = rule_a | rule_b
    reasons = []
    for a, b, ok, row in zip(rule_a, rule_b, assessed, out.itertuples()):
        parts = []
        if not ok:
            parts.append(f"not assessed: {row.months} month(s) < {rules.min_months}")
        if a:
            parts.append(f"deals bunch: dispersion {row.dispersion:.1f} vs team {row.team_dispersion:.1f}")
        if b:
            parts.append(f"just over a threshold after a dry month in {row.patterns}")
        reasons.append("; ".join(parts))
    out["reason"] = reasons
    return out
