"""A compiled engine (numba) for the plain prize-collecting team orienteering problem with time windows.

Optional: needs the extra ``fast`` (``numba``); :func:`planner.solvers.routing.route` uses it when
:func:`applies` holds and numba imports (``SearchOptions.engine`` "auto" or "fast"), and its
OR-Tools path otherwise.

Model (a :class:`planner.solvers.routing.RoutingModel` without the features listed by
:func:`why_not`): every visit optional with a prize, a window on the start of service (waiting
allowed), a service time, per-vehicle start/end depots and working windows (``vehicle_open`` is the
earliest departure, ``vehicle_close`` the latest arrival at the end depot), an optional hard visit
limit per vehicle (``max_visits``); integer travel times, travel = cost.

Objective (as :func:`route`): maximise ``prize_scale * prize - travel`` (prize first, then travel,
with the default ``prize_scale``).

Method: ruin and recreate with simulated annealing (after Christiaens & Vanden Berghe 2020,
"Slack induction by string removals for vehicle routing problems"). Ruin: adjacent string removal
around a random visit (strings, or split strings, from up to ``k_s`` routes nearest to it). Recreate:
the removed visits and the unvisited ones near the ruined place (and, now and then, all unvisited
ones) are inserted one at a time, in an order drawn at random (random, prize first, nearest first,
farthest first), each at its cheapest feasible place (the least delay of the next stop's arrival:
extra travel, waiting and service), skipping each place with probability ``blink``; a visit with no
feasible place stays out. Feasibility of an insertion is O(1): per route the earliest start of
service of each stop (forward) and the latest start that keeps every later stop on time (backward).
Acceptance: simulated annealing on ``w * prize - travel`` (``w`` = 100 x the travel one unit of
prize costs in the first plan: prize first, travel a weak tie-break that still favours short plans),
temperature in units of the mean prize of a visit, decaying exponentially over the time limit; the
best plan is kept lexicographically (prize, then travel). Then every route of the best plan is
shortened by 2-opt and or-opt moves that keep it feasible, and the unvisited are offered once more
(highest prize first).

Time: the search runs in compiled chunks of iterations; between chunks the clock is read and the
temperature set. ``SearchOptions.solution_limit`` (when set) fixes the number of iterations
(``ITERATIONS_PER_SOLUTION`` per unit), which makes the plan independent of machine speed (same
seed, same plan); otherwise the search stops at the time limit. The kernels are compiled once per
installation (``cache=True``; ~8 s, or ``python -m planner.solvers.toptw_fast``) and loaded from
numba's cache at the first call in a process (~0.4-0.8 s); both are counted in the time limit, and
the report's message gives them. ``SearchOptions.engine="auto"`` takes this engine only when the
kernels are compiled or cached (:func:`ready`) or the limit is at least 30 s, so that a first
compile never breaks a short limit.

Status: ``feasible`` (a heuristic: nothing proven, no bound); every plan is checked from scratch
(:func:`check_plan`) before it is returned.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from planner.plans import ProgressFn, SolveReport, no_progress
from planner.solvers.compiled import cached

if TYPE_CHECKING:  # routing imports this module lazily
    from planner.solvers.routing import RouteResult, RoutingModel, SearchOptions

__all__ = ("applies", "why_not", "ready", "warm_up", "solve", "check_plan", "ITERATIONS_PER_SOLUTION")

# iterations per unit of SearchOptions.solution_limit (the deterministic, speed-independent mode)
ITERATIONS_PER_SOLUTION = 200

_NEIGHBOURS = 250  # nearest visits kept per visit (the ruin walks them, the recreate draws from them)

# SISR ruin: visits removed on average, longest string; recreate: blink rate, the unvisited near each
# removed visit offered back (nearest), the share of iterations offering every unvisited visit
_AVG_REMOVED, _MAX_STRING, _BLINK, _POOL_NEIGHBOURS, _ALL_UNVISITED = 10.0, 10.0, 0.01, 30.0, 0.1
# annealing temperature, in units of the mean prize of a visit (x the acceptance weight), from start to end;
# the acceptance weight: _W_FACTOR x the travel one unit of prize costs in the first plan (travel counts
# little: with a weight of 1, pr01 m=2 ended 12.5 % below the best known, with 10 or 100 at it)
_T_START, _T_END = 1.5, 0.001
_W_FACTOR = 100.0

class _Kernels:
    """Process state: ``compiled`` is set once the kernels have run here (compiled or loaded from the cache)."""

    compiled = False


def _kernels() -> tuple[object, ...]:
    return _seed, _times, _recreate, _copy_state, _route_travel, _run, _two_opt, _add_unvisited


def ready() -> bool:
    """Whether the kernels run without a compile: compiled in this process, or in numba's on-disk cache."""
    return _Kernels.compiled or cached(_kernels())


