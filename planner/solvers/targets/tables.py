"""Targets inputs: the tables' columns, months, and the job's own checks of their rows.

The lower half of :mod:`planner.solvers.targets`: ``people`` (canonical rep
columns ``id``, ``name``, ``level``, ``team``, ``manager``), ``forecasts``
(``rep``, ``month``, ``forecast_cny``), ``actuals`` (``rep``, ``month``,
``actual_cny``, ``deals``), ``targets`` (``rep``, ``month``, ``target_cny``)
and optionally ``territories`` (``id``, ``name``, ``potential_cny``,
``market_stage``); their schemas (headers, Chinese aliases) are in
``planner.schema`` and the workspace loader reads them like any table.
``check_tables`` checks what only this job can (the reporting tree, months,
amounts, one row per rep and month) and rejects each bad row with its reason,
in the same rejected-rows format as the loader; ``validate`` refuses instead.
Months are ``YYYY-MM``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.io.workspace import Tables
from planner.schema import (  # the job's column names (re-exported: planner.solvers.targets.MONTH, ...)
    ACTUAL_CNY,
    DEALS,
    FORECAST_CNY,
    MARKET_STAGE,
    MARKET_STAGES,
    MONTH,
    PERSON,
    TARGET_CNY,
)

ROLLUP_LEVEL = "rollup_level"
INPUT_TABLES = ("people", "forecasts", "actuals", "targets")
OPTIONAL_TABLES = ("territories",)
REJECTED_COLUMNS = ("row", "id", "field", "value", "reason")
__all__ = ["ACTUAL_CNY", "DEALS", "FORECAST_CNY", "MARKET_STAGE", "MARKET_STAGES", "MONTH", "PERSON", "TARGET_CNY",
           "ROLLUP_LEVEL", "INPUT_TABLES", "OPTIONAL_TABLES", "parse_month", "check_month", "add_months",
           "month_span", "TargetsData", "check_tables", "validate", "refine"]

_STAGE_ALIASES: Mapping[str, str] = MappingProxyType(
    {"播种": "sowing", "耕耘": "cultivating", "成长": "growing", "收获": "harvesting",
     "sow": "sowing", "cultivate": "cultivating", "grow": "growing", "harvest": "harvesting"})


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

    def add_mask(self, table: str, rows: np.ndarray, mask: np.ndarray | pd.Series, fieldname: str,
                 values: object, reason: str | list[str]) -> None:
        mask = np.asarray(mask, dtype=bool)
        vals = np.broadcast_to(np.asarray(values, dtype=object), mask.shape)[mask]
        reasons = np.broadcast_to(np.asarray(reason, dtype=object), mask.shape)[mask]
        for r, v, why in zip(rows[mask], vals, reasons):
            self.add(table, r, fieldname, v, why)

    def rows_of(self, table: str) -> set[int]:
        return {r for t_, r, *_ in self.items if t_ == table}

    def rejected(self, table: str, ids: dict[int, str]) -> pd.DataFrame:
        items = sorted((it for it in self.items if it[0] == table), key=lambda it: it[1])
        return pd.DataFrame([{"row": r, "id": ids.get(r, ""), "field": f, "value": v, "reason": why}
                             for _, r, f, v, why in items], columns=list(REJECTED_COLUMNS))

    def sentences(self) -> list[str]:
        order = {t: k for k, t in enumerate(dict.fromkeys(t for t, *_ in self.items))}
        items = sorted(self.items, key=lambda it: (order[it[0]], it[1]))
        return [f"{t} row {r}, {f}: {reason}" + (f" (value {v!r})" if v not in ("", "nan") else "")
                for t, r, f, v, reason in items]


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
    has_reports = {m for m in mgr if m}
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
        for r, _ in tops:
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


def _check_once(people: pd.DataFrame, forecasts: pd.DataFrame, actuals: pd.DataFrame, targets: pd.DataFrame,
                territories: pd.DataFrame | None) -> tuple[_Problems, dict[str, pd.DataFrame]]:
    probs = _Problems()
    ppl = _check_people(people, probs)
    known = set(ppl[S.ID]) - {""}
    frames: dict[str, pd.DataFrame] = {
        "people": ppl,
        "forecasts": _check_monthly("forecasts", forecasts, (FORECAST_CNY,), known, probs),
        "actuals": _check_monthly("actuals", actuals, (ACTUAL_CNY, DEALS), known, probs),
        "targets": _check_monthly("targets", targets, (TARGET_CNY,), known, probs),
    }
    if territories is not None:
        frames["territories"] = _check_territories(territories, probs)
    return probs, frames


def check_tables(people: pd.DataFrame, forecasts: pd.DataFrame, actuals: pd.DataFrame, targets: pd.DataFrame,
                 territories: pd.DataFrame | None = None) -> tuple[TargetsData, dict[str, pd.DataFrame]]:
    """The usable rows as ``TargetsData``, and the rejected rows by table (row, id, field, value, reason).

    Each table's rows are named by ``source_row`` when present (else the
    spreadsheet row: header row 1, first record row 2). A row is rejected
    for: a missing or duplicate id; a manager that is not a known person; a
    person with no manager who is not the single top of the tree (a rep with
    no supervisor); more than one top; a cycle (and everyone reporting into
    one); an unknown rep, a month that is not ``YYYY-MM``, a missing,
    non-numeric or negative value, deals that are not whole, a second row for
    the same rep and month. Rejecting a person can orphan the rows that
    depend on him, so the checks repeat until no row is rejected; each row is
    reported with the first reason found.
    """
    inputs = {"people": people, "forecasts": forecasts, "actuals": actuals, "targets": targets}
    if territories is not None:
        inputs["territories"] = territories
    inputs = {k: (v if S.SOURCE_ROW in v.columns else v.assign(**{S.SOURCE_ROW: np.arange(len(v)) + 2}))
              for k, v in inputs.items()}
    rejected: dict[str, list[pd.DataFrame]] = {k: [] for k in inputs}
    while True:
        probs, frames = _check_once(inputs["people"], inputs["forecasts"], inputs["actuals"], inputs["targets"],
                                    inputs.get("territories"))
        if not probs.items:
            break
        for name, df in inputs.items():
            bad = probs.rows_of(name)
            if not bad:
                continue
            rows = df[S.SOURCE_ROW].to_numpy(dtype=int)
            key = S.ID if name in ("people", "territories") else PERSON
            ids = {int(r): str(i) for r, i in zip(rows, df[key].astype(str))} if key in df.columns else {}
            rejected[name].append(probs.rejected(name, ids))
            inputs[name] = df[~np.isin(rows, list(bad))]
    ac = frames["actuals"]
    ac[DEALS] = ac[DEALS].astype(int)
    data = TargetsData(people=frames["people"], forecasts=frames["forecasts"], actuals=ac,
                       targets=frames["targets"], territories=frames.get("territories"))
    out = {k: pd.concat(v, ignore_index=True) for k, v in rejected.items() if v}
    return data, out


def validate(people: pd.DataFrame, forecasts: pd.DataFrame, actuals: pd.DataFrame, targets: pd.DataFrame,
             territories: pd.DataFrame | None = None) -> TargetsData:
    """Like :func:`check_tables`, but refuses: one ``InputError`` lists every problem of every table."""
    probs, _ = _check_once(people, forecasts, actuals, targets, territories)
    if probs.items:
        raise InputError(probs.sentences(), what="the targets inputs")
    data, _ = check_tables(people, forecasts, actuals, targets, territories)
    return data


def refine(tables: Tables) -> tuple[TargetsData, Tables]:
    """The job's own row checks (:func:`check_tables`) on tables the workspace loaded: the usable rows as
    ``TargetsData``, and the tables with the job's rejections joined to the loader's."""
    data, rejected = check_tables(tables["people"], tables["forecasts"], tables["actuals"], tables["targets"],
                                  tables.get("territories"))
    frames = {"people": data.people, "forecasts": data.forecasts, "actuals": data.actuals, "targets": data.targets}
    if data.territories is not None:
        frames["territories"] = data.territories
    return data, tables.refined(frames, rejected)
