"""A compiled (numba) route elimination for routing with time windows: the same heuristic as
:mod:`planner.solvers.fleet`, several times faster.

Optional: needs the extra ``fast`` (``numba``); :func:`planner.solvers.routing.route` uses it in place of
:func:`planner.solvers.fleet.minimise_routes` when numba imports and the kernels are compiled or cached
(:func:`ready`) or the time limit leaves room for a first compile (60 s; ``SearchOptions.engine``, see
``routing._fleet_engine``); the pure-Python :mod:`planner.solvers.fleet` stays the fall-back.

Objective: the fewest routes that serve every visit. Constraints (hard, never relaxed): time windows on
the start of service (waiting allowed), the vehicles' common start/end depot and working window, the
vehicle capacity. Method (Nagata & Bräysy 2009 without the squeeze step, as :mod:`planner.solvers.fleet`),
repeated while time is left: take a random route away and put its visits in an ejection pool; take
visits from the pool (last in, first out) and insert each at its cheapest feasible place; when there is
none, raise the visit's penalty counter and insert it where ejecting at most ``k_max`` visits of one
route makes room with the least sum of their counters (a depth-first search over the route with v
inserted at each place, keep before eject, pruned by the best sum so far, by ``k_max``, by a feasible
rest of the route and by ejections that gain no time; routes searched in order of how late v would be
there); the ejected go to the pool; then shake the plan with ``perturb_moves`` random feasible relocate
and 2-opt* moves between nearby visits. When the pool empties the plan has one route fewer; when the
time (or ``max_ejections``) runs out first, or a visit fits nowhere even with ejections, the last plan
that served everybody is kept.

Representation: routes as rows of ``R`` (``R[k, 0]`` and ``R[k, rl[k] + 1]`` the depot), with per
position the earliest start of service ``A`` (forward) and the latest start that keeps every later stop
on time ``Z`` (backward), so that an insertion, a relocate or a 2-opt* is checked in O(1); the route and
position of each visit; the pool and the penalty counters. The kernels run in chunks of ejections sized
to take about 10 ms; between chunks the clock is read (no clock in the kernels). Random numbers come
from numba's generator, seeded at each call: with ``max_ejections`` (and no deadline reached) the plan
depends on the seed only, not on the machine's speed or the chunking.

Status: every plan it returns is feasible, checked from scratch in Python
(:func:`planner.solvers.fleet.feasible`) before it is kept (a plan that fails is dropped and counted in
``FleetStats.rejected``; never expected); it proves nothing (no bound besides
``ceil(total demand / capacity)``). The kernels are compiled once per installation (``cache=True``,
~13 s of CPU, or ``python -m planner.solvers.fleet_fast``) and loaded from numba's cache at the first call in a
process (~0.3-0.6 s with numba's own start-up, less when another compiled engine already ran); both are
counted in ``FleetStats.seconds`` and so in the caller's time limit.

Measured on Solomon RC101 (100 customers, from the same 16-route OR-Tools plan): ~19,000-24,000
ejections per second against ~600-1,100 for the Python module; 14 routes (the best known) in 16 of 16
seeds within 5 s, against 7 of 16 in Python.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

from planner.solvers import fleet
from planner.solvers.compiled import cached
from planner.solvers.fleet import FleetData, FleetStats

__all__ = ("ready", "warm_up", "minimise_routes")

MAX_CHUNK = 4096  # most ejections per kernel call
_CALL_S = 0.01  # the clock is read about this often (seconds): kernel calls are sized to it
_NONE = 10**12  # "no ejection found yet" (above any sum of penalty counters)


class _Kernels:
    """Process state: ``compiled`` is set once the kernels have run here (compiled or loaded from the cache)."""

    compiled = False


# ---------------------------------------------------------------------------------------------------------
# compiled kernels. nd: per node rows service, earliest, latest start, demand; par: capacity, depot, t0, H.
# R[k, 0..rl[k]+1]: route k with the depot at both ends; A / Z: earliest / latest start of service at each
# position; load[k]; rv[c] / rp[c]: route and position of visit c (-1: in the pool, or not a visit);
# meta: number of routes, pool size, ejections, insertions.
# ---------------------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _seed(seed: int) -> None:
    np.random.seed(seed)


@numba.njit(cache=True)
def _refresh(k: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray,
             rv: np.ndarray, rp: np.ndarray, T: np.ndarray, nd: np.ndarray, par: np.ndarray) -> None:
    L = rl[k]
    dep = par[1]
    R[k, 0] = dep
    R[k, L + 1] = dep
    A[k, 0] = par[2]
    for i in range(1, L + 2):
        u = R[k, i - 1]
        w = R[k, i]
        t = A[k, i - 1] + nd[0, u] + T[u, w]
        A[k, i] = t if t > nd[1, w] else nd[1, w]
    Z[k, L + 1] = par[3]
    for i in range(L, -1, -1):
        u = R[k, i]
        w = R[k, i + 1]
        t = Z[k, i + 1] - T[u, w] - nd[0, u]
        Z[k, i] = nd[2, u] if nd[2, u] < t else t
    ld = 0
    for i in range(1, L + 1):
        c = R[k, i]
        rv[c] = k
        rp[c] = i
        ld += nd[3, c]
    load[k] = ld


@numba.njit(cache=True)
def _setup(R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray, rv: np.ndarray,
           rp: np.ndarray, meta: np.ndarray, T: np.ndarray, nd: np.ndarray, par: np.ndarray) -> None:
    rv[:] = -1
    rp[:] = -1
    for k in range(meta[0]):
        _refresh(k, R, rl, A, Z, load, rv, rp, T, nd, par)


@numba.njit(cache=True)
def _drop(k: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray,
          rv: np.ndarray, meta: np.ndarray) -> None:
    """Route k leaves the plan (its visits already elsewhere or in the pool); the last route takes its row."""
    last = meta[0] - 1
    if k != last:
        L = rl[last]
        for i in range(L + 2):
            R[k, i] = R[last, i]
            A[k, i] = A[last, i]
            Z[k, i] = Z[last, i]
        rl[k] = L
        load[k] = load[last]
        for i in range(1, L + 1):
            rv[R[k, i]] = k
    meta[0] = last


@numba.njit(cache=True)
def _begin(R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray, rv: np.ndarray,
           rp: np.ndarray, meta: np.ndarray, pool: np.ndarray, pen: np.ndarray) -> None:
    """A new attempt: a random route's visits go to the pool (shuffled), every penalty counter back to 1."""
    k = np.random.randint(0, meta[0])
    L = rl[k]
    for i in range(L):
        c = R[k, i + 1]
        pool[i] = c
        rv[c] = -1
        rp[c] = -1
    for i in range(L - 1, 0, -1):
        j = np.random.randint(0, i + 1)
        c = pool[i]
        pool[i] = pool[j]
        pool[j] = c
    meta[1] = L
    pen[:] = 1
    _drop(k, R, rl, A, Z, load, rv, meta)


