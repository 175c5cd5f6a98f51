"""Tables and words for people: one language switch, headers in words with units, numbers formatted.

Every app shows its tables through :func:`table_html` (and its solver reports through :func:`report_html`):

- **one language switch** for the whole UI: ``set_language("zh" | "en" | "both")`` (default ``"both"``:
  中文 then English). The setting lives in the environment variable ``PLANNER_UI_LANGUAGE``, so it can
  also be set before Jupyter starts; apps built after the call use it (tables re-drawn after it, too).
- **headers in words with their unit** (``平均路程 mean travel (min)``) from :data:`COLUMNS`; a column the
  catalogue does not know keeps its name with the underscores as spaces.
- **numbers for people**: shares as percentages, thousands separators, sensible decimals, "–" for none.
- **names before codes**: :func:`place_name` turns an adcode into its name (admin units of ``planner.geo``).
- **never wider than the panel**: each table sits in a box with ``max-width:100%; overflow-x:auto``.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

LANGUAGES = ("zh", "en", "both")
LANGUAGE_ENV = "PLANNER_UI_LANGUAGE"
SCROLL = "max-width:100%;overflow-x:auto"
# the CSS every app page carries once (in its progress row): tables, greyed results while a solve runs
STYLE = ("<style>.planner-table{border-collapse:collapse;font-size:12px;margin:2px 0}"
         ".planner-table th{background:#f3f3f3;text-align:left;padding:3px 8px;vertical-align:bottom;"
         "white-space:normal}.planner-table td{padding:2px 8px;border-top:1px solid #eee;vertical-align:top}"
         ".planner-busy{opacity:0.35;pointer-events:none;transition:opacity 0.2s}"
         # tab titles at their own width (ipywidgets cuts them at 144px)
         ".jupyter-widget-tab>.lm-TabBar .lm-TabBar-tab,.widget-tab>.p-TabBar .p-TabBar-tab"
         "{flex:0 0 auto!important;max-width:none!important}</style>")
UNITS = {"min": ("分钟", "min"), "h": ("小时", "h"), "cny": ("元", "CNY"), "cny_m": ("百万元", "CNY m"),
         "km": ("公里", "km"), "m": ("米", "m"), "days": ("天", "days"), "pct": ("%", "%"), "s": ("秒", "s")}
# kind -> (unit key or "", how the value is written); see ``fmt``
KINDS = {"text": ("", "text"), "int": ("", "int"), "num": ("", "num"), "num1": ("", "num1"),
         "num2": ("", "num2"), "pct": ("pct", "pct"), "pct100": ("pct", "pct100"), "cny": ("cny", "int"),
         "cny_m": ("cny_m", "num1"), "min": ("min", "int"), "min1": ("min", "num1"), "h": ("h", "num1"),
         "km": ("km", "num1"), "m": ("m", "int"), "days": ("days", "int"), "ratio": ("", "ratio"),
         "score": ("", "num1"), "bool": ("", "bool"), "s": ("s", "num1"), "coord": ("", "coord")}
# column (or KPI) name -> (中文, English, kind)
COLUMNS: dict[str, tuple[str, str, str]] = {
    # places and people
    "id": ("编号", "id", "text"), "name": ("名称", "name", "text"), "city": ("城市", "city", "text"),
    "prefecture": ("地级市", "prefecture", "text"), "county": ("区县", "county", "text"),
    "prefecture_adcode": ("地级市代码", "prefecture code", "text"),
    "county_adcode": ("区县代码", "county code", "text"),
    "adcode": ("行政代码", "adcode", "text"), "place": ("所在地", "where", "text"),
    "rep": ("销售", "rep", "text"), "owner": ("负责人", "owner", "text"), "person": ("人员", "person", "text"),
    "level": ("职级", "level", "text"), "role": ("角色", "role", "text"), "team": ("团队", "team", "text"),
    "supervisor": ("主管", "supervisor", "text"), "manager": ("经理", "manager", "text"),
    "account": ("客户", "account", "text"), "territory": ("片区", "territory", "text"),
    "reason": ("原因", "reason", "text"), "reasons": ("原因", "reasons", "text"),
    "reason_code": ("原因代码", "reason code", "text"), "status": ("状态", "status", "text"),
    "kind": ("类型", "kind", "text"), "visit": ("拜访", "visit", "text"), "class": ("等级", "class", "text"),
    "account_class": ("客户等级", "class", "text"), "A": ("A类", "A", "int"), "B": ("B类", "B", "int"),
    "C": ("C类", "C", "int"), "label": ("季度", "quarter", "text"), "month": ("月份", "month", "text"),
    "date": ("日期", "date", "text"), "day": ("星期", "day", "text"), "week": ("周", "week of", "text"),
    "from": ("现在城市", "now in", "text"), "density_source": ("密度来源", "density from", "text"),
    "limited_by": ("短板", "limited by", "text"), "candidate_for": ("候选给", "candidate for", "text"),
    "ride_along": ("陪访", "ride-along", "text"), "ride_step": ("陪访步骤", "ride-along step", "text"),
    "tier": ("档位", "tier", "text"), "rate_tier": ("费率档", "rate tier", "text"),
    "market_stage": ("市场阶段", "market stage", "text"), "willing": ("愿意调动", "willing to move", "bool"),
    "locked": ("锁定", "locked", "int"), "appointment": ("预约", "appointment", "bool"),
    "mix_met": ("结构达标", "mix met", "bool"), "flagged_bool": ("标记", "flagged", "bool"),
    "cluster": ("集群", "cluster", "int"), "main_county": ("主要区县", "main county", "text"),
    "main_prefecture": ("主要地级市", "main prefecture", "text"), "lon": ("经度", "longitude", "coord"),
    "lat": ("纬度", "latitude", "coord"), "k": ("基地数", "bases (k)", "text"), "bases": ("基地", "bases", "text"),
    "industry": ("行业", "industry", "text"), "stage": ("阶段", "stage", "text"),
    # counts
    "accounts": ("客户数", "accounts", "int"), "reps": ("销售人数", "reps", "int"), "desks": ("工位", "desks", "int"),
    "visits": ("拜访数", "visits", "int"), "new": ("陌拜", "new", "int"), "follow-up": ("跟进", "follow-ups", "int"),
    "closing": ("签约", "closings", "int"), "groups": ("主管组", "supervisor groups", "int"),
    "people": ("人数", "people", "int"), "capacity": ("产能", "capacity", "int"), "seq": ("顺序", "#", "int"),
    "moved_in": ("调入", "moved in", "int"), "moved_out": ("调出", "moved out", "int"),
    "assigned": ("已分配客户", "accounts assigned", "int"), "pool": ("公海客户", "pool accounts", "int"),
    "moved": ("调整客户", "accounts moved", "int"), "pool_returns": ("退回公海", "back to the pool", "int"),
    "flagged": ("异常", "flagged", "int"), "flags": ("异常数", "flags", "int"),
    "visits_flagged": ("异常拜访", "visits flagged", "int"), "months": ("月数", "months", "int"),
    "quarter": ("季度", "quarter", "int"), "appointments_booked": ("已约", "appointments booked", "int"),
    "appointments_kept": ("守约", "appointments kept", "int"), "standard_3_5_8": ("3-5-8", "3-5-8", "text"),
    "prize": ("价值分", "value points", "int"), "weight": ("权重", "weight", "num"),
    # time and distance
    "mean_time_min": ("平均路程", "mean travel", "min"), "p90_time_min": ("90分位路程", "90th pct travel", "min"),
    "travel_min": ("路程", "travel", "min"), "travel_min_mean": ("平均路程", "mean travel", "min"),
    "mean_travel_min": ("平均路程", "mean travel", "min"), "travel_share": ("路途占比", "travel share", "pct"),
    "share_within_30_min": ("30分钟内客户", "accounts within 30 min", "pct"),
    "share_within_60_min": ("60分钟内客户", "accounts within 60 min", "pct"),
    "share_within_90_min": ("90分钟内客户", "accounts within 90 min", "pct"),
    "visits_per_rep_day": ("人均日拜访", "visits per rep-day", "num1"),
    "workload_h": ("工作量", "workload", "h"), "target_workload_h": ("目标工作量", "target workload", "h"),
    "workload_h_total": ("总工作量", "total workload", "h"),
    "workload_ratio": ("工作量/目标", "workload / target", "ratio"),
    "potential_ratio": ("潜力/目标", "potential / target", "ratio"),
    "workload_max_over_min": ("工作量最多/最少", "workload, most / least", "ratio"),
    "accounts_max_over_min": ("客户数最多/最少", "accounts, most / least", "ratio"),
    "moved_potential_cny": ("调整潜力", "potential moved", "cny"),
    "knn_same": ("5 近邻同片区", "5 nearest in the same territory", "pct"),
    "hull_overlap": ("凸包重叠", "hull overlap (1 = none)", "num2"),
    "dispersion_km": ("离散度", "dispersion", "km"),
    "effective_date": ("生效日期", "effective date", "text"), "compactness": ("紧凑度按", "compact around", "text"),
    "potential_max_over_min": ("潜力最多/最少", "potential, most / least", "ratio"),
    "seconds": ("用时", "time taken", "s"), "arrive": ("到达", "arrive", "text"), "start": ("开始", "start", "text"),
    "leave": ("离开", "leave", "text"), "return": ("返回", "back", "text"), "end": ("结束", "end", "text"),
    "departure": ("离开", "leave", "text"), "due_date": ("应访日", "due", "text"),
    "planned_on": ("安排在", "planned on", "text"), "time": ("时间", "time", "text"),
    # money
    "potential_cny": ("潜力", "potential", "cny"), "target_potential_cny": ("目标潜力", "target potential", "cny"),
    "revenue_cny": ("收入", "revenue", "cny"), "relocation_cny": ("调动费用", "relocation", "cny"),
    "mean_cny": ("月均业绩", "mean a month", "cny"), "result_cny": ("业绩", "result", "cny"),
    "pay_cny": ("提成", "pay", "cny"), "target_cny": ("目标", "target", "cny"),
    "budget_cny": ("预算", "budget", "cny"), "cumulative_cny": ("累计净额", "cumulative net", "cny"),
    # shares, ratios and scores
    "share": ("占比", "share", "pct"), "share_flagged": ("异常占比", "share flagged", "pct"),
    "rate": ("提成比例", "pay rate", "pct"), "dispersion": ("离散度", "dispersion", "num2"),
    "team_dispersion": ("团队离散度", "team dispersion", "num2"),
    "ramp_multiplier": ("爬坡系数", "ramp multiplier", "num2"),
    "market_density": ("市场", "market 0-100", "score"), "travel_score": ("路程", "travel 0-100", "score"),
    "management_readiness": ("管理", "management 0-100", "score"), "sales_density": ("销售", "sales 0-100", "score"),
    "score": ("得分", "score 0-100", "score"), "review_score": ("考评分", "review score", "num1"),
    "match_score": ("匹配分", "match score", "num2"),
    # audit reasons (counts per rep)
    "far_from_account": ("远离客户", "far", "int"), "impossible_speed": ("速度异常", "speed", "int"),
    "overlap": ("时间重叠", "overlap", "int"), "call_as_visit": ("电话充拜访", "call", "int"),
    "outside_hours": ("非工作时间", "hours", "int"), "same_spot": ("同一地点", "same spot", "int"),
    "role_mismatch": ("职务不符", "role", "int"),
    # KPI tables' columns
    "kpi": ("指标", "measure", "text"), "today": ("现在", "today", "text"), "plan": ("方案", "plan", "text"),
}


# --- the language switch ------------------------------------------------------------------------

def set_language(lang: str) -> None:
    """The language of every app built from now on: ``"zh"`` (中文), ``"en"`` (English) or ``"both"``."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    os.environ[LANGUAGE_ENV] = lang


