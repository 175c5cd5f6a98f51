"""The territories app (notebook 02): settings, two scenarios compared, map, KPIs, export.

No planning logic lives here: the app calls ``planner.solvers.territories.solve``
and shows the plan; the map is ``planner.app.maps.territory_map``. Nothing is solved until
**Solve A** or **Solve B** is pressed; while a scenario solves, the scenarios are greyed, the progress
row says the phase and the seconds, and **Cancel** stops the search at its next stage (the previous
plan of that scenario stays).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.territories import write_plan
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
from planner.app.ui.tables import details, kpi_html as kpi_table_html, report_html, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import territories

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = ("tolerance", "potential_tolerance", "include_pool", "time_limit_s")
REP_COLUMNS = ("accounts", "capacity", "workload_h", "target_workload_h", "potential_cny", "travel_min_mean",
               "moved_in", "moved_out", "locked", "share")

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


def kpi_html(plan: territories.TerritoryPlan) -> str:
    """The per-rep KPI table as HTML (headers in words, numbers formatted)."""
    return table_html(plan.reps.rename_axis("rep"), ["rep", *REP_COLUMNS], index=True)


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

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- settings --------------------------------------------------------------
    def options(self) -> territories.TerritoryOptions:
        """The settings the controls show."""
        c = self.controls
        excluded = {t.strip() for t in c["excluded"].value.replace("\n", ",").split(",") if t.strip()}
        return options_from(self.base, {k: c[k] for k in CONTROLLED},
                            max_moves=int(c["max_moves"].value) if c["limit_moves"].value else None,
                            pool_return_days=int(c["pool_days"].value) if c["pool_rule"].value else None,
                            locked=frozenset(self.locked), excluded=frozenset(excluded))

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
            self.plans[name] = plan
            self.refresh()
            c["status"].value = f"{html.escape(tr(f'方案 {name}', f'Scenario {name}'))}: {report_html(plan.report)}"

        what = tr(f"求解方案 {name}", f"solving scenario {name}")
        return work, done, {"what": what, "limit_s": opts.time_limit_s, "on_error": self._error}

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
            table = kpi_table_html(territories.kpi_table(self.plans), key="kpi",
                                   columns={n: tr(f"方案 {n}", f"scenario {n}") for n in names})
            self.boxes["compare"].value = "<b>" + html.escape(tr("方案对比", "Side by side")) + "</b>" + table

    def _scenario(self, name: str, plan: territories.TerritoryPlan) -> tuple[Any, ...]:
        opts = plan.options
        moves = "–" if opts.max_moves is None else f"{opts.max_moves:,}"
        head = (f"<b>{html.escape(tr(f'方案 {name}', f'Scenario {name}'))}</b>: "
                + html.escape(tr(f"{len(plan.reps)} 名销售，工作量 ±{opts.tolerance:.0%}，潜力 "
                                 f"±{opts.potential_tolerance:.0%}，最多调整 {moves}，锁定 {len(opts.locked)}",
                                 f"{len(plan.reps)} reps, workload ±{opts.tolerance:.0%}, potential "
                                 f"±{opts.potential_tolerance:.0%}, max moves {moves}, {len(opts.locked)} locked"))
                + f"<br><small>{report_html(plan.report)}</small>")
        mp = as_widget(maps.territory_map(plan, self.tables["offices"]), height=560)
        charts = (bar_chart_svg(plan.reps["workload_h"], plan.reps["target_workload_h"],
                                title=tr("工作量（小时/月）", "Workload, h a month"), tolerance=opts.tolerance)
                  + bar_chart_svg(plan.reps["potential_cny"] / 1e6, plan.reps["target_potential_cny"] / 1e6,
                                  title=tr("潜力（百万元）", "Potential, million CNY"),
                                  tolerance=opts.potential_tolerance))
        moves_html = table_html(plan.moves, ["owner", "territory", "reason"], rows=15) if len(plan.moves) else ""
        return (self._html(head), mp, self._html(f'<div style="max-width:100%;overflow-x:auto">{charts}</div>'),
                self._html(details(tr("每位销售的指标", "Per-rep KPIs"), kpi_html(plan))
                           + details(tr(f"前几项调整（共 {len(plan.moves):,} 项）",
                                        f"First moves ({len(plan.moves):,} in all)"), moves_html)))

    def export(self, folder: str | Path | None = None) -> list[Path]:
        """Write every solved scenario into ``folder``/<scenario>/ and list the paths in the app."""
        out = resolve_out(folder if folder is not None else self.controls["folder"].value, "territories")
        paths: list[Path] = []
        with staged_output(out) as tmp:
            for name, plan in self.plans.items():
                paths += write_plan(plan, tmp / name, inputs=self.tables.summary())
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


def _controls(tables: Tables, base: territories.TerritoryOptions) -> dict[str, Any]:
    import ipywidgets as w

    sellers = territories.select_reps(tables["reps"], None)
    n0 = max(2, len(sellers))
    style = {"description_width": "initial"}
    lay = w.Layout(width="400px", max_width="100%")
    acc = tables["accounts"]
    owners = sorted(o for o in acc[S.OWNER].unique() if o != S.PUBLIC_POOL)
    return {
        "reps": w.BoundedIntText(value=n0, min=1, max=n0 + 30, description=tr("销售人数", "Reps"), style=style,
                                 layout=lay),
        **{k: widget(territories.TerritoryOptions, k, options=base, layout=lay) for k in CONTROLLED},
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
        "status": w.HTML("", layout=w.Layout(width="100%")),
    }


def territories_app(data: Data = None, *, options: territories.TerritoryOptions | None = None,
                    solve_first: bool = True) -> TerritoriesApp:
    """Build the app on the demo (or a data folder); the controls start at ``options``; solves scenario A
    when ``solve_first``."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    base = options or territories.TerritoryOptions()
    c = _controls(tables, base)
    c["folder"], c["export"], c["export_out"], export = export_row(resolve_out(None, "territories"))
    # the scenarios one above the other, each map the panel's full width (side by side, each was half of
    # it, too narrow to read); the comparison table above them holds the side-by-side numbers
    full = w.Layout(width="100%")
    boxes = {"A": w.VBox(layout=full), "B": w.VBox(layout=full), "compare": w.HTML("", layout=w.Layout(width="100%"))}
    scenarios = w.VBox([boxes["A"], boxes["B"]], layout=w.Layout(width="100%"))
    jb = job(busy=[boxes["compare"], scenarios], buttons=[c["solve_a"], c["solve_b"], c["export"]])
    c["progress"] = jb.bar
    settings = w.HBox([
        w.VBox([c["reps"], c["tolerance"], c["potential_tolerance"], w.HBox([c["limit_moves"], c["max_moves"]]),
                w.HBox([c["pool_rule"], c["pool_days"]]), c["include_pool"], c["time_limit_s"]]),
        w.VBox([c["lock_owner"], c["lock_select"], c["lock_count"], c["excluded"]]),
    ], layout=w.Layout(flex_flow="row wrap"))
    ui = w.VBox([settings, w.HBox([c["solve_a"], c["solve_b"]]), jb.widget, c["status"], boxes["compare"],
                 scenarios, export, c["export_out"]], layout=w.Layout(width="100%"))
    app = TerritoriesApp(tables=tables, base=base, widget=ui, controls=c, boxes=boxes, locked=set(base.locked),
                         job=jb)
    c["export_out"].value = rejected_html(tables)
    c["lock_owner"].observe(app._lock_owner_changed, names="value")
    c["lock_select"].observe(app._lock_changed, names="value")
    app._lock_owner_changed()
    c["solve_a"].on_click(lambda _: app.request_solve("A"))
    c["solve_b"].on_click(lambda _: app.request_solve("B"))
    c["export"].on_click(app._on_export)
    if solve_first:
        app.solve("A")
    else:
        app.refresh()
    return app