@numba.njit(cache=True)
def _cheapest(v: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray, nr: int,
              T: np.ndarray, nd: np.ndarray, par: np.ndarray) -> tuple[int, int]:
    """The cheapest feasible insertion of v: (route, position in its row), or (-1, -1)."""
    sv, ev, lv, qv = nd[0, v], nd[1, v], nd[2, v], nd[3, v]
    bk, bi, badd = -1, -1, 0
    for k in range(nr):
        if load[k] + qv > par[0]:
            continue
        for i in range(1, rl[k] + 2):  # v between R[k, i - 1] and R[k, i]
            prev = R[k, i - 1]
            nxt = R[k, i]
            t = A[k, i - 1] + nd[0, prev] + T[prev, v]
            if t < ev:
                t = ev
            if t <= lv and t + sv + T[v, nxt] <= Z[k, i]:
                add = T[prev, v] + T[v, nxt] - T[prev, nxt]
                if bk < 0 or add < badd:
                    bk, bi, badd = k, i, add
            elif A[k, i - 1] > lv:
                break  # the route's start times only grow: v cannot come later either
    return bk, bi


@numba.njit(cache=True)
def _insert_at(k: int, i: int, v: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray,
               load: np.ndarray, rv: np.ndarray, rp: np.ndarray, T: np.ndarray, nd: np.ndarray,
               par: np.ndarray) -> None:
    L = rl[k]
    for j in range(L + 1, i - 1, -1):
        R[k, j + 1] = R[k, j]
    R[k, i] = v
    rl[k] = L + 1
    _refresh(k, R, rl, A, Z, load, rv, rp, T, nd, par)


