"""Contiguous districting (planner.solvers.territories.contiguous): invariants on generated Delaunay
instances, a brute-forced optimum on a tiny grid, realignment, infeasible tolerance, time limit."""

from __future__ import annotations

import itertools
import time
from collections import deque

import numpy as np
import pytest
from scipy.spatial import Delaunay

from planner.solvers.territories.contiguous import (
    DistrictOptions,
    DistrictProblem,
    is_contiguous,
    realignment_curve,
    solve_districts,
)


def delaunay_problem(U: int, k: int, tol: float, seed: int, **kw: object) -> DistrictProblem:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 100.0, size=(U, 2))
    measures = np.stack([rng.integers(4, 21, U), rng.integers(15, 401, U), rng.integers(15, 101, U)], 1)
    indptr, indices = Delaunay(xy).vertex_neighbor_vertices
    return DistrictProblem(xy=xy, indptr=indptr, indices=indices, measures=measures.astype(float),
                           tolerance=np.full(3, tol), k=k, **kw)  # type: ignore[arg-type]


def grid_problem(rows: int, cols: int, k: int, measures: np.ndarray, tol: float) -> DistrictProblem:
    xy = np.array([(c, r) for r in range(rows) for c in range(cols)], dtype=float)
    nbrs = []
    for r in range(rows):
        for c in range(cols):
            nbrs.append([rr * cols + cc for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                         if 0 <= rr < rows and 0 <= cc < cols])
    indptr = np.cumsum([0] + [len(n) for n in nbrs])
    indices = np.array([v for n in nbrs for v in n])
    return DistrictProblem(xy=xy, indptr=indptr, indices=indices, measures=measures, tolerance=np.full(
        measures.shape[1], tol), k=k)


def connected(p: DistrictProblem, assign: np.ndarray, t: int) -> bool:
    """The test's own BFS: the units of territory t form one connected piece."""
    units = set(np.flatnonzero(assign == t).tolist())
    if not units:
        return False
    start = next(iter(units))
    seen, q = {start}, deque([start])
    while q:
        u = q.popleft()
        for v in p.indices[p.indptr[u]:p.indptr[u + 1]].tolist():
            if v in units and v not in seen:
                seen.add(v)
                q.append(v)
    return seen == units


def within(p: DistrictProblem, assign: np.ndarray) -> bool:
    load = np.zeros((p.k, p.measures.shape[1]))
    np.add.at(load, assign, p.measures)
    target = p.measures.sum(0) / p.k
    return bool((np.abs(load - target) <= p.tolerance * target + 1e-9).all())


HEUR = DistrictOptions(time_limit_s=2.0, exact_max_units=0)


def test_delaunay_plan_is_contiguous_and_balanced() -> None:
    p = delaunay_problem(400, 8, 0.05, seed=3)
    plan = solve_districts(p, HEUR)
    assert all(connected(p, plan.assign, t) for t in range(p.k))
    assert within(p, plan.assign) and plan.within.all() and plan.contiguous
    assert plan.status == "feasible" and plan.message.startswith("balanced")
    assert plan.bound is not None and 0 < plan.bound <= plan.dispersion
    assert [plan.assign[c] for c in plan.centres] == list(range(p.k))


def test_locked_units_are_held() -> None:
    base = delaunay_problem(300, 6, 0.05, seed=4)
    locked = np.full(300, -1)
    corners = [np.argmin(base.xy @ d) for d in (np.array([1, 1]), np.array([-1, -1]), np.array([1, -1]))]
    for t, u in enumerate(corners):
        locked[u] = t
    p = delaunay_problem(300, 6, 0.05, seed=4, locked=locked)
    plan = solve_districts(p, HEUR)
    assert all(plan.assign[u] == t for t, u in enumerate(corners))
    assert all(connected(p, plan.assign, t) for t in range(p.k)) and within(p, plan.assign)


def test_same_seed_same_plan() -> None:
    p = delaunay_problem(120, 4, 0.05, seed=5)
    opts = DistrictOptions(time_limit_s=30.0, seed=7, exact_max_units=0)
    a, b = solve_districts(p, opts), solve_districts(p, opts)
    assert a.seconds < 0.8 * opts.time_limit_s  # stopped by itself: the clock decided nothing
    assert np.array_equal(a.assign, b.assign) and a.dispersion == b.dispersion


def test_realignment_keep_moves_fewer() -> None:
    p0 = delaunay_problem(300, 5, 0.05, seed=6)
    strips = np.minimum((p0.xy[:, 0] / 20).astype(int), 4)  # today's plan: vertical strips, unbalanced
    p = delaunay_problem(300, 5, 0.05, seed=6, current=strips)
    scratch = solve_districts(p, DistrictOptions(time_limit_s=2.0, keep=0.0, exact_max_units=0))
    kept = solve_districts(p, DistrictOptions(time_limit_s=2.0, keep=20.0, exact_max_units=0))
    assert kept.moves < scratch.moves
    assert kept.within.all() and kept.contiguous
    # today's plan already balanced and contiguous: keeping it moves nothing
    p2 = delaunay_problem(300, 5, 0.05, seed=6, current=kept.assign)
    again = solve_districts(p2, DistrictOptions(time_limit_s=2.0, keep=20.0, exact_max_units=0))
    assert again.moves == 0 and again.status == "feasible"
    curve = realignment_curve(p, DistrictOptions(time_limit_s=1.0, exact_max_units=0), keeps=(20.0, 0.0))
    assert len(curve) == 2 and curve[0].moves <= curve[1].moves


