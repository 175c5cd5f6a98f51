"""Territories: invariants of the plan, known answers, infeasible settings named, CLI and app."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from planner import schema as S
from planner.app.cli.territories import register
from planner.plans import SolveReport
from planner.solvers import territories as T


def make_problem(n=60, r=4, seed=0, *, owned=0.8, new_reps=0, days_max=60, spread=0.3):
    """Random accounts in a box inland of Quanzhou, reps at distinct bases inside it."""
    rng = np.random.default_rng(seed)
    centre = np.array([118.3, 25.1])
    pts = centre + rng.uniform(-spread, spread, size=(n, 2))
    bases = centre + rng.uniform(-spread * 0.8, spread * 0.8, size=(r, 2))
    rep_ids = [f"R{j}" for j in range(r)]
    owner = np.where(rng.random(n) < owned, np.asarray(rep_ids)[rng.integers(0, r, n)], S.PUBLIC_POOL)
    share = np.ones(r)
    share[:new_reps] = 0.5
    return T.TerritoryProblem(
        account_ids=[f"A{i:03d}" for i in range(n)], lonlat=pts,
        account_class=rng.choice(list(S.CLASSES), size=n, p=[0.2, 0.4, 0.4]),
        potential_cny=np.round(rng.lognormal(11, 0.6, n), -2), owner=owner,
        days_since_visit=rng.integers(0, days_max, n).astype(float), rep_ids=rep_ids, base_lonlat=bases,
        share=share, capacity=np.zeros(r, dtype=int))


FAST = dict(time_limit_s=10.0, include_pool=True, tolerance=0.25, potential_tolerance=0.5)


def check_invariants(problem, plan):
    acc = plan.accounts
    # every input account exactly once, in input order
    assert list(acc.index) == list(problem.account_ids)
    assert acc["outcome"].isin(T.OUTCOMES).all()
    rep_ids = set(problem.rep_ids)
    assigned = acc["outcome"] == "assigned"
    assert acc.loc[assigned, "territory"].isin(rep_ids).all()
    assert (acc.loc[acc["outcome"] == "pool", "territory"] == S.PUBLIC_POOL).all()
    kept = acc["outcome"] == "kept"
    assert (acc.loc[kept, "territory"] == acc.loc[kept, "owner"]).all()
    assert (acc["reason"].str.len() > 0).all()  # planned or left out, always with a reason
    # locked accounts stay with their owner
    lk = acc["locked"]
    assert (acc.loc[lk, "territory"] == acc.loc[lk, "owner"]).all()
    assert not acc.loc[lk, "moved"].any()
    # the per-rep table adds up
    counts = acc.loc[assigned, "territory"].value_counts().reindex(plan.reps.index, fill_value=0)
    assert (counts.to_numpy() == plan.reps["accounts"].to_numpy()).all()
    assert plan.kpis["assigned"] + plan.kpis["pool"] + plan.kpis["kept_outside"] == problem.n_accounts
    assert plan.kpis["moved"] <= int(acc["moved"].sum())
    assert isinstance(plan.report, SolveReport)
    if plan.report.ok:
        assert not plan.report.violated
        check_limits(plan)
    else:
        assert plan.report.status == "partial"
        assert plan.report.violated or "time limit" in plan.report.message


def check_limits(plan, eps=1e-6):
    o = plan.options
    reps = plan.reps
    assert (reps["accounts"] <= reps["capacity"]).all()
    if reps["workload_h"].sum() > 0:
        assert (reps["workload_ratio"] <= 1 + o.tolerance + eps).all()
        assert (reps["workload_ratio"] >= 1 - o.tolerance - eps).all()
    if reps["potential_cny"].sum() > 0:
        assert (reps["potential_ratio"] <= 1 + o.potential_tolerance + eps).all()
        assert (reps["potential_ratio"] >= 1 - o.potential_tolerance - eps).all()
    if o.max_moves is not None:
        assert plan.kpis["moved"] <= o.max_moves


# --- known answers ---------------------------------------------------------------------


def test_two_reps_take_their_neighbours():
    # two bases 60 km apart, two accounts next to each: each rep takes its own pair
    problem = T.TerritoryProblem(
        account_ids=["a", "b", "c", "d"],
        lonlat=[[118.00, 24.50], [118.01, 24.51], [118.60, 24.50], [118.61, 24.51]],
        account_class=["B"] * 4, potential_cny=[1000.0] * 4, owner=["R2", "R1", "R1", "R2"],
        days_since_visit=[1.0] * 4, rep_ids=["R1", "R2"], base_lonlat=[[118.0, 24.5], [118.6, 24.5]],
        share=[1.0, 1.0], capacity=[0, 0])
    plan = T.solve(problem, T.TerritoryOptions(move_penalty_min=0.0, time_limit_s=10))
    assert plan.accounts["territory"].tolist() == ["R1", "R1", "R2", "R2"]
    assert plan.report.status == "optimal"
    assert plan.compactness == "base"
    assert plan.kpis["moved"] == 2
    assert plan.moves.index.tolist() == ["a", "c"]
    assert plan.moves["reason"].str.startswith("compactness").all()
    assert plan.report.bound == pytest.approx(plan.report.objective, rel=1e-6)
    check_invariants(problem, plan)


def test_move_penalty_keeps_owners():
    problem = make_problem(40, 3, seed=3, owned=1.0)
    keep = T.solve(problem, T.TerritoryOptions(move_penalty_min=1e6, **FAST))
    free = T.solve(problem, T.TerritoryOptions(move_penalty_min=0.0, **FAST))
    assert keep.kpis["moved"] <= free.kpis["moved"]
    assert free.kpis["mean_travel_min"] <= keep.kpis["mean_travel_min"] + 1e-9


def test_balance_within_tolerance_when_feasible():
    problem = make_problem(300, 5, seed=1, owned=1.0, new_reps=1)
    plan = T.solve(problem, T.TerritoryOptions(tolerance=0.05, potential_tolerance=0.10, pool_return_days=None,
                                               time_limit_s=20))
    assert plan.report.ok, plan.report.describe()
    check_limits(plan)
    check_invariants(problem, plan)
    # the new rep (half share) gets about half the workload of a full rep
    w = plan.reps["workload_h"]
    assert w.iloc[0] < 0.6 * w.iloc[1:].mean()
    assert plan.kpis["workload_max_over_min"] <= 1.05 / 0.95 + 1e-6


def test_same_seed_same_plan():
    problem = make_problem(150, 4, seed=5)
    opts = T.TerritoryOptions(seed=7, **FAST)
    a, b = T.solve(problem, opts), T.solve(problem, opts)
    pd.testing.assert_series_equal(a.accounts["territory"], b.accounts["territory"])
    assert a.report.objective == pytest.approx(b.report.objective)


def test_units_then_accounts_keep_the_invariants():
    problem = make_problem(600, 6, seed=2, owned=1.0)
    plan = T.solve(problem, T.TerritoryOptions(unit_threshold=100, units=60, pool_return_days=None, time_limit_s=20,
                                               tolerance=0.10, potential_tolerance=0.20))
    assert "units" in plan.report.message
    check_invariants(problem, plan)
    assert plan.report.ok, plan.report.describe()


def test_centre_mode_when_reps_share_a_base():
    p = make_problem(120, 4, seed=4)
    shared = T.TerritoryProblem(**{**{k: getattr(p, k) for k in p.__dataclass_fields__},
                                   "base_lonlat": np.tile([118.1, 24.46], (4, 1))})
    plan = T.solve(shared, T.TerritoryOptions(**FAST))
    assert plan.compactness == "centre"
    # centres are spread out (not all at the shared base)
    assert plan.reps[["anchor_lon", "anchor_lat"]].round(3).drop_duplicates().shape[0] == 4
    check_invariants(shared, plan)


# --- the pool, locks, exclusions --------------------------------------------------------


def test_pool_rule_locked_and_excluded():
    problem = make_problem(80, 4, seed=6, days_max=200)
    owned = problem.owner != S.PUBLIC_POOL
    days = problem.days_since_visit
    ids = problem.account_ids
    locked = [i for i, o, d in zip(ids, owned, days) if o and d > 120][:3]  # stale but locked: stays
    excluded = [i for i, o, d in zip(ids, owned, days) if o and d <= 90][:3]
    plan = T.solve(problem, T.TerritoryOptions(locked=locked, excluded=excluded, time_limit_s=10,
                                               tolerance=0.3, potential_tolerance=0.6))
    acc = plan.accounts
    check_invariants(problem, plan)
    stale = owned & (days > 90) & ~np.isin(ids, locked)
    assert set(plan.pool_returns.index) == set(ids[stale])
    assert acc.loc[ids[stale], "reason"].str.contains("not visited for").all()
    assert (acc.loc[locked, "territory"] == acc.loc[locked, "owner"]).all()
    assert (acc.loc[excluded, "outcome"] == "pool").all()
    assert acc.loc[excluded, "reason"].str.contains("excluded").all()
    in_pool = ~owned & ~np.isin(ids, excluded)
    assert (acc.loc[ids[in_pool], "outcome"] == "pool").all()  # include_pool is off
    assert plan.kpis["pool_returns"] == int(stale.sum())


def test_lock_with_a_rep_outside_the_plan_is_kept():
    p = make_problem(30, 3, seed=8, owned=1.0)
    owner = p.owner.copy()
    owner[0] = "R99"
    prob = T.TerritoryProblem(**{**{k: getattr(p, k) for k in p.__dataclass_fields__}, "owner": owner})
    plan = T.solve(prob, T.TerritoryOptions(locked=[prob.account_ids[0]], **FAST))
    row = plan.accounts.iloc[0]
    assert row["outcome"] == "kept" and row["territory"] == "R99" and "not a rep of this plan" in row["reason"]
    check_invariants(prob, plan)


# --- settings that cannot all hold: the closest plan, limits named ----------------------------


def test_capacity_too_small_is_named():
    problem = make_problem(100, 4, seed=9, owned=1.0)
    plan = T.solve(problem, T.TerritoryOptions(max_accounts=10, pool_return_days=None, **{
        k: v for k, v in FAST.items() if k != "include_pool"}))
    assert plan.report.status == "partial"
    assert any(v.startswith("capacity: R") for v in plan.report.violated)
    check_invariants(problem, plan)
    assert plan.kpis["assigned"] == 100  # still a full plan


def test_locked_overload_is_named():
    problem = make_problem(100, 4, seed=10, owned=1.0)
    r0 = problem.account_ids[problem.owner == "R0"]
    mine = np.flatnonzero(problem.owner == "R0")
    owner = problem.owner.copy()
    owner[:60] = "R0"  # R0 owns most accounts, all locked
    prob = T.TerritoryProblem(**{**{k: getattr(problem, k) for k in problem.__dataclass_fields__}, "owner": owner})
    plan = T.solve(prob, T.TerritoryOptions(locked=prob.account_ids[:60], pool_return_days=None, time_limit_s=10))
    assert plan.report.status == "partial"
    assert any(v.startswith("workload above") and "R0" in v for v in plan.report.violated)
    check_invariants(prob, plan)
    assert len(r0) >= 0 and len(mine) >= 0


def test_impossible_tolerance_says_not_balanced_and_names_the_measure():
    """Three like accounts for two reps cannot be split within +-1 %: the plan says so first, loudly."""
    problem = T.TerritoryProblem(
        account_ids=["a", "b", "c"], lonlat=[[118.30, 25.10], [118.31, 25.10], [118.30, 25.11]],
        account_class=["B", "B", "B"], potential_cny=[100_000.0] * 3, owner=["R1", "R1", "R2"],
        days_since_visit=[10.0] * 3, rep_ids=["R1", "R2"], base_lonlat=[[118.29, 25.10], [118.31, 25.11]],
        share=[1.0, 1.0], capacity=[0, 0])
    plan = T.solve(problem, T.TerritoryOptions(tolerance=0.01, potential_tolerance=5.0, pool_return_days=None,
                                               time_limit_s=5))
    report = plan.report
    assert report.status == "partial" and not report.ok
    assert report.message.startswith("NOT BALANCED: workload outside +-1% for ")
    assert report.violated[0].startswith("NOT BALANCED: workload")
    assert "potential" not in report.violated[0]  # potential (+-500 %) holds
    assert report.describe().startswith("partial") and "not met: NOT BALANCED: workload" in report.describe()
    assert plan.kpis["balanced"] is False
    check_invariants(problem, plan)


def test_large_instance_path_balances_inside_the_margin(monkeypatch):
    """Above ``_FULL_LP_EDGES`` pairs the LP decides only the items the prices leave open: the plan still
    meets every limit, lands inside the margin, and the bound is the Lagrangian's (below the plan)."""
    from planner.solvers.territories import search

    monkeypatch.setattr(search, "_FULL_LP_EDGES", 500)
    problem = make_problem(1500, 8, seed=12, owned=1.0)
    opts = T.TerritoryOptions(tolerance=0.05, potential_tolerance=0.10, pool_return_days=None, time_limit_s=20)
    plan = T.solve(problem, opts)
    assert plan.report.ok and plan.kpis["balanced"], plan.report.describe()
    check_invariants(problem, plan)
    reps = plan.reps
    margin = opts.tolerance * (1 - opts.balance_margin)
    assert reps["workload_ratio"].between(1 - margin - 2e-3, 1 + margin + 2e-3).all()
    assert plan.report.bound is not None and plan.report.bound <= plan.report.objective


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_value_never_exceeds_the_lp(seed):
    """``prices.value`` is a lower bound of the LP (so of every plan) whatever the prices; the ascent's best
    value too, and it comes close to the LP."""
    from planner.solvers.territories import prices as P, search

    rng = np.random.default_rng(seed)
    n, R, k = 40, 4, 3
    e_item = np.repeat(np.arange(n), k)
    e_rep = np.concatenate([np.sort(rng.choice(R, k, replace=False)) for _ in range(n)])
    w = rng.uniform(30, 90, n * k)
    core = search._Core(n, R, e_item, e_rep, w, rng.uniform(0, 100, n * k), np.repeat(rng.uniform(1e4, 1e5, n), k),
                        np.ones(n * k), (rng.random(n * k) < 0.5).astype(float), np.ones(R), np.full(R, 14.0),
                        np.zeros(R), np.zeros(R), np.zeros(R), 0.0, 0.2, 0.4, None, 10.0)
    core.pot_total = float(core.e_pot[::k].sum())
    sol, _ = search._lp(core, 30.0, elastic=False)
    assert sol is not None
    for _ in range(20):
        u = P.Prices(rng.exponential(2000.0, (5, R)) * (rng.random((5, R)) < 0.5))
        assert P.value(core, u) <= sol.objective + 1e-6 * abs(sol.objective)
    dual = P.lagrange(core, float("inf"), max_iters=300)
    assert dual.bound <= sol.objective + 1e-6 * abs(sol.objective)
    assert dual.bound >= 0.95 * sol.objective


