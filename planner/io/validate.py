"""Read users' files into canonical tables, with every bad row accounted for.

``load(path, entity, crs=..., columns=..., sheet=...)`` reads CSV, Excel,
GeoJSON, GeoPackage or Parquet (``planner.io.read``), maps the user's headers
to the canonical columns (``planner.schema``; Chinese CRM headers are
recognised), converts the source coordinate system to WGS-84 and validates
every row in one pass. It returns an ``ImportResult``: the good rows as a
canonical table, a ``rejected`` table with one line per problem (``row``,
``id``, ``field``, ``value``, ``reason``) and ``notes`` about the whole file
(e.g. merged Excel cells filled). A row with any problem is rejected as a
whole, so ``loaded + rejected rows == read``: nothing is dropped silently.

What each field kind accepts:

- numbers: currency signs, spaces, thousands separators (also ``，``); ``inf``,
  an overflow such as ``1e400`` is "not a finite number" (``nan``, like ``none``, is a missing value);
- dates and date-times, decided per column: year first (``2026-10-01``,
  ``2026/10/1``, ``2026.10.01``, ``20261001``, ``2026年10月1日``, with or
  without a time) always; day/month/year or month/day/year (``01.10.2026``,
  ``10/01/2026``) by the column's values with a part above 12: where none
  decides, the ambiguous values are rejected; where both orders occur, the
  rows against the majority are rejected naming their order; two-digit years
  are rejected. A time zone (``Z``, ``+08:00``) is converted to Beijing time
  (Asia/Shanghai) and stored naive like the values without one, which are
  Beijing time already. Other spellings with a four-digit year (``Oct 1,
  2026``) go to pandas' parser;
- coordinates: within range, inside China, not swapped, and on the mainland:
  points in Taiwan, Hong Kong, Macau or Kinmen are rejected with the place
  named (the planner models the mainland road network only);
- rows the reader could not split into the header's columns (a CSV line with
  more or fewer fields) are rejected with the line number (field ``line``).

Row numbers are as a person sees them in a spreadsheet: the header is row 1,
the first record row 2. For GeoJSON/GeoPackage/Parquet, ``row`` is the
1-based feature number plus one, to keep one convention.
"""


from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import FileReadError, InputError
from planner.geo import coords
from planner.io.columns import LOCATION_ALIASES, parse_column_mapping, resolve_columns
from planner.io.read import LOCAL_TZ, BadRow, RawFile, read_file

REJECTED_COLUMNS = ["row", "id", "field", "value", "reason"]

