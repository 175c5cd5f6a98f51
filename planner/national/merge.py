"""The partitions' plans gathered into one national plan: tables, one summary, map layers per partition.

:func:`merge` turns a :class:`planner.national.run.NationalRun` into a :class:`NationalPlan`:

- ``tables``: each plan table of the job concatenated over the partitions, with a ``partition``
  column first (days: ``stops``, ``left_out``, ``kpis``, ``contested``; week: ``stops``,
  ``rep_days``, ``due``, ``left_out``, ``rides``; territories: ``accounts``, ``reps``; bases:
  ``open`` (the bases opened) and ``accounts`` (each account's base and time));
- ``partitions``: one row per partition: its size, outcome (``ok``, ``skipped``, ``failed``), the
  solver's status and the limits it breaks, seconds, the worker, and the job's KPIs;
- ``summary``: the national totals (every whole-number KPI summed over the plans; the rates
  recomputed from the sums where the job has them), the spread of every other KPI (min, median,
  max over the partitions), ``plans_ok`` / ``plans_failed`` / ``plans_skipped`` counts with the
  failed partitions' names and errors, ``broken``: every partition whose plan breaks a limit
  (``report.violated``) or whose solver did not reach a plan (status ``partial``, ``infeasible``,
  ``invalid``, ``time_limit_no_solution``), with what it breaks, and the rows the partitioning left
  out, by reason.

:func:`layer_groups` gives the data of one map layer group per partition (points, routes, sites and
a colour index), at most ``max_points`` points in all (an even, deterministic sample per
partition); the app layer draws them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.national.partition import Partition
from planner.national.run import NationalRun, PartitionResult
from planner.options import options_dict

_NOT_A_PLAN = ("partial", "infeasible", "invalid", "time_limit_no_solution")
BASE_COLUMNS = ("partition", "key", "label", "in_reps", "in_sellers", "in_accounts", "in_pool_accounts", "in_offices",
                "status", "seconds", "cpu_seconds", "attempts", "worker", "peak_mb", "error", "solver_status",
                "violated", "message")


@dataclass(frozen=True, eq=False)
class NationalPlan:
    """The national plan: concatenated ``tables``, the ``partitions`` table, the ``summary`` (JSON-able),
    the rows the partitioning ``left_out``, and the run it came from."""

    job: str
    tables: dict[str, pd.DataFrame]
    partitions: pd.DataFrame
    summary: dict[str, Any]
    left_out: pd.DataFrame
    run: NationalRun = field(repr=False)

    @property
    def broken(self) -> list[dict[str, Any]]:
        """The partitions whose plan breaks a limit or is no plan (see the module docstring)."""
        return list(self.summary["broken"])

    def warnings(self) -> list[str]:
        """One loud sentence per failed partition and per broken plan (empty when all is well)."""
        out = [f"partition {f['partition']} FAILED after {f['attempts']} attempt(s): {f['error']}"
               for f in self.summary["failed"]]
        out += [f"partition {b['partition']}: plan {b['status']}; breaks: " + ("; ".join(b["violated"][:5]) or
                                                                               b["message"] or "no plan")
                for b in self.summary["broken"]]
        return out


# --------------------------------------------------------------------------- each job's tables and KPIs
def _day_tables(plan: Any, part: Partition) -> dict[str, pd.DataFrame]:
    out = {"stops": plan.stops, "left_out": plan.left_out, "kpis": plan.kpis}
    if plan.contested is not None:
        out["contested"] = plan.contested
    return out


def _day_kpis(plan: Any) -> dict[str, Any]:
    s = dict(plan.summary())
    s.pop("report", None)
    s.pop("date", None)
    s.pop("left_out_reasons", None)
    return s


def _week_tables(plan: Any, part: Partition) -> dict[str, pd.DataFrame]:
    return {"stops": plan.stops, "rep_days": plan.rep_days, "due": plan.due, "left_out": plan.left_out,
            "rides": plan.rides}


def _scalar_kpis(kpis: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kpis.items() if isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, bool)}


def _territory_tables(plan: Any, part: Partition) -> dict[str, pd.DataFrame]:
    return {"accounts": plan.accounts.reset_index(), "reps": plan.reps.reset_index()}


def _bases_tables(plan: Any, part: Partition) -> dict[str, pd.DataFrame]:
    acc = part.accounts[[S.ID, S.LON, S.LAT]].join(plan.assignment) if len(plan.assignment.columns) else \
        part.accounts[[S.ID, S.LON, S.LAT]]
    return {"open": plan.bases, "accounts": acc}


def _bases_kpis(plan: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"bases_open": int(len(plan.bases)), "demand_points": int(plan.demand_points)}
    out.update({f"today_{k}": v for k, v in plan.kpis_before.items()})
    out.update({f"plan_{k}": v for k, v in plan.kpis_after.items()})
    return _scalar_kpis(out)


@dataclass(frozen=True)
class _Job:
    tables: Callable[[Any, Partition], dict[str, pd.DataFrame]]
    kpis: Callable[[Any], dict[str, Any]]
    rates: tuple[tuple[str, str, str, float], ...] = ()  # (kpi, numerator, denominator, scale)


_JOBS: Mapping[str, _Job] = {
    "days": _Job(_day_tables, _day_kpis),
    "week": _Job(_week_tables, lambda p: _scalar_kpis(p.kpis),
                 (("visits_per_rep_day", "visits", "rep_days", 1.0),
                  ("rep_days_at_standard_pct", "rep_days_at_standard", "rep_days", 100.0),
                  ("cycle_kept_pct", "cycle_kept", "cycle_due", 100.0))),
    "territories": _Job(_territory_tables, lambda p: _scalar_kpis(p.kpis)),
    "bases": _Job(_bases_tables, _bases_kpis),
}


# --------------------------------------------------------------------------- the merge
def _concat(job: _Job, run: NationalRun) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pd.DataFrame]] = {}
    for part, res in zip(run.partitioning.partitions, run.results):
        if not res.ok:
            continue
        for name, frame in job.tables(res.plan, part).items():
            parts.setdefault(name, []).append(frame.assign(partition=part.name))
    out = {}
    for name, frames in parts.items():
        kept = [f for f in frames if len(f)] or frames[:1]
        df = pd.concat(kept, ignore_index=True)
        out[name] = df[["partition", *[c for c in df.columns if c != "partition"]]]
    return out


def _report(res: PartitionResult) -> dict[str, Any]:
    rep = getattr(res.plan, "report", None)
    if rep is None:
        return {"solver_status": "", "violated": [], "message": ""}
    return {"solver_status": rep.status, "violated": list(rep.violated), "message": rep.message}


def _rows(job: _Job, run: NationalRun) -> list[dict[str, Any]]:
    rows = []
    for part, res in zip(run.partitioning.partitions, run.results):
        size = {("partition" if k == "partition" else k if k in ("key", "label") else f"in_{k}"): v
                for k, v in part.counts().items()}
        row: dict[str, Any] = {**size, "status": res.status, "seconds": round(res.seconds, 3),
                               "cpu_seconds": round(res.cpu_seconds, 3), "attempts": res.attempts,
                               "worker": res.worker, "peak_mb": round(res.peak_mb, 1), "error": res.error,
                               **_report(res)}
        if res.ok:
            row.update(job.kpis(res.plan))
        rows.append(row)
    return rows


def _totals(job: _Job, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Whole-number KPIs summed over the plans (with the job's rates recomputed); the spread of the others."""
    ok = [r for r in rows if r["status"] == "ok"]
    kpis = sorted({k for r in ok for k in r} - set(BASE_COLUMNS))
    totals: dict[str, Any] = {}
    spread: dict[str, Any] = {}
    for k in kpis:
        vals = [r[k] for r in ok if k in r and r[k] is not None]
        if vals and all(isinstance(v, (int, np.integer)) for v in vals):
            totals[k] = int(sum(vals))
        elif vals:
            finite = [float(v) for v in vals if math.isfinite(float(v))]
            if finite:
                spread[k] = {"min": min(finite), "median": float(np.median(finite)), "max": max(finite)}
    for name, num, den, scale in job.rates:
        if num in totals and den in totals:
            totals[name] = round(scale * totals[num] / totals[den], 2) if totals[den] else 0.0
    return totals, spread


