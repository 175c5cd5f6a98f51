"""Notebook controls derived from the options dataclasses (``planner.options``).

``widget(Cls, name)`` makes the control of one option with the dataclass's
default as its initial value and the option's range as its limits;
``options_from(base, {name: widget})`` reads the controls back into options.
The ``planner`` command derives its flags from the same fields, so a notebook
and a command left at their defaults plan the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.app.ui.tables import tr, unit_text
from planner.options import OptionSpec, clock_text, parse_clock, spec

STYLE = {"description_width": "initial"}  # the label at its own width: never truncated
# Chinese labels of the options with a control (the option's own ``label_zh`` wins when set)
OPTION_ZH = {
    "k": "基地数", "capacitated": "考虑工位容量", "desks": "每基地工位", "min_team": "最少人数",
    "weight": "权重", "time_limit_s": "时限", "tolerance": "工作量偏差", "potential_tolerance": "潜力偏差",
    "include_pool": "公海客户也分配", "day_start_min": "出发", "day_end_min": "返回", "lunch_min": "午餐",
    "visits_per_day": "每日拜访", "pool_radius_m": "公海半径", "rides": "陪访",
    "ride_days_per_rep": "每位新人陪访天数", "horizon_q": "季度数", "max_openings_per_q": "每季开城",
    "budget_cny": "预算", "market": "权重 市场", "travel": "权重 路程", "management": "权重 管理",
    "sales": "权重 销售", "far_m": "远离客户", "min_visit_min": "最短拜访", "max_speed_kmh": "最高车速",
    "months": "月数", "max_moves": "最多调整", "pool_return_days": "未拜访天数",
}
UNIT_KEYS = {"s": "s", "min": "min", "km": "km", "m": "m", "CNY": "cny", "days": "days"}


def label(cls: type, name: str) -> str:
    """The control's label in the UI language, with its unit."""
    s = spec(cls, name)
    en = s.info.label or name.replace("_", " ")
    zh = s.info.label_zh or OPTION_ZH.get(name, "")
    unit = s.info.unit
    return tr(zh, en) + (f" ({unit_text(UNIT_KEYS.get(unit, unit))})" if unit else "")


def _shown(s: OptionSpec, value: Any) -> Any:
    if value is None:
        return s.info.none_is
    if s.info.clock:
        return clock_text(int(value))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return value / s.info.scale


def widget(cls: type, name: str, *, value: Any = None, options: Any = None, **kw: Any) -> Any:
    """The control of option ``name`` of ``cls``: initial value from ``options`` (an instance) or the default."""
    import ipywidgets as w

    s = spec(cls, name)
    v = getattr(options, name) if options is not None else (value if value is not None else s.default)
    shown = _shown(s, v)
    desc = label(cls, name)
    common: dict[str, Any] = {"description": desc, "style": STYLE, "tooltip": s.info.doc}
    base = s.base_type
    if base is not bool:  # wide enough for the bilingual label and a usable track
        common["layout"] = w.Layout(width="400px", max_width="100%")
    common.update(kw)
    if base is bool:
        return w.Checkbox(value=bool(shown), indent=False, **common)
    if s.info.choices:
        return w.Dropdown(options=list(s.info.choices), value=shown, **common)
    if s.info.clock:
        return w.Text(value=str(shown), continuous_update=False, **common)
    lo = s.info.min if s.info.min is not None else (s.info.above or 0)
    hi = s.info.max if s.info.max is not None else s.info.ui_max
    if s.info.ui_max is not None and (hi is None or s.info.ui_max < hi):
        hi = s.info.ui_max
    lo_shown = lo / s.info.scale if lo is not None else 0
    hi_shown = hi if hi is None or s.info.ui_max is not None else hi / s.info.scale
    if base is int:
        if hi_shown is None:
            return w.BoundedIntText(value=int(shown), min=int(lo_shown), max=10**9, continuous_update=False,
                                    **common)
        return w.IntSlider(value=int(shown), min=int(lo_shown), max=int(max(hi_shown, shown)),
                           step=int(s.info.step or 1), continuous_update=False, **common)
    if base is float:
        step = s.info.step or (0.01 if (hi_shown or 1) <= 1 else 1.0)
        lo_f = max(float(lo_shown), step if s.info.above is not None and s.info.above >= lo_shown else lo_shown)
        if hi_shown is None:
            return w.BoundedFloatText(value=float(shown), min=lo_f, max=1e12, step=step, continuous_update=False,
                                      **common)
        fmt = ".0%" if s.info.percent else (".2f" if step < 1 else ".0f")
        return w.FloatSlider(value=float(shown), min=lo_f, max=float(max(hi_shown, shown)), step=step,
                             readout_format=fmt, continuous_update=False, **common)
    raise TypeError(f"{cls.__name__}.{name}: no notebook control for a {base!r} option")


def value_of(cls: type, name: str, control: Any) -> Any:
    """The option value a control holds (unscaled, clock parsed, the 'off' value as None)."""
    s = spec(cls, name)
    v = control.value
    if s.info.clock:
        return parse_clock(v, what=s.info.label or name)
    if s.base_type is bool:
        return bool(v)
    if s.info.none_is is not None and v == s.info.none_is:
        return None
    if isinstance(v, (int, float)) and s.info.scale != 1.0:
        v = v * s.info.scale
        return int(round(v)) if s.base_type is int else float(v)
    if s.base_type is int:
        return int(v)
    if s.base_type is float:
        return float(v)
    return v


def options_from(base: Any, controls: Mapping[str, Any], /, **overrides: Any) -> Any:
    """``base`` with every option named in ``controls`` read from its control, then ``overrides``."""
    cls = type(base)
    values = {name: value_of(cls, name, c) for name, c in controls.items()}
    values.update(overrides)
    return base.replace(**values)
