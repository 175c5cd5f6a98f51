"""The visit-audit app (风控 risk control): run the audit, filter by rep and reason, map, tables, export.

No audit logic here: :func:`planner.solvers.audit.audit` flags the records, :mod:`planner.app.maps.audit`
draws the map and ``planner.app.export.audit`` (when present) writes the files.  A notebook cell calls
``audit_app()``.

The summary strip counts the whole log (``AuditPlan.summary()``); the rep and reason filters (none picked:
all) narrow the map, the flags table and the weekly trend; the per-rep table always ranks every rep.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.app.export.common import moved, staged_output
from planner.app.maps import core as maps
from planner.app.maps.audit import REASON_COLOURS, REASON_LABELS, audit_map, reason_label, shown_flags
from planner.app.ui.common import Data, as_widget, load, rejected_html
from planner.app.ui.options import options_from, widget
from planner.io.workspace import Tables
from planner.options import specs
from planner.solvers import audit as A

NEEDS = ("accounts", "reps", "offices")
CONTROLLED = tuple(s.name for s in specs(A.AuditOptions) if s.info.ui)
NO_VISITS = ("此数据文件夹没有拜访记录表 · no visits table in this folder: add visits.csv (or .xlsx, ...) "
             "with the visit log (visit id, rep, account, check-in time and position) to audit it")
FLAG_COLUMNS = {"visit_id": "拜访 visit", "rep": "销售 rep", "account": "客户 account", "time": "时间 time",
                "reason": "原因 reason", "evidence": "证据 evidence"}
SHORT_LABELS = {"far_from_account": "远离客户 far", "impossible_speed": "速度 speed", "overlap": "重叠 overlap",
                "call_as_visit": "电话 call", "outside_hours": "非工作时间 hours", "same_spot": "同一地点 spot",
                "role_mismatch": "职务 role"}
_TABLE_ROWS = 300


def _table(df: pd.DataFrame, n: int = _TABLE_ROWS) -> str:
    more = f"<p>... {len(df) - n} more rows (all of them in the export)</p>" if len(df) > n else ""
    return df.head(n).to_html(index=False, border=0, classes="planner-table", escape=True, render_links=False) + more


def _box(zh: str, en: str, value: str, colour: str = "#ccc") -> str:
    return ('<div style="border:1px solid #ccc;border-left:5px solid ' + colour + ';border-radius:6px;'
            'padding:6px 10px;margin:0 8px 8px 0;min-width:110px">'
            f'<div style="font-size:18px;font-weight:bold">{html.escape(value)}</div>'
            f'<div style="font-size:12px">{html.escape(zh)}<br><span style="color:#666">{html.escape(en)}</span>'
            "</div></div>")


def summary_html(summary: dict[str, Any]) -> str:
    """The audit's numbers (``AuditPlan.summary()``) as a strip of boxes labelled in Chinese and English."""
    visits, flagged = int(summary["visits"]), int(summary["flagged"])
    share = f"{flagged / visits:.1%}" if visits else "–"
    boxes = [_box("拜访记录", "visits", f"{visits:,}"), _box("异常记录", "flagged", f"{flagged:,}"),
             _box("异常占比", "share flagged", share), _box("未核查", "unchecked", f"{int(summary['unchecked']):,}")]
    for reason, n in summary["by_reason"].items():
        zh, _, en = REASON_LABELS.get(reason, reason).partition(" ")
        boxes.append(_box(zh, en or reason, f"{int(n):,}", REASON_COLOURS.get(reason, "#ccc")))
    return f'<div style="display:flex;flex-wrap:wrap">{"".join(boxes)}</div>'


def flags_table(flags: pd.DataFrame) -> pd.DataFrame:
    """The flags as the app shows them: newest first, the columns in words, the reasons in both languages."""
    f = flags.sort_values(["check_in", "visit_id"], ascending=[False, True], kind="stable")
    out = pd.DataFrame({"visit_id": f["visit_id"].astype(str), "rep": f["rep"].astype(str),
                        "account": f["account"].astype(str),
                        "time": pd.to_datetime(f["check_in"]).dt.strftime("%Y-%m-%d %H:%M").fillna(""),
                        "reason": f["reason"].map(reason_label), "evidence": f["evidence"].astype(str)})
    return out.rename(columns=FLAG_COLUMNS)


def rep_table(by_rep: pd.DataFrame) -> pd.DataFrame:
    """The per-rep table with the share as a percentage and the reasons' short bilingual names."""
    t = by_rep.copy()
    t["share_flagged"] = (t["share_flagged"].astype(float) * 100).round(1).astype(str) + "%"
    return t.rename(columns={"rep": "销售 rep", "visits": "拜访 visits", "flagged": "异常 flagged",
                             "share_flagged": "占比 share", **SHORT_LABELS})


