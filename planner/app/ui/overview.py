"""The start-here app (notebook 00): pick a prefecture and classes, see the map and the numbers."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import geo, schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output, write_csv, write_json
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
from planner.app.ui.tables import counted, place_names, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import density, overview
from planner.solvers.density import ReachResult

NEEDS = ("accounts", "offices")
SUMMARY_COLUMNS = ("prefecture", "county", *S.CLASSES, "accounts", "share", "potential_cny")
TABLE_ROWS = 20


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
    export_folder: Any = None
    written: Any = None
    linked: list[tuple[Any, int | None]] = field(default_factory=list)  # summary tables shown elsewhere

    def _ipython_display_(self) -> None:  # shown when the app is the cell's value
        from IPython.display import display

        display(self.widget)

    @property
    def current(self) -> pd.DataFrame:
        off = self.tables["offices"]
        return off[off[S.OFFICE_STATUS] == "current"]

    def filtered(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The accounts the prefecture and class filters leave, and where they are."""
        return overview.filter_accounts(self.tables["accounts"], self.located,
                                        prefecture=self.prefecture.value or None, classes=self.classes.value)

    def summary(self) -> pd.DataFrame:
        """Accounts by county for the filters shown (largest first), as ``overview.account_summary``."""
        acc, loc = self.filtered()
        return overview.account_summary(acc, located=loc)

    def summary_table(self, rows: int | None = None) -> Any:
        """The table behind the map, names in words (a widget a cell can show; ``rows``: at most that
        many); it follows the app's filters as they change."""
        import ipywidgets as w

        table = w.HTML(self.summary_html(self.summary(), rows=rows), layout=w.Layout(width="100%"))
        self.linked.append((table, rows))
        return table

    @staticmethod
    def summary_html(tab: pd.DataFrame, *, rows: int | None = TABLE_ROWS) -> str:
        shown = tab.copy()
        shown["prefecture"] = place_names(shown["prefecture_adcode"]).where(shown["prefecture_adcode"] != "",
                                                                            shown["prefecture"])
        shown["county"] = place_names(shown["county_adcode"]).where(shown["county_adcode"] != "", shown["county"])
        empty = tr("（规划区外）", "(outside the planning counties)")
        shown["county"] = shown["county"].replace("", empty)
        return table_html(shown, list(SUMMARY_COLUMNS), rows=rows)

    def refresh(self, *_: Any) -> None:
        acc, loc = self.filtered()
        tab = overview.account_summary(acc, located=loc)
        cur = self.current
        units = geo.load_units("county")
        prefs = set(loc["prefecture_adcode"]) - {""} if len(loc) else set(self.located["prefecture_adcode"]) - {""}
        units = units[units["prefecture_adcode"].isin(prefs)]
        m = maps.demo_map(acc, cur, units, tab.groupby("county_adcode")["accounts"].sum())
        self.map_box.children = (as_widget(m, height=520),)
        self.table.value = self.summary_html(tab)
        for table, rows in self.linked:
            table.value = self.summary_html(tab, rows=rows)
        self.reach_box.value = self._reach_text(acc, cur)

    def _reach_text(self, acc: pd.DataFrame, cur: pd.DataFrame) -> str:
        count = counted(len(acc), "个客户", "accounts shown")
        if not (len(acc) and len(cur)):
            self.reach = None
            return count + "."
        self.reach = rch = density.reach(acc, cur[[S.LON, S.LAT]].to_numpy(float), backend=travel_of(self).backend)
        shares = " | ".join(tr(f"{k} 分钟内", f"within {k} min") + f": <b>{v:.0%}</b>" for k, v in rch.shares.items())
        names = html.escape("; ".join(cur[S.NAME].astype(str)))
        median = tr(f"中位路程 {rch.time_min.median():.0f} 分钟", f"median {rch.time_min.median():.0f} min")
        return f"{count}. {tr('从', 'Travel from')} {names}: {shares}; {median}."

    def export(self, folder: str | Path | None = None) -> list[Path]:
        """The county table, the map and the reach figures for the filters shown, into ``folder``
        (default: the folder box)."""
        out = resolve_out(folder if folder is not None else self.export_folder.value, "start_here")
        acc, loc = self.filtered()
        tab = overview.account_summary(acc, located=loc)
        units = geo.load_units("county")
        units = units[units["prefecture_adcode"].isin(set(loc["prefecture_adcode"]) - {""})]
        m = maps.demo_map(acc, self.current, units, tab.groupby("county_adcode")["accounts"].sum())
        with staged_output(out) as tmp:
            paths = [write_csv(tab, tmp / "accounts_by_county.csv"), maps.save_html(m, tmp / "demo_map.html"),
                     write_json(tmp / "summary.json", {
                         "accounts": int(len(acc)), "prefecture": self.prefecture.value or None,
                         "classes": list(self.classes.value),
                         "share_within_min": {} if self.reach is None else
                         {str(k): round(v, 4) for k, v in self.reach.shares.items()},
                         "inputs": self.tables.summary()})]
        return moved(paths, tmp, out)

    def _on_export(self, *_: Any) -> None:
        try:
            self.written.value = written_html(self.export())
        except (ValueError, OSError) as e:
            self.written.value = error_html(e)


def start_here_app(data: Data = None) -> StartHereApp:
    """Build the start-here app on the demo, or on a data folder (``data``)."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    acc = tables["accounts"]
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    codes = sorted(set(loc["prefecture_adcode"]) - {""})
    names = place_names(pd.Series(codes, dtype=object))
    options = [(tr("全部地级市", "All prefectures"), "")] + list(zip(names, codes))
    wide = {"description_width": "initial"}
    pref = w.Dropdown(options=options, value="", description=tr("地级市", "Prefecture"), style=wide)
    cls = w.SelectMultiple(options=list(S.CLASSES), value=list(S.CLASSES), description=tr("客户等级", "Class"),
                           rows=3, style=wide)
    map_box = w.Box(layout=w.Layout(width="100%"))
    table = w.HTML(layout=w.Layout(width="100%"))
    reach_box = w.HTML(layout=w.Layout(width="100%"))
    folder, export_btn, written, export = export_row(resolve_out(None, "start_here"))
    head = w.HTML(f"<b>{html.escape(tr('各区县客户（随筛选变化）', 'Accounts by county (follows the filters)'))}"
                  "</b>")
    ui = w.VBox([w.HBox([pref, cls]), reach_box, map_box, head, table, export, written,
                 w.HTML(rejected_html(tables))], layout=w.Layout(width="100%"))
    app = StartHereApp(tables, loc, ui, pref, cls, map_box, table, reach_box, export_folder=folder,
                       written=written)
    pref.observe(app.refresh, names="value")
    cls.observe(app.refresh, names="value")
    export_btn.on_click(app._on_export)
    app.refresh()
    return app
