"""The week app (周计划): pick the first day and the reps, set the week's settings, solve, look, export.

No planning logic here: :func:`planner.solvers.week.solve` plans the team's week (visit cycles by
class, days of eight visits 4/2/2, supervisors riding along with new reps), the day maps are
:func:`planner.app.maps.day_map` on :func:`planner.app.export.week.day_plan` (the week plan's day), and
:mod:`planner.app.export.week` writes the files and builds the calendar grid's cells.
A notebook cell calls ``week_app()`` and presses **Solve the week**.

Shown after a solve: the week's numbers (visits per rep-day, rep-days at the standard, mix met,
cycles kept by class, travel share, ride-along days), a calendar with one row per rep (green: a day
at the standard; amber: short, the reason as a tooltip; blue: a supervisor riding along), a day's
map and itinerary (pick the day, and a rep or everybody), and the visits owed and accounts left
out, collapsed.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.week import KIND_LABELS, day_itinerary, day_label, grid_cells, write_all
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
from planner.app.ui.tables import details as _details, language, report_html, table_html, tr
from planner.io.workspace import Tables
from planner.options import specs
from planner.solvers import week as W
from planner.solvers.days import KINDS

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = tuple(s.name for s in specs(W.WeekOptions) if s.info.ui)
MIX_LABELS = {"new": ("陌拜", "New"), "follow-up": ("跟进", "Follow-ups"), "closing": ("签约", "Closings")}
CELL_COLOURS = {"standard": "#c8e6c9", "short": "#ffe0b2", "riding": "#bbdefb", "none": "#f5f5f5"}
ALL_REPS = "(all reps 全部)"
_TABLE_ROWS = 300


def _table(df: pd.DataFrame, n: int = _TABLE_ROWS) -> str:
    return table_html(df, rows=n, more=tr("（导出文件中有全部行）", " (all of them in the export)"))


def _pct(v: Any) -> str:
    return "–" if v is None or pd.isna(v) else f"{float(v):.0f}%"


def kpi_html(kpis: dict[str, Any]) -> str:
    """The week's numbers as a strip of boxes, each labelled in Chinese and English."""
    by_class = kpis.get("cycle_kept_pct_by_class") or {}
    cycle = " · ".join(f"{c} {_pct(v)}" for c, v in by_class.items()) or "–"
    items = [
        ("人均日拜访", "visits per rep-day", f"{kpis.get('visits_per_rep_day', 0):.1f}"),
        ("满8访天数", "rep-days at 8", f"{kpis.get('rep_days_at_standard', 0)} / {kpis.get('rep_days', 0)}"),
        ("结构达标", "mix 4/2/2 met", _pct(kpis.get("mix_met_pct"))),
        ("周期达成", "cycle kept by class", cycle),
        ("路途占比", "travel share", _pct(100 * float(kpis.get("travel_share", 0.0)))),
        ("陪访天数", "ride-along days", str(kpis.get("ride_days", 0))),
    ]
    lang = language()
    boxes = "".join(
        '<div style="border:1px solid #ccc;border-radius:6px;padding:6px 10px;margin:0 8px 8px 0;min-width:120px">'
        f'<div style="font-size:18px;font-weight:bold">{html.escape(value)}</div>'
        f'<div style="font-size:12px">{html.escape(zh if lang != "en" else en)}'
        + (f'<br><span style="color:#666">{html.escape(en)}</span>' if lang == "both" else "")
        + "</div></div>" for zh, en, value in items)
    return f'<div style="display:flex;flex-wrap:wrap">{boxes}</div>'