def language() -> str:
    """The UI language (``"both"`` unless :func:`set_language` or ``PLANNER_UI_LANGUAGE`` say otherwise)."""
    lang = os.environ.get(LANGUAGE_ENV, "both").strip().lower()
    return lang if lang in LANGUAGES else "both"


def tr(zh: str, en: str) -> str:
    """A label in the UI language: Chinese, English, or both (Chinese first)."""
    lang = language()
    if lang == "zh" or not en or zh == en:
        return zh or en
    if lang == "en" or not zh:
        return en
    return f"{zh} {en}"


def unit_text(unit: str) -> str:
    """A unit in the UI language (both: the short English symbol, understood in both)."""
    zh, en = UNITS.get(unit, (unit, unit))
    return zh if language() == "zh" else en


def header(name: str, spec: tuple[str, str, str] | None = None) -> str:
    """The header of a column (or the label of a KPI): words in the UI language and the unit."""
    zh, en, kind = spec or COLUMNS.get(name, ("", "", ""))
    if not (zh or en):
        return name if (" " in name or not name.isascii()) else name.replace("_", " ")
    unit = KINDS.get(kind, ("", ""))[0]
    text = tr(zh, en)
    return f"{text} ({unit_text(unit)})" if unit and unit != "pct" else text


def status_word(v: Any) -> Any:
    """A solver status (``optimal``, ``feasible``, ...) in words; anything else as it is."""
    return tr(*STATUS_WORDS[v]) if isinstance(v, str) and v in STATUS_WORDS else v


