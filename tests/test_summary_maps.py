"""Account summary, reach and the demo map."""

import json
import re

import pandas as pd
import pytest

from planner import demo, geo, schema as S
from planner.app import maps
from planner.solvers import density, overview as summary


def _has(page: str, text: str) -> bool:
    """Text in the page, literally or as the JSON \\u escapes folium writes."""
    return text in page or json.dumps(text)[1:-1] in page


@pytest.fixture(scope="module")
def sc():
    return demo.load_demo()


def _acc(lonlat, classes):
    return pd.DataFrame({S.ID: [f"a{i}" for i in range(len(lonlat))], S.NAME: "x",
                         S.LON: [p[0] for p in lonlat], S.LAT: [p[1] for p in lonlat],
                         S.CLASS: classes, S.STATUS: "prospect", S.POTENTIAL_CNY: 1000.0})


def test_account_summary_counts_every_account():
    acc = _acc([(118.577, 24.811), (118.58, 24.80), (118.648, 24.732), (123.0, 25.0)], ["A", "B", "C", "A"])
    tab = summary.account_summary(acc)
    assert tab["accounts"].sum() == 4
    jj = tab[tab["county_adcode"] == "350582"].iloc[0]
    assert (jj["A"], jj["B"], jj["C"], jj["accounts"]) == (1, 1, 0, 2)
    assert jj["potential_cny"] == 2000.0
    outside = tab[tab["county_adcode"] == ""]
    assert outside["accounts"].sum() == 1


def test_reach_shares():
    base = (118.0894, 24.4798)
    acc = _acc([base, (118.10, 24.49), (118.577, 24.811), (119.30, 26.08)], ["A"] * 4)
    r = density.reach(acc, [base], thresholds_min=(30, 60, 600))
    assert r.time_min.iloc[0] == 0
    assert r.shares[30] == pytest.approx(0.5)
    assert r.shares[600] == 1.0
    assert list(r.time_min.index) == list(acc.index)


def test_filter_accounts(sc):
    loc = geo.locate(sc.accounts[S.LON], sc.accounts[S.LAT])
    a, located = summary.filter_accounts(sc.accounts, loc, prefecture="350500", classes=["A"])
    assert len(a) == len(located) > 0
    assert (located["prefecture_adcode"] == "350500").all() and (a[S.CLASS] == "A").all()
    assert len(a) == ((loc["prefecture_adcode"] == "350500") & (sc.accounts[S.CLASS] == "A")).sum()
    seg = summary.filter_accounts(sc.accounts, statuses=["customer"], industry="footwear")
    assert len(seg) > 0 and (seg[S.STATUS] == "customer").all() and (seg[S.INDUSTRY] == "footwear").all()
    with pytest.raises(ValueError, match="located"):
        summary.filter_accounts(sc.accounts, prefecture="350500")


def test_demo_map_is_self_contained(sc):
    acc = sc.accounts.head(200)
    units = geo.load_units("county", "Quanzhou")
    counts = pd.Series({"350582": 10, "350581": 5})
    m = maps.demo_map(acc, sc.offices.head(1), units, counts)
    page = maps.to_html(m)
    assert not re.search(r'<script src="https?://', page), "a script still comes from a CDN"
    assert not re.search(r'<link rel="stylesheet" href="https?://', page)
    assert "Leaflet 1.9.4" in page  # the vendored library is inlined
    assert "L.markerClusterGroup" in page and "MarkerClusterGroup" in page
    assert _has(page, "晋江市") and _has(page, "石狮市")
    assert sc.offices.iloc[0][S.NAME].split(",")[0] in page
    # every account is in the cluster data
    assert page.count("(synthetic) | class") >= 200
    online = maps.to_html(m, offline=False)
    assert "cdn.jsdelivr.net/npm/leaflet" in online


def test_choropleth_colours_follow_values(sc):
    units = geo.load_units("county", "Quanzhou")
    m = maps.add_choropleth(maps.base_map(tiles=None), units, pd.Series({"350582": 100, "350581": 1}))
    page = maps.to_html(m)
    assert '"value": 100.0' in page and '"value": 1.0' in page
    assert "Accounts per county" in page