def test_balanced_plan_says_so():
    problem = make_problem(60, 3, seed=4, owned=1.0)
    plan = T.solve(problem, T.TerritoryOptions(pool_return_days=None, time_limit_s=10))
    assert plan.report.ok and plan.kpis["balanced"] is True
    assert "NOT BALANCED" not in plan.report.message and not plan.report.violated


def test_max_moves_zero_keeps_every_owner_and_names_the_imbalance():
    p = make_problem(80, 4, seed=11, owned=1.0)
    owner = np.where(np.arange(80) < 50, "R1", p.owner)
    prob = T.TerritoryProblem(**{**{k: getattr(p, k) for k in p.__dataclass_fields__}, "owner": owner})
    plan = T.solve(prob, T.TerritoryOptions(max_moves=0, pool_return_days=None, time_limit_s=10))
    assert plan.kpis["moved"] == 0
    assert plan.report.status == "partial"
    assert any("R1" in v for v in plan.report.violated)
    check_invariants(prob, plan)


# --- Hypothesis: random small instances ---------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 40), r=st.integers(1, 5), seed=st.integers(0, 10_000), owned=st.floats(0, 1),
       tol=st.sampled_from([0.05, 0.2, 0.5]), max_moves=st.one_of(st.none(), st.integers(0, 10)),
       include_pool=st.booleans(), n_locked=st.integers(0, 5), cap=st.one_of(st.none(), st.integers(1, 20)))
