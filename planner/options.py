"""Options dataclasses: defaults written once, validated once, read by the CLI and the notebooks.

Each job's options are a frozen, keyword-only dataclass deriving from
:class:`Options`. A field declared with :func:`option` carries its
documentation, its label, its unit and its valid range; ``Options`` checks
every range at construction and raises one :class:`~planner.errors.InputError`
listing every bad setting (plus the class's own cross-field checks from
:meth:`Options.problems`). The ``planner`` command derives its flags from the
fields (``planner.app.cli.options``) and the notebook apps their controls'
initial values and ranges (``planner.app.ui.options``), so the defaults cannot
drift apart between the two.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass
from typing import Any, ClassVar

from planner.errors import InputError


@dataclass(frozen=True)
class OptionInfo:
    """What the CLI and the notebook need to know about one option field."""

    doc: str
    label: str = ""
    label_zh: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    above: float | None = None  # strict lower bound (value must be > above)
    step: float | None = None
    ui_max: float | None = None  # a slider's end where the option itself has no maximum
    choices: tuple[Any, ...] = ()
    flag: str | None = None  # CLI flag; default --name-with-dashes
    scale: float = 1.0  # field value = shown value x scale (e.g. km shown, metres stored)
    none_is: float | None = None  # the shown value that means None (e.g. 0 = rule off)
    percent: bool = False  # a fraction that may be typed as "10%"
    clock: bool = False  # minutes after midnight, shown and typed as HH:MM
    pairs: bool = False  # a tuple of (a, b) pairs typed as "A=B"
    cli: bool = True
    ui: bool = True


def option(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, doc: str, label: str = "",
           label_zh: str = "", unit: str = "", min: float | None = None, max: float | None = None,
           above: float | None = None, step: float | None = None, ui_max: float | None = None,
           choices: Sequence[Any] = (), flag: str | None = None, scale: float = 1.0,
           none_is: float | None = None, percent: bool = False, clock: bool = False, pairs: bool = False,
           cli: bool = True, ui: bool = True) -> Any:
    """A dataclass field with its documentation, range and how it is shown (see :class:`OptionInfo`)."""
    info = OptionInfo(doc=doc, label=label, label_zh=label_zh, unit=unit, min=min, max=max, above=above, step=step,
                      ui_max=ui_max, choices=tuple(choices), flag=flag, scale=scale, none_is=none_is,
                      percent=percent, clock=clock, pairs=pairs, cli=cli, ui=ui)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"option": info})
    return dataclasses.field(default=default, metadata={"option": info})


@dataclass(frozen=True)
class OptionSpec:
    """One option of an options class: name, resolved type, default and its :class:`OptionInfo`."""

    name: str
    type: Any
    default: Any
    info: OptionInfo

    @property
    def optional(self) -> bool:
        """True when the field accepts None."""
        return type(None) in typing.get_args(self.type)

    @property
    def base_type(self) -> Any:
        """The type without ``| None``."""
        args = [a for a in typing.get_args(self.type) if a is not type(None)]
        if typing.get_origin(self.type) in (typing.Union, __import__("types").UnionType) and args:
            return args[0]
        return self.type

    @property
    def label(self) -> str:
        return self.info.label or self.name.replace("_", " ")


def specs(cls: type) -> list[OptionSpec]:
    """The fields of ``cls`` declared with :func:`option`, in order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = f.metadata.get("option")
        if info is None:
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        out.append(OptionSpec(f.name, hints[f.name], default, info))
    return out


def spec(cls: type, name: str) -> OptionSpec:
    for s in specs(cls):
        if s.name == name:
            return s
    raise KeyError(f"{cls.__name__} has no option {name!r}")


def default(cls: type, name: str) -> Any:
    """The default of option ``name`` of ``cls``."""
    return spec(cls, name).default


def clock_text(minutes: int) -> str:
    """Minutes after midnight as ``HH:MM``."""
    return f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d}"


def parse_clock(text: str, *, what: str = "time") -> int:
    """``HH:MM`` (or ``H:MM``, ``HH.MM``) as minutes after midnight; ``InputError`` otherwise."""
    t = str(text).strip().replace(".", ":").replace("：", ":")
    try:
        h, m = t.split(":")
        hh, mm = int(h), int(m)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a time HH:MM") from None
    if not (0 <= hh <= 24 and 0 <= mm < 60 and hh * 60 + mm <= 24 * 60):
        raise InputError(f"{what}: {text!r} is not a time of day")
    return hh * 60 + mm


def options_dict(obj: Any) -> dict[str, Any]:
    """Every option of ``obj`` as JSON-able data (for ``summary.json``): sets sorted, mappings as dicts."""
    out: dict[str, Any] = {}
    for s in specs(type(obj)):
        v = getattr(obj, s.name)
        if isinstance(v, (frozenset, set)):
            v = sorted(v)
        elif isinstance(v, tuple):
            v = [list(x) if isinstance(x, tuple) else x for x in v]
        elif isinstance(v, Mapping):
            v = dict(v)
        out[s.name] = v
    return out


def range_problems(obj: Any) -> list[str]:
    """Every field value of ``obj`` outside its declared range or choices, as sentences."""
    problems = []
    for s in specs(type(obj)):
        v = getattr(obj, s.name)
        if v is None:
            if not s.optional:
                problems.append(f"{s.name} must be given")
            continue
        what = s.name
        if s.info.choices and v not in s.info.choices:
            problems.append(f"{what} must be one of {', '.join(map(str, s.info.choices))}, got {v!r}")
        base = s.base_type
        if base is bool:
            if not isinstance(v, bool):
                problems.append(f"{what} must be true or false, got {v!r}")
            continue
        if base is int and (isinstance(v, bool) or not isinstance(v, numbers.Integral)):
            problems.append(f"{what} must be a whole number, got {v!r}")
            continue
        if base is float and (isinstance(v, bool) or not isinstance(v, numbers.Real)):
            problems.append(f"{what} must be a number, got {v!r}")
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            continue
        fv = float(v)
        if not math.isfinite(fv):
            problems.append(f"{what} must be a finite number, got {v!r}")
            continue
        unit = f" {s.info.unit}" if s.info.unit else ""
        if s.info.above is not None and not fv > s.info.above:
            problems.append(f"{what} must be > {s.info.above:g}{unit}, got {fv:g}")
        if s.info.min is not None and fv < s.info.min:
            problems.append(f"{what} must be >= {s.info.min:g}{unit}, got {fv:g}")
        if s.info.max is not None and fv > s.info.max:
            problems.append(f"{what} must be <= {s.info.max:g}{unit}, got {fv:g}")
    return problems


class Options:
    """Base of the options dataclasses: ranges and the class's own checks at construction.

    Subclasses are ``@dataclass(frozen=True, kw_only=True)`` and may add
    cross-field checks by overriding :meth:`problems`.
    """

    what: ClassVar[str] = ""

    def __post_init__(self) -> None:
        problems = range_problems(self)
        if not problems:  # cross-field checks assume each field is in range
            problems = self.problems()
        if problems:
            raise InputError(problems, what=self.what or type(self).__name__)

    def problems(self) -> list[str]:
        """Cross-field checks: override to add sentences naming the options and the remedy."""
        return []

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
