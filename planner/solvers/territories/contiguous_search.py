"""Heuristic for contiguous districting: start plan, penalised local search, median centres.

Pure-Python adjacency lists and loads (territories hold ~100 units: numpy's per-call overhead would
dominate); numpy only for k-means, medians and the start. See :mod:`contiguous` for the model.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# penalty per unit of relative violation (x the mean weighted distance of a unit): beyond the
# margin-tightened band, and (added) beyond the tolerance itself
_PEN_MARGIN = 1e4
_PEN_TOL = 1e6
_EPS = 1e-9
# rounds of perturbation without improvement before the search stops by itself (before the time limit)
_MAX_STALE_ROUNDS = 60


@dataclass(frozen=True, eq=False)
class SearchData:
    """Everything the local search reads (lists for fast scalar access)."""

    adj: list[list[int]]
    x: list[float]
    y: list[float]
    w: list[float]
    meas: list[list[float]]       # per unit, the K measures
    bal: list[int]                # balanced measure indices
    target: list[list[float]]     # [t][m]
    lo_m: list[list[float]]       # margin-tightened band
    hi_m: list[list[float]]
    lo_t: list[list[float]]       # tolerance band
    hi_t: list[list[float]]
    locked: list[int]
    current: list[int]
    move_cost: list[float]
    lam: float                    # weight of one unit of move cost in the objective
    pen_scale: float              # the mean weighted distance of a unit (penalty unit)
    k: int


class _Deadline:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def out(self) -> bool:
        return time.perf_counter() >= self.deadline


class State:
    """A plan under search: assignment, loads, centres and the per-territory penalty."""

    def __init__(self, d: SearchData, assign: list[int]) -> None:
        self.d = d
        self.assign = list(assign)
        K = len(d.meas[0]) if d.meas else 0
        self.load = [[0.0] * K for _ in range(d.k)]
        self.size = [0] * d.k
        for u, t in enumerate(self.assign):
            if t >= 0:
                self.size[t] += 1
                row = self.load[t]
                for m, v in enumerate(d.meas[u]):
                    row[m] += v
        self.centre = [-1] * d.k
        self.cx = [0.0] * d.k
        self.cy = [0.0] * d.k
        self.recentre()
        self.tpen = [self.pen(t, self.load[t]) for t in range(d.k)]

    def pen(self, t: int, L: list[float]) -> float:
        d = self.d
        s = 0.0
        tg, lm, hm, lt, ht = d.target[t], d.lo_m[t], d.hi_m[t], d.lo_t[t], d.hi_t[t]
        for m in d.bal:
            v = L[m]
            if v > hm[m]:
                s += _PEN_MARGIN * (v - hm[m]) / tg[m]
                if v > ht[m]:
                    s += _PEN_TOL * (v - ht[m]) / tg[m]
            elif v < lm[m]:
                s += _PEN_MARGIN * (lm[m] - v) / tg[m]
                if v < lt[m]:
                    s += _PEN_TOL * (lt[m] - v) / tg[m]
        return s * d.pen_scale

    def members(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.d.k)]
        for u, t in enumerate(self.assign):
            if t >= 0:
                out[t].append(u)
        return out

    def recentre(self, only: set[int] | None = None) -> bool:
        """Each territory's (of ``only``) centre := its median unit (weighted). True if any centre changed."""
        d = self.d
        changed = False
        xs, ys, ws = np.asarray(d.x), np.asarray(d.y), np.asarray(d.w)
        for t, mem in enumerate(self.members()):
            if not mem or (only is not None and t not in only):
                continue
            c = median_unit(np.asarray(mem), xs, ys, ws)
            if c != self.centre[t]:
                changed = True
                self.centre[t] = c
                self.cx[t], self.cy[t] = d.x[c], d.y[c]
        return changed

    def dispersion(self) -> float:
        d = self.d
        s = 0.0
        for u, t in enumerate(self.assign):
            if t >= 0:
                s += d.w[u] * math.hypot(d.x[u] - self.cx[t], d.y[u] - self.cy[t])
        return s

    def moved_cost(self) -> float:
        d = self.d
        return sum(d.move_cost[u] for u, t in enumerate(self.assign) if 0 <= d.current[u] != t)

    def objective(self) -> float:
        return self.dispersion() + self.d.lam * self.moved_cost() + sum(self.tpen)

    def total_pen(self) -> float:
        return sum(self.tpen)

    def within_tolerance(self) -> bool:
        """Every territory's every balanced measure inside its tolerance band (the margin aside)."""
        d = self.d
        return all(d.lo_t[t][m] <= self.load[t][m] <= d.hi_t[t][m] for t in range(d.k) for m in d.bal)

    # ------------------------------------------------------------------ moves

    def delta(self, u: int, A: int, B: int) -> tuple[float, float, float]:
        """Objective change of moving u from A to B, and the two new territory penalties."""
        d = self.d
        xu, yu = d.x[u], d.y[u]
        dd = d.w[u] * (math.hypot(xu - self.cx[B], yu - self.cy[B]) - math.hypot(xu - self.cx[A], yu - self.cy[A]))
        cur = d.current[u]
        if cur == A:
            dd += d.lam * d.move_cost[u]
        elif cur == B:
            dd -= d.lam * d.move_cost[u]
        mu = d.meas[u]
        LA = [a - b for a, b in zip(self.load[A], mu)]
        LB = [a + b for a, b in zip(self.load[B], mu)]
        pa, pb = self.pen(A, LA), self.pen(B, LB)
        return dd + pa + pb - self.tpen[A] - self.tpen[B], pa, pb

    def apply(self, u: int, A: int, B: int, pa: float, pb: float) -> None:
        mu = self.d.meas[u]
        la, lb = self.load[A], self.load[B]
        for m, v in enumerate(mu):
            la[m] -= v
            lb[m] += v
        self.assign[u] = B
        self.size[A] -= 1
        self.size[B] += 1
        self.tpen[A], self.tpen[B] = pa, pb

    def movable(self, u: int, A: int) -> bool:
        return self.d.locked[u] < 0 and self.centre[A] != u and self.size[A] > 1

    def keeps_connected(self, u: int, A: int) -> bool:
        """Removing u from A leaves u's A-neighbours connected to each other within A (BFS)."""
        adj, assign = self.d.adj, self.assign
        nb = [v for v in adj[u] if assign[v] == A]
        if len(nb) <= 1:
            return True
        want = set(nb)
        seen = {u, nb[0]}
        want.discard(nb[0])
        q = deque([nb[0]])
        while q:
            a = q.popleft()
            for b in adj[a]:
                if b not in seen and assign[b] == A:
                    if b in want:
                        want.discard(b)
                        if not want:
                            return True
                    seen.add(b)
                    q.append(b)
        return False


