"""Fleet minimisation for routing with time windows: remove a route, re-insert its visits elsewhere.

The route-elimination heuristic of Nagata & Bräysy (2009, "A powerful route minimization heuristic
for the vehicle routing problem with time windows"), without its squeeze step (tried: it
succeeded too rarely here to pay for its cost, ~3x an ejection), used by
:func:`planner.solvers.routing.route` when every visit is mandatory and each vehicle costs a fixed
amount (the Solomon VRPTW's hierarchical objective: fewest vehicles, then distance).

Objective: the fewest routes that serve every visit. Constraints (hard, never relaxed): time windows
on the start of service (waiting allowed), the vehicles' common start/end depot and working window,
the vehicle capacity. Method, repeated while time is left: take a random route away and put its
visits in an ejection pool; take visits from the pool (last in, first out) and insert each at its
cheapest feasible place; when there is none, raise the visit's penalty counter and insert it where
ejecting at most ``k_max`` visits of one route makes room with the least sum of their counters (the
ejected go to the pool), then shake the plan with random feasible relocate and 2-opt* moves. When
the pool empties the plan has one route fewer; when the time runs out first, the last plan that
served everybody is returned. Status: every plan it returns is feasible (checked from scratch); it
proves nothing (no bound on the number of vehicles besides ``ceil(total demand / capacity)``).

A compiled twin of this heuristic, :mod:`planner.solvers.fleet_fast` (numba, the extra ``fast``), does
the same ~20x faster; :func:`planner.solvers.routing.route` uses it when it can, this module otherwise.

It applies to models with one depot shared by every vehicle, equal vehicle windows and capacities,
and none of the per-vehicle features (lunch breaks, mix caps, visit limits, allowed vehicles); see
:func:`applies`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # routing imports this module
    from planner.solvers.routing import RoutingModel

__all__ = ("FleetData", "FleetStats", "applies", "minimise_routes", "feasible", "nearby")


@dataclass(frozen=True, eq=False)
class FleetData:
    """Travel ``T`` (the service time is separate), service ``s``, windows ``[e, l]`` on the start of
    service, demand ``q``, capacity ``Q``, the depot and the vehicles' window ``[t0, H]``."""

    T: np.ndarray
    s: np.ndarray
    e: np.ndarray
    l: np.ndarray  # noqa: E741 - the latest start of service, as in the literature
    q: np.ndarray
    Q: int
    depot: int
    t0: int
    H: int
    customers: tuple[int, ...]


def applies(model: RoutingModel) -> bool:
    """Whether :func:`minimise_routes` fits ``model``: every visit mandatory, a fixed cost per vehicle, one
    depot, equal vehicle windows and capacities, no lunch, mix caps, visit limits or allowed vehicles."""
    if model.fixed_cost <= 0 or model.mandatory is None or model.n_vehicles < 2:
        return False
    if not bool(np.asarray(model.mandatory)[model.visit_nodes].all()):
        return False
    if len(set(model.starts) | set(model.ends)) != 1:
        return False
    if len(set(model.vehicle_open)) != 1 or len(set(model.vehicle_close)) != 1:
        return False
    if model.capacity is not None and len(set(model.capacity)) != 1:
        return False
    if model.lunch is not None and any(b is not None for b in model.lunch):
        return False
    if model.allowed is not None and any(a is not None for a in model.allowed):
        return False
    return model.kind_caps is None and model.max_visits is None


def data_of(model: RoutingModel) -> FleetData:
    """The :class:`FleetData` of a model for which :func:`applies` holds."""
    n = len(model.service)
    dep = int(model.starts[0])
    q = np.zeros(n, np.int64) if model.demand is None else np.asarray(model.demand, np.int64)
    cap = int(model.capacity[0]) if model.capacity is not None and model.demand is not None else int(q.sum()) + 1
    e = np.asarray(model.open, np.int64).copy()
    l = np.asarray(model.close, np.int64).copy()  # noqa: E741
    e[dep], l[dep] = int(model.vehicle_open[0]), int(model.vehicle_close[0])
    return FleetData(np.asarray(model.travel, np.int64), np.asarray(model.service, np.int64), e, l, q, cap, dep,
                     int(model.vehicle_open[0]), int(model.vehicle_close[0]), tuple(model.visit_nodes))


