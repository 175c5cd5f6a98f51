"""Writers every export uses: JSON summaries, CSV and Excel safe to open, each file written atomically.

User text is data, never code: Excel cells are written as text (never a
formula, whatever they begin with), control characters that Excel refuses
are dropped, CSV text cells that would start a formula get an apostrophe
(``planner.io.write.neutralise``).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.errors import InputError
from planner.io.write import atomic_path, write_csv

__all__ = ["jsonable", "write_text", "write_json", "write_csv", "file_name", "sheet_name", "excel", "to_sheet",
           "staged_output", "moved", "check_output_folder",
           "MARKER"]

_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def jsonable(v: Any) -> Any:
    """Plain JSON data from numpy/pandas values; non-finite floats become None."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (pd.Timestamp,)):
        return v.isoformat()
    if v is None or isinstance(v, (str, int)):
        return v
    if v is pd.NaT or (hasattr(pd, "isna") and not isinstance(v, (list, dict)) and pd.isna(v) is True):
        return None
    return str(v)


def write_text(path: str | Path, text: str | bytes) -> Path:
    """Write a file through a temporary file in the same folder and an atomic rename."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    if isinstance(text, bytes):
        tmp.write_bytes(text)
    else:
        tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    return p


def write_json(path: str | Path, data: Any) -> Path:
    """``data`` as indented UTF-8 JSON (Chinese kept readable), written atomically."""
    return write_text(path, json.dumps(jsonable(data), ensure_ascii=False, indent=2))


def file_name(text: object) -> str:
    """A file name made from user text (a rep id): no folders, no leading dot, safe characters only."""
    name = re.sub(r"[^0-9A-Za-z_.\u4e00-\u9fff-]", "_", str(text)).lstrip(".")
    return name[:80] or "_"


def sheet_name(name: str, used: set[str]) -> str:
    """An Excel sheet name: forbidden characters replaced, at most 31 characters, unique (case-insensitive)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name))[:31] or "sheet"
    out, k = base, 2
    while out.lower() in used:
        suffix = f" ({k})"
        out = base[:31 - len(suffix)] + suffix
        k += 1
    used.add(out.lower())
    return out


def _clean_cell(v: Any) -> Any:
    return _ILLEGAL_XLSX.sub("", v) if isinstance(v, str) else v


def to_sheet(xw: pd.ExcelWriter, df: pd.DataFrame, sheet: str, **kwargs: Any) -> None:
    """``df`` on sheet ``sheet`` (no index unless asked), characters Excel refuses dropped from text."""
    clean = df.copy()
    for col in clean.columns:
        if clean[col].dtype == object or pd.api.types.is_string_dtype(clean[col]):
            clean[col] = clean[col].map(_clean_cell)
    clean.columns = [_clean_cell(str(c)) if isinstance(c, str) else c for c in clean.columns]
    kwargs.setdefault("index", False)
    clean.to_excel(xw, sheet_name=sheet, **kwargs)


def _no_formulas(xw: pd.ExcelWriter) -> None:
    """Every cell that openpyxl took for a formula (text starting with '=') becomes plain text."""
    for ws in xw.book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"


@contextmanager
def excel(path: str | Path) -> Iterator[pd.ExcelWriter]:
    """An Excel writer (openpyxl) whose workbook holds no formula and appears at ``path`` atomically.

    Write sheets with :func:`to_sheet`; on an error nothing is left at ``path``'s side.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(p)
    try:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            yield xw
            _no_formulas(xw)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, p)


# --- output folders: written whole, or not at all -------------------------------------------------------

MARKER = ".planner-output"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock(out: Path) -> Path:
    """Take ``.OUT.lock`` beside the output folder; refuse when another live run holds it."""
    lock = out.parent / f".{out.name}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text(encoding="utf-8").strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _pid_alive(pid):
                raise InputError(f"another planner run (process {pid}) is writing into {out}: wait for it to "
                                 f"finish or choose another output folder") from None
            lock.unlink(missing_ok=True)  # a stale lock of a run that died
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
        return lock
    raise InputError(f"cannot lock {out}: remove {lock} if no planner run is writing there")


def check_output_folder(out: Path) -> None:
    """Refuse an output folder the planner did not make (it would be replaced, with whatever it holds)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file: choose a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise InputError(f"output folder {out} holds files the planner did not write; each run replaces its "
                         f"output folder, so choose an empty or new folder")


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``out`` (the earlier run's folder goes, whole)."""
    import shutil

    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def moved(paths: Iterable[Path], tmp: Path, out: str | Path) -> list[Path]:
    """Paths written into the staging folder ``tmp``, as they are after it replaced ``out``."""
    final = Path(out).resolve()
    return [final / Path(p).relative_to(tmp) for p in paths]


@contextmanager
def staged_output(out_dir: str | Path) -> Iterator[Path]:
    """A run's output folder, written whole or not at all.

    Yields a staging folder beside ``out_dir``; when the block ends normally
    and wrote something, the staging folder replaces ``out_dir`` (so no file
    of an earlier run stays mixed in); on any exception, Ctrl-C included,
    the staging folder is removed and ``out_dir`` is left as it was. A lock
    (``.NAME.lock`` beside it) refuses a second run into the same folder
    while one is writing. A folder holding files the planner did not write
    is refused rather than replaced.
    """
    import shutil

    out = Path(out_dir).resolve()
    check_output_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        (tmp / MARKER).write_text("written by the planner; each run replaces this folder\n", encoding="utf-8")
        yield tmp
        if any(p.name != MARKER for p in tmp.iterdir()):
            _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)
