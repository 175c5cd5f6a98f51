"""The bases app (notebook 01): segment, k, capacity and locks in; map, KPIs and bases out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.bases import export
from planner.app.export.common import moved, staged_output
from planner.app.ui.common import Data, as_widget, load, rejected_html
from planner.app.ui.options import options_from, widget
from planner.io.workspace import Tables
from planner.solvers import bases, density, overview

NEEDS = ("accounts", "offices")
OPTIONAL = ("reps",)
CONTROLLED = ("k", "capacitated", "desks", "min_team", "weight", "time_limit_s")


@dataclass
class BasesApp:
    """Where to station people: the segment and ``BaseOptions`` from the controls, the plan on the map."""

    tables: Tables
    base: bases.BaseOptions
    widget: Any
    controls: dict[str, Any]
    map_box: Any
    kpis: Any
    table: Any
    status: Any
    progress: Any
    plan: bases.BasePlan | None = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def segment(self) -> pd.DataFrame:
        c = self.controls
        return overview.filter_accounts(self.tables["accounts"], classes=c["classes"].value,
                                        statuses=c["status"].value, industry=c["industry"].value)

    def options(self) -> bases.BaseOptions:
        """The settings the controls show (desks only count with the capacitated model)."""
        c = self.controls
        ctl = {k: c[k] for k in CONTROLLED if k != "desks"}
        desks = {"desks": int(c["desks"].value) if c["capacitated"].value else None}
        return options_from(self.base, ctl, locked=tuple(c["locked"].value), **desks)

    def team_size(self, opt: bases.BaseOptions) -> int:
        return bases.team_size(self.tables.get("reps"), opt)

    def solve(self, *_: Any) -> None:
        acc = self.segment()
        opt = self.options()

        def progress(fraction: float | None, message: str) -> None:
            self.progress.value = 0 if fraction is None else fraction
            self.progress.description = message[:20]

        off = self.tables["offices"]
        self.plan = plan = bases.solve_bases(acc, off, reps=self.team_size(opt), options=opt, progress=progress)
        self.status.value = f"<b>{len(acc)}</b> accounts in the segment. Solver: {plan.report.describe()}"
        if not len(plan.bases):
            self.table.value = ""
            self.kpis.value = ""
            return
        kt = plan.kpi_table()
        self.kpis.value = kt.to_html(index=False, float_format=lambda v: f"{v:,.2f}")
        self.table.value = plan.bases[["id", "name", "accounts", "share", "reps", "mean_time_min"]].to_html(
            index=False, float_format=lambda v: f"{v:,.2f}")
        cl = density.find_clusters(acc) if len(acc) else None
        cur = off[off[S.OFFICE_STATUS] == "current"]
        m = maps.bases_map(acc, plan, cur, clusters=None if cl is None else cl.table,
                           hexes=density.hex_cells(acc, resolution=7) if len(acc) else None)
        self.map_box.children = (as_widget(m, height=540),)

    def export(self, out_dir: str | Path = "out/bases") -> dict[str, Path]:
        if self.plan is None:
            raise ValueError("solve first")
        with staged_output(out_dir) as tmp:
            paths = export(self.plan, self.segment(), tmp, inputs=self.tables.summary())
        return dict(zip(paths, moved(paths.values(), tmp, out_dir)))


def bases_app(data: Data = None, *, options: bases.BaseOptions | None = None) -> BasesApp:
    """Build the bases app on the demo (or a data folder) and solve once; the controls start at ``options``."""
    import ipywidgets as w

    tables = load(data, NEEDS, OPTIONAL)
    base = options or bases.BaseOptions()
    acc, off = tables["accounts"], tables["offices"]
    seats = off[off[S.OFFICE_KIND].isin(["office", "county_seat"])].drop_duplicates(S.ID)
    controls: dict[str, Any] = {
        "classes": w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES), description="Class", rows=3),
        "status": w.SelectMultiple(options=list(S.STATUSES), value=list(S.STATUSES), description="Status", rows=2),
        "industry": w.Dropdown(options=[("all industries", "")] + sorted((i, i) for i in acc[S.INDUSTRY].unique()),
                               value="", description="Industry"),
        **{k: widget(bases.BaseOptions, k, options=base) for k in CONTROLLED if k != "desks"},
        "desks": widget(bases.BaseOptions, "desks", value=base.desks if base.desks is not None else 15),
        "locked": w.SelectMultiple(options=[(f"{r[S.NAME]}", r[S.ID]) for _, r in seats.iterrows()],
                                   value=tuple(x for x in base.locked if x in set(seats[S.ID])),
                                   description="Keep open", rows=4),
    }
    progress = w.FloatProgress(value=0, min=0, max=1, description="")
    status, kpis, table = w.HTML(), w.HTML(), w.HTML()
    map_box = w.Box(layout=w.Layout(width="100%"))
    export_btn = w.Button(description="Export plan", icon="download")
    export_out = w.HTML()
    ui = w.VBox([
        w.HBox([controls["classes"], controls["status"], w.VBox([controls["industry"], controls["weight"]])]),
        w.HBox([w.VBox([controls["k"], controls["min_team"], controls["time_limit_s"]]),
                w.VBox([controls["capacitated"], controls["desks"]]), controls["locked"]]),
        w.HBox([progress, status]), map_box,
        w.HBox([w.VBox([w.HTML("<b>Today vs plan</b>"), kpis]), w.VBox([w.HTML("<b>Open bases</b>"), table])]),
        w.HBox([export_btn, export_out]), w.HTML(rejected_html(tables)),
    ])
    app = BasesApp(tables, base, ui, controls, map_box, kpis, table, status, progress)
    for c in controls.values():
        c.observe(app.solve, names="value")

    def do_export(_: Any) -> None:
        paths = app.export()
        export_out.value = "Wrote " + ", ".join(str(p) for p in paths.values())

    export_btn.on_click(do_export)
    app.solve()
    return app