def warm_up() -> float:
    """Compile the kernels (or load them from the cache) on a tiny instance; the seconds it took."""
    from planner.solvers.routing import RoutingModel, SearchOptions

    t = time.perf_counter()
    travel = np.array([[0, 3, 4], [3, 0, 5], [4, 5, 0]], np.int64)
    m = RoutingModel(travel=travel, service=np.zeros(3, np.int64), open=np.zeros(3, np.int64),
                     close=np.full(3, 20, np.int64), prize=np.array([0, 1, 1], np.int64), starts=(0,), ends=(0,),
                     vehicle_open=(0,), vehicle_close=(20,))
    solve(m, SearchOptions(time_limit_s=60.0, solution_limit=1, engine="fast"), 100)
    return time.perf_counter() - t


def why_not(model: RoutingModel) -> list[str]:
    """The features of ``model`` this engine drops (empty: it applies)."""
    out = []
    if model.mandatory is not None and bool(np.asarray(model.mandatory, bool)[model.visit_nodes].any()):
        out.append("mandatory visits")
    if model.kind is not None and model.kind_caps is not None:
        out.append("visit-mix caps")
    if model.allowed is not None and any(a is not None for a in model.allowed):
        out.append("allowed vehicles")
    if model.lunch is not None and any(b is not None for b in model.lunch):
        out.append("lunch breaks")
    if model.demand is not None and model.capacity is not None:
        out.append("capacities")
    if model.fixed_cost:
        out.append("fixed vehicle cost")
    if model.cost is not None and not np.array_equal(np.asarray(model.cost), np.asarray(model.travel)):
        out.append("a cost matrix other than travel")
    if np.any(np.asarray(model.travel) < 0) or np.any(np.asarray(model.prize) < 0):
        out.append("negative travel or prize")
    elif any(model.vehicle_open[v] + int(model.service[a]) + int(model.travel[a][b]) > model.vehicle_close[v]
             for v, (a, b) in enumerate(zip(model.starts, model.ends))):
        out.append("a vehicle that cannot reach its end depot in its window (no plan at all)")
    return out


def applies(model: RoutingModel) -> bool:
    """Whether this engine solves ``model`` exactly as posed (see :func:`why_not`)."""
    return not why_not(model)


# ---------------------------------------------------------------------------------------------------------
# compiled kernels. A route is a row of R: R[v, 0] the start depot, R[v, rl[v] - 1] the end depot.
# ST[v, k]: earliest start of service at stop k (arrival at the end depot); LT[v, k]: latest start at
# stop k that keeps every later stop on time. rv[i] / rp[i]: route and position of visit i (-1: out).
# ---------------------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _seed(seed: int) -> None:
    np.random.seed(seed)


@numba.njit(cache=True)
def _times(v: int, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, T: np.ndarray, s: np.ndarray,
           o: np.ndarray, c: np.ndarray, vo: np.ndarray, vc: np.ndarray) -> int:
    """Recompute ST and LT of route v; the first stop whose window breaks (-1: feasible)."""
    n = rl[v]
    ST[v, 0] = vo[v]
    bad = -1
    for k in range(1, n):
        a = R[v, k - 1]
        b = R[v, k]
        t = ST[v, k - 1] + s[a] + T[a, b]
        if k < n - 1:
            if t < o[b]:
                t = o[b]
            if t > c[b] and bad < 0:
                bad = k
        elif t > vc[v] and bad < 0:
            bad = k
        ST[v, k] = t
    LT[v, n - 1] = vc[v]
    for k in range(n - 2, -1, -1):
        a = R[v, k]
        b = R[v, k + 1]
        t = LT[v, k + 1] - s[a] - T[a, b]
        if k > 0 and c[a] < t:
            t = c[a]
        LT[v, k] = t
    return bad


@numba.njit(cache=True)
def _remove_at(v: int, k: int, R: np.ndarray, rl: np.ndarray, rv: np.ndarray, rp: np.ndarray) -> None:
    node = R[v, k]
    rv[node] = -1
    rp[node] = -1
    n = rl[v]
    for q in range(k, n - 1):
        R[v, q] = R[v, q + 1]
        rp[R[v, q]] = q
    rl[v] = n - 1


@numba.njit(cache=True)
def _route_travel(v: int, R: np.ndarray, rl: np.ndarray, T: np.ndarray) -> int:
    t = 0
    for k in range(rl[v] - 1):
        t += T[R[v, k], R[v, k + 1]]
    return t


