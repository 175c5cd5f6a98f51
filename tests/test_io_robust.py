"""Hostile and faulty input to the loader: each case names the rows that load and the rows rejected, with
their field and reason (``planner.io.read`` and ``planner.io.validate``)."""

from __future__ import annotations

import codecs
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from planner import io
from planner.geo import coords

XM = "118.0894,24.4798"  # Xiamen, mainland
REJECTED = ["row", "id", "field", "value", "reason"]
OFF = "(outside the mainland road network the planner models; plan it separately)"
AMBIGUOUS = "ambiguous date: day and month could be either way; write 2026-10-01"


def csv_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rejected(result: io.ImportResult) -> list[tuple[object, ...]]:
    """The rejected table as (row, id, field, value, reason) tuples."""
    return [tuple(r) for r in result.rejected[REJECTED].itertuples(index=False)]


def loaded(result: io.ImportResult, col: str) -> dict[str, object]:
    return dict(zip(result.table["id"], result.table[col]))


def one_line_error(path: Path, entity: str = "accounts") -> str:
    with pytest.raises(io.FileReadError) as exc:
        io.load(path, entity)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# --- 1. numbers that are not finite ------------------------------------------------------------

def test_non_finite_numbers_are_rejected(tmp_path):
    path = csv_file(tmp_path / "a.csv", "id,lon,lat,potential\n"
                    "a1,118.0894,24.4798,1000\n"
                    "a2,inf,24.4798,1000\n"
                    "a3,118.0894,-inf,1000\n"
                    "a4,118.0894,24.4798,1e400\n"
                    "a5,118.0894,24.4798,nan\n"
                    "a6,118.0894,24.4798,-Infinity\n"
                    "a7,NaN,24.4798,\n")
    r = io.load(path, "accounts")
    # nan is a missing value (an optional potential defaults to 0; a missing longitude rejects the row)
    assert (r.read, r.loaded) == (7, 2) and list(r.table["id"]) == ["a1", "a5"]
    assert loaded(r, "potential_cny")["a5"] == 0
    assert rejected(r) == [
        (3, "a2", "lon", "inf", "not a finite number"),
        (4, "a3", "lat", "-inf", "not a finite number"),
        (5, "a4", "potential_cny", "1e400", "not a finite number"),
        (7, "a6", "potential_cny", "-Infinity", "not a finite number"),
        (8, "a7", "lon", "", "missing value"),
    ]


def test_non_finite_whole_number_is_rejected(tmp_path):
    path = csv_file(tmp_path / "o.csv", "id,lon,lat,desks\no1,118.1,24.5,4\no2,118.1,24.5,inf\no3,118.1,24.5,\n")
    r = io.load(path, "offices")
    assert loaded(r, "desks") == {"o1": 4, "o3": 0}
    assert rejected(r) == [(3, "o2", "desks", "inf", "not a finite number")]


# --- 2. dates: the day/month order per column ------------------------------------------------------

def _dates(tmp_path: Path, values: list[str]) -> io.ImportResult:
    rows = "".join(f"d{i},{XM},{v}\n" for i, v in enumerate(values, 1))
    return io.load(csv_file(tmp_path / "d.csv", "id,lon,lat,last_visit\n" + rows), "accounts")


def test_day_first_column_is_read_day_first(tmp_path):
    r = _dates(tmp_path, ["01.10.2026", "13.10.2026", "02.03.2026"])
    assert rejected(r) == []
    assert loaded(r, "last_visit") == {"d1": pd.Timestamp("2026-10-01"), "d2": pd.Timestamp("2026-10-13"),
                                       "d3": pd.Timestamp("2026-03-02")}


def test_month_first_column_is_read_month_first(tmp_path):
    r = _dates(tmp_path, ["10/01/2026", "10/13/2026", "3/2/2026"])
    assert rejected(r) == []
    assert loaded(r, "last_visit") == {"d1": pd.Timestamp("2026-10-01"), "d2": pd.Timestamp("2026-10-13"),
                                       "d3": pd.Timestamp("2026-03-02")}


