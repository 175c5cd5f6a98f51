"""ipywidgets apps shown by the notebooks: widgets wired to package functions.

No planning logic lives here: each app calls functions of ``planner`` and
shows their results (a map and tables). A notebook cell calls one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from planner import demo, geo, maps, schema as S, summary


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
        rch = summary.reach(acc, (float(home[S.LON]), float(home[S.LAT])), base_name=str(home[S.NAME]))
        units = geo.load_units("county")
        prefs = set(loc["prefecture_adcode"]) - {""} if len(loc) else set(demo.DEMO_PREFECTURES)
        units = units[units["prefecture_adcode"].isin(prefs)]
        m = maps.demo_map(acc, self.scenario.offices[self.scenario.offices[S.OFFICE_STATUS] == "current"],
                          units, tab.groupby("county_adcode")["accounts"].sum())
        self.map_box.children = (maps.as_widget(m, height=520),)
        show = tab[["prefecture", "county", *S.CLASSES, "accounts", "share", "potential_cny"]].head(20)
        self.table.value = show.to_html(index=False, float_format=lambda v: f"{v:,.2f}" if v < 1 else f"{v:,.0f}")
        shares = " | ".join(f"within {k} min: <b>{v:.0%}</b>" for k, v in rch.shares.items())
        self.reach_box.value = (f"<b>{len(acc)}</b> accounts shown. Travel from {rch.base_name}: {shares}; "
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
