"""The territories app (notebook 02): settings, two scenarios compared, map, KPIs, export, saved scenarios.

No planning logic lives here: the app calls ``planner.solvers.territories.solve`` (and
``realignment_curve``) and shows the plan; the map is ``planner.app.maps.territory_map``. Nothing is
solved until **Solve A** or **Solve B** is pressed; while a scenario solves, the scenarios are greyed,
the progress row says the phase and the seconds, and **Cancel** stops the search at its next stage (the
previous plan of that scenario stays).

Besides the two scenarios:

- **Contiguous areas** (连续片区: auto, yes, no), **Accounts +-**, **Keep today's** and **Districts**
  are the options of contiguous plans; the **Effective date** (生效日期) stages a plan: it is on every
  row of the change list shown, exported and saved.
- **Select units on the map** (``planner.app.ui.selection``): plan A's basic units on a live map; the
  units selected are locked to their rep or moved to another, as pins (``assign``) for the next solve.
- **Saved scenarios**: a scenario saved under a name stays with the workspace
  (``planner.io.scenarios``); every saved one is listed, with its effective date, and compared side by
  side (balance, travel, moves, shape).
- **Realignment curve**: contiguous plans from keeping today's territories to drawing them from scratch
  (moves against compactness), as a table and two small charts; any of them can become scenario B.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.territories import change_list, summary_dict, write_plan
from planner.app.maps.territories import rep_colours
from planner.app.ui.common import (
    Data,
    as_widget,
    error_html,
    export_row,
    load,
    rejected_html,
    resolve_out,
    travel_of,
    written_html,
)
from planner.app.ui.jobs import Job, button, job
from planner.app.ui.options import options_from, widget
from planner.app.ui.selection import SelectionMap, selection_map
from planner.app.ui.tables import COLUMNS, details, fmt, header, kpi_html as kpi_table_html, report_html, table_html, tr
from planner.io import scenarios
from planner.io.workspace import Tables
from planner.solvers import territories

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = ("tolerance", "potential_tolerance", "include_pool", "time_limit_s")
AREA_CONTROLLED = ("count_tolerance", "keep", "districts")  # options of contiguous plans
AREA_LABELS = {"count_tolerance": ("客户数偏差", "Accounts ±"), "keep": ("保留现有", "Keep today's"),
               "districts": ("主管大区", "Districts")}  # 0 = off: in the tooltip
CONTIGUOUS = {"auto": None, "on": True, "off": False}
REP_COLUMNS = ("accounts", "capacity", "workload_h", "target_workload_h", "potential_cny", "travel_min_mean",
               "moved_in", "moved_out", "locked", "share")
CHANGE_WORDS = {"move": ("调整", "move"), "stays": ("不变", "stays"), "to public pool": ("退回公海", "to public pool"),
                "stays in pool": ("留在公海", "stays in pool"), "kept outside": ("计划外保留", "kept outside")}
CURVE_COLUMNS = {
    "plan": ("方案", "plan", "text"), **{k: COLUMNS[k] for k in ("moved", "moved_potential_cny", "knn_same",
                                                                "hull_overlap", "dispersion_km",
                                                                "workload_max_over_min")},
    "balanced": ("均衡", "balanced", "bool"), "contiguous": ("连续", "contiguous", "bool"),
    "status": ("状态", "status", "text"),
}
# KPIs shown as yes / no (the tables' catalogue, planner.app.ui.tables.COLUMNS, names the others)
KPI_LABELS = {"contiguous": ("连续片区", "contiguous", "bool")}
CHANGE_COLUMNS = {"account": ("客户", "account", "text"), "name": ("名称", "name", "text"),
                  "from": ("原负责人", "from", "text"), "to": ("新负责人", "to", "text"),
                  "change": ("变更", "change", "text"), "reason": ("原因", "reason", "text")}
SAVED_MAX = 8  # saved scenarios compared side by side at most (the newest names first)


def bar_chart_svg(values: pd.Series, target: pd.Series | None = None, *, title: str = "", unit: str = "",
                  tolerance: float | None = None, width: int = 460) -> str:
    """Horizontal bars (one per index label) with each bar's target and tolerance band, as inline SVG."""
    n = len(values)
    row, left, right, top = 16, 70, 60, 24
    height = top + n * row + 10
    vmax = float(max(values.max() if n else 1.0, (target.max() * (1 + (tolerance or 0))) if target is not None
                     and n else 0.0, 1e-9))
    scale = (width - left - right) / vmax
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'style="font:11px sans-serif">',
             f'<text x="4" y="14" font-weight="bold">{html.escape(title)}</text>']
    colours = rep_colours(values.index)
    decimals = 1 if vmax < 100 else 0
    for i, (label, v) in enumerate(values.items()):
        y = top + i * row
        if target is not None and tolerance is not None:
            t = float(target.loc[label])
            x0, x1 = left + t * (1 - tolerance) * scale, left + t * (1 + tolerance) * scale
            parts.append(f'<rect x="{x0:.1f}" y="{y - 1}" width="{x1 - x0:.1f}" height="{row - 2}" fill="#e8e8e8"/>')
        parts.append(f'<text x="{left - 4}" y="{y + row - 5}" text-anchor="end">{html.escape(str(label))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{max(float(v) * scale, 0):.1f}" height="{row - 6}" '
                     f'fill="{colours[label]}"/>')
        if target is not None:
            xt = left + float(target.loc[label]) * scale
            parts.append(f'<line x1="{xt:.1f}" x2="{xt:.1f}" y1="{y}" y2="{y + row - 2}" stroke="#000"/>')
        parts.append(f'<text x="{left + max(float(v) * scale, 0) + 3:.1f}" y="{y + row - 5}">'
                     f'{float(v):,.{decimals}f}{html.escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)



def curve_svg(table: pd.DataFrame, y: str, *, title: str = "", x: str = "moved", width: int = 340,
              height: int = 210) -> str:
    """The realignment curve as inline SVG: one point per plan (``x`` accounts moved, ``y`` a shape measure),
    joined in the table's order and labelled with the plan's name; plans without a ``y`` are left out."""
    t = table[[x, y, "plan"]].copy()
    t = t[pd.to_numeric(t[x], errors="coerce").notna() & pd.to_numeric(t[y], errors="coerce").notna()]
    left, right, top, bottom = 46, 14, 22, 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'style="font:11px sans-serif">', f'<text x="4" y="14" font-weight="bold">{html.escape(title)}</text>']
    if not len(t):
        parts.append(f'<text x="{left}" y="{height / 2:.0f}">–</text></svg>')
        return "".join(parts)
    xs, ys = t[x].astype(float).to_numpy(), t[y].astype(float).to_numpy()
    x0, x1 = 0.0, max(float(xs.max()), 1.0)
    y0, y1 = float(ys.min()), float(ys.max())
    if math.isclose(y0, y1):
        y0, y1 = y0 - 0.5 * (abs(y0) or 1.0), y1 + 0.5 * (abs(y1) or 1.0)
    pad = 0.08 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (width - left - right)

    def py(v: float) -> float:
        return top + (y1 - v) / (y1 - y0) * (height - top - bottom)

    h0, w0 = height - bottom, width - right
    parts.append(f'<line x1="{left}" y1="{h0}" x2="{w0}" y2="{h0}" stroke="#888"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h0}" stroke="#888"/>')
    fmt = (lambda v: f"{v:,.0f}") if abs(y1) >= 100 else (lambda v: f"{v:,.2f}")
    for v in (y0 + pad, y1 - pad):
        parts.append(f'<text x="{left - 3}" y="{py(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    parts.append(f'<text x="{left}" y="{h0 + 13}">0</text><text x="{w0}" y="{h0 + 13}" text-anchor="end">'
                 f'{x1:,.0f}</text><text x="{(left + w0) / 2:.0f}" y="{h0 + 26}" text-anchor="middle">'
                 f'{html.escape(tr("调整客户数", "accounts moved"))}</text>')
    pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys))
    parts.append(f'<polyline points="{pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>')
    for a, b, name in zip(xs, ys, t["plan"]):
        parts.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3.5" fill="#1f77b4"/>'
                     f'<text x="{px(a) + 5:.1f}" y="{py(b) - 5:.1f}" fill="#333">{html.escape(str(name))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _yes_no(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return "✓" if bool(v) else tr("✗ 否", "✗ no")


