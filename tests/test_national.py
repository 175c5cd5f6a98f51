"""Partitioned national runs: the split, the runs (in this process and on a real local Dask cluster), the merge,
the national demo and the command."""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner import demo, schema as S
from planner.demo import national as N
from planner.errors import InputError
from planner.io import Workspace
from planner.national import merge as M, partition as P, run as R
from planner.solvers import bases, days, territories

DATE = pd.Timestamp(demo.DEMO_DATE) + pd.Timedelta(days=1)  # the day the demo's appointments are on
# a fixed work budget: the search stops on its count of improving solutions, never on the clock
FAST = days.DayOptions(solution_limit=5, time_limit_s=60.0)


@pytest.fixture(scope="module")
def tables():
    return demo.workspace().load(["accounts", "reps", "offices", "markets"])


@pytest.fixture(scope="module")
def by_team(tables):
    return P.partition(tables["accounts"], tables["reps"], tables["offices"], by="team")


@pytest.fixture(scope="module")
def spec(tables):
    return R.job_spec("days", FAST, tables["accounts"], tables["reps"], day=DATE)


@pytest.fixture(scope="module")
def in_process(by_team, spec):
    seen = []
    run = R.run(by_team, spec, workers=0, progress=lambda f, m: seen.append((f, m)))
    return run, seen


@pytest.fixture(scope="module")
def cluster():
    """A real local cluster: two worker processes of one thread each."""
    with R.dask_client(2) as client:
        yield client


# --------------------------------------------------------------------------- the split
def _org():
    """Two teams at two offices (Xiamen, Nan'an), a third office in Fuzhou with nobody; reps with a team, a team
    inherited from the manager, none at all, an unknown base office; owned, pool and stray accounts."""
    offices = pd.DataFrame({S.ID: ["O1", "O2", "O3"], S.NAME: ["Xiamen", "Nan'an", "Fuzhou"],
                            S.LON: [118.0894, 118.386, 119.296], S.LAT: [24.4798, 24.960, 26.074],
                            S.ADCODE: ["350203", "", "350102"], S.OFFICE_STATUS: ["current", "current", "candidate"]})
    reps = pd.DataFrame({S.ID: ["A", "B", "C", "D", "E"], S.TEAM: ["T1", "", "", "T2", "T2"],
                         S.LEVEL: ["sales", "sales", "sales", "sales", "sales"],
                         S.BASE_OFFICE: ["O1", "O1", "O1", "NOPE", "O2"], S.MANAGER: ["", "A", "", "", ""]})
    accounts = pd.DataFrame({S.ID: [f"a{i}" for i in range(8)],
                             S.OWNER: ["A", "B", "C", "D", "E", S.PUBLIC_POOL, S.PUBLIC_POOL, "ZZ"],
                             S.LON: [118.10, 118.12, 118.11, 118.40, 118.39, 118.09, 118.38, 118.37],
                             S.LAT: [24.48, 24.50, 24.49, 24.95, 24.97, 24.47, 24.95, 24.96]})
    return accounts, reps, offices


def _where(p: P.Partitioning, table: str) -> dict[str, str]:
    a = p.assignment[p.assignment["table"] == table]
    return dict(zip(a[S.ID], a["partition"]))


def test_by_team_follows_the_team_tree_and_leaves_out_with_reasons():
    accounts, reps, offices = _org()
    p = P.partition(accounts, reps, offices, by="team")
    assert p.names == ["T1", "T2"]
    assert _where(p, "reps") == {"A": "T1", "B": "T1", "E": "T2"}  # B: the team of his manager A
    lo = p.left_out.set_index([p.left_out["table"], p.left_out[S.ID]])["reason"]
    assert "no team" in lo[("reps", "C")] and "NOPE" in lo[("reps", "D")]
    assert lo[("accounts", "a2")].startswith("owner C left out") and lo[("accounts", "a3")].startswith("owner D")
    acc = _where(p, "accounts")
    assert acc == {"a0": "T1", "a1": "T1", "a4": "T2", "a5": "T1", "a6": "T2", "a7": "T2"}
    how = p.assignment.set_index(S.ID)["how"]
    assert how["a5"] == "nearest base office (public pool)" and "not in reps" in how["a7"]
    assert p.unaccounted(accounts, reps, offices) == []
    assert all(len(part.offices) == 3 for part in p)  # teams are not places: every office is shared


