"""The compiled route elimination (planner.solvers.fleet_fast) against brute force and the Python engine.

The fewest routes by brute force on tiny instances, every plan checked from scratch, same seed same plan,
the compiled and the Python engines agreeing on what is feasible, and route() choosing the engine.
"""

import math
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

from test_routing import _check_vrptw_plan, _fewest_vehicles, _vrptw, _vrptw_model

from planner.solvers import fleet, fleet_fast
from planner.solvers.routing import SearchOptions, _fleet_engine, route


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    fleet_fast.warm_up()  # the first compile is not what these tests time


def _independent_check(data, routes: list[list[int]]) -> None:
    """Every customer once, windows on the start of service, capacity, back by the horizon (not fleet.feasible)."""
    travel, service, open_, close, demand, horizon, capacity = data
    assert sorted(c for r in routes for c in r) == list(range(1, len(service)))
    for r in routes:
        assert r and sum(int(demand[c]) for c in r) <= capacity
        t, prev = 0, 0
        for c in r:
            t = max(t + int(service[prev]) + int(travel[prev, c]), int(open_[c]))
            assert t <= close[c]
            prev = c
        assert t + int(service[prev]) + int(travel[prev, 0]) <= horizon


@pytest.mark.parametrize("seed", range(8))
def test_compiled_elimination_reaches_the_brute_force_fewest_routes(seed):
    data = _vrptw(seed, n=9)
    fewest = _fewest_vehicles(*data)
    fd = fleet.data_of(_vrptw_model(*data))
    start = [[c] for c in fd.customers]  # one route each: the most there can be
    plan, stats = fleet_fast.minimise_routes(fd, start, math.inf, seed=seed, max_ejections=3000)
    _independent_check(data, plan)
    assert len(plan) == stats.routes_end == fewest
    assert stats.routes_start == 9 and stats.rejected == 0
    assert [h[0] for h in stats.history] == sorted((h[0] for h in stats.history), reverse=True)


@pytest.mark.parametrize("seed", range(4))
def test_every_plan_is_feasible_and_the_same_seed_gives_the_same_plan(seed):
    data = _vrptw(seed + 20, n=40, horizon=400, capacity=60)
    fd = fleet.data_of(_vrptw_model(*data))
    start = [[c] for c in fd.customers]
    for k_max in (1, 3):
        plan, stats = fleet_fast.minimise_routes(fd, start, math.inf, seed=seed, k_max=k_max, max_ejections=400)
        _independent_check(data, plan)
        assert fleet.feasible(fd, plan) and stats.rejected == 0
        assert stats.routes_end == len(plan) < len(start)
        assert stats.ejections <= 400
        again, stats2 = fleet_fast.minimise_routes(fd, start, math.inf, seed=seed, k_max=k_max, max_ejections=400)
        assert again == plan and stats2.ejections == stats.ejections and stats2.insertions == stats.insertions
    other, _ = fleet_fast.minimise_routes(fd, start, math.inf, seed=seed + 100, max_ejections=400)
    _independent_check(data, other)


def test_the_kernels_agree_with_the_python_engine_on_feasibility():
    """Route by route, the compiled times (earliest / latest start) and the cheapest insertion equal the
    Python engine's, and a visit one engine cannot insert the other cannot either."""
    data = _vrptw(5, n=30, horizon=300, capacity=50)
    fd = fleet.data_of(_vrptw_model(*data))
    plan, _ = fleet.minimise_routes(fd, [[c] for c in fd.customers], math.inf, seed=1, max_ejections=200)
    rng = np.random.default_rng(0)
    for _ in range(20):
        k = int(rng.integers(len(plan)))
        out = plan[k].pop(int(rng.integers(len(plan[k]))))  # a visit out, the rest stays feasible
        rest = [r for r in plan if r]
        py = fleet._Plan(fd, rest)
        st = fleet_fast._State(fd, rest, 10)
        for j in range(len(rest)):
            n = len(rest[j]) + 2
            assert st.A[j, :n].tolist() == py.a[j] and st.Z[j, :n].tolist() == py.z[j]
        want = py.insertions(out)
        got = fleet_fast._cheapest(out, st.R, st.rl, st.A, st.Z, st.load, int(st.meta[0]), st.T, st.nd, st.par)
        assert (got[0] >= 0) == (want is not None)
        if want is not None:
            assert got == (want[0], want[1] + 1)
            rest[got[0]].insert(got[1] - 1, out)
            assert fleet.feasible(fd, rest)
        plan = [r for r in rest if r] if want is not None else [r for r in plan if r] + [[out]]
        assert fleet.feasible(fd, plan)


