"""The p-median problem and the machinery its two solvers share.

:class:`PMedianProblem` (a cost matrix, weights, p, locked/excluded
candidates, optional capacity/demand/min_load) and :class:`PMedianResult`;
the OR-Library readers (:func:`read_orlib_pmed`, :func:`read_orlib_cpmp`);
and the building blocks used by both :func:`planner.solvers.pmedian.solve_pmedian`
(uncapacitated) and :func:`planner.solvers.pmedian.capacitated.solve_cpmp` (capacitated): the
clock/progress helper, the problem on its allowed candidates, closest-open
lookup, greedy add, the vectorised swap search, the SCIP-through-OR-Tools MIP
call and the result builder.

Import the public names from :mod:`planner.solvers.pmedian`; this module is its lower
half (no solver entry points here).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
from numpy.typing import ArrayLike

from planner.errors import InputError
from planner.plans import ProgressFn, SolveReport, Status, no_progress

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

# --------------------------------------------------------------------------- problem / result


def _index_tuple(name: str, values: Any, n: int, problems: list[str]) -> tuple[int, ...]:
    """Candidate indices (or a boolean mask) as a sorted tuple; a bad value adds to ``problems``."""
    if values is None:
        return ()
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values).ravel()
    if arr.size == 0:
        return ()
    if arr.dtype == bool:
        if arr.size != n:
            problems.append(f"{name}: a boolean mask must have length n_candidates = {n}, got {arr.size}")
            return ()
        arr = np.flatnonzero(arr)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr.astype(float))) or not np.all(arr == np.round(arr)):
            problems.append(f"{name}: candidate indices must be integers")
            return ()
        arr = arr.astype(np.int64)
    if arr.min() < 0 or arr.max() >= n:
        problems.append(f"{name}: candidate index out of range 0..{n - 1}")
        return ()
    return tuple(int(v) for v in np.unique(arr))


def _vector(name: str, values: Any, size: int, what: str, problems: list[str], *,
            allow_scalar: bool = True) -> np.ndarray | None:
    """A read-only float vector of length ``size`` (>= 0, finite), or None after adding to ``problems``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 and allow_scalar:
        arr = np.full(size, float(arr))
    if arr.shape != (size,):
        problems.append(f"{name} has shape {arr.shape}, expected ({size},) = ({what},)")
        return None
    found = len(problems)
    if np.isnan(arr).any():
        problems.append(f"{name} contains NaN")
    elif not np.isfinite(arr).all():
        problems.append(f"{name} must be finite")
    if (arr < 0).any():
        problems.append(f"{name} must be >= 0 (found {arr.min():g})")
    if len(problems) > found:
        return None
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _cost_matrix(values: Any, problems: list[str]) -> np.ndarray:
    """The cost matrix as a read-only float array; raises at once when it is not 2-D and non-empty."""
    cost = np.asarray(values, dtype=np.float64)
    if cost.ndim != 2 or cost.shape[0] < 1 or cost.shape[1] < 1:
        raise InputError(f"cost must be a non-empty 2-D array (n_clients x n_candidates), got shape {cost.shape}",
                         what=PMedianProblem.what)
    if np.isnan(cost).any():
        problems.append("cost contains NaN")
    elif not np.isfinite(cost).all():
        problems.append("cost must be finite (use a large number for unreachable pairs)")
    if (cost < 0).any():
        problems.append(f"cost must be >= 0 (found {cost.min():g})")
    cost = cost.copy()
    cost.setflags(write=False)
    return cost