def grid_html(plan: W.WeekPlan) -> str:
    """The calendar: one row per rep, one column per day, each cell coloured by its state with the reason
    a day is short (or who rides along) as a tooltip; every user text escaped."""
    cells = grid_cells(plan)
    head = "".join(f"<th>{html.escape(day_label(d))}</th>" for d in plan.dates)
    rows = []
    for rep, g in cells.groupby("rep", sort=False):
        tds = "".join(
            f'<td style="background:{CELL_COLOURS.get(c.state, "#fff")};padding:3px 6px;white-space:nowrap" '
            f'title="{html.escape(c.tip, quote=True)}">{html.escape(c.text)}</td>' for c in g.itertuples())
        rows.append(f'<tr class="week-rep"><th style="text-align:left">{html.escape(str(rep))}</th>{tds}</tr>')
    legend = " ".join(f'<span style="background:{CELL_COLOURS[k]};padding:1px 6px">{html.escape(tr(*t))}</span>'
                      for k, t in (("standard", ("达标", "at the standard")),
                                   ("short", ("不足（悬停看原因）", "short (hover: why)")),
                                   ("riding", ("陪访", "riding along"))))
    key = tr("拜访数 · 陌拜 / 跟进 / 签约 · 3-5-8（守约 - 新客户 - 拜访）",
             "visits · new / follow-up / closing · 3-5-8 (appointments kept - new - visits)")
    return (f'<div style="max-width:100%;overflow-x:auto"><table class="planner-table week-grid" border="0">'
            f'<thead><tr><th>{html.escape(tr("销售", "rep"))}</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div><p style="font-size:12px">{html.escape(key)}'
            f"<br>{legend}</p>")


def _monday(accounts: pd.DataFrame) -> dt.date:
    """The Monday of the week holding most booked appointments (else of next week)."""
    days = pd.to_datetime(accounts[S.APPT_START]).dropna().dt.normalize() if S.APPT_START in accounts.columns \
        else pd.Series(dtype="datetime64[ns]")
    d = days.mode().iloc[0] if len(days) else pd.Timestamp.today().normalize() + pd.Timedelta(days=7)
    return (d - pd.Timedelta(days=int(d.day_of_week))).date()


