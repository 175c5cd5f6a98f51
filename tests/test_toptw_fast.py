"""The compiled team-orienteering engine (planner.solvers.toptw_fast) behind route().

Brute-force optima on tiny instances, an independent feasibility check of every plan, same seed
same plan, the time limit, and the fall-back to the OR-Tools path for the models it does not take.
"""

import dataclasses
import sys
import time

import numpy as np
import pytest

pytest.importorskip("numba")

from brute_force import one_tour_subsets
from test_routing import _best_by_enumeration, _instance

from planner.solvers import toptw_fast
from planner.solvers.routing import RoutingModel, SearchOptions, route


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    toptw_fast.warm_up()  # the first compile is not what these tests time


def _check(res, model: RoutingModel) -> int:
    """Independent feasibility check of a RouteResult (not toptw_fast.check_plan): depots, each visit
    once, windows on the start of service, the vehicle windows and visit limits, the stated start
    times consistent with travel and service. Returns the prize collected."""
    seen = set()
    visits = set(model.visit_nodes)
    assert len(res.routes) == model.n_vehicles
    for v, r in enumerate(res.routes):
        assert r[0][0] == model.starts[v] and r[-1][0] == model.ends[v]
        assert r[0][1] >= model.vehicle_open[v] and r[-1][1] <= model.vehicle_close[v]
        if model.max_visits is not None:
            assert len(r) - 2 <= model.max_visits[v]
        for (a, ta), (b, tb) in zip(r[:-1], r[1:]):
            assert tb >= ta + model.service[a] + model.travel[a, b]
        for node, t in r[1:-1]:
            assert node in visits and node not in seen
            seen.add(node)
            assert model.open[node] <= t <= model.close[node]
    prize = sum(int(model.prize[i]) for i in seen)
    assert prize == res.prize
    assert set(res.dropped) == visits - seen
    return prize


def _team_best(travel, service, open_, close, prize, day, m: int) -> int:
    """Best prize of m disjoint tours from 0 back to 0 within the day: every feasible subset of customers
    (earliest-arrival DP over subsets), then the best union of m disjoint ones."""
    n = len(prize) - 1
    ok = one_tour_subsets(travel, service, open_, close, day)
    value = [sum(int(prize[j + 1]) for j in range(n) if mask >> j & 1) for mask in range(1 << n)]
    best = [value[mask] if ok[mask] else -1 for mask in range(1 << n)]  # best with 1 tour inside mask
    for _ in range(m - 1):
        nxt = list(best)
        for mask in range(1 << n):
            if not ok[mask]:
                continue
            rest = ((1 << n) - 1) ^ mask
            sub = rest
            while True:
                if best[sub] >= 0:
                    nxt[mask | sub] = max(nxt[mask | sub], value[mask] + best[sub])
                if sub == 0:
                    break
                sub = (sub - 1) & rest
        best = nxt
    return max(best)


def _model(travel, service, open_, close, prize, day, m: int = 1, **kw) -> RoutingModel:
    return RoutingModel(travel=travel, service=service, open=open_, close=close, prize=prize, starts=(0,) * m,
                        ends=(0,) * m, vehicle_open=(0,) * m, vehicle_close=(day,) * m, **kw)


def _fast(seed: int = 0, **kw) -> SearchOptions:
    return SearchOptions(time_limit_s=kw.pop("time_limit_s", 5.0), solution_limit=kw.pop("solution_limit", 20),
                         seed=seed, engine="fast", **kw)


@pytest.mark.parametrize("seed", range(8))
def test_one_tour_reaches_the_enumerated_optimum(seed):
    data = _instance(seed)
    model = _model(*data)
    res = route(model, _fast(seed))
    assert res.report.solver == "toptw-fast"
    assert _check(res, model) == _best_by_enumeration(*data)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [2, 3])
def test_team_reaches_the_enumerated_optimum(seed, m):
    data = _instance(seed + 20, n=10, day=110)
    model = _model(*data, m=m)
    res = route(model, _fast(seed))
    assert res.report.solver == "toptw-fast"
    assert _check(res, model) == _team_best(*data, m)


def test_visit_limits_are_kept():
    data = _instance(5, n=12, day=200)
    model = _model(*data, m=2, max_visits=(2, 3))
    res = route(model, _fast(1))
    assert res.report.solver == "toptw-fast"
    _check(res, model)
    assert all(len(r) - 2 <= cap for r, cap in zip(res.routes, (2, 3)))


