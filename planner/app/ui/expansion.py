"""The new-city app (notebook 04): score map, weights, roadmap, rotation, charts, two settings side by side.

No planning logic here: widgets call ``planner.solvers.expansion`` and ``planner.solvers.rotation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.expansion import write_workbook
from planner.app.maps.expansion import SCORE_SCALE, shown_scores
from planner.app.ui.common import Data, as_widget, load, rejected_html
from planner.app.ui.options import options_from, widget
from planner.io.workspace import Tables
from planner.solvers import expansion as E, rotation as R

NEEDS = ("accounts", "reps", "offices", "markets", "cadres")
WEIGHTS = ("market", "travel", "management", "sales")
SIDE_CONTROLS = ("horizon_q", "max_openings_per_q", "budget_cny")
# the second setting starts as a tighter what-if: one opening a quarter, a small budget
SECOND_SETTING = {"max_openings_per_q": 1, "budget_cny": 500_000.0}


STAGE_COLOURS = {"sowing": "#c6dbef", "cultivating": "#6baed6", "growing": "#2171b5", "harvesting": "#08306b"}


def gantt_svg(plan: E.RoadmapPlan, *, width: int = 460) -> str:
    """A Gantt-like chart: one row per opening, each quarter coloured by the city's stage (inline SVG)."""
    H = plan.options.horizon_q
    rm = plan.roadmap
    left, row, top = 120, 18, 18
    cw = (width - left - 10) / H
    h = top + row * max(1, len(rm)) + 30
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-size="10">']
    for q in range(H):
        parts.append(f'<text x="{left + q * cw + cw / 2:.1f}" y="12" text-anchor="middle">Q{q + 1}</text>')
    for i, r in enumerate(rm.itertuples()):
        y = top + i * row
        parts.append(f'<text x="{left - 4}" y="{y + 12}" text-anchor="end">{r.name} ({r.groups}g)</text>')
        for t in range(int(r.quarter), H):
            c = STAGE_COLOURS[E.stage_of(t - int(r.quarter), plan.options)]
            parts.append(f'<rect x="{left + t * cw:.1f}" y="{y}" width="{cw - 1:.1f}" height="{row - 3}" '
                         f'fill="{c}"><title>{E.stage_of(t - int(r.quarter), plan.options)}</title></rect>')
    x = left
    for k, c in STAGE_COLOURS.items():
        parts.append(f'<rect x="{x}" y="{h - 14}" width="10" height="10" fill="{c}"/>'
                     f'<text x="{x + 13}" y="{h - 5}">{k}</text>')
        x += 80
    parts.append("</svg>")
    return "".join(parts)


def cash_svg(plan: E.RoadmapPlan, *, width: int = 460, height: int = 200) -> str:
    """Revenue (green) and relocation (red) bars per quarter and the cumulative net line (inline SVG, CNY m)."""
    cash = plan.cash
    n = len(cash)
    vals = [*(cash["revenue_cny"] / 1e6), *(cash["cumulative_cny"] / 1e6), 0.0]
    lo = min(min(vals), float(-(cash["relocation_cny"] / 1e6).max()) if n else 0.0)
    hi = max(vals) or 1.0
    left, top, bottom = 40, 10, 40
    ph = height - top - bottom
    cw = (width - left - 10) / max(1, n)

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo or 1) * ph

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="10">',
             f'<line x1="{left}" x2="{width - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#999"/>',
             f'<text x="2" y="{top + 8}">{hi:,.1f}</text><text x="2" y="{top + ph}">{lo:,.1f}</text>']
    pts = []
    for i, r in enumerate(cash.itertuples()):
        x = left + i * cw
        rv, rl, cu = r.revenue_cny / 1e6, r.relocation_cny / 1e6, r.cumulative_cny / 1e6
        parts.append(f'<rect x="{x + 2:.1f}" y="{y(rv):.1f}" width="{cw - 4:.1f}" height="{y(0) - y(rv):.1f}" '
                     f'fill="#74c476"><title>revenue {rv:,.2f} m</title></rect>')
        if rl:
            parts.append(f'<rect x="{x + 2:.1f}" y="{y(0):.1f}" width="{cw - 4:.1f}" height="{y(-rl) - y(0):.1f}" '
                         f'fill="#fb6a4a"><title>relocation {rl:,.2f} m</title></rect>')
        parts.append(f'<text x="{x + cw / 2:.1f}" y="{height - 24}" text-anchor="middle">{r.label}</text>')
        pts.append(f"{x + cw / 2:.1f},{y(cu):.1f}")
    parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="black" stroke-width="1.5"/>')
    parts.append(f'<text x="{left}" y="{height - 6}">CNY million: revenue (green), relocation (red), '
                 f'cumulative net (line)</text></svg>')
    return "".join(parts)


SCORE_COLUMNS = {S.NAME: "city", S.ADCODE: S.ADCODE, "density_source": "density from",
                 "market_density": "market", "travel_min": "travel min", "travel_score": "travel",
                 "management_readiness": "management", "sales_density": "sales", "score": "score",
                 "limited_by": "limited by"}


def score_table_html(scores: pd.DataFrame, *, rows: int = 12) -> str:
    """The best ``rows`` cities with every component, 0-100 like the map's legend."""
    shown = shown_scores(scores)[list(SCORE_COLUMNS)].head(rows).rename(columns=SCORE_COLUMNS)
    note = (f"<small>Score and components 0-{SCORE_SCALE}. Score = weighted geometric mean "
            "(a product) of market, travel, management and sales: a weak factor pulls the city down "
            "(limited by = the factor that costs it most).</small>")
    return note + shown.to_html(index=False, float_format=lambda v: f"{v:,.1f}")