def kind_of(name: str, values: pd.Series | None = None) -> str:
    """How a column's values are written: its catalogue kind, else guessed from its name and type."""
    if name in COLUMNS:
        return COLUMNS[name][2]
    for suffix, kind in (("_cny", "cny"), ("_min", "min"), ("_h", "h"), ("_pct", "pct100"), ("_share", "pct"),
                         ("_km", "km"), ("_m", "m"), ("_s", "s")):
        if name.endswith(suffix):
            return kind
    if values is not None and pd.api.types.is_bool_dtype(values):
        return "bool"
    if values is not None and pd.api.types.is_integer_dtype(values):
        return "int"
    if values is not None and pd.api.types.is_float_dtype(values):
        return "num"
    return "text"


# --- numbers ---------------------------------------------------------------------------------------

def _missing(v: Any) -> bool:
    try:
        return v is None or v is pd.NaT or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt(v: Any, kind: str = "num") -> str:
    """One value written for people (``kind``: a key of :data:`KINDS`)."""
    if _missing(v):
        return "–"
    how = KINDS.get(kind, ("", kind))[1]
    if how == "text" or isinstance(v, str):
        return str(v)
    if how == "bool":
        return "✓" if bool(v) else ""
    x = float(v)
    if not math.isfinite(x):
        return "–"
    if how == "pct":
        return pct(x)
    if how == "pct100":
        return pct(x / 100)
    if how == "int":
        return f"{x:,.0f}"
    if how == "num1":
        return f"{x:,.1f}"
    if how in ("num2", "ratio"):
        return f"{x:,.2f}" + ("×" if how == "ratio" else "")
    if how == "coord":
        return f"{x:.4f}"
    return num(x)


