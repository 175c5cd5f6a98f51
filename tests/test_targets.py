"""Targets: roll-up sums, overrides, the source's elephant, shortfalls, pay tiers, hoarding, bad inputs."""

import argparse
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from planner import schema as S
from planner.app.cli.targets import register
from planner.demo import targets as D
from planner.solvers import targets as T

MONTH = D.DEMO_MONTH
MONEY = ("raw_cny", "adjusted_cny", "target_cny", "gap_cny")


@pytest.fixture(scope="module")
def data():
    return D.load()


@pytest.fixture(scope="module")
def roll(data):
    return T.rollup(data, MONTH)


def _cli(*argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    register(sub)
    args = p.parse_args(["targets", *argv])
    return args.func(args)


def _check_sums(r: T.Rollup, *, exact_adjusted: bool = True):
    """Node identities and: every level's rows add up to the top's figures."""
    nd, org = r.nodes, r.org
    kid = org.parent >= 0

    def child_sum(col):
        out = np.zeros(len(nd))
        np.add.at(out, org.parent[kid], nd[col].to_numpy(float)[kid])
        return out

    np.testing.assert_allclose(nd["raw_cny"], nd["own_forecast_cny"] + child_sum("raw_cny"), atol=1e-6)
    np.testing.assert_allclose(nd["target_cny"], nd["own_target_cny"] + child_sum("target_cny"), atol=1e-6)
    np.testing.assert_allclose(nd["adjusted_cny"], nd["team_index"] * (nd["own_adjusted_cny"]
                                                                       + child_sum("adjusted_cny")), atol=1e-6)
    np.testing.assert_allclose(nd["gap_cny"], nd["target_cny"] - nd["adjusted_cny"], atol=1e-6)
    top = r.total
    for lv in r.levels:
        rows = r.level(lv)
        cols = MONEY if exact_adjusted else ("raw_cny", "target_cny")
        for c in cols:
            assert rows[c].sum() == pytest.approx(top[c], rel=1e-9, abs=1e-6), (lv, c)


# --- the demo -----------------------------------------------------------------------------

def test_committed_demo_matches_generator(tmp_path):
    for p in D.write(D.generate(), tmp_path):
        assert p.read_bytes() == (D.targets_dir() / p.name).read_bytes(), f"{p.name} differs: regenerate"


def test_demo_shape(data):
    ppl = data.people.set_index(S.ID)
    assert ppl[S.SYNTHETIC].all()
    assert ppl.at["R01", S.MANAGER] == "RG1" and ppl.at["RG1", S.MANAGER] == "NAT"
    assert (ppl[S.MANAGER] == "R01").sum() == 3  # R02-R04
    assert len(data.actual_months) >= 12
    org = T.build_org(data.people)
    assert org.height[org.root] == 4
    assert set(data.forecasts[T.PERSON]) <= set(ppl.index)
    other = D.generate(D.TargetsDemoConfig(seed=7))
    assert not other.actuals[T.ACTUAL_CNY].equals(D.generate().actuals[T.ACTUAL_CNY])


def test_full_organisation_shape():
    people, xiamen = D._org(D.TargetsDemoConfig.full())
    org = T.build_org(T.validate(people, pd.DataFrame(columns=[T.PERSON, T.MONTH, T.FORECAST_CNY]),
                                 pd.DataFrame(columns=[T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS]),
                                 pd.DataFrame(columns=[T.PERSON, T.MONTH, T.TARGET_CNY])).people)
    kids = pd.Series(org.parent[org.parent >= 0]).value_counts()
    assert len(org.children(org.root)) == 7
    assert kids[org.index["RG2"]] == 10 and kids[org.index["AR205"]] == 10 and kids[org.index["SU20505"]] == 10
    assert "R01" in xiamen


# --- roll-up ---------------------------------------------------------------------------------

def test_rollup_sums_hold_at_every_level(roll):
    assert roll.levels == T.LEVEL_NAMES
    _check_sums(roll)
    assert [len(roll.level(lv)) for lv in roll.levels] == [93, 12, 4, 2, 1]
    assert roll.total["target_cny"] > 0 and roll.total["raw_cny"] > 0
    assert roll.node("R01")["target_cny"] == pytest.approx(1_000_000)  # the source's team target


def test_overrides_honoured(data, roll):
    base = roll.node("R05")
    r = T.rollup(data, MONTH, T.RollupOptions(overrides={"R05": 0.5}, team_overrides={"R02": 0.8}))
    me = r.node("R05")
    assert me["index"] == 0.5 and me["index_source"] == "override"
    assert me["own_adjusted_cny"] == pytest.approx(0.5 * me["own_forecast_cny"])
    ind = r.indices.set_index(T.PERSON)
    assert ind.at["R05", "override"] == 0.5 and ind.at["R05", "history_index"] == pytest.approx(base["index"])
    sup = r.node("R02")
    assert sup["team_overridden"] and sup["team_index"] == 0.8
    assert sup["adjusted_cny"] == pytest.approx(0.8 * sup["team_adjusted_cny"])
    delta = 0.5 * me["own_forecast_cny"] - base["own_adjusted_cny"]
    assert sup["team_adjusted_cny"] == pytest.approx(roll.node("R02")["adjusted_cny"] + delta)
    for p in ("R02", "R01", "RG1", "NAT"):
        assert r.node(p)["overridden_in_team"] == 2  # the rep and the team index, shown on the way up
    rep_row = r.level("rep").set_index(S.ID).loc["R05"]
    assert rep_row["index_source"] == "override"
    _check_sums(r, exact_adjusted=False)
    with pytest.raises(ValueError, match="not in the tree"):
        T.rollup(data, MONTH, T.RollupOptions(overrides={"NOBODY": 0.5}))
    with pytest.raises(ValueError, match="without reports"):
        T.rollup(data, MONTH, T.RollupOptions(team_overrides={"R05": 0.5}))
    with pytest.raises(ValueError, match="overrides"):
        T.RollupOptions(overrides={"R05": -1})


def _monthly(rows, col):
    return pd.DataFrame(rows, columns=[T.PERSON, T.MONTH, col])


def test_index_from_history_known_answer():
    months = [f"2026-{m:02d}" for m in range(1, 7)]
    f = _monthly([(p, m, 100.0) for p in ("a", "b") for m in months], T.FORECAST_CNY)
    a = pd.DataFrame([(p, m, v, 1) for p, v in (("a", 50.0), ("b", 1000.0)) for m in months],
                     columns=[T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS])
    ind = T.confidence_indices(f, a, "2026-07", ["a", "b", "new"])
    assert ind.at["a", "history_months"] == 6 and ind.at["a", "ratio"] == pytest.approx(0.5)
    assert ind.at["a", "index"] == pytest.approx((6 * 0.5 + 3) / 9)
    assert ind.at["b", "index"] == 1.5  # (6*10+3)/9 = 7, clipped
    assert ind.at["new", "index"] == 1.0 and ind.at["new", "history_months"] == 0
    ind = T.confidence_indices(f, a, "2026-07", ["a"], options=T.IndexOptions(prior_months=0, window_months=2))
    assert ind.at["a", "history_months"] == 2 and ind.at["a", "index"] == pytest.approx(0.5)


@st.composite
def _orgs(draw):
    n = draw(st.integers(2, 25))
    parents = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    ids = [f"p{i}" for i in range(n)]
    people = pd.DataFrame({S.ID: ids, S.NAME: ids, S.MANAGER: ["" if p < 0 else ids[p] for p in parents]})
    has_reports = {p for p in parents if p >= 0}
    fc, tg, ac = [], [], []
    for i, p in enumerate(ids):
        if i not in has_reports or draw(st.booleans()):  # some managers forecast too
            fc.append((p, "2026-05", draw(st.integers(0, 200)) * 1000))
            tg.append((p, "2026-05", draw(st.integers(0, 200)) * 1000))
            for m in ("2026-02", "2026-03", "2026-04"):
                if draw(st.booleans()):
                    fc.append((p, m, draw(st.integers(1, 100)) * 1000))
                    ac.append((p, m, draw(st.integers(0, 150)) * 1000, draw(st.integers(0, 5))))
    overrides = {p: draw(st.floats(0, 2)) for p in ids if draw(st.integers(0, 4)) == 0}
    return people, fc, tg, ac, overrides


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_orgs())
def test_rollup_sums_hold_on_random_trees(case):
    people, fc, tg, ac, overrides = case
    data = T.validate(people, _monthly(fc, T.FORECAST_CNY), pd.DataFrame(ac, columns=[
        T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS]), _monthly(tg, T.TARGET_CNY))
    r = T.rollup(data, "2026-05", T.RollupOptions(overrides=overrides))
    _check_sums(r)
    for lv in r.levels:  # each level covers every person's own figures exactly once
        assert r.level(lv)["raw_cny"].sum() == pytest.approx(sum(v for _, m, v in fc if m == "2026-05"))
    for p, v in overrides.items():
        assert r.node(p)["index"] == v


