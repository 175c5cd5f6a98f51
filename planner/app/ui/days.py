"""The day-planning app: pick reps and a date, edit appointments, set the mix and times, plan, export.

No planning logic here: :func:`planner.solvers.days.solve` plans, :func:`planner.solvers.days.ride_along`
plans a supervisor's ride-along day (陪访), :func:`planner.solvers.days.replan` re-plans the
rest of one rep's day, :mod:`planner.app.maps.days` draws the map and
:mod:`planner.app.export.days` writes the files.
A notebook cell calls ``days_app()``.

Controls for one rep act on the rep shown in the "Itinerary" dropdown:

- Ride-along: a supervisor (levels M1/M1.5/M2; default the shown rep's
  manager) joins visits of the chosen reps (none chosen: his own reports in
  the plan, else everybody), newest reps first.  The map draws his route as a
  dashed black line and rings the joined stops; the itinerary says who rides along.
- Re-plan: at "now", with the shown rep's finished stops (default: those
  finished by "now") and optionally a new appointment, the rest of the day is
  planned again; finished stops stay as they were (grey with a tick on the map,
  "done" in the itinerary).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import schema as S
from planner.app import maps
from planner.app.export.common import moved, staged_output
from planner.app.export.days import itinerary, write_all
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
from planner.app.ui.tables import report_text, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import days as D

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = ("day_start_min", "day_end_min", "lunch_min", "visits_per_day", "pool_radius_m", "time_limit_s")
MIX_LABELS = {"new": ("陌拜", "New"), "follow-up": ("跟进", "Follow-ups"), "closing": ("签约", "Closings")}
SUPERVISOR_LEVELS = S.SUPERVISOR_LEVELS
_LEFT_OUT = "left out"
_RIDE = "ride-along: "
KPI_COLUMNS = ("rep", "visits", "new", "follow-up", "closing", "appointments_booked", "appointments_kept",
               "standard_3_5_8", "mix_met", "travel_min", "travel_share", "leave", "return")
ITINERARY_COLUMNS = ("status", "seq", "arrive", "start", "leave", "visit", "name", "id", "travel_min", "appointment",
                     "ride_along")


def _table(df: pd.DataFrame, n: int = 60, columns: list[str] | None = None) -> str:
    return table_html(df, columns, rows=n)


def _greyed(df: pd.DataFrame, done: pd.Series) -> str:
    """The table with the rows flagged in ``done`` greyed out."""
    styles = ["color:#999;background:#f2f2f2" if f else "" for f in done.to_numpy()]
    cols = [c for c in ITINERARY_COLUMNS if c in df.columns] + [c for c in df.columns if c not in ITINERARY_COLUMNS]
    return table_html(df, cols, row_styles=styles)


def _clock(day: pd.Timestamp, t: dt.time | None, what: str) -> pd.Timestamp:
    if t is None:
        raise ValueError(f"{what}: pick a time of day")
    return pd.Timestamp.combine(day.date(), t)


@dataclass
class DaysApp:
    """Widgets around :func:`planner.solvers.days.solve` (see the module docstring)."""

    tables: Tables
    out_dir: Path
    base: D.DayOptions = field(default_factory=D.DayOptions)
    plan: D.DayPlan | None = None
    problem: D.DayProblem | None = None
    ride: pd.DataFrame | None = None
    done: dict = field(default_factory=dict)
    w: dict = field(default_factory=dict)
    job: Job | None = None

    def __post_init__(self) -> None:
        self.accounts = self.tables["accounts"]
        self.reps = self.tables["reps"]
        self.offices = self.tables["offices"]
        self.w = self._widgets()
        self.w["plan"].on_click(self.request_plan)
        self.w["export"].on_click(self.export)
        self.w["add"].on_click(self.add_appointment)
        self.w["remove"].on_click(self.remove_appointment)
        self.w["ride"].on_click(self.plan_ride_along)
        self.w["replan"].on_click(self.request_replan)
        self.w["show"].observe(self._on_show, names="value")
        self.w["now"].observe(self._default_done, names="value")
        self.w["map_one"].observe(lambda *_: self.draw_map(), names="value")
        self.widget = self._layout()

    def _widgets(self) -> dict[str, Any]:
        import ipywidgets as w

        ids = [r for r in self.reps[S.ID] if (self.accounts[S.OWNER] == r).any()]
        appt_days = pd.to_datetime(self.accounts[S.APPT_START]).dropna().dt.normalize()
        day = appt_days.mode().iloc[0] if len(appt_days) else pd.Timestamp.today().normalize()
        lv = self.reps[S.LEVEL] if S.LEVEL in self.reps.columns else pd.Series("", index=self.reps.index)
        sups = [(f"{r} ({lev})", r) for r, lev in zip(self.reps[S.ID], lv) if lev in SUPERVISOR_LEVELS]
        narrow = w.Layout(width="auto")
        full = w.Layout(width="100%")
        folder, export_btn, written, export_box = export_row(self.out_dir,
                                                             label=("导出 Excel + 日历", "Export Excel + ICS"))
        c = {
            "date": w.DatePicker(value=day.date(), description=tr("日期", "Date"), style=STYLE),
            "reps": w.SelectMultiple(options=ids, value=tuple(ids[:3]), rows=6, description=tr("销售", "Reps"),
                                     style=STYLE),
            "team": w.Checkbox(value=False, description=tr("全组", "whole team"), indent=False),
            **{k: widget(D.DayOptions, k, options=self.base) for k in CONTROLLED},
            **{k: w.IntSlider(value=int(self.base.mix[k]), min=0, max=8, description=tr(*label), style=STYLE,
                              continuous_update=False) for k, label in MIX_LABELS.items()},
            "appt_acc": w.Text(value="", placeholder=tr("客户编号", "account id"),
                               description=tr("预约客户", "Appt for"), style=STYLE, layout=w.Layout(width="260px")),
            "appt_time": w.Text(value="14:00", description=tr("时间", "at"), style=STYLE, layout=narrow),
            "appt_len": w.IntText(value=60, description=tr("时长（分钟）", "min"), style=STYLE, layout=narrow),
            "add": button(tr("添加预约", "Add appointment"), icon="plus"),
            "remove": button(tr("删除预约", "Remove appointment"), icon="minus"),
            "plan": button(tr("排今天的拜访", "Plan the day"), style="primary", icon="play"),
            "export": export_btn, "out": folder, "written": written, "export_box": export_box,
            "status": w.HTML(layout=full),
            "map": w.HTML(layout=full),
            "map_one": w.Checkbox(value=False, description=tr("地图只显示当前销售", "map: shown rep only"),
                                  indent=False),
            "table": w.HTML(layout=full),
            "show": w.Dropdown(options=[], description=tr("行程", "Itinerary"), style=STYLE),
            # ride-along (陪访)
            "sup": w.Dropdown(options=sups, value=sups[0][1] if sups else None, description=tr("主管", "Supervisor"),
                              style=STYLE),
            "join": w.SelectMultiple(options=[], rows=4, description=tr("陪访谁", "Join reps"), style=STYLE),
            "ride": button(tr("安排陪访", "Plan ride-along (陪访)"), icon="user-plus"),
            # re-plan during the day
            "now": w.TimePicker(value=dt.time(12, 0), description=tr("现在", "Now"), style=STYLE, layout=narrow),
            "done": w.SelectMultiple(options=[], rows=6, description=tr("已完成", "Done"), style=STYLE,
                                     layout=w.Layout(width="400px", max_width="100%")),
            "re_acc": w.Combobox(options=list(self.accounts[S.ID]), value="",
                                 placeholder=tr("客户编号（可选）", "account id (optional)"),
                                 description=tr("新预约", "New appt"), ensure_option=False, style=STYLE),
            "re_start": w.TimePicker(value=dt.time(15, 0), description=tr("从", "from"), style=STYLE, layout=narrow),
            "re_end": w.TimePicker(value=dt.time(16, 0), description=tr("到", "to"), style=STYLE, layout=narrow),
            "replan": button(tr("重排今天余下的拜访", "Re-plan the rest of the day"), style="warning", icon="refresh"),
        }
        self.job = job(busy=[c["map"], c["table"]], buttons=[c["plan"], c["replan"], c["ride"], c["export"]])
        c["progress"] = self.job.bar
        return c

    def _layout(self) -> Any:
        import ipywidgets as w

        c = self.w
        wrap = w.Layout(flex_flow="row wrap")
        ride = tr("陪访：主管陪同所选销售拜访（未选：他的直属下属），新人优先。",
                  "Ride-along (陪访): the supervisor joins visits of the chosen reps (none chosen: his own "
                  "reports), newest reps first.")
        replan = tr("重排当前销售的一天：已完成的拜访不变，从“现在”起重排其余拜访。",
                    "Re-plan the shown rep's day: finished visits stay as they are; the rest is planned again "
                    "from \"now\".")
        return w.VBox([
            w.HBox([c["date"], c["team"], c["reps"]], layout=wrap),
            w.HBox([c["day_start_min"], c["day_end_min"], c["lunch_min"]], layout=wrap),
            w.HBox([c["visits_per_day"], c["new"], c["follow-up"], c["closing"]], layout=wrap),
            w.HBox([c["pool_radius_m"], c["time_limit_s"]], layout=wrap),
            w.HBox([c["appt_acc"], c["appt_time"], c["appt_len"], c["add"], c["remove"]], layout=wrap),
            w.HBox([c["plan"]]), self.job.widget if self.job else w.HTML(),
            c["status"],
            w.HBox([c["show"], c["map_one"]], layout=wrap),
            w.HTML(f"<b>{html.escape(ride)}</b>"),
            w.HBox([c["sup"], c["join"], c["ride"]], layout=wrap),
            w.HTML(f"<b>{html.escape(replan)}</b>"),
            w.HBox([c["now"], c["done"],
                    w.VBox([c["re_acc"], w.HBox([c["re_start"], c["re_end"]]), c["replan"]])], layout=wrap),
            c["map"], c["table"], c["export_box"], c["written"]], layout=w.Layout(width="100%"))

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    @property
    def _p(self) -> D.DayPlan:
        """The plan (raises when the day has not been planned yet)."""
        if self.plan is None:
            raise ValueError("plan the day first")
        return self.plan

    @property
    def _prob(self) -> D.DayProblem:
        if self.problem is None:
            raise ValueError("plan the day first")
        return self.problem

    @property
    def _ride(self) -> pd.DataFrame:
        if self.ride is None:
            raise ValueError("plan the ride-along first")
        return self.ride

    def _error(self, e: Exception) -> None:
        self.w["progress"].value = 0
        self.w["status"].value = f"<b>{html.escape(str(e))}</b>"

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
        """The settings the controls show."""
        return options_from(self.base, {k: self.w[k] for k in CONTROLLED},
                            mix={k: int(self.w[k].value) for k in D.KINDS})

    def _plan_request(self) -> tuple[Any, Any, dict[str, Any]]:
        """The day of the controls: (work, done, keywords for the job); bad settings raise ``ValueError``."""
        reps = None if self.w["team"].value else tuple(self.w["reps"].value)
        problem = D.DayProblem(self.accounts, self.reps, self.offices, pd.Timestamp(self.w["date"].value),
                               rep_ids=reps, travel=travel_of(self).backend)
        opts = self.options()

        def work(progress: Any) -> D.DayPlan:
            return D.solve(problem, opts, progress)

        return work, lambda plan: self._planned(problem, plan), {
            "what": tr("排拜访", "planning the day"), "limit_s": opts.time_limit_s, "on_error": self._error}

    def refresh(self, *_):
        """Plan the day of the controls, here and now."""
        assert self.job is not None
        self.job.start(self._plan_request, self._error, background=False)

    def request_plan(self, *_: Any) -> None:
        """Plan from the button: in the background in a notebook."""
        assert self.job is not None
        self.job.start(self._plan_request, self._error, background=True)

    def _planned(self, problem: D.DayProblem, plan: D.DayPlan) -> None:
        self.plan = plan
        self.problem, self.ride, self.done = problem, None, {}
        self._status(report_text(self._p.report))
        planned = list(self._p.kpis["rep"])
        self.w["join"].options = planned
        self.w["join"].value = ()
        old = self.w["show"].value
        self.w["show"].options = planned + [_LEFT_OUT]  # resets the value
        self.w["show"].value = old if old in planned else (planned or [_LEFT_OUT])[0]
        if self.w["show"].value == old:  # the observer does not fire when the value stays
            self._on_show()
        self.draw_map()
        self.show_table()

    def _status(self, head: str) -> None:
        k = self._p.kpis.assign(leave=lambda d: pd.to_datetime(d["leave"]).dt.strftime("%H:%M"),
                                **{"return": lambda d: pd.to_datetime(d["return"]).dt.strftime("%H:%M")})
        self.w["status"].value = f"{html.escape(head)}<br>" + _table(k, columns=[c for c in KPI_COLUMNS
                                                                                 if c in k.columns])

    def _rep(self) -> str:
        sel = self.w["show"].value
        if self.plan is None or sel not in set(self._p.kpis["rep"]):
            raise ValueError("pick a planned rep in 'Itinerary' first")
        return sel

    def _on_show(self, *_):
        sel = self.w["show"].value
        if self.plan is None or sel not in set(self._p.kpis["rep"]):
            self.show_table()
            return
        rr = self.reps.set_index(S.ID)
        mgr = rr.loc[sel, S.MANAGER] if S.MANAGER in rr.columns else None
        if mgr in {v for _, v in self.w["sup"].options}:
            self.w["sup"].value = mgr
        self._done_options()
        self.show_table()
        if self.w["map_one"].value:
            self.draw_map()

    def _my_stops(self, rep: str) -> pd.DataFrame:
        s = self._p.stops
        return s[(s["rep"] == rep) & (s["kind"] != "base")].sort_values("seq")

    def _done_options(self) -> None:
        sel = self.w["show"].value
        if self.plan is None or sel not in set(self._p.kpis["rep"]):
            self.w["done"].options = []
            return
        mine = self._my_stops(sel)
        self.w["done"].options = [(f"#{r['seq']} {r['start']:%H:%M}-{r['departure']:%H:%M} {r[S.ID]} {r['kind']}",
                                   r[S.ID]) for _, r in mine.iterrows()]
        self._default_done()

    def _default_done(self, *_):
        """Default: the shown rep's stops finished by "now" (and those already marked done)."""
        sel = self.w["show"].value
        if self.plan is None or sel not in set(self._p.kpis["rep"]) or self.w["now"].value is None:
            return
        now = pd.Timestamp.combine(self._p.date.date(), self.w["now"].value)
        mine = self._my_stops(sel)
        keep = set(self.done.get(sel, ())) | set(mine.loc[mine["departure"] <= now, S.ID])
        self.w["done"].value = tuple(a for a in mine[S.ID] if a in keep)

    # --- ride-along --------------------------------------------------------------------------
    def _base_of(self, rep: str) -> tuple[float, float]:
        b = self.offices.set_index(S.ID).loc[self.reps.set_index(S.ID).loc[rep, S.BASE_OFFICE]]
        return float(b[S.LON]), float(b[S.LAT])

    def plan_ride_along(self, *_):
        try:
            if self.plan is None:
                raise ValueError("plan the day first")
            sup = self.w["sup"].value
            if not sup:
                raise ValueError("supervisor: pick one (reps of level M1/M2)")
            self.w["progress"].value = 0
            self.w["status"].value = f"planning the ride-along of {html.escape(sup)} ..."
            join = list(self.w["join"].value) or None
            # finished visits (re-planning) are not offered to the supervisor
            open_ = self._p.stops[~self._done_mask(self._p.stops)]
            open_plan = dataclasses.replace(self._p, stops=open_)
            _joined, self.ride = D.ride_along(open_plan, self._prob, sup, reps=join)
        except (ValueError, KeyError) as e:
            self._error(e)
            return
        self._mark_ride()
        self.w["progress"].value = 1
        per = self.ride["rep"].value_counts()
        self._status(f"ride-along: {sup} joins {len(self.ride)} visit(s)"
                     + (f" ({', '.join(f'{r}: {n}' for r, n in per.items())})" if len(per) else
                        " (no visit of the chosen reps can be reached)"))
        shown = self.w["show"].value
        opts = [o for o in self.w["show"].options if not str(o).startswith(_RIDE)]
        self.w["show"].options = opts + [_RIDE + sup]  # resets the value
        self.w["show"].value = shown if shown in opts else opts[0]
        self.draw_map()
        self.show_table()

    # --- re-plan -----------------------------------------------------------------------------
    def _new_appointment(self, day: pd.Timestamp) -> pd.DataFrame | None:
        aid = (self.w["re_acc"].value or "").strip()
        if not aid:
            return None
        if not (self.accounts[S.ID] == aid).any():
            raise ValueError(f"new appointment: no account {aid!r}")
        a0 = _clock(day, self.w["re_start"].value, "new appointment start")
        a1 = _clock(day, self.w["re_end"].value, "new appointment end")
        if a1 <= a0:
            raise ValueError(f"new appointment: the end {a1:%H:%M} must be after the start {a0:%H:%M}")
        return pd.DataFrame({S.ID: [aid], S.APPT_START: [a0], S.APPT_END: [a1]})

    def _replan_request(self) -> tuple[Any, Any, dict[str, Any]]:
        """Re-plan the shown rep's day from "now": (work, done, keywords); bad input raises."""
        rep = self._rep()
        day = self._p.date
        now = _clock(day, self.w["now"].value, "now")
        done = list(self.w["done"].value)
        na = self._new_appointment(day)
        opts = self._p.options.replace(time_limit_s=float(self.w["time_limit_s"].value))
        plan, prob = self._p, self._prob

        def work(progress: Any) -> D.DayPlan:
            return D.replan(plan, prob, rep, done=done, now=now, new_appointments=na, options=opts,
                            progress=progress)

        return work, lambda new: self._replanned(rep, now, done, na, new), {
            "what": tr(f"重排 {rep}", f"re-planning {rep}"), "limit_s": opts.time_limit_s, "on_error": self._error}

    def replan(self, *_):
        """Re-plan the rest of the shown rep's day, here and now."""
        try:
            work, done, kw = self._replan_request()
        except (ValueError, KeyError) as e:
            self._error(e)
            return
        assert self.job is not None
        self.job.run(work, done, **kw)

    def request_replan(self, *_: Any) -> None:
        try:
            work, done, kw = self._replan_request()
        except (ValueError, KeyError) as e:
            self._error(e)
            return
        assert self.job is not None
        self.job.submit(work, done, **kw)

    def _replanned(self, rep: str, now: pd.Timestamp, done: list[str], na: pd.DataFrame | None,
                   new: D.DayPlan) -> None:
        self.plan = D.merge_rep_plan(self._p, rep, new)
        self.done[rep] = done
        msg = f"re-planned {rep} from {now:%H:%M} with {len(done)} finished visit(s): {report_text(new.report)}"
        if na is not None:
            aid = na[S.ID].iloc[0]
            if aid in set(self._my_stops(rep)[S.ID]):
                msg += f"; new appointment {aid} planned"
            else:
                why = new.left_out.loc[new.left_out[S.ID] == aid, "reason"]
                msg += f"; new appointment {aid} NOT planned: {why.iloc[0] if len(why) else 'no reason given'}"
        if self.ride is not None and len(self.ride):
            moved = self._ride_broken(rep)
            if moved:
                self.ride = self.ride[~self.ride[S.ID].isin(moved) | (self.ride["rep"] != rep)]
                msg += f"; ride-along dropped for {len(moved)} visit(s) of {rep} that moved: plan it again"
            self._mark_ride()
        self._status(msg)
        self._done_options()
        self.draw_map()
        self.show_table()

    def _done_mask(self, stops: pd.DataFrame) -> pd.Series:
        return pd.Series([a in set(self.done.get(r, ())) for r, a in zip(stops["rep"], stops[S.ID])],
                         index=stops.index, dtype=bool)

    def _mark_ride(self) -> None:
        """The plan's ``ride_along`` column from ``self.ride`` (finished visits keep theirs)."""
        stops = self._p.stops.copy()
        old = stops["ride_along"].fillna("") if "ride_along" in stops.columns else pd.Series("", index=stops.index)
        ride = self._ride
        who = {(r, a): s for r, a, s in zip(ride["rep"], ride[S.ID], ride["supervisor"])}
        done = self._done_mask(stops)
        stops["ride_along"] = [who.get((r, a), o if d else "")
                               for r, a, o, d in zip(stops["rep"], stops[S.ID], old, done)]
        self.plan = dataclasses.replace(self._p, stops=stops)

    def _ride_broken(self, rep: str) -> list[str]:
        """Joined visits of ``rep`` no longer in the plan at the same times."""
        r = self._ride[self._ride["rep"] == rep]
        mine = self._my_stops(rep).set_index(S.ID)
        out = []
        for _, x in r.iterrows():
            if x[S.ID] not in mine.index or mine.loc[x[S.ID], "start"] != x["start"] \
                    or mine.loc[x[S.ID], "departure"] != x["departure"]:
                out.append(x[S.ID])
        return out

    # --- views -------------------------------------------------------------------------------
    def map(self) -> Any:
        """The folium map of the plan (routes, ride-along, finished visits)."""
        sel = self.w["show"].value
        reps = [sel] if self.w["map_one"].value and self.plan is not None and sel in set(self._p.kpis["rep"]) \
            else None
        base = None
        if self.ride is not None and len(self.ride):
            base = self._base_of(str(self.ride["supervisor"].iloc[0]))
        return maps.day_map(self._p, self.accounts, reps, ride=self.ride, ride_base=base, done=self.done)

    def draw_map(self) -> None:
        if self.plan is None:
            return
        self.w["map"].value = as_widget(self.map()).value

    def itinerary(self, rep: str) -> pd.DataFrame:
        """``rep``'s itinerary with a ``status`` (done) and a ``ride_along`` column."""
        it = itinerary(self.plan, rep).drop(columns=["amap", "baidu", S.LON, S.LAT])
        it.insert(0, "status", ["done" if a in set(self.done.get(rep, ())) else "" for a in it[S.ID]])
        it["ride_along"] = it["ride_along"].fillna("") if "ride_along" in it.columns else ""
        return it

    def show_table(self, *_: Any) -> None:
        if self.plan is None:
            return
        sel = self.w["show"].value
        if sel == _LEFT_OUT:
            lo = self._p.left_out
            lo = lo[lo["candidate_for"] != ""].assign(
                name=lambda d: d[S.ID].map(self.accounts.drop_duplicates(S.ID).set_index(S.ID)[S.NAME]))
            self.w["table"].value = _table(lo, 200, ["name", S.ID, "owner", "reason", "candidate_for"])
        elif sel and str(sel).startswith(_RIDE) and self.ride is not None:
            r = self.ride.assign(start=self.ride["start"].dt.strftime("%H:%M"),
                                 departure=self.ride["departure"].dt.strftime("%H:%M"),
                                 travel_min=self.ride["travel_min"].round(0).astype(int))
            self.w["table"].value = _table(r, 200)
        elif sel in set(self._p.kpis["rep"]):
            it = self.itinerary(sel)
            done = it["status"] == "done"
            it["status"] = it["status"].map(lambda v: tr("已完成", "done") if v == "done" else "")
            self.w["table"].value = _greyed(it, done)

    def export(self, *_: Any) -> list[Path]:
        """The day's files (Excel, ICS, CSV, the map) into the folder box's folder."""
        if self.plan is None:
            self.w["written"].value = error_html(tr("请先排拜访", "plan first"))
            return []
        out = resolve_out(self.w["out"].value, "days")
        try:
            with staged_output(out) as tmp:
                paths = write_all(self._p, tmp, ride=self.ride, inputs=self.tables.summary())
                tag = self._p.date.strftime("%Y-%m-%d")
                paths.append(maps.save_html(maps.day_map(self._p, self.accounts, ride=self.ride),
                                            tmp / f"days_{tag}.html"))
        except (ValueError, OSError) as e:
            self.w["written"].value = error_html(e)
            return []
        paths = moved(paths, tmp, out)
        self.w["written"].value = written_html(paths)
        return paths


def days_app(data: Data = None, out_dir: str | Path | None = None, *, options: D.DayOptions | None = None,
             plan_now: bool = True) -> DaysApp:
    """The app on the demo (or a data folder with accounts, reps, offices); the controls start at ``options``.
    Exports go to ``out_dir`` (default ``out/days`` under the project root; see ``planner.app.ui.common``)."""
    tables = load(data, NEEDS)
    app = DaysApp(tables, resolve_out(out_dir, "days"), base=options or D.DayOptions())
    rej = rejected_html(tables)
    if rej:
        app.widget.children = (*app.widget.children, _html_widget(rej))
    if plan_now:
        app.refresh()
    return app


def _html_widget(text: str) -> Any:
    import ipywidgets as w

    return w.HTML(text)
