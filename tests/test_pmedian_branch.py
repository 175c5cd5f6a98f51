"""Tests for the Lagrangian branch-and-bound of the uncapacitated p-median (planner.solvers.pmedian.branch)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import planner.solvers.pmedian.uncapacitated as unc
from planner.solvers.pmedian import PMedianProblem, solve_pmedian
from planner.solvers.pmedian.branch import branch_and_bound
from planner.solvers.pmedian.core import _Clock


def brute(W: np.ndarray, p: int, locked: tuple[int, ...] = (), allowed: list[int] | None = None) -> float:
    cols = range(W.shape[1]) if allowed is None else allowed
    return min(float(W[:, list(S)].min(axis=1).sum()) for S in itertools.combinations(cols, p)
               if set(locked) <= set(S))


def instance(seed: int, integral: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Euclidean (even seeds) or uniform random (odd seeds: larger LP gaps, real trees) costs, n = 12-25,
    p = 2-4, integral or fractional costs and weights."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 26))
    p = int(rng.integers(2, 5))
    if seed % 2 == 0:
        xy = rng.random((n, 2)) * 100
        cost = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    else:
        cost = rng.random((n, n)) * 100
    weight = rng.integers(1, 6, size=n).astype(float)
    if integral:
        cost = np.round(cost)
    else:
        weight = weight + rng.random(n)
    return cost, weight, p


def run_direct(W: np.ndarray, p: int, locked: np.ndarray, *, integral: bool, max_nodes: int | None = None,
               time_limit: float = 30.0):
    """The B&B on every column, no radius, zero multipliers, the worst single plan as the incumbent."""
    m = W.shape[1]
    locked_mask = np.zeros(m, dtype=bool)
    locked_mask[locked] = True
    rest = np.flatnonzero(~locked_mask)
    start = np.sort(np.concatenate((locked, rest[np.argsort(-W[:, rest].sum(axis=0))[: p - locked.size]])))
    value = float(W[:, start].min(axis=1).sum())
    return branch_and_bound(W, p, np.arange(m), locked_mask, np.full(W.shape[0], np.inf), locked_mask, start,
                            value, np.zeros(W.shape[0]), -math.inf, _Clock(time_limit, None), integral=integral,
                            max_nodes=max_nodes, enumerate_work=0.0)


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_direct_matches_brute_force(seed: int, integral: bool) -> None:
    cost, weight, p = instance(seed, integral)
    W = weight[:, None] * cost
    rng = np.random.default_rng(100 + seed)
    locked = np.sort(rng.choice(W.shape[1], size=int(seed % 2), replace=False)).astype(np.int64)
    out = run_direct(W, p, locked, integral=integral)
    best = brute(W, p, tuple(locked.tolist()))
    assert out.proven
    assert out.value == pytest.approx(best, rel=1e-9)
    assert float(W[:, out.open].min(axis=1).sum()) == pytest.approx(out.value, rel=1e-12)
    assert out.open.size == p and set(locked.tolist()) <= set(out.open.tolist())
    assert out.bound == pytest.approx(best, rel=1e-9)
    assert out.stats["bb_nodes"] >= 1


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_cut_short_bound_is_valid(seed: int, integral: bool) -> None:
    cost, weight, p = instance(50 + seed, integral)
    W = weight[:, None] * cost
    best = brute(W, p)
    out = run_direct(W, p, np.zeros(0, dtype=np.int64), integral=integral, max_nodes=2)
    assert out.bound <= best + 1e-9 * best
    assert best <= out.value + 1e-9 * best
    if integral:
        assert out.bound == math.floor(out.bound)
    if not out.proven:
        assert out.stats["bb_open_nodes"] > 0 and out.bound < out.value


@pytest.mark.parametrize("integral", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_solve_pmedian_through_branch(seed: int, integral: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through solve_pmedian with the exhaustive search switched off (so the B&B runs on the reduced
    problem), with locked and excluded candidates."""
    monkeypatch.setattr(unc, "_ENUMERATE_MAX_WORK", 0.0)
    cost, weight, p = instance(200 + seed, integral)
    m = cost.shape[1]
    rng = np.random.default_rng(seed)
    pick = rng.permutation(m)
    locked = tuple(int(v) for v in pick[: seed % 2])
    excluded = tuple(int(v) for v in pick[1: 1 + 2 * (seed % 3)])
    prob = PMedianProblem(cost=cost, weight=weight, p=p, locked=locked, excluded=excluded)
    W = weight[:, None] * cost
    best = brute(W, p, locked, [j for j in range(m) if j not in excluded])
    res = solve_pmedian(prob, time_limit_s=30)
    assert res.report.status == "optimal"
    assert res.objective == pytest.approx(best, rel=1e-9)
    assert set(locked) <= set(res.open.tolist()) and not set(excluded) & set(res.open.tolist())
    assert res.report.bound is not None and res.report.bound <= best * (1 + 1e-9)
    assert res.report.bound >= best * (1 - 1e-9)