def test_waterfall_steps_chain(roll):
    for p in ("R01", "R02", "R05", "NAT"):
        w = T.waterfall(roll, p)
        me = roll.node(p)
        steps = w[w["kind"] == "step"]
        assert w.iloc[0]["end_cny"] == pytest.approx(me["raw_cny"])
        assert steps.iloc[:-1]["start_cny"].iloc[0] == pytest.approx(me["raw_cny"])
        assert (steps["end_cny"] - steps["start_cny"]).iloc[:-1].sum() == pytest.approx(
            me["adjusted_cny"] - me["raw_cny"])
        assert w.iloc[-1]["end_cny"] == pytest.approx(me["target_cny"])


# --- eating the elephant ---------------------------------------------------------------------------

def test_source_elephant_example():
    plan = T.split_gap(T.SOURCE_EXAMPLE)
    assert plan.gap_cny == 300_000 and plan.step_cny == pytest.approx(100_000)
    bm = plan.by_month
    assert bm["required_deals"].tolist() == [3, 6, 9]
    assert bm["new_deals"].tolist() == [3, 3, 3]
    assert bm["groups_adding"].tolist() == [3, 3, 3]  # three of the five groups, one more deal each, a month
    assert (plan.split["new_deals"] <= 1).all()
    final = plan.split[plan.split["month_no"] == 3].set_index("group")["extra_deals"]
    assert final.tolist() == [2, 2, 2, 2, 1]
    assert plan.report.status == "optimal" and plan.shortfall_deals == 0
    assert plan.rounding_residual_cny == pytest.approx(3_000)
    assert "3 of the 5 groups close one more deal" in plan.text
    up = T.split_gap(T.SOURCE_EXAMPLE, T.GapOptions(rounding="up"))
    assert up.by_month["required_deals"].tolist() == [4, 7, 10]


