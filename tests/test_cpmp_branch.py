"""Tests for planner.solvers.pmedian.cpmp_branch: the capacitated p-median branch and bound against brute force."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from planner.solvers.pmedian import PMedianProblem, cpmp_branch as cb, knapsack_bound as kb, solve_cpmp


def instance(seed: int, n: int, m: int, p: int, slack: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer costs (clients x candidates), integer demands, equal integer capacities with total capacity of
    p bases = total demand x ``slack`` (tight: a few units of room)."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 60, size=(n + m, 2))
    W = np.floor(np.hypot(*(xy[:n, None, :] - xy[None, n:, :]).transpose(2, 0, 1))).astype(np.float64)
    d = rng.integers(1, 10, size=n).astype(np.int64)
    Q = np.full(m, int(math.ceil(d.sum() * slack / p)), dtype=np.int64)
    return W, d, Q


def brute(W: np.ndarray, d: np.ndarray, Q: np.ndarray, p: int) -> float:
    """The optimum by enumeration: every open set, every assignment of the clients to it (inf: no plan)."""
    n, m = W.shape
    best = math.inf
    A = np.array(list(itertools.product(range(p), repeat=n)), dtype=np.int64)  # assignments x clients
    for S in itertools.combinations(range(m), p):
        cols = np.array(S)
        loads = np.zeros((A.shape[0], p))
        for k in range(p):
            loads[:, k] = ((A == k) * d[None, :]).sum(axis=1)
        ok = (loads <= Q[cols][None, :]).all(axis=1)
        if ok.any():
            cost = W[np.arange(n)[None, :], cols[A[ok]]].sum(axis=1)
            best = min(best, float(cost.min()))
    return best


def search(W: np.ndarray, d: np.ndarray, Q: np.ndarray, p: int, seconds: float = 20.0,
           state: cb.BranchState | None = None) -> tuple[cb.BranchOutcome, cb.BranchState]:
    n, m = W.shape
    state = state or cb.BranchState(None, None, math.inf)
    out = cb.branch_and_bound(W, d, Q, p, allow=np.ones((n, m), dtype=bool), closed=np.zeros(m, dtype=bool),
                              opened=np.zeros(m, dtype=bool), lam=W.min(axis=1), state=state, integral=True,
                              deadline=time.perf_counter() + seconds)
    return out, state


def check(W: np.ndarray, d: np.ndarray, Q: np.ndarray, p: int, state: cb.BranchState) -> None:
    """The incumbent is a plan: p open columns, every client to an open one, capacities kept, value right."""
    assert state.open is not None and state.assign is not None
    assert np.unique(state.open).size == p
    assert np.isin(state.assign, state.open).all()
    assert (np.bincount(state.assign, weights=d, minlength=W.shape[1]) <= Q).all()
    assert state.value == pytest.approx(float(W[np.arange(W.shape[0]), state.assign].sum()))


CASES = [(1, 10, 6, 3, 1.05), (2, 9, 6, 3, 1.1), (3, 14, 7, 2, 1.03), (4, 12, 6, 2, 1.0), (5, 10, 5, 3, 1.15),
         (6, 13, 8, 2, 1.08)]


@pytest.mark.parametrize("seed,n,m,p,slack", CASES)
def test_branch_and_bound_finds_the_brute_force_optimum(seed: int, n: int, m: int, p: int, slack: float) -> None:
    W, d, Q = instance(seed, n, m, p, slack)
    opt = brute(W, d, Q, p)
    out, state = search(W, d, Q, p)
    assert out.proven
    if math.isinf(opt):
        assert state.open is None and out.bound == math.inf
        return
    check(W, d, Q, p, state)
    assert state.value == pytest.approx(opt)
    assert out.bound == pytest.approx(opt)
    assert out.stats["nodes"] >= 1


def test_numpy_fallback_gives_the_same_optimum(monkeypatch: pytest.MonkeyPatch) -> None:
    W, d, Q = instance(1, 10, 6, 3, 1.05)
    opt = brute(W, d, Q, 3)
    monkeypatch.setattr(kb, "ENABLED", False)
    out, state = search(W, d, Q, 3)
    assert out.proven and out.stats["compiled"] is False
    assert state.value == pytest.approx(opt)


def test_infeasible_instance_is_proven_without_a_plan() -> None:
    # three clients of demand 6 and two bases of capacity 10: the total fits (18 <= 20), single sourcing does not
    W = np.array([[1.0, 2.0, 3.0], [2.0, 1.0, 3.0], [3.0, 2.0, 1.0]])
    d = np.array([6, 6, 6], dtype=np.int64)
    Q = np.array([10, 10, 10], dtype=np.int64)
    assert math.isinf(brute(W, d, Q, 2))
    out, state = search(W, d, Q, 2)
    assert out.proven and state.open is None and out.bound == math.inf
    res = solve_cpmp(PMedianProblem(W, None, 2, capacity=Q.astype(float), demand=d.astype(float)),
                     time_limit_s=5, best_effort=False)
    assert res.report.status == "infeasible"


def test_search_cut_short_returns_a_valid_bound_and_keeps_the_plan() -> None:
    W, d, Q = instance(3, 14, 7, 2, 1.03)
    opt = brute(W, d, Q, 2)
    # a poor but feasible starting plan: the worst of the brute-force-feasible assignments is not needed, any
    # plan that fits will do: the largest-capacity pair with a first-fit assignment by decreasing demand
    n = W.shape[0]
    o = np.array([0, 1])
    room = Q[o].astype(np.int64).copy()
    a = np.full(n, -1, dtype=np.int64)
    for i in np.argsort(-d, kind="stable"):
        k = int(np.argmax(room >= d[i]))
        assert room[k] >= d[i]
        a[i], room[k] = o[k], room[k] - d[i]
    start = cb.BranchState(o, a, float(W[np.arange(n), a].sum()))
    assert start.value > opt  # the search has something to find
    out, state = search(W, d, Q, 2, seconds=0.0, state=start)
    assert not out.proven
    assert out.bound <= opt + 1e-9 <= state.value + 1e-9
    check(W, d, Q, 2, state)
    out2, state2 = search(W, d, Q, 2, seconds=0.003, state=cb.BranchState(o, a.copy(), start.value))
    assert out2.bound <= opt + 1e-9 <= state2.value + 1e-9
    check(W, d, Q, 2, state2)


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_solve_cpmp_matches_brute_force_on_tight_instances(seed: int) -> None:
    p = 3 if seed % 2 else 2
    W, d, Q = instance(seed, 12 - p, 12, p, 1.02)
    sub = np.arange(7)  # brute force over 7 candidates; the others excluded
    opt = brute(W[:, sub], d, Q[sub], p)
    prob = PMedianProblem(W, None, p, capacity=Q.astype(float), demand=d.astype(float),
                          excluded=list(range(7, 12)))
    res = solve_cpmp(prob, time_limit_s=10, best_effort=False)
    if math.isinf(opt):
        assert res.report.status in ("infeasible", "time_limit_no_solution")
        return
    assert res.report.status == "optimal"
    assert res.objective == pytest.approx(opt)
    assert res.report.bound == pytest.approx(opt)
    loads = res.loads(prob)
    assert (loads <= Q + 1e-9).all()


def test_solve_cpmp_uses_the_branch_and_bound_and_reports_it() -> None:
    """A tight 40-client instance whose root bound does not prove the plan: the branch and bound closes it
    (solve_cpmp runs it with the compiled kernels: compiled here once per installation when not cached)."""
    pytest.importorskip("numba")
    from planner.solvers.pmedian import knapsack_kernels

    if not knapsack_kernels.ready():
        knapsack_kernels.warm_up()
    W, d, Q = instance(8, 40, 40, 4, 1.02)
    prob = PMedianProblem(W, None, 4, capacity=Q.astype(float), demand=d.astype(float))
    res = solve_cpmp(prob, time_limit_s=10)
    assert res.report.status == "optimal"
    assert res.report.bound == pytest.approx(res.objective)
    assert (res.loads(prob) <= Q + 1e-9).all()
    st = res.stats["branch_and_bound"]
    assert st["nodes"] >= 2 and st["open_nodes"] == 0 and st["seconds"] >= 0
    assert "branch-and-bound" in res.report.solver


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_gap_assign_lagrangian_start_and_cutoff(seed: int) -> None:
    """The assignment to a fixed open set (regret greedy or the knapsack Lagrangian's start, + descent) is a
    plan no better than the brute-force optimum of that set, and a ``cutoff`` only drops it when no
    assignment of the set beats the cutoff."""
    pytest.importorskip("numba")
    from planner.solvers.pmedian import capacitated as cap, knapsack_kernels

    if not knapsack_kernels.ready():
        knapsack_kernels.warm_up()
    p = 3
    W, d, Q = instance(seed, 9, 3, p, 1.03)
    opt = brute(W, d, Q, p)
    o = np.arange(p)
    a = cap._gap_assign(W, d.astype(float), Q.astype(float), o)
    if math.isinf(opt):
        assert a is None
        return
    if a is not None:
        assert (np.bincount(a, weights=d, minlength=p) <= Q).all()
        assert float(W[np.arange(W.shape[0]), a].sum()) >= opt - 1e-9
    for cutoff in (opt - 5.0, opt - 1.0, opt, opt + 1.0, opt + 10.0):
        b = cap._gap_assign(W, d.astype(float), Q.astype(float), o, cutoff=cutoff)
        if b is None and a is not None:
            assert opt >= cutoff - 1e-9  # dropped only when no assignment beats the cutoff
        if b is not None:
            assert float(W[np.arange(W.shape[0]), b].sum()) >= opt - 1e-9
    lag, beats = cap._lagrangian_start(W, d.astype(float), Q.astype(float), None, opt - 1.0)
    assert not beats or lag is None or (np.bincount(lag, weights=d, minlength=p) <= Q).all()
