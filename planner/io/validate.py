"""Read users' files into canonical tables, with every bad row accounted for.

``load(path, entity, crs=..., columns=...)`` reads CSV, Excel, GeoJSON,
GeoPackage or Parquet, maps the user's headers to the canonical columns
(``planner.schema``; Chinese CRM headers are recognised), converts the source
coordinate system to WGS-84 and validates every row in one pass. It returns an
``ImportResult``: the good rows as a canonical table and a ``rejected`` table
with one line per problem (``row``, ``id``, ``field``, ``value``, ``reason``).
A row with any problem is rejected as a whole, so ``loaded + rejected rows ==
read``: nothing is dropped silently.

Row numbers are as a person sees them in a spreadsheet: the header is row 1,
the first record row 2. For GeoJSON/GeoPackage/Parquet, ``row`` is the
1-based feature number plus one, to keep one convention.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import FileReadError, InputError
from planner.geo import coords
from planner.io.columns import LOCATION_ALIASES, parse_column_mapping, resolve_columns
from planner.io.read import read_raw

REJECTED_COLUMNS = ["row", "id", "field", "value", "reason"]

@dataclass(frozen=True)
class ImportResult:
    """Outcome of loading one file: ``table`` (good rows) and ``rejected`` (problems)."""

    entity: str
    table: pd.DataFrame
    rejected: pd.DataFrame
    read: int
    column_map: dict[str, str]

    @property
    def loaded(self) -> int:
        return len(self.table)

    @property
    def rejected_rows(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0

    def summary(self) -> str:
        return (f"{self.entity}: read {self.read}, loaded {self.loaded}, "
                f"rejected {self.rejected_rows} rows ({len(self.rejected)} problems)")

# --- validation ----------------------------------------------------------------

_EMPTY_WORDS = ["nan", "none", "null", "na", "n/a"]


class _Problems:
    """Problems found so far: parallel lists of 0-based row index, field, value and reason."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.fields: list[str] = []
        self.values: list[str] = []
        self.reasons: list[str] = []

    def add(self, idx: np.ndarray, field: str, values: Any, reason: Any) -> None:
        idx = np.asarray(idx)
        if idx.size == 0:
            return
        vals = np.broadcast_to(np.asarray(values, dtype=object), idx.shape)
        rs = np.broadcast_to(np.asarray(reason, dtype=object), idx.shape)
        self.rows.extend(idx.tolist())
        self.fields.extend([field] * idx.size)
        self.values.extend([str(v) for v in vals])
        self.reasons.extend([str(r) for r in rs])

    def mask(self, mask: np.ndarray | pd.Series, field: str, values: Any, reason: Any) -> None:
        """Add the rows where ``mask`` holds (``values`` aligned to all rows, or one value)."""
        m = np.asarray(mask, dtype=bool)
        vals = np.asarray(values, dtype=object)
        self.add(np.flatnonzero(m), field, vals[m] if vals.ndim and vals.shape == m.shape else vals, reason)


def _col(raw: pd.DataFrame, colmap: dict[str, str], name: str) -> pd.Series:
    if name in colmap:
        return raw[colmap[name]].fillna("").astype(str).str.strip()
    return pd.Series([""] * len(raw), index=raw.index, dtype=object)


def _alias(value: str, aliases: dict[str, str]) -> str:
    return aliases.get(value, aliases.get(value.lower(), value))


def _split_location(raw: pd.DataFrame, colmap: dict[str, str], sch: S.Schema) -> pd.DataFrame:
    """A single ``location`` column ``lon,lat`` (Amap style) when lon/lat are absent."""
    if not sch.has_coordinates or (S.LON in colmap and S.LAT in colmap):
        return raw
    loc_h = next((h for h in raw.columns if str(h).strip().lower() in LOCATION_ALIASES), None)
    if loc_h is None:
        return raw
    parts = raw[loc_h].fillna("").astype(str).str.replace("，", ",").str.split(",", n=1, expand=True)
    raw = raw.copy()
    raw["__lon"] = parts[0] if parts.shape[1] > 0 else ""
    raw["__lat"] = parts[1] if parts.shape[1] > 1 else ""
    colmap[S.LON], colmap[S.LAT] = "__lon", "__lat"
    return raw


def _text_field(f: S.Field, text: pd.Series, empty: pd.Series) -> pd.Series:
    vals = text.where(~empty, "")
    if f.value_aliases:
        vals = vals.map(lambda v: _alias(v, f.value_aliases))
    if f.default is not None:
        vals = vals.where(vals != "", str(f.default))
    return vals