def brute_force(p: DistrictProblem) -> float:
    U, k = p.n, p.k
    D = np.hypot(*(p.xy[:, None, :] - p.xy[None, :, :]).transpose(2, 0, 1))
    w = p.measures[:, 0]
    allA = np.array(list(itertools.product(range(k), repeat=U - 1)), dtype=np.int64)
    allA = np.hstack((np.zeros((len(allA), 1), dtype=np.int64), allA))  # unit 0 in territory 0 (labels free)
    target = p.measures.sum(0) / k
    ok = np.ones(len(allA), dtype=bool)
    for t in range(k):
        load = (allA == t).astype(float) @ p.measures
        ok &= (np.abs(load - target) <= p.tolerance * target + 1e-9).all(1)
    best = np.inf
    for a in allA[ok]:
        if not all(connected(p, a, t) for t in range(k)):
            continue
        disp = sum(min(float(w[a == t] @ D[np.ix_(a == t, [v])][:, 0]) for v in np.flatnonzero(a == t))
                   for t in range(k))
        best = min(best, disp)
    return best


def test_tiny_grid_exact_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    measures = np.stack([rng.integers(1, 10, 12), rng.integers(1, 10, 12)], 1).astype(float)
    p = grid_problem(3, 4, 3, measures, tol=0.25)
    plan = solve_districts(p, DistrictOptions(time_limit_s=5.0))
    best = brute_force(p)
    assert np.isfinite(best)
    assert plan.status == "optimal" and plan.solver in ("cp-sat", "heuristic")
    assert plan.dispersion == pytest.approx(best, rel=1e-6)
    assert plan.bound is not None and plan.bound <= best + 1e-6


def test_infeasible_tolerance_is_partial() -> None:
    m = np.ones((12, 1))
    m[5, 0] = 16.5  # 16.5 of 27.5: 60 % of the measure in one unit, k = 3
    p = grid_problem(3, 4, 3, m, tol=0.05)
    plan = solve_districts(p, DistrictOptions(time_limit_s=3.0))
    assert plan.status == "partial" and plan.message.startswith("NOT BALANCED")
    assert "measure 0" in plan.message and not plan.within[0]
    assert is_contiguous(p.indptr, p.indices, plan.assign, 3) == plan.contiguous


def test_time_limit_respected() -> None:
    p = delaunay_problem(3000, 30, 0.03, seed=8)
    t = time.perf_counter()
    plan = solve_districts(p, DistrictOptions(time_limit_s=1.5))
    assert time.perf_counter() - t <= 1.5 * 1.15
    assert plan.seconds <= 1.5 * 1.15
    assert plan.contiguous == all(connected(p, plan.assign, t) for t in range(p.k))


def test_is_contiguous_catches_split_territory() -> None:
    p = grid_problem(1, 4, 2, np.ones((4, 1)), tol=0.5)
    assert is_contiguous(p.indptr, p.indices, np.array([0, 0, 1, 1]), 2)
    assert not is_contiguous(p.indptr, p.indices, np.array([0, 1, 0, 1]), 2)
    assert not is_contiguous(p.indptr, p.indices, np.array([0, 0, 0, 0]), 2)  # territory 1 empty


def _office_problem(hubs: bool) -> DistrictProblem:
    """Units on a 21 x 21 grid (km) around one office at the centre; like a team whose reps all drive out
    of one office: workload grows with the distance from it (the round trip), potential is dearest near it
    (the city): the two pull apart, which wedges from the office reconcile."""
    rows = cols = 21
    xy = np.array([(c - 10, r - 10) for r in range(rows) for c in range(cols)], dtype=float) * 5.0
    dist = np.hypot(xy[:, 0], xy[:, 1])
    measures = np.stack([1.0 + dist / 10.0, 2.0 * np.exp(-dist / 25.0) + 0.2], 1)
    base = grid_problem(rows, cols, 6, measures, 0.05)
    return DistrictProblem(xy=xy, indptr=base.indptr, indices=base.indices, measures=measures,
                           tolerance=np.array([0.05, 0.10]), k=6,
                           hubs=np.zeros((1, 2)) if hubs else None)


def test_wedges_around_the_office_start_a_balanced_plan():
    from planner.solvers.territories.contiguous_search import sectors

    p = _office_problem(hubs=True)
    plan = solve_districts(p, DistrictOptions(time_limit_s=8.0, seed=0))
    assert plan.contiguous and all(connected(p, plan.assign, t) for t in range(p.k))
    loads = np.array([p.measures[plan.assign == t].sum(0) for t in range(p.k)])
    rel = loads / loads.mean(0) - 1
    assert np.abs(rel[:, 0]).max() <= 0.05 + 1e-9 and np.abs(rel[:, 1]).max() <= 0.10 + 1e-9, rel
    assert plan.within.all()
    # each wedge reaches the office's neighbourhood (a blob far out would not)
    near = np.hypot(p.xy[:, 0], p.xy[:, 1]) <= 15.0
    assert all(near[plan.assign == t].any() for t in range(p.k))
    # the wedges themselves: every territory gets units, and equal shares of the combined load
    d_assign = np.array(sectors(_search_data(p), p.xy, np.zeros((1, 2))))
    assert set(d_assign.tolist()) == set(range(p.k))
    comb = (p.measures / p.measures.sum(0)).sum(1)
    share = np.array([comb[d_assign == t].sum() for t in range(p.k)]) / comb.sum()
    assert np.abs(share - 1 / p.k).max() < 0.02


def _search_data(p: DistrictProblem):
    from planner.solvers.territories.contiguous import DistrictOptions as O, _data

    return _data(p, O(), 0.0, 1.0)


def test_bad_hubs_are_named():
    from planner.errors import InputError

    p = _office_problem(hubs=False)
    with pytest.raises(InputError, match="hubs"):
        DistrictProblem(xy=p.xy, indptr=p.indptr, indices=p.indices, measures=p.measures, tolerance=p.tolerance,
                        k=p.k, hubs=np.array([[np.nan, 0.0]]))
