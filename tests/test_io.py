"""Tests for planner.io: reading users' files, validation, rejected rows, writing."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from planner import io, schema as S
from planner.geo import coords

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "accounts_broken.csv"
GOOD_IDS = ["C001", "C002", "C012"]
BAD_ROWS = [4, 5, 6, 7, 8, 9, 10, 11, 12]


@pytest.fixture(scope="module")
def broken() -> io.ImportResult:
    return io.load(BROKEN, "accounts", crs="gcj02")


@pytest.fixture(scope="module")
def broken_raw() -> pd.DataFrame:
    return io.read_raw(BROKEN)


def problems(result: io.ImportResult, row: int) -> pd.DataFrame:
    return result.rejected[result.rejected["row"] == row]


def one_problem(result: io.ImportResult, row: int) -> pd.Series:
    p = problems(result, row)
    assert len(p) == 1, p
    return p.iloc[0]


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# --- the shipped broken file ---------------------------------------------------------------

def test_broken_counts(broken):
    assert broken.entity == "accounts"
    assert broken.read == 12
    assert broken.loaded == 3
    assert list(broken.table["id"]) == GOOD_IDS
    assert list(broken.table["source_row"]) == [2, 3, 13]
    assert sorted(broken.rejected["row"].unique()) == BAD_ROWS
    assert broken.rejected_rows == 9
    assert broken.loaded + broken.rejected_rows == broken.read
    assert list(broken.rejected.columns) == io.REJECTED_COLUMNS
    assert broken.summary() == "accounts: read 12, loaded 3, rejected 9 rows (14 problems)"


def test_broken_columns_mapped_from_chinese_headers(broken):
    assert broken.column_map == {
        "id": "客户编号", "name": "客户名称", "lon": "经度", "lat": "纬度", "status": "客户状态",
        "owner": "负责人", "account_class": "客户等级", "industry": "行业", "potential_cny": "潜力金额",
        "stage": "销售阶段", "last_visit": "最后拜访日期",
    }
    assert list(broken.table.columns) == [*S.ACCOUNTS.columns, S.SOURCE_ROW]


def test_broken_row_reasons(broken):
    p = one_problem(broken, 4)
    assert (p["id"], p["field"], p["reason"]) == ("C003", "lon", "missing value")
    p = one_problem(broken, 5)
    assert (p["id"], p["field"], p["value"], p["reason"]) == ("C004", "lon", "abc", "not a number")
    p = one_problem(broken, 6)
    assert (p["id"], p["field"], p["value"]) == ("C005", "lon,lat", "24.8741,118.6759") and "swapped" in p["reason"]
    p = one_problem(broken, 7)
    assert (p["id"], p["field"]) == ("C006", "lon,lat") and "outside China" in p["reason"]
    p = one_problem(broken, 8)
    assert (p["id"], p["field"], p["value"]) == ("C007", "account_class", "Z")
    assert "unknown account_class" in p["reason"] and "A, B, C" in p["reason"]
    p = one_problem(broken, 9)
    assert (p["id"], p["field"]) == ("C002", "id")
    assert "duplicate" in p["reason"] and "row 3" in p["reason"]
    p = one_problem(broken, 10)
    assert (p["id"], p["field"], p["value"], p["reason"]) == ("C009", "last_visit", "2026-13-45", "not a date")
    p = one_problem(broken, 12)
    assert (p["id"], p["field"], p["reason"]) == ("", "id", "missing value")


def test_broken_row_with_several_problems_lists_each(broken):
    p = problems(broken, 11)
    assert (p["id"] == "C010").all()
    by_field = dict(zip(p["field"], p["reason"]))
    assert {"account_class", "last_visit", "potential_cny", "stage", "status"} <= set(by_field)
    assert "unknown account_class" in by_field["account_class"]
    assert by_field["last_visit"] == "not a date"
    assert "below the minimum 0" in by_field["potential_cny"]
    assert "unknown stage" in by_field["stage"]
    assert "unknown status" in by_field["status"]
    coord = p[p["field"].isin(["lon", "lat"])]
    assert len(coord) == 1 and "out of range" in coord["reason"].iloc[0]
    assert coord["field"].iloc[0] == "lat"  # the latitude is the bad value
    assert "999" in coord["value"].iloc[0]
    assert len(p) == 6


def test_broken_value_aliases(broken):
    t = broken.table.set_index("id")
    assert t.loc["C001", "status"] == "customer"      # 客户
    assert t.loc["C002", "status"] == "prospect"      # 潜在客户
    assert t.loc["C002", "owner"] == "pool"           # 公海
    assert t.loc["C012", "owner"] == "pool"           # empty
    assert t.loc["C001", "owner"] == "R01"
    assert t.loc["C002", "account_class"] == "B"      # B类
    assert t.loc["C002", "potential_cny"] == 80000    # "80,000"
    assert t.loc["C012", "potential_cny"] == 3500     # "¥3,500"
    assert t.loc["C001", "stage"] == "closing"        # 签约
    assert t.loc["C002", "stage"] == "follow-up"      # 跟进
    assert t.loc["C001", "last_visit"] == pd.Timestamp("2026-10-01")
    assert pd.isna(t.loc["C001", "appt_start"])
    assert not t["synthetic"].any()


def test_broken_gcj02_coordinates_converted(broken, broken_raw):
    for row in broken.table.itertuples():
        src = broken_raw.iloc[row.source_row - 2]
        assert src["客户编号"] == row.id
        f_lon, f_lat = float(src["经度"]), float(src["纬度"])
        w_lon, w_lat = row.lon, row.lat
        # loaded coordinates differ from the file by the GCJ shift (hundreds of metres) ...
        assert 1e-3 < abs(w_lon - f_lon) < 1e-2
        assert 1e-4 < abs(w_lat - f_lat) < 1e-2
        # ... and converting back gives the file's value
        g_lon, g_lat = coords.from_wgs84(w_lon, w_lat, "gcj02")
        assert abs(g_lon - f_lon) < 1e-6 and abs(g_lat - f_lat) < 1e-6


def test_broken_as_wgs84_not_converted():
    r = io.load(BROKEN, "accounts")  # default crs wgs84
    assert r.table.set_index("id").loc["C001", "lon"] == 118.5775
    assert r.loaded == 3


def test_broken_as_bd09_converted_farther(broken):
    r = io.load(BROKEN, "accounts", crs="baidu")
    b = r.table.set_index("id").loc["C001"]
    g = broken.table.set_index("id").loc["C001"]
    assert b["lon"] != g["lon"]
    back = coords.from_wgs84(b["lon"], b["lat"], "bd09")
    assert abs(back[0] - 118.5775) < 1e-6 and abs(back[1] - 24.8110) < 1e-6


def test_validate_rejects_unknown_crs_and_entity(broken_raw):
    with pytest.raises(ValueError, match="wgs84"):
        io.validate(broken_raw, "accounts", crs="mercator")
    with pytest.raises(ValueError, match="accounts"):
        io.validate(broken_raw, "customers")


# --- other file formats -------------------------------------------------------------------------

def _numeric_coords(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw text with parseable coordinates as real numbers, as a spreadsheet would hold them."""
    out = raw.copy()
    for c in ("经度", "纬度"):
        num = pd.to_numeric(out[c], errors="coerce")
        out[c] = [float(n) if np.isfinite(n) else s for n, s in zip(num, out[c])]
        out[c] = out[c].astype(object)
    return out


