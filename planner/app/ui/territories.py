"""The territories app (notebook 02): settings, two scenarios side by side, map, KPIs, export.

No planning logic lives here: the app calls ``planner.solvers.territories.solve``
and shows the plan; the map is ``planner.app.maps.territory_map``.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.territories import write_plan
from planner.app.maps.territories import rep_colours
from planner.app.ui.common import Data, as_widget, load, rejected_html
from planner.app.ui.options import options_from, widget
from planner.io.workspace import Tables
from planner.solvers import territories

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = ("tolerance", "potential_tolerance", "include_pool", "time_limit_s")

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
             f'<text x="4" y="14" font-weight="bold">{_html.escape(title)}</text>']
    colours = rep_colours(values.index)
    for i, (label, v) in enumerate(values.items()):
        y = top + i * row
        if target is not None and tolerance is not None:
            t = float(target.loc[label])
            x0, x1 = left + t * (1 - tolerance) * scale, left + t * (1 + tolerance) * scale
            parts.append(f'<rect x="{x0:.1f}" y="{y - 1}" width="{x1 - x0:.1f}" height="{row - 2}" fill="#e8e8e8"/>')
        parts.append(f'<text x="{left - 4}" y="{y + row - 5}" text-anchor="end">{_html.escape(str(label))}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{max(float(v) * scale, 0):.1f}" height="{row - 6}" '
                     f'fill="{colours[label]}"/>')
        if target is not None:
            xt = left + float(target.loc[label]) * scale
            parts.append(f'<line x1="{xt:.1f}" x2="{xt:.1f}" y1="{y}" y2="{y + row - 2}" stroke="#000"/>')
        parts.append(f'<text x="{left + max(float(v) * scale, 0) + 3:.1f}" y="{y + row - 5}">'
                     f'{float(v):,.0f}{_html.escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def kpi_html(plan: territories.TerritoryPlan) -> str:
    """The per-rep KPI table as HTML."""
    cols = {"accounts": "accounts", "capacity": "capacity", "workload_h": "workload h", "target_workload_h": "target h",
            "potential_cny": "potential CNY", "travel_min_mean": "mean travel min", "moved_in": "moved in",
            "moved_out": "moved out", "locked": "locked", "share": "share"}
    t = plan.reps[list(cols)].rename(columns=cols)
    return t.to_html(float_format=lambda v: f"{v:,.1f}" if abs(v) < 100 else f"{v:,.0f}")


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
        self.controls["lock_count"].value = f"{len(self.locked)} locked"

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
        self.controls["lock_count"].value = f"{len(self.locked)} locked"
        self._lock_owner_changed()

    def unlock(self, ids=None) -> None:
        """Unlock the given accounts (all when None)."""
        self.locked = set() if ids is None else self.locked - {str(i) for i in ids}
        self.controls["lock_count"].value = f"{len(self.locked)} locked"
        self._lock_owner_changed()

    # --- solving and showing ------------------------------------------------------
    def solve(self, name: str = "A") -> territories.TerritoryPlan:
        """Solve the current settings as scenario ``name`` ("A" or "B") and show it."""
        c = self.controls
        bar = c["progress"]
        bar.value = 0.0
        c["status"].value = f"Solving scenario {name} ..."

        def progress(fraction, message):
            if fraction is not None:
                bar.value = float(fraction)
            c["status"].value = f"Scenario {name}: {_html.escape(message)}"

        plan = territories.solve(self.problem(), self.options(), progress=progress)
        bar.value = 1.0
        self.plans[name] = plan
        self.refresh()
        c["status"].value = f"Scenario {name}: {_html.escape(plan.report.describe())}"
        return plan

    def refresh(self, *_):
        for name in ("A", "B"):
            box = self.boxes[name]
            plan = self.plans.get(name)
            if plan is None:
                box.children = (self._html(f"<p><b>Scenario {name}</b>: not solved yet; set the options and "
                                           f"press <i>Solve {name}</i>.</p>"),)
                continue
            opts = plan.options
            head = (f"<b>Scenario {name}</b>: {len(plan.reps)} reps, workload +-{opts.tolerance:.0%}, potential "
                    f"+-{opts.potential_tolerance:.0%}, "
                    f"max moves {opts.max_moves if opts.max_moves is not None else '-'}"
                    f", {len(opts.locked)} locked<br><small>{_html.escape(plan.report.describe())}</small>")
            mp = as_widget(maps.territory_map(plan, self.tables["offices"]), height=420)
            charts = (bar_chart_svg(plan.reps["workload_h"], plan.reps["target_workload_h"],
                                    title="Workload, h a month",
                                    tolerance=opts.tolerance)
                      + bar_chart_svg(plan.reps["potential_cny"] / 1e6, plan.reps["target_potential_cny"] / 1e6,
                                      title="Potential, million CNY", tolerance=opts.potential_tolerance))
            moves = plan.moves.head(15)[["owner", "territory", "reason"]].to_html() if len(plan.moves) else ""
            box.children = (self._html(head), mp, self._html(charts),
                            self._html(f"<details><summary>Per-rep KPIs</summary>{kpi_html(plan)}</details>"
                                       f"<details><summary>First moves ({len(plan.moves)} in all)</summary>"
                                       f"{moves}</details>"))
        if self.plans:
            self.boxes["compare"].value = ("<b>Side by side</b>" + territories.kpi_table(self.plans)
                                           .to_html(float_format=lambda v: f"{v:,.3f}"))

    def export(self, folder: str | Path | None = None) -> list[Path]:
        """Write every solved scenario into ``folder``/<scenario>/ and list the paths in the app."""
        out = Path(folder or self.controls["folder"].value)
        paths: list[Path] = []
        with staged_output(out) as tmp:
            for name, plan in self.plans.items():
                paths += write_plan(plan, tmp / name, inputs=self.tables.summary())
                paths.append(maps.save_html(maps.territory_map(plan, self.tables["offices"]),
                                            tmp / name / "territories_map.html"))
        paths = moved(paths, tmp, out)
        self.controls["export_out"].value = "<br>".join(_html.escape(str(p)) for p in paths) or "nothing solved yet"
        return paths

    @staticmethod
    def _html(text: str):
        import ipywidgets as w

        return w.HTML(text)


def territories_app(data: Data = None, *, options: territories.TerritoryOptions | None = None,
                    solve_first: bool = True) -> TerritoriesApp:
    """Build the app on the demo (or a data folder); the controls start at ``options``; solves scenario A
    when ``solve_first``."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    base = options or territories.TerritoryOptions()
    sellers = territories.select_reps(tables["reps"], None)
    n0 = max(2, len(sellers))
    style = {"description_width": "150px"}
    lay = w.Layout(width="360px")
    acc = tables["accounts"]
    owners = sorted(o for o in acc[S.OWNER].unique() if o != S.PUBLIC_POOL)
    c = {
        "reps": w.BoundedIntText(value=n0, min=1, max=n0 + 30, description="Reps", style=style, layout=lay),
        **{k: widget(territories.TerritoryOptions, k, options=base, style=style, layout=lay) for k in CONTROLLED},
        "limit_moves": w.Checkbox(value=base.max_moves is not None, description="Limit moves", style=style),
        "max_moves": w.BoundedIntText(value=base.max_moves if base.max_moves is not None else 100, min=0,
                                      max=10**6, description="Max moves", style=style, layout=lay),
        "pool_rule": w.Checkbox(value=base.pool_return_days is not None, description="Pool rule", style=style),
        "pool_days": w.BoundedIntText(value=base.pool_return_days or 90, min=1, max=3650,
                                      description="Not visited for (days)", style=style, layout=lay),
        "lock_owner": w.Dropdown(options=owners, value=owners[0] if owners else None, description="Lock accounts of",
                                 style=style, layout=lay),
        "lock_select": w.SelectMultiple(options=[], rows=8, description="Locked (select)", style=style,
                                        layout=w.Layout(width="420px")),
        "lock_count": w.HTML("0 locked"),
        "excluded": w.Textarea(value=", ".join(sorted(base.excluded)),
                               placeholder="account ids to keep in the pool, comma separated",
                               description="Exclude ids", style=style, layout=w.Layout(width="420px", height="60px")),
        "solve_a": w.Button(description="Solve A", button_style="primary"),
        "solve_b": w.Button(description="Solve B", button_style="info"),
        "progress": w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="300px")),
        "status": w.HTML(""),
        "folder": w.Text(value="out/territories", description="Export folder", style=style, layout=lay),
        "export": w.Button(description="Export"),
        "export_out": w.HTML(""),
    }
    boxes = {"A": w.VBox(layout=w.Layout(width="50%")), "B": w.VBox(layout=w.Layout(width="50%")),
             "compare": w.HTML("")}
    settings = w.HBox([
        w.VBox([c["reps"], c["tolerance"], c["potential_tolerance"], w.HBox([c["limit_moves"], c["max_moves"]]),
                w.HBox([c["pool_rule"], c["pool_days"]]), c["include_pool"], c["time_limit_s"]]),
        w.VBox([c["lock_owner"], c["lock_select"], c["lock_count"], c["excluded"]]),
    ])
    actions = w.HBox([c["solve_a"], c["solve_b"], c["progress"]])
    export = w.HBox([c["folder"], c["export"]])
    ui = w.VBox([settings, actions, c["status"], boxes["compare"], w.HBox([boxes["A"], boxes["B"]]), export,
                 c["export_out"]])
    app = TerritoriesApp(tables=tables, base=base, widget=ui, controls=c, boxes=boxes, locked=set(base.locked))
    c["export_out"].value = rejected_html(tables)
    c["lock_owner"].observe(app._lock_owner_changed, names="value")
    c["lock_select"].observe(app._lock_changed, names="value")
    app._lock_owner_changed()
    c["solve_a"].on_click(lambda _: app.solve("A"))
    c["solve_b"].on_click(lambda _: app.solve("B"))
    c["export"].on_click(lambda _: app.export())
    if solve_first:
        app.solve("A")
    else:
        app.refresh()
    return app