@dataclass
class WeekApp:
    """Widgets around :func:`planner.solvers.week.solve` (see the module docstring)."""

    tables: Tables
    out_dir: Path
    base: W.WeekOptions = field(default_factory=W.WeekOptions)
    plan: W.WeekPlan | None = None
    seconds: float = 0.0
    quiet: bool = False  # True while the day and rep pickers are being reset (no redraw per change)
    w: dict = field(default_factory=dict)
    job: Job | None = None

    def __post_init__(self) -> None:
        self.accounts = self.tables["accounts"]
        self.reps = self.tables["reps"]
        self.offices = self.tables["offices"]
        self.w = self._widgets()
        self.w["solve"].on_click(self.request_solve)
        self.w["export"].on_click(self.export)
        self.w["offer"].on_click(self.offer)
        self.w["day"].observe(self._on_pick, names="value")
        self.w["rep"].observe(self._on_pick, names="value")
        self.widget = self._layout()

    def _widgets(self) -> dict[str, Any]:
        import ipywidgets as w

        wide = w.Layout(width="100%")
        folder, export_btn, written, export_box = export_row(self.out_dir,
                                                             label=("导出 Excel + 日历", "Export Excel + ICS"))
        c = {
            "start": w.DatePicker(value=_monday(self.accounts), description=tr("起始日", "Week of"), style=STYLE),
            "days": w.IntSlider(value=5, min=1, max=10, description=tr("工作日", "Working days"),
                                continuous_update=False, style=STYLE),
            "reps": w.SelectMultiple(options=list(self.reps[S.ID]), value=(), rows=5,
                                     description=tr("销售（不选：全部）", "Reps (none: all)"), style=STYLE),
            **{k: widget(W.WeekOptions, k, options=self.base) for k in CONTROLLED},
            **{k: w.IntSlider(value=int(self.base.mix[k]), min=0, max=8, description=tr(*label), style=STYLE,
                              continuous_update=False) for k, label in MIX_LABELS.items()},
            "solve": button(tr("排周计划", "Solve the week"), style="primary", icon="play"),
            "status": w.HTML(html.escape(tr("设置好本周后按“排周计划”。", "Set the week and press "))
                             + ("<b>Solve the week</b>." if language() != "zh" else ""), layout=wide),
            "kpis": w.HTML(layout=wide), "grid": w.HTML(layout=wide),
            "day": w.Dropdown(options=[], description=tr("日期", "Day"), style=STYLE),
            "rep": w.Dropdown(options=[ALL_REPS], value=ALL_REPS, description=tr("销售", "Rep"), style=STYLE),
            "map": w.HTML(layout=wide), "table": w.HTML(layout=wide), "lists": w.HTML(layout=wide),
            "offer_id": w.Text(value="", placeholder=tr("客户编号", "account id"), description=tr("约见", "Offer"),
                               style=STYLE),
            "offer_min": w.IntSlider(value=60, min=15, max=180, step=15, description=tr("时长（分钟）", "Minutes"),
                                     continuous_update=False, style=STYLE),
            "offer": button(tr("推荐时段", "Best slots"), icon="calendar"),
            "slots": w.HTML(layout=wide),
            "out": folder, "export": export_btn, "written": written, "export_box": export_box,
        }
        self.job = job(busy=[c["kpis"], c["grid"], c["map"], c["table"], c["lists"]],
                       buttons=[c["solve"], c["export"], c["offer"]])
        c["progress"] = self.job.bar
        return c

    def _layout(self) -> Any:
        import ipywidgets as w

        c = self.w
        wrap = w.Layout(flex_flow="row wrap")
        opts = [c[k] for k in CONTROLLED]
        return w.VBox([
            w.HBox([c["start"], c["days"], c["reps"]], layout=wrap),
            *[w.HBox(opts[i:i + 3], layout=wrap) for i in range(0, len(opts), 3)],
            w.HBox([c[k] for k in MIX_LABELS], layout=wrap),
            w.HBox([c["solve"]]), self.job.widget if self.job else w.HTML(),
            c["status"], c["kpis"], c["grid"],
            w.HBox([c["day"], c["rep"]], layout=wrap),
            c["map"], c["table"], c["lists"],
            w.HBox([c["offer_id"], c["offer_min"], c["offer"]], layout=wrap), c["slots"],
            c["export_box"], c["written"]], layout=w.Layout(width="100%"))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @property
    def _p(self) -> W.WeekPlan:
        if self.plan is None:
            raise ValueError("solve the week first")
        return self.plan

    def _error(self, e: Exception) -> None:
        self.w["progress"].value = 0
        self.w["status"].value = error_html(e)

    # --- solve -------------------------------------------------------------------------------------
    def options(self) -> W.WeekOptions:
        """The settings the controls show."""
        return options_from(self.base, {k: self.w[k] for k in CONTROLLED},
                            mix={k: int(self.w[k].value) for k in KINDS})

    def problem(self) -> W.WeekProblem:
        """The week the controls describe (the first day, the working days, the reps; none picked: all)."""
        if self.w["start"].value is None:
            raise ValueError("week of: pick the first day")
        reps = tuple(self.w["reps"].value) or None
        return W.WeekProblem(self.accounts, self.reps, self.offices, pd.Timestamp(self.w["start"].value),
                             days=int(self.w["days"].value), rep_ids=reps, travel=travel_of(self).backend)

    def _request(self) -> tuple[Any, Any, dict[str, Any]]:
        problem, opts = self.problem(), self.options()

        def work(progress: Any) -> W.WeekPlan:
            return W.solve(problem, opts, progress)

        return work, self._solved, {"what": tr("排周计划", "solving the week"), "limit_s": opts.time_limit_s,
                                    "on_error": self._error}

    def solve(self, *_: Any) -> None:
        """Solve the week of the controls, here and now."""
        assert self.job is not None
        self.job.start(self._request, self._error, background=False)

    def request_solve(self, *_: Any) -> None:
        """Solve from the button: in the background in a notebook."""
        assert self.job is not None
        self.job.start(self._request, self._error, background=True)

    def _solved(self, plan: W.WeekPlan) -> None:
        assert self.job is not None
        self.plan, self.seconds = plan, self.job.elapsed()
        lang = language()
        head = (f"已求解，用时 {self.seconds:.1f} 秒（{len(plan.dates)} 天）" if lang == "zh" else
                f"Solved in {self.seconds:.1f} s ({len(plan.dates)} days)" + (" 已求解" if lang == "both" else ""))
        self.w["status"].value = f"{head}: {report_html(plan.report)}"
        self.show()

    # --- views -------------------------------------------------------------------------------------
    def show(self) -> None:
        """The numbers, the calendar, the lists and the picked day."""
        p = self._p
        self.w["kpis"].value = kpi_html(p.kpis)
        self.w["grid"].value = grid_html(p)
        self.w["lists"].value = self.lists_html()
        days = [(day_label(d), d.date().isoformat()) for d in p.dates]
        st = p.stops[p.stops["kind"] != "base"]
        people = [r for r in dict.fromkeys(p.rep_days["rep"]) if r in set(st["rep"]) | set(st["ride_along"])]
        old_day, old_rep = self.w["day"].value, self.w["rep"].value
        self.quiet = True
        try:
            self.w["day"].options = days
            self.w["day"].value = old_day if old_day in {v for _, v in days} else days[0][1]
            self.w["rep"].options = [ALL_REPS, *people]
            self.w["rep"].value = old_rep if old_rep in people else ALL_REPS
        finally:
            self.quiet = False
        self.draw_day()

    def _on_pick(self, *_: Any) -> None:
        if not self.quiet:
            self.draw_day()

    def _picked(self) -> tuple[pd.Timestamp, str | None]:
        rep = self.w["rep"].value
        return pd.Timestamp(self.w["day"].value), None if rep in (None, ALL_REPS) else str(rep)

    def day_map(self, date: pd.Timestamp, rep: str | None = None) -> Any:
        """The folium map of one day: routes and numbered stops (of ``rep`` and of the rep he rides with,
        or everybody's), candidates left out grey, a lone supervisor's ride-along dashed."""
        dp = self._p.day(date)
        st = dp.stops
        reps = None
        if rep is not None:
            reps = sorted(set(st.loc[(st["rep"] == rep) | (st["ride_along"] == rep), "rep"])) or [rep]
        joined = st[(st["ride_along"] != "") & (st["kind"] != "base")]
        if reps is not None:
            joined = joined[joined["rep"].isin(reps)]
        ride, ride_base = None, None
        sups = set(joined["ride_along"])
        if len(sups) == 1 and next(iter(sups)) in self._p.bases:
            sup = next(iter(sups))
            ride = joined[["rep", S.ID, "start", "departure"]].assign(supervisor=sup)
            b = self.offices.drop_duplicates(S.ID).set_index(S.ID).loc[self._p.bases[sup]]
            ride_base = (float(b[S.LON]), float(b[S.LAT]))
        return maps.day_map(dp, self.accounts, reps, ride=ride, ride_base=ride_base)

    def draw_day(self) -> None:
        """The picked day's map and itinerary."""
        if self.plan is None or self.w["day"].value is None:
            return
        d, rep = self._picked()
        self.w["map"].value = as_widget(self.day_map(d, rep)).value
        it = day_itinerary(self._p, d, rep).drop(columns=["amap", "baidu", S.LON, S.LAT, "date"])
        if "name" in it.columns and S.ID in it.columns:  # names before codes
            cols = [c for c in it.columns if c != "name"]
            cols.insert(cols.index(S.ID), "name")
            it = it[cols]
        self.w["table"].value = (f"<b>{html.escape(day_label(d))}</b> · {html.escape(rep or ALL_REPS)}: "
                                 f"{int((it['visit'] != KIND_LABELS['base']).sum())} visits" + _table(it))

    def lists_html(self) -> str:
        """The visits owed (not planned first, with the reason) and the accounts left out, collapsed."""
        p = self._p
        due = p.due.copy()
        for c in ("due_date", "planned_on"):
            due[c] = pd.to_datetime(due[c]).dt.strftime("%Y-%m-%d").fillna("")
        due = due.sort_values("planned_on", key=lambda s: s != "", kind="stable")
        n_due, n_missed = len(due), int((due["planned_on"] == "").sum())
        lo = p.left_out
        why = lo["reason_code"].value_counts().rename_axis("reason_code").reset_index(name="accounts")
        names = self.accounts.drop_duplicates(S.ID).set_index(S.ID)[S.NAME]
        if S.ID in lo.columns and "name" not in lo.columns:
            lo = lo.assign(name=lo[S.ID].map(names))
            lo = lo[["name", *[c for c in lo.columns if c != "name"]]]
        owed = tr(f"应访：{n_due:,} 次，已安排 {n_due - n_missed:,}，未安排 {n_missed:,}（附原因）",
                  f"Visits owed: {n_due:,}, {n_due - n_missed:,} planned, {n_missed:,} not (with the reason)")
        left = tr(f"未安排：{len(lo):,} 个客户本周没有拜访（附原因）",
                  f"Left out: {len(lo):,} accounts with no visit this week, with the reason")
        return (_details(owed, _table(due)) + _details(left, _table(why) + _table(lo))
                + _details(tr(f"陪访：{len(p.rides):,} 天", f"Ride-alongs: {len(p.rides):,} days"),
                           _table(p.rides.assign(date=pd.to_datetime(p.rides["date"]).dt.strftime("%Y-%m-%d")))))

    # --- which slot to offer ------------------------------------------------------------------------
    def offer(self, *_: Any) -> None:
        """The three best (day, time) slots for an appointment with the account in the box."""
        if self.plan is None:
            self.w["slots"].value = "<b>" + html.escape(tr("请先排周计划", "solve the week first")) + "</b>"
            return
        try:
            slots = W.offer_slots(self._p, self.problem(), self.w["offer_id"].value.strip(),
                                  duration_min=int(self.w["offer_min"].value))
        except ValueError as e:
            self.w["slots"].value = error_html(e)
            return
        shown = slots.assign(date=slots["date"].dt.strftime("%Y-%m-%d"), start=slots["start"].dt.strftime("%H:%M"),
                             end=slots["end"].dt.strftime("%H:%M"))
        best = tr("最佳时段（少损失拜访，其次少增加路程）：",
                  "Best slots (fewest visits lost, then least added driving):")
        self.w["slots"].value = (html.escape(best) + _table(shown) if len(shown) else
                                 "<b>" + html.escape(tr("本周没有合适的时段", "no slot fits this week")) + "</b>")

    # --- export ------------------------------------------------------------------------------------
    def export(self, *_: Any) -> None:
        """Excel, the ICS calendars, the CSV tables and ``summary.json`` into the folder box's folder."""
        if self.plan is None:
            self.w["written"].value = "<b>" + html.escape(tr("请先排周计划", "solve the week first")) + "</b>"
            return
        out = resolve_out(self.w["out"].value.strip() or self.out_dir, "week")
        try:
            with staged_output(out) as tmp:
                paths = write_all(self._p, tmp, inputs=self.tables.summary())
        except (ValueError, OSError) as e:
            self.w["written"].value = error_html(e)
            return
        paths = moved(paths, tmp, out)
        self.w["written"].value = written_html(paths)


def week_app(data: Data = None, out_dir: str | Path | None = None, *, options: W.WeekOptions | None = None,
             plan_now: bool = False) -> WeekApp:
    """The app on the demo (or a data folder with accounts, reps, offices); the controls start at ``options``.

    The week is solved when **Solve the week** is pressed (``plan_now``: at once), so the notebook shows
    the controls and the progress of a search that takes up to ``time_limit_s``."""
    import ipywidgets as w

    tables = load(data, NEEDS)
    app = WeekApp(tables, resolve_out(out_dir, "week"), base=options or W.WeekOptions())
    rej = rejected_html(tables)
    if rej:
        app.widget.children = (*app.widget.children, w.HTML(rej))
    if plan_now:
        app.solve()
    return app
