"""The targets app: roll-up tree, waterfall, confidence sliders, gap split, pay simulation.

No planning logic lives here: every number comes from ``planner.solvers.targets``;
this module wires widgets to it and draws HTML/SVG (no plotting library).
A notebook cell calls ``targets_app()`` (or ``source_example()``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner.app.ui.common import Data, load, rejected_html
from planner.app.ui.options import widget
from planner.io.workspace import Tables
from planner.solvers import targets as T

_UP, _DOWN, _TOTAL, _GAP = "#1a9850", "#d73027", "#4575b4", "#fdae61"
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
    cols = "display:grid;grid-template-columns:minmax(260px,1fr) 90px repeat(4,110px) 60px;gap:4px;"

    def line(i: int, own: bool = False) -> str:
        row = nd.iloc[i]
        if own:
            raw, adj, tgt = row["own_forecast_cny"], row["own_adjusted_cny"], row["own_target_cny"]
            name, lvl = f"{row['name']} (own)", "own"
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
            return f'<div style="margin-left:18px">{line(i)}</div>'
        opened = " open" if org.depth[i] < open_depth else ""
        inner = "".join(node(c) for c in ch)
        if nd.iloc[i]["has_own_figures"]:
            inner = f'<div style="margin-left:18px">{line(i, own=True)}</div>' + inner
        return (f'<details{opened} style="margin-left:12px"><summary style="cursor:pointer">{line(i)}</summary>'
                f'{inner}</details>')

    head = (f'<div style="{cols}font-weight:bold;margin-left:30px"><span>person</span><span>level</span>'
            f'<span style="text-align:right">raw</span><span style="text-align:right">adjusted</span>'
            f'<span style="text-align:right">target</span><span style="text-align:right">gap</span>'
            f'<span>index</span></div>')
    return (f'<div style="font-family:sans-serif;font-size:12px">{head}{node(org.root)}'
            f'<div style="color:#666;margin-top:4px">x0.85: the rep\'s confidence index; * overridden '
            f'(on a manager: how many overrides below). Click a row to open it.</div></div>')


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
    return (f'<div style="font-family:sans-serif;font-size:12px"><p style="color:{colour}">'
            f'{html.escape(plan.text)}</p><table border="1" style="border-collapse:collapse">'
            f"<tr><th>group</th><th>stretch (deals/month)</th>{head}</tr>{body}"
            f"<tr><td><b>team</b></td><td>{sum(plan.problem.stretch_deals)}</td>{tot}</tr></table>"
            f'<p style="color:#666">Cells: extra deals a month over today\'s run-rate (+ new this month). '
            f"Team row: planned / required. Deal {_cny(plan.problem.deal_cny)} CNY; target "
            f"{_cny(plan.problem.target_cny)}, run-rate {_cny(plan.problem.run_rate_cny)}.</p></div>")


def _table(df: pd.DataFrame, n: int = 30) -> str:
    return df.head(n).to_html(index=False, float_format=lambda v: f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}",
                              border=0)


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
        self.chart.value = svg_waterfall(steps, title=f"{row['id']} {row['name']}: raw forecast -> adjusted -> target")
        over = [f"{k}={v:.2f}" for k, v in sorted(self.overrides.items())] + \
               [f"team {k}={v:.2f}" for k, v in sorted(self.team_overrides.items())]
        t = self.rollup.totals()
        self.note.value = (f"<b>{self.month.value}</b>: raw {_cny(t['raw_cny'])}, adjusted {_cny(t['adjusted_cny'])}, "
                           f"target {_cny(t['target_cny'])}, gap {_cny(t['gap_cny'])}. "
                           f"Overrides: {', '.join(over) if over else 'none'}.")

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
                lab = w.HTML(f"history {hist:.2f} ({int(r.indices.iloc[c]['history_months'])} months); "
                             f"forecast {_cny(ch['own_forecast_cny'])}"
                             + (" <b>overridden</b>" if pid in self.overrides else ""))
                s.observe(lambda ch_, pid=pid, lab=lab, hist=hist: self._set(pid, ch_["new"], False, lab, hist),
                          names="value")
            else:
                s = w.FloatSlider(value=float(ch["team_index"]), min=0.0, max=2.0, step=0.05, description=pid,
                                  continuous_update=False, readout_format=".2f")
                lab = w.HTML(f"team index on {html.escape(str(ch['name']))}'s adjusted {_cny(ch['team_adjusted_cny'])}"
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
            text = (f"<p><b>{html.escape(rep)}</b>: results {_cny(s['result_cny'])} over {int(s['months'])} months, "
                    f"pay {_cny(s['pay_cny'])} (effective {s['effective_rate']:.1%}); the same total in even months "
                    f"would pay {_cny(s['even_pay_cny'])}. Next month's rate: {s['next_rate']:.0%} "
                    f"({s['next_rate_tier']}).</p>")
        self.pay_box.value = (text + svg_results(pay, self.pay_rules) +
                              _table(pay[[T.MONTH, "result_cny", "tier", "rate_tier", "rate", "pay_cny"]], 24))

    def refresh(self, *_):
        self.recompute()
        self.build_sliders()
        self.refresh_gap()
        self.refresh_pay()


def _largest_gap(r: T.Rollup, ids: list[str]) -> str:
    """Of ``ids``, the one whose team is furthest below target (the first on ties)."""
    gap = r.nodes.set_index("id")["target_cny"] - r.nodes.set_index("id")["adjusted_cny"]
    return max(ids, key=lambda i: (float(gap.get(i, 0.0)), -ids.index(i)))


def _default_focus(r: T.Rollup) -> str:
    """The supervisor whose team is furthest below target (else the top of the tree)."""
    nd = r.nodes
    sup = [str(i) for i in nd.loc[nd["height"] == 1, "id"]]
    return _largest_gap(r, sup) if sup else str(nd.iloc[r.org.root]["id"])


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
    months = tdata.forecast_months
    month_dd = w.Dropdown(options=months, value=T.check_month(month) if month else months[-1], description="Month")
    r0 = T.rollup(tdata, month_dd.value)
    managers = [(f"{i} {n} ({lv})", i) for i, n, lv, h in zip(r0.nodes["id"], r0.nodes["name"],
                                                               r0.nodes[T.ROLLUP_LEVEL], r0.nodes["height"]) if h > 0]
    focus = w.Dropdown(options=managers, value=_default_focus(r0), description="Focus",
                       layout=w.Layout(width="480px"))
    split = T.split_nodes(r0)
    gap_node = w.Dropdown(options=managers, value=_largest_gap(r0, split) if split else managers[0][1],
                          description="Manager", layout=w.Layout(width="480px"))
    gap_months = widget(T.GapOptions, "months", options=gap_options or T.GapOptions())
    past = tdata.actuals[tdata.actuals[T.MONTH] < month_dd.value]
    flags = T.hoarding_flags(past, tdata.people.set_index("id")["manager"])
    flagged = set(flags.loc[flags["flagged"], T.PERSON]) if len(flags) else set()
    reps = sorted(set(past[T.PERSON]), key=lambda p: (p not in flagged, p))
    pay_rep = w.Dropdown(options=[(f"{p} (flagged)" if p in flagged else p, p) for p in reps], description="Rep")
    tree, chart, note, gap_box, pay_box = w.HTML(), w.HTML(), w.HTML(), w.HTML(), w.HTML()
    hoard_box = w.HTML("<h4>Possible hoarding</h4>" + (
        _table(flags.loc[flags["flagged"], [T.PERSON, "team", "months", "mean_cny", "dispersion", "team_dispersion",
                                            "reason"]]) if flagged else "<i>none flagged</i>") +
        f"<p style='color:#666'>{html.escape(' '.join((T.HoardingRules.__doc__ or '').split()))}</p>")
    sliders = w.VBox()
    reset = w.Button(description="Clear overrides", icon="undo")
    rollup_tab = w.VBox([w.HBox([month_dd, focus]), note, chart,
                         w.HTML("<b>Confidence indices of the focus's reports</b> (a rep's index, or a team index on "
                                "a manager's whole team)"), sliders, reset, tree])
    terr_box = w.HTML()
    if tdata.territories is not None:
        terr = T.territory_targets(tdata.territories)
        terr_box.value = ("<h4>Territories and new cities: potential x ramp stage</h4>" + _table(
            terr[["id", "name", "market_stage", "potential_cny", "ramp_multiplier", "target_cny"]]) +
            "<p style='color:#666'>Monthly target = monthly potential x the stage's multiplier (sowing 0.10, "
            "cultivating 0.25, growing 0.50, harvesting 0.80).</p>")
    gap_tab = w.VBox([w.HBox([gap_node, gap_months]), gap_box, terr_box])
    pay_tab = w.VBox([pay_rep, pay_box, hoard_box])
    tabs = w.Tab(children=[rollup_tab, gap_tab, pay_tab], titles=("Roll-up", "Eating the elephant", "Pay"))
    rej = rejected_html(tables)
    if rej:
        tabs = w.VBox([tabs, w.HTML(rej)])
    app = TargetsApp(data=tdata, widget=tabs, month=month_dd, focus=focus, tree=tree, chart=chart, sliders=sliders,
                     reset=reset, note=note, gap_node=gap_node, gap_months=gap_months, gap_box=gap_box,
                     pay_rep=pay_rep, pay_box=pay_box, hoard_box=hoard_box, rollup=r0,
                     gap_options=gap_options or T.GapOptions())
    month_dd.observe(app.refresh, names="value")
    focus.observe(app.on_focus, names="value")
    reset.on_click(app.clear)
    gap_node.observe(app.refresh_gap, names="value")
    gap_months.observe(app.refresh_gap, names="value")
    pay_rep.observe(app.refresh_pay, names="value")
    app.refresh()
    return app


def source_example(months: int = 3):
    """The source's elephant (1,000,000 target, 700,000 today, 3 months, 5 groups, deals of 33,000) as a widget."""
    from dataclasses import replace

    import ipywidgets as w

    plan = T.split_gap(replace(T.SOURCE_EXAMPLE, months=months))
    return w.HTML(gap_html(plan))