def kpi_rows(df: pd.DataFrame) -> pd.DataFrame:
    """A KPI table (one KPI a row) with the rows of :data:`KPI_LABELS` named in words and written as text."""
    out = df.astype(object).copy()
    names = []
    for key in out.index:
        spec = KPI_LABELS.get(str(key))
        if spec is None:
            names.append(key)
            continue
        out.loc[key] = [_yes_no(v) if spec[2] == "bool" else fmt(v, spec[2]) for v in out.loc[key]]
        names.append(header(str(key), spec))
    out.index = pd.Index(names, name="kpi")
    return out


def kpi_html(plan: territories.TerritoryPlan) -> str:
    """The per-rep KPI table as HTML (headers in words, numbers formatted)."""
    cols = ["rep", *REP_COLUMNS] + (["district"] if "district" in plan.reps.columns else [])
    return table_html(plan.reps.rename_axis("rep"), cols, index=True)


def changes_html(plan: territories.TerritoryPlan, effective_date: str | None, names: pd.Series | None = None, *,
                 rows: int = 15) -> str:
    """The change list the CRM needs, summed up: the effective date, the count per kind of change and the
    first changes (account, name, from, to, reason)."""
    ch = change_list(plan, effective_date)
    when = effective_date or tr("未定（导出或保存前请填写生效日期）", "not set (set the effective date before export "
                                "or saving)")
    counts = ch["change"].value_counts()
    kinds = " · ".join(f"{tr(*CHANGE_WORDS.get(str(k), (str(k), str(k))))}: {int(n):,}" for k, n in counts.items())
    head = (f"<p>{html.escape(tr('生效日期', 'Effective date'))}: <b>{html.escape(when)}</b><br>"
            f"{html.escape(kinds)}</p>")
    shown = ch[ch["change"].isin(["move", "to public pool"])].copy()
    if names is not None:
        shown.insert(1, "name", shown["account"].map(names).fillna(""))
    cols = {c: CHANGE_COLUMNS[c] for c in ("account", "name", "from", "to", "change", "reason") if c in shown}
    body = table_html(shown, cols, rows=rows) if len(shown) else ""
    return head + body


