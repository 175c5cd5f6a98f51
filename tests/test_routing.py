"""The routing engine against brute force on small orienteering instances with windows."""

import numpy as np
import pytest

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
