"""ipywidgets apps shown by the notebooks: widgets wired to package functions.

No planning logic lives here: each app calls functions of ``planner`` and
shows their results (a map and tables). A notebook cell calls one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner import demo, density, geo, maps, schema as S, summary


@dataclass
class StartHereApp:
    """The start-here app: pick a prefecture and classes, see the map and the numbers."""

    scenario: demo.Scenario
    located: pd.DataFrame
    widget: object
    prefecture: object
    classes: object
    map_box: object
    table: object
    reach_box: object

    def _ipython_display_(self):  # shown when the app is the cell's value
        from IPython.display import display

        display(self.widget)

    def refresh(self, *_):
        acc, loc = summary.filter_accounts(self.scenario.accounts, self.located,
                                           prefecture=self.prefecture.value or None,
                                           classes=self.classes.value)
        tab = summary.account_summary(acc, located=loc)
        home = self.scenario.home_office
        rch = density.reach(acc, [(float(home[S.LON]), float(home[S.LAT]))])
        units = geo.load_units("county")
        prefs = set(loc["prefecture_adcode"]) - {""} if len(loc) else set(demo.DEMO_PREFECTURES)
        units = units[units["prefecture_adcode"].isin(prefs)]
        m = maps.demo_map(acc, self.scenario.offices[self.scenario.offices[S.OFFICE_STATUS] == "current"],
                          units, tab.groupby("county_adcode")["accounts"].sum())
        self.map_box.children = (maps.as_widget(m, height=520),)
        show = tab[["prefecture", "county", *S.CLASSES, "accounts", "share", "potential_cny"]].head(20)
        self.table.value = show.to_html(index=False, float_format=lambda v: f"{v:,.2f}" if v < 1 else f"{v:,.0f}")
        shares = " | ".join(f"within {k} min: <b>{v:.0%}</b>" for k, v in rch.shares.items())
        self.reach_box.value = (f"<b>{len(acc)}</b> accounts shown. Travel from {home[S.NAME]}: {shares}; "
                                f"median {rch.time_min.median():.0f} min.")


def start_here_app(data_dir=None) -> StartHereApp:
    """Build the start-here app on the demo (or on canonical CSVs in ``data_dir``)."""
    import ipywidgets as w

    sc = demo.load_demo(data_dir)
    loc = geo.locate(sc.accounts[S.LON], sc.accounts[S.LAT])
    names = geo.admin_units("prefecture").set_index("adcode")
    codes = sorted(set(loc["prefecture_adcode"]) - {""})
    options = [("All prefectures", "")] + [(f"{names.at[c, 'name_zh']} {names.at[c, 'name_pinyin']}", c)
                                           for c in codes]
    pref = w.Dropdown(options=options, value="", description="Prefecture")
    cls = w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES), description="Class", rows=3)
    map_box = w.Box(layout=w.Layout(width="100%"))
    table = w.HTML()
    reach_box = w.HTML()
    ui = w.VBox([w.HBox([pref, cls]), reach_box, map_box, table])
    app = StartHereApp(sc, loc, ui, pref, cls, map_box, table, reach_box)
    pref.observe(app.refresh, names="value")
    cls.observe(app.refresh, names="value")
    app.refresh()
    return app


@dataclass
class BasesApp:
    """Where to station people: segment, k, capacity and locks in; map, KPIs and bases out."""

    scenario: demo.Scenario
    widget: object
    controls: dict
    map_box: object
    kpis: object
    table: object
    status: object
    progress: object
    plan: object = None

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def segment(self) -> pd.DataFrame:
        c = self.controls
        return summary.filter_accounts(self.scenario.accounts, classes=c["classes"].value,
                                       statuses=c["status"].value, industry=c["industry"].value)

    def solve(self, *_):
        from planner import bases, density

        c = self.controls
        acc = self.segment()
        off = self.scenario.offices.copy()
        if c["capacitated"].value:
            off[S.DESKS] = c["desks"].value
        opt = bases.BaseOptions(k=c["k"].value, capacitated=c["capacitated"].value, min_team=c["min_team"].value,
                                weight=c["weight"].value, locked=tuple(c["locked"].value), time_limit_s=20.0)

        def progress(fraction, message):
            self.progress.value = 0 if fraction is None else fraction
            self.progress.description = message[:20]

        self.plan = plan = bases.solve_bases(acc, off, reps=len(self.scenario.reps), options=opt, progress=progress)
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
        self.map_box.children = (maps.as_widget(m, height=540),)

    def export(self, out_dir="out/bases") -> dict:
        from planner import bases

        if self.plan is None:
            raise ValueError("solve first")
        return bases.export(self.plan, self.segment(), out_dir)


def bases_app(data_dir=None) -> BasesApp:
    """Build the bases app on the demo (or canonical CSVs in ``data_dir``) and solve once."""
    import ipywidgets as w

    sc = demo.load_demo(data_dir)
    acc = sc.accounts
    current = sc.offices[sc.offices[S.OFFICE_STATUS] == "current"]
    seats = sc.offices[sc.offices[S.OFFICE_KIND].isin(["office", "county_seat"])]
    controls = {
        "classes": w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES), description="Class", rows=3),
        "status": w.SelectMultiple(options=list(S.STATUSES), value=list(S.STATUSES), description="Status", rows=2),
        "industry": w.Dropdown(options=[("all industries", "")] + sorted((i, i) for i in acc[S.INDUSTRY].unique()),
                               value="", description="Industry"),
        "weight": w.Dropdown(options=["count", "class", "potential"], value="count", description="Weight"),
        "k": w.IntSlider(value=2, min=1, max=6, description="Bases (k)"),
        "capacitated": w.Checkbox(value=False, description="Capacitated"),
        "desks": w.IntSlider(value=15, min=2, max=30, description="Desks/base"),
        "min_team": w.IntSlider(value=2, min=1, max=8, description="Min team"),
        "locked": w.SelectMultiple(options=[(f"{r[S.NAME]}", r[S.ID]) for _, r in seats.iterrows()],
                                   value=(), description="Keep open", rows=4),
    }
    progress = w.FloatProgress(value=0, min=0, max=1, description="")
    status, kpis, table = w.HTML(), w.HTML(), w.HTML()
    map_box = w.Box(layout=w.Layout(width="100%"))
    export_btn = w.Button(description="Export plan", icon="download")
    export_out = w.HTML()
    ui = w.VBox([
        w.HBox([controls["classes"], controls["status"], w.VBox([controls["industry"], controls["weight"]])]),
        w.HBox([w.VBox([controls["k"], controls["min_team"]]), w.VBox([controls["capacitated"], controls["desks"]]),
                controls["locked"]]),
        w.HBox([progress, status]), map_box,
        w.HBox([w.VBox([w.HTML("<b>Today vs plan</b>"), kpis]), w.VBox([w.HTML("<b>Open bases</b>"), table])]),
        w.HBox([export_btn, export_out]),
    ])
    app = BasesApp(sc, ui, controls, map_box, kpis, table, status, progress)
    for c in controls.values():
        c.observe(app.solve, names="value")

    def do_export(_):
        paths = app.export()
        export_out.value = "Wrote " + ", ".join(str(p) for p in paths.values())

    export_btn.on_click(do_export)
    app.solve()
    return app