def test_rows_against_the_columns_order_are_rejected(tmp_path):
    r = _dates(tmp_path, ["13.10.2026", "25.12.2026", "01.10.2026", "10/13/2026", "31.1.2026"])
    assert loaded(r, "last_visit") == {"d1": pd.Timestamp("2026-10-13"), "d2": pd.Timestamp("2026-12-25"),
                                       "d3": pd.Timestamp("2026-10-01"), "d5": pd.Timestamp("2026-01-31")}
    assert rejected(r) == [(5, "d4", "last_visit", "10/13/2026",
                            "month/day/year date in a column of day/month/year dates (3 rows against 1); "
                            "write it year first: 2026-10-13")]


def test_tied_orders_reject_both_sides(tmp_path):
    r = _dates(tmp_path, ["13.10.2026", "10/13/2026", "2026-10-01"])
    assert list(r.table["id"]) == ["d3"]
    assert rejected(r) == [
        (2, "d1", "last_visit", "13.10.2026", "day/month/year date, but as many dates in this column are "
                                              "month/day/year; write it year first: 2026-10-13"),
        (3, "d2", "last_visit", "10/13/2026", "month/day/year date, but as many dates in this column are "
                                              "day/month/year; write it year first: 2026-10-13"),
    ]


def test_undecided_column_rejects_ambiguous_dates(tmp_path):
    r = _dates(tmp_path, ["01.10.2026", "10/01/2026", "05.05.2026", "2026-10-01"])
    assert loaded(r, "last_visit") == {"d3": pd.Timestamp("2026-05-05"), "d4": pd.Timestamp("2026-10-01")}
    assert rejected(r) == [(2, "d1", "last_visit", "01.10.2026", AMBIGUOUS),
                           (3, "d2", "last_visit", "10/01/2026", AMBIGUOUS)]


def test_two_digit_years_are_rejected(tmp_path):
    r = _dates(tmp_path, ["26-10-01", "1/10/26", "2026-10-01"])
    assert list(r.table["id"]) == ["d3"]
    assert rejected(r) == [(2, "d1", "last_visit", "26-10-01", "two-digit year: write the year in full"),
                           (3, "d2", "last_visit", "1/10/26", "two-digit year: write the year in full")]


def test_year_first_and_chinese_dates_still_load(tmp_path):
    values = ["2026-10-01", "2026/10/1", "2026.10.01", "2026年10月1日", "2026 年 10 月 1 日", "20261001",
              "2026-10-01 09:30", "2026-10-01T09:30:00", "2026年10月1日 9:30", '"Oct 1, 2026"']
    r = _dates(tmp_path, values)
    assert rejected(r) == []
    assert set(r.table["last_visit"]) == {pd.Timestamp("2026-10-01")}


def test_impossible_dates_are_still_not_dates(tmp_path):
    r = _dates(tmp_path, ["2026-02-30", "31.02.2026", "13/13/2026", "yesterday", "2026-10-01"])
    assert list(r.table["id"]) == ["d5"]
    assert [(row, v, why) for row, _, _, v, why in rejected(r)] == [
        (2, "2026-02-30", "not a date"), (3, "31.02.2026", "not a date"), (4, "13/13/2026", "not a date"),
        (5, "yesterday", "not a date")]


# --- 3. time zones -----------------------------------------------------------------------------

def test_zoned_and_naive_date_times_load_together_as_beijing_time(tmp_path):
    path = csv_file(tmp_path / "t.csv", "id,lon,lat,appt_start,appt_end\n"
                    f"t1,{XM},2026-11-24T02:00:00Z,2026-11-24T03:00:00Z\n"
                    f"t2,{XM},2026-11-24T10:00:00+08:00,2026-11-24 11:00\n"
                    f"t3,{XM},2026-11-24 09:00,2026-11-24T01:30:00-00:00\n"
                    f"t4,{XM},2026-11-23T22:00:00-05:00,2026-11-24T12:00+0800\n")
    r = io.load(path, "accounts")
    assert rejected(r) == []
    ts = pd.Timestamp
    assert loaded(r, "appt_start") == {"t1": ts("2026-11-24 10:00"), "t2": ts("2026-11-24 10:00"),
                                       "t3": ts("2026-11-24 09:00"), "t4": ts("2026-11-24 11:00")}
    assert loaded(r, "appt_end") == {"t1": ts("2026-11-24 11:00"), "t2": ts("2026-11-24 11:00"),
                                     "t3": ts("2026-11-24 09:30"), "t4": ts("2026-11-24 12:00")}
    assert r.table["appt_start"].dt.tz is None


