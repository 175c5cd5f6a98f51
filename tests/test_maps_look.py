"""How the maps look: full width, the layer list collapsed, the offline base under every map, Amap in GCJ-02,
rep colours distinct for 30 reps, every legend symbol drawn, and (in Chromium) the legend clear of every
control."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app import maps
from planner.app.maps import core, geography, page, tiles
from planner.app.maps.palette import QUALITATIVE, rep_colours
from planner.geo import coords

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
XIAMEN = (118.0894, 24.4798)  # WGS-84, Siming district
AREA = (117.9, 24.4, 118.3, 24.7)


def _lab(colour: str) -> np.ndarray:
    c = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255.0
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _legends(page_html: str) -> list[str]:
    """The legends' HTML (each passed to plannerLegend as a JSON string)."""
    return [json.loads(s) for s in re.findall(r'plannerLegend\(\w+, ("(?:[^"\\]|\\.)*")\)', page_html)]


def _symbols(page_html: str) -> list[tuple[str, str, str]]:
    """(kind, colour, label) of every legend row."""
    out = []
    for legend in _legends(page_html):
        for kind, colour, label in re.findall(r'data-kind="(\w+)" data-colour="([^"]+)"[^>]*>[^<]*</span>'
                                              r"<span>([^<]*)</span>", legend):
            out.append((kind, html.unescape(colour), html.unescape(label)))
    return out


def _outside_legends(page_html: str) -> str:
    """The page without its legends, with the JSON escapes folium writes HTML with undone."""
    text = re.sub(r'plannerLegend\(\w+, "(?:[^"\\]|\\.)*"\)', "", page_html)
    for code, char in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&"), ("\\u0027", "'"), ('\\"', '"')):
        text = text.replace(code, char)
    return text


@pytest.fixture(scope="module")
def tables():
    return demo.workspace().load(demo.FILES).frames


@pytest.fixture(scope="module")
def day_plan(tables):
    from planner.solvers import days

    prob = days.DayProblem(tables["accounts"], tables["reps"], tables["offices"], pd.Timestamp("2026-11-24"),
                           rep_ids=("R05", "R06", "R07"))
    return days.solve(prob, days.DayOptions(time_limit_s=1))


def _fake_territories(n_reps: int) -> SimpleNamespace:
    """A territory plan's frames, enough to draw: ``n_reps`` reps around Xiamen, one account moved each."""
    rng = np.random.default_rng(1)
    ids = [f"R{i + 1:02d}" for i in range(n_reps)]
    rows = []
    for k, rid in enumerate(ids):
        for j in range(4):
            rows.append({"id": f"A{k}-{j}", S.LON: 118.0 + rng.uniform(0, 0.3), S.LAT: 24.45 + rng.uniform(0, 0.2),
                         "outcome": "assigned", "territory": rid, "account_class": "B", "potential_cny": 1e4,
                         "moved": j == 0, "owner": ids[k - 1], "reason": "balance"})
    rows.append({"id": "P1", S.LON: 118.2, S.LAT: 24.5, "outcome": "pool", "territory": "", "account_class": "C",
                 "potential_cny": 1e3, "moved": False, "owner": "", "reason": "pool"})
    reps = pd.DataFrame({"accounts": 4, "workload_h": 40.0, "target_workload_h": 40.0, "potential_cny": 4e4,
                         "travel_min_mean": 20.0, "base_lon": XIAMEN[0], "base_lat": XIAMEN[1],
                         "anchor_lon": 118.0 + rng.uniform(0, 0.3, n_reps),
                         "anchor_lat": 24.45 + rng.uniform(0, 0.2, n_reps)}, index=pd.Index(ids))
    return SimpleNamespace(accounts=pd.DataFrame(rows).set_index("id"), reps=reps, compactness="centre", areas=None)


def test_every_map_is_full_width_with_the_layer_list_collapsed():
    m = maps.add_layer_control(maps.base_map(tiles=None, bounds=AREA))
    text = maps.to_html(m)
    assert re.search(r"#map_\w+ \{[^}]*width: 100\.0%", text)
    assert m.get_root().width == "100%" and m.get_root().height == f"{maps.MAP_HEIGHT}px"
    assert '"collapsed": true' in text
    assert "data:image/svg+xml" in text  # the collapsed list's icon, inline (Leaflet's PNG is not shipped)