def test_random_instances_keep_the_invariants(n, r, seed, owned, tol, max_moves, include_pool, n_locked, cap):
    problem = make_problem(n, r, seed=seed, owned=owned, days_max=150)
    rng = np.random.default_rng(seed)
    locked = rng.choice(problem.account_ids, size=min(n_locked, n), replace=False).tolist()
    opts = T.TerritoryOptions(tolerance=tol, potential_tolerance=2 * tol, max_moves=max_moves,
                              include_pool=include_pool, locked=locked, max_accounts=cap, time_limit_s=10, seed=1)
    plan = T.solve(problem, opts)
    check_invariants(problem, plan)


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, field", [
    (dict(tolerance=0.0), "tolerance"), (dict(potential_tolerance=-1), "potential_tolerance"),
    (dict(max_moves=-1), "max_moves"), (dict(compactness="star"), "compactness"),
    (dict(time_limit_s=0), "time_limit_s"), (dict(visits_per_month={"A": -1}), "visits_per_month"),
    (dict(locked=["a"], excluded=["a"]), "locked and excluded"), (dict(locked="A001"), "locked"),
])
def test_options_name_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        T.TerritoryOptions(**kwargs)


def test_unknown_ids_and_classes_listed_in_one_error():
    problem = make_problem(5, 2)
    with pytest.raises(ValueError, match="locked names unknown account ids"):
        T.solve(problem, T.TerritoryOptions(locked=["nope"]))
    with pytest.raises(ValueError, match=r"account_class 'B' has no visit frequency"):
        T.solve(problem, T.TerritoryOptions(visits_per_month={"A": 2.0, "C": 0.5}))