@numba.njit(cache=True)
def _repair(v: int, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, rv: np.ndarray,
            rp: np.ndarray, T: np.ndarray, s: np.ndarray, o: np.ndarray, c: np.ndarray, vo: np.ndarray,
            vc: np.ndarray, out: np.ndarray, n_out: int) -> int:
    """Times of route v; while a stop is late (a removal can make a route late when travel breaks the
    triangle inequality), take the late visit (or the last one) out. Returns the new count in ``out``."""
    while True:
        bad = _times(v, R, rl, ST, LT, T, s, o, c, vo, vc)
        if bad < 0 or rl[v] <= 2:
            return n_out
        k = bad if bad < rl[v] - 1 else rl[v] - 2
        out[n_out] = R[v, k]
        n_out += 1
        _remove_at(v, k, R, rl, rv, rp)


@numba.njit(cache=True)
def _best_place(j: int, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, T: np.ndarray,
                s: np.ndarray, o: np.ndarray, c: np.ndarray, maxv: np.ndarray, ok_v: np.ndarray,
                blink: float, mode: int) -> tuple[int, int, int, int]:
    """The cheapest feasible place for visit j: (route, position after which, extra travel, cost); route -1:
    none. Cost: the extra travel (mode 0) or the delay of the next stop's arrival (mode 1)."""
    nv = R.shape[0]
    best_v = -1
    best_p = -1
    best_d = 0
    best_x = 0
    oj = o[j]
    cj = c[j]
    sj = s[j]
    for v in range(nv):
        if not ok_v[v] or rl[v] - 2 >= maxv[v]:
            continue
        for p in range(rl[v] - 1):
            a = R[v, p]
            b = R[v, p + 1]
            t = ST[v, p] + s[a] + T[a, j]
            if t < oj:
                t = oj
            if t > cj:
                continue
            if t + sj + T[j, b] > LT[v, p + 1]:
                continue
            d = T[a, j] + T[j, b] - T[a, b]
            x = d if mode == 0 else t + sj + T[j, b] - (ST[v, p] + s[a] + T[a, b])
            if best_v < 0 or x < best_x:
                if blink > 0.0 and np.random.random() < blink:
                    continue
                best_v = v
                best_p = p
                best_d = d
                best_x = x
    return best_v, best_p, best_d, best_x


@numba.njit(cache=True)
def _insert(v: int, p: int, j: int, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray,
            rv: np.ndarray, rp: np.ndarray, T: np.ndarray, s: np.ndarray, o: np.ndarray, c: np.ndarray,
            vo: np.ndarray, vc: np.ndarray) -> None:
    n = rl[v]
    for q in range(n, p + 1, -1):
        R[v, q] = R[v, q - 1]
        rp[R[v, q]] = q
    R[v, p + 1] = j
    rv[j] = v
    rp[j] = p + 1
    rl[v] = n + 1
    _times(v, R, rl, ST, LT, T, s, o, c, vo, vc)


@numba.njit(cache=True)
def _recreate(pool: np.ndarray, n_pool: int, order: int, anchor: int, R: np.ndarray, rl: np.ndarray,
              ST: np.ndarray, LT: np.ndarray, rv: np.ndarray, rp: np.ndarray, T: np.ndarray, s: np.ndarray,
              o: np.ndarray, c: np.ndarray, prize: np.ndarray, vo: np.ndarray, vc: np.ndarray, maxv: np.ndarray,
              ok_v: np.ndarray, blink: float, keys: np.ndarray, mode: int) -> tuple[int, int]:
    """Insert the pool (in the given order) greedily; returns (prize gained, travel added)."""
    for q in range(n_pool):
        j = pool[q]
        if order == 0:
            keys[q] = np.random.random()
        elif order == 1:
            keys[q] = -prize[j] - 0.5 * np.random.random()
        elif order == 2:
            keys[q] = T[anchor, j] + T[j, anchor]
        else:
            keys[q] = -(T[anchor, j] + T[j, anchor])
    idx = np.argsort(keys[:n_pool])
    gained = 0
    added = 0
    for q in range(n_pool):
        j = pool[idx[q]]
        if rv[j] >= 0:
            continue
        v, p, d, x = _best_place(j, R, rl, ST, LT, T, s, o, c, maxv, ok_v, blink, mode)
        if v >= 0:
            _insert(v, p, j, R, rl, ST, LT, rv, rp, T, s, o, c, vo, vc)
            gained += prize[j]
            added += d
    return gained, added