def test_by_city_and_region():
    accounts, reps, offices = _org()
    city = P.partition(accounts, reps, offices, by="city")
    assert city.names == ["350200 厦门市", "350500 泉州市"]  # O2's county is found from its point
    assert _where(city, "reps") == {"A": "350200 厦门市", "B": "350200 厦门市", "C": "350200 厦门市",
                                    "E": "350500 泉州市"}
    assert set(city.left_out.loc[city.left_out["table"] == "offices", S.ID]) == {"O3"}  # nobody in Fuzhou
    assert city.unaccounted(accounts, reps, offices) == []
    region = P.partition(accounts, reps, offices, by="region")
    assert region.names == ["350000 福建省"] and len(region.partitions[0].offices) == 3
    markets = pd.DataFrame({S.ADCODE: ["350200", "350500"], S.REGION: ["South Fujian", "South Fujian"]})
    named = P.partition(accounts, reps, offices, by="region", markets=markets)
    assert named.names == ["South Fujian"] and len(named.partitions[0].offices) == 2
    with pytest.raises(InputError, match="by must be one of"):
        P.partition(accounts, reps, offices, by="county")


def test_demo_split_every_way_accounts_for_every_row(tables):
    acc, reps, off = tables["accounts"], tables["reps"], tables["offices"]
    for by in P.BY:
        p = P.partition(acc, reps, off, by=by, markets=tables["markets"])
        assert p.unaccounted(acc, reps, off) == [], by
        placed = sum(len(x.accounts) for x in p) + int((p.left_out["table"] == "accounts").sum())
        assert placed == len(acc) == 3000
        again = P.partition(acc, reps, off, by=by, markets=tables["markets"])
        assert again.names == p.names and again.assignment.equals(p.assignment)  # deterministic
    team = P.partition(acc, reps, off, by="team")
    assert team.names == ["XM-1", "XM-2", "XM-3", "XM-Mgmt"]
    pools = [int((x.accounts[S.OWNER] == S.PUBLIC_POOL).sum()) for x in team.partitions[:3]]
    assert sum(pools) == int((acc[S.OWNER] == S.PUBLIC_POOL).sum()) and min(pools) > 200  # the pool split by place


# --------------------------------------------------------------------------- the runs
def test_partitioned_days_equal_the_team_by_team_runs(by_team, in_process):
    run, seen = in_process
    assert [r.name for r in run.results] == by_team.names
    assert [r.status for r in run.results] == ["ok", "ok", "ok", "skipped"]  # XM-Mgmt: managers only
    for part, res in zip(by_team.partitions[:3], run.results[:3]):
        alone = days.solve(days.DayProblem(part.accounts, part.reps, part.offices, DATE), FAST)
        pd.testing.assert_frame_equal(res.plan.stops, alone.stops)
        pd.testing.assert_frame_equal(res.plan.left_out, alone.left_out)
    plan = M.merge(run)
    stops = plan.tables["stops"]
    assert list(stops.columns[:2]) == ["partition", "rep"]
    assert len(stops) == sum(len(r.plan.stops) for r in run.results if r.ok)
    visits = sum(int(r.plan.kpis["visits"].sum()) for r in run.results if r.ok)
    assert plan.summary["totals"]["visits"] == visits > 0
    assert (plan.summary["plans_ok"], plan.summary["plans_failed"], plan.summary["plans_skipped"]) == (3, 0, 1)
    assert [row["partition"] for row in plan.summary["per_partition"]] == by_team.names
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and any("XM-2" in m for _, m in seen)


