"""Contiguous territories: areas a supervisor can draw, balanced on up to three measures.

``solve_areas(problem, options)`` is what ``solve`` runs with ``contiguous`` on (the default for a
new design, when no planned account has an owner among the reps; an option for a realignment).

Model
-----
The planned accounts (free, locked or pinned to a rep of the plan; pool and kept-outside accounts are
left out before, as in ``model``) are grouped into basic units, Voronoi cells of the accounts clipped
to the land, with their adjacency graph (``planner.geo.units``: no adjacency across the sea, a
province border or a barrier line unless the graph would fall apart; each such link named in the
report). Each unit goes to one rep; the rep's units form one connected set of the graph
(``planner.solvers.territories.contiguous``). Measures per unit, balanced around each rep's share
within their tolerances:

- workload: ``sum_i v_i * (service_min + 2 * t(nearest base, i) / visits_per_day)`` minutes a month
  (the same for every rep, so that an area's workload does not depend on who gets it; the scattered
  solver charges each rep the trip from their own base instead);
- potential (CNY), within ``potential_tolerance``;
- accounts, within ``count_tolerance``; when it is not set, within the largest tolerance that keeps
  every rep within capacity (``max_accounts`` or the headroom), so capacities hold as in ``model``.

Objective: dispersion, ``sum_u workload_u * km(u, median unit of its territory)``, plus, for a
realignment, ``keep`` times the accounts moved (scaled so that ``keep = 1`` makes a moved account
cost its share of the mean dispersion). The bound is the district solver's (a p-median bound on
the dispersion: it ignores balance and contiguity, so the gap is an upper estimate). Locked
accounts and pins hold their unit to the rep (a unit holding locks of two reps keeps the first and
the report says so). ``max_moves`` is not modelled for areas: a plan that moves more says so (status
``partial``); ``keep`` is the lever.

From scratch (``keep = 0`` or no owners), territories are matched to reps afterwards: territories
built for the same share go to the reps whose bases are nearest (Hungarian assignment), so a rep's
area surrounds their base when the bases are spread out.

``options.districts``: the territories are then grouped into that many contiguous supervisor
districts with the same solver on the territory graph (balanced on workload within ``tolerance``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from planner.geo import travel, units as geo_units
from planner.geo.backends import minutes_matrix
from planner.plans import ProgressFn, SolveReport, Status
from planner.solvers.territories import contiguous as cg
from planner.solvers.territories.model import TerritoryOptions, TerritoryProblem
from planner.solvers.territories.search import Setup
from planner.solvers.territories.shape import hull_overlap, knn_same

MEASURES = ("workload", "potential", "accounts")


@dataclass(frozen=True, eq=False)
class AreaResult:
    """What the area solve adds to a plan: units, their graph, the district plan and the districts."""

    graph: geo_units.UnitGraph
    unit_rep: np.ndarray  # (U,) rep index per unit
    centres: np.ndarray  # (R, 2) lon/lat of each territory's median unit
    district_plan: cg.DistrictPlan
    realign: bool
    district_of_rep: np.ndarray | None  # (R,) district index, or None
    notes: tuple[str, ...]


def is_realignment(setup: Setup) -> bool:
    """True when some planned account has an owner among the reps (there are territories to keep)."""
    return bool((setup.prep.cur[setup.planned] >= 0).any())


def _unit_measures(setup: Setup, idx: np.ndarray, unit_of: np.ndarray, n_units: int,
                   w_static: np.ndarray) -> np.ndarray:
    pot = setup.problem.potential_cny
    return np.c_[np.bincount(unit_of, weights=w_static[idx], minlength=n_units),
                 np.bincount(unit_of, weights=pot[idx], minlength=n_units),
                 np.bincount(unit_of, minlength=n_units).astype(float)]


def _unit_owner(values: np.ndarray, unit_of: np.ndarray, n_units: int, R: int) -> np.ndarray:
    """Per unit: the most common value >= 0 among its accounts, or -1."""
    ok = values >= 0
    if not ok.any():
        return np.full(n_units, -1, dtype=np.int64)
    counts = np.zeros((n_units, R), dtype=np.int64)
    np.add.at(counts, (unit_of[ok], values[ok]), 1)
    out = counts.argmax(axis=1).astype(np.int64)
    out[counts.max(axis=1) == 0] = -1
    return out


def _unit_locks(setup: Setup, idx: np.ndarray, unit_of: np.ndarray, n_units: int) -> tuple[np.ndarray, list[str]]:
    """Per unit the rep its locked or pinned accounts hold it to (-1: free); a note per conflict."""
    prep = setup.prep
    lock = np.full(n_units, -1, dtype=np.int64)
    notes = []
    held = prep.status[idx] == 1
    for u, r in zip(unit_of[held], prep.cur[idx][held]):
        if lock[u] < 0:
            lock[u] = r
        elif lock[u] != r:
            notes.append(f"a unit holds accounts locked to {setup.problem.rep_ids[lock[u]]} and "
                         f"{setup.problem.rep_ids[r]}: it stays with {setup.problem.rep_ids[lock[u]]}")
    return lock, notes


def _match_to_reps(setup: Setup, assign: np.ndarray, centres_ll: np.ndarray) -> np.ndarray:
    """Relabel territories (built for share_t) to reps: same share, nearest bases (Hungarian)."""
    problem = setup.problem
    share = problem.share
    d = travel.haversine_matrix_m(centres_ll, problem.base_lonlat)
    cost = d + 1e12 * (np.abs(share[:, None] - share[None, :]) > 1e-9)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(share), dtype=np.int64)
    perm[rows] = cols
    return perm[assign]


def _count_tolerance(setup: Setup, n_plan: int) -> float:
    """``count_tolerance``, or, when it is not set, the largest that keeps every rep within capacity."""
    options = setup.options
    if options.count_tolerance is not None:
        return float(options.count_tolerance)
    share = setup.problem.share
    target = n_plan * share / share.sum()
    if n_plan == 0 or not np.all(target > 0):
        return math.nan
    ratio = np.asarray(setup.capacity, dtype=float) / np.asarray(target, dtype=float)
    return float(max(0.0, float(ratio.min()) - 1.0))


def _district_problem(setup: Setup, options: TerritoryOptions, graph: geo_units.UnitGraph,
                      w_static: np.ndarray) -> tuple[cg.DistrictProblem, np.ndarray, list[str]]:
    problem, prep = setup.problem, setup.prep
    R = problem.n_reps
    idx = np.flatnonzero(setup.planned)
    uo = graph.unit_of
    U = graph.n_units
    meas = _unit_measures(setup, idx, uo, U, w_static)
    tol = np.array([options.tolerance, options.potential_tolerance, _count_tolerance(setup, len(idx))])
    realign = is_realignment(setup)
    current = _unit_owner(prep.owner_index[idx] if prep.owner_index is not None else prep.cur[idx], uo, U, R) \
        if realign else None
    locked, notes = _unit_locks(setup, idx, uo, U)
    indptr, indices = graph.csr()
    dp = cg.DistrictProblem(xy=graph.xy, indptr=indptr, indices=indices, measures=meas, tolerance=tol, k=R,
                            share=problem.share.astype(float), weight=meas[:, 0].copy(), current=current,
                            locked=locked, move_cost=meas[:, 2].copy(), hubs=_hubs(problem, graph))
    return dp, meas, notes


def _hubs(problem: Any, graph: geo_units.UnitGraph) -> np.ndarray | None:
    """The reps' distinct bases in the units' km projection (wedges around them are a start plan)."""
    bases = np.unique(np.asarray(problem.base_lonlat, dtype=float).round(6), axis=0)
    if not graph.proj or not len(bases):
        return None
    return graph.to_km(bases)


def _districts(options: TerritoryOptions, graph: geo_units.UnitGraph, unit_rep: np.ndarray, meas: np.ndarray,
               R: int, seconds: float, seed: int) -> tuple[np.ndarray | None, list[str]]:
    """Group the R territories into ``options.districts`` contiguous districts (territory graph)."""
    D = options.districts
    if D is None:
        return None, []
    if D >= R:
        return np.arange(R, dtype=np.int64), [f"districts: {D} asked for {R} territories: one each"]
    e = graph.edges
    a, b = unit_rep[e[:, 0]], unit_rep[e[:, 1]]
    cross = a != b
    pairs = np.unique(np.sort(np.c_[a[cross], b[cross]], axis=1), axis=0)
    adj: list[list[int]] = [[] for _ in range(R)]
    for x, y in pairs.tolist():
        adj[x].append(y)
        adj[y].append(x)
    indptr = np.zeros(R + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(v) for v in adj])
    indices = np.asarray([y for v in adj for y in sorted(v)], dtype=np.int64)
    xy = np.zeros((R, 2))
    w = np.bincount(unit_rep, weights=meas[:, 0], minlength=R)
    for c in range(2):
        xy[:, c] = np.bincount(unit_rep, weights=meas[:, 0] * graph.xy[:, c], minlength=R) / np.maximum(w, 1e-9)
    dm = np.c_[w]
    dp = cg.DistrictProblem(xy=xy, indptr=indptr, indices=indices, measures=dm,
                            tolerance=np.array([options.tolerance]), k=D, weight=w)
    plan = cg.solve_districts(dp, cg.DistrictOptions(time_limit_s=max(0.2, seconds), seed=seed))
    notes = [f"districts: {D} contiguous districts of territories, workload within "
             f"+-{options.tolerance:.0%}: {'yes' if bool(plan.within.all()) else 'NO'} "
             f"(worst {plan.balance[0]:.1%}){'' if plan.contiguous else '; NOT CONTIGUOUS'}"]
    return plan.assign.astype(np.int64), notes


def solve_areas(setup: Setup, t_end: float, progress: ProgressFn,
                barriers: Any = None) -> tuple[np.ndarray, AreaResult]:
    """The area solve on a prepared ``setup`` (see the module docstring).

    Returns the rep index per account (-1 for accounts not planned) and what the plan needs to show
    the areas. ``t_end`` is the ``time.perf_counter()`` by which the districts must be done."""
    problem, options, prep = setup.problem, setup.options, setup.prep
    R = problem.n_reps
    idx = np.flatnonzero(setup.planned)
    w_static = setup.W.min(axis=1).astype(float) if setup.W.size else np.zeros(problem.n_accounts)
    progress(0.1, "basic units and their adjacency")
    group = prep.cur[idx] if is_realignment(setup) else None
    graph = geo_units.build_units(problem.lonlat[idx], max_units=options.max_units, group=group,
                                  barriers=barriers, travel=setup.travel)
    dp, meas, notes = _district_problem(setup, options, graph, w_static)
    realign = dp.current is not None
    keep = options.keep if realign else 0.0
    left = max(0.2, t_end - time.perf_counter())
    share_d = 0.15 if options.districts else 0.0
    progress(0.2, f"contiguous territories on {graph.n_units} units")
    dplan = cg.solve_districts(dp, cg.DistrictOptions(time_limit_s=left * (1 - share_d), seed=options.seed,
                                                      keep=keep, margin=options.balance_margin))
    unit_rep = dplan.assign.astype(np.int64)
    centres = graph.lonlat[dplan.centres]
    if not realign:
        perm_assign = _match_to_reps(setup, np.arange(R), centres)
        unit_rep = perm_assign[unit_rep]
        order = np.empty(R, dtype=np.int64)
        order[perm_assign] = np.arange(R)
        centres = centres[order]
    district_of_rep, dnotes = _districts(options, graph, unit_rep, meas, R,
                                         max(0.2, t_end - time.perf_counter()), options.seed)
    assign = np.full(problem.n_accounts, -1, dtype=np.int64)
    assign[idx] = unit_rep[graph.unit_of]
    return assign, AreaResult(graph, unit_rep, centres, dplan, realign, district_of_rep,
                              tuple(graph.notes) + tuple(notes) + tuple(dnotes))


def static_workload_setup(setup: Setup) -> Setup:
    """The setup with each account's workload the same for every rep (its trip from the nearest base)."""
    W = setup.W
    if not W.size:
        return setup
    w = W.min(axis=1, keepdims=True)
    return replace(setup, W=np.repeat(w, W.shape[1], axis=1), mode="areas")