def _broken(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"partition": r["partition"], "status": r["solver_status"], "violated": r["violated"],
             "message": r["message"]} for r in rows
            if r["status"] == "ok" and (r["violated"] or r["solver_status"] in _NOT_A_PLAN)]


def merge(run: NationalRun) -> NationalPlan:
    """Gather the run's plans into one national plan (see the module docstring)."""
    job = _JOBS[run.spec.job]
    rows = _rows(job, run)
    totals, spread = _totals(job, rows)
    left = run.partitioning.left_out
    spec = run.spec
    summary: dict[str, Any] = {
        "job": spec.job, "by": run.partitioning.by, "mode": run.mode, "workers": run.workers,
        "seconds": round(run.seconds, 3), "date": None if spec.date is None else str(spec.date.date()),
        "partitions": len(rows), "plans_ok": sum(r["status"] == "ok" for r in rows),
        "plans_failed": sum(r["status"] == "failed" for r in rows),
        "plans_skipped": sum(r["status"] == "skipped" for r in rows),
        "failed": [{"partition": r["partition"], "error": r["error"], "attempts": r["attempts"]}
                   for r in rows if r["status"] == "failed"],
        "skipped": [{"partition": r["partition"], "reason": r["error"]} for r in rows if r["status"] == "skipped"],
        "broken": _broken(rows),
        "inputs": {"reps": int(sum(r["in_reps"] for r in rows)), "accounts": int(sum(r["in_accounts"] for r in rows)),
                   "left_out": int(len(left))},
        "totals": totals, "spread": spread,
        "left_out": {"rows": int(len(left)), "by_table": left["table"].value_counts().to_dict(),
                     "reasons": left.groupby(["table", "reason"]).size().rename("rows").reset_index()
                     .to_dict("records")},
        "options": options_dict(spec.options), "travel": str(getattr(spec.travel, "text", spec.travel or "model")),
        "notes": [*run.partitioning.notes, *run.notes],
        "per_partition": rows,
    }
    return NationalPlan(job=spec.job, tables=_concat(job, run), partitions=pd.DataFrame(rows), summary=summary,
                        left_out=left, run=run)


