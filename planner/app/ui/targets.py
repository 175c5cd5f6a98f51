"""The targets app: roll-up tree, waterfall, confidence sliders, gap split, pay simulation.

No planning logic lives here: every number comes from ``planner.solvers.targets``;
this module wires widgets to it and draws HTML/SVG (no plotting library).
A notebook cell calls ``targets_app()`` (or ``source_example()``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.app.export.common import moved, staged_output
from planner.app.export.targets import write_summary, write_workbook
from planner.app.ui.common import Data, error_html, export_row, load, rejected_html, resolve_out, written_html
from planner.app.ui.jobs import button
from planner.app.ui.options import STYLE, widget
from planner.app.ui.tables import STYLE as STYLE_CSS, pct, table_html, tr
from planner.io.workspace import Tables
from planner.solvers import targets as T

_UP, _DOWN, _TOTAL, _GAP = "#1a9850", "#d73027", "#4575b4", "#fdae61"
RIGHT = ' style="text-align:right"'
_TIER_COLOURS = {"none": "#bdbdbd", "bronze": "#cd7f32", "silver": "#9e9e9e", "gold": "#d4a017"}


def _cny(v: float) -> str:
    return f"{v:,.0f}"


# --- drawing (HTML / SVG strings) ----------------------------------------------------------

def svg_waterfall(steps: pd.DataFrame, *, width: int = 680, height: int = 280, title: str = "") -> str:
    """A waterfall chart of ``targets.waterfall`` steps as an inline SVG."""
    n = len(steps)
    if n == 0:
        return ""
    top = max(1.0, float(np.nanmax(steps[["start_cny", "end_cny"]].to_numpy())))
    pad_l, pad_b, pad_t = 70, 60, 28
    plot_h = height - pad_b - pad_t
    slot = (width - pad_l - 10) / n
    bw = slot * 0.62

    def y(v: float) -> float:
        return pad_t + plot_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'style="font-family:sans-serif;font-size:11px">']
    if title:
        parts.append(f'<text x="{pad_l}" y="16" font-weight="bold">{html.escape(title)}</text>')
    for k in range(5):  # grid
        v = top * k / 4
        parts.append(f'<line x1="{pad_l}" x2="{width - 10}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                     f'<text x="{pad_l - 6}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#666">{v / 1e4:,.0f}万</text>')
    prev_end = None
    for k, row in enumerate(steps.itertuples()):
        x = pad_l + k * slot + (slot - bw) / 2
        a, b = float(row.start_cny), float(row.end_cny)
        lo, hi = min(a, b), max(a, b)
        if row.kind == "total":
            colour = _TOTAL
        elif row.label == "gap":
            colour = _GAP if b >= a else _UP
        else:
            colour = _UP if b >= a else _DOWN
        h = max(y(lo) - y(hi), 1.0)
        delta = b - a if row.kind != "total" else b
        parts.append(f'<rect x="{x:.1f}" y="{y(hi):.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{colour}">'
                     f'<title>{html.escape(str(row.label))}: {_cny(delta)}</title></rect>')
        sign = "+" if row.kind != "total" and delta > 0 else ""
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{y(hi) - 3:.1f}" text-anchor="middle">'
                     f'{sign}{delta / 1e4:,.1f}万</text>')
        label = html.escape(str(row.label))[:18]
        parts.append(f'<text transform="translate({x + bw / 2:.1f},{height - pad_b + 12}) rotate(30)" '
                     f'text-anchor="start">{label}</text>')
        if prev_end is not None:
            parts.append(f'<line x1="{x - (slot - bw):.1f}" x2="{x:.1f}" y1="{y(prev_end):.1f}" '
                         f'y2="{y(prev_end):.1f}" stroke="#999" stroke-dasharray="2,2"/>')
        prev_end = b
    parts.append("</svg>")
    return "".join(parts)


def svg_results(pay: pd.DataFrame, rules: T.PayRules, *, width: int = 680, height: int = 240) -> str:
    """Monthly results coloured by the tier earned, with the tier thresholds as lines."""
    if pay.empty:
        return "<i>no results</i>"
    top = max(float(pay["result_cny"].max()), rules.gold_cny) * 1.1
    pad_l, pad_b, pad_t = 70, 50, 12
    plot_h = height - pad_b - pad_t
    n = len(pay)
    slot = (width - pad_l - 10) / n

    def y(v: float) -> float:
        return pad_t + plot_h * (1 - v / top)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'style="font-family:sans-serif;font-size:11px">']
    for name, th in zip(("bronze", "silver", "gold"), rules.thresholds):
        parts.append(f'<line x1="{pad_l}" x2="{width - 10}" y1="{y(th):.1f}" y2="{y(th):.1f}" '
                     f'stroke="{_TIER_COLOURS[name]}" stroke-dasharray="4,3"/>'
                     f'<text x="{pad_l - 6}" y="{y(th) + 4:.1f}" text-anchor="end">{name} {th / 1e4:g}万</text>')
    for k, row in enumerate(pay.itertuples()):
        x = pad_l + k * slot + slot * 0.15
        v = float(row.result_cny)
        parts.append(f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{slot * 0.7:.1f}" height="{max(y(0) - y(v), 0.5):.1f}" '
                     f'fill="{_TIER_COLOURS[row.tier]}"><title>{row.month}: {_cny(v)} ({row.tier}); paid at '
                     f'{row.rate:.0%} ({row.rate_tier})</title></rect>')
        parts.append(f'<text transform="translate({x + slot * 0.35:.1f},{height - pad_b + 12}) rotate(45)">'
                     f'{row.month}</text>')
    parts.append("</svg>")
    return "".join(parts)


def tree_html(r: T.Rollup, *, open_depth: int = 1, focus: str | None = None) -> str:
    """The roll-up as nested collapsible rows (``<details>``): raw, adjusted, target, gap per node."""
    nd = r.nodes
    org = r.org
    kids: dict[int, list[int]] = {}
    for i, p in enumerate(org.parent):
        if p >= 0:
            kids.setdefault(int(p), []).append(i)
    # inline-grid: the row sits on the line of its <summary>'s triangle (a block grid would push it below)
    cols = ("display:inline-grid;vertical-align:top;width:calc(100% - 24px);min-width:760px;"
            "grid-template-columns:minmax(240px,1fr) 70px repeat(4,110px) 80px;gap:4px;")

    def line(i: int, own: bool = False) -> str:
        row = nd.iloc[i]
        if own:
            raw, adj, tgt = row["own_forecast_cny"], row["own_adjusted_cny"], row["own_target_cny"]
            name, lvl = f"{row['name']} ({tr('本人', 'own')})", tr("本人", "own")
        else:
            raw, adj, tgt = row["raw_cny"], row["adjusted_cny"], row["target_cny"]
            name, lvl = row["name"], row[T.ROLLUP_LEVEL]
        gap = tgt - adj
        mark = ""
        if row["height"] == 0 or own:
            mark = f"x{row['index']:.2f}" + ("*" if row["index_source"] == "override" else "")
        elif row["team_overridden"]:
            mark = f"team x{row['team_index']:.2f}*"
        elif row["overridden_in_team"]:
            mark = f"{int(row['overridden_in_team'])}*"
        style = "font-weight:bold;" if row["id"] == focus else ""
        return (f'<span style="{cols}{style}"><span>{html.escape(str(row["id"]))} {html.escape(str(name))}</span>'
                f'<span>{lvl}</span><span style="text-align:right">{_cny(raw)}</span>'
                f'<span style="text-align:right">{_cny(adj)}</span><span style="text-align:right">{_cny(tgt)}</span>'
                f'<span style="text-align:right;color:{_DOWN if gap > 0 else _UP}">{_cny(gap)}</span>'
                f'<span>{mark}</span></span>')

    def node(i: int) -> str:
        ch = kids.get(i, [])
        if not ch:
            return f'<div style="margin-left:26px">{line(i)}</div>'
        opened = " open" if org.depth[i] < open_depth else ""
        inner = "".join(node(c) for c in ch)
        if nd.iloc[i]["has_own_figures"]:
            inner = f'<div style="margin-left:26px">{line(i, own=True)}</div>' + inner
        return (f'<details{opened} style="margin-left:12px"><summary style="cursor:pointer">{line(i)}</summary>'
                f'{inner}</details>')

    words = [tr("人员", "person"), tr("职级", "level"), tr("原始预测", "raw"), tr("调整后", "adjusted"),
             tr("目标", "target"), tr("差距", "gap"), tr("信心指数", "index")]
    head = (f'<div style="{cols}font-weight:bold;margin-left:26px">'
            + "".join(f"<span{'' if k < 2 or k == 6 else RIGHT}>{html.escape(t)}</span>"
                      for k, t in enumerate(words)) + "</div>")
    note = tr("金额单位：元。x0.85：销售的信心指数；* 已人工调整（经理行：其下调整的人数）。点击一行展开。",
              "Amounts in CNY. x0.85: the rep's confidence index; * overridden (on a manager: how many overrides "
              "below). Click a row to open it.")
    return (f'<div style="font-family:sans-serif;font-size:12px;max-width:100%;overflow-x:auto">{head}'
            f'{node(org.root)}<div style="color:#666;margin-top:4px">{html.escape(note)}</div></div>')


def gap_html(plan: T.GapPlan) -> str:
    """The elephant split: the sentence, groups x months (extra deals over today, +new this month)."""
    sp = plan.split
    lvl = sp.pivot(index="group", columns=T.MONTH, values="extra_deals")
    new = sp.pivot(index="group", columns=T.MONTH, values="new_deals")
    order = list(dict.fromkeys(sp[T.MONTH]))
    groups = list(plan.problem.groups)
    stretch = dict(zip(plan.problem.groups, plan.problem.stretch_deals))
    head = "".join(f"<th>{html.escape(m)}</th>" for m in order)
    body = ""
    for g in groups:
        cells = "".join(f'<td style="text-align:center">{int(lvl.at[g, m])}'
                        f'{f" <small>(+{int(new.at[g, m])})</small>" if new.at[g, m] else ""}</td>' for m in order)
        body += f"<tr><td>{html.escape(g)}</td><td style='text-align:center'>{stretch[g]}</td>{cells}</tr>"
    bm = plan.by_month
    tot = "".join(f'<td style="text-align:center"><b>{int(a)}</b> / {int(b)}</td>'
                  for a, b in zip(bm["planned_deals"], bm["required_deals"]))
    colour = "#1a9850" if plan.report.ok else "#d73027"
    pr = plan.problem
    note = tr(f"格子：比现在每月多成交的单数（括号内：本月新增）。团队行：计划 / 需要。每单 {_cny(pr.deal_cny)} 元；"
              f"目标 {_cny(pr.target_cny)} 元，现在每月 {_cny(pr.run_rate_cny)} 元。",
              f"Cells: extra deals a month over today's run-rate (+ new this month). Team row: planned / "
              f"required. Deal {_cny(pr.deal_cny)} CNY; target {_cny(pr.target_cny)} CNY, run-rate "
              f"{_cny(pr.run_rate_cny)} CNY.")
    return (f'<div style="font-family:sans-serif;font-size:12px;max-width:100%;overflow-x:auto">'
            f'<p style="color:{colour}">{html.escape(plan.text)}</p>'
            f'<table class="planner-table" border="1" style="border-collapse:collapse">'
            f"<tr><th>{html.escape(tr('小组', 'group'))}</th>"
            f"<th>{html.escape(tr('最多可多签（单/月）', 'stretch (deals/month)'))}</th>{head}</tr>{body}"
            f"<tr><td><b>{html.escape(tr('团队', 'team'))}</b></td><td>{sum(pr.stretch_deals)}</td>{tot}</tr>"
            f'</table><p style="color:#666">{html.escape(note)}</p></div>')


def _table(df: pd.DataFrame, n: int = 30) -> str:
    return table_html(df, rows=n)


# --- the app ----------------------------------------------------------------------------------

@dataclass
class TargetsApp:
    """Widgets over one ``TargetsData``; ``overrides`` and ``team_overrides`` hold the sliders' state."""

    data: T.TargetsData
    widget: Any
    month: Any
    focus: Any
    tree: Any
    chart: Any
    sliders: Any
    reset: Any
    note: Any
    gap_node: Any
    gap_months: Any
    gap_box: Any
    pay_rep: Any
    pay_box: Any
    hoard_box: Any
    overrides: dict[str, float] = field(default_factory=dict)
    team_overrides: dict[str, float] = field(default_factory=dict)
    rollup: T.Rollup | None = None
    gap_plan: T.GapPlan | None = None
    pay_rules: T.PayRules = field(default_factory=T.PayRules)
    gap_options: T.GapOptions = field(default_factory=T.GapOptions)
    _building: bool = False
    tables: Tables | None = None
    export_folder: Any = None
    written: Any = None

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # roll-up tab
    @property
    def _r(self) -> T.Rollup:
        if self.rollup is None:
            self.recompute()
        assert self.rollup is not None
        return self.rollup

    def recompute(self, *_: Any) -> None:
        self.rollup = T.rollup(self.data, self.month.value,
                               T.RollupOptions(overrides=self.overrides, team_overrides=self.team_overrides))
        self.tree.value = tree_html(self.rollup, focus=self.focus.value)
        steps = T.waterfall(self.rollup, self.focus.value)
        row = self.rollup.node(self.focus.value)
        title = f"{row['id']} {row['name']}: " + tr("原始预测 -> 调整后 -> 目标（万元）",
                                                    "raw forecast -> adjusted -> target (10k CNY)")
        self.chart.value = (f"<b>{html.escape(title)}</b>"
                            f'<div style="max-width:100%;overflow-x:auto">{svg_waterfall(steps)}</div>')
        over = [f"{k}={v:.2f}" for k, v in sorted(self.overrides.items())] + \
               [f"{tr('团队', 'team')} {k}={v:.2f}" for k, v in sorted(self.team_overrides.items())]
        t = self.rollup.totals()
        text = tr(f"原始预测 {_cny(t['raw_cny'])} 元，调整后 {_cny(t['adjusted_cny'])} 元，"
                  f"目标 {_cny(t['target_cny'])} 元，差距 {_cny(t['gap_cny'])} 元。"
                  f"人工调整：{'、'.join(over) if over else '无'}。",
                  f"raw {_cny(t['raw_cny'])}, adjusted {_cny(t['adjusted_cny'])}, target {_cny(t['target_cny'])}, "
                  f"gap {_cny(t['gap_cny'])} CNY. Overrides: {', '.join(over) if over else 'none'}.")
        self.note.value = f"<b>{html.escape(self.month.value)}</b>: {html.escape(text)}"

    def build_sliders(self, *_):
        """Sliders for the focus's reports: a rep's index, or a manager's team index."""
        import ipywidgets as w

        r = self._r
        i = r.org.index[self.focus.value]
        rows = []
        self._building = True
        for c in r.org.children(i):
            ch = r.nodes.iloc[c]
            pid = str(ch["id"])
            if ch["height"] == 0:
                hist = float(r.indices.iloc[c]["history_index"])
                s = w.FloatSlider(value=float(ch["index"]), min=0.0, max=2.0, step=0.05, description=pid,
                                  continuous_update=False, readout_format=".2f")
                months = int(r.indices.iloc[c]["history_months"])
                lab = w.HTML(html.escape(tr(f"历史 {hist:.2f}（{months} 个月）；预测 {_cny(ch['own_forecast_cny'])} 元",
                                            f"history {hist:.2f} ({months} months); forecast "
                                            f"{_cny(ch['own_forecast_cny'])} CNY"))
                             + (" <b>overridden</b>" if pid in self.overrides else ""))
                s.observe(lambda ch_, pid=pid, lab=lab, hist=hist: self._set(pid, ch_["new"], False, lab, hist),
                          names="value")
            else:
                s = w.FloatSlider(value=float(ch["team_index"]), min=0.0, max=2.0, step=0.05, description=pid,
                                  continuous_update=False, readout_format=".2f")
                lab = w.HTML(html.escape(tr(f"{ch['name']} 团队调整后 {_cny(ch['team_adjusted_cny'])} 元的团队指数",
                                            f"team index on {ch['name']}'s adjusted "
                                            f"{_cny(ch['team_adjusted_cny'])} CNY"))
                             + (" <b>overridden</b>" if pid in self.team_overrides else ""))
                s.observe(lambda ch_, pid=pid, lab=lab: self._set(pid, ch_["new"], True, lab, 1.0), names="value")
            rows.append(w.HBox([s, lab]))
        self._building = False
        self.sliders.children = tuple(rows)

    def _set(self, pid: str, value: float, team: bool, label, hist: float):
        if self._building:
            return
        (self.team_overrides if team else self.overrides)[pid] = float(value)
        label.value = label.value.replace(" <b>overridden</b>", "") + " <b>overridden</b>"
        self.recompute()

    def clear(self, *_):
        self.overrides.clear()
        self.team_overrides.clear()
        self.recompute()
        self.build_sliders()

    def on_focus(self, *_):
        self.recompute()
        self.build_sliders()

    # gap tab
    def refresh_gap(self, *_):
        if self.rollup is None:
            self.recompute()
        try:
            gopt = self.gap_options.replace(months=int(self.gap_months.value))
            plan = T.split_gap(T.gap_problem(self.data, self._r, self.gap_node.value, months=gopt.months), gopt)
            self.gap_plan = plan
            self.gap_box.value = gap_html(plan)
        except ValueError as exc:
            self.gap_box.value = f'<p style="color:#d73027">{html.escape(str(exc))}</p>'

    # pay tab
    def refresh_pay(self, *_):
        past = self.data.actuals[self.data.actuals[T.MONTH] < self.month.value]
        rep = self.pay_rep.value
        pay = T.simulate_pay(past[past[T.PERSON] == rep], self.pay_rules)
        summ = T.pay_summary(pay, self.pay_rules)
        text = ""
        if len(summ):
            s = summ.iloc[0]
            words = tr(f"{int(s['months'])} 个月业绩 {_cny(s['result_cny'])} 元，提成 {_cny(s['pay_cny'])} 元"
                       f"（实际比例 {pct(s['effective_rate'])}）；同样总额若每月平均，"
                       f"提成 {_cny(s['even_pay_cny'])} 元。"
                       f"下月比例：{pct(s['next_rate'])}（{s['next_rate_tier']}）。",
                       f"results {_cny(s['result_cny'])} CNY over {int(s['months'])} months, pay "
                       f"{_cny(s['pay_cny'])} CNY (effective {pct(s['effective_rate'])}); the same total in even "
                       f"months would pay {_cny(s['even_pay_cny'])} CNY. Next month's rate: {pct(s['next_rate'])} "
                       f"({s['next_rate_tier']}).")
            text = f"<p><b>{html.escape(rep)}</b>: {html.escape(words)}</p>"
        self.pay_box.value = (text + f'<div style="max-width:100%;overflow-x:auto">{svg_results(pay, self.pay_rules)}'
                              "</div>" + _table(pay[[T.MONTH, "result_cny", "tier", "rate_tier", "rate", "pay_cny"]],
                                                24))

    def refresh(self, *_):
        self.recompute()
        self.build_sliders()
        self.refresh_gap()
        self.refresh_pay()

    # export
    def export(self, folder: str | Path | None = None) -> list[Path]:
        """The month's workbook (a sheet per level, the gap split of the manager shown, pay, hoarding) and
        ``summary.json`` with the overrides set here, into ``folder`` (default: the folder box)."""
        out = resolve_out(folder if folder is not None else (self.export_folder.value if self.export_folder
                                                            else None), "targets")
        month = self.month.value
        opt = T.RollupOptions(overrides=dict(self.overrides), team_overrides=dict(self.team_overrides))
        gopt = self.gap_options.replace(months=int(self.gap_months.value))
        rep = T.month_report(self.data, month, rollup_options=opt, gap_options=gopt, nodes=[self.gap_node.value])
        ws = self.tables.workspace if self.tables is not None else None
        source = str((ws.folder or ws.label) if ws is not None else "")
        with staged_output(out) as tmp:
            xlsx = write_workbook(rep, tmp / f"targets_{month}.xlsx")
            paths = [xlsx, write_summary(tmp / "summary.json", rep, self.data, opt, source=source,
                                         workbook=xlsx.name,
                                         inputs=self.tables.summary() if self.tables is not None else None)]
        return moved(paths, tmp, out)

    def _on_export(self, *_: Any) -> None:
        try:
            self.written.value = written_html(self.export())
        except (ValueError, OSError) as e:
            self.written.value = error_html(e)


