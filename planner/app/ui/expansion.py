"""The new-city app (notebook 04): score map, weights, roadmap, rotation, charts, two settings side by side.

No planning logic here: widgets call ``planner.solvers.expansion`` and ``planner.solvers.rotation``.
A change of a weight re-scores and solves both settings, a change of a setting solves that setting (while
**Auto** is ticked); **Solve** solves both. The progress row says the phase and the seconds; **Cancel**
stops between the roadmap's stages (its explaining re-solves, the rotation): the previous plans stay.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.expansion import write_workbook
from planner.app.maps.expansion import SCORE_SCALE, shown_scores
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
from planner.app.ui.tables import place_names, report_html, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import expansion as E, rotation as R

NEEDS = ("accounts", "reps", "offices", "markets", "cadres")
WEIGHTS = ("market", "travel", "management", "sales")
SIDE_CONTROLS = ("horizon_q", "max_openings_per_q", "budget_cny")
# the second setting starts as a tighter what-if: one opening a quarter, a small budget
SECOND_SETTING = {"max_openings_per_q": 1, "budget_cny": 500_000.0}


STAGE_COLOURS = {"sowing": "#c6dbef", "cultivating": "#6baed6", "growing": "#2171b5", "harvesting": "#08306b"}
STAGE_ZH = {"sowing": "播种", "cultivating": "培育", "growing": "成长", "harvesting": "收获"}


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
        city = html.escape(place_names(pd.Series([r.adcode], dtype=object)).iloc[0] or str(r.name))
        groups = html.escape(tr(f"{r.groups} 组", f"{r.groups} groups"))
        parts.append(f'<text x="{left - 4}" y="{y + 12}" text-anchor="end">{city} ({groups})</text>')
        for t in range(int(r.quarter), H):
            c = STAGE_COLOURS[E.stage_of(t - int(r.quarter), plan.options)]
            parts.append(f'<rect x="{left + t * cw:.1f}" y="{y}" width="{cw - 1:.1f}" height="{row - 3}" '
                         f'fill="{c}"><title>{E.stage_of(t - int(r.quarter), plan.options)}</title></rect>')
    x = 4
    for k, c in STAGE_COLOURS.items():
        parts.append(f'<rect x="{x}" y="{h - 14}" width="10" height="10" fill="{c}"/>'
                     f'<text x="{x + 13}" y="{h - 5}">{html.escape(tr(STAGE_ZH[k], k))}</text>')
        x += 110
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
                     f'fill="#74c476"><title>{tr("收入", "revenue")} {rv:,.2f} m</title></rect>')
        if rl:
            parts.append(f'<rect x="{x + 2:.1f}" y="{y(0):.1f}" width="{cw - 4:.1f}" height="{y(-rl) - y(0):.1f}" '
                         f'fill="#fb6a4a"><title>{tr("调动费用", "relocation")} {rl:,.2f} m</title></rect>')
        parts.append(f'<text x="{x + cw / 2:.1f}" y="{height - 24}" text-anchor="middle">{r.label}</text>')
        pts.append(f"{x + cw / 2:.1f},{y(cu):.1f}")
    parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="black" stroke-width="1.5"/>')
    legend = tr("百万元：收入（绿）、调动费用（红）、累计净额（线）",
                "CNY million: revenue (green), relocation (red), cumulative net (line)")
    parts.append(f'<text x="4" y="{height - 6}">{html.escape(legend)}</text></svg>')
    return "".join(parts)


SCORE_COLUMNS = ("city", "density_source", "market_density", "travel_min", "travel_score", "management_readiness",
                 "sales_density", "score", "limited_by")
LIMIT_ZH = {"market": "市场", "travel": "路程", "management": "管理", "sales": "销售"}
SOURCE_ZH = {"accounts": "客户数据", "attributes": "城市属性"}
ROADMAP_COLUMNS = ("city", "label", "groups", "people", "revenue_cny", "relocation_cny")
ROTATION_COLUMNS = ("person", S.LEVEL, "role", "city", "label", "relocation_cny", "reasons")
ROLE_ZH = {"manager": "经理", "supervisor": "主管", "rep": "销售"}


def _city(df: pd.DataFrame) -> pd.Series:
    """The city of each row by name (from its adcode; the table's name when the code is unknown)."""
    names = place_names(df[S.ADCODE])
    return names.where(names != df[S.ADCODE].astype(str), df[S.NAME].astype(str))


def score_table_html(scores: pd.DataFrame, *, rows: int = 12) -> str:
    """The best ``rows`` cities with every component, 0-100 like the map's legend."""
    shown = shown_scores(scores).head(rows).copy()
    shown["city"] = _city(shown)
    shown["limited_by"] = [tr(LIMIT_ZH.get(str(v), str(v)), str(v)) for v in shown["limited_by"]]
    shown["density_source"] = [tr(SOURCE_ZH.get(str(v), str(v)), str(v)) for v in shown["density_source"]]
    note = tr(f"得分和各项均为 0-{SCORE_SCALE}（与地图图例相同）。得分 = 市场、路程、管理、销售的加权几何平均（乘积）："
              "任何一项弱都会拉低城市（短板 = 扣分最多的一项）。",
              f"Score and components 0-{SCORE_SCALE}, as on the map's legend. Score = weighted geometric mean "
              "(a product) of market, travel, management and sales: a weak factor pulls the city down "
              "(limited by = the factor that costs it most).")
    return f"<small>{html.escape(note)}</small>" + table_html(shown, list(SCORE_COLUMNS))


def roadmap_html(plan: E.RoadmapPlan) -> str:
    rm = plan.roadmap.copy()
    if not len(rm):
        return html.escape(tr("没有城市开设", "no city opens"))
    rm["city"] = _city(rm)
    return table_html(rm, list(ROADMAP_COLUMNS))


def rotation_html(rot: R.RotationPlan) -> str:
    t = rot.assignments.copy()
    if not len(t):
        return html.escape(tr("无人调动", "nobody moves"))
    t["city"] = _city(t)
    t["role"] = [tr(ROLE_ZH.get(str(v), str(v)), str(v)) for v in t["role"]]
    return table_html(t, list(ROTATION_COLUMNS))


def charts_html(plan: E.RoadmapPlan) -> str:
    return (f'<div style="max-width:100%;overflow-x:auto">{gantt_svg(plan)}</div>'
            f'<div style="max-width:100%;overflow-x:auto">{cash_svg(plan)}</div>')


def _scaled(progress: Callable[[float | None, str], None], lo: float, hi: float, head: str
            ) -> Callable[[float | None, str], None]:
    """``progress`` of one step of several: fractions mapped into ``lo..hi``, the step named."""
    return lambda f, m: progress(None if f is None else lo + (hi - lo) * f, f"{head}: {m}")


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
    job: Job | None = None
    export_folder: Any = None
    auto: Any = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def score_weights(self) -> E.ScoreWeights:
        return options_from(self.base_weights, self.weights)

    def options(self, side: Side) -> E.RoadmapOptions:
        """The roadmap settings of one side."""
        return options_from(self.base, side.controls)

    # --- the work (no widget is touched: it may run in a worker thread) -------------------------------------
    def _score(self, weights: E.ScoreWeights) -> tuple[pd.DataFrame, E.RoadmapProblem]:
        t = self.tables
        return E.problem_from_tables(t["accounts"], t["reps"], t["offices"], t["markets"], t["cadres"],
                                     weights=weights, roadmap=self.base, backend=travel_of(self).backend)

    @staticmethod
    def _plan(problem: E.RoadmapProblem, opt: E.RoadmapOptions, progress: Callable[[float | None, str], None]
              ) -> tuple[E.RoadmapPlan, R.RotationPlan]:
        plan = E.solve_roadmap(problem, opt, progress=_scaled(progress, 0.0, 0.8, tr("路线图", "roadmap")))
        rot = R.solve_rotation(problem, plan, R.RotationOptions(seed=opt.seed),
                               progress=_scaled(progress, 0.8, 1.0, tr("人员调动", "rotation")))
        return plan, rot

    def _request_all(self) -> tuple[Any, Any, dict[str, Any]]:
        weights = self.score_weights()
        opts = [self.options(side) for side in self.sides]

        def work(progress: Callable[[float | None, str], None]) -> Any:
            progress(0.0, tr("城市评分", "scoring the cities"))
            scores, problem = self._score(weights)
            n = len(opts)
            plans = [self._plan(problem, o, _scaled(progress, 0.1 + 0.9 * k / n, 0.1 + 0.9 * (k + 1) / n,
                                                    tr(f"方案 {k + 1}", f"setting {k + 1}")))
                     for k, o in enumerate(opts)]
            return scores, problem, plans

        def done(result: Any) -> None:
            self.scores, self.problem, plans = result
            self.score_table.value = score_table_html(self.scores)
            for side, (plan, rot) in zip(self.sides, plans):
                self.show(side, plan, rot)
            first = self.sides[0].plan
            m = maps.score_map(self.scores, openings=None if first is None else first.roadmap)
            self.map_box.children = (as_widget(m, height=460),)

        limit = sum(o.time_limit_s for o in opts)
        return work, done, {"what": tr("评分并求解两个方案", "scoring and solving both settings"), "limit_s": limit,
                            "on_error": self._error}

    def _request_side(self, side: Side) -> tuple[Any, Any, dict[str, Any]]:
        problem, opt = self.problem, self.options(side)
        k = self.sides.index(side) + 1

        def work(progress: Callable[[float | None, str], None]) -> Any:
            if problem is None:
                raise ValueError(tr("请先评分", "score the cities first"))
            return self._plan(problem, opt, progress)

        def done(result: Any) -> None:
            self.show(side, *result)
            if side is self.sides[0] and self.scores is not None:
                m = maps.score_map(self.scores, openings=result[0].roadmap)
                self.map_box.children = (as_widget(m, height=460),)

        return work, done, {"what": tr(f"求解方案 {k}", f"solving setting {k}"), "limit_s": opt.time_limit_s,
                            "on_error": self._error}

    def _error(self, e: Exception) -> None:
        self.export_out.value = error_html(e)

    # --- here and now (code), or from a widget (the background in a notebook) ------------------------------------
    def rescore(self, *_: Any) -> None:
        """Score the cities with the weights shown and solve both settings, here and now."""
        work, done, kw = self._request_all()
        assert self.job is not None
        self.job.run(work, done, **kw)

    def solve(self, side: Side, *_: Any) -> None:
        """Solve one setting, here and now."""
        work, done, kw = self._request_side(side)
        assert self.job is not None
        self.job.run(work, done, **kw)

    def request(self, side: Side | None = None) -> None:
        """Solve from a widget: one setting, or (``None``) re-score and solve both."""
        try:
            work, done, kw = self._request_all() if side is None else self._request_side(side)
        except ValueError as e:
            self._error(e)
            return
        assert self.job is not None
        self.job.submit(work, done, **kw)

    def _changed(self, side: Side | None) -> None:
        if self.auto is None or self.auto.value:
            # a request replaces the one running: when that one was another setting's, solve everything
            self.request(None if self.job is not None and self.job.busy else side)

    def show(self, side: Side, plan: E.RoadmapPlan, rot: R.RotationPlan) -> None:
        side.plan, side.rotation = plan, rot
        why = "".join(f"<li>{html.escape(b)}</li>" for b in plan.binding) or \
            f"<li>{html.escape(tr('没有限制起作用', 'no limit binds'))}</li>"
        side.status.value = (f"{html.escape(tr('路线图', 'Roadmap'))}: {report_html(plan.report)}<br>"
                             f"{html.escape(tr('人员调动', 'Rotation'))}: {report_html(rot.report)}"
                             f"<br><b>{html.escape(tr('什么限制了城市', 'What holds cities back'))}</b><ul>{why}</ul>")
        side.roadmap.value = roadmap_html(plan)
        side.charts.value = charts_html(plan)
        if side is self.sides[0]:
            self.rotation_table.value = rotation_html(rot)

    def export(self, out_dir: str | Path | None = None) -> dict[str, Path]:
        """Both settings' workbooks into ``out_dir`` (default: the folder box)."""
        folder = out_dir if out_dir is not None else (self.export_folder.value if self.export_folder else None)
        out = resolve_out(folder, "expansion")
        paths: dict[str, Path] = {}
        with staged_output(out) as tmp:
            for k, side in enumerate(self.sides, start=1):
                if side.plan is None or side.rotation is None or self.scores is None:
                    continue
                paths[f"setting{k}"] = write_workbook(tmp / f"expansion_setting{k}.xlsx", self.scores, side.plan,
                                                      side.rotation)
        return dict(zip(paths, moved(paths.values(), tmp, out)))

    def _on_export(self, *_: Any) -> None:
        try:
            self.export_out.value = written_html(self.export().values())
        except (ValueError, OSError) as e:
            self.export_out.value = error_html(e)


def _side_box(k: int, s: Side) -> Any:
    import ipywidgets as w

    return w.VBox([w.HTML(f"<b>{html.escape(tr(f'方案 {k}', f'Setting {k}'))}</b>"), s.controls["horizon_q"],
                   s.controls["max_openings_per_q"], s.controls["budget_cny"], s.status, s.roadmap, s.charts],
                  layout=w.Layout(flex="1 1 0%", min_width="0"))


def expansion_app(data: Data = None, *, options: E.RoadmapOptions | None = None,
                  weights: E.ScoreWeights | None = None) -> ExpansionApp:
    """Build the new-city app on the demo (or a data folder) and solve both settings once.

    Setting 1 starts at ``options`` (default ``RoadmapOptions()``); setting 2 at a tighter what-if."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    base = options or E.RoadmapOptions()
    bw = weights or E.ScoreWeights()
    weight_controls = {k: widget(E.ScoreWeights, k, options=bw) for k in WEIGHTS}
    full = w.Layout(width="100%")
    sides = [Side(controls={k: widget(E.RoadmapOptions, k, options=start) for k in SIDE_CONTROLS},
                  status=w.HTML(layout=full), roadmap=w.HTML(layout=full), charts=w.HTML(layout=full))
             for start in (base, base.replace(**SECOND_SETTING))]
    map_box = w.Box(layout=w.Layout(width="100%"))
    score_table, rotation_table, export_out = w.HTML(layout=full), w.HTML(layout=full), w.HTML(layout=full)
    folder, export_btn, _written, export_box = export_row(resolve_out(None, "expansion"),
                                                          label=("导出两个方案", "Export both settings"))
    solve_btn = button(tr("求解", "Solve"), style="primary", icon="play")
    auto = w.Checkbox(value=True, indent=False, description=tr("改动即求解", "Auto: solve on every change"))
    settings = w.HBox([_side_box(k, s) for k, s in enumerate(sides, start=1)], layout=full)
    jb = job(busy=[map_box, score_table, settings, rotation_table], buttons=[solve_btn, export_btn])
    ui = w.VBox([w.HBox(list(weight_controls.values())[:2]), w.HBox(list(weight_controls.values())[2:]),
                 w.HBox([solve_btn, auto]), jb.widget, map_box, score_table, settings,
                 w.HTML("<b>" + html.escape(tr("人员调动（方案 1）：谁去开哪个城市，为什么",
                                               "Rotation (setting 1): who opens which city, and why")) + "</b>"),
                 rotation_table, export_box, export_out, w.HTML(rejected_html(tables))], layout=full)
    app = ExpansionApp(tables, base, ui, weight_controls, map_box, score_table, sides, rotation_table, export_out,
                       base_weights=bw, job=jb, export_folder=folder, auto=auto)
    for c in weight_controls.values():
        c.observe(lambda _ch: app._changed(None), names="value")
    for s in sides:
        for c in s.controls.values():
            c.observe(lambda _ch, s=s: app._changed(s), names="value")
    solve_btn.on_click(lambda _: app.request(None))
    export_btn.on_click(app._on_export)
    app.rescore()
    return app