def week_trend(plan: A.AuditPlan, flags: pd.DataFrame, reps: list[str]) -> pd.DataFrame:
    """Per week (Monday) for ``reps`` (empty: all): visits, records among ``flags``, and their share."""
    bw = plan.by_week if not reps else plan.by_week[plan.by_week["rep"].astype(str).isin(reps)]
    visits = bw.groupby("week")["visits"].sum()
    week = pd.to_datetime(flags["check_in"]).dt.to_period("W-SUN").dt.start_time
    flagged = flags.groupby(week)["visit_id"].nunique() if len(flags) else pd.Series(dtype=int)
    t = pd.DataFrame({"visits": visits}).join(flagged.rename("flagged")).fillna({"flagged": 0})
    t["flagged"] = t["flagged"].astype(int)
    t["share"] = (t["flagged"] / t["visits"].where(t["visits"] > 0)).fillna(0.0)
    return t.reset_index().rename(columns={"index": "week"})


def trend_html(trend: pd.DataFrame) -> str:
    """The weekly trend as a table with an inline bar of the share flagged."""
    top = max(float(trend["share"].max()), 0.01) if len(trend) else 1.0
    rows = "".join(
        f"<tr><td>{pd.Timestamp(r.week):%Y-%m-%d}</td><td>{int(r.visits)}</td><td>{int(r.flagged)}</td>"
        f'<td style="white-space:nowrap"><span style="display:inline-block;height:10px;background:#d62728;'
        f'width:{160 * float(r.share) / top:.0f}px;vertical-align:middle"></span> {float(r.share):.1%}</td></tr>'
        for r in trend.itertuples())
    return ('<table class="planner-table audit-weeks" border="0"><thead><tr><th>周 week of</th><th>拜访 visits</th>'
            f"<th>异常 flagged</th><th>占比 share</th></tr></thead><tbody>{rows}</tbody></table>")