def feasible(fd: FleetData, routes: list[list[int]]) -> bool:
    """Every customer exactly once, every route within windows, the depot's window and the capacity."""
    seen = sorted(c for r in routes for c in r)
    if seen != sorted(fd.customers):
        return False
    for r in routes:
        if r and int(fd.q[r].sum()) > fd.Q:
            return False
        t, prev = fd.t0, fd.depot
        for c in r:
            t = max(t + int(fd.s[prev]) + int(fd.T[prev, c]), int(fd.e[c]))
            if t > fd.l[c]:
                return False
            prev = c
        if t + int(fd.s[prev]) + int(fd.T[prev, fd.depot]) > fd.H:
            return False
    return True


class _Plan:
    """Routes (customers only) with, per route, the earliest start ``a`` and the latest feasible start
    ``z`` at every position of ``[depot] + route + [depot]``, and the load."""

    def __init__(self, fd: FleetData, routes: list[list[int]]) -> None:
        self.fd = fd
        self.T = fd.T.tolist()
        self.s = fd.s.tolist()
        self.e = fd.e.tolist()
        self.due = fd.l.tolist()
        self.q = fd.q.tolist()
        self.routes = [list(r) for r in routes if r]
        self.a: list[list[int]] = []
        self.z: list[list[int]] = []
        self.load: list[int] = []
        for k in range(len(self.routes)):
            self._append_times(k)

    def _times(self, r: list[int]) -> tuple[list[int], list[int]]:
        T, s, e, due, dep = self.T, self.s, self.e, self.due, self.fd.depot
        seq = [dep] + r + [dep]
        a = [self.fd.t0] * len(seq)
        for k in range(1, len(seq)):
            u, v = seq[k - 1], seq[k]
            a[k] = max(a[k - 1] + s[u] + T[u][v], e[v])
        z = [self.fd.H] * len(seq)
        for k in range(len(seq) - 2, -1, -1):
            u, v = seq[k], seq[k + 1]
            z[k] = min(due[u], z[k + 1] - T[u][v] - s[u])
        return a, z

    def _append_times(self, k: int) -> None:
        a, z = self._times(self.routes[k])
        self.a.append(a)
        self.z.append(z)
        self.load.append(sum(self.q[c] for c in self.routes[k]))

    def refresh(self, k: int) -> None:
        self.a[k], self.z[k] = self._times(self.routes[k])
        self.load[k] = sum(self.q[c] for c in self.routes[k])

    def drop_route(self, k: int) -> list[int]:
        r = self.routes.pop(k)
        self.a.pop(k)
        self.z.pop(k)
        self.load.pop(k)
        return r

    def insertions(self, v: int) -> tuple[int, int, int] | None:
        """The cheapest feasible insertion of ``v``: ``(route, position, added travel)`` or None."""
        T, s, e, due, dep = self.T, self.s, self.e, self.due, self.fd.depot
        best: tuple[int, int, int] | None = None
        sv, ev, lv, qv, Tv = s[v], e[v], due[v], self.q[v], self.T[v]
        for k, r in enumerate(self.routes):
            if self.load[k] + qv > self.fd.Q:
                continue
            a, z = self.a[k], self.z[k]
            prev = dep
            for pos in range(len(r) + 1):
                nxt = r[pos] if pos < len(r) else dep
                t = a[pos] + s[prev] + T[prev][v]
                if t < ev:
                    t = ev
                if t <= lv and t + sv + Tv[nxt] <= z[pos + 1]:
                    add = T[prev][v] + Tv[nxt] - T[prev][nxt]
                    if best is None or add < best[2]:
                        best = (k, pos, add)
                elif a[pos] > lv:
                    break  # the route's start times only grow: v cannot come later either
                prev = nxt
        return best

    def insert(self, k: int, pos: int, v: int) -> None:
        self.routes[k].insert(pos, v)
        self.refresh(k)