def charts_html(plan: E.RoadmapPlan) -> str:
    return f"<div>{gantt_svg(plan)}</div><div>{cash_svg(plan)}</div>"


@dataclass
class Side:
    """One setting: its controls (``RoadmapOptions`` fields) and its outputs."""

    controls: dict[str, Any]
    status: Any
    roadmap: Any
    charts: Any
    plan: E.RoadmapPlan | None = None
    rotation: R.RotationPlan | None = None


@dataclass
class ExpansionApp:
    tables: Tables
    base: E.RoadmapOptions
    widget: Any
    weights: dict[str, Any]
    map_box: Any
    score_table: Any
    sides: list[Side]
    rotation_table: Any
    export_out: Any
    scores: pd.DataFrame | None = None
    problem: E.RoadmapProblem | None = None
    base_weights: E.ScoreWeights = field(default_factory=E.ScoreWeights)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def score_weights(self) -> E.ScoreWeights:
        return options_from(self.base_weights, self.weights)

    def rescore(self, *_: Any) -> None:
        t = self.tables
        self.scores, self.problem = E.problem_from_tables(t["accounts"], t["reps"], t["offices"], t["markets"],
                                                          t["cadres"], weights=self.score_weights(),
                                                          roadmap=self.base)
        self.score_table.value = score_table_html(self.scores)
        for side in self.sides:
            self.solve(side)
        first = self.sides[0].plan
        m = maps.score_map(self.scores, openings=None if first is None else first.roadmap)
        self.map_box.children = (as_widget(m, height=460),)

    def options(self, side: Side) -> E.RoadmapOptions:
        """The roadmap settings of one side."""
        return options_from(self.base, side.controls)

    def solve(self, side: Side, *_: Any) -> None:
        if self.problem is None:
            return
        opt = self.options(side)
        side.plan = plan = E.solve_roadmap(self.problem, opt)
        side.rotation = rot = R.solve_rotation(self.problem, plan, R.RotationOptions(seed=opt.seed))
        why = "".join(f"<li>{b}</li>" for b in plan.binding) or "<li>no limit binds</li>"
        side.status.value = (f"Roadmap: {plan.report.describe()}<br>Rotation: {rot.report.describe()}"
                             f"<br><b>What holds cities back</b><ul>{why}</ul>")
        show = plan.roadmap[[S.NAME, S.ADCODE, "label", "groups", "people", "revenue_cny", "relocation_cny"]]
        side.roadmap.value = show.to_html(index=False, float_format=lambda v: f"{v:,.0f}")
        side.charts.value = charts_html(plan)
        if side is self.sides[0]:
            cols = ["person", S.LEVEL, "role", S.NAME, "label", "relocation_cny", "reasons"]
            self.rotation_table.value = rot.assignments[cols].to_html(index=False)

    def export(self, out_dir: str | Path = "out/expansion") -> dict[str, Path]:
        paths: dict[str, Path] = {}
        with staged_output(out_dir) as tmp:
            for k, side in enumerate(self.sides, start=1):
                if side.plan is None or side.rotation is None or self.scores is None:
                    continue
                paths[f"setting{k}"] = write_workbook(tmp / f"expansion_setting{k}.xlsx", self.scores, side.plan,
                                                      side.rotation)
        return dict(zip(paths, moved(paths.values(), tmp, out_dir)))


def expansion_app(data: Data = None, *, options: E.RoadmapOptions | None = None,
                  weights: E.ScoreWeights | None = None) -> ExpansionApp:
    """Build the new-city app on the demo (or a data folder) and solve both settings once.

    Setting 1 starts at ``options`` (default ``RoadmapOptions()``); setting 2 at a tighter what-if."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    base = options or E.RoadmapOptions()
    bw = weights or E.ScoreWeights()
    weight_controls = {k: widget(E.ScoreWeights, k, options=bw) for k in WEIGHTS}
    sides = []
    for start in (base, base.replace(**SECOND_SETTING)):
        sides.append(Side(controls={k: widget(E.RoadmapOptions, k, options=start) for k in SIDE_CONTROLS},
                          status=w.HTML(), roadmap=w.HTML(), charts=w.HTML()))
    map_box = w.Box(layout=w.Layout(width="100%"))
    score_table, rotation_table, export_out = w.HTML(), w.HTML(), w.HTML()
    export_btn = w.Button(description="Export both settings", icon="download")
    cols = [w.VBox([w.HTML(f"<b>Setting {k}</b>"), w.HBox([s.controls["horizon_q"], s.controls["max_openings_per_q"]]),
                    s.controls["budget_cny"], s.status, s.roadmap, s.charts], layout=w.Layout(width="50%"))
            for k, s in enumerate(sides, start=1)]
    ui = w.VBox([w.HBox(list(weight_controls.values())[:2]), w.HBox(list(weight_controls.values())[2:]),
                 w.HBox([map_box, score_table]), w.HBox(cols),
                 w.HTML("<b>Rotation (setting 1): who opens which city, and why</b>"), rotation_table,
                 w.HBox([export_btn, export_out]), w.HTML(rejected_html(tables))])
    app = ExpansionApp(tables, base, ui, weight_controls, map_box, score_table, sides, rotation_table, export_out,
                       base_weights=bw)
    for c in weight_controls.values():
        c.observe(app.rescore, names="value")
    for s in sides:
        for c in s.controls.values():
            c.observe(lambda _ch, s=s: app.solve(s), names="value")

    def do_export(_: Any) -> None:
        export_out.value = "Wrote " + ", ".join(str(p) for p in app.export().values())

    export_btn.on_click(do_export)
    app.rescore()
    return app
