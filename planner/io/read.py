"""Reading users' files as raw text columns, before any interpretation.

``read_raw(path)`` reads CSV (UTF-8 or GB18030, any delimiter), Excel,
GeoJSON, GeoPackage (point geometry gives ``lon``/``lat``) or Parquet, and
returns every cell as text so that validation (``planner.io.validate``) sees
what the user typed. ``find_file(folder, entity)`` finds ``entity.<suffix>``.
"""

from __future__ import annotations

import io as _io
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import FileReadError

READ_SUFFIXES = {".csv": "csv", ".txt": "csv", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
                 ".geojson": "vector", ".json": "vector", ".gpkg": "vector", ".parquet": "parquet",
                 ".pq": "parquet"}


def read_raw(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a file as text columns, with no interpretation. Raises ``FileReadError``."""
    path = Path(path)
    if not path.exists():
        raise FileReadError(f"file not found: {path}")
    kind = READ_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise FileReadError(f"unsupported file type {path.suffix!r} for {path.name}: use one of "
                            f"{', '.join(sorted(READ_SUFFIXES))}")
    try:
        if kind == "csv":
            df = _read_csv(path)
        elif kind == "excel":
            df = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str,
                               keep_default_na=False)
        elif kind == "parquet":
            df = pd.read_parquet(path)
            df = _stringify(df)
        else:
            df = _read_vector(path)
    except FileReadError:
        raise
    except Exception as exc:  # a library's own parse error: make it one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileReadError(f"cannot read {path.name}: {msg}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise FileReadError(f"cannot read {path.name}: not UTF-8 or GB18030 text")
    if not text.strip():
        raise FileReadError(f"cannot read {path.name}: the file is empty")
    return pd.read_csv(_io.StringIO(text), dtype=str, keep_default_na=False, sep=None, engine="python")


def _read_vector(path: Path) -> pd.DataFrame:
    import geopandas as gpd

    gdf = gpd.read_file(path)
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geom = gdf.geometry
    if len(gdf) and geom.notna().any():
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
            geom = geom.to_crs("EPSG:4326")
        is_pt = geom.geom_type == "Point"
        if not is_pt.all():
            geom = geom.where(is_pt, geom.representative_point())
        df["lon"] = geom.x
        df["lat"] = geom.y
    return _stringify(df)


def _stringify(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.dt.strftime("%Y-%m-%dT%H:%M:%S").fillna("")
        else:
            out[c] = s.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else
                           repr(v) if isinstance(v, float) else str(v))
    return out

def find_file(directory: str | Path, name: str) -> Path | None:
    """``DIR/name.<suffix>`` for the first readable suffix present (csv, xlsx, gpkg, ...), else None."""
    d = Path(directory)
    for suffix in READ_SUFFIXES:
        p = d / f"{name}{suffix}"
        if p.exists():
            return p
    return None