def median_unit(mem: np.ndarray, xs: np.ndarray, ys: np.ndarray, ws: np.ndarray) -> int:
    """The member v minimising sum_u w_u dist(u, v) (candidates: the 400 nearest the weighted mean on big sets)."""
    px, py, pw = xs[mem], ys[mem], ws[mem]
    cand = mem
    if mem.size > 400:
        tw = pw.sum()
        mx = float((px * pw).sum() / tw) if tw > 0 else float(px.mean())
        my = float((py * pw).sum() / tw) if tw > 0 else float(py.mean())
        near = np.argsort((px - mx) ** 2 + (py - my) ** 2, kind="stable")[:400]
        cand = mem[near]
    cost = np.zeros(cand.size)
    for lo in range(0, mem.size, 2000):
        sl = slice(lo, lo + 2000)
        dist = np.hypot(px[sl, None] - xs[cand][None, :], py[sl, None] - ys[cand][None, :])
        cost += pw[sl] @ dist
    return int(cand[int(np.argmin(cost))])


# ---------------------------------------------------------------------- start plans


def kmeans_centres(xy: np.ndarray, w: np.ndarray, k: int, rng: np.random.Generator, iters: int = 15) -> np.ndarray:
    """Weighted k-means (k-means++ seeding from ``rng``) on the points: (k, 2) centres."""
    U = xy.shape[0]
    ww = w + 1e-12
    first = int(rng.choice(U, p=ww / ww.sum()))
    C = [xy[first]]
    d2 = ((xy - xy[first]) ** 2).sum(1)
    for _ in range(1, k):
        p = ww * d2
        s = p.sum()
        i = int(rng.choice(U, p=p / s)) if s > 0 else int(rng.integers(U))
        C.append(xy[i])
        d2 = np.minimum(d2, ((xy - xy[i]) ** 2).sum(1))
    cen = np.array(C, dtype=float)
    for _ in range(iters):
        lab = np.empty(U, dtype=np.int64)
        for lo in range(0, U, 4096):
            blk = xy[lo:lo + 4096]
            lab[lo:lo + 4096] = np.argmin(((blk[:, None, :] - cen[None, :, :]) ** 2).sum(-1), axis=1)
        sw = np.bincount(lab, weights=ww, minlength=k)
        for j in range(2):
            sx = np.bincount(lab, weights=ww * xy[:, j], minlength=k)
            cen[:, j] = np.where(sw > 0, sx / np.maximum(sw, 1e-300), cen[:, j])
    return cen