def test_the_offline_base_is_drawn_without_tiles_around_the_data():
    m = maps.add_layer_control(maps.base_map(tiles=None, bounds=AREA))
    text = maps.to_html(m)
    assert not re.search(r"var tile_layer_\w+ = L\.tileLayer", text)  # no tiles: nothing from the network
    outlines = re.findall(r"plannerOutlines\(\w+, \w+, (\{.*?\})\);\n", text)
    assert len(outlines) == 2  # the land (under the tiles' pane) and the boundaries
    data = json.loads(outlines[1])
    counties = next(ly for ly in data["layers"] if ly.get("readout"))
    names = [html.unescape(it[0]) for it in counties["items"]]
    assert any(n.startswith("思明区 Siming") and "厦门市" in n for n in names)
    assert any(lbl[2] == "思明区" for lbl in data["labels"])  # the names at the seats, shown at high zoom
    # limited to the map's extent: no county of Beijing or Guangzhou
    assert not any(n.startswith(("东城区", "天河区")) for n in names)
    # the encoded county outlines sit around the data
    first = counties["items"][0][1][0][0]
    lon, lat = first[0] / data["q"], first[1] / data["q"]
    box = geography.outline_box(AREA)
    assert box[0] - 1 < lon < box[2] + 1 and box[1] - 1 < lat < box[3] + 1
    assert geography.LAND_PANE in text and "Boundaries (offline)" in text
    assert "No tiles (offline)" not in text  # nothing to choose between


def test_no_offline_base_when_asked():
    text = maps.to_html(maps.base_map(tiles=None, bounds=AREA, geography=False))
    assert not re.search(r"plannerOutlines\(map_", text)


def test_amap_draws_everything_in_gcj02():
    off = pd.DataFrame({S.ID: ["O1"], S.NAME: ["Siming office"], S.LON: [XIAMEN[0]], S.LAT: [XIAMEN[1]],
                        S.OFFICE_STATUS: ["current"]})
    m = maps.add_offices(maps.base_map(tiles="amap", bounds=AREA), off)
    assert maps.display_crs(m) == "gcj02"
    text = maps.to_html(m)
    g_lon, g_lat = coords.wgs84_to_gcj02([XIAMEN[0]], [XIAMEN[1]])
    assert abs(g_lon[0] - XIAMEN[0]) > 0.003  # the shift is real (~500 m here)
    marker = re.search(r"L\.marker\(\s*\[([\d.]+), ([\d.]+)\]", text)
    assert marker is not None
    assert float(marker.group(1)) == pytest.approx(g_lat[0], abs=1e-9)
    assert float(marker.group(2)) == pytest.approx(g_lon[0], abs=1e-9)
    assert "webrd0{s}.is.autonavi.com" in text and '"subdomains": "1234"' in text
    # the same office on OpenStreetMap stays WGS-84; the data are never changed
    osm = maps.to_html(maps.add_offices(maps.base_map(bounds=AREA), off))
    assert re.search(rf"L\.marker\(\s*\[{XIAMEN[1]}, {XIAMEN[0]}\]", osm)
    assert off[S.LON].iloc[0] == XIAMEN[0]
    # the offline base moves with the tiles: the same county outline, shifted by the GCJ-02 offset
    box = geography.rounded_box(AREA)
    first = [json.loads(geography.outline_json(box, crs)[0])["layers"][0]["items"][0][1][0][0][:2]
             for crs in ("wgs84", "gcj02")]
    (x0, y0), (x1, y1) = (np.array(f) / geography.Q for f in first)
    gx, gy = coords.wgs84_to_gcj02([x0], [y0])
    assert (x1, y1) == pytest.approx((gx[0], gy[0]), abs=2e-4)


def test_planner_tiles_names_the_default_for_every_map(monkeypatch):
    monkeypatch.setenv(tiles.TILES_ENV, "amap")
    assert maps.display_crs(maps.base_map(bounds=AREA)) == "gcj02"
    assert maps.display_crs(maps.base_map(tiles=None, bounds=AREA)) == "wgs84"  # no tiles stays no tiles


def test_tianditu_only_with_a_key(monkeypatch):
    monkeypatch.delenv(tiles.TIANDITU_KEY_ENV, raising=False)
    assert "tianditu" not in maps.to_html(maps.base_map(bounds=AREA))
    with pytest.raises(ValueError, match="Tianditu tiles need a key"):
        maps.base_map(tiles="tianditu", bounds=AREA)
    monkeypatch.setenv(tiles.TIANDITU_KEY_ENV, "0123456789abcdef0123456789abcdef")
    text = maps.to_html(maps.add_layer_control(maps.base_map(bounds=AREA)))
    assert "t{s}.tianditu.gov.cn/vec_w" in text and "LAYER=vec" in html.unescape(text.replace("\\u0026", "&"))
    assert "Tianditu" in text and "OpenStreetMap" in text  # offered beside OpenStreetMap
    assert "No tiles (offline)" in text  # and the offline base alone
    m = maps.base_map(tiles="天地图", bounds=AREA)
    assert maps.display_crs(m) == "wgs84"


def test_thirty_reps_get_thirty_distinct_colours():
    ids = [f"R{i:02d}" for i in range(1, 31)]
    colours = rep_colours(ids)
    assert len(set(colours.values())) == 30
    lab = np.array([_lab(c) for c in colours.values()])
    d = np.linalg.norm(lab[:, None] - lab[None], axis=2) + np.eye(30) * 1e9
    assert d.min() > 20  # CIE76: clearly different side by side
    assert len(QUALITATIVE) >= 40 and rep_colours(ids) == colours  # fixed, by order