def area_kpis(setup: Setup, assign: np.ndarray, res: AreaResult) -> dict[str, Any]:
    """Contiguity, dispersion, the solver's balance per measure and the units (KPIs of an area plan)."""
    dp = res.district_plan
    unit_ok = res.graph.components
    R = setup.problem.n_reps
    pieces = [unit_ok(np.flatnonzero(res.unit_rep == r)) for r in range(R)]
    k: dict[str, Any] = {
        "contiguous": bool(all(p <= 1 for p in pieces)),
        "territories_in_pieces": int(sum(p > 1 for p in pieces)),
        "units": int(res.graph.n_units), "unit_edges": int(len(res.graph.edges)),
        "dispersion_km": float(dp.dispersion), "dispersion_bound_km": dp.bound,
        "district_solver": dp.solver, "district_iterations": int(dp.iterations),
    }
    for m, name in enumerate(MEASURES[:len(dp.balance)]):
        k[f"{name}_worst_deviation"] = float(dp.balance[m])
    if res.district_of_rep is not None:
        k["districts"] = int(res.district_of_rep.max() + 1) if len(res.district_of_rep) else 0
    return k


def shape_kpis(problem: TerritoryProblem, assign: np.ndarray) -> dict[str, float]:
    """``knn_same`` and ``hull_overlap`` of the assigned accounts (``planner.solvers.territories.shape``)."""
    sel = assign >= 0
    ll, lab = problem.lonlat[sel], assign[sel]
    return {"knn_same": knn_same(ll, lab), "hull_overlap": hull_overlap(ll, lab)}


