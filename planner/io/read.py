"""Reading users' files as raw text columns, before any interpretation.

``read_file(path, sheet=...)`` reads CSV/TXT, Excel, GeoJSON, GeoPackage
(point geometry gives ``lon``/``lat``) or Parquet and returns a ``RawFile``:
every cell as text (so that validation, ``planner.io.validate``, sees what the
user typed), notes about the whole file, and the rows the reader could not
split into the header's columns. ``read_raw(path)`` is the same, the text
frame only. ``find_file(folder, entity)`` finds ``entity.<suffix>``.

- **Encodings** (CSV): a byte-order mark decides (UTF-8, UTF-16, UTF-32);
  otherwise UTF-8 when the bytes are valid UTF-8; otherwise GB18030/GBK or
  Big5, whichever decodes with fewer rare characters (charset-normalizer breaks
  a near tie). BOM-less UTF-16 is recognised by its zero bytes. A file no
  encoding reads credibly raises ``FileReadError`` ("cannot tell the text
  encoding of ...").
- **Delimiters and ragged lines** (CSV): the delimiter is one of comma, tab,
  semicolon, pipe (the one that splits the first lines into the header's
  number of fields); quoted fields may hold delimiters and line breaks. The
  file is read row by row, so a line with more or fewer fields than the header
  does not refuse the file: it becomes a ``BadRow`` ("line 7 has 5 fields, the
  header has 4") that validation rejects, and the other rows load. Extra
  fields that are all empty (a trailing delimiter) are dropped silently. Blank
  lines are skipped.
- **Merged cells** (``.xlsx``/``.xlsm``): every cell of a merged range below
  the header takes the range's top-left value (spreadsheets store it in that
  cell only); a note names each column and how many cells were filled.
- **Time zones** (Parquet/GeoPackage): zoned date-time columns are written as
  Beijing local time (Asia/Shanghai), as every date-time is stored.
- A file with a header and no rows reads as zero rows; an empty file, an
  unknown suffix or a file a library cannot parse raises ``FileReadError``
  with a one-line reason.
"""

from __future__ import annotations

import codecs
import csv
import io as _io
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner.errors import FileReadError

READ_SUFFIXES = {".csv": "csv", ".txt": "csv", ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel",
                 ".geojson": "vector", ".json": "vector", ".gpkg": "vector", ".parquet": "parquet",
                 ".pq": "parquet"}
LOCAL_TZ = "Asia/Shanghai"  # naive date-times in the planner are Beijing time

_DELIMITERS = (",", "\t", ";", "|")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SCORE_CHARS = 200_000  # characters of a decoded file looked at to judge its encoding
_MAX_RARE_SHARE = 0.5  # above this share of rare characters no decoding is credible
_CLEAR_MARGIN = 0.15  # a difference in rare shares that decides without charset-normalizer


@dataclass(frozen=True)
class BadRow:
    """A row the reader could not split into the header's columns.

    ``index`` is the 0-based position of the row in ``RawFile.frame`` (its
    cells hold the fields as far as they go), ``value`` the row as read and
    ``reason`` a sentence naming the line, e.g. "line 7 has 5 fields, the header has 4".
    """

    index: int
    value: str
    reason: str


@dataclass(frozen=True)
class RawFile:
    """A file read as text: ``frame`` (every cell a string), ``notes`` about the
    whole file (e.g. filled merged cells) and ``bad_rows`` to reject."""

    frame: pd.DataFrame
    notes: tuple[str, ...] = ()
    bad_rows: tuple[BadRow, ...] = ()


