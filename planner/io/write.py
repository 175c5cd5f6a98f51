"""Writing tables for people: canonical tables and rejected rows as CSV, safe to open in a spreadsheet.

User text is data, never a formula: a text cell that begins with ``=``,
``+``, ``-``, ``@`` (or a tab or carriage return) would run as a formula when
the CSV is opened in Excel or WPS, so :func:`neutralise` puts an apostrophe in
front of it (the usual defence; Excel shows the text without it). The loader
(:mod:`planner.io.read`) takes that apostrophe off again, so a file written
here reads back unchanged. Files are written through a temporary file and
an atomic rename: a reader never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

from planner import schema as S
from planner.io.validate import ImportResult

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_text(value: Any) -> Any:
    """``value`` with an apostrophe in front when it is text that a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells cannot start a formula (numbers and dates untouched)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            out[col] = s.map(neutralise_text)
    out.columns = [neutralise_text(str(c)) for c in out.columns]
    return out


def atomic_path(path: Path) -> Path:
    """The temporary file beside ``path`` that :func:`replace_atomically` moves into place."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")


def replace_atomically(tmp: Path, path: Path) -> Path:
    os.replace(tmp, path)
    return path


def write_csv(df: pd.DataFrame, path: str | Path, **kwargs: Any) -> Path:
    """``df`` as UTF-8 CSV (no index), formula-safe, written atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(p)
    try:
        neutralise(df).to_csv(tmp, index=False, **kwargs)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return replace_atomically(tmp, p)


def write_result(result: ImportResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<entity>.csv`` (canonical) and ``<entity>_rejected.csv`` into ``out_dir``."""
    out = Path(out_dir)
    table_path = write_csv(result.table, out / f"{result.entity}.csv", date_format="%Y-%m-%dT%H:%M:%S")
    rej_path = write_csv(result.rejected, out / f"{result.entity}_rejected.csv")
    return table_path, rej_path


def to_geodataframe(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Canonical table with lon/lat -> GeoDataFrame (EPSG:4326), same index."""
    import geopandas as gpd

    return gpd.GeoDataFrame(table.copy(), geometry=gpd.points_from_xy(table[S.LON], table[S.LAT]),
                            crs="EPSG:4326")
