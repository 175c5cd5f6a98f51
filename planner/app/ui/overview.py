"""The start-here app (notebook 00): pick a prefecture and classes, see the map and the numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner import geo, schema as S
from planner.app import maps
from planner.app.ui.common import Data, as_widget, load, rejected_html
from planner.io.workspace import Tables
from planner.solvers import density, overview
from planner.solvers.density import ReachResult

NEEDS = ("accounts", "offices")


@dataclass
class StartHereApp:
    """Widgets around ``overview.account_summary`` and ``density.reach``."""

    tables: Tables
    located: pd.DataFrame
    widget: Any
    prefecture: Any
    classes: Any
    map_box: Any
    table: Any
    reach_box: Any
    reach: ReachResult | None = None

    def _ipython_display_(self) -> None:  # shown when the app is the cell's value
        from IPython.display import display

        display(self.widget)

    @property
    def current(self) -> pd.DataFrame:
        off = self.tables["offices"]
        return off[off[S.OFFICE_STATUS] == "current"]

    def refresh(self, *_: Any) -> None:
        acc, loc = overview.filter_accounts(self.tables["accounts"], self.located,
                                            prefecture=self.prefecture.value or None, classes=self.classes.value)
        tab = overview.account_summary(acc, located=loc)
        cur = self.current
        units = geo.load_units("county")
        prefs = set(loc["prefecture_adcode"]) - {""} if len(loc) else set(self.located["prefecture_adcode"]) - {""}
        units = units[units["prefecture_adcode"].isin(prefs)]
        m = maps.demo_map(acc, cur, units, tab.groupby("county_adcode")["accounts"].sum())
        self.map_box.children = (as_widget(m, height=520),)
        show = tab[["prefecture", "county", *S.CLASSES, "accounts", "share", "potential_cny"]].head(20)
        self.table.value = show.to_html(index=False, float_format=lambda v: f"{v:,.2f}" if v < 1 else f"{v:,.0f}")
        if len(acc) and len(cur):
            self.reach = rch = density.reach(acc, cur[[S.LON, S.LAT]].to_numpy(float))
            shares = " | ".join(f"within {k} min: <b>{v:.0%}</b>" for k, v in rch.shares.items())
            names = "; ".join(cur[S.NAME].astype(str))
            self.reach_box.value = (f"<b>{len(acc)}</b> accounts shown. Travel from {names}: {shares}; "
                                    f"median {rch.time_min.median():.0f} min.")
        else:
            self.reach_box.value = f"<b>{len(acc)}</b> accounts shown."


def start_here_app(data: Data = None) -> StartHereApp:
    """Build the start-here app on the demo, or on a data folder (``data``)."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    acc = tables["accounts"]
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    names = geo.admin_units().set_index("adcode")  # every level: Chongqing's prefecture code is its province
    codes = sorted(set(loc["prefecture_adcode"]) - {""})
    options = [("All prefectures", "")] + [(f"{names.at[c, 'name_zh']} {names.at[c, 'name_pinyin']}", c)
                                           for c in codes]
    pref = w.Dropdown(options=options, value="", description="Prefecture")
    cls = w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES), description="Class", rows=3)
    map_box = w.Box(layout=w.Layout(width="100%"))
    table = w.HTML()
    reach_box = w.HTML()
    ui = w.VBox([w.HBox([pref, cls]), reach_box, map_box, table, w.HTML(rejected_html(tables))])
    app = StartHereApp(tables, loc, ui, pref, cls, map_box, table, reach_box)
    pref.observe(app.refresh, names="value")
    cls.observe(app.refresh, names="value")
    app.refresh()
    return app