def test_zoned_date_becomes_the_beijing_date(tmp_path):
    r = _dates(tmp_path, ["2026-11-24T20:00:00Z"])
    assert loaded(r, "last_visit") == {"d1": pd.Timestamp("2026-11-25")}


def test_zoned_parquet_column_is_read_as_beijing_time(tmp_path):
    df = pd.DataFrame({"id": ["p1"], "lon": [118.0894], "lat": [24.4798],
                       "appt_start": pd.to_datetime(["2026-11-24T02:00:00Z"], utc=True)})
    df.to_parquet(tmp_path / "a.parquet")
    r = io.load(tmp_path / "a.parquet", "accounts")
    assert loaded(r, "appt_start") == {"p1": pd.Timestamp("2026-11-24 10:00")}


# --- 4. merged Excel cells ---------------------------------------------------------------------

def _merged_workbook(path: Path, *, sheet: str = "客户") -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["cover sheet"])
    ws = wb.create_sheet(sheet)
    ws.append(["客户编号", "经度", "纬度", "负责人", "客户等级"])
    for i in range(5):
        ws.append([f"M{i + 1}", 118.0894, 24.4798, "R01" if i == 0 else ("R02" if i == 3 else None),
                   "A" if i == 0 else None])
    ws.merge_cells("D2:D4")  # R01 owns M1, M2, M3
    ws.merge_cells("E2:E3")  # class A for M1, M2
    wb.save(path)
    return path


def test_merged_cells_are_filled_with_their_value(tmp_path):
    r = io.load(_merged_workbook(tmp_path / "m.xlsx"), "accounts", sheet="客户")
    assert rejected(r) == []
    assert loaded(r, "owner") == {"M1": "R01", "M2": "R01", "M3": "R01", "M4": "R02", "M5": "pool"}
    assert loaded(r, "account_class") == {"M1": "A", "M2": "A", "M3": "C", "M4": "C", "M5": "C"}
    assert r.notes == ("filled 2 merged cells in column 负责人 with the merged range's top-left value",
                       "filled 1 merged cell in column 客户等级 with the merged range's top-left value")
    assert r.summary().endswith("in column 客户等级 with the merged range's top-left value")


def test_merged_workbook_sheet_errors_are_one_line(tmp_path):
    path = _merged_workbook(tmp_path / "m.xlsx")
    assert "no sheet named '客户2' (sheets: 说明, 客户)" in one_line_error_sheet(path, "客户2")
    assert "no sheet number 5" in one_line_error_sheet(path, 5)


def one_line_error_sheet(path: Path, sheet: str | int) -> str:
    with pytest.raises(io.FileReadError) as exc:
        io.load(path, "accounts", sheet=sheet)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_workbook_without_merged_cells_has_no_notes(tmp_path):
    pd.DataFrame({"id": ["a"], "lon": [118.1], "lat": [24.5]}).to_excel(tmp_path / "a.xlsx", index=False)
    r = io.load(tmp_path / "a.xlsx", "accounts")
    assert (r.loaded, r.notes) == (1, ())


# --- 5. encodings --------------------------------------------------------------------------------

BIG5_NAMES = ["台北貿易有限公司", "高雄機械股份有限公司", "臺中鞋業國際貿易", "新竹電子科技"]
GB_NAMES = ["厦门鹭江贸易有限公司", "泉州鞋业集团", "晋江纺织服装", "龙岩机械设备"]


def _names_file(path: Path, names: list[str], encoding: str, sep: str = ",") -> Path:
    rows = "".join(f"K{i}{sep}{n}{sep}{XM.replace(',', sep)}\n" for i, n in enumerate(names, 1))
    path.write_bytes(f"id{sep}name{sep}经度{sep}纬度\n{rows}".encode(encoding) if encoding != "big5" else
                     f"id{sep}name{sep}lon{sep}lat\n{rows}".encode(encoding))
    return path


def test_big5_csv_is_decoded_as_big5(tmp_path):
    r = io.load(_names_file(tmp_path / "big5.csv", BIG5_NAMES, "big5"), "accounts")
    assert list(r.table["name"]) == BIG5_NAMES and rejected(r) == []


def test_short_big5_csv(tmp_path):
    r = io.load(_names_file(tmp_path / "big5.csv", ["台北貿易有限公司"], "big5"), "accounts")
    assert list(r.table["name"]) == ["台北貿易有限公司"]


