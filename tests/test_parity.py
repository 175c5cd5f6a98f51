"""The command and the notebook app give the same plan from the same settings, job by job.

Each test sets a few options away from their defaults the way a user would
(flags on the command line; controls in the app), checks that both build the
same options object, and that the plans they produce are the same.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.app.cli import build_parser, main
from planner.app.cli.options import options_from_args
from planner.solvers import bases, days, expansion as E, targets as T, territories


def _cli(*argv: str) -> int:
    return main(list(argv))


def _args(*argv: str):
    return build_parser().parse_args(list(argv))


def test_overview_same_numbers(tmp_path):
    from planner.app.ui import start_here_app

    assert _cli("demo", "--out", str(tmp_path), "--no-tiles") == 0
    app = start_here_app()
    summ = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summ["share_within_min"] == {str(k): round(v, 4) for k, v in app.reach.shares.items()}
    cli_tab = pd.read_csv(tmp_path / "accounts_by_county.csv", dtype={"county_adcode": str,
                                                                         "prefecture_adcode": str})
    from planner.solvers import overview

    app_tab = overview.account_summary(app.tables["accounts"], located=app.located)
    assert cli_tab["accounts"].tolist() == app_tab["accounts"].tolist()
    assert cli_tab["county_adcode"].fillna("").tolist() == app_tab["county_adcode"].tolist()


def test_bases_same_options_and_plan(tmp_path):
    from planner.app.ui import bases_app

    argv = ["bases", "--k", "3", "--min-team", "3", "--weight", "class", "--out", str(tmp_path), "--no-tiles"]
    cli_opt = options_from_args(bases.BaseOptions, _args(*argv))
    assert _cli(*argv) == 0
    app = bases_app()
    c = app.controls
    c["k"].value, c["min_team"].value, c["weight"].value = 3, 3, "class"
    assert app.options() == cli_opt != bases.BaseOptions()
    summ = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summ["report"]["objective"] == pytest.approx(app.plan.report.objective, rel=1e-12)
    assert [(b["id"], b["reps"]) for b in summ["bases"]] == list(zip(app.plan.bases["id"], app.plan.bases["reps"]))


def _small_territories(folder):
    from test_territories import _write_small_data

    folder.mkdir()
    _write_small_data(folder, n=60, r=3)


def test_territories_same_options_and_plan(tmp_path):
    from planner.app.ui import territories_app

    data = tmp_path / "data"
    _small_territories(data)
    argv = ["territories", "--tolerance", "30%", "--potential-tolerance", "0.6", "--pool-return-days", "0",
            "--time-limit", "20", "--data", str(data), "--out", str(tmp_path / "out"), "--quiet"]
    cli_opt = options_from_args(territories.TerritoryOptions, _args(*argv))
    assert cli_opt.pool_return_days is None and cli_opt.tolerance == 0.3
    assert _cli(*argv) == 0
    app = territories_app(data, solve_first=False)
    c = app.controls
    c["tolerance"].value, c["potential_tolerance"].value = 0.3, 0.6
    c["pool_rule"].value = False
    c["time_limit_s"].value = 20
    assert app.options() == cli_opt
    plan = app.solve("A")
    summ = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summ["objective"] == pytest.approx(plan.report.objective, rel=1e-9)
    import geopandas as gpd

    acc = gpd.read_file(tmp_path / "out" / "territories.gpkg", layer="accounts").set_index(S.ID)
    assert acc["territory"].to_dict() == plan.accounts["territory"].to_dict()


def test_territories_balance_margin_from_the_command_line(tmp_path):
    opt = options_from_args(territories.TerritoryOptions,
                            _args("territories", "--balance-margin", "0", "--out", str(tmp_path)))
    assert opt.balance_margin == 0.0
    assert options_from_args(territories.TerritoryOptions,
                             _args("territories", "--out", str(tmp_path))).balance_margin == 0.1
    with pytest.raises((SystemExit, ValueError)):
        options_from_args(territories.TerritoryOptions,
                          _args("territories", "--balance-margin", "1.5", "--out", str(tmp_path)))


def test_days_same_options_and_plan(tmp_path):
    from planner.app.ui import days_app

    argv = ["days", "--date", "2026-11-24", "--rep", "R05", "--rep", "R06", "--lunch-min", "30",
            "--day-end", "17:30", "--radius-km", "15", "--solution-limit", "5", "--time-limit", "60",
            "--out", str(tmp_path), "--no-map", "--quiet"]
    cli_opt = options_from_args(days.DayOptions, _args(*argv))
    assert (cli_opt.day_end_min, cli_opt.pool_radius_m, cli_opt.lunch_min) == (17 * 60 + 30, 15_000.0, 30)
    assert _cli(*argv) == 0
    app = days_app(options=days.DayOptions(solution_limit=5, time_limit_s=60), plan_now=False)
    app.w["reps"].value = ("R05", "R06")
    app.w["lunch_min"].value = 30
    app.w["day_end_min"].value = "17:30"
    app.w["pool_radius_m"].value = 15
    assert app.options() == cli_opt
    app.refresh()
    stops = pd.read_csv(tmp_path / "stops_2026-11-24.csv", dtype={S.ID: str})
    mine = app.plan.stops
    assert stops[["rep", "seq", S.ID, "kind"]].values.tolist() == mine[["rep", "seq", S.ID, "kind"]].values.tolist()


def test_week_same_options_and_plan(tmp_path):
    from planner.app.ui import week_app
    from planner.solvers import week

    argv = ["week", "--start", "2026-11-24", "--days", "2", "--rep", "R09", "--rep", "R03", "--day-end", "17:30",
            "--radius-km", "15", "--solution-limit", "5", "--time-limit", "60", "--out", str(tmp_path), "--no-map",
            "--quiet"]
    cli_opt = options_from_args(week.WeekOptions, _args(*argv))
    assert (cli_opt.day_end_min, cli_opt.pool_radius_m) == (17 * 60 + 30, 15_000.0)
    assert _cli(*argv) == 0
    app = week_app(options=week.WeekOptions(solution_limit=5, time_limit_s=60))
    app.w["start"].value = pd.Timestamp("2026-11-24").date()
    app.w["days"].value = 2
    app.w["reps"].value = ("R03", "R09")
    app.w["day_end_min"].value = "17:30"
    app.w["pool_radius_m"].value = 15
    assert app.options() == cli_opt
    app.solve()
    stops = pd.read_csv(tmp_path / "stops_week_2026-11-24.csv", dtype={S.ID: str})
    mine = app.plan.stops
    cols = ["rep", "seq", S.ID, "kind", "ride_along"]
    assert len(mine) > 10 and (mine["ride_along"] == "R03").any()  # R03 rides along with his new rep R09
    assert stops[cols].fillna("").values.tolist() == mine[cols].values.tolist()


def test_expansion_same_options_and_plan(tmp_path):
    from planner.app.ui import expansion_app

    argv = ["expansion", "--horizon", "6", "--max-openings", "1", "--budget", "2000000", "--w-market", "0.6",
            "--out", str(tmp_path)]
    a = _args(*argv)
    cli_opt, cli_w = options_from_args(E.RoadmapOptions, a), options_from_args(E.ScoreWeights, a)
    assert _cli(*argv) == 0
    app = expansion_app()
    side = app.sides[0]
    side.controls["horizon_q"].value = 6
    side.controls["max_openings_per_q"].value = 1
    side.controls["budget_cny"].value = 2_000_000
    app.weights["market"].value = 0.6
    assert app.options(side) == cli_opt and app.score_weights() == cli_w
    summ = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summ["objective"] == pytest.approx(side.plan.report.objective)
    assert [o["adcode"] for o in summ["openings"]] == list(side.plan.roadmap[S.ADCODE])
    book = pd.read_excel(tmp_path / "expansion.xlsx", sheet_name="rotation", dtype=str)
    assert sorted(book["person"]) == sorted(side.rotation.assignments["person"])


def test_targets_same_options_and_split(tmp_path):
    from planner.app.ui import targets_app

    argv = ["targets", "--month", "2026-11", "--months", "2", "--node", "R01", "--out", str(tmp_path)]
    cli_opt = options_from_args(T.GapOptions, _args(*argv))
    assert cli_opt.months == 2
    assert _cli(*argv) == 0
    app = targets_app(month="2026-11")
    app.gap_node.value = "R01"
    app.gap_months.value = 2
    assert app.gap_plan is not None and app.gap_plan.problem.months == 2
    summ = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    (split,) = summ["gap_splits"]
    assert split["manager"] == "R01" and split["deals_needed"] == app.gap_plan.deals_needed
    book = pd.read_excel(tmp_path / "targets_2026-11.xlsx", sheet_name="gap_split")
    assert np.array_equal(book["extra_deals"].to_numpy(), app.gap_plan.split["extra_deals"].to_numpy())
