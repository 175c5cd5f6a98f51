"""Tests for planner.pmedian: p-median and capacitated p-median on cost matrices."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from planner.solvers.pmedian import (
    PMedianProblem,
    PMedianResult,
    read_orlib_cpmp,
    read_orlib_pmed,
    solve_cpmp,
    solve_pmedian,
)

PMED_DIR = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "pmed"


# ----------------------------------------------------------------------------- brute force


def brute_pmedian(cost, weight, p, locked=(), excluded=()):
    m = cost.shape[1]
    allowed = [j for j in range(m) if j not in excluded]
    best = np.inf
    for S in itertools.combinations(allowed, p):
        if not set(locked) <= set(S):
            continue
        best = min(best, float(weight @ cost[:, list(S)].min(axis=1)))
    return best


def brute_cpmp(cost, weight, demand, capacity, p, min_load=None):
    n, m = cost.shape
    best = np.inf
    for S in itertools.combinations(range(m), p):
        for a in itertools.product(S, repeat=n):
            a = np.array(a)
            load = np.bincount(a, weights=demand, minlength=m)
            if (load > capacity + 1e-9).any():
                continue
            if min_load is not None and (load[list(S)] < min_load[list(S)] - 1e-9).any():
                continue
            best = min(best, float(weight @ cost[np.arange(n), a]))
    return best


def check_plan(problem: PMedianProblem, res: PMedianResult, capacitated: bool = False) -> None:
    assert len(res.open) == problem.p
    assert list(res.open) == sorted(set(res.open.tolist()))
    assert (res.assign >= 0).all() and np.isin(res.assign, res.open).all()
    assert set(problem.locked) <= set(res.open.tolist())
    assert not set(problem.excluded) & set(res.open.tolist())
    assert res.objective == pytest.approx(problem.evaluate(res.open, res.assign))
    assert res.report.objective == pytest.approx(res.objective)
    if capacitated:
        assert (res.loads(problem) <= problem.capacity + 1e-9).all()
        if problem.min_load is not None:
            assert (res.loads(problem)[res.open] >= problem.min_load[res.open] - 1e-9).all()
    else:  # uncapacitated: everybody goes to the closest open candidate
        best = problem.cost[:, res.open].min(axis=1)
        assert np.allclose(problem.cost[np.arange(problem.n_clients), res.assign], best)


# ----------------------------------------------------------------------------- uncapacitated

HAND = np.array(
    [  # 6 clients x 4 candidates
        [0, 5, 9, 7],
        [2, 4, 8, 9],
        [9, 0, 3, 6],
        [8, 2, 1, 5],
        [7, 9, 6, 0],
        [6, 8, 5, 1],
    ],
    dtype=float,
)


def test_hand_made_known_optimum():
    prob = PMedianProblem(HAND, None, 2)
    res = solve_pmedian(prob, time_limit_s=10)
    # {0, 2}: 0+2+3+1+6+5 = 17; {1, 3}: 5+4+0+2+0+1 = 12; {0, 3}: 0+2+6+5+0+1 = 14; {1,3} is best
    assert res.objective == 12
    assert res.open.tolist() == [1, 3]
    assert res.report.status == "optimal"
    assert res.report.bound == pytest.approx(12)
    assert res.report.gap == pytest.approx(0)
    check_plan(prob, res)


def test_weights_change_the_answer():
    w = np.array([100, 100, 1, 1, 1, 1], dtype=float)
    prob = PMedianProblem(HAND, w, 1)
    res = solve_pmedian(prob, time_limit_s=10)
    assert res.open.tolist() == [0]
    assert res.objective == pytest.approx(brute_pmedian(HAND, w, 1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_brute_force(data):
    n = data.draw(st.integers(2, 9), label="n_clients")
    m = data.draw(st.integers(2, 7), label="n_candidates")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 30, size=(n, m)).astype(float)
    if data.draw(st.booleans(), label="fractional"):
        cost += rng.random((n, m))
    weight = rng.integers(0, 5, size=n).astype(float)
    excluded = tuple(j for j in range(m) if rng.random() < 0.2)[: m - 1]
    allowed = [j for j in range(m) if j not in excluded]
    p = data.draw(st.integers(1, len(allowed)), label="p")
    locked = tuple(j for j in allowed if rng.random() < 0.25)[:p]
    prob = PMedianProblem(cost, weight, p, locked=locked, excluded=excluded)
    res = solve_pmedian(prob, time_limit_s=10, seed=1)
    assert res.report.status == "optimal"
    assert res.objective == pytest.approx(brute_pmedian(cost, weight, p, locked, excluded), rel=1e-9, abs=1e-9)
    check_plan(prob, res)


def test_locked_and_excluded_respected():
    rng = np.random.default_rng(3)
    cost = rng.integers(1, 100, size=(40, 25)).astype(float)
    free = solve_pmedian(PMedianProblem(cost, None, 4), time_limit_s=10)
    lock = [j for j in range(25) if j not in free.open][:2]
    excl = free.open[:2].tolist()
    prob = PMedianProblem(cost, None, 4, locked=lock, excluded=excl)
    res = solve_pmedian(prob, time_limit_s=10)
    check_plan(prob, res)
    assert res.objective == pytest.approx(brute_pmedian(cost, np.ones(40), 4, lock, excl))
    assert res.objective >= free.objective


def test_all_locked_or_all_open_is_direct():
    prob = PMedianProblem(HAND, None, 2, locked=[0, 2])
    res = solve_pmedian(prob)
    assert res.open.tolist() == [0, 2] and res.report.status == "optimal"
    prob = PMedianProblem(HAND, None, 3, excluded=[1])
    res = solve_pmedian(prob)
    assert res.open.tolist() == [0, 2, 3] and res.report.status == "optimal"


def test_same_seed_same_answer_and_progress():
    rng = np.random.default_rng(11)
    xy = rng.random((150, 2)) * 100
    cost = np.round(np.hypot(*(xy[:, None, :] - xy[None, ::2, :]).transpose(2, 0, 1)), 1)  # minutes-like
    prob = PMedianProblem(cost, rng.integers(1, 4, 150).astype(float), 7)
    calls = []
    a = solve_pmedian(prob, seed=5, time_limit_s=20, progress=lambda f, msg: calls.append((f, msg)))
    b = solve_pmedian(prob, seed=5, time_limit_s=20)
    assert a.open.tolist() == b.open.tolist() and a.assign.tolist() == b.assign.tolist()
    assert a.objective == b.objective
    assert calls and all(f is None or 0.0 <= f <= 1.0 for f, _ in calls)
    assert all(isinstance(msg, str) for _, msg in calls)


def test_time_limit_zero_still_gives_a_plan():
    rng = np.random.default_rng(2)
    cost = rng.integers(1, 100, size=(60, 60)).astype(float)
    prob = PMedianProblem(cost, None, 6)
    res = solve_pmedian(prob, time_limit_s=0.0)
    assert res.report.status in ("optimal", "feasible")
    check_plan(prob, res)


@pytest.mark.skipif(not (PMED_DIR / "pmed1.txt").exists(), reason="shared benchmarks not present")
def test_pmed1_optimum():
    cost, p = read_orlib_pmed(PMED_DIR / "pmed1.txt")
    res = solve_pmedian(PMedianProblem(cost, None, p), time_limit_s=30)
    assert res.objective == 5819
    assert res.report.status == "optimal"


# ----------------------------------------------------------------------------- capacitated


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cpmp_matches_brute_force(data):
    n = data.draw(st.integers(2, 6), label="n_clients")
    m = data.draw(st.integers(2, 4), label="n_candidates")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 30, size=(n, m)).astype(float)
    demand = rng.integers(1, 6, size=n).astype(float)
    p = data.draw(st.integers(1, m), label="p")
    capacity = rng.integers(3, 15, size=m).astype(float)
    use_min = data.draw(st.booleans(), label="min_load")
    min_load = np.minimum(rng.integers(0, 4, size=m).astype(float), capacity) if use_min else None
    prob = PMedianProblem(cost, None, p, capacity=capacity, demand=demand, min_load=min_load)
    best = brute_cpmp(cost, np.ones(n), demand, capacity, p, min_load)
    res = solve_cpmp(prob, time_limit_s=10, best_effort=False)
    if np.isfinite(best):
        assert res.report.status == "optimal"
        assert res.objective == pytest.approx(best)
        check_plan(prob, res, capacitated=True)
    else:
        assert res.report.status == "infeasible"
        assert res.report.violated and all(":" in v for v in res.report.violated)
        assert (res.assign == -1).all()


def _tiny_cpmp(seed: int, n: int = 6, m: int = 4):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 30, size=(n, m)).astype(float)
    demand = rng.integers(1, 6, size=n).astype(float)
    capacity = rng.integers(4, 12, size=m).astype(float)
    p = int(rng.integers(1, m))
    return cost, demand, capacity, p


@pytest.mark.parametrize("seed", range(12))
def test_knapsack_bound_is_below_the_brute_force_optimum(seed):
    """The 0-1 knapsack Lagrangian is a lower bound at every multiplier and after the ascent; its fixing
    keeps every pair of an optimal plan when the threshold is the optimum."""
    from planner.solvers.pmedian import knapsack_bound as kb

    cost, demand, capacity, p = _tiny_cpmp(seed)
    n, m = cost.shape
    best = brute_cpmp(cost, np.ones(n), demand, capacity, p)
    if not np.isfinite(best):
        return
    d, Q = kb.integer_data(demand, capacity)
    ks = kb.IntKnapsacks(cost, d, Q, np.zeros(0, np.int64), np.arange(m), p)
    rng = np.random.default_rng(seed)
    for lam in (cost.min(axis=1), cost.max(axis=1), rng.uniform(-10, 40, n)):
        assert ks.evaluate(lam)[0] <= best + 1e-9
    bound = kb.ascend(ks, cost.min(axis=1), best, float("inf"), lambda lb, ub: False, max_iter=200)
    assert bound.value <= best + 1e-9
    keep, closed, opened = kb.fixing(ks, bound, best + 1e-9, np.zeros(m, bool))
    # some optimal plan survives the fixing
    survivors = 0
    for S in itertools.combinations(range(m), p):
        if closed[list(S)].any() or (opened & ~np.isin(np.arange(m), S)).any():
            continue
        for a in itertools.product(S, repeat=n):
            a = np.array(a)
            if (np.bincount(a, weights=demand, minlength=m) <= capacity + 1e-9).all() \
                    and cost[np.arange(n), a].sum() == best and keep[a, np.arange(n)].all():
                survivors += 1
    assert survivors >= 1


@pytest.mark.parametrize("seed", range(6))
def test_cpmp_bound_is_real_and_valid(seed):
    """The reported bound is a number at or below the optimum, also when the time runs out early."""
    cost, demand, capacity, p = _tiny_cpmp(seed + 100)
    best = brute_cpmp(cost, np.ones(cost.shape[0]), demand, capacity, p)
    if not np.isfinite(best):
        return
    prob = PMedianProblem(cost, None, p, capacity=capacity, demand=demand)
    for limit in (0.05, 5.0):
        res = solve_cpmp(prob, time_limit_s=limit)
        if res.report.status in ("optimal", "feasible"):
            assert res.report.bound is not None and np.isfinite(res.report.bound)
            assert res.report.bound <= best + 1e-9 <= res.objective + 2e-9


def test_cpmp_osman_christofides_dev_instance_is_proven_quickly():
    """OR-Library pmedcap1 problem 1 (n = 50, p = 5): the published 713, proven."""
    f = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "cpmp_osman_christofides" / \
        "pmedcap1_p01.txt"
    if not f.exists():
        pytest.skip("benchmark files not present")
    cost, demand, capacity, p = read_orlib_cpmp(f)
    res = solve_cpmp(PMedianProblem(cost, None, p, capacity=capacity, demand=demand), time_limit_s=20)
    assert res.objective == 713 and res.report.status == "optimal" and res.report.bound == 713


def test_cpmp_capacity_respected_and_binding():
    rng = np.random.default_rng(4)
    xy = rng.random((30, 2)) * 100
    cost = np.floor(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)))
    demand = rng.integers(1, 10, 30).astype(float)
    cap = np.full(30, demand.sum() / 3 * 1.1)
    prob = PMedianProblem(cost, None, 3, capacity=cap, demand=demand, locked=[5], excluded=[7, 8])
    res = solve_cpmp(prob, time_limit_s=20)
    check_plan(prob, res, capacitated=True)
    assert res.report.status == "optimal"
    unc = solve_pmedian(prob, time_limit_s=20)
    assert res.objective >= unc.objective - 1e-9
    again = solve_cpmp(prob, time_limit_s=20)
    assert again.open.tolist() == res.open.tolist() and again.assign.tolist() == res.assign.tolist()


def test_cpmp_total_demand_above_capacity_is_reported():
    cost = HAND
    demand = np.array([5, 5, 5, 5, 5, 5], dtype=float)  # 30 in total
    cap = np.array([10, 8, 12, 6], dtype=float)  # two bases give at most 22
    prob = PMedianProblem(cost, None, 2, capacity=cap, demand=demand)
    strict = solve_cpmp(prob, best_effort=False)
    assert strict.report.status == "infeasible"
    assert strict.report.violated == ("capacity: total demand 30 exceeds the largest possible capacity 22",)
    assert strict.open.size == 0 and (strict.assign == -1).all()
    loose = solve_cpmp(prob)  # best effort: the closest plan, flagged partial
    assert loose.report.status == "partial"
    assert loose.report.violated == strict.report.violated
    assert len(loose.open) == 2 and np.isin(loose.assign, loose.open).all()
    assert loose.stats["proven_infeasible"] and loose.stats["overload"] == pytest.approx(8)


def test_cpmp_infeasible_found_by_the_solver():
    # total demand 12 <= capacity 2 x 7 = 14, but three clients of demand 4 cannot share two bases of 7
    cost = np.zeros((3, 2))
    prob = PMedianProblem(cost, None, 2, capacity=7.0, demand=[4.0, 4.0, 4.0])
    res = solve_cpmp(prob, best_effort=False, time_limit_s=10)
    assert res.report.status == "infeasible"
    assert res.report.violated[0].startswith("capacity:")
    partial = solve_cpmp(prob, time_limit_s=10)
    assert partial.report.status == "partial" and partial.stats["overload"] == pytest.approx(1)


def test_cpmp_client_too_big_and_min_load():
    prob = PMedianProblem(HAND, None, 2, capacity=10.0, demand=[1, 1, 1, 1, 1, 11])
    res = solve_cpmp(prob, best_effort=False)
    assert res.report.status == "infeasible" and "client 5" in res.report.violated[0]
    prob = PMedianProblem(HAND, None, 2, capacity=10.0, demand=[1] * 6, min_load=4.0)
    res = solve_cpmp(prob, best_effort=False)
    assert res.report.status == "infeasible" and res.report.violated[0].startswith("min_load:")
    prob = PMedianProblem(HAND, None, 2, capacity=10.0, demand=[1] * 6, min_load=3.0)
    res = solve_cpmp(prob)
    assert res.report.status == "optimal"
    check_plan(prob, res, capacitated=True)
    best = brute_cpmp(HAND, np.ones(6), np.ones(6), np.full(4, 10.0), 2, np.full(4, 3.0))
    assert res.objective == pytest.approx(best)


# ----------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(cost=np.array([[1.0, np.nan]]), weight=None, p=1), "cost"),
        (dict(cost=np.array([[1.0, -1.0]]), weight=None, p=1), "cost"),
        (dict(cost=np.array([1.0, 2.0]), weight=None, p=1), "cost"),
        (dict(cost=HAND, weight=np.ones(5), p=1), "weight"),
        (dict(cost=HAND, weight=-np.ones(6), p=1), "weight"),
        (dict(cost=HAND, weight=None, p=0), "p"),
        (dict(cost=HAND, weight=None, p=2.5), "p"),
        (dict(cost=HAND, weight=None, p=3, excluded=[0, 1]), "p"),
        (dict(cost=HAND, weight=None, p=1, locked=[0, 1]), "locked"),
        (dict(cost=HAND, weight=None, p=2, locked=[0], excluded=[0]), "locked and excluded"),
        (dict(cost=HAND, weight=None, p=2, locked=[9]), "locked"),
        (dict(cost=HAND, weight=None, p=2, capacity=np.ones(3)), "capacity"),
        (dict(cost=HAND, weight=None, p=2, capacity=5.0, demand=[1, 1, np.nan, 1, 1, 1]), "demand"),
        (dict(cost=HAND, weight=None, p=2, capacity=5.0, min_load=6.0), "min_load"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        PMedianProblem(**kwargs)


def test_cpmp_needs_capacity():
    with pytest.raises(ValueError, match="capacity"):
        solve_cpmp(PMedianProblem(HAND, None, 2))


# ----------------------------------------------------------------------------- readers


def test_read_orlib_pmed_last_occurrence_wins(tmp_path):
    f = tmp_path / "pmed_tiny.txt"
    # edge 1-2 appears twice (3, then 10 written as 2-1): the last one (10) wins, not the minimum (3)
    f.write_text(" 4 5 2 \n 1 2 3 \n 2 3 4 \n 3 4 6 \n 2 1 10 \n 1 3 1 \n")
    cost, p = read_orlib_pmed(f)
    assert p == 2
    expected = np.array([[0, 5, 1, 7], [5, 0, 4, 10], [1, 4, 0, 6], [7, 10, 6, 0]], dtype=float)
    assert np.array_equal(cost, expected)  # 1-2 = min(10, 1-3-2 = 5); with the minimum rule it would be 3
    g = tmp_path / "pmed_two.txt"
    g.write_text(" 2 2 1 \n 1 2 10 \n 1 2 3 \n")
    assert read_orlib_pmed(g)[0][0, 1] == 3


def test_read_orlib_cpmp_truncates(tmp_path):
    f = tmp_path / "pmedcap_tiny.txt"
    f.write_text(" 1 7\n 3 2 10\n 1 0 0 4\n 2 3 4 5\n 3 1 1 6\n")
    cost, demand, capacity, p = read_orlib_cpmp(f)
    assert p == 2 and capacity.tolist() == [10, 10, 10] and demand.tolist() == [4, 5, 6]
    assert cost[0, 1] == 5 and cost[0, 2] == 1  # sqrt(2) = 1.41 -> 1
    assert cost[1, 2] == 3  # sqrt(4 + 9) = 3.6 -> 3
    assert np.array_equal(cost, cost.T) and (np.diag(cost) == 0).all()