def grow(d: SearchData, xy: np.ndarray, centres: np.ndarray) -> list[int]:
    """Balanced region growing: the lightest territory takes its nearest unassigned adjacent unit."""
    U, k = len(d.adj), d.k
    assign = list(d.locked)
    load = [[0.0] * len(d.meas[0]) for _ in range(k)]
    taken = {u for u in range(U) if assign[u] >= 0}
    seeds: list[list[int]] = [[u for u in range(U) if assign[u] == t] for t in range(k)]
    for t in range(k):
        if not seeds[t]:
            order = np.argsort(((xy - centres[t]) ** 2).sum(1), kind="stable")
            s = next(int(u) for u in order if int(u) not in taken)
            seeds[t] = [s]
            assign[s] = t
            taken.add(s)
    front: list[list[tuple[float, int]]] = [[] for _ in range(k)]

    def add(t: int, u: int) -> None:
        for m, v in enumerate(d.meas[u]):
            load[t][m] += v
        cx, cy = centres[t]
        for v in d.adj[u]:
            if assign[v] < 0:
                heapq.heappush(front[t], (math.hypot(d.x[v] - cx, d.y[v] - cy), v))

    for t in range(k):
        for u in seeds[t]:
            add(t, u)

    def level(t: int) -> float:
        if not d.bal:
            return load[t][0] / max(d.target[t][0], 1e-12) if load[t] else 0.0
        return max(load[t][m] / d.target[t][m] for m in d.bal)

    pq = [(level(t), t) for t in range(k)]
    heapq.heapify(pq)
    while pq:
        _, t = heapq.heappop(pq)
        f = front[t]
        while f and assign[f[0][1]] >= 0:
            heapq.heappop(f)
        if not f:
            continue
        _, u = heapq.heappop(f)
        assign[u] = t
        add(t, u)
        heapq.heappush(pq, (level(t), t))
    _fill_unassigned(d, assign, xy, centres)
    return assign


def sectors(d: SearchData, xy: np.ndarray, hubs: np.ndarray) -> list[int]:
    """Wedges around the hubs (the reps' offices): each unit goes to its nearest hub, the territories are
    shared among the hubs by their load, and each hub's units, ordered by angle around it from the widest
    empty direction, are cut into consecutive sectors of equal load (by the territories' targets).

    Why: when workload counts the drive from the office, the far units are heavy in workload and light in
    potential; compact blobs then cannot balance both, wedges from the office outwards can. Not contiguous
    in general: the caller repairs it (:func:`repair`)."""
    U, k = len(d.adj), d.k
    meas = np.asarray(d.meas, dtype=float).reshape(U, -1)
    cols = d.bal or [0]
    tot = meas[:, cols].sum(0)
    load = (meas[:, cols] / np.where(tot > 0, tot, 1.0)).sum(1)
    target = np.asarray(d.target, dtype=float)[:, cols[0]]
    alive = np.arange(len(hubs))
    while True:
        dist = ((xy[:, None, :] - hubs[None, alive, :]) ** 2).sum(2)
        near = alive[np.argmin(dist, axis=1)]
        per = np.bincount(near, weights=load, minlength=len(hubs))[alive]
        quota = per / max(per.sum(), 1e-12) * k
        n_h = np.floor(quota).astype(int)
        for i in np.argsort(-(quota - n_h), kind="stable")[: k - int(n_h.sum())]:
            n_h[i] += 1
        if (n_h > 0).all() or alive.size == 1:
            break
        alive = alive[n_h > 0]
    assign = [-1] * U
    order_t = list(range(k))
    start = 0
    for h, n in zip(alive.tolist(), n_h.tolist()):
        ts = order_t[start:start + n]
        start += n
        mem = np.flatnonzero(near == h)
        if not ts or not mem.size:
            continue
        ang = np.arctan2(xy[mem, 1] - hubs[h, 1], xy[mem, 0] - hubs[h, 0])
        o = np.argsort(ang, kind="stable")
        a = ang[o]
        gaps = np.diff(np.r_[a, a[0] + 2 * np.pi])
        o = np.roll(o, -(int(np.argmax(gaps)) + 1))  # begin after the widest empty direction
        cum = np.cumsum(load[mem[o]])
        cuts = np.cumsum(target[ts]) / target[ts].sum() * cum[-1]
        part = np.minimum(np.searchsorted(cuts, cum - 0.5 * load[mem[o]]), n - 1)
        for u, j in zip(mem[o].tolist(), part.tolist()):
            assign[u] = ts[j]
    for u in range(U):
        if d.locked[u] >= 0:
            assign[u] = d.locked[u]
    return assign