@numba.njit(cache=True)
def _copy_state(R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, rv: np.ndarray, rp: np.ndarray,
                R2: np.ndarray, rl2: np.ndarray, ST2: np.ndarray, LT2: np.ndarray, rv2: np.ndarray,
                rp2: np.ndarray, touched: np.ndarray) -> None:
    """Copy the touched routes of the first state into the second (rv/rp of their visits too)."""
    for v in range(R.shape[0]):
        if touched[v]:
            for k in range(1, rl2[v] - 1):  # visits of the old copy (they may have left or moved)
                rv2[R2[v, k]] = -1
                rp2[R2[v, k]] = -1
    for v in range(R.shape[0]):
        if not touched[v]:
            continue
        n = rl[v]
        rl2[v] = n
        for k in range(n):
            R2[v, k] = R[v, k]
            ST2[v, k] = ST[v, k]
            LT2[v, k] = LT[v, k]
        for k in range(1, n - 1):
            rv2[R[v, k]] = v
            rp2[R[v, k]] = k


@numba.njit(cache=True)
def _ruin(seed_node: int, R: np.ndarray, rl: np.ndarray, rv: np.ndarray, rp: np.ndarray, neigh: np.ndarray,
          avg_removed: float, max_string: float, touched: np.ndarray, out: np.ndarray) -> int:
    """SISR adjacent string removal around ``seed_node``; the removed visits go to ``out`` (count returned)."""
    nv = R.shape[0]
    used = 0
    visited = 0
    for v in range(nv):
        if rl[v] > 2:
            used += 1
            visited += rl[v] - 2
    if used == 0:
        return 0
    ls_max = min(max_string, visited / used)
    ks_max = 4.0 * avg_removed / (1.0 + ls_max) - 1.0
    ks = int(np.floor(np.random.random() * ks_max)) + 1
    n_out = 0
    n_ruined = 0
    for q in range(neigh.shape[1]):
        if n_ruined >= ks:
            break
        x = neigh[seed_node, q]
        if x < 0:
            break
        v = rv[x]
        if v < 0 or touched[v]:
            continue
        touched[v] = True
        n_ruined += 1
        size = rl[v] - 2
        lmax = min(float(size), ls_max)
        ln = int(np.floor(np.random.random() * lmax)) + 1
        pos = rp[x]  # 1 .. size
        if np.random.random() < 0.5 or ln >= size:  # a string of ln visits holding x
            lo = max(1, pos - ln + 1)
            hi = min(pos, size - ln + 1)
            first = lo + int(np.floor(np.random.random() * (hi - lo + 1)))
            for _ in range(ln):
                out[n_out] = R[v, first]
                n_out += 1
                _remove_at(v, first, R, rl, rv, rp)
        else:  # a split string: ln + m visits, the m in the middle stay
            m = 1
            while ln + m < size and np.random.random() < 0.5:
                m += 1
            tot = ln + m
            lo = max(1, pos - tot + 1)
            hi = min(pos, size - tot + 1)
            first = lo + int(np.floor(np.random.random() * (hi - lo + 1)))
            keep = first + int(np.floor(np.random.random() * (ln + 1)))  # the kept block starts here
            k = first
            for q2 in range(tot):
                if keep <= first + q2 < keep + m:
                    k += 1
                    continue
                out[n_out] = R[v, k]
                n_out += 1
                _remove_at(v, k, R, rl, rv, rp)
    return n_out


@numba.njit(cache=True)
def _add_unvisited(n_pool: int, seed_node: int, all_share: float, pool_k: int, cand: np.ndarray,
                   neigh: np.ndarray, rv2: np.ndarray, pool: np.ndarray, inpool: np.ndarray) -> int:
    """Add to the pool the unvisited visits near the ruined place (the removed ones and the seed; now and
    then, with probability ``all_share``, every unvisited candidate); returns the new pool size."""
    n_removed = n_pool
    if np.random.random() < all_share:
        for q in range(cand.shape[0]):
            x = cand[q]
            if rv2[x] < 0 and not inpool[x]:
                pool[n_pool] = x
                n_pool += 1
                inpool[x] = True
        return n_pool
    for r in range(n_removed + 1):
        src = seed_node if r == n_removed else pool[r]
        for q in range(min(pool_k, neigh.shape[1])):
            x = neigh[src, q]
            if x < 0:
                break
            if rv2[x] < 0 and not inpool[x]:
                pool[n_pool] = x
                n_pool += 1
                inpool[x] = True
    return n_pool