def read_raw(path: str | Path, *, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a file as text columns, with no interpretation (``read_file(...).frame``).

    Raises ``FileReadError``.
    """
    return read_file(path, sheet=sheet).frame


def read_file(path: str | Path, *, sheet: str | int | None = None) -> RawFile:
    """Read a CSV/TXT, Excel (``sheet``: name or 0-based index, default the
    first), GeoJSON, GeoPackage or Parquet file as text. Raises ``FileReadError``
    with a one-line reason when the file cannot be read at all."""
    path = Path(path)
    if not path.exists():
        raise FileReadError(f"file not found: {path}")
    kind = READ_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise FileReadError(f"unsupported file type {path.suffix!r} for {path.name}: use one of "
                            f"{', '.join(sorted(READ_SUFFIXES))}")
    try:
        if kind == "csv":
            raw = _read_csv(path)
        elif kind == "excel":
            raw = _read_excel(path, sheet)
        elif kind == "parquet":
            raw = RawFile(_stringify(pd.read_parquet(path)))
        else:
            raw = RawFile(_read_vector(path))
    except FileReadError:
        raise
    except Exception as exc:  # a library's own parse error: make it one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileReadError(f"cannot read {path.name}: {msg}") from exc
    df = raw.frame
    if len(df.columns) == 0:
        raise FileReadError(f"cannot read {path.name}: the {'sheet' if kind == 'excel' else 'file'} is empty")
    df.columns = _header_names([str(c) for c in df.columns])
    return RawFile(_unneutralise(df.reset_index(drop=True)), raw.notes, raw.bad_rows)


def _unneutralise(df: pd.DataFrame) -> pd.DataFrame:
    """Take off the apostrophe ``planner.io.write`` puts before text that would start a formula
    (``'=SUM(...)`` reads back as ``=SUM(...)``), so the planner's own CSVs read back unchanged."""
    for col in df.columns:
        s = df[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            quoted = s.str.match(r"'[=+\-@\t\r]", na=False)
            if quoted.any():
                df[col] = s.where(~quoted, s.str.slice(1))
    return df


# --- CSV ---------------------------------------------------------------------------------------

def decode_text(raw: bytes, name: str) -> str:
    """The text of a CSV's bytes: BOM, else UTF-8, else GB18030 or Big5 (see the module docstring).

    Raises ``FileReadError`` naming ``name`` when no encoding reads the bytes credibly.
    """
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            return _strict(raw, enc, name)
    zeros = raw.count(0)
    if zeros and zeros * 8 >= len(raw):  # ASCII-heavy UTF-16 without a BOM: every other byte is zero
        enc = "utf-16-le" if raw[1::2].count(0) > raw[0::2].count(0) else "utf-16-be"
        return _strict(raw, enc, name)
    try:
        return _credible(raw.decode("utf-8"), name)
    except UnicodeDecodeError:
        pass
    cands = {enc: text for enc in ("gb18030", "big5") if (text := _try_decode(raw, enc)) is not None}
    shares = {enc: _rare_share(text, enc) for enc, text in cands.items()}
    ok = {enc: s for enc, s in shares.items() if s <= _MAX_RARE_SHARE}
    if not ok:
        raise _encoding_error(name)
    if len(ok) == 2 and abs(ok["gb18030"] - ok["big5"]) < _CLEAR_MARGIN:
        best = _charset_normalizer_guess(raw) or "gb18030"
    else:
        best = min(ok, key=lambda e: ok[e])
    return _credible(cands[best], name)


def _encoding_error(name: str) -> FileReadError:
    return FileReadError(f"cannot tell the text encoding of {name}: save it as UTF-8 (or GB18030)")


def _strict(raw: bytes, enc: str, name: str) -> str:
    """``raw`` decoded with ``enc`` (chosen by a BOM or zero bytes), or the encoding error."""
    try:
        return _credible(raw.decode(enc), name)
    except UnicodeDecodeError as exc:
        raise _encoding_error(name) from exc


def _credible(text: str, name: str) -> str:
    """``text`` unless it holds control characters other than tab and line breaks (a binary file)."""
    sample = text[:_SCORE_CHARS]
    if any(c in sample for c in "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0e\x0f\x7f"):
        raise _encoding_error(name)
    return text


def _try_decode(raw: bytes, enc: str) -> str | None:
    """``raw`` decoded strictly; for Big5, Microsoft's CP950 and then HKSCS are tried too."""
    for codec in (("cp950", "big5hkscs") if enc == "big5" else (enc,)):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


def _rare_share(text: str, enc: str) -> float:
    """Share of the non-ASCII characters that are not common in ``enc``'s own script.

    Common: GB2312 punctuation and level-1 hanzi for GB18030; Big5 punctuation
    and level-1 hanzi for Big5. Text decoded with the wrong one of the two is
    mostly rare characters, private-use or unassigned code points.
    """
    counts = Counter(text[:_SCORE_CHARS])
    total = rare = 0
    for ch, n in counts.items():
        if ord(ch) < 128:
            continue
        total += n
        if not _common(ch, enc):
            rare += n
    return rare / total if total else 0.0


def _common(ch: str, enc: str) -> bool:
    """Whether ``ch`` is punctuation or a level-1 (frequent) hanzi of GB2312 or Big5."""
    try:
        code = ch.encode("gb2312" if enc == "gb18030" else "big5")
    except UnicodeEncodeError:
        return False
    lead = code[0]
    if enc == "gb18030":
        return 0xA1 <= lead <= 0xA3 or 0xB0 <= lead <= 0xD7
    return 0xA1 <= lead <= 0xC6


def _charset_normalizer_guess(raw: bytes) -> str | None:
    """charset-normalizer's best guess between GB18030 and Big5, or None."""
    import charset_normalizer

    best = charset_normalizer.from_bytes(raw[:_SCORE_CHARS], cp_isolation=["gb18030", "big5"]).best()
    if best is None:
        return None
    return "big5" if "big5" in best.encoding or best.encoding == "cp950" else "gb18030"


def _read_csv(path: Path) -> RawFile:
    """A CSV/TXT file row by row: every line with the header's number of fields, the others as ``BadRow``."""
    text = decode_text(path.read_bytes(), path.name)
    if not text.strip():
        raise FileReadError(f"cannot read {path.name}: the file is empty")
    delim = sniff_delimiter(text)
    records = _records(text, delim)
    header = next(records, None)
    if header is None:
        raise FileReadError(f"cannot read {path.name}: the file is empty")
    width = len(header[1])
    rows: list[list[str]] = []
    bad: list[BadRow] = []
    for line, rec in records:
        if len(rec) != width:
            if len(rec) > width and not any(v.strip() for v in rec[width:]):
                rec = rec[:width]  # a trailing delimiter: nothing lost
            else:
                bad.append(BadRow(len(rows), delim.join(rec),
                                  f"line {line} has {len(rec)} fields, the header has {width}"))
                rec = (rec + [""] * width)[:width]
        rows.append(rec)
    frame = pd.DataFrame(rows, columns=range(width), dtype=object) if rows else \
        pd.DataFrame({i: pd.Series([], dtype=object) for i in range(width)})
    frame.columns = header[1]
    return RawFile(frame, (), tuple(bad))


def _records(text: str, delim: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records of ``text`` with the line number each starts on (1-based)."""
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=delim)
    start = 1
    for rec in reader:
        line, start = start, reader.line_num + 1
        if not rec or (len(rec) == 1 and not rec[0].strip()):
            continue
        yield line, rec


def sniff_delimiter(text: str) -> str:
    """The delimiter (comma, tab, semicolon or pipe) that splits the first lines of ``text``
    into as many fields as the header, with the header split in two or more; comma when none does."""
    sample = text[:65536]
    if len(sample) < len(text) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]
    best, best_score = ",", (False, 0, 0)
    for d in _DELIMITERS:
        try:
            recs = [r for _, r in islice(_records(sample, d), 50)]
        except csv.Error:
            continue
        if not recs:
            continue
        width = len(recs[0])
        score = (width > 1, sum(len(r) == width for r in recs[1:]), width)
        if score > best_score:
            best, best_score = d, score
    return best


def _header_names(header: list[str]) -> list[str]:
    """Header names stripped, as pandas makes them: ``Unnamed: i`` for empty ones, ``x.1`` for repeats."""
    names: list[str] = []
    seen: set[str] = set()
    for i, h in enumerate(header):
        name = h.strip() or f"Unnamed: {i}"
        base, k = name, 1
        while name in seen:
            name, k = f"{base}.{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


# --- Excel -------------------------------------------------------------------------------------

def _read_excel(path: Path, sheet: str | int | None) -> RawFile:
    """A sheet as text; merged ranges filled with their top-left value (``.xlsx``/``.xlsm``)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm") or not _has_merged_cells(path):
        df = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False)
        return RawFile(df)
    import openpyxl

    wb = openpyxl.load_workbook(path, data_only=True)
    names = wb.sheetnames
    if isinstance(sheet, str) and sheet not in names:
        raise FileReadError(f"cannot read {path.name}: no sheet named {sheet!r} (sheets: {', '.join(names)})")
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        raise FileReadError(f"cannot read {path.name}: no sheet number {sheet} (it has {len(names)})")
    ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
    notes = fill_merged_cells(ws)
    df = pd.read_excel(wb, sheet_name=ws.title, dtype=str, keep_default_na=False, engine="openpyxl")
    return RawFile(df, notes)


def _has_merged_cells(path: Path) -> bool:
    """Whether any worksheet of the workbook declares merged cells (cheap: no cell is parsed)."""
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    with z.open(info) as f:
                        if any(b"mergeCell" in chunk for chunk in iter(lambda: f.read(1 << 20), b"")):
                            return True
    except (zipfile.BadZipFile, OSError, KeyError):
        return False  # pandas says what is wrong with the file
    return False


def fill_merged_cells(ws: Any) -> tuple[str, ...]:
    """Unmerge every merged range below the header row of an openpyxl worksheet ``ws`` and
    give each of its cells the range's top-left value; one note per column filled."""
    header_row = next((r[0].row for r in ws.iter_rows() if any(c.value is not None for c in r)), 1)
    filled: Counter[int] = Counter()
    for rng in sorted(ws.merged_cells.ranges, key=lambda r: (r.min_col, r.min_row)):
        if rng.min_row <= header_row:
            continue
        value = ws.cell(rng.min_row, rng.min_col).value
        bounds = (rng.min_row, rng.min_col, rng.max_row, rng.max_col)
        ws.unmerge_cells(str(rng))
        if value is None:
            continue
        r0, c0, r1, c1 = bounds
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    ws.cell(r, c).value = value
                    filled[c] += 1
    notes = []
    for col, n in sorted(filled.items()):
        head = ws.cell(header_row, col).value
        name = str(head).strip() if head is not None and str(head).strip() else f"Unnamed: {col - 1}"
        notes.append(f"filled {n} merged cell{'s' if n != 1 else ''} in column {name} "
                     f"with the merged range's top-left value")
    return tuple(notes)


# --- vector files and Parquet ---------------------------------------------------------------------

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
    """Typed columns as text; zoned date-times as Beijing local time."""
    out = pd.DataFrame(index=df.index)
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
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
