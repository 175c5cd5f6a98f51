"""The day-planning app: pick reps and a date, edit appointments, set the mix and times, plan, export.

No planning logic here: :func:`planner.days.solve` plans, :mod:`planner.days_export`
draws the map and writes the files.  A notebook cell calls ``days_app()``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from planner import days as D
from planner import schema as S


def _table(df: pd.DataFrame, n: int = 60) -> str:
    return df.head(n).to_html(index=False, border=0, classes="planner-table", escape=True,
                              render_links=False)


@dataclass
class DaysApp:
    """Widgets around :func:`planner.days.solve` (see the module docstring)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    out_dir: Path
    plan: D.DayPlan | None = None
    w: dict = field(default_factory=dict)

    def __post_init__(self):
        import ipywidgets as w

        ids = [r for r in self.reps[S.ID] if (self.accounts[S.OWNER] == r).any()]
        appt_days = pd.to_datetime(self.accounts[S.APPT_START]).dropna().dt.normalize()
        day = appt_days.mode().iloc[0] if len(appt_days) else pd.Timestamp.today().normalize()
        self.w = {
            "date": w.DatePicker(value=day.date(), description="Date"),
            "reps": w.SelectMultiple(options=ids, value=tuple(ids[:3]), rows=6, description="Reps"),
            "team": w.Checkbox(value=False, description="whole team"),
            "start": w.Text(value="08:00", description="Leave", layout=w.Layout(width="160px")),
            "end": w.Text(value="18:00", description="Back by", layout=w.Layout(width="160px")),
            "lunch": w.IntSlider(value=0, min=0, max=90, step=15, description="Lunch min"),
            "new": w.IntSlider(value=4, min=0, max=8, description="New"),
            "follow-up": w.IntSlider(value=2, min=0, max=8, description="Follow-ups"),
            "closing": w.IntSlider(value=2, min=0, max=8, description="Closings"),
            "radius": w.FloatSlider(value=20, min=2, max=80, step=2, description="Pool km"),
            "time": w.FloatSlider(value=5, min=1, max=30, step=1, description="Seconds"),
            "appt_acc": w.Text(value="", placeholder="account id", description="Appt for"),
            "appt_time": w.Text(value="14:00", description="at", layout=w.Layout(width="150px")),
            "appt_len": w.IntText(value=60, description="min", layout=w.Layout(width="150px")),
            "add": w.Button(description="Add appointment"),
            "remove": w.Button(description="Remove appointment"),
            "plan": w.Button(description="Plan the day", button_style="primary"),
            "export": w.Button(description="Export Excel + ICS"),
            "progress": w.FloatProgress(value=0, min=0, max=1, description=""),
            "status": w.HTML(),
            "map": w.HTML(),
            "table": w.HTML(),
            "show": w.Dropdown(options=[], description="Itinerary"),
        }
        self.w["plan"].on_click(self.refresh)
        self.w["export"].on_click(self.export)
        self.w["add"].on_click(self.add_appointment)
        self.w["remove"].on_click(self.remove_appointment)
        self.w["show"].observe(self.show_table, names="value")
        self.box = w.VBox([
            w.HBox([self.w["date"], self.w["team"], self.w["reps"]]),
            w.HBox([self.w["start"], self.w["end"], self.w["lunch"]]),
            w.HBox([self.w["new"], self.w["follow-up"], self.w["closing"]]),
            w.HBox([self.w["radius"], self.w["time"]]),
            w.HBox([self.w["appt_acc"], self.w["appt_time"], self.w["appt_len"], self.w["add"], self.w["remove"]]),
            w.HBox([self.w["plan"], self.w["progress"], self.w["export"]]),
            self.w["status"], self.w["map"], self.w["show"], self.w["table"]])

    def _ipython_display_(self):
        from IPython.display import display

        display(self.box)

    # --- appointments ----------------------------------------------------------------------
    def _set_appt(self, start, end) -> None:
        aid = self.w["appt_acc"].value.strip()
        hit = self.accounts[S.ID] == aid
        if not hit.any():
            self.w["status"].value = f"<b>No account {html.escape(aid)}</b>"
            return
        acc = self.accounts.copy()
        acc.loc[hit, S.APPT_START] = start
        acc.loc[hit, S.APPT_END] = end
        self.accounts = acc
        self.w["status"].value = f"{html.escape(aid)}: appointment {'set' if start is not pd.NaT else 'removed'}"

    def add_appointment(self, *_):
        day = pd.Timestamp(self.w["date"].value)
        try:
            start = pd.Timestamp(f"{day.date()} {self.w['appt_time'].value}")
        except ValueError:
            self.w["status"].value = "<b>time must be HH:MM</b>"
            return
        self._set_appt(start, start + pd.Timedelta(minutes=int(self.w["appt_len"].value)))

    def remove_appointment(self, *_):
        self._set_appt(pd.NaT, pd.NaT)

    # --- plan ------------------------------------------------------------------------------
    def options(self) -> D.DayOptions:
        def mins(t: str) -> int:
            h, m = t.strip().split(":")
            return int(h) * 60 + int(m)

        return D.DayOptions(day_start_min=mins(self.w["start"].value), day_end_min=mins(self.w["end"].value),
                            lunch_min=int(self.w["lunch"].value),
                            mix={k: int(self.w[k].value) for k in D.KINDS},
                            visits_per_day=max(1, sum(int(self.w[k].value) for k in D.KINDS)),
                            pool_radius_m=float(self.w["radius"].value) * 1000, time_limit_s=float(self.w["time"].value))

    def refresh(self, *_):
        from planner import days_export, maps

        reps = None if self.w["team"].value else tuple(self.w["reps"].value)
        try:
            problem = D.DayProblem(self.accounts, self.reps, self.offices, pd.Timestamp(self.w["date"].value),
                                   rep_ids=reps)
            opts = self.options()
        except ValueError as e:
            self.w["status"].value = f"<b>{html.escape(str(e))}</b>"
            return

        def progress(frac, msg):
            if frac is not None:
                self.w["progress"].value = frac
            self.w["status"].value = html.escape(msg)

        self.plan = D.solve(problem, opts, progress)
        rep = self.plan.report
        self.w["status"].value = (f"{html.escape(rep.describe())}<br>" + _table(self.plan.kpis.assign(
            leave=lambda d: pd.to_datetime(d["leave"]).dt.strftime("%H:%M"),
            **{"return": lambda d: pd.to_datetime(d["return"]).dt.strftime("%H:%M")})))
        self.w["map"].value = maps.as_widget(days_export.day_map(self.plan, self.accounts)).value
        self.w["show"].options = list(self.plan.kpis["rep"]) + ["left out"]
        self.show_table()

    def show_table(self, *_):
        if self.plan is None:
            return
        from planner import days_export

        sel = self.w["show"].value
        if sel == "left out":
            lo = self.plan.left_out
            self.w["table"].value = _table(lo[lo["candidate_for"] != ""], 200)
        elif sel:
            it = days_export.itinerary(self.plan, sel)
            self.w["table"].value = _table(it.drop(columns=["amap", "baidu", S.LON, S.LAT]))

    def export(self, *_):
        if self.plan is None:
            self.w["status"].value = "<b>plan first</b>"
            return
        from planner import days_export

        paths = days_export.write_all(self.plan, self.out_dir, self.accounts)
        self.w["status"].value = "Written:<br>" + "<br>".join(html.escape(str(p)) for p in paths)


def days_app(data_dir=None, out_dir: str | Path = "out/days", *, plan_now: bool = True) -> DaysApp:
    """The app on the demo (or on ``data_dir`` with accounts, reps, offices files)."""
    if data_dir is None:
        from planner import demo

        sc = demo.load_demo()
        acc, reps, off = sc.accounts, sc.reps, sc.offices
    else:
        from planner import io

        loaded = io.load_folder(data_dir, ("accounts", "reps", "offices"))
        acc, reps, off = (loaded[n].table for n in ("accounts", "reps", "offices"))
    app = DaysApp(acc, reps, off, Path(out_dir))
    if plan_now:
        app.w["time"].value = 3
        app.refresh()
    return app
