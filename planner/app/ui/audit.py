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
from planner.app.ui.common import (
    Data,
    as_widget,
    error_html,
    export_row,
    load,
    rejected_html,
    resolve_out,
    written_html,
)
from planner.app.ui.jobs import Job, button, job
from planner.app.ui.options import STYLE, options_from, widget
from planner.app.ui.tables import details as _details, language, table_html, tr
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
    return table_html(df, rows=n, more=tr("（导出文件中有全部行）", " (all of them in the export)"))


def _bi(label: str) -> str:
    """A "中文 English" label of this module in the UI language."""
    zh, _, en = label.partition(" ")
    return tr(zh, en)


def _box(zh: str, en: str, value: str, colour: str = "#ccc") -> str:
    lang = language()
    words = html.escape(zh if lang != "en" else en) + (
        f'<br><span style="color:#666">{html.escape(en)}</span>' if lang == "both" else "")
    return ('<div style="border:1px solid #ccc;border-left:5px solid ' + colour + ';border-radius:6px;'
            'padding:6px 10px;margin:0 8px 8px 0;min-width:110px">'
            f'<div style="font-size:18px;font-weight:bold">{html.escape(value)}</div>'
            f'<div style="font-size:12px">{words}</div></div>')


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
    return out.rename(columns={k: _bi(v) for k, v in FLAG_COLUMNS.items()})


def rep_table(by_rep: pd.DataFrame) -> pd.DataFrame:
    """The per-rep table with the share as a percentage and the reasons' short bilingual names."""
    t = by_rep.copy()
    t["share_flagged"] = (t["share_flagged"].astype(float) * 100).round(1).astype(str) + "%"
    names = {"rep": "销售 rep", "visits": "拜访 visits", "flagged": "异常 flagged", "share_flagged": "占比 share",
             **SHORT_LABELS}
    return t.rename(columns={k: _bi(v) for k, v in names.items()})


def week_trend(plan: A.AuditPlan, flags: pd.DataFrame, reps: list[str]) -> pd.DataFrame:
    """Per week (Monday) for ``reps`` (empty: all): visits, records among ``flags``, and their share."""
    return plan.trend(flags, reps)


def trend_html(trend: pd.DataFrame) -> str:
    """The weekly trend as a table with an inline bar of the share flagged."""
    top = max(float(trend["share"].max()), 0.01) if len(trend) else 1.0
    rows = "".join(
        f"<tr><td>{pd.Timestamp(r.week):%Y-%m-%d}</td><td>{int(r.visits):,}</td><td>{int(r.flagged):,}</td>"
        f'<td style="white-space:nowrap"><span style="display:inline-block;height:10px;background:#d62728;'
        f'width:{160 * float(r.share) / top:.0f}px;vertical-align:middle"></span> {float(r.share):.1%}</td></tr>'
        for r in trend.itertuples())
    heads = "".join(f"<th>{html.escape(_bi(h))}</th>" for h in ("周 week of", "拜访 visits", "异常 flagged",
                                                                     "占比 share"))
    return ('<div style="max-width:100%;overflow-x:auto"><table class="planner-table audit-weeks" border="0">'
            f"<thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></div>")


