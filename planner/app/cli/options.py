"""argparse flags derived from the options dataclasses (``planner.options``).

``add_options(parser, Cls)`` adds one flag per option field (its default,
range and documentation from the field), ``options_from_args(Cls, args)``
builds the options back from the parsed flags. The defaults are the
dataclass's, so the command and the notebook apps cannot disagree.
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from planner.errors import InputError
from planner.options import OptionSpec, clock_text, parse_clock, specs


def dest(cls: type, name: str) -> str:
    """The argparse destination of option ``name`` of ``cls`` (unique across classes on one parser)."""
    return f"{cls.__name__}__{name}"


def flag(s: OptionSpec) -> str:
    return s.info.flag or "--" + s.name.replace("_", "-")


def fraction(text: str) -> float:
    """``0.1`` or ``10%``."""
    t = str(text).strip()
    try:
        return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction or percentage: {text!r}") from None


def pair(text: str) -> tuple[str, str]:
    """``A=B`` -> ("A", "B")."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not A=B (e.g. C007=350500)")
    a, b = text.split("=", 1)
    return a.strip(), b.strip()


def mapping(text: str) -> dict[str, float]:
    """``new=4,follow-up=2`` -> {"new": 4, "follow-up": 2}."""
    out: dict[str, float] = {}
    for part in str(text).split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise argparse.ArgumentTypeError(f"{part!r} is not key=value (e.g. new=4,follow-up=2,closing=2)")
        k, v = part.split("=", 1)
        try:
            num = float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: {v!r} is not a number") from None
        out[k.strip()] = int(num) if num.is_integer() else num
    return out


def clock(text: str) -> int:
    try:
        return parse_clock(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shown(s: OptionSpec) -> Any:
    v = s.default
    if s.info.clock and isinstance(v, int):
        return clock_text(v)
    if isinstance(v, Mapping):
        return ",".join(f"{k}={x:g}" for k, x in v.items())
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return v
    shown = v / s.info.scale
    return int(shown) if float(shown).is_integer() and isinstance(v, int) else shown


def _help(s: OptionSpec) -> str:
    d = _shown(s)
    if isinstance(d, (tuple, frozenset, list)) and not d:
        dtext = "none"
    elif d is None:
        dtext = "none" if s.info.none_is is None else f"{s.info.none_is:g} (off)"
    else:
        dtext = f"{d}{' ' + s.info.unit if s.info.unit else ''}"
    text = s.info.doc if "default" in s.info.doc and d is None else f"{s.info.doc} (default {dtext})"
    if s.info.none_is is not None and d is not None:
        text += f"; {s.info.none_is:g} = off"
    return text.replace("%", "%%")


def add_options(parser: argparse.ArgumentParser, cls: type, *, only: Iterable[str] | None = None,
                skip: Iterable[str] = (), required: Iterable[str] = ()) -> None:
    """One flag per CLI option of ``cls`` (``only``/``skip`` select; ``required`` have no default)."""
    keep = set(only) if only is not None else None
    skip_set, req = set(skip), set(required)
    for s in specs(cls):
        if not s.info.cli or s.name in skip_set or (keep is not None and s.name not in keep):
            continue
        kw: dict[str, Any] = {"dest": dest(cls, s.name), "help": _help(s)}
        base = s.base_type
        origin = typing.get_origin(base)
        if base is bool:
            kw["action"] = argparse.BooleanOptionalAction
            kw["default"] = s.default
        elif origin in (dict, Mapping, typing.Mapping) or base in (dict,):
            kw["type"] = mapping
            kw["default"] = None
            kw["metavar"] = "KEY=N,..."
        elif origin in (tuple, frozenset, list, set):
            kw["action"] = "append"
            kw["default"] = None
            kw["type"] = pair if s.info.pairs else str
            kw["metavar"] = "A=B" if s.info.pairs else "ID"
            kw["help"] = kw["help"].replace("(default", "(repeatable; default", 1)
        else:
            if s.info.clock:
                kw["type"] = clock
                kw["metavar"] = "HH:MM"
            elif s.info.percent:
                kw["type"] = fraction
            elif base in (int, float):
                kw["type"] = base if s.info.scale == 1.0 else float
            else:
                kw["type"] = str
            if s.info.choices:
                kw["choices"] = list(s.info.choices)
            elif "metavar" not in kw:
                kw["metavar"] = (s.info.unit.upper() if s.info.unit and s.info.unit.isascii() else
                                 "N" if base is int and s.info.scale == 1.0 else "X" if base in (int, float)
                                 else "TEXT")
            if s.name in req:
                kw["required"] = True
            else:
                kw["default"] = None  # None: the dataclass's default (shown in the help)
        parser.add_argument(flag(s), **kw)


def options_from_args(cls: type, args: argparse.Namespace, /, **overrides: Any) -> Any:
    """``cls(**values)`` from the flags ``add_options`` added (flags left out keep the defaults)."""
    values: dict[str, Any] = {}
    for s in specs(cls):
        d = dest(cls, s.name)
        if not s.info.cli or not hasattr(args, d):
            continue
        v = getattr(args, d)
        if v is None:
            continue
        origin = typing.get_origin(s.base_type)
        if isinstance(v, dict) and isinstance(s.default, Mapping):
            v = {**s.default, **v}
        elif origin in (tuple, frozenset, list, set):
            v = frozenset(v) if origin is frozenset else tuple(v)
        elif s.base_type is not bool and not s.info.clock and isinstance(v, (int, float)):
            if s.info.none_is is not None and v == s.info.none_is:
                v = None
            elif s.info.scale != 1.0:
                v = v * s.info.scale
                if s.base_type is int:
                    v = int(round(v))
        values[s.name] = v
    values.update(overrides)
    try:
        return cls(**values)
    except InputError as exc:  # name the flag the user typed
        flags = {s.name: flag(s) for s in specs(cls) if s.info.cli}
        problems = []
        for p in exc.problems:
            name = next((n for n in sorted(flags, key=len, reverse=True) if p.startswith((n + " ", n + ":"))),
                        None)
            problems.append(f"{flags[name]}: {p}" if name else p)
        raise InputError(problems, what=exc.what) from None
