"""Named scenarios saved with the workspace, the change list, and the CLI around them (issue 20)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from planner import demo
from planner.app.export.territories import change_list, write_plan
from planner.errors import InputError
from planner.io import scenarios
from planner.solvers import territories


@pytest.fixture(scope="module")
def plan():
    sc = demo.load_demo()
    problem = territories.problem_from_tables(sc.accounts, sc.reps, sc.offices)
    return territories.solve(problem, territories.TerritoryOptions(time_limit_s=5, contiguous=False))


def test_change_list_accounts_for_every_account(plan):
    ch = change_list(plan, "2027-01-01")
    a = plan.accounts
    assert list(ch["account"]) == list(a.index)  # every input account, once, in order
    assert set(ch["change"]) <= {"move", "stays", "to public pool", "stays in pool", "kept outside"}
    moves = ch[ch["change"] == "move"]
    assert len(moves) == int((a["moved"] & (a["outcome"] == "assigned")).sum()) > 0
    assert (moves["from"] != moves["to"]).all()
    stays = ch[ch["change"] == "stays"]
    assert (stays["from"] == stays["to"]).all()
    back = ch[ch["change"] == "to public pool"]
    assert (back["to"] == "pool").all() and (back["from"] != "pool").all()
    assert (ch["effective_date"] == "2027-01-01").all()
    assert (change_list(plan)["effective_date"] == "").all()


def test_write_plan_writes_the_change_list_and_the_date(plan, tmp_path):
    write_plan(plan, tmp_path, effective_date="2027-03-01")
    ch = pd.read_csv(tmp_path / "territories_changes.csv", dtype=str, keep_default_na=False)
    assert len(ch) == len(plan.accounts)
    assert set(ch["effective_date"]) == {"2027-03-01"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["effective_date"] == "2027-03-01"
    assert sum(summary["changes"].values()) == len(plan.accounts)


def test_scenarios_save_list_compare_delete(plan, tmp_path):
    ch = change_list(plan)
    a = scenarios.save(tmp_path, "2027 draft", job="territories", changes=ch, kpis=plan.kpis,
                       report={"status": plan.report.status}, effective_date="2027-01-01")
    moved = ch.copy()
    moved.loc[moved.index[:3], "to"] = "R99"
    scenarios.save(tmp_path, "保持现状", job="territories", changes=moved, kpis=plan.kpis)
    names = [s.name for s in scenarios.list_all(tmp_path)]
    assert names == sorted(["2027 draft", "保持现状"])
    got = scenarios.load(tmp_path, "2027 draft")
    assert got.effective_date == "2027-01-01" and got.folder == a.folder
    assert (got.changes()["effective_date"] == "2027-01-01").all()
    table = scenarios.compare([got, scenarios.load(tmp_path, "保持现状")])
    assert list(table.columns) == ["2027 draft", "保持现状"]
    assert table.iloc[-1].tolist() == [0, 3]  # accounts on another rep than in the first
    assert table.loc["effective_date", "2027 draft"] == "2027-01-01"
    scenarios.delete(tmp_path, "2027 draft")
    assert [s.name for s in scenarios.list_all(tmp_path)] == ["保持现状"]
    with pytest.raises(InputError, match="not found.*保持现状"):
        scenarios.load(tmp_path, "2027 draft")


def test_saving_again_replaces_and_leaves_no_staging(plan, tmp_path):
    ch = change_list(plan)
    scenarios.save(tmp_path, "A", job="territories", changes=ch, kpis={"moved": 1})
    scenarios.save(tmp_path, "A", job="territories", changes=ch, kpis={"moved": 2})
    assert [s.kpis["moved"] for s in scenarios.list_all(tmp_path)] == [2]
    assert [p.name for p in tmp_path.iterdir()] == ["A"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "a\x00b"])
def test_bad_names_are_refused(plan, tmp_path, name):
    with pytest.raises(InputError, match="scenario"):
        scenarios.save(tmp_path, name, job="territories", changes=change_list(plan), kpis={})


def test_hostile_names_stay_inside_the_root_and_keep_their_text(plan, tmp_path):
    root = tmp_path / "scenarios"
    for name in ("../../etc/passwd", "=cmd|' /C calc'!A0", "<script>alert(1)</script>"):
        sc = scenarios.save(root, name, job="territories", changes=change_list(plan), kpis={})
        assert sc.folder.parent == root and sc.name == name
    assert sorted(s.name for s in scenarios.list_all(root)) == sorted(
        ["../../etc/passwd", "=cmd|' /C calc'!A0", "<script>alert(1)</script>"])
    assert not (tmp_path / "etc").exists()


def test_bad_effective_date_names_the_field(plan, tmp_path):
    with pytest.raises(InputError, match="effective date"):
        scenarios.save(tmp_path, "A", job="territories", changes=change_list(plan), kpis={},
                       effective_date="next spring")


def test_workspace_scenarios_root(tmp_path, monkeypatch):
    from planner.io.workspace import Workspace

    assert Workspace.open(tmp_path).scenarios_root() == tmp_path / "scenarios"
    monkeypatch.setenv("PLANNER_HOME", str(tmp_path / "home"))
    assert demo.workspace().scenarios_root().is_relative_to(tmp_path / "home")


def test_pins_hold_and_say_why():
    sc = demo.load_demo()
    problem = territories.problem_from_tables(sc.accounts, sc.reps, sc.offices)
    owned = sc.accounts[sc.accounts["owner"].isin(problem.rep_ids)]["id"].tolist()[:2]
    target = [r for r in problem.rep_ids if r not in set(sc.accounts.set_index("id").loc[owned, "owner"])][:2]
    plan = territories.solve(problem, territories.TerritoryOptions(
        time_limit_s=5, contiguous=False, assign={owned[0]: target[0], owned[1]: target[1]}))
    a = plan.accounts.loc[owned]
    assert a["territory"].tolist() == target
    assert a["moved"].all() and a["reason"].str.startswith("pinned to").all()
    assert plan.reps["moved_out"].sum() == plan.reps["moved_in"].sum() == plan.kpis["moved"]
    with pytest.raises(InputError, match="NOPE"):
        territories.solve(problem, territories.TerritoryOptions(time_limit_s=5, assign={owned[0]: "NOPE"}))
