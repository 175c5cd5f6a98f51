"""The rep's day: eight visits around two appointments, planned for the whole team.

Two layers share one routing engine:

* :func:`route` -- a generic prize-collecting vehicle-routing engine on integer
  matrices (OR-Tools routing): optional nodes with a prize (the penalty for
  dropping them), mandatory nodes, a time dimension with windows on the start
  of service, per-vehicle start/end depots and times, an optional lunch break,
  counting dimensions for a visit mix (soft caps) and a visit limit, vehicles
  restricted per node, optional capacities and fixed vehicle costs.  The
  benchmarks (``benchmarks/optw.py``, ``benchmarks/vrptw.py``) call exactly
  this function.
  Search: a prize-aware insertion with string-removal shaking (iterated local
  search after Vansteenwegen et al. 2009, numpy) builds the start, then
  OR-Tools guided local search improves it (see :class:`SearchOptions`).
* :func:`solve` -- the team's day: :class:`DayProblem` (accounts, reps,
  offices, a date) and :class:`DayOptions` -> :class:`DayPlan` (stops per rep,
  every account accounted for, KPIs, ``SolveReport``).
* :func:`replan` -- the rest of one rep's day after some visits are done and
  a new appointment came in (finished visits untouched).

Objective of :func:`route` (lexicographic through scaling): maximise the prize
collected (dropped optional nodes cost ``prize * prize_scale``; a dropped
mandatory node costs more than every optional prize together; exceeding a mix
cap costs more than any single prize), then minimise travel cost (and fixed
vehicle cost when given).  Nothing is ever infeasible: a mandatory node that
cannot be served is dropped and reported, so the plan is the closest one and
``SolveReport.violated`` names what was not met.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from planner import schema as S
from planner.plans import ProgressFn, SolveReport, no_progress

__all__ = ["RoutingModel", "SearchOptions", "RouteResult", "route",
           "DayProblem", "DayOptions", "DayPlan", "solve", "replan", "KINDS"]

KINDS: tuple[str, ...] = ("new", "follow-up", "closing")  # visit types = account stages


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


@dataclass(frozen=True)
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
    OR-Tools neighbourhoods that exchange visited and unvisited nodes;
    ``iterated_local_search`` the OR-Tools ruin-and-recreate loop.
    ``prize_insertion`` (default on; skipped with lunch breaks and when every
    visit is mandatory, i.e. a plain VRP with nothing to select) first runs a
    prize-aware insertion heuristic with string-removal shaking (iterated
    local search after Vansteenwegen et al. 2009) for ``prize_insertion_share``
    of the time (``solution_limit`` iterations when a solution limit is set);
    its best plan is the start of the OR-Tools search.  While shaking, the
    insertion ratios are multiplied by a random factor in
    ``1 +- insertion_noise`` (seeded by ``seed``).
    """

    time_limit_s: float = 10.0
    seed: int = 0
    solution_limit: int | None = None
    restarts: int = 2
    strategies: tuple[str, ...] | None = None
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    prize_scale: int | None = None
    extra_operators: bool = True
    iterated_local_search: bool = False
    prize_insertion: bool = True
    prize_insertion_share: float = 0.85
    insertion_noise: float = 0.2
    log: bool = False

    def __post_init__(self) -> None:
        if not (self.time_limit_s > 0):
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.solution_limit is not None and self.solution_limit < 1:
            raise ValueError(f"solution_limit must be >= 1, got {self.solution_limit}")
        if self.strategies is not None:
            from ortools.constraint_solver import routing_enums_pb2

            bad = [x for x in self.strategies if x not in routing_enums_pb2.FirstSolutionStrategy.Value.keys()]
            if bad or not self.strategies:
                raise ValueError(f"strategies: unknown OR-Tools first-solution strategies {bad}")
        if not (0.0 <= self.insertion_noise < 1.0):
            raise ValueError(f"insertion_noise must be in [0, 1), got {self.insertion_noise}")
        if not (0.0 <= self.prize_insertion_share < 1.0):
            raise ValueError(f"prize_insertion_share must be in [0, 1), got {self.prize_insertion_share}")
        if self.restarts < 1:
            raise ValueError(f"restarts must be >= 1, got {self.restarts}")
        if self.metaheuristic not in ("GUIDED_LOCAL_SEARCH", "SIMULATED_ANNEALING", "TABU_SEARCH",
                                      "GENERIC_TABU_SEARCH", "GREEDY_DESCENT"):
            raise ValueError(f"metaheuristic {self.metaheuristic!r} is not an OR-Tools local search metaheuristic")


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


