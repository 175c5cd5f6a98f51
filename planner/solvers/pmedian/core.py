"""The p-median problem and the machinery its two solvers share.

:class:`PMedianProblem` (a cost matrix, weights, p, locked/excluded
candidates, optional capacity/demand/min_load) and :class:`PMedianResult`;
the OR-Library readers (:func:`read_orlib_pmed`, :func:`read_orlib_cpmp`);
and the building blocks used by both :func:`planner.pmedian.solve_pmedian`
(uncapacitated) and :func:`planner.cpmp.solve_cpmp` (capacitated): the
clock/progress helper, closest-open lookup, greedy add, the vectorised swap
search, the SCIP-through-OR-Tools MIP call and the result builder.

Import the public names from :mod:`planner.pmedian`; this module is its lower
half (no solver entry points here).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.plans import ProgressFn, SolveReport, no_progress

# --------------------------------------------------------------------------- problem / result


def _index_tuple(name: str, values: Any, n: int) -> tuple[int, ...]:
    if values is None:
        return ()
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values).ravel()
    if arr.size == 0:
        return ()
    if arr.dtype == bool:
        if arr.size != n:
            raise ValueError(f"{name}: a boolean mask must have length n_candidates = {n}, got {arr.size}")
        arr = np.flatnonzero(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr.astype(float))) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: candidate indices must be integers")
        arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name}: candidate index out of range 0..{n - 1}")
    return tuple(int(v) for v in np.unique(arr))


def _vector(name: str, values: Any, size: int, what: str, *, allow_scalar: bool = True) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 and allow_scalar:
        arr = np.full(size, float(arr))
    if arr.shape != (size,):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({size},) = ({what},)")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0 (found {arr.min():g})")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class PMedianProblem:
    """A (capacitated) p-median instance on a cost matrix.

    - ``cost``: n_clients x n_candidates, finite, >= 0 (e.g. travel minutes).
    - ``weight``: n_clients, >= 0 (visits per period, ...); ``None`` = all 1.
      The objective is ``sum_i weight[i] * cost[i, assign[i]]``.
    - ``p``: number of candidates to open (1 <= p <= allowed candidates).
    - ``locked``: candidate indices that must be open; ``excluded``: may not open.
    - ``capacity`` (n_candidates or a scalar, in units of demand), ``demand``
      (n_clients, default ``weight``) and ``min_load`` (n_candidates or scalar:
      the least demand an open candidate must serve) are used by
      :func:`solve_cpmp` only.

    Invalid settings raise ``ValueError`` naming the field.
    """

    cost: np.ndarray
    weight: np.ndarray | None
    p: int
    locked: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()
    capacity: np.ndarray | float | None = None
    demand: np.ndarray | None = None
    min_load: np.ndarray | float | None = None

    def __post_init__(self) -> None:
        cost = np.asarray(self.cost, dtype=np.float64)
        if cost.ndim != 2 or cost.shape[0] < 1 or cost.shape[1] < 1:
            raise ValueError(f"cost must be a non-empty 2-D array (n_clients x n_candidates), got shape {cost.shape}")
        if np.isnan(cost).any():
            raise ValueError("cost contains NaN")
        if not np.isfinite(cost).all():
            raise ValueError("cost must be finite (use a large number for unreachable pairs)")
        if (cost < 0).any():
            raise ValueError(f"cost must be >= 0 (found {cost.min():g})")
        cost = cost.copy()
        cost.setflags(write=False)
        n, m = cost.shape
        object.__setattr__(self, "cost", cost)
        weight = np.ones(n) if self.weight is None else self.weight
        object.__setattr__(self, "weight", _vector("weight", weight, n, "n_clients", allow_scalar=False))

        if isinstance(self.p, bool) or not isinstance(self.p, (int, np.integer)):
            if isinstance(self.p, float) and float(self.p).is_integer():
                object.__setattr__(self, "p", int(self.p))
            else:
                raise ValueError(f"p must be an integer, got {self.p!r}")
        object.__setattr__(self, "p", int(self.p))
        locked = _index_tuple("locked", self.locked, m)
        excluded = _index_tuple("excluded", self.excluded, m)
        object.__setattr__(self, "locked", locked)
        object.__setattr__(self, "excluded", excluded)
        both = sorted(set(locked) & set(excluded))
        if both:
            raise ValueError(f"locked and excluded share candidates {both[:10]}")
        if self.p < 1:
            raise ValueError(f"p must be >= 1, got {self.p}")
        n_allowed = m - len(excluded)
        if self.p > n_allowed:
            raise ValueError(
                f"p = {self.p} exceeds the number of allowed candidates ({n_allowed} = {m} candidates - {len(excluded)} excluded)"
            )
        if len(locked) > self.p:
            raise ValueError(f"locked has {len(locked)} candidates, more than p = {self.p}")

        if self.capacity is not None:
            object.__setattr__(self, "capacity", _vector("capacity", self.capacity, m, "n_candidates"))
        demand = self.weight if self.demand is None else self.demand
        object.__setattr__(self, "demand", _vector("demand", demand, n, "n_clients", allow_scalar=False))
        if self.min_load is not None:
            ml = _vector("min_load", self.min_load, m, "n_candidates")
            if self.capacity is not None:
                bad = np.flatnonzero(ml > self.capacity + 1e-9)
                if bad.size:
                    j = int(bad[0])
                    raise ValueError(f"min_load[{j}] = {ml[j]:g} exceeds capacity[{j}] = {self.capacity[j]:g}")
            object.__setattr__(self, "min_load", ml)

    @property
    def n_clients(self) -> int:
        return self.cost.shape[0]

    @property
    def n_candidates(self) -> int:
        return self.cost.shape[1]

    def allowed(self) -> np.ndarray:
        """Indices of the candidates that may open (not excluded), ascending."""
        mask = np.ones(self.n_candidates, dtype=bool)
        mask[list(self.excluded)] = False
        return np.flatnonzero(mask)

    def evaluate(self, open_: Any, assign: Any | None = None) -> float:
        """``sum weight * cost`` of a plan (closest open candidate when ``assign`` is None)."""
        open_ = np.asarray(open_, dtype=np.int64)
        if assign is None:
            assign = open_[np.argmin(self.cost[:, open_], axis=1)]
        assign = np.asarray(assign, dtype=np.int64)
        return float(np.dot(self.weight, self.cost[np.arange(self.n_clients), assign]))


@dataclass(frozen=True, eq=False)
class PMedianResult:
    """A solved plan.

    - ``open``: sorted indices of the open candidates (int64 array).
    - ``assign``: for each client the index of its candidate (-1 if none).
    - ``objective``: ``sum weight * cost`` of ``assign`` (nan without a plan).
    - ``report``: :class:`planner.plans.SolveReport` (status, objective, bound, gap, seconds, ...).
    - ``stats``: numbers from the search (heuristic value, Lagrangian bound, reduction sizes, ...).
    """

    open: np.ndarray
    assign: np.ndarray
    objective: float
    report: SolveReport
    stats: dict = field(default_factory=dict)

    def loads(self, problem: PMedianProblem) -> np.ndarray:
        """Demand served by each candidate (n_candidates)."""
        ok = self.assign >= 0
        return np.bincount(self.assign[ok], weights=problem.demand[ok], minlength=problem.n_candidates)


# --------------------------------------------------------------------------- readers


def read_orlib_pmed(path: str | Path) -> tuple[np.ndarray, int]:
    """Read an OR-Library p-median file (``pmed1.txt`` ...): returns ``(cost, p)``.

    Line 1 is ``n m p``; then ``m`` lines ``i j cost`` (1-based vertices) of an
    undirected graph. A repeated edge takes the cost of its LAST occurrence (in
    either direction), the convention under which the published optima hold.
    ``cost`` is the n x n all-pairs shortest-path matrix (Dijkstra, float64
    holding integers for integer edge costs); every vertex is both a client
    and a candidate.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    tokens = Path(path).read_text().split()
    if len(tokens) < 3:
        raise ValueError(f"{path}: expected 'n m p' on the first line")
    n, m, p = (int(t) for t in tokens[:3])
    vals = np.asarray(tokens[3 : 3 + 3 * m], dtype=np.float64)
    if vals.size != 3 * m:
        raise ValueError(f"{path}: expected {m} edges, found {vals.size // 3}")
    i = vals[0::3].astype(np.int64) - 1
    j = vals[1::3].astype(np.int64) - 1
    c = vals[2::3]
    if m and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise ValueError(f"{path}: an edge names a vertex outside 1..{n}")
    if (c < 0).any():
        raise ValueError(f"{path}: negative edge cost")
    a, b = np.minimum(i, j), np.maximum(i, j)
    key = a * n + b
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    last = key.size - 1 - first_in_reversed  # index of each edge's last occurrence
    a, b, c = a[last], b[last], c[last]
    keep = a != b
    a, b, c = a[keep], b[keep], c[keep]
    zero = c == 0  # csgraph treats stored zeros as edges only if kept explicitly; use a tiny cost
    c = np.where(zero, 1e-300, c)
    g = csr_matrix((c, (a, b)), shape=(n, n))
    dist = shortest_path(g, method="D", directed=False)
    if not np.all(np.isfinite(dist)):
        raise ValueError(f"{path}: the graph is not connected")
    if zero.any():
        dist = np.where(dist < 1e-200, 0.0, dist)
    return dist, p