def test_same_plan_with_one_and_two_workers_on_dask(by_team, spec, in_process, cluster):
    two = R.run(by_team, spec, client=cluster)
    one = R.run(by_team, spec, workers=1)
    assert two.workers == 2 and one.mode == "local cluster (1 workers)"
    ref = in_process[0]
    for a, b, c in zip(ref.results, one.results, two.results):
        assert a.status == b.status == c.status
        if a.ok:
            pd.testing.assert_frame_equal(a.plan.stops, b.plan.stops)
            pd.testing.assert_frame_equal(a.plan.stops, c.plan.stops)
    assert len({r.worker for r in two.results}) >= 1 and all(r.peak_mb > 0 for r in two.results)


def flaky(marks: str, part: P.Partition, spec: R.JobSpec, backend: object) -> days.DayPlan:
    """XM-1 fails on its first attempt, XM-3 on every one; each attempt leaves a mark in ``marks``."""
    n = len(list(Path(marks).glob(f"{part.name}.*"))) + 1
    (Path(marks) / f"{part.name}.{n}").write_text("", encoding="utf-8")
    if part.name == "XM-3" or (part.name == "XM-1" and n == 1):
        raise RuntimeError(f"injected failure of {part.name}, attempt {n}")
    return days.solve(days.DayProblem(part.accounts, part.reps, part.offices, spec.date, travel=backend),
                      spec.options)


@pytest.mark.parametrize("where", ["dask", "in-process"])
def test_a_failing_partition_is_retried_then_reported_by_name(by_team, spec, in_process, cluster, tmp_path, where):
    kw = {"client": cluster} if where == "dask" else {"workers": 0}
    run = R.run(by_team, spec, solve=functools.partial(flaky, str(tmp_path)), **kw)
    attempts = {p.name: len(list(tmp_path.glob(f"{p.name}.*"))) for p in by_team}
    assert attempts == {"XM-1": 2, "XM-2": 1, "XM-3": 2, "XM-Mgmt": 0}  # retried once, then given up
    status = {r.name: r.status for r in run.results}
    assert status == {"XM-1": "ok", "XM-2": "ok", "XM-3": "failed", "XM-Mgmt": "skipped"}
    bad = run["XM-3"]
    assert bad.attempts == 2 and "injected failure of XM-3" in bad.error
    pd.testing.assert_frame_equal(run["XM-2"].plan.stops, in_process[0]["XM-2"].plan.stops)  # the others kept
    plan = M.merge(run)
    assert plan.summary["plans_failed"] == 1 and plan.summary["failed"][0]["partition"] == "XM-3"
    assert any("XM-3 FAILED" in w for w in plan.warnings())
    assert set(plan.tables["stops"]["partition"]) == {"XM-1", "XM-2"}


def test_bad_partition_data_fails_that_partition_only(by_team, spec):
    parts = list(by_team.partitions)
    broken = parts[1].reps.assign(**{S.BASE_OFFICE: "NOWHERE"})
    parts[1] = P.Partition(parts[1].name, parts[1].key, parts[1].label, parts[1].accounts, broken, parts[1].offices)
    bad = P.Partitioning(by="team", partitions=tuple(parts), left_out=by_team.left_out,
                         assignment=by_team.assignment)
    run = R.run(bad, spec, workers=0)
    assert [r.status for r in run.results] == ["ok", "failed", "ok", "skipped"]
    assert run["XM-2"].attempts == 2 and "NOWHERE" in run["XM-2"].error


# --------------------------------------------------------------------------- the other jobs, the map data
def test_bases_by_region_and_territories_of_one_team_merge(tables, by_team):
    region = P.partition(tables["accounts"], tables["reps"], tables["offices"], by="region", markets=tables["markets"])
    spec = R.job_spec("bases", bases.BaseOptions(k=2), tables["accounts"], tables["reps"])
    plan = M.merge(R.run(region, spec, workers=0))
    assert plan.summary["plans_ok"] == 1 and len(plan.tables["open"]) == 2
    assert plan.tables["accounts"]["partition"].eq("East China").all() and len(plan.tables["accounts"]) == 3000
    groups = M.layer_groups(plan, max_points=500)
    assert [g.name for g in groups] == ["East China"] and len(groups[0].points) <= 500 < groups[0].total_points
    one = P.Partitioning(by="team", partitions=by_team.partitions[:1], left_out=by_team.left_out,
                         assignment=by_team.assignment)
    tspec = R.job_spec("territories", territories.TerritoryOptions(time_limit_s=4.0), tables["accounts"],
                       tables["reps"])
    assert tspec.as_of == R.as_of_day(tables["accounts"], tables["reps"])  # the whole organisation's day
    tplan = M.merge(R.run(one, tspec, workers=0))
    acc = tplan.tables["accounts"]
    assert len(acc) == len(by_team.partitions[0].accounts) and acc["partition"].eq("XM-1").all()
    assert tplan.summary["totals"]["assigned"] == int((acc["outcome"] == "assigned").sum())


