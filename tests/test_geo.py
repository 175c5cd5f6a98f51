"""Tests for planner.geo against the committed extracts in geodata/."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from planner import geo

GEOD = pyproj.Geod(ellps="WGS84")
KINMEN = "350527"
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


def test_county_layer_is_fujian_planning_counties(counties, units):
    assert len(counties) == 83
    assert counties["adcode"].is_unique
    assert KINMEN not in set(counties["adcode"])
    assert counties["adcode"].str.startswith("35").all()
    assert set(counties["prefecture_adcode"]) == FUJIAN_PREFECTURES
    assert (counties["province_adcode"] == "350000").all()
    assert counties.crs is not None and counties.crs.to_epsg() == 4326
    fj = units[(units["level"] == "county") & units["adcode"].str.startswith("35")]
    assert set(counties["adcode"]) == set(fj["adcode"]) - {KINMEN}


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
    assert shapely.coverage_is_valid(geoms)
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
    """area_km2 in the table is the (geodesic) area of the committed polygon within 1%."""
    a = units.set_index("adcode")["area_km2"]
    for code, geom in zip(counties["adcode"], counties.geometry):
        poly = geodesic_km2(geom)
        assert abs(a[code] - poly) / poly < 0.01, code
    # and the counties of a prefecture add up to it (Quanzhou includes Kinmen in the table)
    qz = units[(units["parent_adcode"] == "350500") & (units["level"] == "county")]
    assert abs(qz["area_km2"].sum() - a["350500"]) / a["350500"] < 0.01


@pytest.mark.parametrize("name_zh,pinyin", [
    ("厦门市", "Xiamen"), ("南安市", "Nan'an"), ("长乐区", "Changle"), ("马尾区", "Mawei"),
    ("晋江市", "Jinjiang"), ("泉州市", "Quanzhou"),
])
def test_pinyin(units, name_zh, pinyin):
    fj = units[units["adcode"].str.startswith("35")]
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


@pytest.mark.parametrize("area", ["重庆市", "50"])
def test_load_units_chongqing_only(area):
    got = geo.load_units("prefecture", area=area)
    assert set(got["province_adcode"]) == {"500000"}


def test_load_units_unknown_area_or_level():
    with pytest.raises(ValueError, match="Atlantis"):
        geo.load_units("county", area="Atlantis")
    with pytest.raises(ValueError, match="no county units"):
        geo.load_units("county", area="110000")  # Beijing has no Fujian counties
    with pytest.raises(ValueError, match="level"):
        geo.load_units("town")


def test_load_units_returns_a_copy():
    a = geo.load_units("county")
    a.loc[a.index[0], "adcode"] = "999999"
    assert "999999" not in set(geo.load_units("county")["adcode"])


# --- towns ------------------------------------------------------------------------------

def test_towns_lie_in_their_county(counties):
    t = geo.towns()
    assert len(t) > 500
    assert t["county_adcode"].isin(set(counties["adcode"])).all()
    poly = counties.set_index("adcode").geometry
    inside = [shapely.contains_xy(poly[c], x, y) for c, x, y in zip(t["county_adcode"], t["lon"], t["lat"])]
    assert all(inside)
    # prefecture column agrees with the county layer
    pref = counties.set_index("adcode")["prefecture_adcode"]
    assert (t["prefecture_adcode"].to_numpy() == pref[t["county_adcode"]].to_numpy()).all()


def test_towns_by_area():
    t = geo.towns("Quanzhou")
    assert len(t) > 0 and set(t["county_adcode"]) <= QUANZHOU_COUNTIES
    assert set(geo.towns("350582")["county_adcode"]) == {"350582"}
    assert len(geo.towns("35")) == len(geo.towns())


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