def test_a_real_tree() -> None:
    """A uniform random instance whose root does not settle it: the tree branches, is exhausted at the
    optimum, and cut after its root it reports a bound strictly between the root's and the optimum."""
    rng = np.random.default_rng(22)
    n = int(rng.integers(12, 26))
    p = int(rng.integers(2, 5))
    W = np.round(rng.random((n, n)) * 100)
    best = brute(W, p)
    none = np.zeros(0, dtype=np.int64)
    out = run_direct(W, p, none, integral=True)
    assert out.proven and out.value == best and out.bound == best
    assert out.stats["bb_nodes"] >= 5 and out.stats["bb_max_depth"] >= 2 and out.stats["bb_branched"] >= 2
    cut = run_direct(W, p, none, integral=True, max_nodes=1)
    assert not cut.proven and cut.stats["bb_open_nodes"] >= 1
    assert cut.bound < best <= cut.value
    assert cut.bound == math.floor(cut.bound)
    # the clock: no time at all still returns the incumbent and a valid bound
    late = branch_and_bound(W, p, np.arange(n), np.zeros(n, dtype=bool), np.full(n, np.inf), np.zeros(n, dtype=bool),
                            np.arange(p), float(W[:, :p].min(axis=1).sum()), np.zeros(n), -math.inf,
                            _Clock(0.0, None), integral=True, enumerate_work=0.0)
    assert not late.proven and late.stats["bb_nodes"] == 0
    assert late.bound <= best <= late.value == float(W[:, :p].min(axis=1).sum())


def brute_chunked(W: np.ndarray, p: int) -> float:
    """Every plan, in numpy batches (for a few 100k plans)."""
    WT = np.ascontiguousarray(W.T)
    combos = itertools.combinations(range(W.shape[1]), p)
    best = math.inf
    while True:
        chunk = np.array(list(itertools.islice(combos, 20_000)), dtype=np.int64).reshape(-1, p)
        if not len(chunk):
            return best
        best = min(best, float(WT[chunk].min(axis=1).sum(axis=1).min()))


@pytest.mark.parametrize("integral", [True, False])
def test_solve_pmedian_larger_tree(integral: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uniform random 50 x 50, p = 4 (a large LP gap: SCIP on the radius model needs > 30 s on 80 x 80,
    p = 5): with the exhaustive search off the B&B runs a real tree and proves the brute-force optimum."""
    monkeypatch.setattr(unc, "_ENUMERATE_MAX_WORK", 0.0)
    rng = np.random.default_rng(0)
    cost = rng.random((50, 50)) * 100
    if integral:
        cost = np.round(cost)
    prob = PMedianProblem(cost=cost, weight=None, p=4)
    res = solve_pmedian(prob, time_limit_s=30)
    assert res.report.status == "optimal"
    assert res.report.solver.endswith("branch-and-bound")
    assert res.stats["bb_nodes"] > 5 and res.stats["bb_open_nodes"] == 0
    best = brute_chunked(cost, 4)
    assert res.objective == pytest.approx(best, rel=1e-9)
    assert res.report.bound == pytest.approx(best, rel=1e-9)


def test_stalled_branch_hands_over_to_scip(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree declared stalled after its root goes to SCIP on the radius model, which proves the
    brute-force optimum from the B&B's plan and bound."""
    monkeypatch.setattr(unc, "_ENUMERATE_MAX_WORK", 0.0)
    monkeypatch.setattr(unc, "_BRANCH_STALL_NODES", 1)
    rng = np.random.default_rng(0)
    cost = np.round(rng.random((40, 40)) * 100)
    res = solve_pmedian(PMedianProblem(cost=cost, weight=None, p=4), time_limit_s=30)
    assert res.stats["bb_stalled"] and res.stats["bb_nodes"] == 1
    assert res.report.solver.endswith("branch-and-bound+SCIP(radius)")
    assert res.report.status == "optimal" and res.stats["mip_status"] == "OPTIMAL"
    assert res.objective == brute_chunked(cost, 4) == res.report.bound


def test_gap_tolerance_reports_a_real_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a gap tolerance the tree prunes more, and the bound reported is what was proven, not the plan."""
    monkeypatch.setattr(unc, "_ENUMERATE_MAX_WORK", 0.0)
    rng = np.random.default_rng(0)
    cost = np.round(rng.random((50, 50)) * 100)
    best = brute_chunked(cost, 4)
    res = solve_pmedian(PMedianProblem(cost=cost, weight=None, p=4), time_limit_s=30, gap_tolerance=0.05)
    assert res.report.status == "optimal"
    assert res.report.bound is not None
    assert res.report.bound <= best <= res.objective <= res.report.bound / (1 - 0.05) + 1e-9
    if res.objective > best:
        assert res.report.bound < res.objective