def _fill_unassigned(d: SearchData, assign: list[int], xy: np.ndarray, centres: np.ndarray) -> None:
    """Units no territory reached (other graph components): nearest centre, then their component by flood."""
    for u in range(len(assign)):
        if assign[u] < 0:
            assign[u] = int(np.argmin(((centres - xy[u]) ** 2).sum(1)))
            _flood(d, assign, [u])


def repair(d: SearchData, current: list[int]) -> list[int]:
    """Today's plan made contiguous: each territory keeps its largest piece, the rest is flooded in by neighbours."""
    U, k = len(d.adj), d.k
    assign = [-1] * U
    for t in range(k):
        pieces = _pieces_of(d, current, t)
        for u in max(pieces, key=len) if pieces else ():
            assign[u] = t
    for u in range(U):
        if d.locked[u] >= 0:
            assign[u] = d.locked[u]
    _flood(d, assign)
    for _ in range(3):  # locks outside a territory's piece: join them to it along shortest paths
        if not _join_locked_pieces(d, assign):
            break
    return assign


def _flood(d: SearchData, assign: list[int], seeds: list[int] | None = None) -> None:
    """Unassigned units (-1) taken by their assigned neighbours, breadth first (from ``seeds``, default every
    assigned unit)."""
    q = deque(seeds if seeds is not None else (u for u in range(len(assign)) if assign[u] >= 0))
    while q:
        a = q.popleft()
        for b in d.adj[a]:
            if assign[b] < 0:
                assign[b] = assign[a]
                q.append(b)


def _pieces_of(d: SearchData, assign: list[int], t: int) -> list[list[int]]:
    seen: set[int] = set()
    out = []
    for s in range(len(assign)):
        if assign[s] != t or s in seen:
            continue
        piece, q = [s], deque([s])
        seen.add(s)
        while q:
            a = q.popleft()
            for b in d.adj[a]:
                if b not in seen and assign[b] == t:
                    seen.add(b)
                    piece.append(b)
                    q.append(b)
        out.append(piece)
    return out


def _path_to(d: SearchData, assign: list[int], src: list[int], t: int, main: set[int]) -> list[int] | None:
    """Shortest path (in units) from piece ``src`` to ``main``, never through a unit locked elsewhere."""
    prev: dict[int, int] = dict.fromkeys(src, -1)
    q = deque(src)
    while q:
        a = q.popleft()
        for b in d.adj[a]:
            if b in prev or (d.locked[b] >= 0 and d.locked[b] != t):
                continue
            prev[b] = a
            if b in main:
                path, c = [], a
                while c >= 0 and c not in src:
                    path.append(c)
                    c = prev[c]
                return path
            q.append(b)
    return None