@numba.njit(cache=True)
def _run(n_iter: int, temp: float, w: float, T: np.ndarray, s: np.ndarray, o: np.ndarray, c: np.ndarray,
         prize: np.ndarray, vo: np.ndarray, vc: np.ndarray, maxv: np.ndarray, ok_v: np.ndarray, cand: np.ndarray,
         neigh: np.ndarray, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, rv: np.ndarray,
         rp: np.ndarray, R2: np.ndarray, rl2: np.ndarray, ST2: np.ndarray, LT2: np.ndarray, rv2: np.ndarray,
         rp2: np.ndarray, BR: np.ndarray, brl: np.ndarray, val: np.ndarray, params: np.ndarray) -> int:
    """``n_iter`` ruin-and-recreate iterations from the current state (R...; R2... is scratch, equal to it
    on entry and exit); the best plan goes to BR/brl. ``val``: [current prize, current travel, best prize,
    best travel]. ``params``: [avg removed, max string, blink, pool neighbours, all-unvisited share].
    Returns the number of improvements of the best."""
    nv = R.shape[0]
    n_nodes = T.shape[0]
    avg_removed = params[0]
    max_string = params[1]
    blink = params[2]
    pool_k = int(params[3])
    all_share = params[4]
    touched = np.zeros(nv, np.bool_)
    pool = np.empty(n_nodes, np.int64)
    keys = np.empty(n_nodes, np.float64)
    inpool = np.zeros(n_nodes, np.bool_)
    n_cand = cand.shape[0]
    improved = 0
    for _ in range(n_iter):
        touched[:] = False
        seed_node = cand[int(np.floor(np.random.random() * n_cand))]
        n_pool = _ruin(seed_node, R2, rl2, rv2, rp2, neigh, avg_removed, max_string, touched, pool)
        lost = 0
        cut = 0
        for v in range(nv):
            if touched[v]:
                cut += _route_travel(v, R, rl, T)
                n_pool = _repair(v, R2, rl2, ST2, LT2, rv2, rp2, T, s, o, c, vo, vc, pool, n_pool)
                cut -= _route_travel(v, R2, rl2, T)
        for q in range(n_pool):
            lost += prize[pool[q]]
            inpool[pool[q]] = True
        n_pool = _add_unvisited(n_pool, seed_node, all_share, pool_k, cand, neigh, rv2, pool, inpool)
        for q in range(n_pool):
            inpool[pool[q]] = False
        u = np.random.random()
        order = 0 if u < 0.4 else (1 if u < 0.8 else (2 if u < 0.95 else 3))
        gained, added = _recreate(pool, n_pool, order, seed_node, R2, rl2, ST2, LT2, rv2, rp2, T, s, o, c, prize,
                                  vo, vc, maxv, ok_v, blink, keys, int(params[5]))
        new_p = val[0] - lost + gained
        new_t = val[1] - cut + added
        delta = w * (new_p - val[0]) - (new_t - val[1])
        for v in range(nv):  # routes that received a visit
            if not touched[v]:
                for q in range(n_pool):
                    if rv2[pool[q]] == v:
                        touched[v] = True
                        break
        accept = delta >= 0 or (temp > 0 and np.random.random() < math.exp(delta / temp))
        if accept:
            _copy_state(R2, rl2, ST2, LT2, rv2, rp2, R, rl, ST, LT, rv, rp, touched)
            val[0] = new_p
            val[1] = new_t
            if new_p > val[2] or (new_p == val[2] and new_t < val[3]):
                val[2] = new_p
                val[3] = new_t
                improved += 1
                for v in range(nv):
                    brl[v] = rl[v]
                    for k in range(rl[v]):
                        BR[v, k] = R[v, k]
        else:
            _copy_state(R, rl, ST, LT, rv, rp, R2, rl2, ST2, LT2, rv2, rp2, touched)
    return improved


@numba.njit(cache=True)
def _two_opt(v: int, R: np.ndarray, rl: np.ndarray, ST: np.ndarray, LT: np.ndarray, T: np.ndarray, s: np.ndarray,
             o: np.ndarray, c: np.ndarray, vo: np.ndarray, vc: np.ndarray, buf: np.ndarray) -> int:
    """First-improvement 2-opt and or-opt (strings of 1-3 moved within the route) on route v while they
    shorten it and keep it feasible; returns the travel saved."""
    saved = 0
    n = rl[v]
    better = True
    while better:
        better = False
        for i in range(1, n - 2):
            for j in range(i + 1, n - 1):
                a, b, x, y = R[v, i - 1], R[v, i], R[v, j], R[v, j + 1]
                d = T[a, x] + T[b, y] - T[a, b] - T[x, y]
                for k in range(i, j):
                    d += T[R[v, k + 1], R[v, k]] - T[R[v, k], R[v, k + 1]]
                if d >= 0:
                    continue
                for k in range(n):
                    buf[k] = R[v, k]
                for k in range(i, j + 1):
                    R[v, k] = buf[i + j - k]
                if _times(v, R, rl, ST, LT, T, s, o, c, vo, vc) < 0:
                    saved -= d
                    better = True
                else:
                    for k in range(n):
                        R[v, k] = buf[k]
                    _times(v, R, rl, ST, LT, T, s, o, c, vo, vc)
        for ln in range(1, 4):
            for i in range(1, n - ln):
                a, f, g, b = R[v, i - 1], R[v, i], R[v, i + ln - 1], R[v, i + ln]
                rem = T[a, f] + T[g, b] - T[a, b]
                for p in range(n - 1):
                    if i - 1 <= p <= i + ln - 1:
                        continue
                    x, y = R[v, p], R[v, p + 1]
                    d = T[x, f] + T[g, y] - T[x, y] - rem
                    if d >= 0:
                        continue
                    for k in range(n):
                        buf[k] = R[v, k]
                    q = 0
                    for k in range(n):  # the route without the string, the string after position p
                        if i <= k < i + ln:
                            continue
                        R[v, q] = buf[k]
                        q += 1
                        if k == p:
                            for z in range(ln):
                                R[v, q] = buf[i + z]
                                q += 1
                    if _times(v, R, rl, ST, LT, T, s, o, c, vo, vc) < 0:
                        saved -= d
                        better = True
                        break
                    for k in range(n):
                        R[v, k] = buf[k]
                    _times(v, R, rl, ST, LT, T, s, o, c, vo, vc)
                if better:
                    break
            if better:
                break
    return saved


