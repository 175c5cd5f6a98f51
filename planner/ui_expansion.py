"""The new-city app (notebook 04): score map, weights, roadmap, rotation, charts, two settings side by side.

No planning logic here: widgets call ``planner.expansion`` and ``planner.rotation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner import demo, expansion as E, geo, maps, rotation as R, schema as S


def score_map(scores: pd.DataFrame, *, tiles: str | None = maps.DEFAULT_TILES, openings: pd.DataFrame | None = None):
    """Prefecture polygons coloured by score (0-100), with the roadmap's cities marked by quarter."""
    import folium

    units = geo.load_units("prefecture")
    units = units[units["adcode"].isin(set(scores[S.ADCODE]))]
    m = maps.base_map(zoom=6, tiles=tiles, bounds=tuple(float(v) for v in units.total_bounds))
    maps.add_choropleth(m, units, (scores.set_index(S.ADCODE)["score"] * 100).round(1),
                        name="Market score", label="score 0-100")
    if openings is not None and len(openings):
        pts = E.seat_points(openings[S.ADCODE])
        for (lon, lat), r in zip(pts, openings.itertuples()):
            folium.CircleMarker((lat, lon), radius=8, color="#08519c", fill=True, fill_opacity=0.9,
                                tooltip=f"{r.name} opens {r.label} ({r.groups} groups)").add_to(m)
    return m


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


def charts_html(plan: E.RoadmapPlan) -> str:
    return f"<div>{gantt_svg(plan)}</div><div>{cash_svg(plan)}</div>"


@dataclass
class Side:
    """One setting: its controls and its outputs."""

    horizon: object
    openings: object
    budget: object
    status: object
    roadmap: object
    charts: object
    plan: object = None
    rotation: object = None


@dataclass
class ExpansionApp:
    scenario: demo.Scenario
    widget: object
    weights: dict
    map_box: object
    score_table: object
    sides: list
    rotation_table: object
    export_out: object
    scores: pd.DataFrame = field(default=None)
    problem: object = None

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def rescore(self, *_):
        w = E.ScoreWeights(**{k: float(v.value) for k, v in self.weights.items()})
        self.scores, self.problem = E.demo_problem(w, scenario=self.scenario)
        cols = [S.NAME, S.ADCODE, "density_source", "market_density", "travel_min", "travel_score",
                "management_readiness", "sales_density", "score"]
        self.score_table.value = self.scores[cols].head(12).to_html(index=False, float_format=lambda v: f"{v:,.2f}")
        for side in self.sides:
            self.solve(side)
        first = self.sides[0].plan
        m = score_map(self.scores, openings=None if first is None else first.roadmap)
        self.map_box.children = (maps.as_widget(m, height=460),)

    def options(self, side: Side) -> E.RoadmapOptions:
        return E.RoadmapOptions(horizon_q=int(side.horizon.value), max_openings_per_q=int(side.openings.value),
                                budget_cny=float(side.budget.value), time_limit_s=5.0, explain=True,
                                explain_time_limit_s=1.0)

    def solve(self, side: Side, *_):
        if self.problem is None:
            return
        side.plan = plan = E.solve_roadmap(self.problem, self.options(side))
        side.rotation = rot = R.solve_rotation(self.problem, plan, R.RotationOptions(time_limit_s=5.0))
        why = "".join(f"<li>{b}</li>" for b in plan.binding) or "<li>no limit binds</li>"
        side.status.value = (f"Roadmap: {plan.report.describe()}<br>Rotation: {rot.report.describe()}"
                             f"<br><b>What holds cities back</b><ul>{why}</ul>")
        show = plan.roadmap[[S.NAME, S.ADCODE, "label", "groups", "people", "revenue_cny", "relocation_cny"]]
        side.roadmap.value = show.to_html(index=False, float_format=lambda v: f"{v:,.0f}")
        side.charts.value = charts_html(plan)
        if side is self.sides[0]:
            cols = ["person", S.LEVEL, "role", S.NAME, "label", "relocation_cny", "reasons"]
            self.rotation_table.value = rot.assignments[cols].to_html(index=False)

    def export(self, out_dir: str | Path = "out/expansion") -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for k, side in enumerate(self.sides, start=1):
            if side.plan is None:
                continue
            p = out / f"expansion_setting{k}.xlsx"
            with pd.ExcelWriter(p, engine="openpyxl") as xw:
                self.scores.to_excel(xw, sheet_name="scores", index=False)
                side.plan.roadmap.to_excel(xw, sheet_name="roadmap", index=False)
                side.rotation.assignments.to_excel(xw, sheet_name="rotation", index=False)
                side.rotation.people.to_excel(xw, sheet_name="people", index=False)
                side.plan.cash.to_excel(xw, sheet_name="cash", index=False)
            paths[f"setting{k}"] = p
        return paths


def expansion_app(data_dir=None) -> ExpansionApp:
    """Build the new-city app on the demo (or canonical CSVs in ``data_dir``) and solve both settings once."""
    import ipywidgets as w

    sc = demo.load_demo(data_dir)
    d = E.ScoreWeights()
    weights = {k: w.FloatSlider(value=getattr(d, k), min=0, max=1, step=0.05, description=f"w {k}",
                                continuous_update=False)
               for k in ("market", "travel", "management", "sales")}
    sides = []
    for horizon, openings, budget in ((8, 2, 3_000_000), (8, 1, 500_000)):
        sides.append(Side(
            horizon=w.IntSlider(value=horizon, min=2, max=12, description="Quarters", continuous_update=False),
            openings=w.IntSlider(value=openings, min=1, max=4, description="Open/quarter", continuous_update=False),
            budget=w.FloatText(value=budget, description="Budget CNY"),
            status=w.HTML(), roadmap=w.HTML(), charts=w.HTML()))
    map_box = w.Box(layout=w.Layout(width="100%"))
    score_table, rotation_table, export_out = w.HTML(), w.HTML(), w.HTML()
    export_btn = w.Button(description="Export both settings", icon="download")
    cols = [w.VBox([w.HTML(f"<b>Setting {k}</b>"), w.HBox([s.horizon, s.openings]), s.budget, s.status, s.roadmap,
                    s.charts], layout=w.Layout(width="50%")) for k, s in enumerate(sides, start=1)]
    ui = w.VBox([w.HBox(list(weights.values())[:2]), w.HBox(list(weights.values())[2:]),
                 w.HBox([map_box, score_table]), w.HBox(cols),
                 w.HTML("<b>Rotation (setting 1): who opens which city, and why</b>"), rotation_table,
                 w.HBox([export_btn, export_out])])
    app = ExpansionApp(sc, ui, weights, map_box, score_table, sides, rotation_table, export_out)
    for c in weights.values():
        c.observe(app.rescore, names="value")
    for s in sides:
        for c in (s.horizon, s.openings, s.budget):
            c.observe(lambda _ch, s=s: app.solve(s), names="value")

    def do_export(_):
        export_out.value = "Wrote " + ", ".join(str(p) for p in app.export().values())

    export_btn.on_click(do_export)
    app.rescore()
    return app