def _random_model(n: int, m: int, seed: int) -> RoutingModel:
    """A Cordeau-like instance, integer, n customers and m tours (the benchmark's generator, scaled down)."""
    rng = np.random.default_rng(seed)
    xy = np.vstack([[0.0, 0.0], rng.uniform(-100, 100, size=(n, 2))])
    travel = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) * 10).astype(np.int64)
    service = rng.integers(10, 250, n + 1)
    day = 10_000
    lo = travel[0]
    centre = rng.integers(lo, np.maximum(lo + 1, day - lo - service))
    width = rng.integers(900, 1800, n + 1)
    open_ = np.maximum(lo, centre - width // 2)
    close = np.maximum(open_, np.minimum(day - lo - service, centre + width // 2))
    prize = rng.integers(1, 26, n + 1)
    open_[0], close[0], service[0], prize[0] = 0, day, 0, 0
    return _model(travel, service, open_, close, prize, day, m=m)


@pytest.mark.parametrize("seed", range(3))
def test_plans_of_larger_instances_are_feasible(seed):
    model = _random_model(120, 1 + seed, seed)
    res = route(model, _fast(seed, solution_limit=50))
    assert res.report.solver == "toptw-fast"
    assert _check(res, model) > 0
    assert toptw_fast.check_plan(model, [[x for x, _ in r] for r in res.routes]) == []


def test_same_seed_same_plan():
    model = _random_model(80, 2, 11)
    a, b = route(model, _fast(3, solution_limit=30)), route(model, _fast(3, solution_limit=30))
    assert a.routes == b.routes
    c = route(model, _fast(4, solution_limit=30))
    _check(c, model)


@pytest.mark.parametrize("limit", [0.5, 1.5])
def test_time_limit_is_kept(limit):
    model = _random_model(250, 3, 5)
    t = time.perf_counter()
    res = route(model, SearchOptions(time_limit_s=limit, engine="fast"))
    took = time.perf_counter() - t
    assert res.report.solver == "toptw-fast"
    assert took <= limit + 0.1
    _check(res, model)


def test_check_plan_finds_broken_plans():
    data = _instance(0)
    model = _model(*data)
    assert toptw_fast.check_plan(model, [[0, 0]]) == []
    late = max(model.visit_nodes, key=lambda i: model.open[i])
    early = min(model.visit_nodes, key=lambda i: model.close[i])
    assert toptw_fast.check_plan(model, [[0, late, early, 0]])  # the second window is missed
    assert toptw_fast.check_plan(model, [[0, 1, 1, 0]])  # served twice
    assert toptw_fast.check_plan(model, [[0, 1, 0], [0, 2, 0]])  # two routes for one vehicle


def _day_like(m: int = 3) -> RoutingModel:
    """A model as the days/week planners pose it: visit types with caps (4 new, 2 follow-ups, 2 closings),
    reps allowed per visit, lunch."""
    base = _random_model(40, m, 3)
    n = len(base.service)
    rng = np.random.default_rng(0)
    kind = rng.integers(0, 3, n)
    allowed = tuple(None if i == 0 else (int(i % m),) for i in range(n))
    return dataclasses.replace(base, kind=kind, kind_caps=((4, 2, 2),) * m, allowed=allowed,
                               lunch=((4000, 5000, 300),) * m)


@pytest.mark.parametrize("engine", ["auto", "fast"])
def test_days_models_keep_the_ortools_path(engine):
    model = _day_like()
    assert set(toptw_fast.why_not(model)) >= {"visit-mix caps", "allowed vehicles", "lunch breaks"}
    res = route(model, SearchOptions(time_limit_s=2.0, solution_limit=5, engine=engine))
    assert res.report.solver == "ortools-routing"


@pytest.mark.parametrize("feature", ["kind_caps", "allowed", "lunch", "capacity", "mandatory", "fixed_cost", "cost"])
def test_each_dropped_feature_falls_back(feature):
    base = _random_model(12, 2, 1)
    n = len(base.service)
    change = {
        "kind_caps": dict(kind=np.zeros(n, np.int64), kind_caps=((4,), (4,))),
        "allowed": dict(allowed=tuple(None if i != 3 else (1,) for i in range(n))),
        "lunch": dict(lunch=((4000, 5000, 300), None)),
        "capacity": dict(demand=np.ones(n, np.int64), capacity=(5, 5)),
        "mandatory": dict(mandatory=np.arange(n) == 4),
        "fixed_cost": dict(fixed_cost=100),
        "cost": dict(cost=base.travel * 2),
    }[feature]
    model = dataclasses.replace(base, **change)
    assert not toptw_fast.applies(model)
    res = route(model, SearchOptions(time_limit_s=2.0, solution_limit=5, engine="fast"))
    assert res.report.solver == "ortools-routing"
    assert toptw_fast.applies(base)
    assert route(base, _fast(0, solution_limit=5)).report.solver == "toptw-fast"


def test_ortools_engine_and_no_numba_take_the_ortools_path(monkeypatch):
    import planner.solvers

    model = _random_model(12, 2, 2)
    opts = SearchOptions(time_limit_s=2.0, solution_limit=5)
    assert route(model, dataclasses.replace(opts, engine="ortools")).report.solver == "ortools-routing"
    assert route(model, opts).report.solver == "toptw-fast"  # auto: the kernels are compiled (fixture)
    monkeypatch.delattr(planner.solvers, "toptw_fast", raising=False)
    monkeypatch.setitem(sys.modules, "planner.solvers.toptw_fast", None)  # numba not importable
    assert route(model, opts).report.solver == "ortools-routing"
    assert route(model, dataclasses.replace(opts, engine="fast")).report.solver == "ortools-routing"


def test_bad_engine_names_the_field():
    with pytest.raises(ValueError, match="engine"):
        SearchOptions(engine="pyvrp")