def _largest_gap(r: T.Rollup, ids: list[str]) -> str:
    """Of ``ids``, the one whose team is furthest below target (the first on ties)."""
    gap = r.nodes.set_index("id")["target_cny"] - r.nodes.set_index("id")["adjusted_cny"]
    return max(ids, key=lambda i: (float(gap.get(i, 0.0)), -ids.index(i)))


def _default_focus(r: T.Rollup) -> str:
    """The supervisor whose team is furthest below target (else the top of the tree)."""
    nd = r.nodes
    sup = [str(i) for i in nd.loc[nd["height"] == 1, "id"]]
    return _largest_gap(r, sup) if sup else str(nd.iloc[r.org.root]["id"])


def _hoard_html(flags: pd.DataFrame, flagged: set[str]) -> str:
    table = _table(flags.loc[flags["flagged"], [T.PERSON, "team", "months", "mean_cny", "dispersion",
                                                "team_dispersion", "reason"]]) if flagged else \
        f"<i>{html.escape(tr('无', 'none flagged'))}</i>"
    return (f"<h4>{html.escape(tr('可能压单', 'Possible hoarding'))}</h4>{table}"
            f"<p style='color:#666'>{html.escape(' '.join((T.HoardingRules.__doc__ or '').split()))}</p>")


def _territories_html(tdata: T.TargetsData) -> str:
    if tdata.territories is None:
        return ""
    terr = T.territory_targets(tdata.territories)
    note = tr("月目标 = 月潜力 × 阶段系数（播种 0.10，培育 0.25，成长 0.50，收获 0.80）。",
              "Monthly target = monthly potential x the stage's multiplier (sowing 0.10, cultivating 0.25, "
              "growing 0.50, harvesting 0.80).")
    title = tr("片区与新城市：潜力 × 爬坡阶段", "Territories and new cities: potential x ramp stage")
    cols = ["name", "id", "market_stage", "potential_cny", "ramp_multiplier", "target_cny"]
    return (f"<h4>{html.escape(title)}</h4>" + _table(terr[cols]) + f"<p style='color:#666'>{html.escape(note)}</p>")