@dataclass(frozen=True)
class ImportResult:
    """Outcome of loading one file: ``table`` (good rows) and ``rejected`` (problems)."""

    entity: str
    table: pd.DataFrame
    rejected: pd.DataFrame
    read: int
    column_map: dict[str, str]
    notes: tuple[str, ...] = ()  # warnings about the whole file, e.g. merged cells filled

    @property
    def loaded(self) -> int:
        return len(self.table)

    @property
    def rejected_rows(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0

    def summary(self) -> str:
        """One line: rows read, loaded and rejected, then the notes, if any."""
        notes = "".join(f"; {n}" for n in self.notes)
        return (f"{self.entity}: read {self.read}, loaded {self.loaded}, "
                f"rejected {self.rejected_rows} rows ({len(self.rejected)} problems){notes}")

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
        """Add the rows where ``mask`` holds (``values`` and ``reason`` aligned to all rows, or one each)."""
        m = np.asarray(mask, dtype=bool)
        vals = np.asarray(values, dtype=object)
        rs = np.asarray(reason, dtype=object)
        self.add(np.flatnonzero(m), field, vals[m] if vals.ndim and vals.shape == m.shape else vals,
                 rs[m] if rs.ndim and rs.shape == m.shape else rs)

    def replace_rows(self, bad_rows: Iterable[BadRow]) -> None:
        """Each of ``bad_rows`` rejected for its own reason only (field ``line``); their other problems,
        which come from cells that could not be placed, are dropped."""
        bad = {b.index: b for b in bad_rows}
        if not bad:
            return
        keep = [i for i, r in enumerate(self.rows) if r not in bad]
        self.rows = [self.rows[i] for i in keep]
        self.fields = [self.fields[i] for i in keep]
        self.values = [self.values[i] for i in keep]
        self.reasons = [self.reasons[i] for i in keep]
        for b in bad.values():
            self.add(np.array([b.index]), "line", b.value, b.reason)


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
    """Numbers with currency signs, spaces and thousands separators (also Chinese commas) accepted;
    ``inf`` and overflows (``1e400``) are not finite numbers (``nan`` is a missing value, see ``_field``)."""
    cleaned = text.str.replace(r"[¥￥元\s]", "", regex=True)
    grouped = cleaned.str.fullmatch(r"[-+]?\d{1,3}([,，]\d{3})+(\.\d+)?")
    cleaned = cleaned.where(~grouped, cleaned.str.replace(r"[,，]", "", regex=True))
    num = pd.to_numeric(cleaned.where(~empty), errors="coerce")
    nan_text = cleaned.str.fullmatch(r"[-+]?nan", case=False).to_numpy(dtype=bool)
    nonfinite = ~empty.to_numpy(dtype=bool) & (nan_text | np.isinf(num.to_numpy(dtype=float)))
    probs.mask(~empty & num.isna() & ~nan_text, f.name, text, "not a number")
    probs.mask(nonfinite, f.name, text, "not a finite number")
    num = num.where(~nonfinite)
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


# --- dates -----------------------------------------------------------------------------------------

_TIME = (r"(?:(?:\s*T\s*|\s+|(?<=日))(?P<H>\d{1,2})[:：](?P<M>\d{2})(?:[:：](?P<S>\d{2})(?:[.,](?P<F>\d{1,9}))?)?"
         r"(?:\s*(?P<ap>[AaPp]\.?[Mm]\.?))?\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?)?\s*$")
_YEAR_FIRST = r"^(?P<y>\d{4})\s*(?:[-/.]|年)\s*(?P<a>\d{1,2})\s*(?:[-/.]|月)\s*(?P<b>\d{1,2})\s*日?" + _TIME
_YEAR_LAST = r"^(?P<a>\d{1,2})\s*[-/.]\s*(?P<b>\d{1,2})\s*[-/.]\s*(?P<y>\d{4})" + _TIME
_SHORT_YEAR = r"^(?:\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}|\d{2}\s*年\s*\d{1,2}\s*月)(?:\D|$)"
_DAY_MONTH_START = re.compile(r"^\d{1,2}\s*[-/.]\s*\d{1,2}\s*[-/.]")
_COMPACT = r"^(\d{4})(\d{2})(\d{2})(?=$|[T\s])"
_AMBIGUOUS = "ambiguous date: day and month could be either way; write 2026-10-01"
_TWO_DIGIT_YEAR = "two-digit year: write the year in full"
_ORDER_NAMES = {"dmy": "day/month/year", "mdy": "month/day/year"}


def _date_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    """Dates or date-times, each distinct text parsed once; the day/month order is decided per column."""
    not_date = "not a date" if f.kind == "date" else "not a date-time"
    codes, uniq = pd.factorize(text.where(~empty, ""))
    filled = ~empty.to_numpy(dtype=bool)
    weight = np.bincount(codes[filled], minlength=len(uniq))
    stamps, reasons = _parse_dates(pd.Series(np.asarray(uniq, dtype=object), dtype=object), weight, not_date)
    parsed = pd.Series(stamps.to_numpy()[codes], index=text.index)
    reason = reasons[codes]
    probs.mask(filled & (reason != ""), f.name, text, reason)
    return parsed.dt.normalize() if f.kind == "date" else parsed


def _parse_dates(u: pd.Series, weight: np.ndarray, not_date: str) -> tuple[pd.Series, np.ndarray]:
    """Beijing-time stamps (NaT when unreadable) and a reason ("" when fine) for each distinct text ``u``;
    ``weight``: how many rows hold each text (they vote on the day/month order)."""
    reasons = np.full(len(u), "", dtype=object)
    if not len(u):
        return pd.Series([], dtype="datetime64[us]"), reasons
    s = u.astype(str).str.replace(_COMPACT, r"\1-\2-\3", regex=True)
    first, last = s.str.extract(_YEAR_FIRST), s.str.extract(_YEAR_LAST)
    year_last = last["y"].notna().to_numpy()
    parts = first.combine_first(last)
    num = {k: pd.to_numeric(parts[k], errors="coerce").to_numpy(dtype=float) for k in ("y", "a", "b")}
    a, b = num["a"], num["b"]
    dm = year_last & (a > 12) & (b <= 12)
    md = year_last & (b > 12) & (a <= 12)
    votes = {"dmy": int(weight[dm].sum()), "mdy": int(weight[md].sum())}
    order = max(votes, key=lambda k: votes[k]) if votes["dmy"] != votes["mdy"] else ""
    undecided = year_last & (a <= 12) & (b <= 12) & (a != b)
    day_first = dm | (undecided & (order == "dmy"))
    stamps = _stamps(num["y"], np.where(day_first, b, a), np.where(day_first, a, b), parts)
    matched = parts["y"].notna().to_numpy()
    short = s.str.contains(_SHORT_YEAR, regex=True).to_numpy(dtype=bool) & ~matched
    reasons[short] = _TWO_DIGIT_YEAR
    other = ~matched & ~short & (s != "").to_numpy()
    if other.any():
        stamps = _parse_other(s, np.flatnonzero(other), stamps)
    reasons[(matched | other) & stamps.isna().to_numpy()] = not_date
    ok = reasons == ""
    reasons[ok & undecided & (order == "")] = _AMBIGUOUS
    for i in np.flatnonzero(ok & ((dm & (order != "dmy")) | (md & (order != "mdy")))):
        reasons[i] = _against_order("dmy" if dm[i] else "mdy", order, votes, stamps.iat[i])
    return stamps, reasons


def _against_order(own: str, order: str, votes: dict[str, int], stamp: pd.Timestamp) -> str:
    """Why a date that reads only one way is rejected: the column's other dates read the other way."""
    other = "mdy" if own == "dmy" else "dmy"
    iso = f"{stamp:%Y-%m-%d}"
    if order:
        return (f"{_ORDER_NAMES[own]} date in a column of {_ORDER_NAMES[order]} dates "
                f"({votes[order]} rows against {votes[own]}); write it year first: {iso}")
    return (f"{_ORDER_NAMES[own]} date, but as many dates in this column are {_ORDER_NAMES[other]}; "
            f"write it year first: {iso}")


def _stamps(year: np.ndarray, month: np.ndarray, day: np.ndarray, parts: pd.DataFrame) -> pd.Series:
    """Naive Beijing-time stamps from numeric parts and the time-of-day/zone groups of ``parts``."""
    def num(k: str) -> np.ndarray:
        return pd.to_numeric(parts[k], errors="coerce").to_numpy(dtype=float)

    hour, minute, second = np.nan_to_num(num("H")), np.nan_to_num(num("M")), np.nan_to_num(num("S"))
    ap = parts["ap"].fillna("").astype(str).str.lower().str[:1].to_numpy(dtype=object)
    bad = (hour > 23) | (minute > 59) | (second > 59) | ((ap != "") & ((hour > 12) | (hour < 1)))
    hour = np.where(ap == "p", hour % 12 + 12, np.where(ap == "a", hour % 12, hour))
    frame = pd.DataFrame({"year": year, "month": month, "day": day, "hour": hour, "minute": minute,
                          "second": second})
    stamps = pd.to_datetime(frame, errors="coerce").astype("datetime64[us]")
    frac = pd.to_numeric("0." + parts["F"].fillna("0").astype(str), errors="coerce").to_numpy(dtype=float)
    stamps = stamps + pd.to_timedelta(np.nan_to_num(frac), unit="s")
    offset = _tz_minutes(parts["tz"])
    bad |= np.abs(offset) > 14 * 60
    zoned = np.isfinite(offset) & ~bad & stamps.notna().to_numpy()
    if zoned.any():
        utc = (stamps[zoned] - pd.to_timedelta(offset[zoned], unit="min")).dt.tz_localize("UTC")
        stamps[zoned] = utc.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).astype("datetime64[us]")
    return stamps.where(~bad)