def test_unreachable_target_reports_shortfall():
    p = replace(T.SOURCE_EXAMPLE, stretch_deals=(0, 0, 1, 0, 0))
    plan = T.split_gap(p)
    assert plan.report.status == "partial" and plan.report.violated
    assert plan.planned_deals == 3 and plan.shortfall_deals == 6
    assert plan.shortfall_cny == pytest.approx(6 * 33_000)
    assert plan.months_needed == 9
    assert "short" in plan.text and "9 months" in plan.text
    assert T.split_gap(replace(p, months=9)).shortfall_deals == 0
    never = T.split_gap(replace(p, stretch_deals=(0,) * 5))
    assert never.months_needed is None and "no number of months" in never.text
    none = T.split_gap(replace(p, run_rate_cny=1_200_000))
    assert none.gap_cny == 0 and none.planned_deals == 0 and none.report.ok


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3_000_000), st.integers(0, 2_000_000), st.integers(1, 8), st.integers(5_000, 80_000),
       st.lists(st.integers(0, 4), min_size=1, max_size=7), st.sampled_from(["nearest", "up"]))
def test_split_gap_invariants(target, run, months, deal, stretch, rounding):
    p = T.GapProblem(target_cny=target, run_rate_cny=run, months=months, deal_cny=deal,
                     groups=tuple(f"g{i}" for i in range(len(stretch))), stretch_deals=tuple(stretch))
    plan = T.split_gap(p, T.GapOptions(rounding=rounding))
    sp = plan.split.pivot(index="group", columns="month_no", values="extra_deals").loc[list(p.groups)].to_numpy()
    new = plan.split.pivot(index="group", columns="month_no", values="new_deals").loc[list(p.groups)].to_numpy()
    s = np.array(stretch)
    assert (new >= 0).all() and (new <= s[:, None]).all()
    assert (np.diff(np.hstack([np.zeros((len(s), 1)), sp]), axis=1) == new).all()
    req = plan.by_month["required_deals"].to_numpy()
    t = np.arange(1, months + 1)
    assert (sp.sum(axis=0) == np.minimum(req, t * s.sum())).all()  # the most any plan can do
    assert plan.shortfall_deals == req[-1] - sp[:, -1].sum() >= 0
    assert (plan.report.status == "optimal") == (plan.shortfall_deals == 0)
    if plan.shortfall_deals and plan.months_needed is not None:
        assert plan.months_needed > months
        assert T.split_gap(replace(p, months=plan.months_needed), T.GapOptions(rounding=rounding)).shortfall_deals == 0
        assert T.split_gap(replace(p, months=plan.months_needed - 1),
                           T.GapOptions(rounding=rounding)).shortfall_deals > 0