def test_map_layers_one_group_per_planned_partition(in_process):
    from planner.app.cli.national import national_map
    from planner.app.maps import to_html

    plan = M.merge(in_process[0])
    groups = M.layer_groups(plan)
    assert [g.name for g in groups] == ["XM-1", "XM-2", "XM-3"]
    assert all(len(g.routes) and len(g.sites) == 1 for g in groups)
    html = to_html(national_map(plan, tiles=None))
    assert all(name in html for name in ("XM-1", "XM-2", "XM-3"))


# --------------------------------------------------------------------------- the national demo
def test_national_demo_is_seeded_and_loads_whole(tmp_path):
    cfg = N.NationalConfig(regions=3, reps=150, accounts=6000, seed=7)
    a, b = N.generate(cfg), N.generate(cfg)
    assert a.accounts.equals(b.accounts) and a.reps.equals(b.reps)
    assert len(a.reps) == 150 and len(a.accounts) == 6000
    assert set(a.cities["region"]) == set(N.REGION_ORDER[:3])
    teams = a.reps[a.reps[S.TEAM] != ""].groupby(S.TEAM)
    sellers = teams[S.LEVEL].apply(lambda lv: int(lv.isin(S.SELLER_LEVELS).sum()))
    assert (teams[S.LEVEL].apply(lambda lv: int((lv == "M1").sum())) == 1).all()  # one supervisor a team
    assert sellers.min() >= 1 and sellers.median() >= 8
    owners = set(a.accounts[S.OWNER]) - {S.PUBLIC_POOL}
    assert owners <= set(a.reps.loc[a.reps[S.LEVEL].isin(S.SELLER_LEVELS), S.ID])
    N.write(tmp_path, cfg)
    loaded = Workspace.open(tmp_path).load(["accounts", "reps", "offices"])
    assert not loaded.rejected and len(loaded["accounts"]) == 6000
    acc, reps, off = loaded["accounts"], loaded["reps"], loaded["offices"]
    region = P.partition(acc, reps, off, by="region")
    assert len(region) == 3 and region.unaccounted(acc, reps, off) == []
    team = P.partition(acc, reps, off, by="team")
    assert set(team.left_out["reason"]) == {"no team (none above him either)"}  # the managers above the teams
    assert team.unaccounted(acc, reps, off) == []


# --------------------------------------------------------------------------- the command
def test_workers_without_by_is_refused():
    from planner.app.cli import national

    with pytest.raises(InputError, match="add --by"):
        national.partitioned(argparse.Namespace(by=None, workers=2, scheduler=None))


def test_command_days_by_team_on_two_workers(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "planner", "days", "--date", str(DATE.date()), "--by", "team",
                        "--workers", "2", "--solution-limit", "5", "--time-limit", "60", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [row["partition"] for row in s["per_partition"]] == ["XM-1", "XM-2", "XM-3", "XM-Mgmt"]
    assert s["plans_ok"] == 3 and s["plans_skipped"] == 1 and s["mode"] == "local cluster (2 workers)"
    assert s["totals"]["visits"] == sum(row.get("visits", 0) for row in s["per_partition"]) > 0
    stops = pd.read_csv(out / f"days_stops_{DATE.date()}.csv")
    assert set(stops["partition"]) == {"XM-1", "XM-2", "XM-3"}
    assert "4/4 partitions" in r.stderr and (out / f"national_days_{DATE.date()}.html").exists()