@numba.njit(cache=True)
def _lateness(k: int, v: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, T: np.ndarray,
              nd: np.ndarray) -> int:
    """How late v (or the stop after it) would be at its best place in route k."""
    least = 1 << 60
    for i in range(1, rl[k] + 2):
        prev = R[k, i - 1]
        nxt = R[k, i]
        t = A[k, i - 1] + nd[0, prev] + T[prev, v]
        if t < nd[1, v]:
            t = nd[1, v]
        late = max(0, t - nd[2, v]) + max(0, t + nd[0, v] + T[v, nxt] - Z[k, i])
        if late < least:
            least = late
    return least


@numba.njit(cache=True)
def _seq(i: int, pos: int, v: int, k: int, R: np.ndarray) -> int:
    """Node i of route k with v inserted before its visit ``pos`` (0-based), the end depot last."""
    if i < pos:
        return R[k, i + 1]
    if i == pos:
        return v
    return R[k, i]


@numba.njit(cache=True)
def _eject_in_route(k: int, v: int, k_max: int, best: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray,
                    Z: np.ndarray, load: np.ndarray, pen: np.ndarray, T: np.ndarray, nd: np.ndarray,
                    par: np.ndarray, out_best: np.ndarray) -> tuple[int, int, int]:
    """The insertion of v into route k with the ejection of at most k_max of its visits that makes it
    feasible with the least sum of penalty counters below ``best``: (sum, place, number ejected, the
    ejected in ``out_best``), place -1 when none. Depth-first, keep before eject (explicit stack)."""
    L = rl[k]
    dep, H = par[1], par[3]
    over0 = load[k] + nd[3, v] - par[0]
    depth = L + 3
    fi = np.empty(depth, np.int64)
    fprev = np.empty(depth, np.int64)
    ft = np.empty(depth, np.int64)
    fpsum = np.empty(depth, np.int64)
    fover = np.empty(depth, np.int64)
    fnout = np.empty(depth, np.int64)
    fphase = np.empty(depth, np.int64)
    fst = np.empty(depth, np.int64)
    fkeep = np.empty(depth, np.bool_)
    out = np.empty(k_max + 1, np.int64)
    found_pos, found_n = -1, 0
    for pos in range(L + 1):  # v goes before the visit pos of the route (0-based)
        fi[0], fprev[0], ft[0], fpsum[0], fover[0], fnout[0], fphase[0] = 0, dep, A[k, 0], 0, over0, 0, 0
        sp = 1
        while sp > 0:
            d = sp - 1
            i = fi[d]
            node = _seq(i, pos, v, k, R)
            prev = fprev[d]
            if fphase[d] == 0:
                arr = ft[d] + nd[0, prev] + T[prev, node]
                st = arr if arr > nd[1, node] else nd[1, node]
                if node == dep and i > 0:
                    if st <= H and fover[d] <= 0 and fpsum[d] < best:
                        best, found_pos, found_n = fpsum[d], pos, fnout[d]
                        out_best[:found_n] = out[:found_n]
                    sp -= 1
                    continue
                if node != v and i > pos and fover[d] <= 0 and st <= Z[k, i]:
                    if fpsum[d] < best:  # the rest of the route is feasible as it is
                        best, found_pos, found_n = fpsum[d], pos, fnout[d]
                        out_best[:found_n] = out[:found_n]
                    sp -= 1
                    continue
                keep = st <= nd[2, node]
                fst[d] = st
                fkeep[d] = keep
                fphase[d] = 1
                if keep:
                    c = sp
                    fi[c], fprev[c], ft[c], fpsum[c], fover[c], fnout[c], fphase[c] = \
                        i + 1, node, st, fpsum[d], fover[d], fnout[d], 0
                    sp += 1
                    continue
            if fphase[d] == 1:
                fphase[d] = 2
                if node == v or fnout[d] >= k_max or fpsum[d] + pen[node] >= best:
                    sp -= 1
                    continue
                if fkeep[d] and fover[d] <= 0:  # ejecting a visit that only makes the next one wait gains nothing
                    nn = _seq(i + 1, pos, v, k, R)
                    kept = fst[d] + nd[0, node] + T[node, nn]
                    if kept < nd[1, nn]:
                        kept = nd[1, nn]
                    gone = ft[d] + nd[0, prev] + T[prev, nn]
                    if gone < nd[1, nn]:
                        gone = nd[1, nn]
                    if gone >= kept:
                        sp -= 1
                        continue
                out[fnout[d]] = node  # eject node
                c = sp
                fi[c], fprev[c], ft[c], fpsum[c], fover[c], fnout[c], fphase[c] = \
                    i + 1, prev, ft[d], fpsum[d] + pen[node], fover[d] - nd[3, node], fnout[d] + 1, 0
                sp += 1
                continue
            sp -= 1
    return best, found_pos, found_n