def _build(m: RoutingModel, prize_scale: int):
    from ortools.constraint_solver import pywrapcp

    n = len(m.service)
    nv = m.n_vehicles
    mgr = pywrapcp.RoutingIndexManager(n, nv, [int(s) for s in m.starts], [int(e) for e in m.ends])
    rt = pywrapcp.RoutingModel(mgr)
    travel = np.asarray(m.travel, dtype=np.int64)
    service = np.asarray(m.service, dtype=np.int64)
    transit = (travel + service[:, None]).tolist()
    cost = (np.asarray(m.cost, dtype=np.int64) if m.cost is not None else travel).tolist()

    def t_cb(i, j):
        return transit[mgr.IndexToNode(i)][mgr.IndexToNode(j)]

    def c_cb(i, j):
        return cost[mgr.IndexToNode(i)][mgr.IndexToNode(j)]

    t_idx = rt.RegisterTransitCallback(t_cb)
    c_idx = rt.RegisterTransitCallback(c_cb)
    rt.SetArcCostEvaluatorOfAllVehicles(c_idx)
    if m.fixed_cost:
        rt.SetFixedCostOfAllVehicles(int(m.fixed_cost))
    horizon = int(max(max(m.vehicle_close), int(np.max(m.close)))) + 1
    rt.AddDimension(t_idx, horizon, horizon, False, "time")
    tdim = rt.GetDimensionOrDie("time")
    visits = m.visit_nodes
    for i in visits:
        tdim.CumulVar(mgr.NodeToIndex(i)).SetRange(int(m.open[i]), int(max(m.open[i], m.close[i])))
    for v in range(nv):
        tdim.CumulVar(rt.Start(v)).SetRange(int(m.vehicle_open[v]), int(m.vehicle_close[v]))
        tdim.CumulVar(rt.End(v)).SetRange(int(m.vehicle_open[v]), int(m.vehicle_close[v]))
    if m.lunch is not None and any(b is not None for b in m.lunch):
        solver = rt.solver()
        node_visit = [int(service[mgr.IndexToNode(k)]) if not rt.IsEnd(k) else 0 for k in range(rt.Size())]
        node_visit += [0] * (rt.Size() + nv - len(node_visit))
        for v, b in enumerate(m.lunch):
            if b is None:
                continue
            iv = solver.FixedDurationIntervalVar(int(b[0]), int(b[1]), int(b[2]), False, f"lunch {v}")
            tdim.SetBreakIntervalsOfVehicle([iv], v, node_visit[:rt.Size()])
    # visit counts and mix
    if m.max_visits is not None or m.kind_caps is not None:
        depot_set = set(m.starts) | set(m.ends)
        ones = rt.RegisterUnaryTransitCallback(lambda i: 0 if mgr.IndexToNode(i) in depot_set else 1)
        caps = list(m.max_visits) if m.max_visits is not None else [len(visits)] * nv
        rt.AddDimensionWithVehicleCapacity(ones, 0, [int(c) for c in caps], True, "visits")
    depot_set = set(m.starts) | set(m.ends)
    if m.kind_caps is not None and m.kind is not None:
        kinds = np.asarray(m.kind)
        for k in range(len(m.kind_caps[0])):
            flags = [1 if (node not in depot_set and kinds[node] == k) else 0 for node in range(n)]
            cb = rt.RegisterUnaryTransitCallback(lambda i, f=flags: f[mgr.IndexToNode(i)])
            rt.AddDimension(cb, 0, len(visits), True, f"kind{k}")
            kd = rt.GetDimensionOrDie(f"kind{k}")
            for v in range(nv):
                kd.SetCumulVarSoftUpperBound(rt.End(v), int(m.kind_caps[v][k]), int(prize_scale * (int(np.max(m.prize)) + 1)))
    if m.demand is not None and m.capacity is not None:
        dem = [int(x) for x in m.demand]
        d_idx = rt.RegisterUnaryTransitCallback(lambda i: dem[mgr.IndexToNode(i)])
        rt.AddDimensionWithVehicleCapacity(d_idx, 0, [int(c) for c in m.capacity], True, "load")
    mand = np.zeros(n, bool) if m.mandatory is None else np.asarray(m.mandatory, bool)
    big = prize_scale * (int(np.sum(m.prize)) + 1) * 10
    for i in visits:
        idx = mgr.NodeToIndex(i)
        pen = big if mand[i] else int(m.prize[i]) * prize_scale
        rt.AddDisjunction([idx], int(pen))
        if m.allowed is not None and m.allowed[i] is not None:
            rt.VehicleVar(idx).SetValues([-1] + [int(v) for v in m.allowed[i]])
    for v in range(nv):
        rt.AddVariableMinimizedByFinalizer(tdim.CumulVar(rt.End(v)))
        rt.AddVariableMaximizedByFinalizer(tdim.CumulVar(rt.Start(v)))
    return mgr, rt, tdim


_EXTRA_OPS = ("use_extended_swap_active", "use_relocate_and_make_active", "use_exchange_and_make_active",
              "use_inactive_lns", "use_path_lns", "use_global_cheapest_insertion_close_nodes_lns",
              "use_local_cheapest_insertion_close_nodes_lns", "use_relocate_neighbors", "use_cross_exchange")


def _params(strategy: str, meta: str, seconds: float, solution_limit: int | None, log: bool,
            extra: bool = False, ils: bool = False):
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