def read_orlib_cpmp(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Read an Osman & Christofides capacitated p-median file (OR-Library ``pmedcap1``).

    Line 1 ``problem best_known``; line 2 ``n p capacity``; then ``n`` lines
    ``id x y demand``. Returns ``(cost, demand, capacity, p)``: ``cost`` the
    n x n Euclidean distances truncated to integers (the convention of the
    published values), ``capacity`` an array of n equal capacities.
    """
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if len(lines) < 3 or len(lines[1]) < 3:
        raise ValueError(f"{path}: expected 'problem best', 'n p capacity' and n vertex lines")
    n, p = int(lines[1][0]), int(lines[1][1])
    cap = float(lines[1][2])
    rows = np.asarray([[float(v) for v in ln[:4]] for ln in lines[2 : 2 + n]])
    if rows.shape != (n, 4):
        raise ValueError(f"{path}: expected {n} lines 'id x y demand'")
    xy = rows[:, 1:3]
    diff = xy[:, None, :] - xy[None, :, :]
    cost = np.floor(np.sqrt((diff**2).sum(-1)) + 1e-9)
    return cost, rows[:, 3].copy(), np.full(n, cap), p


# --------------------------------------------------------------------------- helpers


class _Clock:
    def __init__(self, time_limit_s: float, progress: ProgressFn | None):
        self.t0 = time.perf_counter()
        self.limit = max(0.0, float(time_limit_s))
        self.deadline = self.t0 + self.limit
        self.progress = progress or no_progress

    def margin(self) -> float:
        """Time kept back from the MIP solver: SCIP stops up to ~0.5 s after its limit on large models."""
        return 0.05 + min(1.0, 0.02 * self.limit)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def say(self, message: str, fraction: float | None = None) -> None:
        if fraction is None and self.limit > 0:
            fraction = min(1.0, self.elapsed() / self.limit)
        try:
            self.progress(fraction, message)
        except Exception:  # a broken progress display must not break the solve
            pass


def _closest(W: np.ndarray, open_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, column index) of the closest open column for each row."""
    sub = W[:, open_]
    k = np.argmin(sub, axis=1)
    return sub[np.arange(W.shape[0]), k], open_[k]


def _is_integral(W: np.ndarray) -> bool:
    return bool(np.all(W == np.round(W)) and np.abs(W).sum() < 2**50)


def _greedy(W: np.ndarray, p: int, locked: np.ndarray, rng: np.random.Generator | None = None,
            rcl: int = 1) -> np.ndarray:
    """Greedy add: start from the locked columns, add the column saving most until p.

    With ``rng`` and ``rcl > 1`` each step picks at random among the ``rcl`` best (GRASP)."""
    n, m = W.shape
    is_open = np.zeros(m, dtype=bool)
    is_open[locked] = True
    d1 = W[:, locked].min(axis=1) if locked.size else None
    while is_open.sum() < p:
        if d1 is None:
            score = -W.sum(axis=0)
        else:
            score = np.maximum(d1[:, None] - W, 0.0).sum(axis=0)
        score[is_open] = -np.inf
        if rng is not None and rcl > 1:
            cand = np.argsort(-score, kind="stable")[: min(rcl, m - int(is_open.sum()))]
            j = int(rng.choice(cand))
        else:
            j = int(np.argmax(score))
        is_open[j] = True
        d1 = W[:, j].copy() if d1 is None else np.minimum(d1, W[:, j])
    return np.flatnonzero(is_open)


def _swap_search(W: np.ndarray, open_: np.ndarray, locked_mask: np.ndarray, clock: _Clock,
                 stop_at: float = -np.inf, max_iter: int = 100000) -> tuple[np.ndarray, float]:
    """Vertex substitution with best-improvement swaps (Whitaker's fast interchange).

    For every (remove r, insert j) the change in cost is
    ``loss[r] - gain[j] - extra[r, j]`` where, with d1/d2 the closest and second
    closest open distances of each client and c1 its closest open column,
    ``gain[j] = sum_i max(0, d1_i - W_ij)``, ``loss[r] = sum_{c1_i = r} (d2_i - d1_i)``
    and ``extra[r, j] = sum_{c1_i = r} max(0, d2_i - max(W_ij, d1_i))``.
    Everything is evaluated at once with numpy (O(n m) per swap).
    """
    n, m = W.shape
    open_ = np.array(sorted(open_), dtype=np.int64)
    p = open_.size
    rows = np.arange(n)
    if p >= m:
        d1, _ = _closest(W, open_)
        return open_, float(d1.sum())
    if p == 1:
        if locked_mask[open_[0]]:
            return open_, float(W[:, open_[0]].sum())
        sums = W.sum(axis=0)
        j = int(np.argmin(sums))
        return np.array([j]), float(sums[j])
    tol = 1e-9 * max(1.0, float(W.max()))
    locked_pos = locked_mask[open_]
    value = math.inf
    for _ in range(max_iter):
        sub = W[:, open_]
        two = np.argpartition(sub, 1, axis=1)[:, :2]
        a, b = sub[rows, two[:, 0]], sub[rows, two[:, 1]]
        first = np.where(a <= b, two[:, 0], two[:, 1])
        d1 = np.minimum(a, b)
        d2 = np.maximum(a, b)
        value = float(d1.sum())
        if value <= stop_at or clock.left() <= 0:
            break
        gain = np.maximum(d1[:, None] - W, 0.0).sum(axis=0)
        loss = np.bincount(first, weights=d2 - d1, minlength=p)
        A = np.maximum(d2[:, None] - np.maximum(W, d1[:, None]), 0.0)
        order = np.argsort(first, kind="stable")
        counts = np.bincount(first, minlength=p)
        nonempty = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[nonempty]
        extra = np.zeros((p, m))
        extra[nonempty] = np.add.reduceat(A[order], starts, axis=0)
        delta = loss[:, None] - gain[None, :] - extra
        delta[:, open_] = np.inf
        delta[locked_pos, :] = np.inf
        k = int(np.argmin(delta))
        r, j = divmod(k, m)
        if not delta[r, j] < -tol:
            break
        open_[r] = j
        order2 = np.argsort(open_, kind="stable")
        open_, locked_pos = open_[order2], locked_pos[order2]
    return np.array(sorted(open_), dtype=np.int64), value


# --------------------------------------------------------------------------- MIP through OR-Tools


_LAST_REDUCED_COSTS: list = [None]


def _mip_solve(*, lb, ub, obj, integer, row_lb, row_ub, A, hint: dict[int, float] | None,
               time_limit: float, seed: int, params: str = "", obj_offset: float = 0.0,
               solver_name: str = "scip", want_reduced_costs: bool = False):
    """Solve ``min obj x + offset, row_lb <= A x <= row_ub, lb <= x <= ub`` with SCIP via OR-Tools.

    Returns (status_name, x or None, objective or None, bound or None, seconds)."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(
        np.asarray(lb, dtype=np.float64), np.asarray(ub, dtype=np.float64), np.asarray(obj, dtype=np.float64),
        np.asarray(row_lb, dtype=np.float64), np.asarray(row_ub, dtype=np.float64), A.tocsr().astype(np.float64),
    )
    for v in np.flatnonzero(integer):
        model.set_var_integrality(int(v), True)
    model.set_objective_offset(float(obj_offset))
    if hint:
        for v, val in hint.items():
            model.add_hint(int(v), float(val))
    solver = mbh.ModelSolverHelper(solver_name)
    solver.set_time_limit_in_seconds(max(0.01, float(time_limit)))
    if solver_name == "scip":
        params = f"randomization/randomseedshift = {int(seed) % 2**31}\n" + params
    if params:
        solver.set_solver_specific_parameters(params)
    _LAST_REDUCED_COSTS[0] = None
    t = time.perf_counter()
    solver.solve(model)
    seconds = time.perf_counter() - t
    status = solver.status()
    name = status.name if hasattr(status, "name") else str(status)
    x = obj_val = bound = None
    if solver.has_solution():
        x = np.asarray(solver.variable_values())
        obj_val = float(solver.objective_value())
        if want_reduced_costs:
            try:
                _LAST_REDUCED_COSTS[0] = np.asarray(solver.reduced_costs())
            except Exception:  # pragma: no cover
                _LAST_REDUCED_COSTS[0] = None
    try:
        bound = float(solver.best_objective_bound())
        if not math.isfinite(bound):
            bound = None
    except Exception:
        bound = None
    return name, x, obj_val, bound, seconds


# --------------------------------------------------------------------------- results


def _result(problem: PMedianProblem, open_global: np.ndarray | None, status: str, bound: float | None,
            clock: _Clock, solver: str, stats: dict, message: str = "",
            violated: tuple[str, ...] = (), assign: np.ndarray | None = None) -> PMedianResult:
    n = problem.n_clients
    if open_global is None:
        open_arr = np.zeros(0, dtype=np.int64)
        assign = np.full(n, -1, dtype=np.int64)
        objective = math.nan
    else:
        open_arr = np.array(sorted(int(v) for v in open_global), dtype=np.int64)
        if assign is None:
            assign = open_arr[np.argmin(problem.cost[:, open_arr], axis=1)]
        assign = np.asarray(assign, dtype=np.int64)
        objective = problem.evaluate(open_arr, assign)
    report = SolveReport(
        status=status,  # type: ignore[arg-type]
        objective=None if open_global is None else objective,
        bound=bound,
        seconds=clock.elapsed(),
        solver=solver,
        violated=violated,
        message=message,
    )
    open_arr.setflags(write=False)
    assign.setflags(write=False)
    return PMedianResult(open=open_arr, assign=assign, objective=objective, report=report, stats=stats)


def _proven(lb: float, ub: float, integral: bool, gap_tolerance: float) -> bool:
    if not (math.isfinite(lb) and math.isfinite(ub)):
        return False
    if integral and math.ceil(lb - 1e-6 * max(1.0, abs(lb))) >= ub - 1e-6:
        return True
    return ub - lb <= max(gap_tolerance, 1e-9) * max(1.0, abs(ub))