def test_gb18030_csv_is_decoded_as_gb18030(tmp_path):
    r = io.load(_names_file(tmp_path / "gb.csv", GB_NAMES, "gb18030"), "accounts")
    assert list(r.table["name"]) == GB_NAMES and rejected(r) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_utf16_and_bom_files(tmp_path, encoding):
    path = _names_file(tmp_path / "u.txt", GB_NAMES + BIG5_NAMES, encoding, sep="\t")
    if encoding == "utf-16-le":  # Excel's "Unicode text": UTF-16 with a BOM
        path.write_bytes(codecs.BOM_UTF16_LE + path.read_bytes())
    r = io.load(path, "accounts")
    assert list(r.table["name"]) == GB_NAMES + BIG5_NAMES


def test_utf16_without_bom(tmp_path):
    r = io.load(_names_file(tmp_path / "u.csv", GB_NAMES, "utf-16-le"), "accounts")
    assert list(r.table["name"]) == GB_NAMES


@pytest.mark.parametrize("payload", [
    "id,name,lon,lat\nk1,Müller Maschinenbau,118.1,24.5\n".encode("latin-1"),
    b"id,lon,lat\n\x81\xff\xfe,118.1,24.5\n",
])
def test_unreadable_encoding_is_one_line_error(tmp_path, payload):
    path = tmp_path / "x.csv"
    path.write_bytes(payload)
    assert one_line_error(path) == "cannot tell the text encoding of x.csv: save it as UTF-8 (or GB18030)"


# --- 6. ragged lines ---------------------------------------------------------------------------------

def test_ragged_lines_are_rejected_rows(tmp_path):
    path = csv_file(tmp_path / "r.csv", "id,name,lon,lat\n"
                    f"r1,Alpha,{XM}\n"
                    f"r2,Beta, Ltd,{XM}\n"           # an unquoted comma: 5 fields
                    f"r3,\"Gamma, Ltd\",{XM}\n"      # quoted: fine
                    f"r4,{XM}\n"                     # a field missing: 3 fields
                    f"r5,\"Delta\nsecond line\",{XM}\n"
                    f"r6,Epsilon,{XM},\n"            # a trailing delimiter: nothing lost
                    f"r7,Zeta,{XM},x,y\n")
    r = io.load(path, "accounts")
    assert (r.read, r.loaded, r.rejected_rows) == (7, 4, 3)
    assert loaded(r, "name") == {"r1": "Alpha", "r3": "Gamma, Ltd", "r5": "Delta\nsecond line", "r6": "Epsilon"}
    assert rejected(r) == [
        (3, "r2", "line", f"r2,Beta, Ltd,{XM}", "line 3 has 5 fields, the header has 4"),
        (5, "r4", "line", f"r4,{XM}", "line 5 has 3 fields, the header has 4"),
        (8, "r7", "line", f"r7,Zeta,{XM},x,y", "line 9 has 6 fields, the header has 4"),
    ]


@pytest.mark.parametrize("sep", ["\t", "|", ";"])
def test_ragged_lines_with_other_delimiters(tmp_path, sep):
    text = f"id{sep}lon{sep}lat\nr1{sep}118.1{sep}24.5\nr2{sep}118.1{sep}24.5{sep}9\nr3{sep}118.2{sep}24.6\n"
    r = io.load(csv_file(tmp_path / "s.csv", text), "accounts")
    assert list(r.table["id"]) == ["r1", "r3"]
    assert [(row, field, why) for row, _, field, _, why in rejected(r)] == [
        (3, "line", "line 3 has 4 fields, the header has 3")]


def test_ragged_line_problems_replace_cell_problems(tmp_path):
    path = csv_file(tmp_path / "r.csv", f"id,lon,lat,class\nr1,{XM},A\nr1,abc\nr3,{XM},Z,extra\n")
    r = io.load(path, "accounts")
    assert list(r.table["id"]) == ["r1"]
    assert [(row, field) for row, _, field, _, _ in rejected(r)] == [(3, "line"), (4, "line")]


# --- 7. off the mainland -------------------------------------------------------------------------