def route(model: RoutingModel, options: SearchOptions = SearchOptions(),
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
    ub_travel = int(sum(max(0, c - o) for o, c in zip(model.vehicle_open, model.vehicle_close)))
    cost_m = model.cost if model.cost is not None else model.travel
    ub_cost = max(ub_travel, int(np.max(cost_m)) * (len(model.service) + model.n_vehicles)) \
        if model.cost is not None else ub_travel
    ub_cost += int(model.fixed_cost) * model.n_vehicles
    prize_scale = options.prize_scale if options.prize_scale is not None else ub_cost + 1
    mgr, rt, tdim = _build(model, prize_scale)
    # restarts: guided local search from several construction strategies, each for its share of
    # the time; the best plan wins (each start falls into a different local optimum)
    best, best_obj = None, None
    strategies = options.strategies or _STRATEGIES[: options.restarts]
    has_lunch = model.lunch is not None and any(b is not None for b in model.lunch)
    all_mandatory = model.mandatory is not None and bool(np.asarray(model.mandatory)[model.visit_nodes].all())
    if options.prize_insertion and not has_lunch and not all_mandatory and options.prize_insertion_share > 0:
        progress(0.0, "prize-aware insertion and shaking")
        ils = _Ils(model, np.random.default_rng(options.seed), options.insertion_noise)
        ils_routes, _, _ = ils.run(options.time_limit_s * options.prize_insertion_share,
                                   options.solution_limit)
        init = rt.ReadAssignmentFromRoutes([[mgr.NodeToIndex(int(x)) for x in r[1:-1]] for r in ils_routes], True)
        if init is not None:
            left = options.time_limit_s - (time.perf_counter() - t0)
            p = _params(strategies[0], options.metaheuristic, max(0.05, left), options.solution_limit, options.log,
                        options.extra_operators, options.iterated_local_search)
            progress(0.6, f"improving ({options.metaheuristic.lower()})")
            sol = rt.SolveFromAssignmentWithParameters(init, p)
            best, best_obj = init, init.ObjectiveValue()
            if sol is not None and sol.ObjectiveValue() <= best_obj:
                best, best_obj = sol, sol.ObjectiveValue()
            strategies = ()
    for k, strat in enumerate(strategies):
        left = options.time_limit_s - (time.perf_counter() - t0)
        if left <= 0.05 and best is not None:
            break
        share = max(0.05, left / (len(strategies) - k))
        progress(k / len(strategies), f"search {k + 1}/{len(strategies)}: {strat.lower()} + {options.metaheuristic.lower()}")
        p = _params(strat, options.metaheuristic, share, options.solution_limit, options.log,
                    options.extra_operators, options.iterated_local_search)
        sol = rt.SolveWithParameters(p)
        if sol is not None and (best_obj is None or sol.ObjectiveValue() < best_obj):
            best, best_obj = sol, sol.ObjectiveValue()
    seconds = time.perf_counter() - t0
    if best is None:
        return RouteResult((), tuple(model.visit_nodes), 0, 0,
                           SolveReport("time_limit_no_solution", seconds=seconds, solver="ortools-routing",
                                       message="no first solution within the time limit"))
    # re-read with cumuls
    routes, served = [], set()
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
    prize = int(sum(int(model.prize[i]) for i in served))
    mand = np.zeros(len(model.service), bool) if model.mandatory is None else np.asarray(model.mandatory, bool)
    missed = [i for i in dropped if mand[i]]
    violated = (f"{len(missed)} mandatory visit(s) could not be served: nodes {missed}",) if missed else ()
    progress(1.0, "done")
    return RouteResult(tuple(routes), dropped, prize, travel,
                       SolveReport("partial" if missed else "feasible", objective=float(prize), seconds=seconds,
                                   solver="ortools-routing", violated=violated,
                                   message=f"travel {travel}, objective {best_obj}"))


def _routes_of(rt, sol) -> list[list[int]]:
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
# the team's day
# ---------------------------------------------------------------------------
_CLASS_W = {"A": 3.0, "B": 2.0, "C": 1.0}
_STAGE_W = {"new": 1.0, "follow-up": 1.3, "closing": 1.8}


@dataclass(frozen=True, eq=False)
class DayProblem:
    """The team's day: canonical ``accounts``, ``reps``, ``offices`` and the ``date``.

    Appointments are the accounts whose ``appt_start``/``appt_end`` fall on
    ``date`` (owner = the rep who booked them).  ``rep_ids`` restricts the plan
    to some reps (default: every rep who owns an account or has an appointment).
    ``territories`` optionally maps a rep id to the pool account ids the rep may
    take (in addition to those within the radius).  ``starts`` maps a rep id
    to ``(lon, lat, time)``: the rep starts from there at that time instead of
    leaving the base office (re-planning during the day); ``exclude`` maps
    account ids to a reason they are not to be planned (done, planned for
    another rep).
    """

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    date: pd.Timestamp
    rep_ids: tuple[str, ...] | None = None
    territories: Mapping[str, frozenset] | None = None
    starts: Mapping[str, tuple[float, float, pd.Timestamp]] | None = None
    exclude: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "date", pd.Timestamp(self.date).normalize())
        problems = []
        for tname, tab, cols in (("accounts", self.accounts, (S.ID, S.LON, S.LAT, S.OWNER, S.STAGE)),
                                 ("reps", self.reps, (S.ID, S.BASE_OFFICE)),
                                 ("offices", self.offices, (S.ID, S.LON, S.LAT))):
            miss = [c for c in cols if c not in tab.columns]
            if miss:
                problems.append(f"{tname}: missing column(s) {', '.join(miss)}")
        if problems:
            raise ValueError("; ".join(problems))
        office_ids = set(self.offices[S.ID])
        for i, r in self.reps.iterrows():
            if r[S.BASE_OFFICE] not in office_ids:
                problems.append(f"reps row {r.get(S.SOURCE_ROW, i)} ({r[S.ID]}): base_office "
                                f"{r[S.BASE_OFFICE]!r} is not an office id")
        if self.rep_ids is not None:
            unknown = sorted(set(self.rep_ids) - set(self.reps[S.ID]))
            if unknown:
                problems.append(f"rep_ids: unknown rep(s) {', '.join(unknown)}")
        if S.APPT_START in self.accounts.columns and S.APPT_END in self.accounts.columns:
            a = self.accounts
            bad = a[a[S.APPT_START].notna() & (a[S.APPT_END].isna() | (a[S.APPT_END] <= a[S.APPT_START]))]
            for i, r in bad.iterrows():
                problems.append(f"accounts row {r.get(S.SOURCE_ROW, i)} ({r[S.ID]}): appt_end must be after appt_start")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class DayOptions:
    """Settings of the day (minutes from midnight, keyword-only)."""

    day_start_min: int = 8 * 60
    day_end_min: int = 18 * 60
    service_min: Mapping[str, int] = field(default_factory=lambda: {"new": 30, "follow-up": 40, "closing": 60})
    mix: Mapping[str, int] = field(default_factory=lambda: {"new": 4, "follow-up": 2, "closing": 2})
    visits_per_day: int = 8
    lunch_min: int = 0
    lunch_window_min: tuple[int, int] = (11 * 60 + 30, 13 * 60 + 30)
    pool_radius_m: float = 20_000.0
    follow_up_due_days: int = 14
    closing_due_days: int = 7
    candidates_per_slot: int = 3
    # a visit of prize 1000 (a B-class follow-up, about) is worth this many minutes of driving
    appointment_slack_min: int = 0
    prize_worth_travel_min: float = 180.0
    time_limit_s: float = 10.0
    seed: int = 0
    solution_limit: int | None = None

    def __post_init__(self) -> None:
        p = []
        if not (self.prize_worth_travel_min > 0):
            p.append(f"prize_worth_travel_min must be > 0, got {self.prize_worth_travel_min}")
        if not (0 <= self.day_start_min < self.day_end_min <= 24 * 60):
            p.append(f"day_start_min/day_end_min: need 0 <= {self.day_start_min} < {self.day_end_min} <= 1440")
        for k in KINDS:
            if k not in self.service_min or self.service_min[k] < 0:
                p.append(f"service_min: needs a non-negative value for {k!r}")
            if k not in self.mix or self.mix[k] < 0:
                p.append(f"mix: needs a non-negative count for {k!r}")
        if self.visits_per_day < 1:
            p.append(f"visits_per_day must be >= 1, got {self.visits_per_day}")
        if self.lunch_min < 0 or self.lunch_window_min[0] > self.lunch_window_min[1]:
            p.append("lunch_min/lunch_window_min: need lunch_min >= 0 and an ordered window")
        if self.pool_radius_m < 0:
            p.append(f"pool_radius_m must be >= 0, got {self.pool_radius_m}")
        if self.candidates_per_slot < 1:
            p.append(f"candidates_per_slot must be >= 1, got {self.candidates_per_slot}")
        if not (self.time_limit_s > 0):
            p.append(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.appointment_slack_min < 0:
            p.append(f"appointment_slack_min must be >= 0, got {self.appointment_slack_min}")
        if p:
            raise ValueError("; ".join(p))


@dataclass(frozen=True, eq=False)
class DayPlan:
    """``stops``: one row per stop (rep, seq, account, kind, times, travel);
    ``left_out``: every account not planned, with the reason; ``kpis``: one row
    per rep (visits, mix, appointments, "3-5-8", travel share, return time);
    ``contested``: pool prospects offered to several reps, with the rep who got
    them (for the others: "taken by another rep")."""

    date: pd.Timestamp
    stops: pd.DataFrame
    left_out: pd.DataFrame
    kpis: pd.DataFrame
    report: SolveReport
    options: DayOptions
    contested: pd.DataFrame | None = None

    def summary(self) -> dict:
        k = self.kpis
        return {"date": str(self.date.date()), "reps": int(len(k)),
                "visits": int(k["visits"].sum()) if len(k) else 0,
                "appointments_kept": int(k["appointments_kept"].sum()) if len(k) else 0,
                "appointments_booked": int(k["appointments_booked"].sum()) if len(k) else 0,
                "new_visits": int(k["new"].sum()) if len(k) else 0,
                "left_out_reasons": self.left_out["reason_code"].value_counts().to_dict(),
                "taken_by_another_rep": 0 if self.contested is None else int(len(self.contested)),
                "report": self.report.to_dict()}


def prize_of(accounts: pd.DataFrame, date: pd.Timestamp, options: DayOptions) -> np.ndarray:
    """Prize per account: class x potential x stage x overdue-ness (integers, ~100-1500)."""
    cls = accounts.get(S.CLASS, pd.Series("C", index=accounts.index)).map(_CLASS_W).fillna(1.0).to_numpy()
    pot = accounts.get(S.POTENTIAL_CNY, pd.Series(0.0, index=accounts.index)).fillna(0.0).to_numpy(float)
    stage = accounts[S.STAGE].map(_STAGE_W).fillna(1.0).to_numpy()
    due = accounts[S.STAGE].map({"follow-up": options.follow_up_due_days,
                                 "closing": options.closing_due_days}).to_numpy(float)
    last = accounts.get(S.LAST_VISIT, pd.Series(pd.NaT, index=accounts.index))
    days = (date - pd.to_datetime(last)).dt.days.to_numpy(float)
    over = np.where(np.isnan(due) | np.isnan(days), 0.0, np.clip((days - np.nan_to_num(due)) / np.nan_to_num(due, nan=1) , 0, 1))
    val = cls * (1.0 + np.log1p(pot / 10_000.0) / 2.0) * stage * (1.0 + over)
    return np.maximum(1, np.round(100 * val)).astype(np.int64)


def _hav_m(lon1, lat1, lon2, lat2):
    from planner.travel import haversine_matrix_m
    return haversine_matrix_m(np.column_stack([lon1, lat1]), np.column_stack([lon2, lat2]))


def solve(problem: DayProblem, options: DayOptions = DayOptions(), progress: ProgressFn = no_progress) -> DayPlan:
    """Plan the day of every rep in one routing solve.

    Objective: maximise the prize of the visits (class, potential, stage,
    overdue-ness), then minimise travel.  Constraints: leave the base office
    no earlier than ``day_start_min`` and be back by ``day_end_min``; visits
    start inside their windows (appointments: at the booked time); at most
    ``visits_per_day`` visits; the mix (``mix``) as soft caps per visit type
    (exceeded only by appointments); optional lunch break; a pool prospect is
    offered only to reps whose appointments (or base, without appointments)
    lie within ``pool_radius_m`` or whose territory holds it, and goes to one
    rep at most.  Appointments are mandatory: one that cannot be kept is
    dropped, given a reason in ``left_out`` and named in ``report.violated``.
    Every account is either a stop or a ``left_out`` row with a reason.
    """
    from planner.travel import travel_matrix

    t0 = time.perf_counter()
    o = options
    acc = problem.accounts.reset_index(drop=True)
    date = problem.date
    reps = problem.reps
    if problem.rep_ids is not None:
        plan_reps = list(problem.rep_ids)
    else:
        owners = set(acc[S.OWNER])
        plan_reps = [r for r in reps[S.ID] if r in owners]
    rep_row = reps.set_index(S.ID)
    off = problem.offices.set_index(S.ID)
    progress(0.0, f"selecting candidates for {len(plan_reps)} reps")
    prize = prize_of(acc, date, o)
    has_appt = acc[S.APPT_START].notna() if S.APPT_START in acc.columns else pd.Series(False, index=acc.index)
    on_day = has_appt & (pd.to_datetime(acc[S.APPT_START]).dt.normalize() == date) if has_appt.any() else has_appt
    last = pd.to_datetime(acc.get(S.LAST_VISIT, pd.Series(pd.NaT, index=acc.index)))
    days_since = (date - last).dt.days
    due_days = acc[S.STAGE].map({"follow-up": o.follow_up_due_days, "closing": o.closing_due_days})
    is_due = days_since.isna() | (days_since >= due_days)
    lon = acc[S.LON].to_numpy(float)
    lat = acc[S.LAT].to_numpy(float)
    pool_mask = (acc[S.OWNER] == S.PUBLIC_POOL).to_numpy()
    reason: dict[int, tuple[str, str]] = {}
    cand_for: dict[int, list[str]] = {}     # account row -> reps offered
    appt_rows: dict[int, str] = {}
    near_any = np.zeros(len(acc), bool)
    for r in plan_reps:
        base = off.loc[rep_row.loc[r, S.BASE_OFFICE]]
        own = (acc[S.OWNER] == r).to_numpy()
        appts = np.flatnonzero(own & on_day.to_numpy())
        for i in appts:
            appt_rows[i] = r
        anchors = np.column_stack([lon[appts], lat[appts]]) if len(appts) else np.array([[base[S.LON], base[S.LAT]]])
        d_anchor = _hav_m(lon, lat, anchors[:, 0], anchors[:, 1]).min(axis=1)
        rank = prize / (1.0 + d_anchor / 10_000.0)
        chosen = []
        for k in KINDS:
            cap = o.mix[k] * o.candidates_per_slot
            if k == "new":
                terr = problem.territories.get(r, frozenset()) if problem.territories else frozenset()
                in_terr = acc[S.ID].isin(terr).to_numpy() if terr else np.zeros(len(acc), bool)
                ok = ((pool_mask & ((d_anchor <= o.pool_radius_m) | in_terr)) | (own & (acc[S.STAGE] == "new").to_numpy()))
                near_any |= ok & pool_mask
            else:
                ok = own & (acc[S.STAGE] == k).to_numpy() & is_due.to_numpy()
            ok &= ~on_day.to_numpy()
            idx = np.flatnonzero(ok)
            idx = idx[np.argsort(-rank[idx], kind="stable")][:cap]
            chosen.extend(idx.tolist())
        for i in chosen:
            cand_for.setdefault(i, []).append(r)
    excluded = {}
    if problem.exclude:
        ex_ids = set(problem.exclude)
        for i in np.flatnonzero(acc[S.ID].isin(ex_ids).to_numpy()):
            excluded[int(i)] = problem.exclude[acc.at[i, S.ID]]
            cand_for.pop(int(i), None)
            appt_rows.pop(int(i), None)
    appt_set = set(appt_rows)
    cand_rows = sorted(set(cand_for) | appt_set)
    progress(0.1, f"{len(cand_rows)} candidates; travel times")
    # nodes: bases first, then re-planning starts, then candidates
    base_ids = sorted({rep_row.loc[r, S.BASE_OFFICE] for r in plan_reps})
    base_node = {b: i for i, b in enumerate(base_ids)}
    custom = [r for r in plan_reps if problem.starts and r in problem.starts]
    depot_pts = [[off.loc[b, S.LON], off.loc[b, S.LAT]] for b in base_ids] + \
        [[float(problem.starts[r][0]), float(problem.starts[r][1])] for r in custom]
    depot_names = ["base office"] * len(base_ids) + ["now (after the finished visits)"] * len(custom)
    depot_ids = list(base_ids) + ["current position"] * len(custom)
    nb = len(depot_pts)
    pts = np.array(depot_pts + [[lon[i], lat[i]] for i in cand_rows], float).reshape(-1, 2)
    stops_cols = ["rep", "seq", S.ID, S.NAME, "kind", "appointment", S.LON, S.LAT, "arrival", "start",
                  "departure", "travel_min", "prize"]
    if not plan_reps:
        empty = pd.DataFrame(columns=stops_cols)
        lo = _left_out_frame(acc, {i: ("no_rep", "no rep planned") for i in range(len(acc))})
        return DayPlan(date, empty, lo, _kpis(empty, {}, [], o, {}),
                       SolveReport("feasible", seconds=time.perf_counter() - t0, solver="ortools-routing",
                                   message="no rep to plan"), o)
    # whole minutes (rounded up), so every time on the plan is a clock minute
    tt = (np.ceil(travel_matrix(pts).time_s.astype(np.float64) / 60.0) * 60).astype(np.int64)
    n = len(pts)
    day0 = int(o.day_start_min * 60)
    day1 = int(o.day_end_min * 60)
    service = np.zeros(n, np.int64)
    open_ = np.full(n, day0, np.int64)
    close = np.full(n, day1, np.int64)
    prize_n = np.zeros(n, np.int64)
    kind_n = np.full(n, -1, np.int64)
    mand = np.zeros(n, bool)
    allowed: list = [None] * n
    vidx = {r: v for v, r in enumerate(plan_reps)}
    for j, i in enumerate(cand_rows):
        node = nb + j
        st = acc.at[i, S.STAGE]
        kind_n[node] = KINDS.index(st) if st in KINDS else 0
        prize_n[node] = prize[i]
        if i in appt_set:
            a0 = pd.Timestamp(acc.at[i, S.APPT_START])
            a1 = pd.Timestamp(acc.at[i, S.APPT_END])
            s0 = int((a0 - date).total_seconds())
            open_[node] = s0
            close[node] = s0 + o.appointment_slack_min * 60
            service[node] = int((a1 - a0).total_seconds())
            mand[node] = True
            allowed[node] = (vidx[appt_rows[i]],)
        else:
            service[node] = int(o.service_min[st] * 60) if st in o.service_min else 30 * 60
            close[node] = day1 - service[node]
            allowed[node] = tuple(vidx[r] for r in cand_for[i])
    ends = tuple(base_node[rep_row.loc[r, S.BASE_OFFICE]] for r in plan_reps)
    starts = tuple(len(base_ids) + custom.index(r) if r in custom else ends[v] for v, r in enumerate(plan_reps))
    vopen = tuple(min(day1, max(0, int((pd.Timestamp(problem.starts[r][2]) - date).total_seconds())))
                  if r in custom else day0 for r in plan_reps)
    lunch = None
    if o.lunch_min > 0:
        lunch = tuple((o.lunch_window_min[0] * 60, o.lunch_window_min[1] * 60, o.lunch_min * 60) for _ in plan_reps)
    model = RoutingModel(travel=tt, service=service, open=open_, close=close, prize=prize_n, starts=starts,
                         ends=ends, vehicle_open=vopen, vehicle_close=(day1,) * len(plan_reps),
                         mandatory=mand, kind=kind_n,
                         kind_caps=tuple(tuple(int(o.mix[k]) for k in KINDS) for _ in plan_reps),
                         max_visits=(int(o.visits_per_day),) * len(plan_reps), allowed=tuple(allowed), lunch=lunch)
    # the search gets what is left of the time limit, less a margin for writing the plan
    remaining = max(0.5, 0.75 * (o.time_limit_s - (time.perf_counter() - t0)))
    res = route(model, SearchOptions(time_limit_s=remaining, seed=o.seed, solution_limit=o.solution_limit,
                                     strategies=("PARALLEL_CHEAPEST_INSERTION",),
                                     prize_scale=max(1, round(o.prize_worth_travel_min * 60 / 1000))),
                progress=lambda f, m: progress(None if f is None else 0.15 + 0.8 * f, m))
    # stops
    rows = []
    served: dict[int, str] = {}
    counts: dict[str, dict[str, int]] = {}
    for v, stops in enumerate(res.routes):
        r = plan_reps[v]
        counts[r] = {k: 0 for k in KINDS}
        prev_node, prev_dep = stops[0][0], stops[0][1]
        for seq, (node, start) in enumerate(stops):
            is_depot = seq == 0 or seq == len(stops) - 1
            trav = 0 if seq == 0 else int(tt[prev_node, node])
            arrival = prev_dep + trav if seq else start
            if is_depot:
                if len(stops) == 2:
                    continue
                rows.append((r, seq, depot_ids[node], depot_names[node] if seq == 0 else "evening review", "base", False,
                             float(pts[node, 0]), float(pts[node, 1]), arrival, max(start, arrival),
                             max(start, arrival), trav / 60.0, 0))
                prev_node, prev_dep = node, max(start, arrival)
                continue
            i = cand_rows[node - nb]
            served[i] = r
            k = KINDS[kind_n[node]]
            counts[r][k] += 1
            start = max(start, arrival)
            dep = start + int(service[node])
            rows.append((r, seq, acc.at[i, S.ID], acc.at[i, S.NAME] if S.NAME in acc.columns else "", k, bool(mand[node]),
                         float(lon[i]), float(lat[i]), arrival, start, dep, trav / 60.0, int(prize_n[node])))
            prev_node, prev_dep = node, dep
    stops_df = pd.DataFrame(rows, columns=stops_cols)
    for c in ("arrival", "start", "departure"):
        stops_df[c] = date + pd.to_timedelta(stops_df[c].astype("int64"), unit="s")
    # reasons for everything else
    node_of = {i: nb + j for j, i in enumerate(cand_rows)}
    violated = []
    for i in range(len(acc)):
        if i in served:
            continue
        own = acc.at[i, S.OWNER]
        if i in excluded:
            reason[i] = ("excluded", excluded[i])
        elif i in appt_set:
            node = node_of[i]
            v = vidx[appt_rows[i]]
            earliest = vopen[v] + int(tt[starts[v], node])
            back = int(close[node]) + int(service[node]) + int(tt[node, ends[v]])
            if earliest > close[node]:
                why = (f"appointment cannot be kept: earliest arrival {_hm(earliest)} is after the booked start "
                       f"{_hm(int(close[node]))}")
            elif back > day1:
                why = (f"appointment cannot be kept: back at the office at {_hm(back)}, after the end of the day "
                       f"{_hm(day1)}")
            else:
                why = "appointment cannot be kept: it conflicts with another appointment"
            reason[i] = ("appointment", why)
            violated.append(f"{appt_rows[i]}: {acc.at[i, S.ID]} {why}")
        elif i in cand_for:
            node = node_of[i]
            takers = cand_for[i]
            k = KINDS[kind_n[node]]
            fits = [r for r in takers
                    if vopen[vidx[r]] + tt[starts[vidx[r]], node] <= close[node]
                    and max(vopen[vidx[r]] + tt[starts[vidx[r]], node], open_[node]) + service[node]
                    + tt[node, ends[vidx[r]]] <= day1]
            if not fits:
                reason[i] = ("window", f"cannot fit in the day: {tt[starts[vidx[takers[0]]], node] / 60:.0f} min "
                                       f"from the base each way with its {service[node] / 60:.0f} min visit")
            elif all(counts.get(r, {}).get(k, 0) >= o.mix[k] for r in fits):
                reason[i] = ("mix", f"mix: {o.mix[k]} {k} visit(s) already planned for {', '.join(fits)}")
            elif all(sum(counts.get(r, {}).values()) >= o.visits_per_day for r in fits):
                reason[i] = ("mix", f"visit limit: {o.visits_per_day} visits already planned for {', '.join(fits)}")
            else:
                reason[i] = ("time", f"time: no room left in the day of {', '.join(fits)} (lower prize than the visits planned)")
        elif own == S.PUBLIC_POOL:
            if near_any[i]:
                reason[i] = ("not_selected", "pool prospect near a rep but lower priority than the candidates offered")
            else:
                reason[i] = ("radius", f"pool prospect outside {o.pool_radius_m / 1000:.0f} km of every rep's "
                                       f"appointments and outside the territories")
        elif own not in vidx:
            reason[i] = ("no_rep", f"owner {own} is not in the plan")
        elif on_day.iat[i]:
            reason[i] = ("appointment", "appointment on this date is not in the plan")
        elif acc.at[i, S.STAGE] in ("follow-up", "closing") and not is_due.iat[i]:
            reason[i] = ("not_due", f"not due: last visit {int(days_since.iat[i])} day(s) ago")
        else:
            reason[i] = ("not_selected", "lower priority than the candidates offered to its rep")
    # pool prospects a rep wanted but another rep got: served, so not here; mark the competition
    taken = []
    for i, rs in cand_for.items():
        if i in served and len(rs) > 1:
            taken.append((i, served[i], [r for r in rs if r != served[i]]))
    left = _left_out_frame(acc, reason)
    left["candidate_for"] = [", ".join(cand_for.get(i, [])) for i in left.index]
    left = left.reset_index(drop=True)
    if taken:
        extra = pd.DataFrame([{S.ID: acc.at[i, S.ID], S.OWNER: acc.at[i, S.OWNER], "reason_code": "taken",
                               "reason": f"taken by another rep ({by})", "candidate_for": ", ".join(others)}
                              for i, by, others in taken])
        taken_df = extra
    else:
        taken_df = pd.DataFrame(columns=[S.ID, S.OWNER, "reason_code", "reason", "candidate_for"])
    kpis = _kpis(stops_df, counts, plan_reps, o, {r: sum(1 for i, x in appt_rows.items() if x == r) for r in plan_reps})
    status = "partial" if violated else ("feasible" if res.report.status in ("feasible", "partial") else res.report.status)
    report = SolveReport(status, objective=float(res.prize), seconds=time.perf_counter() - t0,
                         solver="ortools-routing", violated=tuple(violated),
                         message=f"{len(plan_reps)} reps, {len(cand_rows)} candidates, {res.report.message}")
    progress(1.0, "done")
    return DayPlan(date, stops_df, left, kpis, report, o, taken_df)


def _hm(sec: int) -> str:
    sec = int(sec)
    return f"{sec // 3600:02d}:{(sec % 3600) // 60:02d}"


def _left_out_frame(acc: pd.DataFrame, reason: dict) -> pd.DataFrame:
    idx = sorted(reason)
    out = pd.DataFrame({S.ID: acc.loc[idx, S.ID].to_numpy(), S.OWNER: acc.loc[idx, S.OWNER].to_numpy(),
                        "reason_code": [reason[i][0] for i in idx], "reason": [reason[i][1] for i in idx]},
                       index=idx)
    return out


def _kpis(stops: pd.DataFrame, counts, plan_reps, o: DayOptions, booked) -> pd.DataFrame:
    rows = []
    for r in plan_reps:
        s = stops[stops["rep"] == r]
        v = s[s["kind"] != "base"]
        c = counts.get(r, {k: 0 for k in KINDS})
        if len(s):
            leave, back = s["departure"].iloc[0], s["arrival"].iloc[-1]
            span_min = (back - leave).total_seconds() / 60.0
        else:
            leave = back = pd.NaT
            span_min = 0.0
        travel = float(s["travel_min"].sum()) if len(s) else 0.0
        kept = int(v["appointment"].sum())
        rows.append({"rep": r, "visits": int(len(v)), **{k: int(c[k]) for k in KINDS},
                     "appointments_booked": int(booked.get(r, 0)), "appointments_kept": kept,
                     "standard_3_5_8": f"{kept}-{int(c['new'])}-{int(len(v))}",
                     "mix_met": all(c[k] >= o.mix[k] for k in KINDS),
                     "travel_min": round(travel, 1),
                     "travel_share": round(travel / span_min, 3) if span_min > 0 else 0.0,
                     "leave": leave, "return": back, "prize": int(v["prize"].sum()) if len(v) else 0})
    return pd.DataFrame(rows)


def replan(plan: DayPlan, problem: DayProblem, rep: str, *, done: Sequence[str], now: pd.Timestamp,
           new_appointments: pd.DataFrame | None = None, options: DayOptions | None = None,
           progress: ProgressFn = no_progress) -> DayPlan:
    """Re-plan the rest of one rep's day without touching the finished visits.

    ``done`` are account ids of ``rep``'s visits already made (stops of
    ``plan``, kept as they are, in their order); the rep is at the last of them
    (or at the base) at ``now``.  ``new_appointments`` (columns ``id``,
    ``appt_start``, ``appt_end``) adds or moves appointments (the account is
    given to ``rep`` for the day).  Accounts planned for other reps stay theirs.
    Returns a plan of ``rep`` alone: the finished stops, then the new ones.
    """
    o = options or plan.options
    mine = plan.stops[(plan.stops["rep"] == rep) & (plan.stops["kind"] != "base")].sort_values("seq")
    unknown = sorted(set(done) - set(mine[S.ID]))
    if unknown:
        raise ValueError(f"done: {', '.join(unknown)} are not stops of {rep} in the plan")
    finished = mine[mine[S.ID].isin(list(done))]
    now = pd.Timestamp(now)
    acc = problem.accounts.copy()
    if new_appointments is not None and len(new_appointments):
        miss = sorted(set(new_appointments[S.ID]) - set(acc[S.ID]))
        if miss:
            raise ValueError(f"new_appointments: unknown account id(s) {', '.join(miss)}")
        na = new_appointments.set_index(S.ID)
        hit = acc[S.ID].isin(na.index)
        acc.loc[hit, S.APPT_START] = pd.to_datetime(acc.loc[hit, S.ID].map(na[S.APPT_START]))
        acc.loc[hit, S.APPT_END] = pd.to_datetime(acc.loc[hit, S.ID].map(na[S.APPT_END]))
        acc.loc[hit, S.OWNER] = rep
    exclude = {a: f"visited earlier today by {rep}" for a in finished[S.ID]}
    others = plan.stops[(plan.stops["rep"] != rep) & (plan.stops["kind"] != "base")]
    exclude.update({a: f"planned for {r}" for a, r in zip(others[S.ID], others["rep"])})
    if len(finished):
        last = finished.iloc[-1]
        start = (float(last[S.LON]), float(last[S.LAT]), max(now, last["departure"]))
    else:
        b = problem.offices.set_index(S.ID).loc[problem.reps.set_index(S.ID).loc[rep, S.BASE_OFFICE]]
        start = (float(b[S.LON]), float(b[S.LAT]), now)
    sub = DayProblem(acc, problem.reps, problem.offices, problem.date, rep_ids=(rep,),
                     territories=problem.territories, starts={rep: start}, exclude=exclude)
    # the finished visits count towards the day's mix and visit limit
    left_mix = {k: max(0, o.mix[k] - int((finished["kind"] == k).sum())) for k in KINDS}
    import dataclasses

    o2 = dataclasses.replace(o, mix=left_mix, visits_per_day=max(1, o.visits_per_day - len(finished)))
    new = solve(sub, o2, progress)
    rest = new.stops.copy()
    head = plan.stops[(plan.stops["rep"] == rep) & (plan.stops["kind"] == "base")].sort_values("seq").head(1)
    fixed = pd.concat([head, finished], ignore_index=True)
    if len(rest):
        rest = rest.iloc[1:]  # drop the 'current position' start row
    stops = pd.concat([fixed, rest], ignore_index=True)
    stops["seq"] = range(len(stops))
    counts = {rep: {k: int((stops["kind"] == k).sum()) for k in KINDS}}
    booked = int(new.kpis["appointments_booked"].sum()) + int(finished["appointment"].sum())
    kpis = _kpis(stops, counts, [rep], o, {rep: booked})
    return DayPlan(plan.date, stops, new.left_out, kpis, new.report, o)


# ---------------------------------------------------------------------------
# prize-aware construction and iterated local search (Vansteenwegen et al. 2009 style)
# ---------------------------------------------------------------------------
class _Ils:
    """Insertion by ratio prize^2 / time used, and shaking by removing strings of visits.

    Works on the :class:`RoutingModel` directly (windows, vehicle windows, allowed
    vehicles, visit limit, hard mix caps, capacity); not used with lunch breaks.
    """

    def __init__(self, m: RoutingModel, rng: np.random.Generator, noise: float = 0.0):
        self.m = m
        self.noise = noise
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
        self.kind = None if m.kind is None or m.kind_caps is None else np.asarray(m.kind)
        self.dem = None if m.demand is None or m.capacity is None else np.asarray(m.demand, dtype=np.int64)

    def times(self, route, v):
        st = np.empty(len(route), np.int64)
        st[0] = self.m.vehicle_open[v]
        for k in range(1, len(route)):
            a, b = route[k - 1], route[k]
            st[k] = max(st[k - 1] + self.s[a] + self.T[a, b], self.o[b] if k < len(route) - 1 else 0)
        return st

    def feasible(self, route, v) -> bool:
        st = self.times(route, v)
        return bool(np.all(st[1:-1] <= self.c[route[1:-1]]) and st[-1] <= self.m.vehicle_close[v])

    def insert(self, routes, free: set):
        m = self.m
        while free:
            best = None
            J = np.array(sorted(free), dtype=np.int64)
            for v, r in enumerate(routes):
                if m.max_visits is not None and len(r) - 2 >= m.max_visits[v]:
                    continue
                Jv = J[self.ok_v[v, J]]
                if self.kind is not None:
                    cnt = np.bincount(self.kind[r[1:-1]], minlength=len(m.kind_caps[v])) if len(r) > 2 else \
                        np.zeros(len(m.kind_caps[v]), int)
                    Jv = Jv[cnt[self.kind[Jv]] < np.asarray(m.kind_caps[v])[self.kind[Jv]]]
                if self.dem is not None:
                    load = int(self.dem[r[1:-1]].sum())
                    Jv = Jv[load + self.dem[Jv] <= m.capacity[v]]
                if len(Jv) == 0:
                    continue
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
                arr_j = dep_a[None, :] + self.T[a][:, Jv].T               # (|J|, L-1)
                st_j = np.maximum(arr_j, self.o[Jv][:, None])
                shift = st_j + self.s[Jv][:, None] + self.T[Jv][:, b] - (dep_a + self.T[a, b])[None, :]
                ok = (st_j <= self.c[Jv][:, None]) & (shift <= (wait[1:] + ms[1:])[None, :])
                if not ok.any():
                    continue
                ratio = np.where(ok, self.p2[Jv][:, None] / (np.maximum(shift, 0) + 1.0), -1.0)
                if self._noisy:  # randomised insertion while shaking (diversification)
                    ratio = ratio * self.rng.uniform(1.0 - self.noise, 1.0 + self.noise, size=ratio.shape)
                jj, pp = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                if best is None or ratio[jj, pp] > best[0]:
                    best = (ratio[jj, pp], v, int(pp) + 1, int(Jv[jj]))
            if best is None:
                return
            _, v, pos, j = best
            routes[v].insert(pos, j)
            free.discard(j)

    def score(self, routes):
        pr = np.asarray(self.m.prize)
        served = [i for r in routes for i in r[1:-1]]
        return int(pr[served].sum()) + (0 if self.m.mandatory is None else
                                        int(np.asarray(self.m.mandatory)[served].sum()) * 10 ** 12), \
            -int(sum(self.T[a, b] for r in routes for a, b in zip(r[:-1], r[1:])))

    def run(self, seconds: float, max_iterations: int | None = None):
        m = self.m
        routes = [[m.starts[v], m.ends[v]] for v in range(m.n_vehicles)]
        free = set(int(i) for i in self.visits)
        self.insert(routes, free)
        best, best_sc = [list(r) for r in routes], self.score(routes)
        self._noisy = self.noise > 0
        t0 = time.perf_counter()
        S_, R_ = 1, 0
        it = 0
        while (time.perf_counter() - t0 < seconds) if max_iterations is None else it < max_iterations:
            it += 1
            for r in routes:  # shake: remove S_ consecutive visits from position R_
                n_in = len(r) - 2
                if n_in == 0:
                    continue
                start = 1 + (R_ % n_in)
                stop = min(start + S_, len(r) - 1)  # never the end depot
                removed = r[start:stop]
                del r[start:stop]
                free.update(removed)
            self.insert(routes, free)
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
            if it % 50 == 0:  # restart from the best now and then, at a random place
                R_ = int(self.rng.integers(0, 1000))
                routes = [list(r) for r in best]
                free = set(int(i) for i in self.visits) - {i for r in routes for i in r[1:-1]}
        return best, best_sc, it


def ride_along(plan: DayPlan, problem: DayProblem, supervisor: str, *, reps: Sequence[str] | None = None,
               time_limit_s: float = 2.0, seed: int = 0) -> tuple[DayPlan, pd.DataFrame]:
    """Plan a supervisor's day (陪访) joining visits of ``reps`` (default: the
    supervisor's reports, else every planned rep), newest reps first.

    Objective: the most joined visits, weighted by the rep's newness (the
    newest rep's visits weigh most; closings and appointments a little more),
    then the least travel.  The supervisor leaves his base office no earlier
    than the day's start, arrives at each joined visit by its planned start,
    stays for the whole visit and is back by the day's end (same engine,
    :func:`route`).  Returns the plan with a ``ride_along`` column on the
    stops (the supervisor's id where he joins) and the supervisor's itinerary.
    """
    if supervisor not in set(problem.reps[S.ID]):
        raise ValueError(f"supervisor: unknown rep id {supervisor!r}")
    rr = problem.reps.set_index(S.ID)
    if reps is None:
        mine = [r for r in plan.kpis["rep"] if S.MANAGER in rr.columns and rr.loc[r, S.MANAGER] == supervisor]
        reps = mine or [r for r in plan.kpis["rep"] if r != supervisor]
    reps = [r for r in reps if r != supervisor]
    if S.START_DATE in rr.columns:
        order = sorted(reps, key=lambda r: pd.Timestamp(rr.loc[r, S.START_DATE]) if pd.notna(rr.loc[r, S.START_DATE])
                       else pd.Timestamp.min, reverse=True)
    else:
        order = list(reps)
    rank = {r: k for k, r in enumerate(order)}
    st = plan.stops
    vis = st[st["rep"].isin(order) & (st["kind"] != "base")].reset_index()
    base = problem.offices.set_index(S.ID).loc[rr.loc[supervisor, S.BASE_OFFICE]]
    cols = ["supervisor", "rep", S.ID, S.NAME, "start", "departure", "travel_min"]
    o = plan.options
    if vis.empty:
        out = plan.stops.assign(ride_along="")
        return DayPlan(plan.date, out, plan.left_out, plan.kpis, plan.report, plan.options, plan.contested), \
            pd.DataFrame(columns=cols)
    from planner.travel import travel_matrix

    pts = np.vstack([[base[S.LON], base[S.LAT]], vis[[S.LON, S.LAT]].to_numpy(float)])
    tt = (np.ceil(travel_matrix(pts).time_s.astype(np.float64) / 60.0) * 60).astype(np.int64)
    start_s = ((vis["start"] - plan.date).dt.total_seconds()).astype(np.int64).to_numpy()
    dep_s = ((vis["departure"] - plan.date).dt.total_seconds()).astype(np.int64).to_numpy()
    n = len(pts)
    prize = np.zeros(n, np.int64)
    prize[1:] = [100 * (len(order) - rank[r]) + (20 if k in ("closing",) or a else 0)
                 for r, k, a in zip(vis["rep"], vis["kind"], vis["appointment"])]
    model = RoutingModel(travel=tt, service=np.concatenate([[0], dep_s - start_s]),
                         open=np.concatenate([[0], start_s]), close=np.concatenate([[0], start_s]), prize=prize,
                         starts=(0,), ends=(0,), vehicle_open=(o.day_start_min * 60,),
                         vehicle_close=(o.day_end_min * 60,))
    res = route(model, SearchOptions(time_limit_s=time_limit_s, seed=seed))
    rows, joined = [], {}
    prev = 0
    for node, t in res.routes[0][1:-1]:
        v = vis.iloc[node - 1]
        joined[int(v["index"])] = supervisor
        rows.append((supervisor, v["rep"], v[S.ID], v[S.NAME], v["start"], v["departure"], tt[prev, node] / 60.0))
        prev = node
    out = plan.stops.copy()
    out["ride_along"] = [joined.get(i, "") for i in out.index]
    return (DayPlan(plan.date, out, plan.left_out, plan.kpis, plan.report, plan.options, plan.contested),
            pd.DataFrame(rows, columns=cols))
