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

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import FileReadError
from planner.geo import coords
from planner.io.columns import LOCATION_ALIASES, parse_column_mapping, resolve_columns
from planner.io.read import find_file, read_raw

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

class _Problems:
    def __init__(self) -> None:
        self.rows: list[int] = []
        self.fields: list[str] = []
        self.values: list[str] = []
        self.reasons: list[str] = []

    def add(self, idx: np.ndarray, field: str, values, reason) -> None:
        idx = np.asarray(idx)
        if idx.size == 0:
            return
        vals = np.broadcast_to(np.asarray(values, dtype=object), idx.shape)
        rs = np.broadcast_to(np.asarray(reason, dtype=object), idx.shape)
        self.rows.extend(idx.tolist())
        self.fields.extend([field] * idx.size)
        self.values.extend([str(v) for v in vals])
        self.reasons.extend([str(r) for r in rs])


def _col(raw: pd.DataFrame, colmap: dict[str, str], name: str) -> pd.Series:
    if name in colmap:
        return raw[colmap[name]].fillna("").astype(str).str.strip()
    return pd.Series([""] * len(raw), index=raw.index, dtype=object)


def validate(raw: pd.DataFrame, entity: str, *, crs: str = "wgs84",
             columns: dict[str, str] | None = None) -> ImportResult:
    """Validate raw text columns against the entity's schema; convert coordinates.

    Collects every problem of every row in one pass (no early exit).
    """
    sch = S.SCHEMAS.get(entity)
    if sch is None:
        raise ValueError(f"unknown entity {entity!r}: use one of {', '.join(S.SCHEMAS)}")
    crs = coords.check_crs(crs)
    headers = list(raw.columns)
    colmap = resolve_columns(headers, sch, columns)
    raw = raw.reset_index(drop=True)
    n = len(raw)
    row_no = np.arange(n) + 2  # spreadsheet row numbers: header is row 1
    probs = _Problems()
    out = pd.DataFrame(index=raw.index)

    # A single "location" column "lon,lat" (Amap style) when lon/lat are absent.
    if sch.has_coordinates and (S.LON not in colmap or S.LAT not in colmap):
        loc_h = next((h for h in headers if h.strip().lower() in LOCATION_ALIASES), None)
        if loc_h is not None:
            parts = raw[loc_h].fillna("").astype(str).str.replace("，", ",").str.split(",", n=1, expand=True)
            raw = raw.copy()
            raw["__lon"] = parts[0] if parts.shape[1] > 0 else ""
            raw["__lat"] = parts[1] if parts.shape[1] > 1 else ""
            colmap[S.LON], colmap[S.LAT] = "__lon", "__lat"

    missing_required = [f.name for f in sch.fields if f.required and f.name not in colmap]
    if missing_required:
        raise FileReadError(
            f"no column for required {sch.entity} field(s) {missing_required}; the file has headers "
            f"{headers}; map them with --columns, e.g. {missing_required[0]}=<your header>")

    for f in sch.fields:
        text = _col(raw, colmap, f.name)
        empty = (text == "") | text.str.lower().isin(["nan", "none", "null", "na", "n/a"])
        if f.required:
            probs.add(np.flatnonzero(empty.to_numpy()), f.name, "", "missing value")
        if f.kind in ("id", "str"):
            vals = text.where(~empty, "")
            if f.value_aliases:
                vals = vals.map(lambda v, va=f.value_aliases: va.get(v, va.get(v.lower(), v)))
            if f.default is not None:
                vals = vals.where(vals != "", str(f.default))
            out[f.name] = vals
        elif f.kind in ("float", "int", "lon", "lat"):
            cleaned = text.str.replace(r"[¥￥元\s]", "", regex=True)
            grouped = cleaned.str.fullmatch(r"[-+]?\d{1,3}([,，]\d{3})+(\.\d+)?")
            cleaned = cleaned.where(~grouped, cleaned.str.replace(r"[,，]", "", regex=True))
            num = pd.to_numeric(cleaned.where(~empty), errors="coerce")
            bad = (~empty & num.isna()).to_numpy()
            probs.add(np.flatnonzero(bad), f.name, text[bad], "not a number")
            if f.kind == "int":
                frac = (~num.isna() & (num != np.round(num))).to_numpy()
                probs.add(np.flatnonzero(frac), f.name, text[frac], "not a whole number")
            if f.min_value is not None:
                low = (num < f.min_value).to_numpy()
                probs.add(np.flatnonzero(low), f.name, text[low], f"below the minimum {f.min_value:g}")
            if f.max_value is not None:
                high = (num > f.max_value).to_numpy()
                probs.add(np.flatnonzero(high), f.name, text[high], f"above the maximum {f.max_value:g}")
            if f.default is not None and f.kind in ("float", "int"):
                num = num.where(~empty, float(f.default))
            if f.kind == "int":
                num = num.where(~num.isna() & (num == np.round(num))).astype("Int64")
            out[f.name] = num
        elif f.kind == "enum":
            vals = text.map(lambda v, va=f.value_aliases: va.get(v, va.get(v.lower(), v)))
            lower_choices = {c.lower(): c for c in f.choices}
            vals = vals.map(lambda v: lower_choices.get(v.lower(), v))
            if f.default is not None:
                vals = vals.where(~empty, f.default)
            bad = (~empty & ~vals.isin(f.choices)).to_numpy()
            probs.add(np.flatnonzero(bad), f.name, text[bad],
                      f"unknown {f.name} (expected one of {', '.join(f.choices)})")
            out[f.name] = vals.where(~empty | (f.default is not None), "")
        elif f.kind in ("date", "datetime"):
            # Chinese dates: 2026年10月1日 -> 2026-10-1
            norm = text.str.replace(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?", r"\1-\2-\3", regex=True)
            parsed = pd.to_datetime(norm.where(~empty), errors="coerce", format="mixed")
            bad = (~empty & parsed.isna()).to_numpy()
            probs.add(np.flatnonzero(bad), f.name, text[bad], "not a date" if f.kind == "date"
                      else "not a date-time")
            out[f.name] = parsed.dt.normalize() if f.kind == "date" else parsed
        elif f.kind == "bool":
            parsed = text.map(S.parse_bool)
            bad = (~empty & parsed.isna()).to_numpy()
            probs.add(np.flatnonzero(bad), f.name, text[bad], "not yes/no")
            out[f.name] = parsed.where(parsed.notna(), bool(f.default)).astype(bool)
        elif f.kind == "list":
            out[f.name] = text.where(~empty, "").str.replace("，", ";").str.replace(",", ";")

    # Coordinates: range, inside China, swapped, then convert to WGS-84.
    if sch.has_coordinates:
        lon = out[S.LON].to_numpy(dtype=float)
        lat = out[S.LAT].to_numpy(dtype=float)
        have = np.isfinite(lon) & np.isfinite(lat)
        bad_range = have & ((np.abs(lon) > 180) | (np.abs(lat) > 90))
        ok = have & ~bad_range
        from planner import geo

        inside = np.zeros(n, dtype=bool)
        inside[ok] = geo.in_china(lon[ok], lat[ok])
        suspect = have & ~inside
        swapped = np.zeros(n, dtype=bool)
        if suspect.any():
            swapped[suspect] = geo.in_china(lat[suspect], lon[suspect])

        lon_text = _col(raw, colmap, S.LON).to_numpy()
        lat_text = _col(raw, colmap, S.LAT).to_numpy()

        def pairs(mask):
            return [f"{a},{b}" for a, b in zip(lon_text[mask], lat_text[mask])]

        probs.add(np.flatnonzero(swapped), "lon,lat", pairs(swapped),
                  "lon/lat look swapped (the point is in China with lon and lat exchanged)")
        lon_bad = bad_range & ~swapped & (np.abs(lon) > 180)
        lat_bad = bad_range & ~swapped & (np.abs(lat) > 90)
        probs.add(np.flatnonzero(lon_bad), S.LON, lon_text[lon_bad], "longitude out of range -180..180")
        probs.add(np.flatnonzero(lat_bad), S.LAT, lat_text[lat_bad], "latitude out of range -90..90")
        far = ok & ~inside & ~swapped
        probs.add(np.flatnonzero(far), "lon,lat", pairs(far), "coordinates outside China")
        ok = ok & inside
        w_lon, w_lat = lon.copy(), lat.copy()
        if ok.any():
            w_lon[ok], w_lat[ok] = coords.to_wgs84(lon[ok], lat[ok], crs)
        out[S.LON] = w_lon
        out[S.LAT] = w_lat

    # Duplicate ids (the first occurrence is kept).
    idf = sch.id_field or sch.fields[0].name  # tables keyed by several columns check duplicates in their job
    ids = out[idf]
    dup = ids.duplicated(keep="first") & (ids != "")
    if sch.id_field and dup.any():
        first_row = {v: r for v, r in zip(ids[~ids.duplicated(keep="first")], row_no[~ids.duplicated(keep="first")])}
        d = np.flatnonzero(dup.to_numpy())
        probs.add(d, idf, ids.iloc[d], [f"duplicate {idf} (first seen at row {first_row[v]})" for v in ids.iloc[d]])

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

def load_folder(directory: str | Path, entities, *, crs: str = "wgs84") -> dict[str, ImportResult]:
    """Load ``entities`` from one folder (``accounts.csv``, ``reps.xlsx``, ...); a missing
    file raises ``FileReadError`` naming it. Rejected rows stay in each result."""
    d = Path(directory)
    if not d.is_dir():
        raise FileReadError(f"data folder not found: {d}")
    out = {}
    for name in entities:
        path = find_file(d, name)
        if path is None:
            raise FileReadError(f"no {name} file in {d}: expected {name}.csv (or .xlsx, .gpkg, .parquet, ...)")
        out[name] = load(path, name, crs=crs)
    return out