# ---------------------------------------------------------------------------------------------------------
# the search driver
# ---------------------------------------------------------------------------------------------------------
class _State:
    """The arrays of a plan: routes, lengths, earliest and latest starts, route and position of each visit."""

    def __init__(self, nv: int, cap: int, n: int) -> None:
        self.R = np.zeros((nv, cap), np.int64)
        self.rl = np.zeros(nv, np.int64)
        self.ST = np.zeros((nv, cap), np.int64)
        self.LT = np.zeros((nv, cap), np.int64)
        self.rv = np.full(n, -1, np.int64)
        self.rp = np.full(n, -1, np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.R, self.rl, self.ST, self.LT, self.rv, self.rp


def _neighbours(T: np.ndarray, cand: np.ndarray, n: int) -> np.ndarray:
    """Per node, the candidate visits by increasing T[i, j] + T[j, i] (the node itself first), -1 padded."""
    k = min(len(cand), _NEIGHBOURS)
    out = np.full((n, max(k, 1)), -1, np.int64)
    if len(cand) == 0:
        return out
    sym = T[np.ix_(cand, cand)] + T[np.ix_(cand, cand)].T
    order = np.argsort(sym, axis=1, kind="stable")[:, :k]
    out[cand] = cand[order]
    return out


def solve(model: RoutingModel, options: SearchOptions, prize_scale: int, t0: float | None = None,
          progress: ProgressFn = no_progress) -> RouteResult:
    """Solve ``model`` (for which :func:`applies` holds) within ``options.time_limit_s`` counted from
    ``t0`` (default: now); see the module docstring."""
    from planner.solvers.routing import RouteResult

    t0 = time.perf_counter() if t0 is None else t0
    deadline = t0 + options.time_limit_s
    n = len(model.service)
    nv = model.n_vehicles
    T = np.ascontiguousarray(model.travel, dtype=np.int64)
    s = np.asarray(model.service, dtype=np.int64)
    o = np.asarray(model.open, dtype=np.int64).copy()
    c = np.maximum(np.asarray(model.close, dtype=np.int64), o)
    prize = np.asarray(model.prize, dtype=np.int64)
    starts = np.asarray(model.starts, dtype=np.int64)
    ends = np.asarray(model.ends, dtype=np.int64)
    vo = np.asarray(model.vehicle_open, dtype=np.int64)
    vc = np.asarray(model.vehicle_close, dtype=np.int64)
    visits = np.asarray(model.visit_nodes, dtype=np.int64)
    maxv = np.full(nv, len(visits) + 1, np.int64) if model.max_visits is None else \
        np.asarray(model.max_visits, dtype=np.int64)
    # a vehicle whose empty tour is late serves nobody; a visit no vehicle can serve alone is never tried
    ok_v = vo + s[starts] + T[starts, ends] <= vc
    arr = (vo + s[starts])[:, None] + T[np.ix_(starts, visits)]                       # (nv, |V|)
    st = np.maximum(arr, o[visits][None, :])
    alone = (st <= c[visits][None, :]) & (st + s[visits][None, :] + T[np.ix_(visits, ends)].T <= vc[:, None])
    alone &= ok_v[:, None] & (maxv[:, None] >= 1)
    cand = visits[alone.any(axis=0) & (prize[visits] > 0)] if len(visits) else visits
    neigh = _neighbours(T, cand, n)
    cap = len(cand) + 2
    cur, work = _State(nv, cap, n), _State(nv, cap, n)
    for st_ in (cur, work):
        st_.R[:, 0] = starts
        st_.R[:, 1] = ends
        st_.rl[:] = 2
    BR = cur.R.copy()
    brl = cur.rl.copy()
    tc = time.perf_counter()
    _seed(int(options.seed) % (2 ** 32))
    for v in range(nv):
        _times(v, *cur.arrays()[:4], T, s, o, c, vo, vc)
        _times(v, *work.arrays()[:4], T, s, o, c, vo, vc)
    # first plan: every candidate, the highest prize first (no blinks)
    keys = np.empty(n, np.float64)
    pool = cand.copy()
    g, a = _recreate(pool, len(pool), 1, 0, *cur.arrays(), T, s, o, c, prize, vo, vc, maxv, ok_v, 0.0, keys, 0)
    all_v = np.ones(nv, np.bool_)
    _copy_state(*cur.arrays(), *work.arrays(), all_v)
    base = sum(int(_route_travel(v, cur.R, cur.rl, T)) for v in range(nv))
    val = np.array([float(g), float(base), float(g), float(base)])
    BR[:], brl[:] = cur.R, cur.rl
    params = np.array([_AVG_REMOVED, _MAX_STRING, _BLINK, _POOL_NEIGHBOURS, _ALL_UNVISITED, 1.0])
    w = _W_FACTOR * float(max(base, 1)) / float(max(g, 1))
    mean_prize = float(np.mean(prize[cand])) if len(cand) else 1.0
    t_start, t_end = _T_START * mean_prize * w, _T_END * mean_prize * w
    args = (T, s, o, c, prize, vo, vc, maxv, ok_v, cand, neigh, *cur.arrays(), *work.arrays(), BR, brl, val, params)
    _run(0, t_start, w, *args)  # compiles (or loads from the cache) before the clock of the search starts
    buf = np.empty(cap, np.int64)
    _two_opt(0, BR.copy(), np.full(nv, 2, np.int64), cur.ST.copy(), cur.LT.copy(), T, s, o, c, vo, vc, buf)
    compile_s = time.perf_counter() - tc if not _Kernels.compiled else 0.0
    _Kernels.compiled = True
    done = _anneal(options, deadline, args, t_start, t_end, w, len(cand) > 0, progress)
    routes = _polish(BR, brl, nv, cap, n, T, s, o, c, vo, vc, buf, cand, prize, maxv, ok_v, keys)
    seconds = time.perf_counter() - t0
    return _result(model, routes, seconds, done, compile_s, progress, RouteResult)


def _anneal(options: SearchOptions, deadline: float, args: tuple[Any, ...], t_start: float, t_end: float,
            w: float, any_cand: bool, progress: ProgressFn) -> int:
    """The ruin-and-recreate loop in compiled chunks of ~20 ms (or a fixed number of iterations with a
    solution limit), the temperature falling geometrically; returns the iterations done."""
    fixed = options.solution_limit is not None
    total_it = ITERATIONS_PER_SOLUTION * int(options.solution_limit) if options.solution_limit is not None else 0
    chunk, done = 50, 0
    ts = time.perf_counter()
    progress(0.0, "ruin and recreate (compiled)")
    # keep a margin for the final polish and the check
    end_search = deadline - min(0.05 * options.time_limit_s, 0.3)
    while any_cand:
        now = time.perf_counter()
        if fixed:
            if done >= total_it or now >= deadline:
                break
            frac = done / total_it
            k = min(chunk, total_it - done)
        else:
            if now >= end_search:
                break
            frac = (now - ts) / max(end_search - ts, 1e-9)
            k = chunk
        temp = t_start * (t_end / t_start) ** frac
        c0 = time.perf_counter()
        _run(k, temp, w, *args)
        done += k
        took = time.perf_counter() - c0
        if not fixed:  # chunks of ~20 ms
            chunk = int(max(10, min(chunk * 2, k * 0.02 / max(took, 1e-6))))
    return done


def _polish(BR: np.ndarray, brl: np.ndarray, nv: int, cap: int, n: int, T: np.ndarray, s: np.ndarray,
            o: np.ndarray, c: np.ndarray, vo: np.ndarray, vc: np.ndarray, buf: np.ndarray, cand: np.ndarray,
            prize: np.ndarray, maxv: np.ndarray, ok_v: np.ndarray, keys: np.ndarray) -> list[list[int]]:
    """The best plan's order polished (2-opt, or-opt), then the time freed filled by every unvisited
    candidate, the highest prize first; the routes as node lists."""
    fin = _State(nv, cap, n)
    fin.R[:], fin.rl[:] = BR, brl
    for v in range(nv):
        _times(v, *fin.arrays()[:4], T, s, o, c, vo, vc)
        if brl[v] > 3:
            _two_opt(v, fin.R, fin.rl, fin.ST, fin.LT, T, s, o, c, vo, vc, buf)
        for k in range(1, int(fin.rl[v]) - 1):
            fin.rv[fin.R[v, k]], fin.rp[fin.R[v, k]] = v, k
    # the time the polish freed: every unvisited candidate, the highest prize first
    free = cand[fin.rv[cand] < 0]
    _recreate(free, len(free), 1, 0, *fin.arrays(), T, s, o, c, prize, vo, vc, maxv, ok_v, 0.0, keys, 1)
    return [[int(x) for x in fin.R[v, :fin.rl[v]]] for v in range(nv)]


def check_plan(model: RoutingModel, routes: list[list[int]]) -> list[str]:
    """Every way ``routes`` (node lists per vehicle, depots at both ends) breaks ``model``, checked from
    scratch: the depots, each visit at most once, windows on the start of service (earliest schedule),
    the vehicle windows, the visit limits."""
    problems = []
    seen: set[int] = set()
    visits = set(model.visit_nodes)
    if len(routes) != model.n_vehicles:
        problems.append(f"{len(routes)} routes for {model.n_vehicles} vehicles")
    for v, r in enumerate(routes[: model.n_vehicles]):
        if len(r) < 2 or r[0] != model.starts[v] or r[-1] != model.ends[v]:
            problems.append(f"vehicle {v}: does not run from its start to its end depot")
            continue
        if model.max_visits is not None and len(r) - 2 > model.max_visits[v]:
            problems.append(f"vehicle {v}: {len(r) - 2} visits, limit {model.max_visits[v]}")
        t = int(model.vehicle_open[v])
        for k in range(1, len(r)):
            a, b = r[k - 1], r[k]
            t += int(model.service[a]) + int(model.travel[a][b])
            if k < len(r) - 1:
                if b not in visits or b in seen:
                    problems.append(f"vehicle {v}: node {b} is not a visit or is served twice")
                seen.add(b)
                t = max(t, int(model.open[b]))
                if t > int(model.close[b]):
                    problems.append(f"vehicle {v}: visit {b} starts at {t}, after its window closes")
            elif t > int(model.vehicle_close[v]):
                problems.append(f"vehicle {v}: back at {t}, after {model.vehicle_close[v]}")
    return problems


def _schedule(model: RoutingModel, r: list[int], v: int) -> list[tuple[int, int]]:
    """Start times of a feasible route: leave as late as keeps the earliest return, then start each visit
    as early as possible (as OR-Tools' finalizers: end minimised, then start maximised)."""
    T, s, o, c = model.travel, model.service, model.open, model.close
    t = int(model.vehicle_open[v])
    for k in range(1, len(r)):  # earliest return
        t += int(s[r[k - 1]]) + int(T[r[k - 1]][r[k]])
        if k < len(r) - 1:
            t = max(t, int(o[r[k]]))
    latest = t
    for k in range(len(r) - 2, -1, -1):  # latest starts keeping that return
        latest -= int(s[r[k]]) + int(T[r[k]][r[k + 1]])
        if k > 0:
            latest = min(latest, int(c[r[k]]))
    dep = max(int(model.vehicle_open[v]), min(latest, int(model.vehicle_close[v])))
    out = [(r[0], dep)]
    t = dep
    for k in range(1, len(r)):
        t += int(s[r[k - 1]]) + int(T[r[k - 1]][r[k]])
        if k < len(r) - 1:
            t = max(t, int(o[r[k]]))
        out.append((r[k], t))
    return out


def _result(model: RoutingModel, routes: list[list[int]], seconds: float, iterations: int, compile_s: float,
            progress: ProgressFn, result_cls: type[RouteResult]) -> RouteResult:
    problems = check_plan(model, routes)
    if problems:  # never expected: the caller falls back to the OR-Tools path
        raise RuntimeError("toptw_fast: the plan breaks the model: " + "; ".join(problems[:5]))
    stops = tuple(tuple(_schedule(model, r, v)) for v, r in enumerate(routes))
    served = {x for r in routes for x in r[1:-1]}
    dropped = tuple(i for i in model.visit_nodes if i not in served)
    prize = sum(int(model.prize[i]) for i in served)
    travel = sum(int(model.travel[a][b]) for r in routes for a, b in zip(r[:-1], r[1:]))
    progress(1.0, "done")
    msg = (f"travel {travel}, prize {prize}; engine toptw_fast (numba {numba.__version__}): {iterations} "
           f"ruin-and-recreate iterations, compile/cache load {compile_s:.2f} s")
    return result_cls(stops, dropped, prize, travel,
                      SolveReport("feasible", objective=float(prize), seconds=seconds, solver="toptw-fast",
                                  message=msg))


if __name__ == "__main__":  # python -m planner.solvers.toptw_fast: compile the kernels into numba's cache
    print(f"toptw_fast: kernels ready in {warm_up():.2f} s")
