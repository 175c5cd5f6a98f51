"""Base location on a cost matrix: the p-median and the capacitated p-median.

Matrix-level solvers (no pandas, no geometry): rows are clients (accounts,
towns), columns are candidate bases, ``cost[i, j]`` is e.g. the travel minutes
from base ``j`` to client ``i`` and ``weight[i]`` how often client ``i`` is
visited. A GeoDataFrame adapter builds a :class:`PMedianProblem` and reads a
:class:`PMedianResult`.

- :func:`solve_pmedian`: uncapacitated p-median. Greedy + fast vertex
  substitution (Whitaker/Resende-Werneck swap evaluation, vectorised) for the
  upper bound; Lagrangian relaxation of the assignment constraints
  (subgradient) for the lower bound, Lagrangian heuristics and reduction
  (candidates fixed open/closed, each client's service radius capped); then an
  exact MIP on the reduced problem (Elloumi's radius formulation, SCIP via
  OR-Tools) warm-started with the best plan.
- :func:`solve_cpmp`: capacitated p-median with single-source assignment:
  classic x/y MIP with disaggregated linking, an aggregate-capacity cut and a
  heuristic start (SCIP via OR-Tools).
- :func:`read_orlib_pmed`, :func:`read_orlib_cpmp`: OR-Library instance readers.

Both solvers are deterministic for a given ``seed`` (single-threaded SCIP
with a fixed random seed) unless the time limit cuts the search.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planner.plans import ProgressFn, SolveReport, no_progress

__all__ = [
    "PMedianProblem",
    "PMedianResult",
    "solve_pmedian",
    "solve_cpmp",
    "read_orlib_pmed",
    "read_orlib_cpmp",
]


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


def _select_p(rho: np.ndarray, free: np.ndarray, k: int) -> np.ndarray:
    """Indices (into rho) of the k smallest values among the ``free`` columns, sorted by rho."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    vals = rho[free]
    if k < vals.size:
        part = np.argpartition(vals, k - 1)[:k]
    else:
        part = np.arange(vals.size)
    part = part[np.argsort(vals[part], kind="stable")]
    return free[part]


class _Lagrangian:
    """Lagrangian relaxation of the assignment constraints sum_j x_ij >= 1 (multipliers lam >= 0).

    L(lam) = sum_i lam_i + sum_{j open} rho_j,  rho_j = sum_i min(0, W_ij - lam_i),
    with the open set = locked columns + the (p - |locked|) free columns of smallest rho.
    """

    def __init__(self, W: np.ndarray, p: int, locked: np.ndarray):
        self.W = W
        self.n, self.m = W.shape
        self.p = p
        self.locked = locked
        mask = np.ones(self.m, dtype=bool)
        mask[locked] = False
        self.free = np.flatnonzero(mask)
        self.k = p - locked.size

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        R = self.W - lam[:, None]
        np.minimum(R, 0.0, out=R)
        rho = R.sum(axis=0)
        sel = _select_p(rho, self.free, self.k)
        open_ = np.concatenate((self.locked, sel))
        value = float(lam.sum() + rho[open_].sum())
        return value, rho, sel

    def subgradient(self, lam: np.ndarray, open_: np.ndarray) -> np.ndarray:
        return 1.0 - (self.W[:, open_] < lam[:, None]).sum(axis=1)


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


# --------------------------------------------------------------------------- uncapacitated


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


_MIP_MAX_NONZEROS = 200_000


def _iterated_search(W, open_, value, locked_mask, clock, rng, stats, stop_at=-math.inf, max_rounds=100000):
    """Iterated local search: replace 1-3 random open columns by random closed ones, vertex
    substitution, keep if better; until the time limit (or max_rounds, or value <= stop_at)."""
    m = W.shape[1]
    best, best_val = np.sort(open_), value
    rounds = 0
    while rounds < max_rounds and clock.left() > 0 and best_val > stop_at + 1e-9:
        rounds += 1
        cur = best.copy()
        movable = np.flatnonzero(~locked_mask[cur])
        closed = np.setdiff1d(np.arange(m), cur)
        if movable.size == 0 or closed.size == 0:
            break
        k = int(rng.integers(1, min(3, movable.size, closed.size) + 1))
        cur[rng.choice(movable, size=k, replace=False)] = rng.choice(closed, size=k, replace=False)
        cand, val = _swap_search(W, cur, locked_mask, clock)
        if val < best_val - 1e-9 * max(1.0, abs(best_val)) and clock.left() > -1:
            best, best_val = np.sort(cand), val
    stats["ils_rounds"] = rounds
    stats["ils_value"] = best_val
    return best, best_val