@dataclass
class _Ejection:
    route: int
    pos: int
    out: tuple[int, ...]
    psum: int


def _eject_in_route(plan: _Plan, k: int, v: int, p: list[int], k_max: int, best: int) -> _Ejection | None:
    """The insertion of ``v`` into route ``k`` with the ejection of at most ``k_max`` of its visits that
    makes it feasible with the least sum of penalty counters ``p`` (below ``best``), or None."""
    T, s, e, due, q, dep = plan.T, plan.s, plan.e, plan.due, plan.q, plan.fd.depot
    r, a, z = plan.routes[k], plan.a[k], plan.z[k]
    L = len(r)
    over = plan.load[k] + q[v] - plan.fd.Q
    found: _Ejection | None = None
    for pos in range(L + 1):  # v goes before r[pos]
        seq = r[:pos] + [v] + r[pos:] + [dep]
        out: list[int] = []

        def dfs(i: int, prev: int, t: int, psum: int, load_over: int, seq: list[int] = seq, pos: int = pos,
                out: list[int] = out) -> None:
            # i: index into seq of the next node to decide; t: start of service at prev
            nonlocal found, best
            node = seq[i]
            arr = t + s[prev] + T[prev][node]
            st = arr if arr > e[node] else e[node]
            orig = i - 1 if i > pos else i  # position of node in r (when it is a visit of r)
            if node == dep:
                if st <= plan.fd.H and load_over <= 0 and psum < best:
                    best, found = psum, _Ejection(k, pos, tuple(out), psum)
                return
            if node != v and i > pos and load_over <= 0 and st <= z[orig + 1]:
                if psum < best:  # the rest of the route is feasible as it is
                    best, found = psum, _Ejection(k, pos, tuple(out), psum)
                return
            keep = st <= due[node]
            if keep:
                dfs(i + 1, node, st, psum, load_over)
            if node == v or len(out) >= k_max or psum + p[node] >= best:
                return
            if keep and load_over <= 0:  # ejecting a visit that only makes the next one wait gains nothing
                nn = seq[i + 1]
                kept = st + s[node] + T[node][nn]
                gone = t + s[prev] + T[prev][nn]
                if (gone if gone > e[nn] else e[nn]) >= (kept if kept > e[nn] else e[nn]):
                    return
            out.append(node)  # eject node
            dfs(i + 1, prev, t, psum + p[node], load_over - q[node])
            out.pop()

        dfs(0, dep, a[0], 0, over)
    return found


def _lateness(plan: _Plan, k: int, v: int) -> int:
    """How late ``v`` (or the visit after it) would be at its best place in route ``k``: the routes where it
    is least late are searched first, so that a cheap ejection is found early and bounds the others."""
    T, s, e, due, dep = plan.T, plan.s, plan.e, plan.due, plan.fd.depot
    r, a, z = plan.routes[k], plan.a[k], plan.z[k]
    least, prev = 1 << 60, dep
    for pos in range(len(r) + 1):
        nxt = r[pos] if pos < len(r) else dep
        t = max(a[pos] + s[prev] + T[prev][v], e[v])
        late = max(0, t - due[v]) + max(0, t + s[v] + T[v][nxt] - z[pos + 1])
        least = min(least, late)
        prev = nxt
    return least


def _eject(plan: _Plan, v: int, p: list[int], k_max: int, rng: np.random.Generator) -> _Ejection | None:
    """The best ejection insertion of ``v`` over every route (ties: the route where ``v`` is least late,
    then at random)."""
    best, found = math.inf, None
    least = min(p[c] for r in plan.routes for c in r)  # no ejection can cost less
    for k in sorted(range(len(plan.routes)), key=lambda x: (_lateness(plan, x, v), rng.random())):
        ej = _eject_in_route(plan, k, v, p, k_max, int(min(best, 10**12)))
        if ej is not None and ej.psum < best:
            best, found = ej.psum, ej
            if best <= least:
                break
    return found