@numba.njit(cache=True)
def _eject(v: int, k_max: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray,
           nr: int, pen: np.ndarray, T: np.ndarray, nd: np.ndarray, par: np.ndarray,
           out: np.ndarray) -> tuple[int, int, int]:
    """The best ejection insertion of v over every route (routes where v is least late first, ties at
    random): (route, place, number ejected; the ejected in ``out``), route -1 when none."""
    least = _NONE
    for k in range(nr):
        for i in range(1, rl[k] + 1):
            if pen[R[k, i]] < least:
                least = pen[R[k, i]]  # no ejection can cost less
    keys = np.empty(nr, np.float64)
    for k in range(nr):
        keys[k] = float(_lateness(k, v, R, rl, A, Z, T, nd)) + np.random.random()
    order = np.argsort(keys)
    tmp = np.empty(k_max + 1, np.int64)
    best, bk, bpos, bn = _NONE, -1, -1, 0
    for j in range(nr):
        k = order[j]
        ps, pos, n_out = _eject_in_route(k, v, k_max, best, R, rl, A, Z, load, pen, T, nd, par, tmp)
        if pos >= 0 and ps < best:
            best, bk, bpos, bn = ps, k, pos, n_out
            out[:n_out] = tmp[:n_out]
            if best <= least:
                break
    return bk, bpos, bn


@numba.njit(cache=True)
def _two_opt_star(ka: int, ia: int, kb: int, ib: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray,
                  Z: np.ndarray, load: np.ndarray, rv: np.ndarray, rp: np.ndarray, T: np.ndarray, nd: np.ndarray,
                  par: np.ndarray, buf: np.ndarray) -> bool:
    """Route a keeps its stops up to position ia and continues with b's after ib, and the other way round."""
    u = R[ka, ia]
    w = R[kb, ib]
    na = R[ka, ia + 1]
    nb = R[kb, ib + 1]
    t = A[ka, ia] + nd[0, u] + T[u, nb]
    if (t if t > nd[1, nb] else nd[1, nb]) > Z[kb, ib + 1]:
        return False
    t = A[kb, ib] + nd[0, w] + T[w, na]
    if (t if t > nd[1, na] else nd[1, na]) > Z[ka, ia + 1]:
        return False
    la = 0
    for i in range(1, ia + 1):
        la += nd[3, R[ka, i]]
    for i in range(ib + 1, rl[kb] + 1):
        la += nd[3, R[kb, i]]
    lb = load[ka] + load[kb] - la
    if la > par[0] or lb > par[0]:
        return False
    La, Lb = rl[ka], rl[kb]
    na_tail = La - ia
    for i in range(na_tail):
        buf[i] = R[ka, ia + 1 + i]
    nb_tail = Lb - ib
    for i in range(nb_tail):
        R[ka, ia + 1 + i] = R[kb, ib + 1 + i]
    rl[ka] = ia + nb_tail
    for i in range(na_tail):
        R[kb, ib + 1 + i] = buf[i]
    rl[kb] = ib + na_tail
    _refresh(ka, R, rl, A, Z, load, rv, rp, T, nd, par)
    _refresh(kb, R, rl, A, Z, load, rv, rp, T, nd, par)
    return True


