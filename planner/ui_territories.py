"""The territories app: settings, two scenarios side by side, map, KPIs, export.

``territories_app()`` builds the widget app shown by
``notebooks/02_territories.ipynb``. No planning logic lives here: the app
calls ``planner.territories.solve`` and shows the plan. The map layer
(``add_territories``, ``territory_map``) and the bar chart (``bar_chart_svg``)
are plain functions, also used by the CLI export.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner import maps, schema as S, territories

# 20 distinguishable colours (Tableau 20 order), cycled when there are more reps
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
           "#9edae5", "#393b79")
POOL_COLOUR = "#bbbbbb"


def rep_colours(rep_ids) -> dict[str, str]:
    """A colour per rep id, in order, cycling the palette."""
    return {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(rep_ids)}


def add_territories(m, plan: territories.TerritoryPlan, *, name: str = "Territories", show_pool: bool = True):
    """Accounts as circle markers coloured by territory (pool grey), and each rep's base and centre."""
    import folium

    colours = rep_colours(plan.reps.index)
    acc = plan.accounts
    feats = []
    for aid, r in acc.iterrows():
        assigned = r["outcome"] == "assigned"
        if not assigned and not show_pool:
            continue
        colour = colours.get(r["territory"], POOL_COLOUR) if assigned else POOL_COLOUR
        tip = (f"{aid} | {r['territory']} | class {r['account_class']} | {r['potential_cny']:,.0f} CNY"
               + (f" | moved from {r['owner']}" if r["moved"] else "") + f" | {r['reason']}")
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r[S.LON]),
                                                                                      float(r[S.LAT])]},
                      "properties": {"colour": colour, "tip": tip, "radius": 4 if assigned else 2,
                                     "ring": "#000000" if r["moved"] else colour}})
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": feats}, name=name,
        marker=folium.CircleMarker(radius=4, fill=True, weight=1),
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": f["properties"]["ring"],
                                  "radius": f["properties"]["radius"], "fillOpacity": 0.85, "weight": 1},
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    )
    layer.add_to(m)
    fg = folium.FeatureGroup(name="Reps: base (square) and territory centre (circle)")
    for rid, r in plan.reps.iterrows():
        c = colours[rid]
        tip = (f"{rid}: {int(r['accounts'])} accounts, {r['workload_h']:.0f} h a month "
               f"(target {r['target_workload_h']:.0f}), {r['potential_cny']:,.0f} CNY, "
               f"mean travel {r['travel_min_mean']:.0f} min")
        # a plain div square: folium's RegularPolygonMarker needs a CDN plugin and breaks offline maps
        square = (f'<div style="width:12px;height:12px;background:{c};border:1.5px solid #000;'
                  f'transform:translate(-50%,-50%)"></div>')
        folium.Marker([r["base_lat"], r["base_lon"]], icon=folium.DivIcon(html=square, icon_size=(0, 0)),
                      tooltip=tip).add_to(fg)
        if plan.compactness == "centre":
            folium.CircleMarker([r["anchor_lat"], r["anchor_lon"]], radius=9, color="#000000", weight=2,
                                fill=True, fill_color=c, fill_opacity=0.9, tooltip=tip).add_to(fg)
            folium.PolyLine([[r["base_lat"], r["base_lon"]], [r["anchor_lat"], r["anchor_lon"]]], color=c,
                            weight=1, opacity=0.6).add_to(fg)
    fg.add_to(m)
    return m


def territory_map(plan: territories.TerritoryPlan, offices: pd.DataFrame | None = None, *,
                  tiles: str | None = maps.DEFAULT_TILES):
    """The whole map: territories, reps, the offices the reps are based at, a legend."""
    acc = plan.accounts
    pts = acc[[S.LON, S.LAT]]
    bounds = (float(pts[S.LON].min()), float(pts[S.LAT].min()), float(pts[S.LON].max()),
              float(pts[S.LAT].max())) if len(acc) else None
    m = maps.base_map(tiles=tiles, bounds=bounds)
    add_territories(m, plan, show_pool=len(acc) <= 20_000)  # very large plans: assigned accounts only
    if offices is not None and len(offices):
        used = offices[offices[S.ID].isin(_base_office_ids(plan, offices))]
        if len(used):
            maps.add_offices(m, used, name="Base offices")
    legend = dict(list(rep_colours(plan.reps.index).items())[:30])
    legend["public pool"] = POOL_COLOUR
    maps.add_legend(m, "Territory", legend)
    maps.add_layer_control(m)
    return m