def _perturb(plan: _Plan, near: np.ndarray, moves: int, rng: np.random.Generator) -> None:
    """Random feasible relocate and 2-opt* moves between nearby visits (a random walk: diversity)."""
    where: dict[int, tuple[int, int]] = {}
    for k, r in enumerate(plan.routes):
        for i, c in enumerate(r):
            where[c] = (k, i)
    us = rng.choice(np.asarray(list(where)), size=moves)
    ws = near[us, rng.integers(0, near.shape[1], size=moves)]
    kinds = rng.random(moves) < 0.5
    for u, w, two_opt in zip(us.tolist(), ws.tolist(), kinds.tolist()):
        if w not in where or w == u:
            continue
        (ku, iu), (kw, iw) = where[u], where[w]
        if ku == kw:
            continue
        n_routes = len(plan.routes)
        if two_opt:
            changed = _two_opt_star(plan, ku, iu, kw, iw)
        else:
            changed = _relocate(plan, ku, iu, kw, iw)
        if not changed:
            continue
        if len(plan.routes) != n_routes:  # a route emptied: indices moved
            where = {c: (k, i) for k, r in enumerate(plan.routes) for i, c in enumerate(r)}
            continue
        for k in (ku, kw):
            for i, c in enumerate(plan.routes[k]):
                where[c] = (k, i)


def _two_opt_star(plan: _Plan, ka: int, ia: int, kb: int, ib: int) -> bool:
    """Route a keeps its visits up to ``ia`` and continues with b's from ``ib + 1``, and the other way round."""
    A, B = plan.routes[ka], plan.routes[kb]
    T, s, dep = plan.T, plan.s, plan.fd.depot
    u, w = A[ia], B[ib]
    na = A[ia + 1] if ia + 1 < len(A) else dep
    nb = B[ib + 1] if ib + 1 < len(B) else dep
    za, zb = plan.z[ka], plan.z[kb]
    if max(plan.a[ka][ia + 1] + s[u] + T[u][nb], plan.e[nb]) > zb[ib + 2]:
        return False
    if max(plan.a[kb][ib + 1] + s[w] + T[w][na], plan.e[na]) > za[ia + 2]:
        return False
    la = sum(plan.q[c] for c in A[:ia + 1]) + sum(plan.q[c] for c in B[ib + 1:])
    lb = plan.load[ka] + plan.load[kb] - la
    if la > plan.fd.Q or lb > plan.fd.Q:
        return False
    plan.routes[ka], plan.routes[kb] = A[:ia + 1] + B[ib + 1:], B[:ib + 1] + A[ia + 1:]
    _settle(plan, ka, kb)
    return True


def _relocate(plan: _Plan, ku: int, iu: int, kw: int, iw: int) -> bool:
    """Move the visit at ``(ku, iu)`` right after the one at ``(kw, iw)`` of another route when both routes
    stay feasible."""
    u = plan.routes[ku][iu]
    if plan.load[kw] + plan.q[u] > plan.fd.Q:
        return False
    T, s, W = plan.T, plan.s, plan.routes[kw]
    w = W[iw]
    nxt = W[iw + 1] if iw + 1 < len(W) else plan.fd.depot
    t = max(plan.a[kw][iw + 1] + s[w] + T[w][u], plan.e[u])
    if t > plan.due[u] or t + s[u] + T[u][nxt] > plan.z[kw][iw + 2]:
        return False
    U = plan.routes[ku]
    pu = U[iu - 1] if iu else plan.fd.depot
    nu = U[iu + 1] if iu + 1 < len(U) else plan.fd.depot
    if max(plan.a[ku][iu] + s[pu] + T[pu][nu], plan.e[nu]) > plan.z[ku][iu + 2]:
        return False  # removing a visit can break a window only through rounded travel times
    plan.routes[ku] = U[:iu] + U[iu + 1:]
    W.insert(iw + 1, u)
    _settle(plan, ku, kw)
    return True


def _settle(plan: _Plan, *ks: int) -> None:
    """Times of the changed routes; an emptied route is removed."""
    for k in ks:
        plan.refresh(k)
    for k in sorted(ks, reverse=True):
        if not plan.routes[k]:
            plan.drop_route(k)