def test_gap_problem_from_history(data, roll):
    p = T.gap_problem(data, roll, "R01")
    assert p.groups == ("R02", "R03", "R04") and p.target_cny == 1_000_000
    assert 600_000 < p.run_rate_cny < 800_000 and 25_000 < p.deal_cny < 45_000
    assert all(s >= 1 for s in p.stretch_deals)
    plan = T.split_gap(p)
    assert plan.report.status == "optimal"
    hist = T.team_history(data, roll)
    hard = T.split_gap(T.gap_problem(data, roll, "AR202", history=hist))
    assert hard.report.status == "partial" and hard.months_needed > 3
    with pytest.raises(ValueError, match="no reports"):
        T.gap_problem(data, roll, "R05")
    with pytest.raises(ValueError):
        T.GapProblem(target_cny=1, run_rate_cny=0, months=0, deal_cny=1, groups=("a",), stretch_deals=(1,))
    with pytest.raises(ValueError, match="stretch_deals"):
        T.GapProblem(target_cny=1, run_rate_cny=0, months=1, deal_cny=1, groups=("a", "b"), stretch_deals=(1,))


def test_territory_targets(data):
    t = T.territory_targets(data.territories, total_cny=1_000_000)
    assert t[T.TARGET_CNY].sum() == 1_000_000 and (t[T.TARGET_CNY] % 1000 == 0).all()
    same = pd.DataFrame({S.ID: list("abcd"), S.POTENTIAL_CNY: [100_000.0] * 4,
                         T.MARKET_STAGE: ["sowing", "cultivating", "growing", "harvesting"]})
    out = T.territory_targets(same)
    assert out[T.TARGET_CNY].tolist() == [10_000, 25_000, 50_000, 80_000]
    with pytest.raises(ValueError, match="market stage"):
        T.territory_targets(same.assign(**{T.MARKET_STAGE: "flying"}))


# --- pay and hoarding --------------------------------------------------------------------------------

def test_pay_rate_set_by_last_month():
    rules = T.PayRules(bronze_cny=30_000, silver_cny=60_000, gold_cny=100_000, base_rate=0.05, bronze_rate=0.08,
                       silver_rate=0.10, gold_rate=0.12)
    a = pd.DataFrame({T.PERSON: "r", T.MONTH: ["2026-01", "2026-02", "2026-04"],
                      T.ACTUAL_CNY: [100_000.0, 65_000.0, 50_000.0], T.DEALS: [3, 2, 1]})
    pay = T.simulate_pay(a, rules)
    assert pay[T.MONTH].tolist() == ["2026-01", "2026-02", "2026-03", "2026-04"]  # March: no row, a 0 month
    assert pay["tier"].tolist() == ["gold", "silver", "none", "bronze"]
    assert pay["rate"].tolist() == [0.05, 0.12, 0.10, 0.05]
    assert pay["pay_cny"].tolist() == pytest.approx([5_000, 7_800, 0, 2_500])
    s = T.pay_summary(pay, rules).iloc[0]
    assert s["next_rate_tier"] == "bronze" and s["next_rate"] == 0.08 and s["gold_months"] == 1
    with pytest.raises(ValueError, match="thresholds"):
        T.PayRules(silver_cny=200_000)