def _tz_minutes(tz: pd.Series) -> np.ndarray:
    """Minutes east of UTC for ``Z``/``UTC``/``GMT``/``+08:00``/``+0800``/``+08``; NaN where no zone is given."""
    m = tz.fillna("").astype(str).str.extract(r"^(?P<sign>[+-])(?P<h>\d{2}):?(?P<m>\d{2})?$")
    sign = np.where(m["sign"].to_numpy() == "-", -1.0, 1.0)
    minutes = sign * (pd.to_numeric(m["h"], errors="coerce").to_numpy(dtype=float) * 60
                      + pd.to_numeric(m["m"], errors="coerce").fillna(0).to_numpy(dtype=float))
    utc = tz.isin(["Z", "UTC", "GMT"]).to_numpy(dtype=bool)
    return np.where(utc, 0.0, minutes)


def _parse_other(s: pd.Series, idx: np.ndarray, stamps: pd.Series) -> pd.Series:
    """Other spellings (``Oct 1, 2026``) by pandas, one by one (they are few): only with a four-digit
    year and not starting day/month (whose order pandas would guess); zoned ones to Beijing time."""
    out = stamps.copy()
    for i in idx:
        v = str(s.iat[i])
        if not re.search(r"\d{4}", v) or _DAY_MONTH_START.match(v):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts = pd.Timestamp(v)
        except (ValueError, OverflowError, TypeError):
            continue
        if pd.isna(ts):
            continue
        if ts.tzinfo is not None:
            ts = ts.tz_convert(LOCAL_TZ).tz_localize(None)
        out.iat[i] = ts
    return out