def num(x: float) -> str:
    """A number with sensible decimals: whole numbers and large ones without, small ones with two."""
    if float(x).is_integer() or abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.1f}" if abs(x) >= 10 else f"{x:,.2f}"


def pct(fraction: float) -> str:
    """A fraction as a percentage: 0.168 -> 16.8%, 0.5 -> 50%."""
    p = 100 * float(fraction)
    return f"{p:.0f}%" if round(p, 1).is_integer() else f"{p:.1f}%"


def cny(v: float) -> str:
    """Money: thousands separators, no decimals."""
    return "–" if _missing(v) else f"{float(v):,.0f}"


# --- names before codes ----------------------------------------------------------------------------

def place_name(adcode: Any) -> str:
    """The name of an admin unit (中文, pinyin or both) from its adcode; the code itself when unknown."""
    from planner import geo

    code = "" if _missing(adcode) else str(adcode)
    if not code:
        return ""
    units = geo.admin_units().set_index("adcode")
    if code not in units.index:
        return code
    zh, en = str(units.at[code, "name_zh"]), str(units.at[code, "name_pinyin"])
    return tr(zh, en)


# --- tables ----------------------------------------------------------------------------------------

def _cell(text: str, numeric: bool, style: str = "") -> str:
    css = ("text-align:right;white-space:nowrap;" if numeric else "") + style
    attr = f' style="{css}"' if css else ""
    return f"<td{attr}>{html.escape(text, quote=False)}</td>"