def test_the_ejection_search_finds_what_the_python_one_finds():
    """With the same penalty counters, the best ejection sum per route is the same in both engines."""
    data = _vrptw(3, n=40, horizon=400, capacity=60)
    fd = fleet.data_of(_vrptw_model(*data))
    plan, _ = fleet.minimise_routes(fd, [[c] for c in fd.customers], math.inf, seed=2, max_ejections=300)
    rng = np.random.default_rng(1)
    p = [int(x) for x in rng.integers(1, 6, len(fd.s))]
    pen = np.asarray(p, np.int64)
    py = fleet._Plan(fd, plan)
    st = fleet_fast._State(fd, plan, 10)
    checked = 0
    for v in fd.customers:
        k0 = st.rv[v]
        for k in range(len(plan)):
            if k == k0:
                continue
            want = fleet._eject_in_route(py, k, v, p, 3, 10**12)
            out = np.zeros(4, np.int64)
            ps, pos, n_out = fleet_fast._eject_in_route(k, v, 3, 10**12, st.R, st.rl, st.A, st.Z, st.load, pen,
                                                        st.T, st.nd, st.par, out)
            assert (pos >= 0) == (want is not None)
            if want is not None:
                assert ps == want.psum and pos == want.pos and tuple(out[:n_out]) == want.out
                checked += 1
    assert checked > 50


def test_route_chooses_the_compiled_engine_and_reaches_the_fewest_vehicles():
    assert _fleet_engine(SearchOptions(engine="fast")) is fleet_fast
    assert _fleet_engine(SearchOptions(engine="ortools")) is fleet
    assert _fleet_engine(SearchOptions()) is fleet_fast  # compiled by the fixture: ready
    data = _vrptw(4, n=9)
    res = route(_vrptw_model(*data), SearchOptions(time_limit_s=2.0, seed=4))
    _check_vrptw_plan(res, *data)
    assert sum(1 for r in res.routes if len(r) > 2) == _fewest_vehicles(*data)
    assert "compiled" in res.report.message


def test_the_python_engine_when_the_compiled_one_cannot_run(monkeypatch):
    import planner.solvers

    monkeypatch.setattr(fleet_fast, "ready", lambda: False)  # neither compiled here nor cached
    assert _fleet_engine(SearchOptions(time_limit_s=10.0)) is fleet  # no room for a first compile
    assert _fleet_engine(SearchOptions(time_limit_s=59.0)) is fleet
    assert _fleet_engine(SearchOptions(time_limit_s=60.0)) is fleet_fast
    assert _fleet_engine(SearchOptions(time_limit_s=10.0, engine="fast")) is fleet_fast
    monkeypatch.delattr(planner.solvers, "fleet_fast")
    monkeypatch.setitem(sys.modules, "planner.solvers.fleet_fast", None)  # numba missing: the import fails
    assert _fleet_engine(SearchOptions(engine="fast")) is fleet
    data = _vrptw(2, n=9)
    res = route(_vrptw_model(*data), SearchOptions(time_limit_s=2.0, seed=2, engine="fast"))
    _check_vrptw_plan(res, *data)
    assert "Python" in res.report.message