def _team_history():
    months = [T.add_months("2025-01", k) for k in range(12)]
    rows = []
    steady = [2, 3, 2, 1, 2, 3, 2, 2, 1, 3, 2, 2]
    for k in range(6):
        for j, m in enumerate(months):
            d = steady[(j + k) % 12]
            rows.append((f"s{k}", m, d * 33_000.0, d))
    for j, m in enumerate(months):  # holds deals two months, releases them in the third
        d = 6 if j % 3 == 2 else 0
        rows.append(("bunch", m, d * 33_000.0, d))
        v = 1_000.0 if j % 2 == 0 else 101_500.0  # near nothing, then just over gold
        rows.append(("edge", m, v, 1 if j % 2 else 0))
    return pd.DataFrame(rows, columns=[T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS])


def test_hoarding_flags_constructed_example():
    a = _team_history()
    team = dict.fromkeys(a[T.PERSON].unique(), "S1")
    h = T.hoarding_flags(a, team).set_index(T.PERSON)
    assert h.loc["bunch", "flagged"] and "deals bunch" in h.loc["bunch", "reason"]
    assert h.loc["edge", "flagged"] and "just over a threshold" in h.loc["edge", "reason"]
    assert not h.loc[[f"s{k}" for k in range(6)], "flagged"].any()
    assert h.loc["bunch", "dispersion"] > 3.5 > h.loc["s0", "dispersion"]
    short = T.hoarding_flags(a[a[T.MONTH] < "2025-04"], team)
    assert not short["flagged"].any() and short["reason"].str.startswith("not assessed").all()
    pay = T.pay_summary(T.simulate_pay(a)).set_index(T.PERSON)
    assert pay.loc["bunch", "cost_of_bunching_cny"] > 0  # the scheme pays steady months better


def test_demo_hoarders_are_the_planted_ones(data):
    h = T.hoarding_flags(data.actuals[data.actuals[T.MONTH] < MONTH], data.people.set_index(S.ID)[S.MANAGER])
    assert set(h.loc[h["flagged"], T.PERSON]) == set(D.generate().extra["hoarders"])


# --- bad inputs ------------------------------------------------------------------------------------------

def _people():
    return pd.DataFrame({S.ID: ["TOP", "SUP", "r1", "r2"], S.NAME: ["t", "s", "a", "b"],
                         S.MANAGER: ["", "TOP", "SUP", "SUP"]})


