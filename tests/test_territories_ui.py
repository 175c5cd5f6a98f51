"""The territories app of notebook 02 (issue 20): the options of contiguous plans, the effective date, saved
scenarios, the selection map and its pins, the realignment curve, and every user text escaped."""

from __future__ import annotations

import html
from datetime import date

import numpy as np
import pandas as pd
import pytest
import shapely

from planner import schema as S
from planner.io import scenarios
from planner.solvers import territories as T

HOSTILE_ACCOUNT = "<script>alert('acc')</script>"
HOSTILE_REP = "<img src=x onerror=alert('rep')>"
FAST = dict(time_limit_s=2.0, tolerance=0.3, potential_tolerance=0.6, include_pool=True, pool_return_days=None)


def _write_data(d, n: int = 60, r: int = 3, seed: int = 12) -> None:
    """Accounts inland of Quanzhou (two with a hostile name), reps at distinct offices (one hostile name)."""
    rng = np.random.default_rng(seed)
    centre = np.array([118.3, 25.1])
    pts = centre + rng.uniform(-0.3, 0.3, size=(n, 2))
    bases = centre + rng.uniform(-0.24, 0.24, size=(r, 2))
    reps = [f"R{j}" for j in range(r)]
    names = [f"Account {i}" for i in range(n)]
    names[0] = names[7] = HOSTILE_ACCOUNT
    pd.DataFrame({S.ID: [f"A{i:03d}" for i in range(n)], S.NAME: names, S.LON: pts[:, 0], S.LAT: pts[:, 1],
                  S.OWNER: np.asarray(reps)[rng.integers(0, r, n)],
                  S.CLASS: rng.choice(list(S.CLASSES), size=n, p=[0.2, 0.4, 0.4]),
                  S.POTENTIAL_CNY: np.round(rng.lognormal(11, 0.6, n), -2),
                  S.LAST_VISIT: "2026-10-20"}).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame({S.ID: reps, S.NAME: [HOSTILE_REP] + [f"Rep {j}" for j in range(1, r)], S.LEVEL: "sales",
                  S.BASE_OFFICE: [f"O{j}" for j in range(r)]}).to_csv(d / "reps.csv", index=False)
    pd.DataFrame({S.ID: [f"O{j}" for j in range(r)], S.NAME: [f"Office {j}" for j in range(r)],
                  S.LON: bases[:, 0], S.LAT: bases[:, 1]}).to_csv(d / "offices.csv", index=False)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Scenarios of a workspace without a folder go under PLANNER_HOME: here, never the user's home."""
    monkeypatch.setenv("PLANNER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    _write_data(d)
    return d


def _app(data, **kw):
    from planner.app.ui.territories import territories_app

    opts = T.TerritoryOptions(**{**FAST, **kw})
    return territories_app(data, options=opts, solve_first=False)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """An app whose scenario A is a contiguous plan (module-wide: a solve takes the time limit)."""
    d = tmp_path_factory.mktemp("solved") / "data"
    d.mkdir()
    _write_data(d)
    app = _app(d, contiguous=True)
    plan = app.solve("A")
    assert plan is not None and plan.units is not None and plan.kpis["contiguous"]
    return app


def _html_values(widget) -> list[str]:
    """The values of every HTML widget under ``widget``."""
    import ipywidgets as w

    out, todo = [], [widget]
    while todo:
        x = todo.pop()
        if isinstance(x, (w.HTML, w.HTMLMath)):
            out.append(x.value)
        todo.extend(getattr(x, "children", ()) or ())
    return out


# --------------------------------------------------------------------------- controls
def test_new_controls_reach_options(data, home):
    app = _app(data)
    o = app.options()
    # untouched, the controls give the options they started from (as the command's defaults would)
    assert (o.contiguous, o.count_tolerance, o.keep, o.districts, o.assign) == (None, None, 1.0, None, ())
    assert app.effective_date() is None
    c = app.controls
    c["contiguous"].value = "on"
    c["count_tolerance"].value = 0.2
    c["keep"].value = 2.5
    c["districts"].value = 2
    c["effective_date"].value = date(2027, 1, 1)
    o = app.options()
    assert (o.contiguous, o.count_tolerance, o.keep, o.districts) == (True, pytest.approx(0.2), 2.5, 2)
    assert app.effective_date() == "2027-01-01"
    c["contiguous"].value = "off"
    c["count_tolerance"].value = 0  # 0 = off
    c["districts"].value = 0
    o = app.options()
    assert (o.contiguous, o.count_tolerance, o.districts) == (False, None, None)


def test_controls_start_from_the_options_given(data, home):
    from planner.app.ui.territories import territories_app

    base = T.TerritoryOptions(contiguous=True, count_tolerance=0.1, keep=4.0, districts=3,
                              assign={"A001": "R2"}, **FAST)
    app = territories_app(data, options=base, solve_first=False, effective_date="2027-03-01")
    assert app.options() == base
    assert app.effective_date() == "2027-03-01"


# --------------------------------------------------------------------------- saved scenarios
def test_save_lists_and_compares_scenarios(data, home):
    app = _app(data, contiguous=True)
    app.controls["effective_date"].value = date(2027, 1, 1)
    a = app.solve("A")
    app.controls["contiguous"].value = "off"
    app.controls["effective_date"].value = None
    b = app.solve("B")
    assert a is not None and b is not None and a.areas is not None and b.areas is None
    # the change list of each scenario, staged with the date shown
    app.controls["effective_date"].value = date(2027, 1, 1)
    assert "2027-01-01" in app.boxes["changes_A"].value and "2027-01-01" in app.boxes["changes_B"].value
    counts = app.change_list("A")["change"].value_counts()
    assert f"{int(counts.get('move', 0)):,}" in app.boxes["changes_A"].value
    app.controls["scenario_name"].value = "2027 areas"
    sa = app.save("A")
    app.controls["effective_date"].value = None
    sb = app.save("B", "scattered")
    found = {s.name: s for s in scenarios.list_all(app.scenarios_root())}
    assert set(found) == {"2027 areas", "scattered"}
    assert found["2027 areas"].effective_date == "2027-01-01" and found["scattered"].effective_date is None
    assert (found["2027 areas"].changes()["effective_date"] == "2027-01-01").all()
    assert found["2027 areas"].areas() is not None and found["scattered"].areas() is None
    assert sa.folder.parent == sb.folder.parent == data / "scenarios"
    shown = app.boxes["saved"].value
    compare = shown.split(html.escape("Saved scenarios side by side"))[-1]
    assert "2027 areas" in compare and "scattered" in compare  # both columns of the comparison
    assert "2027-01-01" in shown and html.escape("Staged") in shown
    # moves of B against A, as scenarios.compare counts them, are in the table
    table = scenarios.compare([found["2027 areas"], found["scattered"]])
    assert f"{int(table.iloc[-1]['scattered']):,}" in compare


def test_save_without_a_plan_or_name_says_so(data, home):
    app = _app(data)
    app._on_save("A")
    assert "not solved" in app.controls["saved_status"].value
    assert not scenarios.list_all(app.scenarios_root())


def test_demo_scenarios_go_under_planner_home(home):
    from planner.app.ui.territories import territories_app

    app = territories_app(None, solve_first=False)
    assert app.scenarios_root().is_relative_to(home)
    assert str(home) in html.unescape(app.boxes["saved"].value)


# --------------------------------------------------------------------------- the selection map
def test_select_in_selects_the_units_whose_points_are_inside(solved):
    sel = solved.selection
    units = solved.plans["A"].units
    ring = [(118.05, 24.85), (118.35, 24.85), (118.35, 25.15), (118.05, 25.15)]
    pts = units.geometry.representative_point()
    expected = {int(u) for u, p in zip(units["unit"], pts) if shapely.Polygon(ring).contains(p)}
    assert 0 < len(expected) < len(units)
    assert sel.select_in(ring) == expected == sel.selected
    # drawn on the map (GeoJSON in the map's system: WGS-84 on OpenStreetMap), added to the selection
    sel.select_units([])
    closed = [list(p) for p in ring] + [list(ring[0])]
    sel._on_draw(sel.layers["draw"], "created", {"type": "Feature",
                                                 "geometry": {"type": "Polygon", "coordinates": [closed]}})
    assert sel.selected == expected
    assert len(sel.layers["selected"].data["features"]) == len(expected)
    # a click toggles a unit
    u = min(expected)
    sel._on_click(event="click", properties={"unit": u})
    assert sel.selected == expected - {u}
    sel._on_click(event="click", properties={"unit": u})
    assert sel.selected == expected
    sel.select_units([])


def test_the_selection_map_has_a_legend(solved):
    import ipyleaflet as L

    from planner.app.maps.palette import POOL_COLOUR

    legends = [c for c in solved.selection.map.controls if isinstance(c, L.WidgetControl)]
    assert len(legends) == 1
    text = legends[0].widget.value
    for words in ("public pool", "selected", "pinned", "his colour"):
        assert words in text
    assert POOL_COLOUR in text and 'stroke-dasharray="4 3"' in text


def test_pins_feed_the_next_solve(solved):
    app, sel = solved, solved.selection
    plan_a = app.plans["A"]
    units = plan_a.units
    pts = units.geometry.representative_point()
    ring = [(118.2, 24.9), (118.5, 24.9), (118.5, 25.2), (118.2, 25.2)]
    chosen = {int(u) for u, p in zip(units["unit"], pts) if shapely.Polygon(ring).contains(p)}
    acc = plan_a.accounts
    planned = acc.index[acc["unit"].isin(list(chosen)) & (acc["outcome"] == "assigned")]
    assert len(planned) > 0
    # lock: each account pinned to its rep in plan A
    sel.select_in(ring)
    assert sel.pin_selected() == len(planned)
    assert sel.pins == {a: acc.loc[a, "territory"] for a in planned}
    # move: a rep that holds none of them today gets them all
    target = next(r for r in plan_a.reps.index if not (acc.loc[planned, "territory"] == r).all())
    sel.select_in(ring)
    app.selection.controls["rep"].value = target
    app.selection._on_move()
    assert sel.pins == dict.fromkeys(planned, target) and not sel.selected
    assert app.options().assign == tuple(sorted((a, target) for a in planned))
    assert html.escape(f"{len(planned)} account(s) pinned") in sel.controls["pin_count"].value
    assert len(sel.layers["pinned"].data["features"]) == len(chosen)
    b = app.solve("B")
    assert b is not None and (b.accounts.loc[planned, "territory"] == target).all()
    assert b.options.assign == app.options().assign
    sel.clear_pins()
    assert app.options().assign == () and not sel.layers["pinned"].data["features"]
    with pytest.raises(ValueError):
        sel.pin_selected("nobody")


def test_scattered_plan_shows_a_hint_not_a_map(data, home):
    app = _app(data, contiguous=False)
    assert app.selection.map is None and "Solve scenario A first" in app.selection.controls["hint"].value
    app.solve("A")
    sel = app.selection
    assert app.plans["A"].units is None
    assert sel.map not in sel.widget.children
    assert "not drawn as areas" in sel.controls["hint"].value
    assert sel.select_in([(118, 24), (119, 24), (119, 26)]) == set()


def test_tiles_follow_the_folium_maps(monkeypatch):
    from planner.app.ui.selection import tile_layers

    layers, crs = tile_layers("OpenStreetMap")
    assert crs == "wgs84" and "openstreetmap.org" in layers[0]["url"]
    layers, crs = tile_layers("amap")
    assert crs == "gcj02" and "autonavi" in layers[0]["url"] and "{s}" not in layers[0]["url"]
    assert tile_layers(None) == ([], "wgs84")
    monkeypatch.setenv("PLANNER_TILES", "amap")
    assert tile_layers("OpenStreetMap")[1] == "gcj02"


# --------------------------------------------------------------------------- the realignment curve
def test_curve_table_chart_and_plan_as_b(data, home, monkeypatch):
    import planner.solvers.territories as territories

    monkeypatch.setattr(territories, "CURVE_KEEPS", (4.0, 0.0))
    app = _app(data, time_limit_s=1.5)
    table = app.run_curve()
    assert table is not None and list(table["plan"]) == ["today", "keep 4", "from scratch"]
    shown = app.boxes["curve"].value
    assert shown.count("<svg") == 2 and "from scratch" in shown
    assert app.controls["curve_pick"].options == ("keep 4", "from scratch")
    plan = app.use_curve_plan("from scratch")
    assert app.plans["B"] is plan and plan.options.keep == 0.0 and plan.areas is not None


def test_curve_svg_points_and_labels():
    from planner.app.ui.territories import curve_svg

    t = pd.DataFrame({"plan": ["today", "keep 1", "<b>x</b>"], "moved": [0, 10, 40],
                      "hull_overlap": [3.0, 1.5, 1.1], "dispersion_km": [np.nan, 900.0, 700.0]})
    svg = curve_svg(t, "hull_overlap", title="<t>")
    assert svg.startswith("<svg") and svg.count("<circle") == 3 and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert "<b>" not in svg and "&lt;t&gt;" in svg
    assert curve_svg(t, "dispersion_km").count("<circle") == 2  # today has no dispersion


# --------------------------------------------------------------------------- hostile text
def test_hostile_names_are_escaped(solved):
    app = solved  # its workspace is a folder under tmp_path: the scenario goes to its scenarios/
    bad = "<img src=x onerror=alert('scenario')>"
    app.controls["effective_date"].value = date(2027, 1, 1)
    app.save("A", bad)
    values = _html_values(app.widget)
    for v in values:
        outside_maps = v.split('<iframe srcdoc="')[0]  # a folium map's page is escaped whole into srcdoc
        assert "<script>alert" not in outside_maps and "<img src=x" not in outside_maps
    joined = "\n".join(values)
    assert html.escape(bad, quote=False) in joined or html.escape(bad) in joined  # the name, shown escaped
    # the accounts that moved are in the change list, their hostile names escaped
    hostile = [a for a in ("A000", "A007") if app.change_list("A").set_index("account").loc[a, "change"] == "move"]
    assert hostile, "a hostile account should move in this data (owners drawn at random)"
    assert html.escape(HOSTILE_ACCOUNT, quote=False) in app.boxes["changes_A"].value
    # the hover line of the selection map and the rep list
    sel = app.selection
    unit = int(app.plans["A"].accounts.loc["A000", "unit"])
    line = sel.describe_unit(unit)
    assert "<script>" not in line and html.escape(HOSTILE_ACCOUNT) in line
    assert any(HOSTILE_REP in label for label, _ in sel.controls["rep"].options)  # a Dropdown shows plain text
    for m in sel.layers["labels"].layers:
        assert "<script" not in m.icon.html and "<img" not in m.icon.html