def _join_locked_pieces(d: SearchData, assign: list[int]) -> bool:
    """For every territory in several pieces, join the pieces holding its locks to its largest piece (units
    on the way change hands), then every territory keeps its piece with locks (else its largest) and the
    orphans are flooded in by neighbours. Returns True when something changed."""
    changed = False
    for t in range(d.k):
        pieces = _pieces_of(d, assign, t)
        if len(pieces) < 2:
            continue
        main = max(pieces, key=len)
        mset = set(main)
        for pc in pieces:
            if pc is main or not any(d.locked[u] == t for u in pc):
                continue
            path = _path_to(d, assign, pc, t, mset)
            for u in path or []:
                assign[u] = t
                changed = True
            if path is not None:
                mset.update(pc)
                mset.update(path)
    if not changed:
        return False
    for t in range(d.k):
        pieces = _pieces_of(d, assign, t)
        if len(pieces) < 2:
            continue
        keep = max(pieces, key=lambda pc: (sum(d.locked[u] == t for u in pc), len(pc)))
        for pc in pieces:
            if pc is not keep and not any(d.locked[u] == t for u in pc):
                for u in pc:
                    assign[u] = -1
    _flood(d, assign)
    return True


def seed_empty(st: State) -> None:
    """Give each empty territory one unit: from the heaviest territory, its farthest non-cut boundary unit."""
    d = st.d
    for t in range(d.k):
        if st.size[t] > 0:
            continue
        for A in sorted(range(d.k), key=lambda a: -st.size[a]):
            cands = [u for u in range(len(d.adj)) if st.assign[u] == A and st.movable(u, A)]
            cands.sort(key=lambda u: -math.hypot(d.x[u] - st.cx[A], d.y[u] - st.cy[A]))
            pick = next((u for u in cands if st.keeps_connected(u, A)), None)
            if pick is not None:
                st.apply(pick, A, t, 0.0, 0.0)
                st.centre[t], st.cx[t], st.cy[t] = pick, d.x[pick], d.y[pick]
                break
    st.tpen = [st.pen(t, st.load[t]) for t in range(d.k)]


# ---------------------------------------------------------------------- local search


def descend(st: State, rng: np.random.Generator, clock: _Deadline, counter: list[int],
            active: set[int] | None = None) -> bool:
    """First-improvement passes of single boundary moves until none improves. True if any move was made.

    ``active``: only units of these territories are tried (a move adds its receiver to the set)."""
    d, assign = st.d, st.assign
    U = len(assign)
    any_move = False
    while not clock.out():
        moved = 0
        units = list(range(U)) if active is None else [u for u in range(U) if assign[u] in active]
        for i in rng.permutation(len(units)).tolist():
            u = units[i]
            A = assign[u]
            best, bB, bpa, bpb = -_EPS * (1.0 + d.pen_scale), -1, 0.0, 0.0
            seen_t = A
            for v in d.adj[u]:
                B = assign[v]
                if B == A or B == seen_t:
                    continue
                seen_t = B
                counter[0] += 1
                val, pa, pb = st.delta(u, A, B)
                if val < best:
                    best, bB, bpa, bpb = val, B, pa, pb
            if bB >= 0 and st.movable(u, A) and st.keeps_connected(u, A):
                st.apply(u, A, bB, bpa, bpb)
                moved += 1
                if active is not None:
                    active.add(bB)
            if (counter[0] & 4095) == 0 and clock.out():
                break
        if not moved:
            break
        any_move = True
    return any_move


def swaps(st: State, rng: np.random.Generator, clock: _Deadline, counter: list[int],
          active: set[int] | None = None) -> int:
    """Swaps across a shared boundary (u: A->B, v: B->A) that lower the objective: from the penalised
    territories if any, else from the active ones (all when None)."""
    d, assign = st.d, st.assign
    done = 0
    bad = [t for t in range(d.k) if st.tpen[t] > 0]
    if not bad:
        bad = sorted(active) if active is not None else list(range(d.k))
    mem = st.members()
    for A in rng.permutation(bad).tolist():
        if clock.out():
            break
        border: dict[int, list[int]] = {}
        for u in mem[A]:
            for v in d.adj[u]:
                B = assign[v]
                if B != A:
                    border.setdefault(B, []).append(u)
        for B, us in border.items():
            vs = sorted({v for u in us for v in d.adj[u] if assign[v] == B})
            for u in sorted(set(us)):
                if assign[u] != A or not st.movable(u, A):
                    continue
                done += _try_swaps(st, u, A, B, vs, counter)
    return done


