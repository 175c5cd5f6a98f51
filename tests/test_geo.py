"""Tests for planner.geo against the committed extracts in geodata/ (national county layer, towns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from planner import geo

GEOD = pyproj.Geod(ellps="WGS84")
KINMEN = "350527"
NOT_PLANNING_PREFIXES = ("71", "81", "82")
FUJIAN_PREFECTURES = {"350100", "350200", "350300", "350400", "350500",
                      "350600", "350700", "350800", "350900"}


def geodesic_km2(geom) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


@pytest.fixture(scope="module")
def units() -> pd.DataFrame:
    return geo.admin_units()


@pytest.fixture(scope="module")
def counties():
    return geo.load_units("county")


@pytest.fixture(scope="module")
def prefectures():
    return geo.load_units("prefecture")


# --- admin-unit table ---------------------------------------------------------------

def test_fujian_has_84_county_level_units_including_kinmen(units):
    fj = units[(units["level"] == "county") & units["adcode"].str.startswith("35")]
    assert len(fj) == 84
    assert fj["adcode"].is_unique
    km = fj[fj["adcode"] == KINMEN]
    assert len(km) == 1
    assert km["name_zh"].iloc[0] == "金门县"
    assert not bool(km["planning_area"].iloc[0])
    # every other Fujian county is a planning area
    assert fj[fj["adcode"] != KINMEN]["planning_area"].astype(bool).all()


def test_admin_units_level_filter(units):
    for level in ("province", "prefecture", "county"):
        sub = geo.admin_units(level)
        assert len(sub) > 0 and set(sub["level"]) == {level}
    assert len(geo.admin_units("province")) == 34
    assert geo.admin_units("county")["parent_adcode"].str.len().eq(6).all()
    with pytest.raises(ValueError, match="level"):
        geo.admin_units("town")


def test_admin_units_returns_a_copy():
    a = geo.admin_units()
    a.loc[a.index[0], "name_zh"] = "changed"
    assert geo.admin_units()["name_zh"].iloc[0] != "changed"


def _county_level_units(units: pd.DataFrame) -> set[str]:
    """Planning county rows of the table, plus the prefecture-level units that have no counties
    (Dongguan, Zhongshan, Jiayuguan, Danzhou, the province-administered cities): their own county-level unit."""
    plan = units[units["planning_area"].astype(bool)]
    county = plan[plan["level"] == "county"]
    pref = plan[plan["level"] == "prefecture"]
    childless = set(pref["adcode"]) - set(county["parent_adcode"])
    return set(county["adcode"]) | childless


def test_county_layer_covers_mainland_china(counties, prefectures, units):
    assert 2800 <= len(counties) <= 2900
    assert counties["adcode"].is_unique
    assert set(counties["adcode"]) == _county_level_units(units)
    provinces = units[(units["level"] == "province") & units["planning_area"].astype(bool)]
    assert len(provinces) == 31
    assert set(counties["province_adcode"]) == set(provinces["adcode"])
    assert set(counties["prefecture_adcode"]) <= set(prefectures["adcode"])  # Chongqing's is 500000, as there
    assert (counties["adcode"].str[:2] == counties["province_adcode"].str[:2]).all()
    assert counties["planning_area"].all()
    assert counties.crs is not None and counties.crs.to_epsg() == 4326
    assert list(counties.index) == list(range(len(counties)))
    # Fujian as before: its 84 county-level units less Kinmen
    fj = units[(units["level"] == "county") & units["adcode"].str.startswith("35")]
    assert set(counties[counties["province_adcode"] == "350000"]["adcode"]) == set(fj["adcode"]) - {KINMEN}
    # a prefecture without counties is its own county-level unit
    dg = counties.set_index("adcode").loc["441900"]
    assert dg["name_zh"] == "东莞市" and dg["prefecture_adcode"] == "441900"


def test_taiwan_hong_kong_macau_kinmen_are_not_planning_areas(counties, prefectures, units):
    codes = counties["adcode"]
    assert not codes.str.startswith(NOT_PLANNING_PREFIXES).any()
    assert KINMEN not in set(codes)
    outside = units[units["adcode"].str.startswith(NOT_PLANNING_PREFIXES) | (units["adcode"] == KINMEN)]
    assert len(outside) >= 30 and not outside["planning_area"].astype(bool).any()
    assert not units.drop(outside.index)["planning_area"].astype(bool).eq(False).any()
    p = prefectures.set_index("adcode")["planning_area"]
    assert not p[["710000", "810000", "820000"]].any() and p.drop(["710000", "810000", "820000"]).all()
    # a point there is recognised as there, not snapped to the mainland neighbour a few km away
    pts = {"Taipei": (121.56, 25.04), "Kowloon": (114.17, 22.30), "Macau": (113.543, 22.187),
           "Kinmen": (118.38, 24.45), "Lieyu (Little Kinmen)": (118.245, 24.43)}
    lon, lat = np.array(list(pts.values())).T
    got = geo.locate(lon, lat)
    assert (got == "").all().all(), got.assign(where=list(pts))
    with pytest.raises(ValueError, match="no county units"):
        geo.load_units("county", area="810000")


def test_prefecture_layer_covers_every_province(prefectures, units):
    assert len(prefectures) >= 330
    assert prefectures["adcode"].is_unique
    provinces = set(units[units["level"] == "province"]["adcode"])
    assert len(provinces) == 34
    assert set(prefectures["province_adcode"]) == provinces
    fj = prefectures[prefectures["province_adcode"] == "350000"]
    assert set(fj["adcode"]) == FUJIAN_PREFECTURES


def test_all_geometries_valid(counties, prefectures):
    for gdf in (counties, prefectures):
        assert gdf.geometry.notna().all()
        assert gdf.is_valid.all()
        assert not gdf.is_empty.any()
        assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}


def test_county_polygons_form_a_valid_coverage(counties):
    geoms = counties.geometry.values
    assert shapely.coverage_is_valid(geoms)  # the whole country: no overlaps, shared borders identical
    # shared borders kept: neighbours touch along lines, not just at points
    names = dict(zip(counties["name_zh"], geoms))
    shared = shapely.intersection(names["晋江市"], names["石狮市"])
    assert shared.length > 0.01 and shapely.area(shared) < 1e-9


# --- locate ---------------------------------------------------------------------------

def test_known_points_locate_to_counties():
    pts = {
        (118.577, 24.811): ("350582", "晋江市", "350500", "泉州市"),
        (118.648, 24.732): ("350581", "石狮市", "350500", "泉州市"),
        (118.089, 24.479): ("350203", "思明区", "350200", "厦门市"),
        (123.0, 25.0): ("", "", "", ""),
        (118.38, 24.45): ("", "", "", ""),  # Kinmen: not a planning county
    }
    lon, lat = np.array(list(pts)).T
    got = geo.locate(lon, lat)
    assert list(got.columns) == ["county_adcode", "county_name", "prefecture_adcode", "prefecture_name"]
    assert [tuple(r) for r in got.itertuples(index=False)] == list(pts.values())


# WGS-84 landmarks, each over 0.5 km inside its county
LANDMARKS = {
    "Guangzhou, Tianhe Sports Centre": ((113.3235, 23.1390), ("440106", "天河区", "440100", "广州市")),
    "Hangzhou, west of the West Lake": ((120.12, 30.25), ("330106", "西湖区", "330100", "杭州市")),
    "Chengdu, Wuhou Shrine": ((104.048, 30.646), ("510107", "武侯区", "510100", "成都市")),
    "Harbin, Nangang": ((126.65, 45.75), ("230103", "南岗区", "230100", "哈尔滨市")),
    "Urumqi, Erdaoqiao bazaar": ((87.632, 43.773), ("650102", "天山区", "650100", "乌鲁木齐市")),
    "Beijing, Tiananmen": ((116.3975, 39.9087), ("110101", "东城区", "110100", "北京市")),
    "Shanghai, People's Square": ((121.4737, 31.2304), ("310101", "黄浦区", "310100", "上海市")),
    "Lhasa, Potala Palace": ((91.1172, 29.6578), ("540102", "城关区", "540100", "拉萨市")),
    "Kashgar": ((75.9897, 39.4677), ("653101", "喀什市", "653100", "喀什地区")),
    "Dongguan (no counties)": ((113.7518, 23.0205), ("441900", "东莞市", "441900", "东莞市")),
    "Jiyuan (province-administered)": ((112.60, 35.07), ("419001", "济源市", "419001", "济源市")),
}


@pytest.mark.parametrize("where", list(LANDMARKS))
def test_points_across_china_locate_to_county_and_prefecture(where):
    (lon, lat), expect = LANDMARKS[where]
    got = geo.locate([lon], [lat])
    assert tuple(got.iloc[0]) == expect


def test_random_points_inside_random_counties_locate_to_them(counties):
    rng = np.random.default_rng(11)
    pick = counties.iloc[rng.choice(len(counties), size=100, replace=False)]
    lon, lat = [], []
    for geom in pick.geometry:
        x0, y0, x1, y1 = geom.bounds
        while True:
            x, y = rng.uniform(x0, x1, 64), rng.uniform(y0, y1, 64)
            inside = np.flatnonzero(shapely.contains_xy(geom, x, y))
            if len(inside):
                lon.append(x[inside[0]])
                lat.append(y[inside[0]])
                break
    got = geo.locate(lon, lat)
    np.testing.assert_array_equal(got["county_adcode"].to_numpy(), pick["adcode"].to_numpy())
    np.testing.assert_array_equal(got["prefecture_adcode"].to_numpy(), pick["prefecture_adcode"].to_numpy())
    assert (got["county_name"].to_numpy() == pick["name_zh"].to_numpy()).all()


def test_locate_missing_coordinates():
    got = geo.locate([np.nan, 113.3235, np.inf], [23.0, 23.1390, 23.0])
    assert list(got["county_adcode"]) == ["", "440106", ""]


def test_locate_is_aligned_to_input_order():
    t = geo.towns().head(200)
    lon = np.concatenate([t["lon"].to_numpy(), [123.0, 130.0]])
    lat = np.concatenate([t["lat"].to_numpy(), [25.0, 30.0]])
    expect = np.concatenate([t["county_adcode"].to_numpy(dtype=object), np.array(["", ""], dtype=object)])
    rng = np.random.default_rng(7)
    for _ in range(3):
        perm = rng.permutation(len(lon))
        got = geo.locate(lon[perm], lat[perm])
        assert len(got) == len(lon)
        assert list(got.index) == list(range(len(lon)))
        np.testing.assert_array_equal(got["county_adcode"].to_numpy(), expect[perm])


def test_locate_interior_of_shared_border_neighbours(counties):
    """Points just either side of the 晋江/石狮 border go to their own county."""
    g = counties.set_index("name_zh").geometry
    shared = shapely.line_merge(shapely.intersection(g["晋江市"], g["石狮市"]))
    mid = shapely.line_interpolate_point(shared, 0.5, normalized=True)
    eps = 0.002
    pts = [p for p in (shapely.Point(mid.x + dx, mid.y + dy)
                       for dx in (-eps, 0, eps) for dy in (-eps, 0, eps))
           if shapely.contains(g["晋江市"], p) or shapely.contains(g["石狮市"], p)]
    assert len(pts) >= 2
    got = geo.locate([p.x for p in pts], [p.y for p in pts])
    expect = ["350582" if shapely.contains(g["晋江市"], p) else "350581" for p in pts]
    assert list(got["county_adcode"]) == expect
    assert {"350581", "350582"} <= set(expect)


def test_locate_point_exactly_on_shared_border(counties):
    g = counties.set_index("name_zh").geometry
    shared = shapely.intersection(g["晋江市"], g["石狮市"])
    v = shapely.get_coordinates(shared)[:3]  # shared vertices of the coverage
    got = geo.locate(v[:, 0], v[:, 1])
    assert set(got["county_adcode"]) <= {"350581", "350582"}
    assert (got["county_adcode"] != "").all()


def test_locate_empty_input():
    got = geo.locate([], [])
    assert len(got) == 0 and "county_adcode" in got


def test_locate_prefecture_level_anywhere_in_china(units):
    got = geo.locate([116.40, 118.577, 104.07, 139.69], [39.90, 24.811, 30.67, 35.69], level="prefecture")
    assert list(got.columns) == ["prefecture_adcode", "prefecture_name"]
    bj = got.iloc[0]
    assert bj["prefecture_adcode"] in set(units[units["name_zh"] == "北京市"]["adcode"])
    assert bj["prefecture_adcode"] == "110100" and bj["prefecture_name"] == "北京市"
    assert got["prefecture_adcode"].iloc[1] == "350500"
    assert got["prefecture_adcode"].iloc[2] == "510100"  # Chengdu
    assert got["prefecture_adcode"].iloc[3] == ""  # Tokyo


def test_locate_bad_arguments():
    with pytest.raises(ValueError, match="level"):
        geo.locate([118.0], [24.0], level="town")
    with pytest.raises(ValueError, match="same length"):
        geo.locate([118.0, 118.1], [24.0])


# --- areas and names --------------------------------------------------------------------

def test_jinjiang_area_plausible(units):
    area = float(units.set_index("adcode").loc["350582", "area_km2"])
    assert 600 < area < 750


def test_table_areas_agree_with_polygons(units, counties):
    """area_km2 in the table (from the source polygon) is the geodesic area of the committed polygon:
    within 1% in Fujian, within 2% everywhere (island counties lose a little to simplification)."""
    a = units.set_index("adcode")["area_km2"]
    rel = pd.Series({code: abs(a[code] - geodesic_km2(geom)) / geodesic_km2(geom)
                     for code, geom in zip(counties["adcode"], counties.geometry)})
    assert rel.max() < 0.02, rel.nlargest(3)
    assert rel[rel.index.str.startswith("35")].max() < 0.01
    # and the counties of a prefecture add up to it (Quanzhou includes Kinmen in the table)
    qz = units[(units["parent_adcode"] == "350500") & (units["level"] == "county")]
    assert abs(qz["area_km2"].sum() - a["350500"]) / a["350500"] < 0.01


@pytest.mark.parametrize("name_zh,pinyin,province", [
    ("厦门市", "Xiamen", "35"), ("南安市", "Nan'an", "35"), ("长乐区", "Changle", "35"), ("马尾区", "Mawei", "35"),
    ("晋江市", "Jinjiang", "35"), ("泉州市", "Quanzhou", "35"),
    ("天河区", "Tianhe", "44"), ("东莞市", "Dongguan", "44"), ("武侯区", "Wuhou", "51"), ("西湖区", "Xihu", "33"),
])
def test_pinyin(units, name_zh, pinyin, province):
    fj = units[units["adcode"].str.startswith(province)]
    got = fj[fj["name_zh"] == name_zh]["name_pinyin"]
    assert len(got) == 1
    assert got.iloc[0] == pinyin


def test_county_layer_names_match_table(counties, units):
    t = units.set_index("adcode")
    assert (counties["name_zh"].to_numpy() == t.loc[counties["adcode"], "name_zh"].to_numpy()).all()
    assert (counties["name_pinyin"].to_numpy() == t.loc[counties["adcode"], "name_pinyin"].to_numpy()).all()


# --- load_units(area=...) ---------------------------------------------------------------

QUANZHOU_COUNTIES = {"350502", "350503", "350504", "350505", "350521", "350524",
                     "350525", "350526", "350581", "350582", "350583"}


@pytest.mark.parametrize("area", ["泉州市", "泉州", "Quanzhou", "quanzhou", "3505", "350500"])
def test_load_units_county_by_area(area):
    got = geo.load_units("county", area=area)
    assert set(got["adcode"]) == QUANZHOU_COUNTIES


@pytest.mark.parametrize("area", ["福建省", "Fujian", "35", "350000"])
def test_load_units_by_province(area):
    assert len(geo.load_units("county", area=area)) == 83
    pref = geo.load_units("prefecture", area=area)
    assert set(pref["adcode"]) == FUJIAN_PREFECTURES


def test_load_units_single_county_and_prefecture():
    assert list(geo.load_units("county", area="350582")["adcode"]) == ["350582"]
    assert list(geo.load_units("prefecture", area="泉州市")["adcode"]) == ["350500"]
    xm = geo.load_units("county", area="Xiamen")
    assert set(xm["adcode"]) == {"350203", "350205", "350206", "350211", "350212", "350213"}


def test_load_units_outside_fujian():
    assert len(geo.load_units("county", area="110000")) == 16  # Beijing's districts
    gd = geo.load_units("county", area="广东省")
    assert set(gd["province_adcode"]) == {"440000"} and {"440106", "441900", "442000"} <= set(gd["adcode"])
    assert set(geo.load_units("county", area="Guangzhou")["prefecture_adcode"]) == {"440100"}
    assert list(geo.load_units("county", area="Dongguan")["adcode"]) == ["441900"]


@pytest.mark.parametrize("area", ["重庆市", "50"])
def test_load_units_chongqing_only(area):
    got = geo.load_units("prefecture", area=area)
    assert set(got["province_adcode"]) == {"500000"}


def test_load_units_unknown_area_or_level():
    with pytest.raises(ValueError, match="Atlantis"):
        geo.load_units("county", area="Atlantis")
    with pytest.raises(ValueError, match="no county units"):
        geo.load_units("county", area="710000")  # Taiwan: not a planning area
    with pytest.raises(ValueError, match="level"):
        geo.load_units("town")


def test_load_units_returns_a_copy():
    a = geo.load_units("county")
    a.loc[a.index[0], "adcode"] = "999999"
    assert "999999" not in set(geo.load_units("county")["adcode"])


# --- towns ------------------------------------------------------------------------------

def test_towns_lie_in_their_county(counties):
    t = geo.towns()
    assert len(t) > 15_000
    assert list(t.columns) == ["geonameid", "name", "name_zh", "lon", "lat", "county_adcode", "prefecture_adcode"]
    assert t["geonameid"].is_unique and t["geonameid"].is_monotonic_increasing
    assert t["county_adcode"].isin(set(counties["adcode"])).all()
    poly = counties.set_index("adcode").geometry
    assert shapely.contains_xy(poly[t["county_adcode"]].to_numpy(), t["lon"], t["lat"]).all()
    # prefecture column agrees with the county layer
    pref = counties.set_index("adcode")["prefecture_adcode"]
    assert (t["prefecture_adcode"].to_numpy() == pref[t["county_adcode"]].to_numpy()).all()
    assert t["county_adcode"].nunique() > 2_500
    assert set(t["county_adcode"].str[:2]) == set(counties["province_adcode"].str[:2])  # every province


def test_towns_outside_fujian():
    gd = geo.towns("广东省")
    assert len(gd) > 300 and gd["county_adcode"].str.startswith("44").all()
    assert gd["county_adcode"].str.fullmatch(r"\d{6}").all() and gd["prefecture_adcode"].str.fullmatch(r"\d{6}").all()
    assert {"440100", "440300", "441900"} <= set(gd["prefecture_adcode"])
    assert gd["name_zh"].notna().mean() > 0.9  # a Chinese name where GeoNames has one
    assert len(geo.towns("哈尔滨市")) > 0 and len(geo.towns("650000")) > 0


def test_towns_by_area():
    t = geo.towns("Quanzhou")
    assert len(t) > 0 and set(t["county_adcode"]) <= QUANZHOU_COUNTIES
    assert set(geo.towns("350582")["county_adcode"]) == {"350582"}
    fj = geo.towns("35")
    assert 500 < len(fj) < len(geo.towns()) and fj["county_adcode"].str.startswith("35").all()


def test_towns_returns_a_copy():
    a = geo.towns()
    a.loc[0, "name"] = "changed"
    assert geo.towns()["name"].iloc[0] != "changed"


# --- regions -----------------------------------------------------------------------------

@pytest.mark.parametrize("lon,lat,inside", [
    (116.40, 39.90, True),    # Beijing
    (87.62, 43.83, True),     # Urumqi
    (91.13, 29.65, True),     # Lhasa
    (126.63, 45.75, True),    # Harbin
    (121.56, 25.04, True),    # Taipei
    (114.17, 22.30, True),    # Hong Kong
    (118.38, 24.45, True),    # Kinmen
    (139.69, 35.69, False),   # Tokyo
    (2.35, 48.85, False),     # Paris
    (126.98, 37.57, False),   # Seoul
    (105.85, 21.03, False),   # Hanoi
    (0.0, 0.0, False),
    (float("nan"), 24.0, False),
])
def test_in_china(lon, lat, inside):
    assert bool(geo.in_china(lon, lat)) is inside


def test_in_china_vectorised_and_unknown_region():
    got = geo.in_china([116.40, 139.69, np.nan], [39.90, 35.69, 1.0])
    assert got.dtype == bool and list(got) == [True, False, False]
    with pytest.raises(ValueError, match="china"):
        geo.china_region("europe")


def test_gcj_region_inside_china_region():
    china = geo.china_region("china")
    shifted = geo.china_region("gcj_shifted")
    # Both are buffered mainland outlines simplified with different tolerances:
    # the shifted area may poke out of the outline only by a sliver (< 0.03 deg).
    outside = shapely.difference(shifted, china)
    far = shapely.distance(china, shapely.points(shapely.get_coordinates(outside)))
    assert far.max() < 0.03
    assert not shapely.contains_xy(shifted, 121.56, 25.04)  # Taipei excluded
    assert shapely.contains_xy(china, 121.56, 25.04)


def test_metric_crs_for_fujian():
    assert geo.metric_crs([118.0, 119.3], [24.4, 26.1]) == "EPSG:32650"
    assert geo.metric_crs([116.4], [39.9]) == "EPSG:32650"
    assert geo.metric_crs([87.6], [43.8]) == "EPSG:32645"
    assert geo.metric_crs([151.2], [-33.9]) == "EPSG:32756"


def test_ambiguous_pinyin_area_is_refused():
    with pytest.raises(ValueError, match="ambiguous"):
        geo.load_units("prefecture", area="Taizhou")
    assert set(geo.load_units("prefecture", area="台州市")["adcode"]) == {"331000"}


def test_shore_points_snap_to_the_nearest_unit_but_open_sea_does_not():
    # a point ~1 km off a simplified coastline still belongs to its county; the open sea does not
    counties = geo.load_units("county")
    shishi = counties.set_index("adcode").geometry["350581"]
    import shapely
    ring = shapely.boundary(shishi)
    p = shapely.line_interpolate_point(ring, 0.5, normalized=True)
    outside = None
    for dx, dy in ((0.008, 0), (-0.008, 0), (0, 0.008), (0, -0.008)):
        q = shapely.Point(p.x + dx, p.y + dy)
        if not counties.geometry.intersects(q).any():
            outside = q
            break
    if outside is not None:
        assert geo.locate([outside.x], [outside.y])["county_adcode"][0] == "350581"
    assert geo.locate([123.0], [25.0])["county_adcode"][0] == ""