def _number_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    """Numbers with currency signs, spaces and thousands separators (also Chinese commas) accepted."""
    cleaned = text.str.replace(r"[¥￥元\s]", "", regex=True)
    grouped = cleaned.str.fullmatch(r"[-+]?\d{1,3}([,，]\d{3})+(\.\d+)?")
    cleaned = cleaned.where(~grouped, cleaned.str.replace(r"[,，]", "", regex=True))
    num = pd.to_numeric(cleaned.where(~empty), errors="coerce")
    probs.mask(~empty & num.isna(), f.name, text, "not a number")
    if f.kind == "int":
        probs.mask(~num.isna() & (num != np.round(num)), f.name, text, "not a whole number")
    if f.min_value is not None:
        probs.mask(num < f.min_value, f.name, text, f"below the minimum {f.min_value:g}")
    if f.max_value is not None:
        probs.mask(num > f.max_value, f.name, text, f"above the maximum {f.max_value:g}")
    if f.default is not None and f.kind in ("float", "int"):
        num = num.where(~empty, float(f.default))  # type: ignore[arg-type]
    if f.kind == "int":
        num = num.where(~num.isna() & (num == np.round(num))).astype("Int64")
    return num


def _enum_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    lower_choices = {c.lower(): c for c in f.choices}
    vals = text.map(lambda v: _alias(v, f.value_aliases)).map(lambda v: lower_choices.get(v.lower(), v))
    if f.default is not None:
        vals = vals.where(~empty, f.default)
    probs.mask(~empty & ~vals.isin(f.choices), f.name, text,
               f"unknown {f.name} (expected one of {', '.join(f.choices)})")
    return vals.where(~empty | (f.default is not None), "")