def _bool_field(f: S.Field, text: pd.Series, empty: pd.Series, probs: _Problems) -> pd.Series:
    parsed = text.map(S.parse_bool)
    probs.mask(~empty & parsed.isna(), f.name, text, "not yes/no")
    return parsed.where(parsed.notna(), bool(f.default)).astype(bool)


def _field(f: S.Field, text: pd.Series, probs: _Problems) -> pd.Series:
    """One column parsed by its kind; its problems added to ``probs``."""
    numeric = f.kind in ("float", "int", "lon", "lat")
    empty = (text == "") | text.str.lower().isin(_EMPTY_WORDS)
    if f.required:
        probs.mask(empty, f.name, "", "missing value")
    if f.kind in ("id", "str"):
        return _text_field(f, text, empty)
    if numeric:
        return _number_field(f, text, empty, probs)
    if f.kind == "enum":
        return _enum_field(f, text, empty, probs)
    if f.kind in ("date", "datetime"):
        return _date_field(f, text, empty, probs)
    if f.kind == "bool":
        return _bool_field(f, text, empty, probs)
    return text.where(~empty, "").str.replace("，", ";").str.replace(",", ";")  # list


_OFF_MAINLAND = "outside the mainland road network the planner models; plan it separately"
# (name, west, east, south, north): where a point off the mainland but inside China's outline is. Boxes are
# enough: such a point is within ~15 km of a coast, and no box comes that near the mainland's. Others are at sea.
_PLACES = (("Kinmen", 118.2, 118.5, 24.35, 24.55), ("Hong Kong", 113.8, 114.5, 22.13, 22.57),
           ("Macau", 113.52, 113.6, 22.1, 22.22), ("Taiwan", 119.9, 122.3, 21.7, 24.3),
           ("Taiwan", 120.3, 122.3, 24.3, 25.8), ("Taiwan", 119.2, 119.8, 23.0, 23.9))  # main island; Penghu


def _coordinates(out: pd.DataFrame, lon_text: np.ndarray, lat_text: np.ndarray, crs: str,
                 probs: _Problems) -> None:
    """Range, inside China, swapped, on the mainland; then convert the good points to WGS-84 (in place).

    The place is judged on the coordinates as given and, for GCJ-02/BD-09 input, on their WGS-84 form too
    (those systems shift mainland points only): a point either form puts on the mainland is on it."""
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

    def pairs(m: np.ndarray) -> np.ndarray:
        return np.array([f"{lon_text[i]},{lat_text[i]}" for i in np.flatnonzero(m)], dtype=object)

    probs.add(np.flatnonzero(swapped), "lon,lat", pairs(swapped),
              "lon/lat look swapped (the point is in China with lon and lat exchanged)")
    probs.mask(bad_range & ~swapped & (np.abs(lon) > 180), S.LON, lon_text, "longitude out of range -180..180")
    probs.mask(bad_range & ~swapped & (np.abs(lat) > 90), S.LAT, lat_text, "latitude out of range -90..90")
    outside = ok & ~inside & ~swapped
    probs.add(np.flatnonzero(outside), "lon,lat", pairs(outside), "coordinates outside China")
    ok = ok & inside
    mainland = np.zeros(len(out), dtype=bool)
    mainland[ok] = coords.in_mainland(lon[ok], lat[ok])
    if crs != "wgs84" and ok.any():  # a shifted point near a border: judge its WGS-84 place too
        back_lon, back_lat = coords.to_wgs84(lon[ok], lat[ok], crs, mainland=np.ones(int(ok.sum()), dtype=bool))
        mainland[ok] |= coords.in_mainland(back_lon, back_lat)
    off = ok & ~mainland
    probs.add(np.flatnonzero(off), "lon,lat", pairs(off), _off_mainland_reasons(lon[off], lat[off]))
    ok = mainland
    w_lon, w_lat = lon.copy(), lat.copy()
    if ok.any():
        w_lon[ok], w_lat[ok] = coords.to_wgs84(lon[ok], lat[ok], crs, mainland=np.ones(int(ok.sum()), dtype=bool))
    out[S.LON] = w_lon
    out[S.LAT] = w_lat