def _details(title: str, body: str, *, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary><b>{html.escape(title)}</b></summary>{body}</details>"


@dataclass
class AuditApp:
    """Widgets around :func:`planner.solvers.audit.audit` (see the module docstring)."""

    tables: Tables
    out_dir: Path
    base: A.AuditOptions = field(default_factory=A.AuditOptions)
    plan: A.AuditPlan | None = None
    w: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        import ipywidgets as w

        self.visits = self.tables.get("visits")
        wide = w.Layout(width="100%")
        pick = {"style": {"description_width": "110px"}, "rows": 7}
        self.w = {
            **{k: widget(A.AuditOptions, k, options=self.base) for k in CONTROLLED},
            "run": w.Button(description="Run audit 开始稽核", button_style="primary", layout=w.Layout(width="200px")),
            "status": w.HTML(), "summary": w.HTML(layout=wide),
            "reps": w.SelectMultiple(options=[], value=(), description="Reps 销售 (none: all)", **pick),
            "reasons": w.SelectMultiple(options=[(REASON_LABELS[r], r) for r in A.REASONS], value=(),
                                        description="Reasons 原因 (none: all)", layout=w.Layout(width="420px"),
                                        **pick),
            "map": w.HTML(layout=wide), "flags": w.HTML(layout=wide), "per_rep": w.HTML(layout=wide),
            "weeks": w.HTML(layout=wide), "more": w.HTML(layout=wide),
            "out": w.Text(value=str(self.out_dir), description="Folder 文件夹"),
            "export": w.Button(description="Export 导出"), "written": w.HTML(),
        }
        self.w["run"].on_click(self.run)
        self.w["export"].on_click(self.export)
        self.w["reps"].observe(self._on_filter, names="value")
        self.w["reasons"].observe(self._on_filter, names="value")
        opts = [self.w[k] for k in CONTROLLED]
        self.widget = w.VBox([
            *[w.HBox(opts[i:i + 3]) for i in range(0, len(opts), 3)],
            self.w["run"], self.w["status"], self.w["summary"],
            w.HBox([self.w["reps"], self.w["reasons"]]),
            self.w["map"], self.w["flags"], self.w["per_rep"], self.w["weeks"], self.w["more"],
            w.HBox([self.w["out"], self.w["export"]]), self.w["written"]])
        if self.visits is None:
            self.w["status"].value = f'<b style="color:#b00">{html.escape(NO_VISITS)}</b>'
            self.w["run"].disabled = self.w["export"].disabled = True
        else:
            self.w["status"].value = "Set the thresholds and press <b>Run audit</b>."

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    @property
    def _p(self) -> A.AuditPlan:
        if self.plan is None:
            raise ValueError("run the audit first")
        return self.plan

    def options(self) -> A.AuditOptions:
        """The thresholds the controls show (those without a control from ``base``)."""
        return options_from(self.base, {k: self.w[k] for k in CONTROLLED})

    def run(self, *_: Any) -> None:
        """Audit the log with the controls' thresholds and show everything."""
        if self.visits is None:
            self.w["status"].value = f'<b style="color:#b00">{html.escape(NO_VISITS)}</b>'
            return
        try:
            plan = A.audit(self.visits, self.tables["accounts"], self.tables["reps"], self.tables["offices"],
                           self.options())
        except ValueError as e:
            self.w["status"].value = f'<b style="color:#b00">{html.escape(str(e))}</b>'
            return
        self.plan = plan
        s = plan.summary()
        self.w["status"].value = (f"Audited {s['visits']:,} records in {plan.seconds:.2f} s: {s['flagged']:,} "
                                  f"flagged ({s['flags']:,} flags), {s['unchecked']:,} could not be checked.")
        self.w["summary"].value = summary_html(s)
        flagged = plan.by_rep.set_index("rep")["flagged"] if len(plan.by_rep) else pd.Series(dtype=int)
        reps = sorted(map(str, plan.records["rep"].unique()))
        old = tuple(r for r in self.w["reps"].value if r in set(reps))
        self.w["reps"].options = [(f"{r} ({int(flagged.get(r, 0))})", r) for r in reps]
        self.w["reps"].value = old
        self.w["per_rep"].value = _details("按销售 Per rep: share flagged and flags by reason (every rep)",
                                           _table(rep_table(plan.by_rep)), open_=True)
        self.w["more"].value = self.more_html()
        self.show()

    def picked(self) -> tuple[list[str], list[str]]:
        """The reps and the reasons picked (empty: all)."""
        return [str(r) for r in self.w["reps"].value], [str(r) for r in self.w["reasons"].value]

    def _on_filter(self, *_: Any) -> None:
        if self.plan is not None:
            self.show()

    def map(self) -> Any:
        """The folium map of the flags the filters leave."""
        reps, reasons = self.picked()
        return audit_map(self._p, reasons=reasons, reps=reps)

    def show(self) -> None:
        """The map, the flags table and the weekly trend for the reps and reasons picked."""
        reps, reasons = self.picked()
        f = shown_flags(self._p, reasons=reasons, reps=reps)
        self.w["map"].value = as_widget(self.map()).value
        who = ", ".join(reps) if reps else "all reps"
        why = ", ".join(reason_label(r) for r in reasons) if reasons else "all reasons"
        self.w["flags"].value = (f"<b>异常 Flags</b> ({len(f):,} flags on {f['visit_id'].nunique():,} records; "
                                 f"{html.escape(who)}; {html.escape(why)}), newest first"
                                 + _table(flags_table(f)))
        self.w["weeks"].value = _details(f"按周 Per week: {who}", trend_html(week_trend(self._p, f, reps)),
                                         open_=True)

    def more_html(self) -> str:
        """The accounts most involved and the records that could not be checked, collapsed."""
        p = self._p
        return (_details(f"涉及最多的客户 Accounts most involved: {len(p.top_accounts)}", _table(p.top_accounts))
                + _details(f"未核查 Unchecked: {len(p.unchecked)} records, with the reason", _table(p.unchecked)))

    def export(self, *_: Any) -> None:
        """The export's files and the map into the folder box's folder."""
        if self.plan is None:
            self.w["written"].value = "<b>run the audit first</b>"
            return
        try:
            from planner.app.export import audit as export_audit
        except ModuleNotFoundError as e:
            if e.name != "planner.app.export.audit":
                raise
            self.w["written"].value = "<b>the audit export (planner.app.export.audit) is not installed</b>"
            return
        out = Path(self.w["out"].value.strip() or self.out_dir)
        try:
            with staged_output(out) as tmp:
                paths = list(export_audit.write_all(self._p, tmp, inputs=self.tables.summary()))
                paths.append(maps.save_html(audit_map(self._p), tmp / "audit_map.html"))
        except (ValueError, OSError) as e:
            self.w["written"].value = f'<b style="color:#b00">{html.escape(str(e))}</b>'
            return
        paths = moved(paths, tmp, out)
        self.w["written"].value = "Written:<br>" + "<br>".join(html.escape(str(q)) for q in paths)


def audit_app(data: Data = None, out_dir: str | Path = "out/audit", *, options: A.AuditOptions | None = None,
              run_now: bool = True) -> AuditApp:
    """The app on the demo (or a data folder with accounts, reps, offices and visits); the controls start at
    ``options``.  The audit runs at once (``run_now``; it takes a second) and again on **Run audit**.

    A folder without a visits table opens the app with the message :data:`NO_VISITS` instead of failing."""
    import ipywidgets as w

    tables = load(data, NEEDS, optional=("visits",))
    app = AuditApp(tables, Path(out_dir), base=options or A.AuditOptions())
    rej = rejected_html(tables)
    if rej:
        app.widget.children = (*app.widget.children, w.HTML(rej))
    if run_now and app.visits is not None:
        app.run()
    return app