@dataclass
class TerritoriesApp:
    """Widgets and state of the territories app; ``solve(name)`` runs one scenario."""

    tables: Tables
    base: territories.TerritoryOptions
    widget: Any
    controls: dict[str, Any]
    boxes: dict[str, Any]
    locked: set[str] = field(default_factory=set)
    plans: dict[str, territories.TerritoryPlan] = field(default_factory=dict)
    job: Job | None = None
    selection: SelectionMap | None = None
    curve: pd.DataFrame | None = None
    curve_plans: dict[str, territories.TerritoryPlan] = field(default_factory=dict)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- settings --------------------------------------------------------------
    def options(self) -> territories.TerritoryOptions:
        """The settings the controls show (with the pins of the selection map)."""
        c = self.controls
        excluded = {t.strip() for t in c["excluded"].value.replace("\n", ",").split(",") if t.strip()}
        pins = self.selection.assign() if self.selection is not None else self.base.assign
        return options_from(self.base, {k: c[k] for k in (*CONTROLLED, *AREA_CONTROLLED)},
                            max_moves=int(c["max_moves"].value) if c["limit_moves"].value else None,
                            pool_return_days=int(c["pool_days"].value) if c["pool_rule"].value else None,
                            locked=frozenset(self.locked), excluded=frozenset(excluded),
                            contiguous=CONTIGUOUS[c["contiguous"].value], assign=pins)

    def effective_date(self) -> str | None:
        """The effective date shown (ISO ``YYYY-MM-DD``), or None when not set."""
        return scenarios.check_date(self.controls["effective_date"].value)

    def problem(self) -> territories.TerritoryProblem:
        return territories.problem_from_tables(self.tables["accounts"], self.tables["reps"], self.tables["offices"],
                                               n_reps=int(self.controls["reps"].value))

    def _lock_changed(self, change):
        visible = {v for _, v in self.controls["lock_select"].options}
        self.locked = (self.locked - visible) | set(change["new"])
        self._count_locked()

    def _count_locked(self) -> None:
        self.controls["lock_count"].value = tr(f"已锁定 {len(self.locked)} 个客户", f"{len(self.locked)} locked")

    def _lock_owner_changed(self, change=None):
        acc = self.tables["accounts"]
        owner = self.controls["lock_owner"].value
        sub = acc[acc[S.OWNER] == owner].sort_values(S.ID)
        sel = self.controls["lock_select"]
        sel.unobserve(self._lock_changed, names="value")
        sel.options = [(f"{r[S.ID]} {r[S.CLASS]} {r[S.NAME][:28]}", r[S.ID]) for _, r in sub.iterrows()]
        sel.value = tuple(v for _, v in sel.options if v in self.locked)
        sel.observe(self._lock_changed, names="value")

    def lock(self, ids) -> None:
        """Lock accounts (by id) with their owners, as if selected in the table."""
        self.locked |= {str(i) for i in ids}
        self._count_locked()
        self._lock_owner_changed()

    def unlock(self, ids=None) -> None:
        """Unlock the given accounts (all when None)."""
        self.locked = set() if ids is None else self.locked - {str(i) for i in ids}
        self._count_locked()
        self._lock_owner_changed()

    # --- solving and showing ------------------------------------------------------
    def _request(self, name: str) -> tuple[Any, Any, dict[str, Any]]:
        """The solve of scenario ``name`` with the settings shown now: (work, done, keywords for the job)."""
        c = self.controls
        problem, opts = self.problem(), self.options()
        backend = travel_of(self).backend

        def work(progress: Any) -> territories.TerritoryPlan:
            return territories.solve(problem, opts, progress=progress, backend=backend)

        def done(plan: territories.TerritoryPlan) -> None:
            self._show_plan(name, plan)
            c["status"].value = f"{html.escape(tr(f'方案 {name}', f'Scenario {name}'))}: {report_html(plan.report)}"

        what = tr(f"求解方案 {name}", f"solving scenario {name}")
        return work, done, {"what": what, "limit_s": opts.time_limit_s, "on_error": self._error}

    def _show_plan(self, name: str, plan: territories.TerritoryPlan) -> None:
        self.plans[name] = plan
        self.refresh()
        if name == "A" and self.selection is not None:
            self.selection.show(plan)

    def _error(self, e: Exception) -> None:
        self.controls["status"].value = error_html(e)

    def solve(self, name: str = "A") -> territories.TerritoryPlan | None:
        """Solve the current settings as scenario ``name`` ("A" or "B") and show it, here and now (the
        previous plan of ``name`` when the solve is cancelled or fails)."""
        work, done, kw = self._request(name)
        assert self.job is not None
        self.job.run(work, done, **kw)
        return self.plans.get(name)

    def request_solve(self, name: str) -> None:
        """Solve from a button: in the background in a notebook."""
        assert self.job is not None
        self.job.start(lambda: self._request(name), self._error, background=True)

    def refresh(self, *_):
        for name in ("A", "B"):
            box = self.boxes[name]
            plan = self.plans.get(name)
            if plan is None:
                box.children = (self._html("<p><b>" + html.escape(tr(f"方案 {name}", f"Scenario {name}")) + "</b>: "
                                           + html.escape(tr(f"尚未求解：设置后按“求解 {name}”",
                                                            f"not solved yet; set the options and press Solve {name}"))
                                           + "</p>"),)
                continue
            box.children = self._scenario(name, plan)
        if self.plans:
            names = list(self.plans)
            table = kpi_table_html(kpi_rows(territories.kpi_table(self.plans)), key="kpi",
                                   columns={n: tr(f"方案 {n}", f"scenario {n}") for n in names})
            self.boxes["compare"].value = "<b>" + html.escape(tr("方案对比", "Side by side")) + "</b>" + table

    def _head(self, name: str, plan: territories.TerritoryPlan) -> str:
        opts, k = plan.options, plan.kpis
        moves = "–" if opts.max_moves is None else f"{opts.max_moves:,}"
        pins = f"，固定 {len(opts.assign)}" if opts.assign else ""
        pins_en = f", {len(opts.assign)} pinned" if opts.assign else ""
        text = tr(f"{len(plan.reps)} 名销售，工作量 ±{opts.tolerance:.0%}，潜力 ±{opts.potential_tolerance:.0%}，"
                  f"最多调整 {moves}，锁定 {len(opts.locked)}{pins}",
                  f"{len(plan.reps)} reps, workload ±{opts.tolerance:.0%}, potential ±{opts.potential_tolerance:.0%}, "
                  f"max moves {moves}, {len(opts.locked)} locked{pins_en}")
        if plan.areas is not None:
            ok, n_units = bool(k.get("contiguous")), k.get("units", 0)
            text += " · " + tr(f"连续片区（{n_units:,} 个单元）：{'全部相连' if ok else '有片区不相连'}",
                               f"areas on {n_units:,} units: {'every one connected' if ok else 'NOT ALL CONNECTED'}")
            if k.get("districts"):
                text += " · " + tr(f"{k['districts']} 个主管大区", f"{k['districts']} districts")
        shape = tr(f"5 近邻同片区 {k.get('knn_same', math.nan):.0%}，凸包重叠 {k.get('hull_overlap', math.nan):.2f}",
                   f"5 nearest in the same territory {k.get('knn_same', math.nan):.0%}, hull overlap "
                   f"{k.get('hull_overlap', math.nan):.2f}")
        return (f"<b>{html.escape(tr(f'方案 {name}', f'Scenario {name}'))}</b>: " + html.escape(text)
                + f"<br><small>{html.escape(shape)}</small><br><small>{report_html(plan.report)}</small>")

    def _names(self) -> pd.Series:
        acc = self.tables["accounts"]
        return pd.Series(acc[S.NAME].astype(str).to_numpy(), index=acc[S.ID].astype(str).to_numpy())

    def _scenario(self, name: str, plan: territories.TerritoryPlan) -> tuple[Any, ...]:
        opts = plan.options
        mp = as_widget(maps.territory_map(plan, self.tables["offices"]), height=560)
        charts = (bar_chart_svg(plan.reps["workload_h"], plan.reps["target_workload_h"],
                                title=tr("工作量（小时/月）", "Workload, h a month"), tolerance=opts.tolerance)
                  + bar_chart_svg(plan.reps["potential_cny"] / 1e6, plan.reps["target_potential_cny"] / 1e6,
                                  title=tr("潜力（百万元）", "Potential, million CNY"),
                                  tolerance=opts.potential_tolerance))
        moves_html = table_html(plan.moves, ["owner", "territory", "reason"], rows=15) if len(plan.moves) else ""
        changes = self._html(self._changes_details(name, plan))
        self.boxes[f"changes_{name}"] = changes
        return (self._html(self._head(name, plan)), mp,
                self._html(f'<div style="max-width:100%;overflow-x:auto">{charts}</div>'),
                self._html(details(tr("每位销售的指标", "Per-rep KPIs"), kpi_html(plan))
                           + details(tr(f"前几项调整（共 {len(plan.moves):,} 项）",
                                        f"First moves ({len(plan.moves):,} in all)"), moves_html)), changes)

    def _changes_details(self, name: str, plan: territories.TerritoryPlan) -> str:
        try:
            when = self.effective_date()
        except ValueError:
            when = None
        title = tr(f"方案 {name} 的变更清单（给 CRM）", f"Change list of scenario {name} (for the CRM)")
        return details(title, changes_html(plan, when, self._names()))

    def _date_changed(self, *_: Any) -> None:
        for name, plan in self.plans.items():
            box = self.boxes.get(f"changes_{name}")
            if box is not None:
                box.value = self._changes_details(name, plan)

    def changes(self, name: str = "A", *, rows: int = 15) -> Any:
        """Scenario ``name``'s change list summed up for a notebook cell: the effective date, the count per kind
        of change and the first changes with the accounts' names."""
        from IPython.display import HTML

        return HTML(changes_html(self.plans[name], self.effective_date(), self._names(), rows=rows))

    def change_list(self, name: str = "A") -> pd.DataFrame:
        """Scenario ``name``'s change list (account, from, to, change, reason, effective date)."""
        return change_list(self.plans[name], self.effective_date())

    # --- saved scenarios ------------------------------------------------------------
    def scenarios_root(self) -> Path:
        return self.tables.workspace.scenarios_root()

    def saved(self) -> list[scenarios.Scenario]:
        """The territory scenarios saved with this workspace, by name."""
        return [s for s in scenarios.list_all(self.scenarios_root()) if s.meta.get("job") == "territories"]

    def save(self, which: str = "A", name: str | None = None) -> scenarios.Scenario:
        """Save scenario ``which``'s plan under ``name`` (default: the name box) with the effective date shown;
        the list and the comparison of saved scenarios are redrawn."""
        plan = self.plans.get(which)
        if plan is None:
            raise ValueError(tr(f"方案 {which} 尚未求解", f"scenario {which} is not solved yet"))
        text = self.controls["scenario_name"].value if name is None else name
        when = self.effective_date()
        data = summary_dict(plan)
        sc = scenarios.save(self.scenarios_root(), text, job="territories", changes=change_list(plan, when),
                            kpis=data["kpis"], options=data["options"], effective_date=when, areas=plan.areas,
                            report={k: data[k] for k in ("status", "objective", "bound", "gap", "message")})
        self.show_saved()
        zh, en = (f"，生效日期 {when}", f", effective {when}") if when else ("", "")
        self.controls["saved_status"].value = html.escape(
            tr(f"已保存方案 {which} 为“{sc.name}”{zh}：{sc.folder}",
               f"Saved scenario {which} as {sc.name!r}{en}: {sc.folder}"))
        return sc

    def _on_save(self, which: str) -> None:
        try:
            self.save(which)
        except (ValueError, OSError) as e:
            self.controls["saved_status"].value = error_html(e)

    def show_saved(self) -> None:
        """Redraw the list of saved scenarios and their side-by-side comparison."""
        out = self.boxes["saved"]
        try:
            saved = self.saved()
        except OSError as e:
            out.value = error_html(e)
            return
        if not saved:
            out.value = "<p>" + html.escape(tr(f"尚无保存的方案（保存在 {self.scenarios_root()}）",
                                               f"no scenario saved yet (they go to {self.scenarios_root()})")) + "</p>"
            return
        rows = pd.DataFrame({
            "plan": [s.name for s in saved],
            "effective_date": [s.effective_date or "" for s in saved],
            "saved": [str(s.meta.get("saved", ""))[:16].replace("T", " ") for s in saved],
            "status": [s.meta.get("report", {}).get("status") for s in saved],
            "moved": [s.kpis.get("moved") for s in saved],
            "contiguous": [s.kpis.get("contiguous") for s in saved],
        })
        listing = table_html(rows, {"plan": ("方案", "scenario", "text"),
                                    "effective_date": ("生效日期", "effective date", "text"),
                                    "saved": ("保存于 (UTC)", "saved (UTC)", "text"),
                                    "status": ("状态", "status", "text"),
                                    "moved": ("调整客户", "accounts moved", "int"),
                                    "contiguous": ("连续片区", "contiguous", "bool")})
        staged = [s for s in saved if s.effective_date]
        staged_line = ""
        if staged:
            by_date = sorted(staged, key=lambda s: str(s.effective_date))
            items = "; ".join(f"{s.name} → {s.effective_date}" for s in by_date)
            staged_line = "<p>" + html.escape(tr("已排期生效", "Staged") + ": " + items) + "</p>"
        shown = saved[:SAVED_MAX]
        try:
            table = scenarios.compare(shown)
            compare = kpi_table_html(kpi_rows(table), key="kpi", columns={n: n for n in table.columns})
        except (OSError, ValueError, KeyError) as e:
            compare = error_html(e)
        more = "" if len(saved) <= SAVED_MAX else "<p>" + html.escape(
            tr(f"只对比前 {SAVED_MAX} 个", f"the first {SAVED_MAX} compared")) + "</p>"
        out.value = (listing + staged_line + "<b>" + html.escape(tr("已保存方案对比", "Saved scenarios side by side"))
                     + "</b>" + compare + more)

    # --- the realignment curve --------------------------------------------------------
    def _curve_request(self) -> tuple[Any, Any, dict[str, Any]]:
        problem, opts = self.problem(), self.options()
        backend = travel_of(self).backend
        keeps = territories.CURVE_KEEPS

        def work(progress: Any) -> tuple[pd.DataFrame, dict[float, territories.TerritoryPlan]]:
            return territories.realignment_curve(problem, opts, keeps=keeps, progress=progress, backend=backend)

        def done(result: tuple[pd.DataFrame, dict[float, territories.TerritoryPlan]]) -> None:
            self.show_curve(*result)

        what = tr(f"调整曲线（{len(keeps)} 个连续方案）", f"realignment curve ({len(keeps)} contiguous plans)")
        return work, done, {"what": what, "limit_s": opts.time_limit_s * len(keeps), "on_error": self._error}

    def run_curve(self) -> pd.DataFrame | None:
        """The realignment curve with the settings shown, here and now; shown and returned."""
        work, done, kw = self._curve_request()
        assert self.job is not None
        self.job.run(work, done, **kw)
        return self.curve

    def request_curve(self, *_: Any) -> None:
        assert self.job is not None
        self.job.start(self._curve_request, self._error, background=True)

    def show_curve(self, table: pd.DataFrame, plans: dict[float, territories.TerritoryPlan]) -> None:
        """Show a curve: the table, moves against hull overlap and dispersion, the plans to take as B."""
        self.curve = table
        named = {str(r["plan"]): plans[float(r["keep"])] for _, r in table.iterrows() if float(r["keep"]) in plans}
        self.curve_plans = named
        charts = (curve_svg(table, "hull_overlap", title=tr("凸包重叠（越小越紧凑）", "Hull overlap (lower: more "
                                                            "compact)"))
                  + curve_svg(table, "dispersion_km", title=tr("离散度（公里）", "Dispersion, km")))
        body = (f'<div style="max-width:100%;overflow-x:auto">{charts}</div>'
                + table_html(table, {c: spec for c, spec in CURVE_COLUMNS.items() if c in table.columns}))
        self.boxes["curve"].value = body
        pick = self.controls["curve_pick"]
        pick.options = list(named)
        pick.value = next(iter(named), None)

    def use_curve_plan(self, plan_name: str | None = None, *, as_: str = "B") -> territories.TerritoryPlan:
        """Show a plan of the curve (by its name in the table, default: the one picked) as scenario ``as_``."""
        key = plan_name if plan_name is not None else self.controls["curve_pick"].value
        if key not in self.curve_plans:
            raise ValueError(tr("先计算调整曲线", "compute the curve first"))
        plan = self.curve_plans[key]
        self._show_plan(as_, plan)
        return plan

    def _on_use_curve(self, *_: Any) -> None:
        try:
            self.use_curve_plan()
        except ValueError as e:
            self.controls["status"].value = error_html(e)

    # --- export ------------------------------------------------------------------------------
    def export(self, folder: str | Path | None = None) -> list[Path]:
        """Write every solved scenario into ``folder``/<scenario>/ (the change list with the effective date
        shown) and list the paths in the app."""
        out = resolve_out(folder if folder is not None else self.controls["folder"].value, "territories")
        when = self.effective_date()
        paths: list[Path] = []
        with staged_output(out) as tmp:
            for name, plan in self.plans.items():
                paths += write_plan(plan, tmp / name, inputs=self.tables.summary(), effective_date=when)
                paths.append(maps.save_html(maps.territory_map(plan, self.tables["offices"]),
                                            tmp / name / "territories_map.html"))
        paths = moved(paths, tmp, out)
        self.controls["export_out"].value = written_html(paths) if paths else html.escape(
            tr("尚未求解任何方案", "nothing solved yet"))
        return paths

    def _on_export(self, *_: Any) -> None:
        try:
            self.export()
        except (ValueError, OSError) as e:
            self.controls["export_out"].value = error_html(e)

    @staticmethod
    def _html(text: str):
        import ipywidgets as w

        return w.HTML(text, layout=w.Layout(width="100%"))