@numba.njit(cache=True)
def _relocate(ku: int, iu: int, kw: int, iw: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray,
              load: np.ndarray, rv: np.ndarray, rp: np.ndarray, meta: np.ndarray, T: np.ndarray,
              nd: np.ndarray, par: np.ndarray) -> bool:
    """Move the visit at (ku, iu) right after the one at (kw, iw) of another route when both stay feasible
    (an emptied route leaves the plan)."""
    u = R[ku, iu]
    if load[kw] + nd[3, u] > par[0]:
        return False
    w = R[kw, iw]
    nxt = R[kw, iw + 1]
    t = A[kw, iw] + nd[0, w] + T[w, u]
    if t < nd[1, u]:
        t = nd[1, u]
    if t > nd[2, u] or t + nd[0, u] + T[u, nxt] > Z[kw, iw + 1]:
        return False
    pu = R[ku, iu - 1]
    nu = R[ku, iu + 1]
    t = A[ku, iu - 1] + nd[0, pu] + T[pu, nu]
    if (t if t > nd[1, nu] else nd[1, nu]) > Z[ku, iu + 1]:
        return False  # removing a visit can break a window only through rounded travel times
    Lu = rl[ku]
    for i in range(iu, Lu + 1):
        R[ku, i] = R[ku, i + 1]
    rl[ku] = Lu - 1
    _refresh(ku, R, rl, A, Z, load, rv, rp, T, nd, par)
    _insert_at(kw, iw + 1, u, R, rl, A, Z, load, rv, rp, T, nd, par)
    if rl[ku] == 0:
        _drop(ku, R, rl, A, Z, load, rv, meta)
    return True


@numba.njit(cache=True)
def _perturb(moves: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray, load: np.ndarray,
             rv: np.ndarray, rp: np.ndarray, meta: np.ndarray, near: np.ndarray, T: np.ndarray, nd: np.ndarray,
             par: np.ndarray, cust: np.ndarray, buf: np.ndarray) -> None:
    """Random feasible relocate and 2-opt* moves between nearby visits (a random walk: diversity)."""
    cnt = 0
    for k in range(meta[0]):
        for i in range(1, rl[k] + 1):
            cust[cnt] = R[k, i]
            cnt += 1
    if cnt == 0:
        return
    K = near.shape[1]
    for _ in range(moves):
        u = cust[np.random.randint(0, cnt)]
        w = near[u, np.random.randint(0, K)]
        two_opt = np.random.random() < 0.5
        if w == u or rv[w] < 0:
            continue
        ku, kw = rv[u], rv[w]
        if ku == kw:
            continue
        if two_opt:
            _two_opt_star(ku, rp[u], kw, rp[w], R, rl, A, Z, load, rv, rp, T, nd, par, buf)
        else:
            _relocate(ku, rp[u], kw, rp[w], R, rl, A, Z, load, rv, rp, meta, T, nd, par)