def _date_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    # Chinese dates: 2026年10月1日 -> 2026-10-1
    norm = text.str.replace(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?", r"\1-\2-\3", regex=True)
    parsed = pd.to_datetime(norm.where(~empty), errors="coerce", format="mixed")
    probs.mask(~empty & parsed.isna(), f.name, text, "not a date" if f.kind == "date" else "not a date-time")
    return parsed.dt.normalize() if f.kind == "date" else parsed


def _bool_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    parsed = text.map(S.parse_bool)
    probs.mask(~empty & parsed.isna(), f.name, text, "not yes/no")
    return parsed.where(parsed.notna(), bool(f.default)).astype(bool)


def _field(f: S.Field, text: pd.Series, probs: _Problems) -> pd.Series:
    """One column parsed by its kind; its problems added to ``probs``."""
    empty = (text == "") | text.str.lower().isin(_EMPTY_WORDS)
    if f.required:
        probs.mask(empty, f.name, "", "missing value")
    if f.kind in ("id", "str"):
        return _text_field(f, text, empty)
    if f.kind in ("float", "int", "lon", "lat"):
        return _number_field(f, text, empty, probs)
    if f.kind == "enum":
        return _enum_field(f, text, empty, probs)
    if f.kind in ("date", "datetime"):
        return _date_field(f, text, empty, probs)
    if f.kind == "bool":
        return _bool_field(f, text, empty, probs)
    return text.where(~empty, "").str.replace("，", ";").str.replace(",", ";")  # list


def _coordinates(out: pd.DataFrame, lon_text: np.ndarray, lat_text: np.ndarray, crs: str,
                 probs: _Problems) -> None:
    """Range, inside China, swapped; then convert the good points to WGS-84 (in place)."""
    from planner import geo

    lon = out[S.LON].to_numpy(dtype=float)
    lat = out[S.LAT].to_numpy(dtype=float)
    have = np.isfinite(lon) & np.isfinite(lat)
    bad_range = have & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
    ok = have & ~bad_range
    inside = np.zeros(len(out), dtype=bool)
    inside[ok] = geo.in_china(lon[ok], lat[ok])
    suspect = have & ~inside
    swapped = np.zeros(len(out), dtype=bool)
    if suspect.any():
        swapped[suspect] = geo.in_china(lat[suspect], lon[suspect])
    pairs = np.array([f"{a},{b}" for a, b in zip(lon_text, lat_text)], dtype=object)
    probs.mask(swapped, "lon,lat", pairs, "lon/lat look swapped (the point is in China with lon and lat exchanged)")
    probs.mask(bad_range & ~swapped & (np.abs(lon) > 180), S.LON, lon_text, "longitude out of range -180..180")
    probs.mask(bad_range & ~swapped & (np.abs(lat) > 90), S.LAT, lat_text, "latitude out of range -90..90")
    probs.mask(ok & ~inside & ~swapped, "lon,lat", pairs, "coordinates outside China")
    ok = ok & inside
    w_lon, w_lat = lon.copy(), lat.copy()
    if ok.any():
        w_lon[ok], w_lat[ok] = coords.to_wgs84(lon[ok], lat[ok], crs)
    out[S.LON] = w_lon
    out[S.LAT] = w_lat


def _duplicates(ids: pd.Series, idf: str, row_no: np.ndarray, probs: _Problems) -> None:
    """Every repeat of an id after its first row (the first occurrence is kept)."""
    first = ~ids.duplicated(keep="first")
    dup = ~first & (ids != "")
    if not dup.any():
        return
    first_row = dict(zip(ids[first], row_no[first.to_numpy()]))
    d = np.flatnonzero(dup.to_numpy())
    probs.add(d, idf, ids.iloc[d], [f"duplicate {idf} (first seen at row {first_row[v]})" for v in ids.iloc[d]])


def _result(sch: S.Schema, out: pd.DataFrame, ids: pd.Series, row_no: np.ndarray, probs: _Problems,
            colmap: dict[str, str]) -> ImportResult:
    n = len(out)
    rejected = pd.DataFrame({
        "row": row_no[probs.rows] if probs.rows else np.array([], dtype=int),
        "id": ids.iloc[probs.rows].to_numpy() if probs.rows else np.array([], dtype=object),
        "field": probs.fields, "value": probs.values, "reason": probs.reasons,
    }, columns=REJECTED_COLUMNS)
    rejected = rejected.sort_values(["row", "field"], kind="stable").reset_index(drop=True)
    bad_idx = np.unique(np.asarray(probs.rows, dtype=int))
    good = np.setdiff1d(np.arange(n), bad_idx)
    table = out.iloc[good].copy()
    table[S.SOURCE_ROW] = row_no[good]
    table = table[[*sch.columns, S.SOURCE_ROW]].reset_index(drop=True)
    return ImportResult(entity=sch.entity, table=table, rejected=rejected, read=n, column_map=colmap)


def validate(raw: pd.DataFrame, entity: str, *, crs: str = "wgs84",
             columns: dict[str, str] | None = None) -> ImportResult:
    """Validate raw text columns against the entity's schema; convert coordinates.

    Collects every problem of every row in one pass (no early exit). Raises
    ``FileReadError`` only when a required column is missing altogether.
    """
    sch = S.SCHEMAS.get(entity)
    if sch is None:
        raise InputError(f"unknown table {entity!r}: use one of {', '.join(S.SCHEMAS)}")
    crs = coords.check_crs(crs)
    headers = [str(h) for h in raw.columns]
    colmap = resolve_columns(headers, sch, columns)
    raw = _split_location(raw.reset_index(drop=True), colmap, sch)
    missing_required = [f.name for f in sch.fields if f.required and f.name not in colmap]
    if missing_required:
        raise FileReadError(
            f"no column for required {sch.entity} field(s) {missing_required}; the file has headers "
            f"{headers}; map them with --columns (or planner.toml), e.g. {missing_required[0]}=<your header>")
    row_no = np.arange(len(raw)) + 2  # spreadsheet row numbers: header is row 1
    probs = _Problems()
    out = pd.DataFrame(index=raw.index)
    for f in sch.fields:
        out[f.name] = _field(f, _col(raw, colmap, f.name), probs)
    if sch.has_coordinates:
        _coordinates(out, _col(raw, colmap, S.LON).to_numpy(), _col(raw, colmap, S.LAT).to_numpy(), crs, probs)
    idf = sch.id_field or sch.fields[0].name  # tables keyed by several columns check duplicates in their job
    if sch.id_field:
        _duplicates(out[idf], idf, row_no, probs)
    return _result(sch, out, out[idf], row_no, probs, colmap)


def load(path: str | Path, entity: str, *, crs: str = "wgs84", columns: dict[str, str] | str | None = None,
         sheet: str | int | None = None) -> ImportResult:
    """Read and validate one file. Raises ``FileReadError`` only when the file cannot be read."""
    if isinstance(columns, str):
        columns = parse_column_mapping(columns)
    raw = read_raw(path, sheet=sheet)
    try:
        return validate(raw, entity, crs=crs, columns=columns)
    except FileReadError:
        raise
    except ValueError as exc:
        raise FileReadError(str(exc)) from exc