def solve_pmedian(problem: PMedianProblem, *, time_limit_s: float = 60.0, seed: int = 0,
                  progress: ProgressFn | None = None, gap_tolerance: float = 0.0) -> PMedianResult:
    """Uncapacitated p-median (``capacity``, ``demand`` and ``min_load`` are ignored).

    Formulation::

        min  sum_i sum_j weight_i * cost_ij * x_ij
        s.t. sum_j x_ij = 1            (each client served once)
             x_ij <= y_j               (only by an open candidate)
             sum_j y_j = p,  y_j = 1 for locked j,  y_j = 0 for excluded j
             x, y binary

    Each client is assigned to its closest open candidate. Method: greedy +
    vertex substitution (upper bound), Lagrangian relaxation of
    ``sum_j x_ij = 1`` by subgradient (lower bound, Lagrangian heuristic, and
    reduction: candidates fixed open/closed and client radii capped by
    Lagrangian reduced costs), then SCIP on the reduced radius formulation
    (Elloumi 2010) warm-started with the best plan. The search stops as soon as
    the bound proves the plan optimal (with integer costs: ``ceil(bound) >=
    objective``), when the relative gap is at most ``gap_tolerance``, or at
    ``time_limit_s`` (total wall time, heuristics included).

    Status: ``optimal`` (proven), ``feasible`` (stopped by the time limit:
    the report's ``bound`` and ``gap`` say how far from optimal at most).
    There is always a plan: bad settings (p larger than the allowed
    candidates, more locked than p, ...) are rejected earlier by
    :class:`PMedianProblem` with a ``ValueError`` naming the field.
    ``progress(fraction, message)`` is called between stages.
    """
    clock = _Clock(time_limit_s, progress)
    cand = problem.allowed()
    W = np.ascontiguousarray(problem.weight[:, None] * problem.cost[:, cand])
    n, m = W.shape
    p = problem.p
    where = np.full(problem.n_candidates, -1, dtype=np.int64)
    where[cand] = np.arange(m)
    locked = np.sort(where[list(problem.locked)]).astype(np.int64) if problem.locked else np.zeros(0, np.int64)
    locked_mask = np.zeros(m, dtype=bool)
    locked_mask[locked] = True
    integral = _is_integral(W)
    stats: dict[str, Any] = {"n_clients": n, "n_candidates": m, "p": p, "integral_costs": integral}
    solver = "greedy+swap"

    if p >= m or p == locked.size:
        chosen = np.arange(m) if p >= m else locked
        clock.say("nothing to choose: every allowed candidate is open" if p >= m else "all p candidates are locked", 1.0)
        value = float(_closest(W, chosen)[0].sum())
        return _result(problem, cand[chosen], "optimal", value, clock, "direct", stats)

    # 1. upper bound: greedy + vertex substitution
    clock.say("greedy start")
    g = _greedy(W, p, locked)
    stats["greedy"] = float(_closest(W, g)[0].sum())
    clock.say("vertex substitution")
    best_open, ub = _swap_search(W, g, locked_mask, clock)
    stats["heuristic"] = ub
    stats["swap_seconds"] = round(clock.elapsed(), 3)

    # 2. Lagrangian relaxation: lower bound, Lagrangian heuristic, reduction
    clock.say(f"Lagrangian bound (plan {ub:,.6g})")
    lr = _Lagrangian(W, p, locked)
    d1_best = _closest(W, best_open)[0]
    lam = d1_best.copy()
    best_L, best_lam = -math.inf, lam.copy()
    beta, stall, it = 2.0, 0, 0
    lagr_budget = clock.elapsed() + 0.3 * max(0.0, clock.left())
    seen: set[bytes] = set()
    ls_runs = 0
    max_iter = 2000
    while it < max_iter:
        it += 1
        L, rho, sel = lr.evaluate(lam)
        if L > best_L + 1e-12 * max(1.0, abs(L)):
            best_L, best_lam, stall = L, lam.copy(), 0
        else:
            stall += 1
            if stall >= 25:
                beta *= 0.5
                stall = 0
        if _proven(best_L, ub, integral, gap_tolerance) or beta < 1e-5:
            break
        open_ = np.concatenate((locked, sel))
        value = float(W[:, open_].min(axis=1).sum())
        key = np.sort(open_).tobytes()
        if key not in seen and (value < ub or (it % 50 == 0 and ls_runs < 20)):
            seen.add(key)
            if value < ub * (1 + 0.02):
                ls_runs += 1
                cand_open, cand_val = _swap_search(W, open_, locked_mask, clock)
                if cand_val < ub - 1e-9 * max(1.0, abs(ub)):
                    best_open, ub = cand_open, cand_val
                    clock.say(f"Lagrangian heuristic improved the plan to {ub:,.6g}")
                    if _proven(best_L, ub, integral, gap_tolerance):
                        break
        grad = lr.subgradient(lam, open_)
        norm = float(grad @ grad)
        if norm == 0.0:  # the relaxed solution is a plan: L is optimal for this relaxation
            if value < ub:
                best_open, ub = np.sort(open_), value
            break
        lam = np.maximum(lam + beta * max(ub - L, 1e-9 * max(1.0, abs(ub))) / norm * grad, 0.0)
        if clock.elapsed() > lagr_budget:
            break
    stats["lagrangian_bound"] = best_L
    stats["lagrangian_iterations"] = it
    stats["lagrangian_seconds"] = round(clock.elapsed(), 3)
    stats["upper_bound_before_mip"] = ub
    bound = best_L
    if _proven(bound, ub, integral, gap_tolerance):
        if integral:
            bound = max(bound, float(math.ceil(bound - 1e-6 * max(1.0, abs(bound)))))
        clock.say("proven optimal by the Lagrangian bound", 1.0)
        return _result(problem, cand[best_open], "optimal", min(bound, ub), clock, solver + "+lagrangian", stats)

    # 3. reduction by Lagrangian reduced costs (prune only what cannot be in a plan of cost <= ub)
    clock.say(f"reduction (bound {best_L:,.6g}, plan {ub:,.6g})")
    L, rho, sel = lr.evaluate(best_lam)
    thr = ub + 1e-7 * max(1.0, abs(ub))
    in_sel = np.zeros(m, dtype=bool)
    in_sel[sel] = True
    free_out = np.flatnonzero(~in_sel & ~locked_mask)
    last = rho[sel[-1]] if sel.size else math.inf
    first_out = rho[free_out].min() if free_out.size else math.inf
    open_cost = np.full(m, L)  # bound on any plan in which j is open
    open_cost[free_out] = L + rho[free_out] - last
    fixed_closed = open_cost > thr
    fixed_open = locked_mask.copy()
    if free_out.size:
        fixed_open[sel[(L - rho[sel] + first_out) > thr]] = True
    fixed_closed[best_open] = False  # safety against rounding: the plan stays feasible
    F = np.flatnonzero(~fixed_closed)
    # client i served by j (its closest open) in a plan of cost <= ub only if this bound allows it
    serve = open_cost[F][None, :] + np.maximum(W[:, F] - best_lam[:, None], 0.0)
    ok = serve <= thr
    WF = W[:, F]
    R = np.where(ok, WF, -np.inf).max(axis=1)
    fo = np.flatnonzero(fixed_open[F])
    if fo.size:
        R = np.minimum(R, WF[:, fo].min(axis=1))
    R = np.maximum(R, d1_best := _closest(W, best_open)[0])
    stats["fixed_closed"] = int(fixed_closed.sum())
    stats["fixed_open"] = int(fixed_open.sum() - locked.size)

    # 4. radius formulation on the reduced problem
    f = F.size
    posF = np.full(m, -1, dtype=np.int64)
    posF[F] = np.arange(f)
    rows_i, cols_i, vals_i = [], [], []
    row_lb: list[np.ndarray] = []
    zobj: list[np.ndarray] = []
    zhint: list[np.ndarray] = []
    offset = 0.0
    r0, z0 = 1, f  # row 0 is sum y = p; variables 0..f-1 are y
    for i in range(n):
        idx = np.flatnonzero(WF[i] <= R[i])
        levels, inv = np.unique(WF[i, idx], return_inverse=True)
        K = levels.size
        offset += levels[0]
        if K == 1 and idx.size == f:
            continue  # every candidate serves i at the same cost: nothing to model
        rows_i.append(r0 + inv)
        cols_i.append(idx)
        vals_i.append(np.ones(idx.size))
        if K > 1:
            k = np.arange(K - 1)
            rows_i.append(np.concatenate((r0 + k, r0 + k + 1)))
            cols_i.append(np.concatenate((z0 + k, z0 + k)))
            vals_i.append(np.concatenate((np.ones(K - 1), -np.ones(K - 1))))
            zobj.append(np.diff(levels))
            zhint.append((levels[:-1] < d1_best[i] - 1e-12 * max(1.0, d1_best[i])).astype(float))
        lbs = np.zeros(K)
        lbs[0] = 1.0
        row_lb.append(lbs)
        r0 += K
        z0 += K - 1
    from scipy.sparse import coo_matrix

    n_rows, n_vars = r0, z0
    rows = np.concatenate([np.zeros(f, dtype=np.int64)] + rows_i)
    cols = np.concatenate([np.arange(f)] + cols_i)
    vals = np.concatenate([np.ones(f)] + vals_i)
    A = coo_matrix((vals, (rows, cols)), shape=(n_rows, n_vars)).tocsr()
    rlb = np.concatenate([[float(p)]] + row_lb)
    rub = np.full(n_rows, np.inf)
    rub[0] = float(p)
    lb = np.zeros(n_vars)
    lb[:f][fixed_open[F]] = 1.0
    ub_v = np.ones(n_vars)
    obj = np.concatenate([np.zeros(f)] + zobj) if zobj else np.zeros(n_vars)
    # z integral too: z = max(0, 1 - sum y) is 0/1 anyway, and SCIP then knows the objective is integral
    integer = np.ones(n_vars, dtype=bool)
    yh = np.zeros(f)
    yh[posF[best_open]] = 1.0
    hint_vals = np.concatenate([yh] + zhint) if zhint else yh
    hint = dict(enumerate(hint_vals.tolist()))
    stats["mip_candidates"] = int(f)
    stats["mip_variables"] = int(n_vars)
    stats["mip_rows"] = int(n_rows)
    stats["mip_nonzeros"] = int(A.nnz)
    # general-purpose cuts do not pay on this formulation (measured: pmed6 7 s -> 2.5 s without them)
    params = "separating/maxrounds = 0\nseparating/maxroundsroot = 0\n"
    if integral:
        params += "limits/absgap = 0.999\n"
    if gap_tolerance > 0:
        params += f"limits/gap = {gap_tolerance:g}\n"
    if A.nnz > _MIP_MAX_NONZEROS:
        # too large for SCIP's simplex within the time (measured: n = 900, p = 5, 296k nonzeros, root LP
        # unsolved after 60 s); spend the time on iterated local search for the plan instead
        stats["mip_status"] = "skipped: reduced model too large"
        best_open, ub = _iterated_search(W, best_open, ub, locked_mask, clock, rng=np.random.default_rng(seed),
                                         stats=stats, stop_at=bound)
        solver += "+lagrangian+ILS"
        done = _proven(bound, ub, integral, gap_tolerance)
        if integral:
            bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
        return _result(problem, cand[best_open], "optimal" if done else "feasible", min(bound, ub), clock, solver,
                       stats, message="" if done else "time limit reached; the bound gives the largest possible gap")
    left = clock.left() - clock.margin()
    if left <= 0.05:
        return _result(problem, cand[best_open], "feasible", bound, clock, solver + "+lagrangian", stats,
                       message="time limit reached before the exact search")
    clock.say(f"exact search: {f} candidates, {n_vars} variables, {A.nnz} nonzeros")
    status, x, mip_obj, mip_bound, mip_sec = _mip_solve(
        lb=lb, ub=ub_v, obj=obj, integer=integer, row_lb=rlb, row_ub=rub, A=A, hint=hint,
        time_limit=left, seed=seed, params=params, obj_offset=offset)
    stats["mip_status"] = status
    stats["mip_seconds"] = round(mip_sec, 3)
    solver = "greedy+swap+lagrangian+SCIP(radius)"
    if x is not None:
        y_open = F[np.flatnonzero(x[:f] > 0.5)]
        if y_open.size == p:
            val = float(_closest(W, y_open)[0].sum())
            if val < ub - 1e-9 * max(1.0, abs(ub)):
                best_open, ub = np.sort(y_open), val
    if status == "OPTIMAL":
        bound = max(bound, mip_bound if mip_bound is not None else -math.inf, mip_obj if mip_obj is not None else -math.inf)
        bound = min(bound, ub)
    elif status == "INFEASIBLE":
        bound = ub  # nothing in the reduced problem beats ub (it holds the plan itself)
    elif mip_bound is not None:
        bound = max(bound, mip_bound)
    if integral and math.isfinite(bound):
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    bound = min(bound, ub)
    done = status in ("OPTIMAL", "INFEASIBLE") or _proven(bound, ub, integral, gap_tolerance)
    stats["mip_bound"] = mip_bound
    clock.say("done", 1.0)
    return _result(problem, cand[best_open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   message="" if done else "time limit reached; the bound gives the largest possible gap")


# --------------------------------------------------------------------------- capacitated


def _gap_assign(W: np.ndarray, d: np.ndarray, Q: np.ndarray, open_: np.ndarray,
                ml: np.ndarray | None = None) -> np.ndarray | None:
    """Single-source assignment of every client to an open column within capacity (regret greedy
    + shift/swap descent). Returns column per client, or None if the greedy gets stuck."""
    n = W.shape[0]
    sub = W[:, open_]
    cap = Q[open_].astype(np.float64).copy()
    assign = np.full(n, -1, dtype=np.int64)
    todo = np.ones(n, dtype=bool)
    eps = 1e-9 * max(1.0, float(Q.max(initial=1.0)))
    big = float(sub.max(initial=0.0)) * 4 + 1.0
    while todo.any():
        idx = np.flatnonzero(todo)
        fits = d[idx, None] <= cap[None, :] + eps
        costs = np.where(fits, sub[idx], np.inf)
        if not np.isfinite(costs.min(axis=1)).all():
            return None
        if costs.shape[1] >= 2:
            two = np.partition(costs, 1, axis=1)[:, :2]
            regret = np.where(np.isfinite(two[:, 1]), two[:, 1] - two[:, 0], big)
        else:
            regret = np.full(idx.size, big)
        k = int(np.lexsort((-d[idx], -regret))[0])  # largest regret, then largest demand
        i = idx[k]
        j = int(np.argmin(costs[k]))
        assign[i] = j
        cap[j] -= d[i]
        todo[i] = False
    # descent: shift one client, or swap two clients between columns
    load = np.bincount(assign, weights=d, minlength=open_.size)
    Qo = Q[open_]
    rows = np.arange(n)
    for _ in range(50 * n):
        cur = sub[rows, assign]
        room = Qo - load
        gain = cur[:, None] - sub  # saving when moving i to column k
        ok = (d[:, None] <= room[None, :] + eps) & (gain > 1e-9)
        if ml is not None:  # the column left behind must keep its minimum load
            mlo = ml[open_]
            ok &= (load[assign] - d >= mlo[assign] - eps)[:, None]
        if ok.any():
            g = np.where(ok, gain, -np.inf)
            k = int(np.argmax(g))
            i, j = divmod(k, open_.size)
            load[assign[i]] -= d[i]
            load[j] += d[i]
            assign[i] = j
            continue
        # swaps (i in a, k in b): saving sub[i,a]+sub[k,b]-sub[i,b]-sub[k,a]
        best, best_pair = 1e-9, None
        for a in range(open_.size):
            ia = np.flatnonzero(assign == a)
            if ia.size == 0:
                continue
            ib = np.flatnonzero(assign != a)
            if ib.size == 0:
                continue
            b = assign[ib]
            save = cur[ia][:, None] + cur[ib][None, :] - sub[ia][:, b] - sub[ib, a][None, :]
            dd = d[ia][:, None] - d[ib][None, :]  # load moving from a to b
            feas = (dd <= room[b][None, :] + eps) & (-dd <= room[a] + eps)
            if ml is not None:
                mlo = ml[open_]
                feas &= (load[a] - dd >= mlo[a] - eps) & (load[b][None, :] + dd >= mlo[b][None, :] - eps)
            save = np.where(feas, save, -np.inf)
            k = int(np.argmax(save))
            if save.flat[k] > best:
                best, best_pair = save.flat[k], (ia[k // ib.size], ib[k % ib.size])
        if best_pair is None:
            break
        i, k = best_pair
        a, b = assign[i], assign[k]
        load[a] += d[k] - d[i]
        load[b] += d[i] - d[k]
        assign[i], assign[k] = b, a
    if ml is not None and (load < ml[open_] - eps).any():
        return None
    return open_[assign]


def _cpmp_heuristic(W, d, Q, ml, p, locked, locked_mask, clock, rng, tries: int = 30, budget: float = 5.0):
    """Open sets from the uncapacitated swap search (and capacity-aware variants), assigned by
    regret greedy + descent. Returns (open, assign) in local column indices or None."""
    m = W.shape[1]
    best = None
    starts = []
    try:
        g = _greedy(W, p, locked)
        o, _ = _swap_search(W, g, locked_mask, clock)
        starts.append(o)
    except Exception:  # pragma: no cover - defensive
        pass
    # capacity-aware start: demand-weighted costs and large capacities first
    order = np.argsort(-Q, kind="stable")
    big = [j for j in order if not locked_mask[j]][: max(0, p - locked.size)]
    starts.append(np.sort(np.concatenate((locked, np.array(big, dtype=np.int64)))))
    for t in range(tries):
        if clock.left() <= 0:
            break
        g = _greedy(W, p, locked, rng=rng, rcl=3)
        o, _ = _swap_search(W, g, locked_mask, clock)
        starts.append(o)
    seen = set()
    rows = np.arange(W.shape[0])
    for o in starts:
        key = np.sort(o).tobytes()
        if key in seen or clock.left() <= 0 or clock.elapsed() > budget:
            continue
        seen.add(key)
        if Q[o].sum() < d.sum():
            continue
        o = np.sort(o)
        a = _gap_assign(W, d, Q, o, ml)
        if a is None:
            continue
        val = float(W[rows, a].sum())
        # location-allocation: move each base to the best spot for its clients, reassign, repeat
        for _ in range(20):
            if clock.elapsed() > budget:
                break
            new = o.copy()
            for t, j in enumerate(o):
                if locked_mask[j]:
                    continue
                members = a == j
                dem = d[members].sum()
                score = W[members].sum(axis=0)
                bad = (Q < dem - 1e-9) | np.isin(np.arange(m), np.delete(new, t))
                if ml is not None:
                    bad |= ml > dem + 1e-9
                score[bad] = np.inf
                k = int(np.argmin(score))
                if score[k] < score[j] - 1e-9:
                    new[t] = k
            new = np.sort(new)
            if np.array_equal(new, o):
                break
            a2 = _gap_assign(W, d, Q, new, ml)
            if a2 is None:
                break
            v2 = float(W[rows, a2].sum())
            if v2 >= val - 1e-9:
                break
            o, a, val = new, a2, v2
        if best is None or val < best[2]:
            best = (o, a, val)
    return best


def _cpmp_model(W, d, Q, ml, p, locked_mask, soft: bool, penalty: float, pairs=None, closed=None):
    """Sparse data of the classic CPMP MIP. Variables: x (pairs), y (m), [s overload, u underload]."""
    from scipy.sparse import coo_matrix

    n, m = W.shape
    if pairs is not None:
        pi, pj = pairs
    elif soft:
        pi, pj = np.nonzero(np.ones((n, m), dtype=bool))
    else:
        pi, pj = np.nonzero(d[:, None] <= Q[None, :] + 1e-9)
    K = pi.size
    xv = np.arange(K)
    yv = K + np.arange(m)
    nv = K + m
    has_ml = ml is not None and (ml > 0).any()
    mlj = np.flatnonzero(ml > 0) if has_ml else np.zeros(0, dtype=np.int64)
    if soft:
        sv = nv + np.arange(m)
        nv += m
        uv = nv + np.arange(mlj.size)
        nv += mlj.size
    R, C, V, lo, hi = [], [], [], [], []
    r = 0
    # assignment rows
    R.append(r + pi); C.append(xv); V.append(np.ones(K)); lo.append(np.ones(n)); hi.append(np.ones(n)); r += n
    # capacity rows: sum d x - Q y (- s) <= 0
    R += [r + pj, r + np.arange(m)]; C += [xv, yv]; V += [d[pi], -Q.astype(float)]
    if soft:
        R.append(r + np.arange(m)); C.append(sv); V.append(-np.ones(m))
    lo.append(np.full(m, -np.inf)); hi.append(np.zeros(m)); r += m
    # min load rows: sum d x - ml y (+ u) >= 0
    if has_ml:
        rowof = np.full(m, -1)
        rowof[mlj] = r + np.arange(mlj.size)
        sel = rowof[pj] >= 0
        R += [rowof[pj][sel], rowof[mlj]]; C += [xv[sel], yv[mlj]]; V += [d[pi][sel], -ml[mlj]]
        if soft:
            R.append(rowof[mlj]); C.append(uv); V.append(np.ones(mlj.size))
        lo.append(np.zeros(mlj.size)); hi.append(np.full(mlj.size, np.inf)); r += mlj.size
    # linking x_ij <= y_j
    R += [r + xv, r + xv]; C += [xv, yv[pj]]; V += [np.ones(K), -np.ones(K)]
    lo.append(np.full(K, -np.inf)); hi.append(np.zeros(K)); r += K
    # cardinality
    R.append(np.full(m, r)); C.append(yv); V.append(np.ones(m)); lo.append([float(p)]); hi.append([float(p)]); r += 1
    if not soft:  # aggregate capacity: the open capacities hold all the demand
        R.append(np.full(m, r)); C.append(yv); V.append(Q.astype(float)); lo.append([float(d.sum())]); hi.append([np.inf]); r += 1
    A = coo_matrix((np.concatenate(V).astype(float), (np.concatenate(R), np.concatenate(C))), shape=(r, nv)).tocsr()
    lb = np.zeros(nv)
    ub = np.ones(nv)
    lb[yv[locked_mask]] = 1.0
    if closed is not None:
        ub[yv[closed]] = 0.0
    obj = np.zeros(nv)
    obj[xv] = W[pi, pj]
    integer = np.zeros(nv, dtype=bool)
    integer[: K + m] = True
    if soft:
        ub[K + m:] = np.inf
        obj[K + m:] = penalty
    return dict(lb=lb, ub=ub, obj=obj, integer=integer, row_lb=np.concatenate([np.asarray(a, float) for a in lo]),
                row_ub=np.concatenate([np.asarray(a, float) for a in hi]), A=A), (pi, pj, K)


def solve_cpmp(problem: PMedianProblem, *, time_limit_s: float = 60.0, seed: int = 0,
               progress: ProgressFn | None = None, best_effort: bool = True,
               gap_tolerance: float = 0.0) -> PMedianResult:
    """Capacitated p-median with single-source assignment.

    Formulation (x_ij = client i served by candidate j, y_j = j open)::

        min  sum_ij weight_i * cost_ij * x_ij
        s.t. sum_j x_ij = 1                         (each client to exactly one base)
             sum_i demand_i x_ij <= capacity_j y_j  (capacity of each open base)
             sum_i demand_i x_ij >= min_load_j y_j  (if min_load is given)
             x_ij <= y_j,  sum_j y_j = p,  locked open, excluded closed
             x, y binary     (+ the valid cut sum_j capacity_j y_j >= total demand)

    Solved by SCIP through OR-Tools, warm-started with a heuristic plan
    (uncapacitated swap search, regret-greedy assignment, shift/swap descent).

    Infeasible limits never raise: when the total demand exceeds the largest
    capacity any p bases can offer (locked ones included), a client's demand
    exceeds every capacity, the minimum loads cannot all be met, or the solver
    proves that no single-source assignment fits, the report's ``violated``
    names the limit (e.g. ``"capacity: total demand X exceeds the largest
    possible capacity Y"``). With ``best_effort=True`` (default) the result
    still carries the closest plan (overloads/underloads penalised heavily,
    then cost) with status ``partial``; with ``best_effort=False`` status is
    ``infeasible`` and there is no plan (``assign`` is -1). ``stats`` holds
    ``proven_infeasible`` and, for a partial plan, ``overload``.
    """
    if problem.capacity is None:
        raise ValueError("capacity: solve_cpmp needs capacity (n_candidates or a scalar)")
    clock = _Clock(time_limit_s, progress)
    cand = problem.allowed()
    W = np.ascontiguousarray(problem.weight[:, None] * problem.cost[:, cand])
    n, m = W.shape
    p = problem.p
    d = np.asarray(problem.demand, dtype=np.float64)
    Q = np.asarray(problem.capacity, dtype=np.float64)[cand]
    ml = None if problem.min_load is None else np.asarray(problem.min_load, dtype=np.float64)[cand]
    where = np.full(problem.n_candidates, -1, dtype=np.int64)
    where[cand] = np.arange(m)
    locked = np.sort(where[list(problem.locked)]).astype(np.int64) if problem.locked else np.zeros(0, np.int64)
    locked_mask = np.zeros(m, dtype=bool)
    locked_mask[locked] = True
    free = np.flatnonzero(~locked_mask)
    k = p - locked.size
    integral = _is_integral(W)
    rng = np.random.default_rng(seed)
    stats: dict[str, Any] = {"n_clients": n, "n_candidates": m, "p": p, "integral_costs": integral,
                             "proven_infeasible": False}
    total = float(d.sum())
    eps = 1e-9 * max(1.0, total)

    # 1. quick proofs of infeasibility
    violated: list[str] = []
    best_cap = float(Q[locked].sum() + np.sort(Q[free])[::-1][:k].sum())
    if total > best_cap + eps:
        violated.append(f"capacity: total demand {total:g} exceeds the largest possible capacity {best_cap:g}")
    too_big = np.flatnonzero(d > Q.max() + eps)
    if too_big.size:
        i = int(too_big[0])
        violated.append(f"capacity: client {i} has demand {d[i]:g}, more than the largest capacity {Q.max():g}"
                        + (f" ({too_big.size} clients)" if too_big.size > 1 else ""))
    if ml is not None:
        least = float(ml[locked].sum() + np.sort(ml[free])[:k].sum())
        if least > total + eps:
            violated.append(f"min_load: the {p} open bases need at least {least:g} of demand, total demand is {total:g}")

    def infeasible_result(reasons: list[str], how: str) -> PMedianResult:
        stats["proven_infeasible"] = True
        if not best_effort:
            return _result(problem, None, "infeasible", None, clock, how, stats, violated=tuple(reasons),
                           message="no plan meets the limits")
        clock.say("infeasible limits: searching the closest plan")
        scale = float(np.abs(W).sum(axis=1).max(initial=0.0)) * n + 1.0
        dpos = d[d > 0]
        unit = float(dpos.min()) if dpos.size else 1.0
        penalty = min(1e9, scale / max(unit, 1e-6))
        data, (pi, pj, K) = _cpmp_model(W, d, Q, ml, p, locked_mask, True, penalty)
        status, x, _, _, _ = _mip_solve(**data, hint=None, time_limit=max(0.5, clock.left()), seed=seed)
        if x is None:  # fall back to the largest capacities, everybody to the closest
            o = np.sort(np.concatenate((locked, free[np.argsort(-Q[free], kind="stable")[:k]])))
            a = o[np.argmin(W[:, o], axis=1)]
        else:
            xs = x[:K] > 0.5
            a = np.full(n, -1, dtype=np.int64)
            a[pi[xs]] = pj[xs]
            o = np.flatnonzero(x[K:K + m] > 0.5)
            if (a < 0).any() or o.size != p:
                o = np.sort(np.concatenate((locked, free[np.argsort(-Q[free], kind="stable")[:k]])))
                a = o[np.argmin(W[:, o], axis=1)]
        load = np.bincount(a, weights=d, minlength=m)
        stats["overload"] = float(np.maximum(load - Q, 0).sum())
        if ml is not None:
            stats["underload"] = float(np.maximum(ml[o] - load[o], 0).sum())
        return _result(problem, cand[o], "partial", None, clock, how + "+SCIP(soft)", stats, violated=tuple(reasons),
                       assign=cand[a], message="closest plan: limits are broken (see violated); "
                       "overloads and underloads were minimised first, then cost")

    if violated:
        return infeasible_result(violated, "checks")

    # 2. heuristic start
    clock.say("heuristic start")
    h = _cpmp_heuristic(W, d, Q, ml, p, locked, locked_mask, clock, rng)
    ub = math.inf
    best_open = best_assign = None
    if h is not None:
        best_open, best_assign, ub = h
        stats["heuristic"] = ub
    stats["heuristic_seconds"] = round(clock.elapsed(), 3)

    # 3. LP relaxation (GLOP): its reduced costs drop every x_ij / y_j that cannot be in a plan of
    #    cost <= the best plan's (LP value + reduced cost > upper bound)
    full, (pi0, pj0, K0) = _cpmp_model(W, d, Q, ml, p, locked_mask, False, 0.0)
    stats["x_variables"] = int(K0)
    lp_val = rc = xl = None
    if math.isfinite(ub) and clock.left() > 1.0:
        clock.say("LP relaxation")
        lp_data = dict(full)
        lp_data["integer"] = np.zeros_like(full["integer"])
        st, xl, lp_val, _, _ = _mip_solve(**lp_data, hint=None, time_limit=max(0.5, 0.2 * clock.left()), seed=seed,
                                          solver_name="glop", want_reduced_costs=True)
        rc = _LAST_REDUCED_COSTS[0]
        if st != "OPTIMAL" or rc is None or lp_val is None:
            lp_val = rc = None
        else:
            stats["lp_bound"] = lp_val

    def reduced_model():
        if rc is None:
            return full, (pi0, pj0, K0)
        thr = ub + 1e-6 * max(1.0, abs(ub))
        keep = ~((xl[:K0] < 1e-9) & (lp_val + rc[:K0] > thr))
        closed = (xl[K0:K0 + m] < 1e-9) & (lp_val + rc[K0:K0 + m] > thr) & ~locked_mask
        closed[best_open] = False
        keep &= ~closed[pj0]
        keep |= np.isin(pi0 * m + pj0, np.arange(n) * m + best_assign)  # the best plan stays feasible
        stats["x_variables_after_fixing"] = int(keep.sum())
        stats["closed_by_fixing"] = int(closed.sum())
        return _cpmp_model(W, d, Q, ml, p, locked_mask, False, 0.0, pairs=(pi0[keep], pj0[keep]), closed=closed)

    # 4. MIP rounds: a short first round; when it improves the plan, fix again and go on
    # (SCIP's restarts cost more than they bring once we fix by reduced costs ourselves: measured on
    # pmedcap1 p11, > 60 s -> 21 s without them; its cuts are needed there)
    params = "presolving/maxrestarts = 0\n"
    if integral:
        params += "limits/absgap = 0.999\n"
    if gap_tolerance > 0:
        params += f"limits/gap = {gap_tolerance:g}\n"
    status, mip_obj, mip_bound, mip_sec = "NOT_RUN", None, None, 0.0
    rounds = 0
    solver = "heuristic+SCIP(x/y)"
    while True:
        left = clock.left() - clock.margin()
        if left <= 0.05:
            break
        data, (pi, pj, K) = reduced_model()
        hint = None
        if best_open is not None:
            pos = {(int(a_), int(b_)): t for t, (a_, b_) in enumerate(zip(pi, pj))}
            hint = {t: 0.0 for t in range(K + m)}
            for i, j in enumerate(best_assign):
                hint[pos[(i, int(j))]] = 1.0
            for j in best_open:
                hint[K + int(j)] = 1.0
        last_round = rc is None or rounds >= 3
        limit = left if last_round else min(left, max(5.0, 0.25 * left))
        stats["mip_variables"] = int(data["A"].shape[1])
        stats["mip_rows"] = int(data["A"].shape[0])
        clock.say(f"exact search: {data['A'].shape[1]} variables")
        status, x, mip_obj, mip_bound, sec = _mip_solve(**data, hint=hint, time_limit=limit, seed=seed + rounds,
                                                        params=params)
        mip_sec += sec
        rounds += 1
        improved = False
        if x is not None:
            xs = x[:K] > 0.5
            a = np.full(n, -1, dtype=np.int64)
            a[pi[xs]] = pj[xs]
            o = np.flatnonzero(x[K:K + m] > 0.5)
            if not (a < 0).any() and o.size == p:
                val = float(W[np.arange(n), a].sum())
                if best_open is None or val < ub - 1e-9 * max(1.0, abs(ub)):
                    best_open, best_assign, ub = o, a, val
                    improved = True
        if status in ("OPTIMAL", "INFEASIBLE") or last_round or not improved:
            if status not in ("OPTIMAL", "INFEASIBLE") and not last_round and clock.left() > 0.5:
                rounds = 99  # no progress from fixing again: one last round with all the time left
                continue
            break
    stats["mip_rounds"] = rounds if rounds < 99 else "last"
    stats["mip_status"] = status
    stats["mip_seconds"] = round(mip_sec, 3)
    stats["mip_bound"] = mip_bound
    if lp_val is not None and mip_bound is not None and status != "OPTIMAL":
        mip_bound = max(mip_bound, lp_val)
    if status == "INFEASIBLE" and best_open is None:
        return infeasible_result(["capacity: no assignment of every client to one of p open bases fits "
                                  "the capacities" + (" and minimum loads" if ml is not None else "")
                                  + " (proven by the solver)"], solver)
    if best_open is None:
        return _result(problem, None, "time_limit_no_solution", mip_bound, clock, solver, stats,
                       message="no plan found within the time limit")
    bound = mip_bound if mip_bound is not None else None
    if status == "OPTIMAL":
        bound = ub if bound is None else min(ub, max(bound, mip_obj if mip_obj is not None else bound))
    if bound is not None and integral:
        bound = min(ub, float(math.ceil(bound - 1e-6 * max(1.0, abs(bound)))))
    done = status == "OPTIMAL" or (bound is not None and _proven(bound, ub, integral, gap_tolerance))
    clock.say("done", 1.0)
    return _result(problem, cand[best_open], "optimal" if done else "feasible", bound, clock, solver, stats,
                   assign=cand[best_assign],
                   message="" if done else "time limit reached; the bound gives the largest possible gap")