def _try_swaps(st: State, u: int, A: int, B: int, vs: list[int], counter: list[int]) -> int:
    """The best improving swap of u with one of vs (connectivity checked on the real plan)."""
    if not any(st.assign[a] == B for a in st.d.adj[u]):  # an earlier swap may have taken u's B-neighbour
        return 0
    val1, pa1, pb1 = st.delta(u, A, B)
    if not st.keeps_connected(u, A):
        return 0
    st.apply(u, A, B, pa1, pb1)
    best, bv, bp = -_EPS * (1.0 + st.d.pen_scale), -1, (0.0, 0.0)
    for v in vs:
        if st.assign[v] != B or not st.movable(v, B) or v == u:
            continue
        if not any(st.assign[a] == A for a in st.d.adj[v]):
            continue
        counter[0] += 1
        val2, pb2, pa2 = st.delta(v, B, A)
        if val1 + val2 < best:
            best, bv, bp = val1 + val2, v, (pb2, pa2)
    if bv >= 0 and st.keeps_connected(bv, B):
        st.apply(bv, B, A, bp[0], bp[1])
        return 1
    val0, pb0, pa0 = st.delta(u, B, A)
    st.apply(u, B, A, pb0, pa0)
    return 0


def perturb(st: State, rng: np.random.Generator, strength: int) -> set[int]:
    """Random contiguity-keeping boundary moves out of the penalised (else random) territories.

    Returns the territories touched and their neighbours."""
    d, assign = st.d, st.assign
    mem = st.members()
    bad = [t for t in range(d.k) if st.tpen[t] > 0]
    if not bad:  # balanced: a local kick around one random territory (the descent then stays local too)
        A0 = int(rng.integers(d.k))
        bad = sorted({A0} | {assign[v] for u in mem[A0] for v in d.adj[u]})
    touched: set[int] = set()
    for _ in range(strength):
        A = bad[int(rng.integers(len(bad)))]
        us = [u for u in mem[A] if assign[u] == A]
        if not us:
            continue
        for _try in range(8):
            u = us[int(rng.integers(len(us)))]
            nbt = sorted({assign[v] for v in d.adj[u]} - {A})
            if nbt and st.movable(u, A) and st.keeps_connected(u, A):
                B = nbt[int(rng.integers(len(nbt)))]
                _, pa, pb = st.delta(u, A, B)
                st.apply(u, A, B, pa, pb)
                touched.update((A, B))
                break
    near = set(touched)
    for t in touched:
        for u in mem[t]:
            near.update(assign[v] for v in d.adj[u])
    return near


def local_search(st: State, rng: np.random.Generator, deadline: float, counter: list[int],
                 say: Callable[[str], None]) -> State:
    """Descent + swaps + median update, then iterated perturbation from the best plan until stale or out of time."""
    clock = _Deadline(deadline)
    _converge(st, rng, clock, counter)
    best_assign, best_obj = list(st.assign), st.objective()
    best_centre = list(st.centre)
    stale = 0
    rounds = 0
    while not clock.out() and stale < _MAX_STALE_ROUNDS:
        rounds += 1
        strength = 2 + int(rng.integers(2 + min(12, st.d.k)))
        active = perturb(st, rng, strength)
        _converge(st, rng, clock, counter, active)
        obj = st.objective()
        if obj < best_obj - 1e-9 * max(1.0, abs(best_obj)):
            best_assign, best_obj, best_centre = list(st.assign), obj, list(st.centre)
            stale = 0
        else:
            stale += 1
            st = _restore(st, best_assign, best_centre)
        if rounds % 10 == 0:
            say(f"round {rounds}: objective {best_obj:,.1f}, penalty {st.total_pen():.3g}")
    return _restore(st, best_assign, best_centre)


def _restore(st: State, assign: list[int], centre: list[int]) -> State:
    new = State(st.d, assign)
    if new.centre != centre:  # same members -> same medians; kept for safety
        new.recentre()
        new.tpen = [new.pen(t, new.load[t]) for t in range(new.d.k)]
    return new


def _converge(st: State, rng: np.random.Generator, clock: _Deadline, counter: list[int],
              active: set[int] | None = None) -> None:
    """Descent, swaps while penalised, median update, until the centres stay (``active``: see descend)."""
    for _ in range(50):
        descend(st, rng, clock, counter, active)
        if clock.out():
            return
        if swaps(st, rng, clock, counter, active):
            if active is not None:
                active.update(t for t in range(st.d.k) if st.tpen[t] > 0)
            continue
        if not st.recentre(active):
            return