def _base_office_ids(plan, offices: pd.DataFrame) -> list[str]:
    near = []
    ol = offices[[S.LON, S.LAT]].to_numpy(float)
    for _, r in plan.reps.iterrows():
        d = np.abs(ol - np.array([r["base_lon"], r["base_lat"]])).sum(axis=1)
        if len(d) and d.min() < 1e-6:
            near.append(offices[S.ID].iloc[int(np.argmin(d))])
    return near


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

    tables: dict
    widget: object
    controls: dict
    boxes: dict
    locked: set = field(default_factory=set)
    plans: dict = field(default_factory=dict)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # --- settings --------------------------------------------------------------
    def options(self) -> territories.TerritoryOptions:
        c = self.controls
        excluded = {t.strip() for t in c["excluded"].value.replace("\n", ",").split(",") if t.strip()}
        return territories.TerritoryOptions(
            tolerance=c["tolerance"].value, potential_tolerance=c["potential_tolerance"].value,
            max_moves=c["max_moves"].value if c["limit_moves"].value else None,
            pool_return_days=c["pool_days"].value if c["pool_rule"].value else None,
            include_pool=c["include_pool"].value, locked=frozenset(self.locked), excluded=frozenset(excluded),
            time_limit_s=c["time_limit"].value, seed=0)

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

        problem = territories.problem_from_tables(self.tables["accounts"], self.tables["reps"],
                                                  self.tables["offices"], n_reps=c["reps"].value)
        plan = territories.solve(problem, self.options(), progress=progress)
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
                    f"+-{opts.potential_tolerance:.0%}, max moves {opts.max_moves if opts.max_moves is not None else '-'}"
                    f", {len(opts.locked)} locked<br><small>{_html.escape(plan.report.describe())}</small>")
            mp = maps.as_widget(territory_map(plan, self.tables["offices"]), height=420)
            charts = (bar_chart_svg(plan.reps["workload_h"], plan.reps["target_workload_h"], title="Workload, h a month",
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
        from planner.cli_territories import write_plan

        out = Path(folder or self.controls["folder"].value)
        paths = []
        for name, plan in self.plans.items():
            paths += write_plan(plan, out / name, offices=self.tables["offices"])
        self.controls["export_out"].value = "<br>".join(_html.escape(str(p)) for p in paths) or "nothing solved yet"
        return paths

    @staticmethod
    def _html(text: str):
        import ipywidgets as w

        return w.HTML(text)


def territories_app(data_dir=None, *, solve_first: bool = True, time_limit_s: float = 4.0) -> TerritoriesApp:
    """Build the app on the demo (or canonical files in ``data_dir``); solves scenario A when ``solve_first``."""
    import ipywidgets as w

    from planner.cli_territories import load_tables

    tables, rejected = load_tables(data_dir)
    sellers = territories.select_reps(tables["reps"], None)
    n0 = max(2, len(sellers))
    style = {"description_width": "150px"}
    lay = w.Layout(width="360px")
    acc = tables["accounts"]
    owners = sorted(o for o in acc[S.OWNER].unique() if o != S.PUBLIC_POOL)
    c = {
        "reps": w.BoundedIntText(value=n0, min=1, max=n0 + 30, description="Reps", style=style, layout=lay),
        "tolerance": w.FloatSlider(value=0.10, min=0.02, max=0.5, step=0.01, description="Workload +-",
                                   readout_format=".0%", style=style, layout=lay),
        "potential_tolerance": w.FloatSlider(value=0.15, min=0.02, max=1.0, step=0.01, description="Potential +-",
                                             readout_format=".0%", style=style, layout=lay),
        "limit_moves": w.Checkbox(value=False, description="Limit moves", style=style),
        "max_moves": w.BoundedIntText(value=100, min=0, max=10**6, description="Max moves", style=style, layout=lay),
        "pool_rule": w.Checkbox(value=True, description="Pool rule", style=style),
        "pool_days": w.BoundedIntText(value=90, min=1, max=3650, description="Not visited for (days)", style=style,
                                      layout=lay),
        "include_pool": w.Checkbox(value=False, description="Also divide pool accounts", style=style),
        "time_limit": w.BoundedFloatText(value=time_limit_s, min=0.5, max=600, description="Time limit (s)",
                                         style=style, layout=lay),
        "lock_owner": w.Dropdown(options=owners, value=owners[0] if owners else None, description="Lock accounts of",
                                 style=style, layout=lay),
        "lock_select": w.SelectMultiple(options=[], rows=8, description="Locked (select)", style=style,
                                        layout=w.Layout(width="420px")),
        "lock_count": w.HTML("0 locked"),
        "excluded": w.Textarea(value="", placeholder="account ids to keep in the pool, comma separated",
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
                w.HBox([c["pool_rule"], c["pool_days"]]), c["include_pool"], c["time_limit"]]),
        w.VBox([c["lock_owner"], c["lock_select"], c["lock_count"], c["excluded"]]),
    ])
    actions = w.HBox([c["solve_a"], c["solve_b"], c["progress"]])
    export = w.HBox([c["folder"], c["export"]])
    ui = w.VBox([settings, actions, c["status"], boxes["compare"], w.HBox([boxes["A"], boxes["B"]]), export,
                 c["export_out"]])
    app = TerritoriesApp(tables=tables, widget=ui, controls=c, boxes=boxes)
    if rejected:
        c["export_out"].value = "Rows that could not be read (not planned): " + ", ".join(
            f"{entity} {df['row'].nunique()}" for entity, df in rejected.items())
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