def _pickers(tdata: T.TargetsData, month: str | None, gap_options: T.GapOptions | None) -> dict[str, Any]:
    import ipywidgets as w

    months = tdata.forecast_months
    month_dd = w.Dropdown(options=months, value=T.check_month(month) if month else months[-1],
                          description=tr("月份", "Month"), style=STYLE)
    r0 = T.rollup(tdata, month_dd.value)
    managers = [(f"{i} {n} ({lv})", i) for i, n, lv, h in zip(r0.nodes["id"], r0.nodes["name"],
                                                               r0.nodes[T.ROLLUP_LEVEL], r0.nodes["height"]) if h > 0]
    split = T.split_nodes(r0)
    return {"month": month_dd, "r0": r0,
            "focus": w.Dropdown(options=managers, value=_default_focus(r0), description=tr("查看", "Focus"),
                                style=STYLE, layout=w.Layout(width="480px", max_width="100%")),
            "gap_node": w.Dropdown(options=managers, value=_largest_gap(r0, split) if split else managers[0][1],
                                   description=tr("经理", "Manager"), style=STYLE,
                                   layout=w.Layout(width="480px", max_width="100%")),
            "gap_months": widget(T.GapOptions, "months", options=gap_options or T.GapOptions())}


def targets_app(data: Data = None, month: str | None = None, *,
                gap_options: T.GapOptions | None = None) -> TargetsApp:
    """Build the targets app on the demo (or a data folder holding the targets tables)."""
    import ipywidgets as w

    holder: dict[str, T.TargetsData] = {}

    def refine(tables: Tables) -> Tables:
        holder["data"], out = T.refine(tables)
        return out

    tables = load(data, T.INPUT_TABLES, T.OPTIONAL_TABLES, refine=refine)
    tdata = holder["data"]
    pk = _pickers(tdata, month, gap_options)
    month_dd, focus, gap_node, gap_months = pk["month"], pk["focus"], pk["gap_node"], pk["gap_months"]
    past = tdata.actuals[tdata.actuals[T.MONTH] < month_dd.value]
    flags = T.hoarding_flags(past, tdata.people.set_index("id")["manager"])
    flagged = set(flags.loc[flags["flagged"], T.PERSON]) if len(flags) else set()
    reps = sorted(set(past[T.PERSON]), key=lambda p: (p not in flagged, p))
    pay_rep = w.Dropdown(options=[(f"{p} ({tr('被标记', 'flagged')})" if p in flagged else p, p) for p in reps],
                         description=tr("销售", "Rep"), style=STYLE)
    full = w.Layout(width="100%")
    tree, chart, note, gap_box, pay_box = (w.HTML(layout=full) for _ in range(5))
    hoard_box = w.HTML(_hoard_html(flags, flagged), layout=full)
    sliders = w.VBox()
    reset = button(tr("清除人工调整", "Clear overrides"), icon="undo")
    about = tr("所选经理下属的信心指数（销售的指数，或经理整个团队的团队指数）",
               "Confidence indices of the focus's reports (a rep's index, or a team index on a manager's whole team)")
    rollup_tab = w.VBox([w.HBox([month_dd, focus], layout=w.Layout(flex_flow="row wrap")), note, chart,
                         w.HTML(f"<b>{html.escape(about)}</b>"), sliders, reset, tree])
    gap_tab = w.VBox([w.HBox([gap_node, gap_months], layout=w.Layout(flex_flow="row wrap")), gap_box,
                      w.HTML(_territories_html(tdata), layout=full)])
    pay_tab = w.VBox([pay_rep, pay_box, hoard_box])
    tabs = w.Tab(children=[rollup_tab, gap_tab, pay_tab],
                 titles=(tr("汇总", "Roll-up"), tr("分解差距", "Eating the elephant"), tr("提成", "Pay")))
    folder, export_btn, written, export_box = export_row(resolve_out(None, "targets"))
    ui = w.VBox([tabs, export_box, written, *([w.HTML(rej)] if (rej := rejected_html(tables)) else []),
                 w.HTML(STYLE_CSS, layout=w.Layout(display="none"))], layout=full)
    app = TargetsApp(data=tdata, widget=ui, month=month_dd, focus=focus, tree=tree, chart=chart, sliders=sliders,
                     reset=reset, note=note, gap_node=gap_node, gap_months=gap_months, gap_box=gap_box,
                     pay_rep=pay_rep, pay_box=pay_box, hoard_box=hoard_box, rollup=pk["r0"],
                     gap_options=gap_options or T.GapOptions(), tables=tables, export_folder=folder,
                     written=written)
    month_dd.observe(app.refresh, names="value")
    focus.observe(app.on_focus, names="value")
    reset.on_click(app.clear)
    gap_node.observe(app.refresh_gap, names="value")
    gap_months.observe(app.refresh_gap, names="value")
    pay_rep.observe(app.refresh_pay, names="value")
    export_btn.on_click(app._on_export)
    app.refresh()
    return app


def source_example(months: int = 3):
    """The source's elephant (1,000,000 target, 700,000 today, 3 months, 5 groups, deals of 33,000) as a widget."""
    from dataclasses import replace

    import ipywidgets as w

    plan = T.split_gap(replace(T.SOURCE_EXAMPLE, months=months))
    return w.HTML(gap_html(plan))
