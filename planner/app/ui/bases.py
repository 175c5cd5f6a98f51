"""The bases app (notebook 01): segment, k, capacity and locks in; map, KPIs and bases out.

A change of a control solves again (on release of a slider) while **Auto** is ticked; **Solve** solves
the settings shown. While a solve runs the map and the tables are greyed, the progress row says the
phase and the seconds, and **Cancel** stops it at the solver's next stage (the previous plan stays).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.bases import export
from planner.app.export.common import moved, staged_output
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
from planner.app.ui.options import STYLE, options_from, widget
from planner.app.ui.tables import counted, kpi_html, place_names, report_html, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import bases, density, overview

NEEDS = ("accounts", "offices")
OPTIONAL = ("reps",)
CONTROLLED = ("k", "capacitated", "desks", "min_team", "weight", "time_limit_s")
BASE_COLUMNS = ("name", "place", "accounts", "share", "reps", "mean_time_min", "id")


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
    job: Job | None = None
    export_folder: Any = None
    written: Any = None

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

    # --- solving -------------------------------------------------------------------------------------
    def _request(self) -> tuple[Any, Any, dict[str, Any]]:
        """The solve of the settings shown now: (work, done, keywords for ``Job.run``)."""
        acc = self.segment()
        opt = self.options()
        off = self.tables["offices"]
        reps = self.team_size(opt)
        backend = travel_of(self).backend

        def work(progress: Any) -> bases.BasePlan:
            return bases.solve_bases(acc, off, reps=reps, options=opt, progress=progress, backend=backend)

        what = tr(f"求解 {opt.k} 个基地", f"solving {opt.k} bases")
        return work, lambda plan: self.show(plan, acc), {"what": what, "limit_s": opt.time_limit_s,
                                                         "on_error": self._error}

    def solve(self, *_: Any) -> None:
        """Solve the settings shown, here and now (the notebook's ``app.solve()``)."""
        work, done, kw = self._request()
        assert self.job is not None
        self.job.run(work, done, **kw)

    def request_solve(self, *_: Any) -> None:
        """Solve from a widget: in the background in a notebook (a running solve gives way to this one)."""
        assert self.job is not None
        self.job.start(self._request, self._error, background=True)

    def _changed(self, *_: Any) -> None:
        if self.controls["auto"].value:
            self.request_solve()

    def _error(self, e: Exception) -> None:
        self.status.value = error_html(e)

    def show(self, plan: bases.BasePlan, acc: pd.DataFrame) -> None:
        """The plan on the map and in the tables."""
        self.plan = plan
        self.status.value = (counted(len(acc), "个细分客户", "accounts in the segment") + ". "
                             + html.escape(tr("求解结果", "Solver")) + f": {report_html(plan.report)}")
        if not len(plan.bases):
            self.table.value = ""
            self.kpis.value = ""
            return
        self.kpis.value = kpi_html(plan.kpi_table(), key="kpi")
        self.table.value = table_html(self.bases_table(plan), list(BASE_COLUMNS))
        off = self.tables["offices"]
        cl = density.find_clusters(acc) if len(acc) else None
        cur = off[off[S.OFFICE_STATUS] == "current"]
        m = maps.bases_map(acc, plan, cur, clusters=None if cl is None else cl.table,
                           hexes=density.hex_cells(acc, resolution=7) if len(acc) else None)
        self.map_box.children = (as_widget(m, height=540),)

    def bases_table(self, plan: bases.BasePlan) -> pd.DataFrame:
        """The open bases with the county they sit in (by name)."""
        off = self.tables["offices"].drop_duplicates(S.ID).set_index(S.ID)
        t = plan.bases.copy()
        if S.ADCODE in off.columns:
            t["place"] = place_names(t["id"].map(off[S.ADCODE]).fillna(""))
        else:
            t["place"] = ""
        return t

    # --- export ----------------------------------------------------------------------------------------
    def export(self, out_dir: str | Path | None = None) -> dict[str, Path]:
        """The plan's files into ``out_dir`` (default: the folder box)."""
        if self.plan is None:
            raise ValueError(tr("请先求解", "solve first"))
        out = resolve_out(out_dir if out_dir is not None else self.export_folder.value, "bases")
        with staged_output(out) as tmp:
            paths = export(self.plan, self.segment(), tmp, inputs=self.tables.summary())
        return dict(zip(paths, moved(paths.values(), tmp, out)))

    def _on_export(self, *_: Any) -> None:
        try:
            self.written.value = written_html(self.export().values())
        except (ValueError, OSError) as e:
            self.written.value = error_html(e)


def _keep_open_options(seats: pd.DataFrame) -> list[tuple[str, str]]:
    """Each office once, with the county it sits in (two 'Licheng' county seats are two places)."""
    place = place_names(seats[S.ADCODE].fillna("")) if S.ADCODE in seats.columns else pd.Series("", seats.index)
    return [(f"{r[S.NAME]} · {p}" if p else str(r[S.NAME]), r[S.ID]) for (_, r), p in zip(seats.iterrows(), place)]


def _controls(tables: Tables, base: bases.BaseOptions) -> dict[str, Any]:
    import ipywidgets as w

    acc, off = tables["accounts"], tables["offices"]
    seats = off[off[S.OFFICE_KIND].isin(["office", "county_seat"])].drop_duplicates(S.ID)
    return {
        "classes": w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES),
                                    description=tr("客户等级", "Class"), rows=3, style=STYLE),
        "status": w.SelectMultiple(options=list(S.STATUSES), value=list(S.STATUSES),
                                   description=tr("客户状态", "Status"), rows=2, style=STYLE),
        "industry": w.Dropdown(options=[(tr("全部行业", "all industries"), "")]
                               + sorted((i, i) for i in acc[S.INDUSTRY].unique()),
                               value="", description=tr("行业", "Industry"), style=STYLE),
        **{k: widget(bases.BaseOptions, k, options=base) for k in CONTROLLED if k != "desks"},
        "desks": widget(bases.BaseOptions, "desks", value=base.desks if base.desks is not None else 15),
        "locked": w.SelectMultiple(options=_keep_open_options(seats),
                                   value=tuple(x for x in base.locked if x in set(seats[S.ID])),
                                   description=tr("保留", "Keep open"), rows=5, style=STYLE,
                                   layout=w.Layout(width="auto", min_width="380px")),
        "auto": w.Checkbox(value=True, indent=False, description=tr("改动即求解", "Auto: solve on every change")),
    }