def _area_control(name: str, base: territories.TerritoryOptions, lay: Any) -> Any:
    """The control of an option of contiguous plans; "off" (0) reachable where the option has one."""
    c = widget(territories.TerritoryOptions, name, options=base, layout=lay, description=tr(*AREA_LABELS[name]))
    if name in ("count_tolerance", "districts"):
        c.tooltip = f"{c.tooltip} " + tr("（0 = 不用）", "(0 = off)")
    if name in ("count_tolerance", "districts"):  # 0 means off (None): the slider starts there
        value = getattr(base, name)
        c.min = 0
        c.value = 0 if value is None else value
    return c


def _controls(tables: Tables, base: territories.TerritoryOptions, effective_date: date | str | None) -> dict[str, Any]:
    import ipywidgets as w

    sellers = territories.select_reps(tables["reps"], None)
    n0 = max(2, len(sellers))
    style = {"description_width": "initial"}
    lay = w.Layout(width="400px", max_width="100%")
    acc = tables["accounts"]
    owners = sorted(o for o in acc[S.OWNER].unique() if o != S.PUBLIC_POOL)
    when = scenarios.check_date(effective_date)
    contiguous = {None: "auto", True: "on", False: "off"}[base.contiguous]
    return {
        "reps": w.BoundedIntText(value=n0, min=1, max=n0 + 30, description=tr("销售人数", "Reps"), style=style,
                                 layout=lay),
        **{k: widget(territories.TerritoryOptions, k, options=base, layout=lay) for k in CONTROLLED},
        "contiguous": w.Dropdown(
            options=[(tr("自动（新划分：是；调整：否）", "auto (new design: yes; realignment: no)"), "auto"),
                     (tr("是", "yes"), "on"), (tr("否（逐个客户分配）", "no (account by account)"), "off")],
            value=contiguous, description=tr("连续片区", "Contiguous areas"), style=style, layout=lay,
            tooltip=tr("每个片区是一块相连的区域", "each territory one connected, compact area of basic units")),
        **{k: _area_control(k, base, lay) for k in AREA_CONTROLLED},
        "effective_date": w.DatePicker(value=None if when is None else date.fromisoformat(when),
                                       description=tr("生效日期", "Effective date"), style=style),
        "limit_moves": w.Checkbox(value=base.max_moves is not None, description=tr("限制调整数", "Limit moves"),
                                  indent=False),
        "max_moves": w.BoundedIntText(value=base.max_moves if base.max_moves is not None else 100, min=0,
                                      max=10**6, description=tr("最多调整", "Max moves"), style=style,
                                      layout=w.Layout(width="260px")),
        "pool_rule": w.Checkbox(value=base.pool_return_days is not None, description=tr("公海规则", "Pool rule"),
                                indent=False),
        "pool_days": w.BoundedIntText(value=base.pool_return_days or 90, min=1, max=3650,
                                      description=tr("未拜访天数", "Not visited for (days)"), style=style,
                                      layout=w.Layout(width="300px")),
        "lock_owner": w.Dropdown(options=owners, value=owners[0] if owners else None,
                                 description=tr("锁定谁的客户", "Lock accounts of"), style=style, layout=lay),
        "lock_select": w.SelectMultiple(options=[], rows=8, description=tr("锁定（多选）", "Locked (select)"),
                                        style=style, layout=w.Layout(width="440px", max_width="100%")),
        "lock_count": w.HTML(tr("已锁定 0 个客户", "0 locked")),
        "excluded": w.Textarea(value=", ".join(sorted(base.excluded)),
                               placeholder=tr("留在公海的客户编号，逗号分隔", "account ids to keep in the pool, "
                                              "comma separated"),
                               description=tr("排除", "Exclude ids"), style=style,
                               layout=w.Layout(width="440px", max_width="100%", height="60px")),
        "solve_a": button(tr("求解方案 A", "Solve A"), style="primary", icon="play"),
        "solve_b": button(tr("求解方案 B", "Solve B"), style="info", icon="play"),
        "curve": button(tr("调整曲线", "Curve"), icon="line-chart",
                        tooltip=tr("从“全部保留”到“重新划分”的几个连续方案：调整数与紧凑度的取舍",
                                   "contiguous plans from keeping today's territories to drawing them from scratch: "
                                   "moves against compactness")),
        "curve_pick": w.Dropdown(options=[], description=tr("曲线上的方案", "Plan of the curve"), style=style),
        "curve_use": button(tr("作为方案 B", "Show as B"), icon="share"),
        "status": w.HTML("", layout=w.Layout(width="100%")),
        "scenario_name": w.Text(value="", placeholder=tr("方案名称，如 2027 年调整", "a name, e.g. 2027 realignment"),
                                description=tr("方案名称", "Scenario name"), style=style, layout=lay),
        "save_a": button(tr("保存方案 A", "Save A"), icon="save"),
        "save_b": button(tr("保存方案 B", "Save B"), icon="save"),
        "saved_status": w.HTML("", layout=w.Layout(width="100%")),
    }