PLACES = [("x1", "118.0894,24.4798", ""),                      # Xiamen
          ("x2", "121.5654,25.0330", "in Taiwan"),              # Taipei
          ("x3", "120.3014,22.6273", "in Taiwan"),              # Kaohsiung
          ("x4", "119.5664,23.5711", "in Taiwan"),              # Magong, Penghu
          ("x5", "114.1694,22.3193", "in Hong Kong"),
          ("x6", "113.5439,22.1987", "in Macau"),
          ("x7", "118.3171,24.4493", "in Kinmen"),
          ("x8", "113.5767,22.2707", ""),                       # Zhuhai
          ("x9", "114.0579,22.5431", "")]                       # Shenzhen


@pytest.mark.parametrize("crs", ["wgs84", "gcj02", "bd09"])
def test_points_off_the_mainland_are_rejected_with_the_place(tmp_path, crs):
    rows = "".join(f"{i},{p}\n" for i, p, _ in PLACES)
    r = io.load(csv_file(tmp_path / "p.csv", "id,lon,lat\n" + rows), "accounts", crs=crs)
    # A shifted point near a border is ambiguous: Baidu's (BD-09) 113.5439,22.1987 is central Macau as given
    # but Wanzai, Zhuhai, as a shifted mainland point; either form on the mainland keeps it (a mainland team's
    # account is the likelier reading).
    places = [(i, p, "" if (crs == "bd09" and i == "x6") else why) for i, p, why in PLACES]
    assert list(r.table["id"]) == [i for i, _, why in places if not why]
    assert rejected(r) == [(n, i, "lon,lat", p, f"{why} {OFF}")
                           for n, (i, p, why) in enumerate(places, 2) if why]
    if crs == "gcj02":  # mainland points are still converted
        lon, lat = coords.from_wgs84(r.table["lon"], r.table["lat"], "gcj02")
        assert abs(lon[0] - 118.0894) < 1e-6 and abs(lat[0] - 24.4798) < 1e-6
        assert abs(r.table["lon"].iloc[0] - 118.0894) > 1e-3


# --- header-only and empty files ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["id,lon,lat", "id,lon,lat\r\n", "\ufeffid\tlon\tlat\n\n"])
def test_header_only_csv_is_zero_rows(tmp_path, text):
    r = io.load(csv_file(tmp_path / "h.csv", text), "accounts")
    assert (r.read, r.loaded, len(r.rejected), r.notes) == (0, 0, 0, ())


def test_header_only_excel_is_zero_rows(tmp_path):
    pd.DataFrame({"id": [], "lon": [], "lat": []}).to_excel(tmp_path / "h.xlsx", index=False)
    r = io.load(tmp_path / "h.xlsx", "accounts")
    assert (r.read, r.loaded, len(r.rejected)) == (0, 0, 0)


@pytest.mark.parametrize("payload", [b"\xef\xbb\xbf", b"\r\n\r\n", codecs.BOM_UTF16_LE])
def test_empty_csv_is_a_file_read_error(tmp_path, payload):
    path = tmp_path / "e.csv"
    path.write_bytes(payload)
    assert one_line_error(path) == "cannot read e.csv: the file is empty"


def test_empty_sheet_is_a_file_read_error(tmp_path):
    openpyxl.Workbook().save(tmp_path / "e.xlsx")
    assert one_line_error(tmp_path / "e.xlsx") == "cannot read e.xlsx: the sheet is empty"


def test_import_result_builds_without_notes():
    r = io.ImportResult(entity="accounts", table=pd.DataFrame(), rejected=pd.DataFrame(columns=REJECTED),
                        read=0, column_map={})
    assert r.notes == () and r.summary() == "accounts: read 0, loaded 0, rejected 0 rows (0 problems)"


def test_formula_apostrophe_of_the_planners_own_csv_reads_back(tmp_path):
    from planner.io import write_csv

    df = pd.DataFrame({"id": ["a1", "a2"], "name": ["=HYPERLINK(1)", "-Co. Ltd"], "lon": [118.0894, 118.0894],
                       "lat": [24.4798, 24.4798]})
    path = write_csv(df, tmp_path / "accounts.csv")
    assert "'=HYPERLINK(1)" in path.read_text(encoding="utf-8")  # safe to open in a spreadsheet
    r = io.load(path, "accounts")
    assert list(r.table["name"]) == ["=HYPERLINK(1)", "-Co. Ltd"]  # and unchanged for the planner