def test_bad_inputs_named_by_row_and_field():
    ppl = pd.concat([_people(), pd.DataFrame({S.ID: ["lone", "x", "c1", "c2", "dup"],
                                              S.MANAGER: ["", "NOBODY", "c2", "c1", "SUP"]}),
                     pd.DataFrame({S.ID: ["dup"], S.MANAGER: ["SUP"]})], ignore_index=True)
    fc = pd.DataFrame({T.PERSON: ["r1", "r2", "ghost", "r1", "r2"],
                       T.MONTH: ["2026-05", "2026-5-x", "2026-05", "2026-13", "2026-06"],
                       T.FORECAST_CNY: [100, -5, 10, 10, "abc"]})
    ac = pd.DataFrame({T.PERSON: ["r1"], T.MONTH: ["2026-04"], T.ACTUAL_CNY: [10], T.DEALS: [1.5]})
    tg = pd.DataFrame({T.PERSON: ["r1", "r1"], T.MONTH: ["2026-05", "2026-05"], T.TARGET_CNY: [10, 20]})
    with pytest.raises(ValueError) as e:
        T.validate(ppl, fc, ac, tg)
    msg = str(e.value)
    for part in ("people row 6, manager: no manager",          # 'lone': a rep with no supervisor
                 "people row 7, manager: not a known person",   # 'x' -> NOBODY
                 "people row 8, manager: cycle in the tree: c1 -> c2 -> c1",
                 "people row 9, manager: cycle in the tree",
                 "people row 11, id: duplicate id (first at row 10)",
                 "forecasts row 3, month: not a month YYYY-MM",
                 "forecasts row 3, forecast_cny: negative",
                 "forecasts row 4, rep: not in people",
                 "forecasts row 5, month: not a month",
                 "forecasts row 6, forecast_cny: not a number",
                 "actuals row 2, deals: not a whole number",
                 "targets row 3, month: second row for this rep and month (first at row 2)"):
        assert part in msg, part
    assert "12 problems" in msg
    # the job's policy: the same rows rejected one by one with their reasons, the rest goes on
    data, rejected = T.check_tables(ppl, fc, ac, tg)
    assert set(rejected) == {"people", "forecasts", "actuals", "targets"}
    assert list(rejected["forecasts"].columns) == ["row", "id", "field", "value", "reason"]
    assert set(rejected["forecasts"]["row"]) == {3, 4, 5, 6}
    assert set(data.forecasts["source_row"]) == {2}  # r1 2026-05: the one good forecast
    # every input row is either loaded or rejected
    for name, df, got in (("forecasts", fc, data.forecasts), ("actuals", ac, data.actuals),
                          ("targets", tg, data.targets)):
        assert len(got) + rejected[name]["row"].nunique() == len(df), name


def test_more_than_one_top_and_source_rows():
    ppl = _people()
    ppl.loc[len(ppl)] = {S.ID: "TOP2", S.NAME: "", S.MANAGER: ""}
    ppl.loc[len(ppl)] = {S.ID: "r3", S.NAME: "", S.MANAGER: "TOP2"}
    ppl[S.SOURCE_ROW] = np.arange(len(ppl)) + 10
    empty = [pd.DataFrame(columns=c) for c in ([T.PERSON, T.MONTH, T.FORECAST_CNY],
                                               [T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS],
                                               [T.PERSON, T.MONTH, T.TARGET_CNY])]
    with pytest.raises(ValueError, match=r"people row 10, manager: more than one top.*people row 14"):
        T.validate(ppl, *empty)


def test_month_parsing():
    for text in ("2026-11", "2026/11", "2026年11月", "2026-11-01 00:00:00", "2026.11"):
        assert T.parse_month(text) == "2026-11", text
    for text in ("2026-13", "11-2026", "", "2026-11-15", "abc"):
        assert T.parse_month(text) is None, text
    assert T.add_months("2026-11", 3) == "2027-02" and T.add_months("2026-01", -1) == "2025-12"


# --- CLI and app -------------------------------------------------------------------------------------------

def test_cli_on_demo(tmp_path, capsys):
    assert _cli("--month", MONTH, "--out", str(tmp_path), "--override", "R05=0.5") == 0
    out = capsys.readouterr().out
    assert "R01: Gap" in out and "R05=0.5" in out
    xlsx = tmp_path / f"targets_{MONTH}.xlsx"
    sheets = pd.read_excel(xlsx, sheet_name=None)
    assert set(T.LEVEL_NAMES) | {"indices", "gap_summary", "gap_split", "pay", "tiers", "pay_summary",
                                 "hoarding", "territories"} <= set(sheets)
    assert len(sheets["pay"]) == len(sheets["pay_summary"]) == len(sheets["rep"])
    s = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    for lv in T.LEVEL_NAMES:
        assert sheets[lv]["raw_cny"].sum() == pytest.approx(s["totals"]["raw_cny"], abs=len(sheets[lv]))
        assert s["levels"][lv]["adjusted_cny"] == pytest.approx(s["totals"]["adjusted_cny"], abs=0.05)
    assert s["indices"]["overridden"][0]["rep"] == "R05" and s["indices"]["overridden"][0]["index"] == 0.5
    rep = sheets["rep"].set_index("id")
    assert rep.at["R05", "index_source"] == "override" and rep.at["R05", "index"] == 0.5
    splits = {g["manager"]: g for g in s["gap_splits"]}
    assert splits["R01"]["shortfall_deals"] == 0 and splits["AR202"]["status"] == "partial"
    assert {f["rep"] for f in s["hoarding"]["flagged"]} == set(D.generate().extra["hoarders"])
    assert s["synthetic"] is True
    assert len(sheets["gap_split"]) == sum(len(g["text"]) > 0 for g in s["gap_splits"]) * 3 * 3