def _vector_frame(raw: pd.DataFrame) -> gpd.GeoDataFrame:
    lon = pd.to_numeric(raw["经度"], errors="coerce")
    lat = pd.to_numeric(raw["纬度"], errors="coerce")
    geom = gpd.points_from_xy(lon, lat)
    geom = [g if np.isfinite(x) and np.isfinite(y) else None for g, x, y in zip(geom, lon, lat)]
    props = raw.drop(columns=["经度", "纬度"]).astype(object)
    return gpd.GeoDataFrame(props, geometry=geom, crs="EPSG:4326")


def _check_same_good_rows(result: io.ImportResult, broken: io.ImportResult) -> None:
    assert result.read == 12
    assert list(result.table["id"]) == GOOD_IDS
    np.testing.assert_allclose(result.table["lon"], broken.table["lon"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.table["lat"], broken.table["lat"], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(result.table["potential_cny"], broken.table["potential_cny"])
    assert list(result.table["stage"]) == list(broken.table["stage"])
    assert sorted(result.rejected["row"].unique()) == BAD_ROWS
    assert result.loaded + result.rejected_rows == result.read


def test_excel_loads_same_rows(tmp_path, broken, broken_raw):
    path = tmp_path / "accounts.xlsx"
    _numeric_coords(broken_raw).to_excel(path, index=False)
    r = io.load(path, "accounts", crs="gcj02")
    _check_same_good_rows(r, broken)
    # the text cells keep their meaning: same problems as from the CSV
    pd.testing.assert_frame_equal(r.rejected[["row", "field", "reason"]], broken.rejected[["row", "field", "reason"]])


def test_excel_sheet_choice(tmp_path, broken, broken_raw):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xw:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xw, sheet_name="readme", index=False)
        _numeric_coords(broken_raw).to_excel(xw, sheet_name="客户", index=False)
    r = io.load(path, "accounts", crs="gcj02", sheet="客户")
    _check_same_good_rows(r, broken)
    with pytest.raises(io.FileReadError, match="--columns"):
        io.load(path, "accounts")  # first sheet has no id/lon/lat


def test_parquet_loads_same_rows(tmp_path, broken, broken_raw):
    df = broken_raw.copy()
    df["经度"] = pd.to_numeric(df["经度"], errors="coerce")
    df["纬度"] = pd.to_numeric(df["纬度"], errors="coerce")
    path = tmp_path / "accounts.parquet"
    df.to_parquet(path)
    r = io.load(path, "accounts", crs="gcj02")
    _check_same_good_rows(r, broken)


@pytest.mark.parametrize("suffix", ["geojson", "gpkg"])
def test_vector_files_load_same_rows_from_geometry(tmp_path, broken, broken_raw, suffix):
    path = tmp_path / f"accounts.{suffix}"
    _vector_frame(broken_raw).to_file(path)
    raw = io.read_raw(path)
    assert "lon" in raw.columns and "经度" not in raw.columns  # coordinates come from the geometry
    r = io.load(path, "accounts", crs="gcj02")
    _check_same_good_rows(r, broken)


def test_projected_geopackage_is_reprojected(tmp_path, broken, broken_raw):
    path = tmp_path / "accounts_utm.gpkg"
    _vector_frame(broken_raw).iloc[[0, 1, 11]].to_crs("EPSG:32650").to_file(path)
    r = io.load(path, "accounts", crs="gcj02")
    assert list(r.table["id"]) == GOOD_IDS
    np.testing.assert_allclose(r.table["lon"], broken.table["lon"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(r.table["lat"], broken.table["lat"], rtol=0, atol=1e-7)


def test_parquet_nullable_missing_values_are_empty(tmp_path):
    df = pd.DataFrame({
        "id": ["a", "b"], "lon": [118.5, 118.6], "lat": [24.8, 24.9],
        "potential": pd.array([5, None], dtype="Int64"),
        "industry": pd.array(["shoes", None], dtype="string"),
    })
    path = tmp_path / "nullable.parquet"
    df.to_parquet(path)
    r = io.load(path, "accounts")
    assert r.loaded == 2, r.rejected
    assert r.table["potential_cny"].tolist() == [5.0, 0.0]
    assert r.table["industry"].iloc[1] in ("", None) or pd.isna(r.table["industry"].iloc[1])


# --- CSV dialects and encodings ------------------------------------------------------------------

def test_gb18030_csv_with_chinese_headers(tmp_path):
    text = ("客户编号,客户名称,经度,纬度,客户等级,负责人\n"
            "K1,厦门鹭江贸易(合成),118.0894,24.4798,A类,公海\n"
            "K2,泉州鞋业(合成),118.5775,24.8110,C,张三\n")
    path = write_csv(tmp_path / "gbk.csv", text, "gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    r = io.load(path, "accounts")
    assert r.loaded == 2 and len(r.rejected) == 0
    assert list(r.table["name"]) == ["厦门鹭江贸易(合成)", "泉州鞋业(合成)"]
    assert list(r.table["account_class"]) == ["A", "C"]
    assert list(r.table["owner"]) == ["pool", "张三"]


def test_utf8_bom_csv(tmp_path):
    path = write_csv(tmp_path / "bom.csv", "客户编号,经度,纬度\nK1,118.0894,24.4798\n", "utf-8-sig")
    r = io.load(path, "accounts")
    assert r.column_map["id"] == "客户编号" and r.loaded == 1


def test_semicolon_csv(tmp_path):
    path = write_csv(tmp_path / "semi.csv", "id;name;lon;lat;potential\n"
                     "S1;Alpha, Ltd;118.0894;24.4798;1000\nS2;Beta;119.3;26.08;\n")
    r = io.load(path, "accounts")
    assert r.loaded == 2 and len(r.rejected) == 0
    assert list(r.table["name"]) == ["Alpha, Ltd", "Beta"]
    assert r.table["lon"].tolist() == [118.0894, 119.3]
    assert r.table["potential_cny"].tolist() == [1000.0, 0.0]


def test_header_only_csv_loads_nothing(tmp_path):
    r = io.load(write_csv(tmp_path / "h.csv", "id,lon,lat\n"), "accounts")
    assert (r.read, r.loaded, r.rejected_rows) == (0, 0, 0)


def test_short_csv_row_missing_id_is_rejected(tmp_path):
    path = write_csv(tmp_path / "short.csv", "lon,lat,id\n118.5,24.8,a1\n118.6,24.9\n")
    r = io.load(path, "accounts")
    assert r.loaded == 1
    p = one_problem(r, 3)  # a short line is rejected as a whole (its fields may have shifted)
    assert (p["field"], p["reason"]) == ("line", "line 3 has 2 fields, the header has 3")


def test_short_csv_row_with_enum_column_does_not_crash(tmp_path):
    path = write_csv(tmp_path / "short.csv", "id,lon,lat,class\na1,118.5,24.8,A\na2,118.6,24.9\n")
    r = io.load(path, "accounts")
    assert (r.read, r.loaded) == (2, 1)
    assert r.table["account_class"].tolist() == ["A"]
    assert one_problem(r, 3)["reason"] == "line 3 has 3 fields, the header has 4"


# --- column mapping ----------------------------------------------------------------------------

def test_parse_column_mapping_text_and_json(tmp_path):
    assert io.parse_column_mapping("id=编号,lon=X坐标") == {"id": "编号", "lon": "X坐标"}
    assert io.parse_column_mapping(" id = 编号 , lat=Y坐标 ,") == {"id": "编号", "lat": "Y坐标"}
    assert io.parse_column_mapping('{"id": "编号", "lat": "Y坐标"}') == {"id": "编号", "lat": "Y坐标"}
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"lon": "X坐标"}, ensure_ascii=False), encoding="utf-8")
    assert io.parse_column_mapping(str(f)) == {"lon": "X坐标"}
    assert io.parse_column_mapping("") == {} and io.parse_column_mapping(None) == {}
    with pytest.raises(ValueError, match="canonical=header"):
        io.parse_column_mapping("id")
    with pytest.raises(ValueError, match="JSON"):
        io.parse_column_mapping("{id: 1")


@pytest.fixture
def odd_headers(tmp_path) -> Path:
    return write_csv(tmp_path / "odd.csv", "Kunden-Nr,X坐标,Y坐标,Firma\nK1,118.0894,24.4798,Alpha\n")


@pytest.mark.parametrize("mapping", [
    "id=Kunden-Nr,lon=X坐标,lat=Y坐标,name=Firma",
    '{"id": "Kunden-Nr", "lon": "X坐标", "lat": "Y坐标", "name": "Firma"}',
    {"id": "Kunden-Nr", "lon": "X坐标", "lat": "Y坐标", "name": "Firma"},
])
def test_load_with_column_mapping(odd_headers, mapping):
    r = io.load(odd_headers, "accounts", columns=mapping)
    assert r.loaded == 1
    row = r.table.iloc[0]
    assert (row["id"], row["lon"], row["lat"], row["name"]) == ("K1", 118.0894, 24.4798, "Alpha")


def test_mapping_to_missing_header_raises(odd_headers):
    with pytest.raises(io.FileReadError) as exc:
        io.load(odd_headers, "accounts", columns="id=客户编号,lon=X坐标,lat=Y坐标")
    assert "客户编号" in str(exc.value)


def test_mapping_unknown_field_raises(odd_headers):
    with pytest.raises(io.FileReadError, match="colour"):
        io.load(odd_headers, "accounts", columns="colour=Firma")


def test_missing_required_column_hints_at_columns_option(odd_headers):
    with pytest.raises(io.FileReadError) as exc:
        io.load(odd_headers, "accounts")
    msg = str(exc.value)
    assert "--columns" in msg and "id" in msg and "Kunden-Nr" in msg


def test_location_column_is_split(tmp_path):
    path = write_csv(tmp_path / "loc.csv", "客户编号,location\nL1,\"118.5775,24.8110\"\nL2,\"119.30，26.08\"\n")
    r = io.load(path, "accounts")
    assert r.loaded == 2
    assert r.table["lon"].tolist() == [118.5775, 119.30]
    assert r.table["lat"].tolist() == [24.8110, 26.08]
    path = write_csv(tmp_path / "loc2.csv", "编号,经纬度\nL1,\"118.5775,24.8110\"\n")
    r = io.load(path, "accounts", crs="gcj02")
    assert r.loaded == 1 and r.table["lon"].iloc[0] != 118.5775


# --- files that cannot be read -------------------------------------------------------------------

def _one_line_error(path, **kw) -> str:
    with pytest.raises(io.FileReadError) as exc:
        io.load(path, "accounts", **kw)
    msg = str(exc.value)
    assert msg and "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    msg = _one_line_error(tmp_path / "nope.csv")
    assert "not found" in msg and "nope.csv" in msg


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    assert "empty" in _one_line_error(path)


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "accounts.docx"
    path.write_bytes(b"PK\x03\x04")
    msg = _one_line_error(path)
    assert ".docx" in msg and ".csv" in msg


def test_corrupt_excel_is_one_line_error(tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"this is not a zip file\nsecond line\n")
    assert "bad.xlsx" in _one_line_error(path)


def test_file_read_error_is_a_value_error():
    assert issubclass(io.FileReadError, ValueError)


# --- other entities ----------------------------------------------------------------------------

def test_reps_csv(tmp_path):
    path = write_csv(tmp_path / "reps.csv", (
        "工号,姓名,团队,职级,驻点,入职日期,资深\n"
        "R01,王一,泉州一组,主管,泉州,2021-03-01,是\n"
        "R02,李二,泉州一组,销售,泉州,2024-07-15,否\n"
        "R03,陈三,厦门组,m1.5,厦门,,\n"
        "R04,林四,厦门组,经理,厦门,2019-01-01,1\n"
        "R05,黄五,厦门组,总监,厦门,2019-01-01,也许\n"))
    r = io.load(path, "reps")
    assert r.read == 5 and r.loaded == 4
    t = r.table.set_index("id")
    assert t["level"].to_dict() == {"R01": "M1", "R02": "sales", "R03": "M1.5", "R04": "M2"}
    assert t["experienced"].to_dict() == {"R01": True, "R02": False, "R03": False, "R04": True}
    assert t.loc["R01", "start_date"] == pd.Timestamp("2021-03-01")
    assert t.loc["R01", "base_office"] == "泉州"
    assert "lon" not in r.table.columns
    bad = r.rejected.set_index("field")
    assert set(bad.index) == {"level", "experienced"}
    assert (r.rejected["row"] == 6).all()


def test_offices_csv(tmp_path):
    path = write_csv(tmp_path / "offices.csv", (
        "编号,名称,经度,纬度,工位数,状态,月成本,类型\n"
        "O1,泉州办,118.6759,24.8741,12,现有,\"¥18,000\",office\n"
        "O2,晋江候选,118.5775,24.8110,8,候选,9000,county_seat\n"
        "O3,坏工位,118.60,24.90,2.5,候选,9000,office\n"
        "O4,负成本,118.60,24.90,3,open,-1,town\n"))
    r = io.load(path, "offices")
    assert r.loaded == 2
    t = r.table.set_index("id")
    assert t["office_status"].to_dict() == {"O1": "current", "O2": "candidate"}
    assert t.loc["O1", "desks"] == 12 and t.loc["O1", "monthly_cost_cny"] == 18000
    assert t.loc["O2", "office_kind"] == "county_seat"
    assert one_problem(r, 4)["reason"] == "not a whole number"
    p = one_problem(r, 5)
    assert p["field"] == "monthly_cost_cny" and "below the minimum" in p["reason"]


def test_cadres_csv(tmp_path):
    path = write_csv(tmp_path / "cadres.csv", (
        "工号,姓名,职级,所在城市,经历市场,考核分,就绪季度,愿意外派\n"
        "K1,赵一,储备主管,厦门,\"泉州，漳州\",88,1,是\n"
        "K2,钱二,经理,福州,\"福州,莆田\",95.5,0,否\n"
        "K3,孙三,,福州,,70,2,是\n"
        "K4,李四,M1,,,120,1,否\n"))
    r = io.load(path, "cadres")
    assert r.read == 4 and r.loaded == 2
    t = r.table.set_index("id")
    assert t["level"].to_dict() == {"K1": "M0", "K2": "M2"}
    assert t["markets_served"].to_dict() == {"K1": "泉州;漳州", "K2": "福州;莆田"}
    assert t["willing_to_relocate"].to_dict() == {"K1": True, "K2": False}
    assert t.loc["K2", "review_score"] == 95.5
    p = one_problem(r, 4)
    assert (p["field"], p["reason"]) == ("level", "missing value")
    p = problems(r, 5).set_index("field")
    assert p.loc["current_city", "reason"] == "missing value"
    assert "above the maximum 100" in p.loc["review_score", "reason"]


def test_markets_use_adcode_as_id(tmp_path):
    path = write_csv(tmp_path / "markets.csv", (
        "区划代码,城市,城市等级,沿海\n350500,泉州,2,沿海\n350800,龙岩,4,内陆\n350500,泉州重复,2,沿海\n"))
    r = io.load(path, "markets")
    assert r.loaded == 2
    assert r.table["coastal"].tolist() == ["coastal", "inland"]
    p = one_problem(r, 4)
    assert p["field"] == "adcode" and "row 2" in p["reason"]


# --- writing ---------------------------------------------------------------------------------

def test_write_result_round_trip(tmp_path, broken):
    table_path, rej_path = io.write_result(broken, tmp_path / "out")
    assert table_path.name == "accounts.csv" and rej_path.name == "accounts_rejected.csv"
    t = pd.read_csv(table_path, dtype={"id": str})
    rej = pd.read_csv(rej_path, dtype={"id": str})
    assert len(t) == broken.loaded == 3
    assert len(rej) == len(broken.rejected) == 14
    assert rej["row"].nunique() == broken.rejected_rows == 9
    assert list(t.columns) == list(broken.table.columns)
    # the written table is itself a valid WGS-84 accounts file
    again = io.load(table_path, "accounts")
    assert again.loaded == 3 and len(again.rejected) == 0
    np.testing.assert_allclose(again.table["lon"], broken.table["lon"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(again.table["lat"], broken.table["lat"], rtol=0, atol=1e-12)
    assert list(again.table["last_visit"]) == list(broken.table["last_visit"])


def test_to_geodataframe(broken):
    gdf = io.to_geodataframe(broken.table)
    assert gdf.crs.to_epsg() == 4326
    np.testing.assert_array_equal(gdf.geometry.x, broken.table["lon"])
    np.testing.assert_array_equal(gdf.geometry.y, broken.table["lat"])


# --- property: every corrupted row is accounted for ----------------------------------------

CORRUPTIONS = {"class": "account_class", "lat": "lat", "dup": "id"}


@st.composite
def corrupted_frames(draw):
    n = draw(st.integers(1, 12))
    lon = draw(st.lists(st.floats(116.5, 119.0), min_size=n, max_size=n))
    lat = draw(st.lists(st.floats(25.0, 27.0), min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from([None, None, "class", "lat", "dup"]), min_size=n, max_size=n))
    kinds[0] = kinds[0] if kinds[0] != "dup" else None  # the first row has nothing to duplicate
    ids = [f"A{i:03d}" for i in range(n)]
    cls = [draw(st.sampled_from(["A", "b", "C类", ""])) for _ in range(n)]
    lat_s = [repr(v) for v in lat]
    for i, k in enumerate(kinds):
        if k == "class":
            cls[i] = draw(st.sampled_from(["Z", "D类", "vip"]))
        elif k == "lat":
            lat_s[i] = draw(st.sampled_from(["abc", "24.9N", "--", "1.2.3"]))
        elif k == "dup":
            ids[i] = ids[draw(st.integers(0, i - 1))]
    df = pd.DataFrame({"客户编号": ids, "经度": [repr(v) for v in lon], "纬度": lat_s, "等级": cls})
    return df, kinds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_frames())
def test_every_corrupted_row_is_rejected_with_its_field(case):
    df, kinds = case
    r = io.validate(df, "accounts")
    assert r.read == len(df)
    assert r.loaded + r.rejected_rows == r.read
    bad_rows = {i + 2 for i, k in enumerate(kinds) if k}
    assert set(r.rejected["row"]) == bad_rows
    for i, k in enumerate(kinds):
        if k:
            fields = set(problems(r, i + 2)["field"])
            assert CORRUPTIONS[k] in fields, (i, k, fields)
    assert list(r.table["source_row"]) == [i + 2 for i, k in enumerate(kinds) if not k]
    assert set(r.table["account_class"]) <= {"A", "B", "C"}


def test_numbers_dates_and_whole_numbers(tmp_path):
    f = tmp_path / "a.csv"
    f.write_text("id,lon,lat,potential_cny,last_visit\n"
                 "a1,118.5,24.8,\"1,234,567.5\",2026年10月1日\n"
                 "a2,118.5,24.8,\"1,5\",2026-10-02\n", encoding="utf-8")
    r = io.load(f, "accounts")
    t = r.table.set_index("id")
    assert t.loc["a1", "potential_cny"] == 1234567.5
    assert t.loc["a1", "last_visit"] == pd.Timestamp("2026-10-01")
    rej = r.rejected
    assert list(rej["id"]) == ["a2"] and rej["field"].iloc[0] == "potential_cny"
    assert rej["reason"].iloc[0] == "not a number"  # '1,5' is not silently 15


def test_whole_number_columns_are_integers(tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("id,lon,lat,desks\no1,118.5,24.8,12\no2,118.6,24.9,\no3,118.6,24.9,2.5\n", encoding="utf-8")
    r = io.load(f, "offices")
    assert str(r.table["desks"].dtype) == "Int64"
    assert list(r.table["desks"]) == [12, 0]
    assert list(r.rejected["reason"]) == ["not a whole number"]


def test_workspace_finds_each_entity_by_suffix(tmp_path):
    (tmp_path / "accounts.csv").write_text("id,lon,lat\na1,118.5,24.8\n", encoding="utf-8")
    pd.DataFrame({"id": ["o1"], "lon": [118.1], "lat": [24.5]}).to_excel(tmp_path / "offices.xlsx", index=False)
    res = io.Workspace.open(tmp_path).load(("accounts", "offices"))
    assert res.results["accounts"].loaded == 1 and res.results["offices"].loaded == 1
    assert io.find_file(tmp_path, "offices").suffix == ".xlsx"
    with pytest.raises(io.FileReadError, match="no reps table"):
        io.Workspace.open(tmp_path).load(("reps",))