def test_problem_errors_name_rows_and_fields():
    with pytest.raises(ValueError) as e:
        T.TerritoryProblem(account_ids=["a", "a", ""], lonlat=[[118, 24], [500, 24], [118, 24]],
                           account_class=["A"] * 3, potential_cny=[1, -5, 1], owner=["pool"] * 3,
                           days_since_visit=[0, 0, 0], rep_ids=["R1"], base_lonlat=[[118, 24]], share=[1.5],
                           capacity=[0])
    msg = str(e.value)
    for part in ("account row 1 (id a): field id duplicates", "account row 2: field id is empty",
                 "account row 1 (id a): field lon/lat invalid", "field potential_cny must be >= 0",
                 "rep row 0 (id R1): field share"):
        assert part in msg


def test_integer_scaling_overflow_is_checked():
    from planner.solvers.territories import search

    with pytest.raises(OverflowError):
        search._Scaler.pick(1e30, 1.0, 1.0, 1.0, 1)
    sc = search._Scaler.pick(1e6, 1e9, 1e6, 50.0, 251)
    assert sc.work_unit_min <= 1.0 and sc.pot_unit_cny >= 1.0
    with pytest.raises(OverflowError):
        search._check_int_range([2**60], "row")


# --- tables, CLI and app ---------------------------------------------------------------------------


