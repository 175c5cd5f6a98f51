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

from planner.options import OptionSpec, clock_text, parse_clock, spec

STYLE = {"description_width": "140px"}


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
    desc = s.info.label or name.replace("_", " ")
    common: dict[str, Any] = {"description": desc, "style": STYLE, "tooltip": s.info.doc}
    common.update(kw)
    base = s.base_type
    if base is bool:
        return w.Checkbox(value=bool(shown), indent=False, **common)
    if s.info.choices:
        return w.Dropdown(options=list(s.info.choices), value=shown, **common)
    if s.info.clock:
        return w.Text(value=str(shown), **common)
    lo = s.info.min if s.info.min is not None else (s.info.above or 0)
    hi = s.info.max if s.info.max is not None else s.info.ui_max
    if s.info.ui_max is not None and (hi is None or s.info.ui_max < hi):
        hi = s.info.ui_max
    lo_shown = lo / s.info.scale if lo is not None else 0
    hi_shown = hi if hi is None or s.info.ui_max is not None else hi / s.info.scale
    if base is int:
        if hi_shown is None:
            return w.BoundedIntText(value=int(shown), min=int(lo_shown), max=10**9, **common)
        return w.IntSlider(value=int(shown), min=int(lo_shown), max=int(max(hi_shown, shown)),
                           step=int(s.info.step or 1), continuous_update=False, **common)
    if base is float:
        step = s.info.step or (0.01 if (hi_shown or 1) <= 1 else 1.0)
        lo_f = max(float(lo_shown), step if s.info.above is not None and s.info.above >= lo_shown else lo_shown)
        if hi_shown is None:
            return w.BoundedFloatText(value=float(shown), min=lo_f, max=1e12, step=step, **common)
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
