"""A prize-collecting vehicle-routing engine on integer matrices (OR-Tools routing).

One engine for the product and the benchmarks: :func:`planner.solvers.days.solve`
(the team's day), :func:`planner.solvers.days.replan`, :func:`planner.solvers.days.ride_along`,
``benchmarks/optw.py`` (team orienteering with time windows) and
``benchmarks/vrptw.py`` (Solomon VRPTW) all call :func:`route`.

Model (:class:`RoutingModel`): optional nodes with a prize (the penalty for
dropping them), mandatory nodes, a time dimension with windows on the start
of service, per-vehicle start/end depots and times, an optional lunch break,
counting dimensions for a visit mix (soft caps) and a visit limit, vehicles
restricted per node, optional capacities and fixed vehicle costs.

Objective of :func:`route` (lexicographic through scaling): maximise the prize
collected (dropped optional nodes cost ``prize * prize_scale``; a dropped
mandatory node costs more than every optional prize together; exceeding a mix
cap costs more than any single prize), then minimise travel cost (and fixed
vehicle cost when given).  Nothing is ever infeasible: a mandatory node that
cannot be served is dropped and reported, so the plan is the closest one and
``SolveReport.violated`` names what was not met.

Search (:class:`SearchOptions`): a prize-aware insertion with string-removal
shaking (iterated local search after Vansteenwegen et al. 2009, numpy) builds
the start, then OR-Tools guided local search improves it. When every visit is
mandatory and vehicles have a fixed cost (fewest vehicles first, e.g. Solomon
VRPTW) on one depot with identical vehicles, the route elimination of
:mod:`planner.solvers.fleet` (Nagata & Bräysy's ejection pool; compiled in
:mod:`planner.solvers.fleet_fast` when numba is installed) removes routes
first, then guided local search shortens the rest.

Time limit: ``SearchOptions.time_limit_s`` bounds the whole call (model
building included; OR-Tools may overrun by a few milliseconds). Status of the
report: ``feasible`` (every mandatory node served; nothing is proven, no bound
is reported: these are heuristics), ``partial`` (a mandatory node could not be
served, see ``violated``) or ``time_limit_no_solution``; the message gives the
travel, the objective and, after route elimination, the routes before and after.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from planner.errors import InputError
from planner.plans import ProgressFn, SolveReport, no_progress
from planner.solvers import fleet

if TYPE_CHECKING:  # OR-Tools is imported where it is used (it is slow to import)
    from ortools.constraint_solver import pywrapcp, routing_parameters_pb2

__all__ = ("RoutingModel", "SearchOptions", "RouteResult", "route")


# ---------------------------------------------------------------------------
# generic engine
# ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RoutingModel:
    """An integer routing instance (any consistent time unit; travel = time).

    ``travel[i, j]`` travel time, ``service[i]`` service time at i, a visit at
    node i must *start* in ``[open[i], close[i]]`` (waiting allowed).  Nodes
    that are vehicle starts/ends are depots; all other nodes are visits.
    ``allowed[i]`` lists the vehicles that may serve node i (``None`` = all).
    ``kind[i]`` (>= 0) is the visit type for ``kind_caps[v][k]`` (soft caps per
    vehicle); ``max_visits[v]`` is a hard visit limit.  ``cost`` (default
    ``travel``) is the arc cost, ``demand``/``capacity`` an optional load
    dimension, ``fixed_cost`` a cost per used vehicle, ``lunch`` per vehicle
    ``(earliest_start, latest_start, duration)`` or ``None``.
    """

    travel: np.ndarray
    service: np.ndarray
    open: np.ndarray
    close: np.ndarray
    prize: np.ndarray
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    vehicle_open: tuple[int, ...]
    vehicle_close: tuple[int, ...]
    mandatory: np.ndarray | None = None
    kind: np.ndarray | None = None
    kind_caps: tuple[tuple[int, ...], ...] | None = None
    max_visits: tuple[int, ...] | None = None
    allowed: tuple[tuple[int, ...] | None, ...] | None = None
    cost: np.ndarray | None = None
    demand: np.ndarray | None = None
    capacity: tuple[int, ...] | None = None
    fixed_cost: int = 0
    lunch: tuple[tuple[int, int, int] | None, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.service)
        problems = []
        if np.shape(self.travel) != (n, n):
            problems.append(f"travel: shape {np.shape(self.travel)} is not ({n}, {n})")
        for name in ("open", "close", "prize"):
            if len(getattr(self, name)) != n:
                problems.append(f"{name}: length {len(getattr(self, name))} is not {n}")
        nv = len(self.starts)
        for name in ("ends", "vehicle_open", "vehicle_close"):
            if len(getattr(self, name)) != nv:
                problems.append(f"{name}: length is not the number of vehicles {nv}")
        if nv == 0:
            problems.append("starts: no vehicle")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def n_vehicles(self) -> int:
        return len(self.starts)

    @property
    def visit_nodes(self) -> list[int]:
        depots = set(self.starts) | set(self.ends)
        return [i for i in range(len(self.service)) if i not in depots]


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """How :func:`route` searches.

    ``time_limit_s`` bounds the whole search; ``solution_limit`` (optional)
    stops each local search after that many improving solutions, which makes
    the result independent of machine speed (same seed, same plan).
    The search restarts ``restarts`` times (or once per name in ``strategies``,
    OR-Tools first-solution strategy names): each start builds a first
    solution with its strategy and improves it with the metaheuristic for its
    share of the time; the best plan wins.  ``prize_scale`` (default: larger
    than any possible travel, i.e. prize strictly before travel) converts a
    unit of prize into travel units.  ``extra_operators`` switches on the
    OR-Tools neighbourhoods that exchange visited and unvisited nodes and its
    insertion-based LNS (``None``: on when there is something to select, off
    when every visit is mandatory, where they slow the search down: Solomon
    R201 7.1 % above the best known distance with them, 2.5 % without);
    ``iterated_local_search`` the OR-Tools ruin-and-recreate loop.
    ``prize_insertion`` (default on; skipped with lunch breaks and when every
    visit is mandatory, i.e. a plain VRP with nothing to select) first runs a
    prize-aware insertion heuristic with string-removal shaking (iterated
    local search after Vansteenwegen et al. 2009) for ``prize_insertion_share``
    of the time (``solution_limit`` iterations when a solution limit is set);
    its best plan is the start of the OR-Tools search.  With ``descent_in_loop``
    (default), during the last ``descent_share`` of that phase every shaken
    and re-filled plan is taken to a local optimum by OR-Tools local search
    (greedy descent), a hybrid iterated local search: the numpy insertion
    chooses what to visit, OR-Tools orders it and frees time.  The descent
    uses every operator (incl. the ones that swap visited and unvisited
    nodes) or, ``lean_descent``, only the reordering ones followed by a new
    insertion; ``None`` = lean above 150 visit nodes, where a full
    neighbourhood pass costs too much.  While shaking, the
    insertion ratios are multiplied by a random factor in
    ``1 +- insertion_noise`` (seeded by ``seed``).
    ``fleet_minimisation`` (default on): when every visit is mandatory and each
    vehicle has a fixed cost (fewest vehicles first, e.g. Solomon VRPTW), and the
    model has one depot and identical vehicles (:func:`planner.solvers.fleet.applies`),
    a first plan from OR-Tools is handed to the route-elimination heuristic of
    :mod:`planner.solvers.fleet` for up to ``fleet_share`` of the time (it stops
    sooner at the capacity floor or when removing a route has failed for
    45 % of the time limit); then guided local search shortens that plan. The
    heuristic runs compiled (:mod:`planner.solvers.fleet_fast`, ~10x the
    ejections per second) when numba imports and ``engine`` allows it: ``"auto"``
    when its kernels are compiled or cached or the limit is at least 60 s
    (a first compile takes ~15 s of the elimination's share), ``"fast"``
    always, ``"ortools"`` never (the pure-Python module then).
    ``engine``: ``"auto"`` (default) solves a plain prize-collecting team
    orienteering model (optional visits with prizes, windows, service times,
    vehicle depots and windows, ``max_visits``; no mix caps, allowed vehicles,
    lunch, capacities, mandatory visits, fixed or separate arc costs: see
    :func:`planner.solvers.toptw_fast.why_not`) with the compiled engine of
    :mod:`planner.solvers.toptw_fast` when numba is installed (the extra
    ``fast``) and its kernels are compiled or cached (or the time limit is at
    least 30 s, which leaves room for the first compile, ~7 s), and every other
    model with the OR-Tools path described above; ``"fast"`` the compiled
    engine whenever the model allows it and numba imports (a first compile is
    counted in the time limit); ``"ortools"`` always the OR-Tools path.
    ``SolveReport.solver`` says which ran (``toptw-fast`` / ``ortools-routing``).
    """

    time_limit_s: float = 10.0
    seed: int = 0
    solution_limit: int | None = None
    restarts: int = 2
    strategies: tuple[str, ...] | None = None
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    prize_scale: int | None = None
    extra_operators: bool | None = None
    iterated_local_search: bool = False
    prize_insertion: bool = True
    prize_insertion_share: float = 0.85
    insertion_noise: float = 0.2
    descent_in_loop: bool = True
    descent_share: float = 0.5
    lean_descent: bool | None = None
    fleet_minimisation: bool = True
    fleet_share: float = 0.6
    engine: str = "auto"
    log: bool = False

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise InputError(problems, what="SearchOptions")

    def problems(self) -> list[str]:
        """Every bad setting, as sentences naming the field."""
        p = []
        if not (self.time_limit_s > 0):
            p.append(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.solution_limit is not None and self.solution_limit < 1:
            p.append(f"solution_limit must be >= 1, got {self.solution_limit}")
        if self.strategies is not None:
            from ortools.constraint_solver import routing_enums_pb2

            bad = [x for x in self.strategies if x not in routing_enums_pb2.FirstSolutionStrategy.Value.keys()]
            if bad or not self.strategies:
                p.append(f"strategies: unknown OR-Tools first-solution strategies {bad}")
        if not (0.0 <= self.descent_share <= 1.0):
            p.append(f"descent_share must be in [0, 1], got {self.descent_share}")
        if not (0.0 <= self.insertion_noise < 1.0):
            p.append(f"insertion_noise must be in [0, 1), got {self.insertion_noise}")
        if not (0.0 <= self.fleet_share < 1.0):
            p.append(f"fleet_share must be in [0, 1), got {self.fleet_share}")
        if not (0.0 <= self.prize_insertion_share < 1.0):
            p.append(f"prize_insertion_share must be in [0, 1), got {self.prize_insertion_share}")
        if self.engine not in ("auto", "ortools", "fast"):
            p.append(f"engine must be 'auto', 'ortools' or 'fast', got {self.engine!r}")
        if self.restarts < 1:
            p.append(f"restarts must be >= 1, got {self.restarts}")
        if self.metaheuristic not in _METAHEURISTICS:
            p.append(f"metaheuristic {self.metaheuristic!r} is not an OR-Tools local search metaheuristic")
        return p


@dataclass(frozen=True)
class RouteResult:
    """Routes as lists of ``(node, start_of_service)``; depots included at both ends."""

    routes: tuple[tuple[tuple[int, int], ...], ...]
    dropped: tuple[int, ...]
    prize: int
    travel: int
    report: SolveReport


_STRATEGIES = ("PATH_CHEAPEST_ARC", "PARALLEL_CHEAPEST_INSERTION", "GLOBAL_CHEAPEST_ARC",
               "LOCAL_CHEAPEST_INSERTION", "SEQUENTIAL_CHEAPEST_INSERTION")

# a plan as node lists per vehicle, depots included at both ends
_Routes = list[list[int]]
# routes -> routes (an OR-Tools descent run after every insertion of the iterated local search)
_Polish = Callable[[_Routes], _Routes]


@dataclass(frozen=True, eq=False)
class _OrModel:
    """The OR-Tools side of a :class:`RoutingModel`: index manager, routing model, time dimension."""

    mgr: pywrapcp.RoutingIndexManager
    rt: pywrapcp.RoutingModel
    tdim: pywrapcp.RoutingDimension

    def read(self, routes: _Routes) -> pywrapcp.Assignment | None:
        """An assignment serving ``routes`` (``None`` when OR-Tools cannot read them)."""
        return self.rt.ReadAssignmentFromRoutes([[self.mgr.NodeToIndex(int(x)) for x in r[1:-1]] for r in routes],
                                                True)


def _build(m: RoutingModel, prize_scale: int) -> _OrModel:
    """The OR-Tools model of ``m``: arc costs, the time dimension with windows and lunch,
    the counting dimensions, the load, one disjunction per visit (penalty: its prize)."""
    from ortools.constraint_solver import pywrapcp

    n = len(m.service)
    nv = m.n_vehicles
    mgr = pywrapcp.RoutingIndexManager(n, nv, [int(s) for s in m.starts], [int(e) for e in m.ends])
    rt = pywrapcp.RoutingModel(mgr)
    travel = np.asarray(m.travel, dtype=np.int64)
    service = np.asarray(m.service, dtype=np.int64)
    # matrices and vectors are evaluated in C++ (no Python callback per arc: ~10x faster search); each is
    # handed over as a Python list, built and dropped one at a time (two at once peaked ~140 MB higher at
    # 1,905 nodes)
    t_idx = rt.RegisterTransitMatrix((travel + service[:, None]).tolist())
    c_idx = rt.RegisterTransitMatrix((np.asarray(m.cost, dtype=np.int64) if m.cost is not None else travel).tolist())
    rt.SetArcCostEvaluatorOfAllVehicles(c_idx)
    if m.fixed_cost:
        rt.SetFixedCostOfAllVehicles(int(m.fixed_cost))
    horizon = int(max(max(m.vehicle_close), int(np.max(m.close)))) + 1
    rt.AddDimension(t_idx, horizon, horizon, False, "time")
    tdim = rt.GetDimensionOrDie("time")
    for i in m.visit_nodes:
        tdim.CumulVar(mgr.NodeToIndex(i)).SetRange(int(m.open[i]), int(max(m.open[i], m.close[i])))
    for v in range(nv):
        tdim.CumulVar(rt.Start(v)).SetRange(int(m.vehicle_open[v]), int(m.vehicle_close[v]))
        tdim.CumulVar(rt.End(v)).SetRange(int(m.vehicle_open[v]), int(m.vehicle_close[v]))
    om = _OrModel(mgr, rt, tdim)
    if m.lunch is not None and any(b is not None for b in m.lunch):
        _add_lunch(om, m.lunch, service)
    _add_counts(m, om, prize_scale)
    if m.demand is not None and m.capacity is not None:
        dem = [int(x) for x in m.demand]
        d_idx = rt.RegisterUnaryTransitVector(dem)
        rt.AddDimensionWithVehicleCapacity(d_idx, 0, [int(c) for c in m.capacity], True, "load")
    mand = np.zeros(n, bool) if m.mandatory is None else np.asarray(m.mandatory, bool)
    big = prize_scale * (int(np.sum(m.prize)) + 1) * 10
    for i in m.visit_nodes:
        idx = mgr.NodeToIndex(i)
        pen = big if mand[i] else int(m.prize[i]) * prize_scale
        rt.AddDisjunction([idx], int(pen))
        allowed = m.allowed[i] if m.allowed is not None else None
        if allowed is not None:
            rt.VehicleVar(idx).SetValues([-1] + [int(v) for v in allowed])
    for v in range(nv):
        rt.AddVariableMinimizedByFinalizer(tdim.CumulVar(rt.End(v)))
        rt.AddVariableMaximizedByFinalizer(tdim.CumulVar(rt.Start(v)))
    return om


def _add_lunch(om: _OrModel, lunch: tuple[tuple[int, int, int] | None, ...], service: np.ndarray) -> None:
    """A break interval per vehicle with a lunch ``(earliest_start, latest_start, duration)``."""
    mgr, rt = om.mgr, om.rt
    solver = rt.solver()
    node_visit = [int(service[mgr.IndexToNode(k)]) if not rt.IsEnd(k) else 0 for k in range(rt.Size())]
    node_visit += [0] * (rt.Size() + rt.vehicles() - len(node_visit))
    for v, b in enumerate(lunch):
        if b is None:
            continue
        iv = solver.FixedDurationIntervalVar(int(b[0]), int(b[1]), int(b[2]), False, f"lunch {v}")
        om.tdim.SetBreakIntervalsOfVehicle([iv], v, node_visit[:rt.Size()])


def _add_counts(m: RoutingModel, om: _OrModel, prize_scale: int) -> None:
    """Visit counts (hard ``max_visits``) and the mix (a soft cap per visit type and vehicle,
    exceeding it costs more than any single prize)."""
    n, nv, rt = len(m.service), m.n_vehicles, om.rt
    visits = m.visit_nodes
    depot_set = set(m.starts) | set(m.ends)
    if m.max_visits is not None or m.kind_caps is not None:
        ones = rt.RegisterUnaryTransitVector([0 if node in depot_set else 1 for node in range(n)])
        caps = list(m.max_visits) if m.max_visits is not None else [len(visits)] * nv
        rt.AddDimensionWithVehicleCapacity(ones, 0, [int(c) for c in caps], True, "visits")
    if m.kind_caps is not None and m.kind is not None:
        kinds = np.asarray(m.kind)
        for k in range(len(m.kind_caps[0])):
            flags = [1 if (node not in depot_set and kinds[node] == k) else 0 for node in range(n)]
            cb = rt.RegisterUnaryTransitVector(flags)
            rt.AddDimension(cb, 0, len(visits), True, f"kind{k}")
            kd = rt.GetDimensionOrDie(f"kind{k}")
            for v in range(nv):
                kd.SetCumulVarSoftUpperBound(rt.End(v), int(m.kind_caps[v][k]),
                                             int(prize_scale * (int(np.max(m.prize)) + 1)))


_EXTRA_OPS = ("use_extended_swap_active", "use_relocate_and_make_active", "use_exchange_and_make_active",
              "use_inactive_lns", "use_path_lns", "use_global_cheapest_insertion_close_nodes_lns",
              "use_local_cheapest_insertion_close_nodes_lns", "use_relocate_neighbors", "use_cross_exchange")


_SELECTION_OPS = ("use_make_active", "use_relocate_and_make_active", "use_exchange_and_make_active",
                  "use_exchange_path_start_ends_and_make_active", "use_make_inactive", "use_make_chain_inactive",
                  "use_swap_active", "use_swap_active_chain", "use_extended_swap_active",
                  "use_shortest_path_swap_active", "use_node_pair_swap_active", "use_inactive_lns",
                  "use_path_lns", "use_full_path_lns", "use_tsp_lns", "use_global_cheapest_insertion_close_nodes_lns",
                  "use_local_cheapest_insertion_close_nodes_lns", "use_global_cheapest_insertion_path_lns",
                  "use_local_cheapest_insertion_path_lns",
                  "use_relocate_path_global_cheapest_insertion_insert_unperformed",
                  "use_global_cheapest_insertion_expensive_chain_lns",
                  "use_local_cheapest_insertion_expensive_chain_lns", "use_tsp_opt", "use_lin_kernighan")

_METAHEURISTICS = ("GUIDED_LOCAL_SEARCH", "SIMULATED_ANNEALING", "TABU_SEARCH", "GENERIC_TABU_SEARCH",
                   "GREEDY_DESCENT")


def _descent_params(seconds: float, lean: bool) -> routing_parameters_pb2.RoutingSearchParameters:
    """Greedy descent; ``lean``: only the operators that reorder visited nodes
    (relocate, exchange, cross, 2-opt, or-opt) -- the choice of what to visit
    is left to the insertion, which keeps each descent cheap on large pools."""
    from ortools.util import optional_boolean_pb2

    p = _params("PATH_CHEAPEST_ARC", "GREEDY_DESCENT", seconds, None, False, not lean, False)
    if lean:
        for name in _SELECTION_OPS:
            setattr(p.local_search_operators, name, optional_boolean_pb2.BOOL_FALSE)
    return p


def _params(strategy: str, meta: str, seconds: float, solution_limit: int | None, log: bool,
            extra: bool = False, ils: bool = False) -> routing_parameters_pb2.RoutingSearchParameters:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    from ortools.util import optional_boolean_pb2

    p = pywrapcp.DefaultRoutingSearchParameters()
    if extra:
        for name in _EXTRA_OPS:
            setattr(p.local_search_operators, name, optional_boolean_pb2.BOOL_TRUE)
    if ils:  # ruin (SISR string removal + random walk) and recreate, simulated-annealing acceptance
        p.use_iterated_local_search = True
        rr = p.iterated_local_search_parameters.ruin_recreate_parameters
        s1 = rr.ruin_strategies.add()
        s1.sisr.max_removed_sequence_size = 10
        s1.sisr.avg_num_removed_visits = 10
        s1.sisr.bypass_factor = 0.01
        s2 = rr.ruin_strategies.add()
        s2.random_walk.num_removed_visits = 8
        from ortools.constraint_solver import routing_ils_pb2

        rr.ruin_composition_strategy = routing_ils_pb2.RuinCompositionStrategy.RUN_ONE_RANDOMLY
        p.iterated_local_search_parameters.improve_perturbed_solution = True
    p.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, strategy)
    p.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, meta)
    p.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
    if solution_limit is not None:
        p.solution_limit = int(solution_limit)
    p.log_search = log
    return p


def route(model: RoutingModel, options: SearchOptions | None = None,
          progress: ProgressFn = no_progress) -> RouteResult:
    """Solve a prize-collecting routing instance (see the module docstring).

    Objective: maximise collected prize, then minimise travel (+ fixed vehicle
    costs).  Constraints: windows on start of service, vehicle start/end
    windows, visit limits, capacities, lunch.  Soft: mix caps, mandatory nodes
    (dropped with a large penalty and reported in ``violated``).
    Search: see :class:`SearchOptions` (restarts from several first-solution
    strategies, each improved by the metaheuristic for its share of the time
    limit, or until ``solution_limit`` improving solutions).
    """
    t0 = time.perf_counter()
    if options is None:
        options = SearchOptions()
    prize_scale = options.prize_scale if options.prize_scale is not None else _default_prize_scale(model)
    fast = _fast_engine(model, options)
    if fast is not None:
        try:
            return fast.solve(model, options, prize_scale, t0, progress)
        except RuntimeError:  # a plan that fails the check (never expected): the OR-Tools path, time left
            pass
    om = _build(model, prize_scale)
    # restarts: guided local search from several construction strategies, each for its share of
    # the time; the best plan wins (each start falls into a different local optimum)
    best: pywrapcp.Assignment | None = None
    best_obj: int | None = None
    note = ""
    strategies = options.strategies or _STRATEGIES[: options.restarts]
    has_lunch = model.lunch is not None and any(b is not None for b in model.lunch)
    all_mandatory = model.mandatory is not None and bool(np.asarray(model.mandatory)[model.visit_nodes].all())
    if options.extra_operators is None:
        options = dataclasses.replace(options, extra_operators=not all_mandatory)
    if options.prize_insertion and not has_lunch and not all_mandatory and options.prize_insertion_share > 0:
        om, best, best_obj = _insertion_start(model, options, om, prize_scale, strategies[0], t0, progress)
        if best is not None:
            strategies = ()
    elif all_mandatory and options.fleet_minimisation and options.fleet_share > 0 and fleet.applies(model):
        om, best, best_obj, note = _fleet_start(model, options, om, prize_scale, t0, progress)
        if best is not None:
            strategies = ()
    best, best_obj = _restarts(om, options, strategies, t0, best, best_obj, progress)
    seconds = time.perf_counter() - t0
    if best is None:
        return RouteResult((), tuple(model.visit_nodes), 0, 0,
                           SolveReport("time_limit_no_solution", seconds=seconds, solver="ortools-routing",
                                       message="no first solution within the time limit"))
    return _result(model, om, best, best_obj, seconds, progress, note)


def _fast_engine(model: RoutingModel, options: SearchOptions) -> ModuleType | None:
    """The compiled engine's module when ``options.engine`` and the model call for it (see
    :class:`SearchOptions`), else ``None`` (numba not installed, or a feature it drops)."""
    if options.engine == "ortools":
        return None
    try:
        from planner.solvers import toptw_fast
    except ImportError:  # numba is an optional extra
        return None
    if not toptw_fast.applies(model):
        return None
    if options.engine == "auto" and not (toptw_fast.ready() or options.time_limit_s >= 30):
        return None
    return toptw_fast


def _fleet_engine(options: SearchOptions) -> ModuleType:
    """The route elimination's module: the compiled :mod:`planner.solvers.fleet_fast` when numba imports and
    ``options.engine`` allows it ("fast"; "auto" when its kernels are compiled or cached or the limit is at
    least 60 s: a first compile, ~15 s, then leaves most of the elimination's 60 % share), else the
    pure-Python :mod:`planner.solvers.fleet`."""
    if options.engine == "ortools":
        return fleet
    try:
        from planner.solvers import fleet_fast
    except ImportError:  # numba is an optional extra
        return fleet
    if options.engine == "auto" and not (fleet_fast.ready() or options.time_limit_s >= 60):
        return fleet
    return fleet_fast


def _fleet_start(model: RoutingModel, options: SearchOptions, om: _OrModel, prize_scale: int, t0: float,
                 progress: ProgressFn) -> tuple[_OrModel, pywrapcp.Assignment | None, int | None, str]:
    """Fewest vehicles first: an OR-Tools first plan (cheapest insertion + greedy descent, 5 % of the
    time), the route elimination of :mod:`planner.solvers.fleet` until ``fleet_share`` of the time, then
    guided local search from its plan for the rest: ``(model, best assignment, its objective, a note for
    the report)``. When the first plan misses a visit, route elimination is skipped (it needs every visit
    served) and the first plan is returned for the usual restarts to improve."""
    limit = options.time_limit_s
    progress(0.0, "first plan")
    p = _params("PARALLEL_CHEAPEST_INSERTION", "GREEDY_DESCENT", max(0.05, 0.05 * limit), options.solution_limit,
                options.log)
    first = om.rt.SolveWithParameters(p)
    if first is None:
        return om, None, None, ""
    plan = [[om.mgr.IndexToNode(i) for i in r] for r in _routes_of(om.rt, first)]
    fd = fleet.data_of(model)
    if not fleet.feasible(fd, [r for r in plan if r]):
        return om, first, first.ObjectiveValue(), ""
    progress(0.1, "removing routes")
    engine = _fleet_engine(options)
    fewer, st = engine.minimise_routes(
        fd, [r for r in plan if r], t0 + options.fleet_share * limit, seed=options.seed, stall_s=0.45 * limit,
        max_ejections=None if options.solution_limit is None else 100 * options.solution_limit)
    fewer += [[] for _ in range(model.n_vehicles - len(fewer))]
    routes = [[model.starts[v]] + fewer[v] + [model.ends[v]] for v in range(model.n_vehicles)]
    init = om.read(routes)
    if init is None:  # OR-Tools keeps the limit of its last search: a fresh model reads the plan
        om = _build(model, prize_scale)
        init = om.read(routes)
    note = (f"; route elimination ({'compiled' if engine is not fleet else 'Python'}) {st.routes_start} -> "
            f"{st.routes_end} routes in {st.seconds:.1f} s, {st.ejections} ejections")
    if init is None:
        return om, first, first.ObjectiveValue(), note
    progress(0.5, f"shortening the routes ({options.metaheuristic.lower()})")
    left = limit - (time.perf_counter() - t0)
    p = _params("PATH_CHEAPEST_ARC", options.metaheuristic, max(0.05, left), options.solution_limit, options.log,
                bool(options.extra_operators), options.iterated_local_search)
    sol = om.rt.SolveFromAssignmentWithParameters(init, p)
    best = sol if sol is not None and sol.ObjectiveValue() <= init.ObjectiveValue() else init
    return om, best, best.ObjectiveValue(), note


def _default_prize_scale(model: RoutingModel) -> int:
    """A unit of prize worth more than any possible travel (and fixed vehicle cost)."""
    ub_travel = int(sum(max(0, c - o) for o, c in zip(model.vehicle_open, model.vehicle_close)))
    cost_m = model.cost if model.cost is not None else model.travel
    ub_cost = max(ub_travel, int(np.max(cost_m)) * (len(model.service) + model.n_vehicles)) \
        if model.cost is not None else ub_travel
    ub_cost += int(model.fixed_cost) * model.n_vehicles
    return ub_cost + 1


def _insertion_start(model: RoutingModel, options: SearchOptions, om: _OrModel, prize_scale: int, strategy: str,
                     t0: float, progress: ProgressFn) -> tuple[_OrModel, pywrapcp.Assignment | None, int | None]:
    """The prize-aware iterated local search (with OR-Tools descents in the loop), then the
    metaheuristic from its best plan: ``(model, best assignment, its objective)``; the
    model is a fresh one when the descents left the given one unable to read a plan."""
    progress(0.0, "prize-aware insertion and shaking")
    ils = _Ils(model, np.random.default_rng(options.seed), options.insertion_noise)
    polish_fn = None
    if options.descent_in_loop:
        polish_fn = _descent(model, options, om, ils, t0 + options.time_limit_s * options.prize_insertion_share)
    budget = options.time_limit_s * options.prize_insertion_share
    iters = options.solution_limit
    pure = 1.0 - options.descent_share if polish_fn is not None else 1.0
    ils_routes, _, _ = ils.run(budget * pure, None if iters is None else max(1, int(iters * pure)))
    if polish_fn is not None:
        ils_routes, _, _ = ils.run(budget * options.descent_share,
                                   None if iters is None else max(1, int(iters * options.descent_share)),
                                   polish=polish_fn, restart_every=20, start=ils_routes)
    init = om.read(ils_routes)
    if init is None and polish_fn is not None:
        # OR-Tools keeps the limit of its last search; if a descent ran out of time, a fresh
        # model reads the plan
        om = _build(model, prize_scale)
        init = om.read(ils_routes)
    if init is None:
        return om, None, None
    left = options.time_limit_s - (time.perf_counter() - t0)
    p = _params(strategy, options.metaheuristic, max(0.05, left), options.solution_limit,
                options.log, bool(options.extra_operators), options.iterated_local_search)
    progress(0.6, f"improving ({options.metaheuristic.lower()})")
    sol = om.rt.SolveFromAssignmentWithParameters(init, p)
    best, best_obj = init, init.ObjectiveValue()
    if sol is not None and sol.ObjectiveValue() <= best_obj:
        best, best_obj = sol, sol.ObjectiveValue()
    return om, best, best_obj


def _descent(model: RoutingModel, options: SearchOptions, om: _OrModel, ils: _Ils, deadline: float) -> _Polish:
    """OR-Tools local search to a local optimum after every shake + insertion (hybrid ILS):
    relocate/exchange/2-opt/or-opt shorten the routes and make room, the swap-active
    operators trade visited for unvisited nodes."""
    lean = options.lean_descent if options.lean_descent is not None else len(model.visit_nodes) > 150
    params = _descent_params(5.0, lean)

    def polish(routes: _Routes) -> _Routes:
        if options.solution_limit is None:  # never far past the phase's end (a descent can be long)
            left_ms = int(1000 * (deadline - time.perf_counter()))
            if left_ms < 250:  # a search cut before its first solution leaves the model unreadable
                return routes
            params.time_limit.FromMilliseconds(left_ms)
        a = om.read(routes)
        if a is None:
            return routes
        sol = om.rt.SolveFromAssignmentWithParameters(a, params) or a
        out = [[model.starts[v]] + [om.mgr.IndexToNode(i) for i in r] + [model.ends[v]]
               for v, r in enumerate(_routes_of(om.rt, sol))]
        if lean:  # fill the time the reordering freed
            ils.insert(out, ils.free_nodes(out))
        return out

    return polish


def _restarts(om: _OrModel, options: SearchOptions, strategies: tuple[str, ...], t0: float,
              best: pywrapcp.Assignment | None, best_obj: int | None,
              progress: ProgressFn) -> tuple[pywrapcp.Assignment | None, int | None]:
    """One search per first-solution strategy, each for its share of the time left; the best plan wins."""
    for k, strat in enumerate(strategies):
        left = options.time_limit_s - (time.perf_counter() - t0)
        if left <= 0.05 and best is not None:
            break
        share = max(0.05, left / (len(strategies) - k))
        progress(k / len(strategies),
                 f"search {k + 1}/{len(strategies)}: {strat.lower()} + {options.metaheuristic.lower()}")
        p = _params(strat, options.metaheuristic, share, options.solution_limit, options.log,
                    bool(options.extra_operators), options.iterated_local_search)
        sol = om.rt.SolveWithParameters(p)
        if sol is not None and (best_obj is None or sol.ObjectiveValue() < best_obj):
            best, best_obj = sol, sol.ObjectiveValue()
    return best, best_obj


def _result(model: RoutingModel, om: _OrModel, best: pywrapcp.Assignment, best_obj: int | None, seconds: float,
            progress: ProgressFn, note: str = "") -> RouteResult:
    """The routes of ``best`` read back with their start times, the prize, the travel and the report."""
    mgr, rt, tdim = om.mgr, om.rt, om.tdim
    routes = []
    served: set[int] = set()
    travel = 0
    for v in range(model.n_vehicles):
        idx = rt.Start(v)
        stops = []
        while True:
            node = mgr.IndexToNode(idx)
            stops.append((node, int(best.Min(tdim.CumulVar(idx)))))
            if rt.IsEnd(idx):
                break
            nxt = best.Value(rt.NextVar(idx))
            travel += int(model.travel[node][mgr.IndexToNode(nxt)])
            idx = nxt
        routes.append(tuple(stops))
        served.update(s[0] for s in stops[1:-1])
    dropped = tuple(i for i in model.visit_nodes if i not in served)
    prize = sum(int(model.prize[i]) for i in served)
    mand = np.zeros(len(model.service), bool) if model.mandatory is None else np.asarray(model.mandatory, bool)
    missed = [i for i in dropped if mand[i]]
    violated = (f"{len(missed)} mandatory visit(s) could not be served: nodes {missed}",) if missed else ()
    progress(1.0, "done")
    return RouteResult(tuple(routes), dropped, prize, travel,
                       SolveReport("partial" if missed else "feasible", objective=float(prize), seconds=seconds,
                                   solver="ortools-routing", violated=violated,
                                   message=f"travel {travel}, objective {best_obj}{note}"))


def _routes_of(rt: pywrapcp.RoutingModel, sol: pywrapcp.Assignment) -> list[list[int]]:
    """The route indices (not nodes) of ``sol``, depots excluded."""
    out = []
    for v in range(rt.vehicles()):
        idx = sol.Value(rt.NextVar(rt.Start(v)))
        r = []
        while not rt.IsEnd(idx):
            r.append(idx)
            idx = sol.Value(rt.NextVar(idx))
        out.append(r)
    return out


# ---------------------------------------------------------------------------
# prize-aware construction and iterated local search (Vansteenwegen et al. 2009 style)
# ---------------------------------------------------------------------------
class _Ils:
    """Insertion by ratio prize^2 / time used, and shaking by removing strings of visits.

    Works on the :class:`RoutingModel` directly (windows, vehicle windows, allowed
    vehicles, visit limit, hard mix caps, capacity); not used with lunch breaks.
    """

    def __init__(self, m: RoutingModel, rng: np.random.Generator, noise: float = 0.0) -> None:
        self.m = m
        self.noise = noise
        self.deadline: float | None = None
        self._noisy = False
        self.rng = rng
        self.T = np.asarray(m.travel, dtype=np.int64)
        self.s = np.asarray(m.service, dtype=np.int64)
        self.o = np.asarray(m.open, dtype=np.int64)
        self.c = np.asarray(m.close, dtype=np.int64)
        self.visits = np.array(m.visit_nodes, dtype=np.int64)
        pr = np.asarray(m.prize, dtype=np.float64).copy()
        if m.mandatory is not None:
            pr[np.asarray(m.mandatory, bool)] = pr.max() * 1000 + 1
        self.p2 = pr ** 2
        nv = m.n_vehicles
        self.ok_v = np.ones((nv, len(self.s)), bool)
        if m.allowed is not None:
            for i in self.visits:
                if m.allowed[i] is not None:
                    self.ok_v[:, i] = False
                    self.ok_v[list(m.allowed[i]), i] = True
        self.kind: np.ndarray | None = None if m.kind is None or m.kind_caps is None else np.asarray(m.kind)
        self.dem: np.ndarray | None = (None if m.demand is None or m.capacity is None
                                       else np.asarray(m.demand, dtype=np.int64))

    def times(self, route: list[int], v: int) -> np.ndarray:
        st = np.empty(len(route), np.int64)
        st[0] = self.m.vehicle_open[v]
        for k in range(1, len(route)):
            a, b = route[k - 1], route[k]
            st[k] = max(st[k - 1] + self.s[a] + self.T[a, b], self.o[b] if k < len(route) - 1 else 0)
        return st

    def feasible(self, route: list[int], v: int) -> bool:
        st = self.times(route, v)
        return bool(np.all(st[1:-1] <= self.c[route[1:-1]]) and st[-1] <= self.m.vehicle_close[v])

    def _ratios(self, r: list[int], v: int, J: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Insertion ratios of the free nodes ``J`` into route ``r`` of vehicle ``v``:
        ``(ratio (|Jv|, L-1), Jv)`` with -1 where infeasible, or ``None``."""
        m = self.m
        if m.max_visits is not None and len(r) - 2 >= m.max_visits[v]:
            return None
        Jv = J[self.ok_v[v, J]]
        if self.kind is not None and m.kind_caps is not None:
            cnt = np.bincount(self.kind[r[1:-1]], minlength=len(m.kind_caps[v])) if len(r) > 2 else \
                np.zeros(len(m.kind_caps[v]), np.int64)
            Jv = Jv[cnt[self.kind[Jv]] < np.asarray(m.kind_caps[v])[self.kind[Jv]]]
        if self.dem is not None and m.capacity is not None:
            load = int(self.dem[r[1:-1]].sum())
            Jv = Jv[load + self.dem[Jv] <= m.capacity[v]]
        if len(Jv) == 0:
            return None
        ra = np.array(r, dtype=np.int64)
        st = self.times(r, v)
        L = len(r)
        arr = np.empty(L, np.int64)
        arr[0] = st[0]
        arr[1:] = st[:-1] + self.s[ra[:-1]] + self.T[ra[:-1], ra[1:]]
        wait = st - arr
        close_r = np.append(self.c[ra[:-1]], m.vehicle_close[v])
        close_r[0] = st[0]
        ms = np.empty(L, np.int64)
        ms[-1] = m.vehicle_close[v] - st[-1]
        for k in range(L - 2, 0, -1):
            ms[k] = min(close_r[k] - st[k], wait[k + 1] + ms[k + 1])
        a, b = ra[:-1], ra[1:]
        dep_a = st[:-1] + self.s[a]                               # (L-1,)
        arr_j = dep_a[None, :] + self.T[np.ix_(a, Jv)].T          # (|J|, L-1)
        st_j = np.maximum(arr_j, self.o[Jv][:, None])
        shift = st_j + self.s[Jv][:, None] + self.T[np.ix_(Jv, b)] - (dep_a + self.T[a, b])[None, :]
        ok = (st_j <= self.c[Jv][:, None]) & (shift <= (wait[1:] + ms[1:])[None, :])
        if not ok.any():
            return None
        ratio = np.where(ok, self.p2[Jv][:, None] / (np.maximum(shift, 0) + 1.0), -1.0)
        if self._noisy:  # randomised insertion while shaking (diversification)
            ratio = ratio * self.rng.uniform(1.0 - self.noise, 1.0 + self.noise, size=ratio.shape)
        return ratio, Jv

    def insert(self, routes: _Routes, free: set[int]) -> None:
        """Insert free nodes one at a time, always the best ratio over every route and
        position, until nothing fits.  Ratios are kept per route and recomputed only
        for the route that changed (the inserted node is masked out of the others)."""
        cache: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
        top: dict[int, tuple[float, int, int]] = {}
        while free:
            if self.deadline is not None and time.perf_counter() > self.deadline:
                return  # out of time: the plan so far is feasible
            J = None
            best: tuple[float, int, int, int] | None = None
            for v, r in enumerate(routes):
                if v not in cache:
                    if J is None:
                        J = np.array(sorted(free), dtype=np.int64)
                    cache[v] = self._ratios(r, v, J)
                    top.pop(v, None)
                cv = cache[v]
                if cv is None:
                    continue
                if v not in top:
                    ratio = cv[0]
                    row, col = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                    top[v] = (float(ratio[row, col]), int(row), int(col))
                val, jj, pp = top[v]
                if val > 0 and (best is None or val > best[0]):
                    best = (val, v, pp + 1, int(cv[1][jj]))
            if best is None:
                return
            _, v, pos, j = best
            routes[v].insert(pos, j)
            free.discard(j)
            del cache[v]
            for u, c in cache.items():  # j is no longer free
                if c is not None:
                    rows = np.flatnonzero(c[1] == j)
                    if len(rows):
                        c[0][rows, :] = -1.0
                        if top.get(u, (0, -1))[1] in rows:
                            top.pop(u, None)

    @staticmethod
    def shake(routes: _Routes, free: set[int], size: int, at: int) -> None:
        """Remove ``size`` consecutive visits from each route, from position ``at`` (modulo its length)."""
        for r in routes:
            n_in = len(r) - 2
            if n_in == 0:
                continue
            cut = 1 + (at % n_in)
            cut_end = min(cut + size, len(r) - 1)  # never the end depot
            free.update(r[cut:cut_end])
            del r[cut:cut_end]

    def score(self, routes: _Routes) -> tuple[int, int]:
        pr = np.asarray(self.m.prize)
        served = [i for r in routes for i in r[1:-1]]
        return int(pr[served].sum()) + (0 if self.m.mandatory is None else
                                        int(np.asarray(self.m.mandatory)[served].sum()) * 10 ** 12), \
            -int(sum(self.T[a, b] for r in routes for a, b in zip(r[:-1], r[1:])))

    def free_nodes(self, routes: _Routes) -> set[int]:
        """The visit nodes no route serves."""
        return {int(i) for i in self.visits} - {i for r in routes for i in r[1:-1]}

    def run(self, seconds: float, max_iterations: int | None = None, polish: _Polish | None = None,
            restart_every: int = 50, start: _Routes | None = None) -> tuple[_Routes, tuple[int, int], int]:
        """Shake and re-insert until ``seconds`` (or ``max_iterations``), from ``start``
        (routes) or an empty plan; ``polish`` (routes -> routes, e.g. an OR-Tools
        descent) runs after every insertion."""
        m = self.m
        t0 = time.perf_counter()
        # a first insertion into an empty plan always completes; later ones stop at the deadline
        self.deadline = None if (start is None or max_iterations is not None) else t0 + seconds
        routes = [[m.starts[v], m.ends[v]] for v in range(m.n_vehicles)] if start is None else \
            [list(r) for r in start]
        free = self.free_nodes(routes)
        self.insert(routes, free)
        if polish is not None:
            routes = polish(routes)
            free = self.free_nodes(routes)
        best, best_sc = [list(r) for r in routes], self.score(routes)
        self._noisy = self.noise > 0
        if max_iterations is None:
            self.deadline = t0 + seconds
        S_, R_ = 1, 0
        it = 0
        while (time.perf_counter() - t0 < seconds) if max_iterations is None else it < max_iterations:
            it += 1
            self.shake(routes, free, S_, R_)
            self.insert(routes, free)
            if polish is not None:
                routes = polish(routes)
                free = self.free_nodes(routes)
            sc = self.score(routes)
            if sc > best_sc:
                best, best_sc = [list(r) for r in routes], sc
                S_ = 1
            else:
                S_ += 1
            R_ += S_
            longest = max(len(r) - 2 for r in routes)
            if S_ > max(1, longest // 2 + 1):
                S_ = 1
            if it % restart_every == 0:  # restart from the best now and then, at a random place
                R_ = int(self.rng.integers(0, 1000))
                routes = [list(r) for r in best]
                free = self.free_nodes(routes)
        return best, best_sc, it