def area_report(setup: Setup, res: AreaResult, seconds: float, kpis: dict[str, Any],
                extra: list[str] | None = None) -> SolveReport:
    """Status and message of an area plan: ``NOT BALANCED: ...`` first when a tolerance breaks."""
    dp = res.district_plan
    options, R = setup.options, setup.problem.n_reps
    tol = (options.tolerance, options.potential_tolerance, options.count_tolerance)
    violated: list[str] = []
    parts = []
    for m, name in enumerate(MEASURES[:len(dp.balance)]):
        t = tol[m]
        if bool(dp.within[m]) or (t is None and m < 2):
            continue
        if t is None:
            parts.append(f"accounts above a rep's capacity (worst territory {dp.balance[m]:.1%} from its target)")
            continue
        parts.append(f"{name} outside +-{t:.0%} (worst territory {dp.balance[m]:.1%} from its target)")
    status: Status
    if parts:
        violated.append("NOT BALANCED: " + "; ".join(parts) + f" ({R} reps)")
    if options.max_moves is not None and kpis["moved"] > options.max_moves:
        violated.append(f"max_moves: {kpis['moved']} accounts moved, above {options.max_moves} (contiguous "
                        f"areas do not model a move limit; raise keep to move fewer)")
    violated += extra or []
    if not kpis["contiguous"]:
        violated.append(f"NOT CONTIGUOUS: {kpis['territories_in_pieces']} territories in several pieces")
    if violated:
        status = "partial"
    elif dp.status == "optimal":
        status = "optimal"
    else:
        status = "feasible"
    msg = [*violated, f"contiguous areas on {res.graph.n_units} units", dp.message, *res.notes]
    return SolveReport(status=status, objective=float(dp.dispersion), bound=dp.bound, seconds=seconds,
                       solver=f"units + {dp.solver}", violated=tuple(violated),
                       message="; ".join(m for m in msg if m))