def bases_app(data: Data = None, *, options: bases.BaseOptions | None = None) -> BasesApp:
    """Build the bases app on the demo (or a data folder) and solve once; the controls start at ``options``."""
    import ipywidgets as w

    tables = load(data, NEEDS, OPTIONAL)
    base = options or bases.BaseOptions()
    controls = _controls(tables, base)
    status, kpis, table = (w.HTML(layout=w.Layout(width="100%")) for _ in range(3))
    map_box = w.Box(layout=w.Layout(width="100%"))
    solve_btn = button(tr("求解", "Solve"), style="primary", icon="play")
    folder, export_btn, written, export_box = export_row(resolve_out(None, "bases"))
    results = w.HBox([w.VBox([w.HTML(f"<b>{html.escape(tr('现在 vs 方案', 'Today vs plan'))}</b>"), kpis],
                             layout=w.Layout(flex="1 1 0%", min_width="0")),
                      w.VBox([w.HTML(f"<b>{html.escape(tr('开设的基地', 'Open bases'))}</b>"), table],
                             layout=w.Layout(flex="2 1 0%", min_width="0"))], layout=w.Layout(width="100%"))
    jb = job(busy=[map_box, results], buttons=[solve_btn, export_btn])
    ui = w.VBox([
        w.HBox([controls["classes"], controls["status"], w.VBox([controls["industry"], controls["weight"]])],
               layout=w.Layout(flex_flow="row wrap")),
        w.HBox([w.VBox([controls["k"], controls["min_team"], controls["time_limit_s"]]),
                w.VBox([controls["capacitated"], controls["desks"]]), controls["locked"]],
               layout=w.Layout(flex_flow="row wrap")),
        w.VBox([w.HBox([solve_btn, controls["auto"]]), jb.widget, status], layout=w.Layout(width="100%")),
        map_box, results, export_box, written, w.HTML(rejected_html(tables)),
    ], layout=w.Layout(width="100%"))
    app = BasesApp(tables, base, ui, controls, map_box, kpis, table, status, jb.bar, job=jb, export_folder=folder,
                   written=written)
    for name, c in controls.items():
        if name != "auto":
            c.observe(app._changed, names="value")
    solve_btn.on_click(app.request_solve)
    export_btn.on_click(app._on_export)
    app.solve()
    return app