@dataclass
class FleetStats:
    """What the route elimination did: routes at the start and at the end, insertions, ejections, seconds."""

    routes_start: int = 0
    routes_end: int = 0
    insertions: int = 0
    ejections: int = 0
    seconds: float = 0.0
    rejected: int = 0  # plans of the compiled engine that failed the check from scratch (never expected)
    history: list[tuple[int, float, int]] = field(default_factory=list)  # (routes, seconds, ejections) at each removal


def _remove_one(plan: _Plan, near: np.ndarray, deadline: float, rng: np.random.Generator, k_max: int,
                perturb_moves: int, stats: FleetStats, max_ejections: float = math.inf) -> bool:
    """Take a random route away and serve its visits in the others; False when the time runs out first
    or a visit fits nowhere even with ejections (``plan`` is then left half done: restore it)."""
    pool = plan.drop_route(int(rng.integers(len(plan.routes))))  # measured: random beats the smallest route
    rng.shuffle(pool)
    p = [1] * len(plan.s)
    while pool:
        if time.perf_counter() > deadline or stats.ejections >= max_ejections:
            return False
        v = pool.pop()
        ins = plan.insertions(v)
        if ins is not None:
            plan.insert(ins[0], ins[1], v)
            stats.insertions += 1
            continue
        p[v] += 1
        ej = _eject(plan, v, p, k_max, rng)
        if ej is None:
            return False
        r = plan.routes[ej.route]
        r.insert(ej.pos, v)
        for c in ej.out:
            r.remove(c)
        plan.refresh(ej.route)
        pool.extend(ej.out)
        stats.ejections += 1
        if perturb_moves:
            _perturb(plan, near, perturb_moves, rng)
    return True


def nearby(fd: FleetData, neighbours: int) -> np.ndarray:
    """Per node, its ``neighbours`` nearest customers (travel both ways; rows of other nodes are zero)."""
    cust = np.asarray(fd.customers, np.int64)
    near = np.zeros((len(fd.s), min(neighbours, max(1, cust.size - 1))), np.int64)
    if cust.size > 1:
        d = fd.T[np.ix_(cust, cust)].astype(float) + fd.T[np.ix_(cust, cust)].T
        np.fill_diagonal(d, np.inf)
        near[cust] = cust[np.argsort(d, axis=1)[:, :near.shape[1]]]
    return near


def minimise_routes(fd: FleetData, routes: list[list[int]], deadline: float, seed: int = 0, k_max: int = 3,
                    perturb_moves: int = 300, neighbours: int = 10, stall_s: float = math.inf,
                    max_ejections: int | None = None) -> tuple[list[list[int]], FleetStats]:
    """Fewer routes serving every customer of ``fd``, from the feasible ``routes``, until ``deadline``
    (``time.perf_counter()``), ``ceil(total demand / capacity)`` routes, ``stall_s`` seconds without a
    route removed, or ``max_ejections`` ejections (then the result depends on the seed only, not on the
    machine's speed). Returns the best plan (the given one when nothing was removed) and what was done."""
    t = time.perf_counter()
    rng = np.random.default_rng(seed)
    cust = np.asarray(fd.customers, np.int64)
    near = nearby(fd, neighbours)
    best = [list(r) for r in routes if r]
    stats = FleetStats(routes_start=len(best), routes_end=len(best))
    floor = max(1, math.ceil(int(fd.q[cust].sum()) / max(1, fd.Q))) if cust.size else 0
    last = t
    while len(best) > floor and time.perf_counter() < min(deadline, last + stall_s):
        if max_ejections is not None and stats.ejections >= max_ejections:
            break
        plan = _Plan(fd, best)
        if _remove_one(plan, near, min(deadline, last + stall_s), rng, k_max, perturb_moves, stats,
                       math.inf if max_ejections is None else max_ejections):
            last = time.perf_counter()
            assert feasible(fd, plan.routes), "route elimination produced an infeasible plan"
            best = [list(r) for r in plan.routes]
            stats.routes_end = len(best)
            stats.history.append((len(best), round(time.perf_counter() - t, 3), stats.ejections))
    stats.seconds = time.perf_counter() - t
    return best, stats
