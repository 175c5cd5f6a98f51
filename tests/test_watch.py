"""A long CP-SAT search stops when the progress callback raises (Cancel in the apps)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from planner.solvers.expansion import cp_solver
from planner.solvers.watch import run_watched


class Stop(BaseException):
    pass


def _hard_model():
    """Maximum independent set on a random graph: CP-SAT cannot prove it within seconds."""
    from ortools.sat.python import cp_model

    rng = np.random.default_rng(0)
    n = 400
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{i}") for i in range(n)]
    for i, j in np.argwhere(np.triu(rng.random((n, n)) < 0.04, 1)).tolist():
        m.add_bool_or([x[i].Not(), x[j].Not()])
    m.maximize(sum(x))
    return m


def test_a_raising_progress_stops_the_search_and_reaches_the_caller():
    m = _hard_model()
    s = cp_solver(30.0, seed=0, workers=1)
    seen: list[tuple[float | None, str]] = []
    t0 = time.perf_counter()

    def progress(frac, msg):
        seen.append((frac, msg))
        if time.perf_counter() - t0 > 0.6:
            raise Stop

    with pytest.raises(Stop):
        run_watched(lambda: s.solve(m), s.stop_search, progress, label="CP-SAT", limit_s=30.0)
    assert time.perf_counter() - t0 < 5.0  # not the 30 s limit
    assert seen and all(f is None and msg.startswith("CP-SAT (") for f, msg in seen)


def test_a_quiet_progress_lets_the_search_finish_and_moves_the_fraction():
    m = _hard_model()
    s = cp_solver(1.0, seed=0, workers=1)
    seen: list[float | None] = []
    st = run_watched(lambda: s.solve(m), s.stop_search, lambda f, _m: seen.append(f), label="x", limit_s=1.0,
                     lo=0.2, hi=0.4, every_s=0.1)
    from ortools.sat.python import cp_model

    assert st in (cp_model.FEASIBLE, cp_model.OPTIMAL)
    assert seen and all(0.2 <= f <= 0.4 for f in seen) and seen == sorted(seen)


def test_cancel_reaches_the_exact_contiguous_search():
    """The territories app's Cancel during CP-SAT on a small unit graph: the solve stops at once."""
    from test_contiguous import delaunay_problem

    from planner.solvers.territories.contiguous import DistrictOptions, solve_districts

    p = delaunay_problem(120, 4, 0.05, seed=3)
    t0 = time.perf_counter()
    reached: list[float] = []

    def progress(_f, msg):
        if msg.startswith("CP-SAT ("):
            reached.append(time.perf_counter() - t0)
            raise Stop

    with pytest.raises(Stop):
        solve_districts(p, DistrictOptions(time_limit_s=60.0, seed=0), progress=progress)
    assert reached and time.perf_counter() - t0 < reached[0] + 3.0  # stopped within seconds, not at 54 s
