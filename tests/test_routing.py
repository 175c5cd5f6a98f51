"""The routing engine against brute force on small orienteering instances with windows."""

import dataclasses

import numpy as np
import pytest
from brute_force import one_tour_subsets

from planner.solvers.routing import RoutingModel, SearchOptions, route


def _instance(seed: int, n: int = 8, day: int = 120):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 40, size=(n, 2))
    travel = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))).astype(np.int64)
    open_ = rng.integers(0, 70, n)
    close = open_ + rng.integers(10, 50, n)
    service = rng.integers(2, 12, n)
    open_[0], close[0], service[0] = 0, day, 0
    prize = rng.integers(1, 30, n)
    prize[0] = 0
    return travel, service, open_, close, prize, day


def _best_by_enumeration(travel, service, open_, close, prize, day) -> int:
    """Best prize of one tour from 0 back to 0 within the day (depth-first, every order)."""
    n = len(prize)
    best = 0

    def dfs(node, t, seen, got):
        nonlocal best
        if t + service[node] + travel[node, 0] <= day or node == 0:
            best = max(best, got)
        for j in range(1, n):
            if j in seen:
                continue
            arr = max(t + service[node] + travel[node, j], open_[j])
            if arr <= close[j] and arr + service[j] + travel[j, 0] <= day:
                dfs(j, arr, seen | {j}, got + int(prize[j]))

    dfs(0, 0, frozenset(), 0)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("descent", ["lean", "full", "off"])
def test_one_tour_reaches_the_enumerated_optimum(seed, descent):
    travel, service, open_, close, prize, day = _instance(seed)
    best = _best_by_enumeration(travel, service, open_, close, prize, day)
    model = RoutingModel(travel=travel, service=service, open=open_, close=close, prize=prize,
                         starts=(0,), ends=(0,), vehicle_open=(0,), vehicle_close=(day,))
    opts = SearchOptions(time_limit_s=2.0, solution_limit=60, seed=seed, descent_in_loop=descent != "off",
                         lean_descent=descent == "lean")
    res = route(model, opts)
    assert res.prize == best
    # the plan itself is feasible: windows on the start of service, back by the end of the day
    r = res.routes[0]
    for (a, ta), (b, tb) in zip(r[:-1], r[1:]):
        assert tb >= ta + service[a] + travel[a, b]
        if b != 0:
            assert open_[b] <= tb <= close[b]
    assert r[-1][1] <= day
    assert sum(int(prize[n]) for n, _ in r[1:-1]) == res.prize


def test_same_seed_same_routes_with_a_solution_limit():
    travel, service, open_, close, prize, day = _instance(7, n=12, day=150)
    model = RoutingModel(travel=travel, service=service, open=open_, close=close, prize=prize,
                         starts=(0, 0), ends=(0, 0), vehicle_open=(0, 0), vehicle_close=(day, day))
    opts = SearchOptions(time_limit_s=5.0, solution_limit=40, seed=3)
    assert route(model, opts).routes == route(model, opts).routes


def test_bad_search_options_name_the_field():
    with pytest.raises(ValueError, match="descent_share"):
        SearchOptions(descent_share=1.5)


