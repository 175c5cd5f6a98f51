"""Tests for planner.coords: WGS-84 <-> GCJ-02 <-> BD-09 and the mainland mask.

``prcoords`` is the independent reference (tests only). Its functions take and
return ``Coords(lat, lon)`` -- latitude first -- while planner works in
``(lon, lat)``.
"""

from __future__ import annotations

import warnings
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings, strategies as st

from planner.geo import coords

R_EARTH_M = 6371008.8


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * R_EARTH_M * np.arcsin(np.sqrt(a))


def ref(fn, lon, lat, **kw) -> tuple[np.ndarray, np.ndarray]:
    """Apply a prcoords function point by point; return (lon, lat) arrays."""
    out = [fn(prcoords.Coords(lat=b, lon=a), **kw) for a, b in zip(lon, lat)]
    return np.array([c.lon for c in out]), np.array([c.lat for c in out])


# Box over mainland China; not every point in it is on the mainland, so the
# maths tests pass mainland=True explicitly.
LON = st.floats(97.0, 124.0, allow_nan=False, allow_infinity=False)
LAT = st.floats(21.0, 42.0, allow_nan=False, allow_infinity=False)
POINTS = st.lists(st.tuples(LON, LAT), min_size=1, max_size=25)
HYP = settings(max_examples=60, deadline=None)


def split(points):
    arr = np.array(points, dtype=float)
    return arr[:, 0], arr[:, 1]


# --- maths against prcoords ------------------------------------------------------

@HYP
@given(POINTS)
def test_wgs84_to_gcj02_matches_prcoords(points):
    lon, lat = split(points)
    g_lon, g_lat = coords.wgs84_to_gcj02(lon, lat, mainland=True)
    r_lon, r_lat = ref(prcoords.wgs_gcj, lon, lat, check_china=False)
    np.testing.assert_allclose(g_lon, r_lon, rtol=0, atol=1e-7)
    np.testing.assert_allclose(g_lat, r_lat, rtol=0, atol=1e-7)


@HYP
@given(POINTS)
def test_gcj02_to_wgs84_matches_prcoords_exact_inverse(points):
    lon, lat = split(points)
    w_lon, w_lat = coords.gcj02_to_wgs84(lon, lat, mainland=True)
    r_lon, r_lat = ref(prcoords.gcj_wgs_bored, lon, lat, check_china=False)
    assert haversine_m(w_lon, w_lat, r_lon, r_lat).max() < 1.0


@HYP
@given(POINTS)
def test_wgs_gcj_wgs_round_trip_within_1cm(points):
    lon, lat = split(points)
    g_lon, g_lat = coords.wgs84_to_gcj02(lon, lat, mainland=True)
    w_lon, w_lat = coords.gcj02_to_wgs84(g_lon, g_lat, mainland=True)
    assert haversine_m(w_lon, w_lat, lon, lat).max() < 0.01


@HYP
@given(POINTS)
def test_gcj02_to_bd09_matches_prcoords(points):
    lon, lat = split(points)
    b_lon, b_lat = coords.gcj02_to_bd09(lon, lat, mainland=True)
    r_lon, r_lat = ref(prcoords.gcj_bd, lon, lat)
    assert haversine_m(b_lon, b_lat, r_lon, r_lat).max() < 1.0
    np.testing.assert_allclose(b_lon, r_lon, rtol=0, atol=1e-7)
    np.testing.assert_allclose(b_lat, r_lat, rtol=0, atol=1e-7)


@HYP
@given(POINTS)
def test_bd09_to_gcj02_matches_prcoords_exact_inverse(points):
    lon, lat = split(points)
    g_lon, g_lat = coords.bd09_to_gcj02(lon, lat, mainland=True)
    r_lon, r_lat = ref(prcoords.bd_gcj_bored, lon, lat, check_china=False)
    assert haversine_m(g_lon, g_lat, r_lon, r_lat).max() < 1.0


@HYP
@given(POINTS)
def test_bd09_round_trip_through_to_and_from_wgs84(points):
    lon, lat = split(points)
    b_lon, b_lat = coords.from_wgs84(lon, lat, "bd09", mainland=True)
    w_lon, w_lat = coords.to_wgs84(b_lon, b_lat, "bd09", mainland=True)
    assert haversine_m(w_lon, w_lat, lon, lat).max() < 0.01
    # and BD-09 really is a different system from WGS-84 there (> 100 m away)
    assert haversine_m(b_lon, b_lat, lon, lat).min() > 100


def test_many_points_vectorised_against_prcoords():
    """One vectorised call over 1500 points equals prcoords point by point."""
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(97, 124, 1500)
    lat = rng.uniform(21, 42, 1500)

    g = coords.wgs84_to_gcj02(lon, lat, mainland=True)
    r = ref(prcoords.wgs_gcj, lon, lat, check_china=False)
    assert np.abs(g[0] - r[0]).max() < 1e-7 and np.abs(g[1] - r[1]).max() < 1e-7

    w = coords.gcj02_to_wgs84(lon, lat, mainland=True)
    r = ref(prcoords.gcj_wgs_bored, lon, lat, check_china=False)
    assert haversine_m(*w, *r).max() < 1.0

    b = coords.gcj02_to_bd09(lon, lat, mainland=True)
    r = ref(prcoords.gcj_bd, lon, lat)
    assert haversine_m(*b, *r).max() < 1.0

    gb = coords.bd09_to_gcj02(lon, lat, mainland=True)
    r = ref(prcoords.bd_gcj_bored, lon, lat, check_china=False)
    assert haversine_m(*gb, *r).max() < 1.0