@numba.njit(cache=True)
def _work(max_ej: int, k_max: int, moves: int, R: np.ndarray, rl: np.ndarray, A: np.ndarray, Z: np.ndarray,
          load: np.ndarray, rv: np.ndarray, rp: np.ndarray, meta: np.ndarray, pool: np.ndarray, pen: np.ndarray,
          near: np.ndarray, T: np.ndarray, nd: np.ndarray, par: np.ndarray) -> int:
    """Empty the pool: 1 when it is empty (one route fewer), 2 when a visit fits nowhere even with
    ejections (the plan is half done), 0 after ``max_ej`` ejections with visits still in the pool."""
    out = np.empty(k_max + 1, np.int64)
    cust = np.empty(R.shape[1] * R.shape[0] + 1, np.int64)
    buf = np.empty(R.shape[1], np.int64)
    done = 0
    while meta[1] > 0:
        if done >= max_ej:
            return 0
        meta[1] -= 1
        v = pool[meta[1]]
        k, i = _cheapest(v, R, rl, A, Z, load, meta[0], T, nd, par)
        if k >= 0:
            _insert_at(k, i, v, R, rl, A, Z, load, rv, rp, T, nd, par)
            meta[3] += 1
            continue
        pen[v] += 1
        k, pos, n_out = _eject(v, k_max, R, rl, A, Z, load, meta[0], pen, T, nd, par, out)
        if k < 0:
            return 2
        L = rl[k]
        buf[:L] = R[k, 1:L + 1]
        m = 1
        for j in range(L + 1):  # the route with v before its visit pos, without the ejected
            if j == pos:
                R[k, m] = v
                m += 1
            if j < L:
                c = buf[j]
                gone = False
                for x in range(n_out):
                    if out[x] == c:
                        gone = True
                if gone:
                    rv[c] = -1
                    rp[c] = -1
                else:
                    R[k, m] = c
                    m += 1
        rl[k] = m - 1
        _refresh(k, R, rl, A, Z, load, rv, rp, T, nd, par)
        for x in range(n_out):
            pool[meta[1]] = out[x]
            meta[1] += 1
        meta[2] += 1
        done += 1
        if moves > 0:
            _perturb(moves, R, rl, A, Z, load, rv, rp, meta, near, T, nd, par, cust, buf)
    return 1


def _kernels() -> tuple[object, ...]:
    return _seed, _setup, _begin, _work


def ready() -> bool:
    """Whether the kernels run without a compile: compiled in this process, or in numba's on-disk cache."""
    return _Kernels.compiled or cached(_kernels())


def warm_up() -> float:
    """Compile the kernels (or load them from the cache) on a tiny instance; the seconds it took."""
    t = time.perf_counter()
    travel = np.array([[0, 3, 4, 5], [3, 0, 5, 4], [4, 5, 0, 3], [5, 4, 3, 0]], np.int64)
    fd = FleetData(T=travel, s=np.array([0, 1, 1, 1], np.int64), e=np.zeros(4, np.int64),
                   l=np.full(4, 10, np.int64), q=np.array([0, 1, 1, 1], np.int64), Q=2, depot=0, t0=0, H=30,
                   customers=(1, 2, 3))
    minimise_routes(fd, [[1], [2], [3]], math.inf, max_ejections=20)
    return time.perf_counter() - t


