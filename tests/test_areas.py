"""Contiguous territories end to end (issue 20): areas connected in the unit graph, balance, locks and pins,
the change list, determinism, districts, the curve, the CLI and the map."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.geo.units import build_units
from planner.solvers import territories as T
from tests.test_territories import _write_small_data, make_problem

OPTS = dict(contiguous=True, tolerance=0.10, potential_tolerance=0.30, include_pool=True, time_limit_s=8.0)


def _connected_independently(plan, problem) -> bool:
    """Every rep's planned accounts form one piece of a unit graph built here (not the solver's)."""
    acc = plan.accounts
    sel = (acc["outcome"] == "assigned").to_numpy()
    g = build_units(problem.lonlat[sel])
    terr = acc["territory"].to_numpy()[sel]
    unit_terr: dict[int, set] = {}
    for u, t in zip(g.unit_of, terr):
        unit_terr.setdefault(int(u), set()).add(t)
    assert all(len(v) == 1 for v in unit_terr.values()), "a unit split between two reps"
    for r in problem.rep_ids:
        units = np.unique(g.unit_of[terr == r])
        if len(units) and g.components(units) != 1:
            return False
    return True


@pytest.fixture(scope="module")
def design():
    problem = make_problem(160, 4, seed=3, owned=0.0)  # a new design: contiguous by default
    return problem, T.solve(problem, T.TerritoryOptions(**{k: v for k, v in OPTS.items() if k != "contiguous"}))


def test_new_design_is_contiguous_by_default_and_connected(design):
    problem, plan = design
    assert plan.compactness == "areas" and plan.areas is not None and plan.units is not None
    assert plan.kpis["contiguous"] is True
    assert _connected_independently(plan, problem)
    assert set(plan.areas["territory"]) == set(problem.rep_ids)
    assert plan.areas.geom_type.isin(["Polygon"]).all()  # one piece of land each


def test_balance_within_tolerance_when_feasible(design):
    _, plan = design
    assert plan.kpis["balanced"] and plan.report.status in ("optimal", "feasible")
    r = plan.reps
    assert ((r["workload_ratio"] - 1).abs() <= 0.10 + 1e-9).all()
    assert ((r["potential_ratio"] - 1).abs() <= 0.30 + 1e-9).all()
    assert plan.report.bound is not None and 0 < plan.report.bound <= plan.report.objective + 1e-6


def test_areas_draw_better_than_scattered(design):
    problem, plan = design
    scattered = T.solve(problem, T.TerritoryOptions(**{**OPTS, "contiguous": False}))
    assert plan.kpis["knn_same"] > scattered.kpis["knn_same"]
    assert plan.kpis["hull_overlap"] < scattered.kpis["hull_overlap"] + 1e-9


def test_locks_and_pins_hold_with_areas():
    problem = make_problem(120, 3, seed=5, owned=1.0)
    owned = pd.Series(problem.owner, index=problem.account_ids)
    lock = list(owned.index[:3])
    pin_id = str(owned.index[10])
    pin_to = next(r for r in problem.rep_ids if r != owned[pin_id])
    plan = T.solve(problem, T.TerritoryOptions(**OPTS, locked=frozenset(lock), assign={pin_id: pin_to}))
    acc = plan.accounts
    assert (acc.loc[lock, "territory"] == owned[lock]).all()
    assert acc.loc[pin_id, "territory"] == pin_to and acc.loc[pin_id, "reason"].startswith("pinned")
    # locks scattered at random may make one piece per rep impossible: the plan must then say so
    assert plan.kpis["contiguous"] == _connected_independently(plan, problem)
    if not plan.kpis["contiguous"]:
        assert plan.report.status == "partial" and "NOT CONTIGUOUS" in plan.report.message
    one = T.solve(problem, T.TerritoryOptions(**OPTS, locked=frozenset(lock[:1])))
    assert one.accounts.loc[lock[0], "territory"] == owned[lock[0]]
    assert one.kpis["contiguous"] and _connected_independently(one, problem)


def test_realignment_keep_trades_moves_for_shape():
    problem = make_problem(150, 4, seed=8, owned=1.0)
    table, plans = T.realignment_curve(problem, T.TerritoryOptions(**OPTS), keeps=(20.0, 0.0))
    assert list(table["plan"]) == ["today", "keep 20", "from scratch"]
    assert table.loc[1, "moved"] <= table.loc[2, "moved"]
    assert table.loc[2, "knn_same"] > table.loc[0, "knn_same"]  # today's owners are scattered at random
    for p in plans.values():
        assert p.kpis["contiguous"]


def test_same_seed_same_plan():
    problem = make_problem(80, 3, seed=9, owned=0.0)
    opts = T.TerritoryOptions(**{**OPTS, "time_limit_s": 20.0})
    a, b = T.solve(problem, opts), T.solve(problem, opts)
    assert a.accounts["territory"].equals(b.accounts["territory"])


def test_districts_group_territories_into_connected_districts():
    problem = make_problem(200, 6, seed=4, owned=0.0)
    plan = T.solve(problem, T.TerritoryOptions(**{**OPTS, "districts": 2}))
    assert set(plan.reps["district"]) == {1, 2}
    import shapely

    for _, group in plan.areas.groupby("district"):
        merged = shapely.union_all(group.geometry.to_numpy())
        assert merged.geom_type == "Polygon"  # the district's territories touch: one area


def test_impossible_count_balance_says_not_balanced():
    problem = make_problem(40, 3, seed=2, owned=0.0)
    lonlat = problem.lonlat.copy()
    lonlat[:30] = lonlat[0] + np.random.default_rng(0).normal(0, 1e-4, (30, 2))  # 30 of 40 at one spot
    from dataclasses import replace

    crowded = replace(problem, lonlat=lonlat)
    plan = T.solve(crowded, T.TerritoryOptions(**{**OPTS, "count_tolerance": 0.02, "time_limit_s": 4}))
    if not plan.kpis["balanced"]:
        assert plan.report.status == "partial" and plan.report.message.startswith("NOT BALANCED")


def test_cli_contiguous_scenario_change_list_and_layers(tmp_path):
    import geopandas as gpd
    import pyogrio

    from planner.app.cli import scenarios as cli_scenarios, territories as cli_territories

    data = tmp_path / "data"
    data.mkdir()
    _write_small_data(data, n=90)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    cli_territories.register(sub)
    cli_scenarios.register(sub)
    out = tmp_path / "out"
    args = p.parse_args(["territories", "--contiguous", "--tolerance", "15%", "--potential-tolerance", "40%",
                         "--time-limit", "6", "--data", str(data), "--out", str(out), "--quiet",
                         "--scenario", "2027 <draft>", "--effective-date", "2027-01-01"])
    assert args.func(args) == 0
    layers = {name for name, _ in pyogrio.list_layers(out / "territories.gpkg")}
    assert {"accounts", "reps", "territories", "units"} <= layers
    areas = gpd.read_file(out / "territories.gpkg", layer="territories")
    assert len(areas) == 3 and areas.crs.to_epsg() == 4326
    ch = pd.read_csv(out / "territories_changes.csv", dtype=str, keep_default_na=False)
    assert len(ch) == 90 and set(ch["effective_date"]) == {"2027-01-01"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["kpis"]["contiguous"] is True and summary["effective_date"] == "2027-01-01"
    saved = data / "scenarios"
    assert [d.name for d in saved.iterdir()] and (next(saved.iterdir()) / "territories.geojson").exists()
    html = (out / "territories_map.html").read_text(encoding="utf-8")
    assert "Territories (areas)" in html and "territory area" in html
    args = p.parse_args(["scenarios", "--data", str(data), "--compare", "2027 <draft>"])
    assert args.func(args) == 0


def test_contiguous_option_reaches_the_cli_and_defaults_stay_scattered_for_realignment():
    problem = make_problem(60, 3, seed=1, owned=1.0)
    plan = T.solve(problem, T.TerritoryOptions(time_limit_s=3, include_pool=True))
    assert plan.compactness != "areas" and plan.areas is None
    assert S.PUBLIC_POOL not in set(plan.accounts.loc[plan.accounts["outcome"] == "assigned", "territory"])