def _off_mainland_reasons(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """"in Taiwan (outside the mainland road network ...)" for points in China but off the mainland."""
    reasons = np.full(len(lon), f"off the mainland, at sea or on an island ({_OFF_MAINLAND})", dtype=object)
    named = np.zeros(len(lon), dtype=bool)
    for name, west, east, south, north in _PLACES:
        here = ~named & (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        reasons[here] = f"in {name} ({_OFF_MAINLAND})"
        named |= here
    return reasons


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


def validate(raw: pd.DataFrame | RawFile, entity: str, *, crs: str = "wgs84",
             columns: dict[str, str] | None = None) -> ImportResult:
    """Validate raw text columns against the entity's schema; convert coordinates.

    ``raw`` is a frame of text cells, or a ``RawFile`` from ``planner.io.read.read_file``
    (its notes are kept and its bad rows rejected with their line). Collects every
    problem of every row in one pass (no early exit). Raises ``FileReadError`` only
    when a required column is missing altogether.
    """
    sch = S.SCHEMAS.get(entity)
    if sch is None:
        raise InputError(f"unknown table {entity!r}: use one of {', '.join(S.SCHEMAS)}")
    crs = coords.check_crs(crs)
    rawfile = raw if isinstance(raw, RawFile) else RawFile(raw)
    frame = rawfile.frame
    headers = [str(h) for h in frame.columns]
    colmap = resolve_columns(headers, sch, columns)
    frame = _split_location(frame.reset_index(drop=True), colmap, sch)
    missing_required = [f.name for f in sch.fields if f.required and f.name not in colmap]
    if missing_required:
        raise FileReadError(
            f"no column for required {sch.entity} field(s) {missing_required}; the file has headers "
            f"{headers}; map them with --columns (or planner.toml), e.g. {missing_required[0]}=<your header>")
    row_no = np.arange(len(frame)) + 2  # spreadsheet row numbers: header is row 1
    probs = _Problems()
    out = pd.DataFrame(index=frame.index)
    for f in sch.fields:
        out[f.name] = _field(f, _col(frame, colmap, f.name), probs)
    if sch.has_coordinates:
        _coordinates(out, _col(frame, colmap, S.LON).to_numpy(), _col(frame, colmap, S.LAT).to_numpy(), crs,
                     probs)
    idf = sch.id_field or sch.fields[0].name  # tables keyed by several columns check duplicates in their job
    if sch.id_field:
        _duplicates(out[idf], idf, row_no, probs)
    probs.replace_rows(rawfile.bad_rows)
    result = _result(sch, out, out[idf], row_no, probs, colmap)
    return replace(result, notes=rawfile.notes) if rawfile.notes else result


def load(path: str | Path, entity: str, *, crs: str = "wgs84", columns: dict[str, str] | str | None = None,
         sheet: str | int | None = None) -> ImportResult:
    """Read and validate one file (any format ``planner.io.read`` reads; ``sheet`` for Excel).

    Raises ``FileReadError`` only when the file cannot be read.
    """
    if isinstance(columns, str):
        columns = parse_column_mapping(columns)
    raw = read_file(path, sheet=sheet)
    try:
        return validate(raw, entity, crs=crs, columns=columns)
    except FileReadError:
        raise
    except ValueError as exc:
        raise FileReadError(str(exc)) from exc