class _State:
    """The kernels' arrays for a plan of ``fd`` (at most as many routes as the first plan)."""

    def __init__(self, fd: FleetData, routes: list[list[int]], neighbours: int) -> None:
        n = len(fd.s)
        self.n_cust = len(fd.customers)
        m = max(1, len(routes))
        width = self.n_cust + 3
        self.T = np.ascontiguousarray(fd.T, np.int64)
        self.nd = np.ascontiguousarray(np.stack([fd.s, fd.e, fd.l, fd.q]).astype(np.int64))
        self.par = np.array([fd.Q, fd.depot, fd.t0, fd.H], np.int64)
        self.R = np.zeros((m, width), np.int64)
        self.A = np.zeros((m, width), np.int64)
        self.Z = np.zeros((m, width), np.int64)
        self.rl = np.zeros(m, np.int64)
        self.load = np.zeros(m, np.int64)
        self.rv = np.full(n, -1, np.int64)
        self.rp = np.full(n, -1, np.int64)
        self.meta = np.zeros(4, np.int64)
        self.pool = np.zeros(max(1, self.n_cust), np.int64)
        self.pen = np.ones(n, np.int64)
        self.near = np.ascontiguousarray(fleet.nearby(fd, neighbours), np.int64)
        self.load_routes(routes)

    def load_routes(self, routes: list[list[int]]) -> None:
        self.meta[0] = len(routes)
        self.meta[1] = 0
        for k, r in enumerate(routes):
            self.rl[k] = len(r)
            self.R[k, 1:len(r) + 1] = r
        _setup(self.R, self.rl, self.A, self.Z, self.load, self.rv, self.rp, self.meta, self.T, self.nd, self.par)

    def routes(self) -> list[list[int]]:
        return [self.R[k, 1:self.rl[k] + 1].tolist() for k in range(int(self.meta[0]))]

    def begin(self) -> None:
        _begin(self.R, self.rl, self.A, self.Z, self.load, self.rv, self.rp, self.meta, self.pool, self.pen)

    def work(self, max_ej: int, k_max: int, moves: int) -> int:
        return int(_work(max_ej, k_max, moves, self.R, self.rl, self.A, self.Z, self.load, self.rv, self.rp,
                         self.meta, self.pool, self.pen, self.near, self.T, self.nd, self.par))


def minimise_routes(fd: FleetData, routes: list[list[int]], deadline: float, seed: int = 0, k_max: int = 3,
                    perturb_moves: int = 300, neighbours: int = 10, stall_s: float = math.inf,
                    max_ejections: int | None = None) -> tuple[list[list[int]], FleetStats]:
    """As :func:`planner.solvers.fleet.minimise_routes` (same arguments, same stops: ``deadline``, the
    capacity floor, ``stall_s`` seconds without a route removed, ``max_ejections``), compiled. Returns the
    best plan (the given one when nothing was removed) and what was done; every plan kept was checked by
    :func:`planner.solvers.fleet.feasible`."""
    t = time.perf_counter()
    best = [list(r) for r in routes if r]
    stats = FleetStats(routes_start=len(best), routes_end=len(best))
    cust = np.asarray(fd.customers, np.int64)
    floor = max(1, math.ceil(int(fd.q[cust].sum()) / max(1, fd.Q))) if cust.size else 0
    if len(best) <= floor:
        stats.seconds = time.perf_counter() - t
        return best, stats
    st = _State(fd, best, neighbours)
    _seed(int(seed) % (2**32))
    _Kernels.compiled = True
    budget = math.inf if max_ejections is None else max_ejections
    last = t
    in_attempt = False
    chunk = 8  # ejections per kernel call, then as many as take about _CALL_S
    while True:
        now = time.perf_counter()
        if now > min(deadline, last + stall_s) or stats.ejections >= budget:
            break
        if not in_attempt:
            if len(best) <= floor:
                break
            st.begin()
            in_attempt = True
        done = stats.ejections
        status = st.work(int(min(chunk, budget - done)), k_max, perturb_moves)
        stats.ejections, stats.insertions = int(st.meta[2]), int(st.meta[3])
        took = time.perf_counter() - now
        if stats.ejections > done and took > 0:  # the clock is read about every _CALL_S seconds
            chunk = int(min(MAX_CHUNK, max(1, (stats.ejections - done) * _CALL_S / took)))
        if status == 0:
            continue
        in_attempt = False
        plan = st.routes()
        if status == 1 and fleet.feasible(fd, plan):
            last = time.perf_counter()
            best = plan
            stats.routes_end = len(best)
            stats.history.append((len(best), round(last - t, 3), stats.ejections))
            continue
        if status == 1:
            stats.rejected += 1
        st.load_routes(best)  # a failed attempt: back to the last plan that served everybody
    stats.seconds = time.perf_counter() - t
    return best, stats


if __name__ == "__main__":  # python -m planner.solvers.fleet_fast: compile the kernels into numba's cache
    print(f"fleet_fast: kernels ready in {warm_up():.2f} s")