def test_exact_inverse_beats_one_step_approximation():
    """The iterative inverse is far better than prcoords' rough one-step gcj_wgs."""
    lon, lat = np.array([118.0894, 114.06, 87.6]), np.array([24.4798, 22.55, 43.8])
    g_lon, g_lat = coords.wgs84_to_gcj02(lon, lat, mainland=True)
    w_lon, w_lat = coords.gcj02_to_wgs84(g_lon, g_lat, mainland=True)
    rough_lon, rough_lat = ref(prcoords.gcj_wgs, g_lon, g_lat, check_china=False)
    exact_err = haversine_m(w_lon, w_lat, lon, lat)
    rough_err = haversine_m(rough_lon, rough_lat, lon, lat)
    assert exact_err.max() < 0.001
    assert rough_err.max() > 10 * exact_err.max()


def test_scalar_input_matches_array_input():
    s_lon, s_lat = coords.wgs84_to_gcj02(118.0894, 24.4798)
    a_lon, a_lat = coords.wgs84_to_gcj02([118.0894], [24.4798])
    assert np.ndim(s_lon) == 0
    assert float(s_lon) == a_lon[0] and float(s_lat) == a_lat[0]
    assert s_lon != 118.0894


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shape"):
        coords.wgs84_to_gcj02([118.0, 118.1], [24.0])


# --- the mainland mask (committed region) ----------------------------------------

SHIFTED = {
    "Xiamen": (118.0894, 24.4798),
    "Shenzhen": (114.06, 22.55),
    "Haikou": (110.33, 20.03),
}
UNSHIFTED = {
    "Kinmen": (118.38, 24.45),
    "Hong Kong": (114.17, 22.30),
    "Macau": (113.55, 22.19),
    "Taipei": (121.56, 25.04),
    "Tokyo": (139.69, 35.69),
    "Paris": (2.35, 48.85),
}


def all_conversions(lon, lat):
    """Every public conversion, with the default (committed) mask."""
    out = {
        "wgs84_to_gcj02": coords.wgs84_to_gcj02(lon, lat),
        "gcj02_to_wgs84": coords.gcj02_to_wgs84(lon, lat),
        "gcj02_to_bd09": coords.gcj02_to_bd09(lon, lat),
        "bd09_to_gcj02": coords.bd09_to_gcj02(lon, lat),
    }
    for crs in ("gcj02", "bd09"):
        out[f"to_wgs84/{crs}"] = coords.to_wgs84(lon, lat, crs)
        out[f"from_wgs84/{crs}"] = coords.from_wgs84(lon, lat, crs)
    return out


@pytest.mark.parametrize("name", list(SHIFTED))
def test_mainland_points_are_shifted_by_every_conversion(name):
    lon, lat = SHIFTED[name]
    assert coords.in_mainland(lon, lat)
    for conv, (x, y) in all_conversions([lon], [lat]).items():
        d = haversine_m(x, y, [lon], [lat])[0]
        assert 100 < d < 2000, f"{name}: {conv} moved the point {d:.1f} m"


@pytest.mark.parametrize("name", list(UNSHIFTED))
def test_non_mainland_points_are_unchanged_by_every_conversion(name):
    lon, lat = UNSHIFTED[name]
    assert not coords.in_mainland(lon, lat)
    for conv, (x, y) in all_conversions([lon], [lat]).items():
        assert x[0] == lon and y[0] == lat, f"{name}: {conv} changed the point"


def test_mask_is_applied_per_point_in_one_call():
    names = list(SHIFTED) + list(UNSHIFTED)
    pts = np.array([*SHIFTED.values(), *UNSHIFTED.values()])
    expected = np.array([n in SHIFTED for n in names])
    np.testing.assert_array_equal(coords.in_mainland(pts[:, 0], pts[:, 1]), expected)
    g_lon, g_lat = coords.wgs84_to_gcj02(pts[:, 0], pts[:, 1])
    moved = (g_lon != pts[:, 0]) | (g_lat != pts[:, 1])
    np.testing.assert_array_equal(moved, expected)


def test_mainland_override():
    x, y = SHIFTED["Xiamen"]
    assert coords.wgs84_to_gcj02(x, y, mainland=False) == (x, y)
    t_lon, t_lat = UNSHIFTED["Tokyo"]
    g = coords.wgs84_to_gcj02(t_lon, t_lat, mainland=True)
    assert g[0] != t_lon and g[1] != t_lat