# ----------------------------------------------------------------------------- fleet minimisation (VRPTW)
def _vrptw(seed: int, n: int, horizon: int = 230, capacity: int = 40):
    """A small Solomon-like instance: depot 0, n customers, windows on the start of service, demands."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, size=(n + 1, 2))
    xy[0] = 25
    travel = np.round(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))).astype(np.int64)
    service = np.full(n + 1, 10, np.int64)
    service[0] = 0
    open_ = rng.integers(0, horizon - 60, n + 1)
    close = open_ + rng.integers(20, 60, n + 1)
    open_[0], close[0] = 0, horizon
    # every customer reachable alone
    close = np.maximum(close, travel[0] + 1)
    close = np.minimum(close, horizon - service - travel[:, 0])
    open_ = np.minimum(open_, close)
    demand = rng.integers(1, 15, n + 1)
    demand[0] = 0
    return travel, service, open_, close, demand, horizon, capacity


def _fewest_vehicles(travel, service, open_, close, demand, horizon, capacity) -> int:
    """Brute force: the fewest feasible routes covering every customer (subset DP, earliest arrival)."""
    n = len(service) - 1
    full = (1 << n) - 1
    INF = 10**9
    ok = one_tour_subsets(travel, service, open_, close, horizon, demand, capacity)
    best = [INF] * (1 << n)
    best[0] = 0
    for mask in range(1, 1 << n):
        low = mask & -mask  # the route holding the lowest customer of mask
        sub = mask
        while sub:
            if sub & low and ok[sub] and best[mask ^ sub] + 1 < best[mask]:
                best[mask] = best[mask ^ sub] + 1
            sub = (sub - 1) & mask
    return best[full]


def _vrptw_model(travel, service, open_, close, demand, horizon, capacity):
    n = len(service)
    return RoutingModel(travel=travel, service=service, open=open_, close=close, prize=np.ones(n, np.int64),
                        mandatory=np.ones(n, bool), starts=(0,) * (n - 1), ends=(0,) * (n - 1),
                        vehicle_open=(0,) * (n - 1), vehicle_close=(horizon,) * (n - 1), demand=demand,
                        capacity=(capacity,) * (n - 1), fixed_cost=int(travel.max()) * (n + 1))


def _check_vrptw_plan(res, travel, service, open_, close, demand, horizon, capacity):
    served = sorted(node for r in res.routes for node, _ in r[1:-1])
    assert served == list(range(1, len(service)))  # everybody, once
    for r in res.routes:
        assert sum(int(demand[node]) for node, _ in r) <= capacity
        for (a, ta), (b, tb) in zip(r[:-1], r[1:]):
            assert tb >= ta + service[a] + travel[a, b]
            if b != 0:
                assert open_[b] <= tb <= close[b]
        assert r[-1][1] <= horizon


@pytest.mark.parametrize("seed", range(6))
def test_vrptw_reaches_the_fewest_vehicles(seed):
    data = _vrptw(seed, n=9)
    fewest = _fewest_vehicles(*data)
    res = route(_vrptw_model(*data), SearchOptions(time_limit_s=3.0, seed=seed))
    _check_vrptw_plan(res, *data)
    assert sum(1 for r in res.routes if len(r) > 2) == fewest


@pytest.mark.parametrize("seed", range(5))
def test_route_elimination_never_returns_an_infeasible_plan(seed):
    from planner.solvers import fleet

    data = _vrptw(seed + 10, n=40, horizon=400, capacity=60)
    model = _vrptw_model(*data)
    assert fleet.applies(model)
    fd = fleet.data_of(model)
    start = [[c] for c in fd.customers]  # one route each
    assert fleet.feasible(fd, start)
    for k_max in (1, 3):
        plan, stats = fleet.minimise_routes(fd, start, deadline=float("inf"), seed=seed, k_max=k_max,
                                            max_ejections=300)
        assert fleet.feasible(fd, plan)
        assert stats.routes_end == len(plan) <= len(start)
    # a broken plan is recognised: a window missed, a customer twice
    assert not fleet.feasible(fd, start[:-1] + [start[0]])


def test_fleet_minimisation_is_skipped_where_it_does_not_apply():
    from planner.solvers import fleet

    data = _vrptw(0, n=6)
    model = _vrptw_model(*data)
    assert fleet.applies(model)
    assert not fleet.applies(dataclasses.replace(model, fixed_cost=0))
    assert not fleet.applies(dataclasses.replace(model, mandatory=np.zeros(len(data[1]), bool)))
    assert not fleet.applies(dataclasses.replace(model, max_visits=(3,) * model.n_vehicles))
