"""Small writers every export uses: JSON summaries, Excel sheet names, per-file atomic replace."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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