def _section(title: tuple[str, str]) -> Any:
    import ipywidgets as w

    return w.HTML(f'<h4 style="margin:14px 0 4px 0">{html.escape(tr(*title))}</h4>', layout=w.Layout(width="100%"))


def territories_app(data: Data = None, *, options: territories.TerritoryOptions | None = None,
                    solve_first: bool = True, effective_date: date | str | None = None) -> TerritoriesApp:
    """Build the app on the demo (or a data folder); the controls start at ``options`` (and the effective date
    at ``effective_date``); solves scenario A when ``solve_first``."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    base = options or territories.TerritoryOptions()
    c = _controls(tables, base, effective_date)
    c["folder"], c["export"], c["export_out"], export = export_row(resolve_out(None, "territories"))
    # the scenarios one above the other, each map the panel's full width (side by side, each was half of
    # it, too narrow to read); the comparison table above them holds the side-by-side numbers
    full = w.Layout(width="100%")
    boxes = {"A": w.VBox(layout=full), "B": w.VBox(layout=full), "compare": w.HTML("", layout=w.Layout(width="100%")),
             "saved": w.HTML("", layout=w.Layout(width="100%")), "curve": w.HTML("", layout=w.Layout(width="100%"))}
    scenarios_box = w.VBox([boxes["A"], boxes["B"]], layout=w.Layout(width="100%"))
    jb = job(busy=[boxes["compare"], scenarios_box, boxes["curve"]],
             buttons=[c["solve_a"], c["solve_b"], c["curve"], c["export"]])
    c["progress"] = jb.bar
    settings = w.HBox([
        w.VBox([c["reps"], c["tolerance"], c["potential_tolerance"], w.HBox([c["limit_moves"], c["max_moves"]]),
                w.HBox([c["pool_rule"], c["pool_days"]]), c["include_pool"], c["time_limit_s"]]),
        w.VBox([c["contiguous"], *(c[k] for k in AREA_CONTROLLED), c["effective_date"]]),
        w.VBox([c["lock_owner"], c["lock_select"], c["lock_count"], c["excluded"]]),
    ], layout=w.Layout(flex_flow="row wrap"))
    acc = tables["accounts"]
    names = dict(zip(acc[S.ID].astype(str), acc[S.NAME].astype(str)))
    reps = tables["reps"]
    rep_names = dict(zip(reps[S.ID].astype(str), reps[S.NAME].astype(str))) if S.NAME in reps else {}
    sel = selection_map(None, pins=base.assign, names=names, rep_names=rep_names)
    wrap = w.Layout(width="100%", flex_flow="row wrap", align_items="center")
    saved_box = w.VBox([_section(("已保存的方案", "Saved scenarios")),
                        w.HBox([c["scenario_name"], c["save_a"], c["save_b"]], layout=wrap), c["saved_status"],
                        boxes["saved"]], layout=full)
    curve_box = w.VBox([_section(("调整曲线：少调整与紧凑片区的取舍", "Realignment curve: fewer moves or compact "
                                  "areas")), boxes["curve"], w.HBox([c["curve_pick"], c["curve_use"]], layout=wrap)],
                       layout=full)
    ui = w.VBox([settings, w.HBox([c["solve_a"], c["solve_b"], c["curve"]]), jb.widget, c["status"],
                 boxes["compare"], scenarios_box, sel.widget, saved_box, curve_box, export, c["export_out"]],
                layout=w.Layout(width="100%"))
    app = TerritoriesApp(tables=tables, base=base, widget=ui, controls=c, boxes=boxes, locked=set(base.locked),
                         job=jb, selection=sel)
    c["export_out"].value = rejected_html(tables)
    c["lock_owner"].observe(app._lock_owner_changed, names="value")
    c["lock_select"].observe(app._lock_changed, names="value")
    c["effective_date"].observe(app._date_changed, names="value")
    app._lock_owner_changed()
    c["solve_a"].on_click(lambda _: app.request_solve("A"))
    c["solve_b"].on_click(lambda _: app.request_solve("B"))
    c["curve"].on_click(app.request_curve)
    c["curve_use"].on_click(app._on_use_curve)
    c["save_a"].on_click(lambda _: app._on_save("A"))
    c["save_b"].on_click(lambda _: app._on_save("B"))
    c["export"].on_click(app._on_export)
    boxes["curve"].value = "<p>" + html.escape(tr(
        "按“调整曲线”计算几个连续方案：从全部保留现有片区到重新划分（每个方案用一次时限）。",
        "Press Curve for a few contiguous plans, from keeping today's territories to drawing them from scratch "
        "(each takes the time limit).")) + "</p>"
    app.show_saved()
    if solve_first:
        app.solve("A")
    else:
        app.refresh()
    return app