def table_html(df: pd.DataFrame, columns: Sequence[str] | Mapping[str, Any] | None = None, *,
               rows: int | None = None, index: bool = False, row_styles: Sequence[str] | None = None,
               more: str = "") -> str:
    """``df`` as an HTML table for people: headers in words (``columns`` picks and orders the columns; a
    mapping gives a column its own ``(中文, English, kind)`` or its header text), values formatted by kind,
    every text escaped, in a box never wider than its panel. ``rows``: at most that many, with a note."""
    t = df.reset_index() if index else df
    cols = list(columns) if columns is not None else list(t.columns)
    given = dict(columns) if isinstance(columns, Mapping) else {}
    heads, kinds = [], []
    for c in cols:
        spec = given.get(c)
        if isinstance(spec, str):
            heads.append(spec)
            kinds.append(kind_of(c, t[c]))
        else:
            heads.append(header(str(c), spec))
            kinds.append(spec[2] if spec else kind_of(str(c), t[c]))
    shown = t if rows is None else t.head(rows)
    if "status" in cols:
        shown = shown.assign(status=shown["status"].map(status_word))
    body = []
    for k, rec in enumerate(shown[cols].itertuples(index=False, name=None)):
        style = row_styles[k] if row_styles is not None and k < len(row_styles) else ""
        tds = "".join(_cell(fmt(v, kd), KINDS.get(kd, ("", "text"))[1] not in ("text", "bool")
                            and not isinstance(v, str), style) for v, kd in zip(rec, kinds))
        body.append(f"<tr>{tds}</tr>")
    head = "".join(f"<th>{html.escape(h, quote=False)}</th>" for h in heads)
    note = ""
    if rows is not None and len(t) > rows:
        note = f"<p>{html.escape(tr(f'… 另有 {len(t) - rows:,} 行', f'... {len(t) - rows:,} more rows'))}{more}</p>"
    return (f'<div class="planner-scroll" style="{SCROLL}"><table class="planner-table" border="0">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>{note}")


def kpi_html(df: pd.DataFrame, key: str = "kpi", columns: Sequence[str] | Mapping[str, str] | None = None) -> str:
    """A table with one KPI a row (``key`` names it; when it is not a column, the index is the KPI): the KPI
    in words with its unit, each value written by the KPI's kind (a share as a percentage, minutes whole,
    a ratio with two decimals). ``columns`` picks the value columns (a mapping: with their headers)."""
    t = df if key in df.columns else df.rename_axis(key).reset_index()
    cols = list(columns) if columns is not None else [c for c in t.columns if c != key]
    heads = dict(columns) if isinstance(columns, Mapping) else {c: header(str(c)) for c in cols}
    rows = []
    for _, r in t.iterrows():
        name = str(r[key])
        kind = kind_of(name)
        vals = [status_word(r[c]) if name == "status" else r[c] for c in cols]
        tds = "".join(_cell(fmt(v, kind), not isinstance(v, str)) for v in vals)
        rows.append(f'<tr><th style="text-align:left;font-weight:normal">{html.escape(header(name))}</th>'
                    f"{tds}</tr>")
    head = "".join(f"<th>{html.escape(heads[c])}</th>" for c in cols)
    return (f'<div class="planner-scroll" style="{SCROLL}"><table class="planner-table" border="0">'
            f"<thead><tr><th>{html.escape(header(key))}</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def table(df: pd.DataFrame, columns: Sequence[str] | Mapping[str, Any] | None = None, *, rows: int | None = 50,
          index: bool = False) -> Any:
    """:func:`table_html` for a notebook cell: ``table(app.plan.bases)`` shows any frame for people."""
    from IPython.display import HTML

    return HTML(table_html(df, columns, rows=rows, index=index))


def details(title: str, body: str, *, open_: bool = False) -> str:
    """A collapsed section (``open_``: shown open)."""
    return f"<details{' open' if open_ else ''}><summary><b>{html.escape(title)}</b></summary>{body}</details>"


# --- solver reports --------------------------------------------------------------------------------

STATUS_WORDS = {"optimal": ("已证明最优", "proven optimal"), "feasible": ("可行方案", "a good plan, not proven best"),
                "partial": ("部分方案", "partial plan"), "infeasible": ("无可行方案", "no plan fits"),
                "time_limit_no_solution": ("时限内未找到方案", "no plan within the time limit"),
                "invalid": ("设置有误", "invalid settings")}


def report_text(report: Any) -> str:
    """How a search ended, in words: the status, how far from the best possible, the seconds, what is
    not met (plain text; the solver's own numbers are in :func:`report_html`'s details)."""
    zh, en = STATUS_WORDS.get(report.status, (report.status, report.status))
    text = tr(zh, en)
    gap = report.gap
    if report.status == "feasible" and gap is not None:
        text += " · " + tr(f"距最优至多 {pct(gap)}", f"at most {pct(gap)} from the best possible")
    text += f" · {report.seconds:,.1f} s"
    if report.violated:
        text += " · " + tr("未满足", "not met") + ": " + "; ".join(report.violated)
    elif report.status == "invalid" and report.message:
        text += f" · {report.message}"
    return text


def report_html(report: Any) -> str:
    """:func:`report_text`, escaped, with the solver's own numbers (objective, bound, message) folded away."""
    parts = []
    if report.objective is not None:
        parts.append(tr("目标函数值", "objective value") + f": {report.objective:,.0f}")
    if report.bound is not None:
        parts.append(tr("下界", "bound") + f": {report.bound:,.0f}")
    if report.solver:
        parts.append(tr("求解器", "solver") + f": {report.solver}")
    if report.message and report.status != "invalid":
        parts.append(tr("求解器信息", "solver note") + f": {report.message}")
    more = (f' <details style="display:inline"><summary style="display:inline;cursor:pointer;color:#666">'
            f"{html.escape(tr('求解详情', 'solver details'))}</summary>"
            f"<small>{html.escape('; '.join(parts))}</small></details>") if parts else ""
    return html.escape(report_text(report)) + more


def place_names(codes: pd.Series) -> pd.Series:
    """:func:`place_name` of a column of adcodes (unknown codes kept, missing ones empty)."""
    from planner import geo

    units = geo.admin_units().drop_duplicates("adcode").set_index("adcode")
    zh = codes.astype("string").fillna("").map(units["name_zh"])
    en = codes.astype("string").fillna("").map(units["name_pinyin"])
    names = [tr(str(z), str(e)) if isinstance(z, str) else ("" if _missing(c) else str(c))
             for c, z, e in zip(codes, zh, en)]
    return pd.Series(names, index=codes.index, dtype=object)


def counted(n: int, zh: str, en: str) -> str:
    """A bold count and what it counts (``<b>12</b> accounts``; both languages: English, then Chinese)."""
    lang = language()
    return f"<b>{n}</b> " + (html.escape(zh) if lang == "zh" else html.escape(en) + (
        f" {html.escape(zh)}" if lang == "both" else ""))