def test_territory_map_legend_shows_every_symbol_and_30_rep_colours():
    plan = _fake_territories(30)
    text = maps.to_html(maps.territory_map(plan, tiles=None))
    symbols = _symbols(text)
    outside = _outside_legends(text)
    reps = {label.split(" · ")[0]: colour for kind, colour, label in symbols if kind == "dot" and label[:1] == "R"}
    assert reps == rep_colours(plan.reps.index)  # all 30 in the legend
    for colour in reps.values():
        assert f'"colour": "{colour}"' in outside  # accounts drawn in it
        assert f"background:{colour}" in outside  # the rep's id on his centre and at his base
    kinds = {kind for kind, _, _ in symbols}
    assert {"dot", "ring", "badge", "chip"} <= kinds
    assert '"ring": "#000000"' in outside and any(k == "ring" and "moved" in lbl for k, _, lbl in symbols)
    assert 'class="planner-chip"' in outside and 'class="planner-badge"' in outside
    for rid in plan.reps.index:
        assert f">{rid}</span>" in outside and f">{rid}</div>" in outside  # chip at the base, badge at the centre


def test_day_map_legend_shows_every_symbol(day_plan, tables):
    m = maps.day_map(day_plan, tables["accounts"], tiles=None)
    text = maps.to_html(m)
    symbols = _symbols(text)
    outside = _outside_legends(text)
    colours = rep_colours(sorted(day_plan.stops["rep"].unique()))
    lines = {label.split(" · ")[0]: c for kind, c, label in symbols if kind == "line"}
    assert lines == colours
    for rep, c in colours.items():
        assert f'"color": "{c}"' in outside and f"{rep} #1 " in outside  # the route, the rep in the tooltip
    for kind, colour, label in symbols:
        if kind == "badge":
            assert f"background:{colour}" in outside, label
        elif kind == "dot":
            assert f'"color": "{colour}"' in outside, label
        elif kind == "square":
            assert 'fill="#111"' in outside, label
    assert "data-layer=" in "".join(_legends(text))  # each rep's row highlights and isolates his layer


def test_labels_are_short_and_escaped():
    assert core.short_label("Haicang county seat (candidate): 8 reps") == "Haicang county seat"
    assert core.short_label("x" * 40).endswith("…") and len(core.short_label("x" * 40)) == 20
    legend = page.legend_html("<b>t</b>", {"<img src=x>": ("ring", "#000000")})
    assert "<img" not in legend and "&lt;img src=x&gt;" in legend and "&lt;b&gt;" in legend


_GEOMETRY = """() => {
  const r = s => { const e = document.querySelector(s); if (!e) return null;
    const b = e.getBoundingClientRect(); return {l: b.left, t: b.top, r: b.right, b: b.bottom, w: b.width}; };
  const labels = Array.from(document.querySelectorAll('.planner-label'))
    .filter(l => getComputedStyle(l).display !== 'none').map(l => { const b = l.getBoundingClientRect();
      return {l: b.left, t: b.top, r: b.right, b: b.bottom}; });
  return {page: document.documentElement.clientWidth, map: r('.folium-map'), legend: r('.planner-legend'),
          zoom: r('.leaflet-control-zoom'), layers: r('.leaflet-control-layers'), scale: r('.leaflet-control-scale'),
          collapsed: !!document.querySelector('.leaflet-control-layers:not(.leaflet-control-layers-expanded)'),
          labels: labels, outlines: document.querySelectorAll('.leaflet-overlay-pane canvas').length};
}"""


def _overlap(a: dict, b: dict) -> bool:
    return a["l"] < b["r"] and a["r"] > b["l"] and a["t"] < b["b"] and a["b"] > b["t"]


def test_in_chromium_the_map_fills_the_width_and_the_legend_hides_no_control(day_plan, tables, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("PLANNER_REQUIRE_BROWSER"):
            pytest.fail("Chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("Chromium is installed by .ci/run (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    path = maps.save_html(maps.day_map(day_plan, tables["accounts"], tiles=None), tmp_path / "day.html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            pg = browser.new_page(viewport={"width": 1000, "height": 650})
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.route("http*://**/*", lambda route: route.abort())
            pg.goto(path.as_uri())
            pg.wait_for_timeout(400)
            g = pg.evaluate(_GEOMETRY)
        finally:
            browser.close()
    assert not errors, errors
    assert g["map"]["w"] >= 0.9 * g["page"], g
    assert g["collapsed"], g
    for control in ("zoom", "layers", "scale"):
        assert g[control] is not None and not _overlap(g["legend"], g[control]), (control, g)
    for k, a in enumerate(g["labels"]):
        assert g["map"]["l"] <= a["l"] and a["r"] <= g["map"]["r"] and g["map"]["t"] <= a["t"], a
        assert not any(_overlap(a, b) for b in g["labels"][k + 1:]), g["labels"]