def _whole_p(p: Any, problems: list[str]) -> int | None:
    """``p`` as an int (a float holding a whole number is accepted), or None after adding to ``problems``."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        if not (isinstance(p, float) and float(p).is_integer()):
            problems.append(f"p must be an integer, got {p!r}")
            return None
    return int(p)


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

    Invalid settings raise one :class:`planner.errors.InputError` (a
    ``ValueError``) naming every bad field. After construction ``weight`` and
    ``demand`` are arrays, ``capacity`` and ``min_load`` arrays or None (read
    them typed through ``weights``, ``demands``, ``capacities``, ``min_loads``).
    """

    what: ClassVar[str] = "p-median problem"

    cost: np.ndarray
    weight: np.ndarray | None
    p: int
    locked: tuple[int, ...] = ()
    excluded: tuple[int, ...] = ()
    capacity: np.ndarray | float | None = None
    demand: np.ndarray | None = None
    min_load: np.ndarray | float | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        cost = _cost_matrix(self.cost, problems)
        n, m = cost.shape
        object.__setattr__(self, "cost", cost)
        weight = _vector("weight", np.ones(n) if self.weight is None else self.weight, n, "n_clients", problems,
                         allow_scalar=False)
        object.__setattr__(self, "weight", weight)
        p = _whole_p(self.p, problems)
        if p is not None:
            object.__setattr__(self, "p", p)
        locked = _index_tuple("locked", self.locked, m, problems)
        excluded = _index_tuple("excluded", self.excluded, m, problems)
        object.__setattr__(self, "locked", locked)
        object.__setattr__(self, "excluded", excluded)
        both = sorted(set(locked) & set(excluded))
        if both:
            problems.append(f"locked and excluded share candidates {both[:10]}")
        if p is not None:
            problems += self._p_problems(p, m, locked, excluded)
        capacity = None if self.capacity is None else _vector("capacity", self.capacity, m, "n_candidates", problems)
        object.__setattr__(self, "capacity", capacity)
        demand = weight if self.demand is None else self.demand
        if demand is not None:
            object.__setattr__(self, "demand", _vector("demand", demand, n, "n_clients", problems,
                                                       allow_scalar=False))
        if self.min_load is not None:
            ml = _vector("min_load", self.min_load, m, "n_candidates", problems)
            if ml is not None and capacity is not None:
                bad = np.flatnonzero(ml > capacity + 1e-9)
                if bad.size:
                    j = int(bad[0])
                    problems.append(f"min_load[{j}] = {ml[j]:g} exceeds capacity[{j}] = {capacity[j]:g}")
            object.__setattr__(self, "min_load", ml)
        if problems:
            raise InputError(problems, what=self.what)

    @staticmethod
    def _p_problems(p: int, m: int, locked: tuple[int, ...], excluded: tuple[int, ...]) -> list[str]:
        if p < 1:
            return [f"p must be >= 1, got {p}"]
        out = []
        n_allowed = m - len(excluded)
        if p > n_allowed:
            out.append(f"p = {p} exceeds the number of allowed candidates ({n_allowed} = {m} candidates - "
                       f"{len(excluded)} excluded)")
        if len(locked) > p:
            out.append(f"locked has {len(locked)} candidates, more than p = {p}")
        return out

    @property
    def n_clients(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_candidates(self) -> int:
        return int(self.cost.shape[1])

    @property
    def weights(self) -> np.ndarray:
        """``weight`` after validation: n_clients floats (all 1 when None was given)."""
        return cast(np.ndarray, self.weight)

    @property
    def demands(self) -> np.ndarray:
        """``demand`` after validation: n_clients floats (``weight`` when None was given)."""
        return cast(np.ndarray, self.demand)

    @property
    def capacities(self) -> np.ndarray | None:
        """``capacity`` after validation: n_candidates floats, or None."""
        return cast("np.ndarray | None", self.capacity)

    @property
    def min_loads(self) -> np.ndarray | None:
        """``min_load`` after validation: n_candidates floats, or None."""
        return cast("np.ndarray | None", self.min_load)

    def allowed(self) -> np.ndarray:
        """Indices of the candidates that may open (not excluded), ascending."""
        mask = np.ones(self.n_candidates, dtype=bool)
        mask[list(self.excluded)] = False
        return np.flatnonzero(mask)

    def evaluate(self, open_: ArrayLike, assign: ArrayLike | None = None) -> float:
        """``sum weight * cost`` of a plan (closest open candidate when ``assign`` is None)."""
        open_arr = np.asarray(open_, dtype=np.int64)
        if assign is None:
            assign = open_arr[np.argmin(self.cost[:, open_arr], axis=1)]
        assign_arr = np.asarray(assign, dtype=np.int64)
        return float(np.dot(self.weights, self.cost[np.arange(self.n_clients), assign_arr]))


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
    stats: dict[str, Any] = field(default_factory=dict)

    def loads(self, problem: PMedianProblem) -> np.ndarray:
        """Demand served by each candidate (n_candidates)."""
        ok = self.assign >= 0
        return np.bincount(self.assign[ok], weights=problem.demands[ok], minlength=problem.n_candidates)


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
    if m and (min(int(np.min(i)), int(np.min(j))) < 0 or max(int(np.max(i)), int(np.max(j))) >= n):
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


# SCIP's and GLOP's own set-up (loading the model, presolve) before their time limit is checked, per
# nonzero of the constraint matrix: measured ~1.5-2.5 us on the project's machine (2 cores, shared),
# taken with a margin; a model whose set-up would not fit the time left is not handed to them
SETUP_SECONDS_PER_NONZERO = 3e-6
INFINITE_BOUND = 1e19  # |bound| at or above this is SCIP's "infinity" (1e20): no bound
SWAP_SECONDS_PER_ELEMENT = 6e-8  # one swap of ``_swap_search`` per client x candidate (measured ~50 ns)


class _Clock:
    """The solve's wall clock: started at the call, the deadline ``time_limit_s`` later."""

    def __init__(self, time_limit_s: float, progress: ProgressFn | None) -> None:
        self.t0 = time.perf_counter()
        self.limit = max(0.0, float(time_limit_s))
        self.deadline = self.t0 + self.limit
        self.progress = progress or no_progress
        self.swap_s = 0.0  # the longest swap of ``_swap_search`` so far: none starts with less time left

    def margin(self) -> float:
        """Time kept back from the MIP solver: SCIP stops up to ~0.5 s after its limit on large models."""
        return 0.05 + min(1.0, 0.02 * self.limit)

    def solver_time(self, nonzeros: int) -> float:
        """Seconds to give a MIP/LP solver on a model with ``nonzeros``: what is left, less the margin and
        its estimated set-up (<= 0: it would overrun the deadline)."""
        return self.left() - self.margin() - SETUP_SECONDS_PER_NONZERO * nonzeros

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


@dataclass(frozen=True, eq=False)
class _Local:
    """The problem on its allowed candidates: local column ``c`` is candidate ``cand[c]``.

    ``W[i, c] = weight_i * cost[i, cand[c]]``; ``locked`` holds local indices
    (sorted); ``integral`` says whether every ``W`` is an integer (then a bound
    can be rounded up).
    """

    cand: np.ndarray
    W: np.ndarray
    p: int
    locked: np.ndarray
    locked_mask: np.ndarray
    integral: bool

    @staticmethod
    def of(problem: PMedianProblem) -> _Local:
        cand = problem.allowed()
        W = np.ascontiguousarray(problem.weights[:, None] * problem.cost[:, cand])
        m = W.shape[1]
        where = np.full(problem.n_candidates, -1, dtype=np.int64)
        where[cand] = np.arange(m)
        locked = np.sort(where[list(problem.locked)]).astype(np.int64) if problem.locked else np.zeros(0, np.int64)
        locked_mask = np.zeros(m, dtype=bool)
        locked_mask[locked] = True
        return _Local(cand, W, problem.p, locked, locked_mask, _is_integral(W))

    @property
    def n(self) -> int:
        return int(self.W.shape[0])

    @property
    def m(self) -> int:
        return int(self.W.shape[1])


def _closest(W: np.ndarray, open_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, column index) of the closest open column for each row."""
    sub = W[:, open_]
    k = np.argmin(sub, axis=1)
    return sub[np.arange(W.shape[0]), k], open_[k]


def _is_integral(W: np.ndarray) -> bool:
    return bool(np.all(W == np.round(W)) and np.abs(W).sum() < 2**50)


def _round_up(bound: float) -> float:
    """An integral bound: ``ceil`` with a tolerance for rounding noise."""
    return float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))


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
    # no swap starts with less time left than the longest one took (before any: an estimate by size)
    need = clock.swap_s or SWAP_SECONDS_PER_ELEMENT * n * m
    for _ in range(max_iter):
        t_it = time.perf_counter()
        sub = W[:, open_]
        two = np.argpartition(sub, 1, axis=1)[:, :2]
        a, b = sub[rows, two[:, 0]], sub[rows, two[:, 1]]
        first = np.where(a <= b, two[:, 0], two[:, 1])
        d1 = np.minimum(a, b)
        d2 = np.maximum(a, b)
        value = float(d1.sum())
        if value <= stop_at or clock.left() <= need:
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
        clock.swap_s = need = max(clock.swap_s, time.perf_counter() - t_it)
    return np.array(sorted(open_), dtype=np.int64), value


# --------------------------------------------------------------------------- MIP through OR-Tools


@dataclass(frozen=True, eq=False)
class MipModel:
    """``min obj x + offset, row_lb <= A x <= row_ub, lb <= x <= ub``, ``x`` integer where ``integer``."""

    lb: np.ndarray
    ub: np.ndarray
    obj: np.ndarray
    integer: np.ndarray  # bool per variable
    row_lb: np.ndarray
    row_ub: np.ndarray
    A: csr_matrix


@dataclass(frozen=True, eq=False)
class MipOutcome:
    """How a MIP (or LP) call ended: solver status name, values, objective, bound, seconds.

    ``reduced_costs`` are there only when asked for and the solver has a solution (LP solvers).
    """

    status: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float
    reduced_costs: np.ndarray | None = None


def _mip_solve(model: MipModel, *, hint: dict[int, float] | None, time_limit: float, seed: int, params: str = "",
               obj_offset: float = 0.0, solver_name: str = "scip", want_reduced_costs: bool = False) -> MipOutcome:
    """Solve ``model`` (plus a constant ``obj_offset``) with SCIP (or ``solver_name``) via OR-Tools."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    helper = mbh.ModelBuilderHelper()
    # the stub types these arrays as numpy.ndarray[numpy.float64[m, 1]] (pybind11 notation), which mypy misreads
    helper.fill_model_from_sparse_data(
        np.asarray(model.lb, dtype=np.float64), np.asarray(model.ub, dtype=np.float64),  # type: ignore[arg-type]
        np.asarray(model.obj, dtype=np.float64), np.asarray(model.row_lb, dtype=np.float64),  # type: ignore[arg-type]
        np.asarray(model.row_ub, dtype=np.float64), model.A.tocsr().astype(np.float64),  # type: ignore[arg-type]
    )
    for var in np.flatnonzero(model.integer):
        helper.set_var_integrality(int(var), True)
    helper.set_objective_offset(float(obj_offset))
    if hint:
        for v, val in hint.items():
            helper.add_hint(int(v), float(val))
    solver = mbh.ModelSolverHelper(solver_name)
    solver.set_time_limit_in_seconds(max(0.01, float(time_limit)))
    params = solver_parameters(solver_name, seed, params)
    if params:
        solver.set_solver_specific_parameters(params)
    t = time.perf_counter()
    solver.solve(helper)
    seconds = time.perf_counter() - t
    status = solver.status()
    name = status.name if hasattr(status, "name") else str(status)
    x = reduced = None
    obj_val = bound = None
    if solver.has_solution():
        x = np.asarray(solver.variable_values())
        obj_val = float(solver.objective_value())
        if want_reduced_costs:
            try:
                reduced = np.asarray(solver.reduced_costs())
            except Exception:  # pragma: no cover
                reduced = None
    try:
        bound = float(solver.best_objective_bound())
        if not math.isfinite(bound) or abs(bound) >= INFINITE_BOUND:
            bound = None
    except Exception:
        bound = None
    return MipOutcome(name, x, obj_val, bound, seconds, reduced)


def solver_parameters(solver_name: str, seed: int, params: str = "") -> str:
    """The solver-specific parameters ``_mip_solve`` sets: for SCIP its seed and ``misc/catchctrlc =
    FALSE``, so that Ctrl-C reaches Python as ``KeyboardInterrupt`` (SCIP's own handler would stop the
    search and return the cut plan as if the time limit had stopped it). GLOP and HiGHS install no
    signal handler: Ctrl-C already reaches Python when they return."""
    if solver_name == "scip":
        return f"randomization/randomseedshift = {int(seed) % 2**31}\nmisc/catchctrlc = FALSE\n" + params
    return params


# --------------------------------------------------------------------------- results


def _result(problem: PMedianProblem, open_global: np.ndarray | None, status: Status, bound: float | None,
            clock: _Clock, solver: str, stats: dict[str, Any], message: str = "",
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
        status=status,
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