def test_gcj_shift_at_xiamen_is_hundreds_of_metres():
    lon, lat = SHIFTED["Xiamen"]
    g_lon, g_lat = coords.wgs84_to_gcj02(lon, lat)
    d = float(haversine_m(g_lon, g_lat, lon, lat))
    assert 100 < d < 1000
    # BD-09 adds Baidu's own offset on top: farther still, still < 2 km
    b_lon, b_lat = coords.from_wgs84(lon, lat, "bd09")
    db = float(haversine_m(b_lon, b_lat, lon, lat))
    assert d < db < 2000


# --- names, NaN ----------------------------------------------------------------

@pytest.mark.parametrize("fn", [coords.to_wgs84, coords.from_wgs84])
def test_unknown_crs_raises_naming_allowed(fn):
    with pytest.raises(ValueError) as exc:
        fn([118.0], [24.0], "utm50n")
    msg = str(exc.value)
    assert "utm50n" in msg
    for name in coords.CRS_NAMES:
        assert name in msg


@pytest.mark.parametrize("alias,canonical", [
    ("WGS-84", "wgs84"), ("wgs_84", "wgs84"), ("GCJ-02", "gcj02"), ("amap", "gcj02"),
    ("Tencent", "gcj02"), ("BD-09", "bd09"), ("baidu", "bd09"), ("bd09ll", "bd09"),
])
def test_crs_aliases_give_the_same_result(alias, canonical):
    lon, lat = SHIFTED["Xiamen"]
    assert coords.to_wgs84(lon, lat, alias) == coords.to_wgs84(lon, lat, canonical)
    assert coords.from_wgs84(lon, lat, alias) == coords.from_wgs84(lon, lat, canonical)


def test_epsg_4326_spelling_is_accepted():
    lon, lat = SHIFTED["Xiamen"]
    assert coords.to_wgs84(lon, lat, "EPSG:4326") == (lon, lat)


@pytest.mark.parametrize("mainland", [None, True])
def test_nan_passes_through(mainland):
    lon = np.array([np.nan, 118.0894, 118.2, np.nan])
    lat = np.array([24.5, 24.4798, np.nan, np.nan])
    single = {name: (x[0], y[0]) for name, (x, y) in all_conversions([118.0894], [24.4798]).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = {
            "wgs84_to_gcj02": coords.wgs84_to_gcj02(lon, lat, mainland=mainland),
            "gcj02_to_wgs84": coords.gcj02_to_wgs84(lon, lat, mainland=mainland),
            "gcj02_to_bd09": coords.gcj02_to_bd09(lon, lat, mainland=mainland),
            "bd09_to_gcj02": coords.bd09_to_gcj02(lon, lat, mainland=mainland),
        }
        for crs in ("gcj02", "bd09"):
            results[f"to_wgs84/{crs}"] = coords.to_wgs84(lon, lat, crs, mainland=mainland)
            results[f"from_wgs84/{crs}"] = coords.from_wgs84(lon, lat, crs, mainland=mainland)
        assert not coords.in_mainland(lon, lat)[[0, 2, 3]].any()
    for name, (x, y) in results.items():
        # NaN stays NaN where it was; the finite coordinate of a half-NaN point is untouched
        np.testing.assert_array_equal(np.isnan(x), np.isnan(lon), err_msg=name)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(lat), err_msg=name)
        assert y[0] == 24.5 and x[2] == 118.2, name
        # the good point is converted exactly as when it is alone
        assert (x[1], y[1]) == single[name], name


# --- map links -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Xiamen", "Shenzhen", "Haikou", "Taipei"])
def test_amap_link_carries_gcj02_coordinates(name):
    lon, lat = {**SHIFTED, **UNSHIFTED}[name]
    url = coords.amap_link(lon, lat, "厦门 客户")
    parts = urlsplit(url)
    assert parts.netloc == "uri.amap.com"
    q = parse_qs(parts.query)
    a_lon, a_lat = (float(v) for v in q["position"][0].split(","))
    e_lon, e_lat = coords.from_wgs84(lon, lat, "gcj02")
    assert abs(a_lon - e_lon) <= 5e-7 and abs(a_lat - e_lat) <= 5e-7
    assert q["name"][0] == "厦门 客户"
    if name in SHIFTED:  # the link does not carry the raw WGS-84 point
        assert abs(a_lon - lon) > 1e-4 or abs(a_lat - lat) > 1e-4


@pytest.mark.parametrize("name", ["Xiamen", "Shenzhen", "Haikou", "Taipei"])
def test_baidu_link_carries_bd09_coordinates_lat_first(name):
    lon, lat = {**SHIFTED, **UNSHIFTED}[name]
    url = coords.baidu_link(lon, lat, "泉州")
    parts = urlsplit(url)
    assert parts.netloc == "api.map.baidu.com"
    q = parse_qs(parts.query)
    b_lat, b_lon = (float(v) for v in q["location"][0].split(","))
    e_lon, e_lat = coords.from_wgs84(lon, lat, "bd09")
    assert abs(b_lon - e_lon) <= 5e-7 and abs(b_lat - e_lat) <= 5e-7
    assert q["coord_type"][0] == "bd09ll"
    assert unquote(q["title"][0]) == "泉州"
    if name in SHIFTED:
        assert abs(b_lon - lon) > 1e-4 or abs(b_lat - lat) > 1e-4