def test_problem_from_demo_tables():
    from planner import demo

    sc = demo.load_demo()
    p = T.problem_from_tables(sc.accounts, sc.reps, sc.offices, n_reps=23)
    assert p.n_accounts == len(sc.accounts)
    assert list(p.rep_ids[-2:]) == ["NEW-01", "NEW-02"]  # 21 sellers + 2 vacancies
    assert p.share[-1] == 0.5
    assert set(p.rep_ids[:21]) == set(sc.reps.loc[sc.reps[S.LEVEL].isin(["sales", "M0"]), S.ID])
    bad = sc.reps.copy()
    bad.loc[bad[S.ID] == "R07", S.BASE_OFFICE] = "NOWHERE"
    with pytest.raises(ValueError, match="rep R07 field base_office: unknown office 'NOWHERE'"):
        T.problem_from_tables(sc.accounts, bad, sc.offices)


def _write_small_data(d, n=60, r=3):
    p = make_problem(n, r, seed=12)
    pd.DataFrame({S.ID: p.account_ids, S.LON: p.lonlat[:, 0], S.LAT: p.lonlat[:, 1], S.OWNER: p.owner,
                  S.CLASS: p.account_class, S.POTENTIAL_CNY: p.potential_cny,
                  S.LAST_VISIT: (pd.Timestamp("2026-11-01") - pd.to_timedelta(p.days_since_visit, unit="D"))
                  .strftime("%Y-%m-%d")}).to_csv(d / "accounts.csv", index=False)
    pd.DataFrame({S.ID: p.rep_ids, S.LEVEL: "sales", S.BASE_OFFICE: [f"O{j}" for j in range(r)]}) \
        .to_csv(d / "reps.csv", index=False)
    pd.DataFrame({S.ID: [f"O{j}" for j in range(r)], S.LON: p.base_lonlat[:, 0], S.LAT: p.base_lonlat[:, 1]}) \
        .to_csv(d / "offices.csv", index=False)