@dataclass
class AuditApp:
    """Widgets around :func:`planner.solvers.audit.audit` (see the module docstring)."""

    tables: Tables
    out_dir: Path
    base: A.AuditOptions = field(default_factory=A.AuditOptions)
    plan: A.AuditPlan | None = None
    w: dict = field(default_factory=dict)
    job: Job | None = None

    def __post_init__(self) -> None:
        import ipywidgets as w

        self.visits = self.tables.get("visits")
        wide = w.Layout(width="100%")
        pick = {"style": STYLE, "rows": 7}
        folder, export_btn, written, export_box = export_row(self.out_dir)
        self.w = {
            **{k: widget(A.AuditOptions, k, options=self.base) for k in CONTROLLED},
            "run": button(tr("开始稽核", "Run audit"), style="primary", icon="play"),
            "status": w.HTML(layout=wide), "summary": w.HTML(layout=wide),
            "reps": w.SelectMultiple(options=[], value=(), description=tr("销售（不选：全部）", "Reps (none: all)"),
                                     **pick),
            "reasons": w.SelectMultiple(options=[(REASON_LABELS[r], r) for r in A.REASONS], value=(),
                                        description=tr("原因（不选：全部）", "Reasons (none: all)"),
                                        layout=w.Layout(width="auto", min_width="420px"), **pick),
            "map": w.HTML(layout=wide), "flags": w.HTML(layout=wide), "per_rep": w.HTML(layout=wide),
            "weeks": w.HTML(layout=wide), "more": w.HTML(layout=wide),
            "out": folder, "export": export_btn, "written": written,
        }
        self.job = job(busy=[self.w[k] for k in ("summary", "map", "flags", "per_rep", "weeks", "more")],
                       buttons=[self.w["run"], export_btn], cancellable=False)
        self.w["progress"] = self.job.bar
        self.w["run"].on_click(self.request_run)
        self.w["export"].on_click(self.export)
        self.w["reps"].observe(self._on_filter, names="value")
        self.w["reasons"].observe(self._on_filter, names="value")
        opts = [self.w[k] for k in CONTROLLED]
        wrap = w.Layout(flex_flow="row wrap")
        self.widget = w.VBox([
            *[w.HBox(opts[i:i + 3], layout=wrap) for i in range(0, len(opts), 3)],
            w.HBox([self.w["run"]]), self.job.widget, self.w["status"], self.w["summary"],
            w.HBox([self.w["reps"], self.w["reasons"]], layout=wrap),
            self.w["map"], self.w["flags"], self.w["per_rep"], self.w["weeks"], self.w["more"],
            export_box, self.w["written"]], layout=wide)
        if self.visits is None:
            self.w["status"].value = f'<b style="color:#b00">{html.escape(NO_VISITS)}</b>'
            self.w["run"].disabled = self.w["export"].disabled = True
            self.job.buttons = []
        else:
            self.w["status"].value = html.escape(tr("设置阈值后按“开始稽核”。",
                                                    "Set the thresholds and press Run audit."))

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

    def _request(self) -> tuple[Any, Any, dict[str, Any]]:
        visits, t, opts = self.visits, self.tables, self.options()
        if visits is None:
            raise ValueError(NO_VISITS)

        def work(progress: Any) -> A.AuditPlan:
            progress(None, tr(f"稽核 {len(visits):,} 条记录", f"auditing {len(visits):,} records"))
            return A.audit(visits, t["accounts"], t["reps"], t["offices"], opts)

        return work, self._shown_plan, {"what": tr("稽核", "audit"), "on_error": self._error}

    def _error(self, e: Exception) -> None:
        self.w["status"].value = error_html(e)

    def run(self, *_: Any) -> None:
        """Audit the log with the controls' thresholds and show everything, here and now."""
        if self.visits is None:
            self.w["status"].value = f'<b style="color:#b00">{html.escape(NO_VISITS)}</b>'
            return
        assert self.job is not None
        self.job.start(self._request, self._error, background=False)

    def request_run(self, *_: Any) -> None:
        """Run from the button: in the background in a notebook (Cancel drops the result when it arrives)."""
        if self.visits is None:
            self.run()
            return
        assert self.job is not None
        self.job.start(self._request, self._error, background=True)

    def _shown_plan(self, plan: A.AuditPlan) -> None:
        self.plan = plan
        s = plan.summary()
        self.w["status"].value = html.escape(tr(
            f"已稽核 {s['visits']:,} 条记录，用时 {plan.seconds:.2f} 秒：{s['flagged']:,} 条异常"
            f"（{s['flags']:,} 个标记），{s['unchecked']:,} 条无法核查。",
            f"Audited {s['visits']:,} records in {plan.seconds:.2f} s: {s['flagged']:,} flagged "
            f"({s['flags']:,} flags), {s['unchecked']:,} could not be checked."))
        self.w["summary"].value = summary_html(s)
        flagged = plan.by_rep.set_index("rep")["flagged"] if len(plan.by_rep) else pd.Series(dtype=int)
        reps = sorted(map(str, plan.records["rep"].unique()))
        old = tuple(r for r in self.w["reps"].value if r in set(reps))
        self.w["reps"].options = [(f"{r} ({int(flagged.get(r, 0))})", r) for r in reps]
        self.w["reps"].value = old
        self.w["per_rep"].value = _details(tr("按销售：异常占比与各原因数（全部销售）",
                                              "Per rep: share flagged and flags by reason (every rep)"),
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
        who = ", ".join(reps) if reps else tr("全部销售", "all reps")
        why = ", ".join(reason_label(r) for r in reasons) if reasons else tr("全部原因", "all reasons")
        n, m = len(f), f["visit_id"].nunique()
        head = tr(f"异常（{m:,} 条记录上的 {n:,} 个标记；{who}；{why}），最新在前",
                  f"Flags ({n:,} flags on {m:,} records; {who}; {why}), newest first")
        self.w["flags"].value = f"<b>{html.escape(head)}</b>" + _table(flags_table(f))
        self.w["weeks"].value = _details(tr(f"按周：{who}", f"Per week: {who}"),
                                         trend_html(week_trend(self._p, f, reps)), open_=True)

    def more_html(self) -> str:
        """The accounts most involved and the records that could not be checked, collapsed."""
        p = self._p
        top = p.top_accounts
        names = self.tables["accounts"].drop_duplicates("id").set_index("id")["name"]
        if "account" in top.columns:
            top = top.assign(name=top["account"].map(names))
            top = top[["name", *[c for c in top.columns if c != "name"]]]
        return (_details(tr(f"涉及最多的客户：{len(top):,}", f"Accounts most involved: {len(top):,}"), _table(top))
                + _details(tr(f"未核查：{len(p.unchecked):,} 条记录（附原因）",
                              f"Unchecked: {len(p.unchecked):,} records, with the reason"), _table(p.unchecked)))

    def export(self, *_: Any) -> None:
        """The export's files and the map into the folder box's folder."""
        if self.plan is None:
            self.w["written"].value = "<b>" + html.escape(tr("请先稽核", "run the audit first")) + "</b>"
            return
        try:
            from planner.app.export import audit as export_audit
        except ModuleNotFoundError as e:
            if e.name != "planner.app.export.audit":
                raise
            self.w["written"].value = "<b>the audit export (planner.app.export.audit) is not installed</b>"
            return
        out = resolve_out(self.w["out"].value.strip() or self.out_dir, "audit")
        try:
            with staged_output(out) as tmp:
                paths = list(export_audit.write_all(self._p, tmp, inputs=self.tables.summary()))
                paths.append(maps.save_html(audit_map(self._p), tmp / "audit_map.html"))
        except (ValueError, OSError) as e:
            self.w["written"].value = error_html(e)
            return
        paths = moved(paths, tmp, out)
        self.w["written"].value = written_html(paths)


def audit_app(data: Data = None, out_dir: str | Path | None = None, *, options: A.AuditOptions | None = None,
              run_now: bool = True) -> AuditApp:
    """The app on the demo (or a data folder with accounts, reps, offices and visits); the controls start at
    ``options``.  The audit runs at once (``run_now``; it takes a second) and again on **Run audit**.
    Exports go to ``out_dir`` (default ``out/audit`` under the project root).

    A folder without a visits table opens the app with the message :data:`NO_VISITS` instead of failing."""
    import ipywidgets as w

    tables = load(data, NEEDS, optional=("visits",))
    app = AuditApp(tables, resolve_out(out_dir, "audit"), base=options or A.AuditOptions())
    rej = rejected_html(tables)
    if rej:
        app.widget.children = (*app.widget.children, w.HTML(rej))
    if run_now and app.visits is not None:
        app.run()
    return app