# --------------------------------------------------------------------------- map layers (data only)
@dataclass(frozen=True, eq=False)
class LayerGroup:
    """One partition's map layers: ``points`` (lon, lat, kind, label: visits, or accounts by territory or
    base; an even sample of ``total_points``), ``routes`` (each a sequence of (lon, lat): a rep's day),
    ``sites`` (lon, lat, label: base offices or open bases), ``colour`` (an index: partition order)."""

    name: str
    status: str
    colour: int
    points: pd.DataFrame
    routes: tuple[tuple[tuple[float, float], ...], ...]
    sites: pd.DataFrame
    total_points: int


def _sample(df: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(df) <= n:
        return df.reset_index(drop=True)
    return df.iloc[np.unique(np.linspace(0, len(df) - 1, max(n, 1)).round().astype(int))].reset_index(drop=True)


def _points(df: pd.DataFrame, kind: str, label: str) -> pd.DataFrame:
    return pd.DataFrame({"lon": df[S.LON].to_numpy(float), "lat": df[S.LAT].to_numpy(float),
                         "kind": df[kind].astype(str).to_numpy(), "label": df[label].astype(str).to_numpy()})


def _routes(stops: pd.DataFrame, keys: list[str]) -> tuple[tuple[tuple[float, float], ...], ...]:
    out = []
    for _, g in stops.sort_values([*keys, "seq"], kind="stable").groupby(keys, sort=True):
        if len(g) > 2:
            out.append(tuple(zip(g[S.LON].astype(float), g[S.LAT].astype(float))))
    return tuple(out)


def _sites_of(part: Partition) -> pd.DataFrame:
    bases = set(part.reps[S.BASE_OFFICE].astype(str)) if S.BASE_OFFICE in part.reps else set()
    off = part.offices[part.offices[S.ID].astype(str).isin(bases)]
    return pd.DataFrame({"lon": off[S.LON].to_numpy(float), "lat": off[S.LAT].to_numpy(float),
                         "label": off[S.NAME].astype(str).to_numpy() if S.NAME in off else off[S.ID].astype(str)})


def _layer_data(job: str, plan: Any, part: Partition) -> tuple[pd.DataFrame, tuple, pd.DataFrame]:
    if job in ("days", "week"):
        visits = plan.stops[plan.stops["kind"] != "base"]
        keys = ["rep"] if job == "days" else ["rep", "date"]
        return _points(visits, "kind", "rep"), _routes(plan.stops, keys), _sites_of(part)
    if job == "territories":
        acc = plan.accounts[plan.accounts["outcome"] == "assigned"].reset_index()
        reps = plan.reps.reset_index()
        sites = pd.DataFrame({"lon": reps["base_lon"].to_numpy(float), "lat": reps["base_lat"].to_numpy(float),
                              "label": reps[reps.columns[0]].astype(str).to_numpy()})
        return _points(acc, "territory", "territory"), (), sites
    acc = part.accounts[[S.LON, S.LAT]].join(plan.assignment) if "base" in plan.assignment else \
        part.accounts[[S.LON, S.LAT]].assign(base="")
    sites = pd.DataFrame({"lon": plan.bases.get("lon", pd.Series(dtype=float)).to_numpy(float),
                          "lat": plan.bases.get("lat", pd.Series(dtype=float)).to_numpy(float),
                          "label": plan.bases.get("name", pd.Series(dtype=str)).astype(str).to_numpy()})
    return _points(acc, "base", "base"), (), sites


def layer_groups(plan: NationalPlan, *, max_points: int = 50_000) -> list[LayerGroup]:
    """One :class:`LayerGroup` per partition with a plan, at most ``max_points`` points in all."""
    run = plan.run
    have = [(k, part, res) for k, (part, res) in enumerate(zip(run.partitioning.partitions, run.results))
            if res.ok]
    each = max(20, max_points // max(len(have), 1))
    out = []
    for k, part, res in have:
        pts, routes, sites = _layer_data(plan.job, res.plan, part)
        out.append(LayerGroup(name=part.name, status=_report(res)["solver_status"] or res.status, colour=k,
                              points=_sample(pts, each), routes=routes, sites=sites, total_points=len(pts)))
    return out