def test_cli_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="--month"):
        _cli("--month", "2026-13", "--out", str(tmp_path))
    with pytest.raises(ValueError, match="ID=INDEX"):
        _cli("--month", MONTH, "--out", str(tmp_path), "--override", "R05")
    with pytest.raises(ValueError, match="no forecasts for month 2030-01"):
        _cli("--month", "2030-01", "--out", str(tmp_path))


def test_cli_on_user_files_with_chinese_headers(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    pd.DataFrame({"工号": ["TOP", "SUP", "r1", "r2"], "上级": ["", "TOP", "SUP", "SUP"]}).to_csv(
        d / "people.csv", index=False)
    months = ["2026-01", "2026-02", "2026-03"]
    pd.DataFrame({"工号": ["r1", "r2"] * 4, "月份": sum([[m, m] for m in months + ["2026-04"]], []),
                  "预测": [50_000, 40_000] * 4}).to_csv(d / "forecasts.csv", index=False)
    pd.DataFrame({"工号": ["r1", "r2"] * 3, "月份": sum([[m, m] for m in months], []),
                  "业绩": [40_000, 45_000, 20_000, 70_000, 66_000, 35_000], "单数": [1, 1, 1, 2, 2, 1]}).to_csv(
        d / "actuals.csv", index=False)
    pd.DataFrame({"工号": ["r1", "r2"], "月份": ["2026-04"] * 2, "目标": [80_000, 60_000]}).to_csv(
        d / "targets.csv", index=False)
    out = tmp_path / "out"
    assert _cli("--month", "2026-04", "--out", str(out), "--data", str(d)) == 0
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["totals"]["raw_cny"] == 90_000 and s["totals"]["target_cny"] == 140_000
    assert [g["manager"] for g in s["gap_splits"]] == ["TOP"]  # no area level: the top's groups
    pd.DataFrame({"工号": ["r1", "r2"], "月份": ["2026-04"] * 2, "目标": [-1, 60_000]}).to_csv(
        d / "targets.csv", index=False)
    assert _cli("--month", "2026-04", "--out", str(out), "--data", str(d)) == 0  # the bad row left out
    rej = pd.read_csv(out / "targets_rejected.csv")
    assert rej[["row", "field", "reason"]].values.tolist() == [[2, "target_cny", "negative"]]
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["totals"]["target_cny"] == 60_000 and s["inputs"]["targets"]["rejected_rows"] == 1
    with pytest.raises(ValueError, match="targets row 2, target_cny: negative"):  # --strict refuses instead
        _cli("--month", "2026-04", "--out", str(out), "--data", str(d), "--strict")


def test_app_sliders_override_and_refresh():
    from planner.app.ui import targets as ui_targets

    app = ui_targets.targets_app()
    app.focus.value = "R02"
    assert "<details" in app.tree.value and "<svg" in app.chart.value
    before = app.rollup.node("R02")["adjusted_cny"]
    slider = app.sliders.children[0].children[0]
    rep = slider.description
    slider.value = 0.3
    assert app.overrides == {rep: 0.3} and app.rollup.node(rep)["index_source"] == "override"
    assert app.rollup.node("R02")["adjusted_cny"] < before and f"{rep}=0.30" in app.note.value
    app.focus.value = "R01"  # a manager of supervisors: team indices
    app.sliders.children[0].children[0].value = 0.5
    assert app.team_overrides == {"R02": 0.5}
    app.reset.click()
    assert not app.overrides and not app.team_overrides
    app.gap_months.value = 1
    assert "Cannot close in time" in app.gap_box.value or "Gap" in app.gap_box.value
    assert "<svg" in app.pay_box.value
    assert "3 of the 5 groups close one more deal" in ui_targets.source_example().value