def test_cli_writes_gpkg_excel_and_summary(tmp_path):
    import geopandas as gpd
    import openpyxl

    data = tmp_path / "data"
    data.mkdir()
    _write_small_data(data)
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    register(sub)
    out = tmp_path / "out"
    args = p.parse_args(["territories", "--reps", "3", "--tolerance", "20%", "--potential-tolerance", "0.5",
                         "--max-moves", "30", "--time-limit", "10", "--data", str(data), "--out", str(out),
                         "--quiet"])
    assert args.func(args) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("status", "objective", "bound", "gap", "seconds", "kpis", "reps", "violated"):
        assert key in summary
    assert summary["kpis"]["accounts"] == 60 and summary["kpis"]["moved"] <= 30
    acc = gpd.read_file(out / "territories.gpkg", layer="accounts")
    assert len(acc) == 60 and acc["territory"].notna().all()
    sheets = openpyxl.load_workbook(out / "territories.xlsx", read_only=True).sheetnames
    assert sheets[0] == "KPIs" and {"R0", "R1", "R2", "moves", "pool and kept"} <= set(sheets)
    assert (out / "territories_map.html").read_text(encoding="utf-8").count("Territory") >= 1


def test_app_scenarios_lock_and_export(tmp_path):
    from planner.app.ui import territories as ui_territories

    data = tmp_path / "data"
    data.mkdir()
    _write_small_data(data, n=50)
    app = ui_territories.territories_app(data, options=T.TerritoryOptions(time_limit_s=5), solve_first=False)
    app.controls["tolerance"].value = 0.3
    app.controls["potential_tolerance"].value = 0.6
    owner = app.controls["lock_owner"].value
    first = app.controls["lock_select"].options[0][1]
    app.controls["lock_select"].value = (first,)
    assert app.locked == {first}
    a = app.solve("A")
    assert a.accounts.loc[first, "territory"] == owner and a.accounts.loc[first, "locked"]
    app.unlock()
    app.controls["limit_moves"].value = True
    app.controls["max_moves"].value = 0
    b = app.solve("B")
    assert b.kpis["moved"] == 0
    assert "Side by side" in app.boxes["compare"].value
    assert app.boxes["A"].children[1].value.startswith("<iframe srcdoc=")
    paths = app.export(tmp_path / "export")
    assert {p.name for p in paths} >= {"territories.gpkg", "territories.xlsx", "summary.json"}
    assert (tmp_path / "export" / "B" / "summary.json").exists()


def test_bar_chart_svg():
    from planner.app.ui.territories import bar_chart_svg

    svg = bar_chart_svg(pd.Series([10.0, 20.0], index=["R1", "R2"]), pd.Series([15.0, 15.0], index=["R1", "R2"]),
                        title="Workload", tolerance=0.1)
    assert svg.startswith("<svg") and svg.count("<rect") == 4 and "Workload" in svg