def units_frame(problem: TerritoryProblem, res: AreaResult) -> Any:
    """GeoDataFrame of the units: unit, territory (rep id), district, accounts, geometry (EPSG:4326)."""
    import geopandas as gpd

    g = res.graph
    reps = problem.rep_ids
    df = pd.DataFrame({"unit": np.arange(g.n_units), "territory": reps[res.unit_rep],
                       "accounts": np.bincount(g.unit_of, minlength=g.n_units)})
    if res.district_of_rep is not None:
        df["district"] = res.district_of_rep[res.unit_rep] + 1
    return gpd.GeoDataFrame(df, geometry=g.polygons.reset_index(drop=True), crs="EPSG:4326")


def areas_frame(problem: TerritoryProblem, res: AreaResult) -> Any:
    """GeoDataFrame of the territories as dissolved polygons, one row per rep (+ district)."""
    out = geo_units.territory_polygons(res.graph, res.unit_rep, list(problem.rep_ids))
    if res.district_of_rep is not None:
        d = dict(zip(problem.rep_ids, res.district_of_rep + 1))
        out["district"] = out["territory"].map(d)
    return out


def minutes_from_centres(setup: Setup, centres: np.ndarray) -> np.ndarray:
    """Travel minutes from each territory centre (the plan's anchors)."""
    return minutes_matrix(setup.problem.lonlat, centres, backend=setup.travel)
