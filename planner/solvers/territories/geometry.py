"""Territories geometry: local projection, weighted k-means centres and grid units.

Used by ``planner.solvers.territories`` (territory centres for ``compactness="centre"``)
and ``planner.solvers.territories.search`` (grid-cell units for large inputs). Planar
work in km on a local equirectangular projection; imports
``planner.solvers.territories`` only for type checking.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from planner.solvers.territories.model import TerritoryProblem, _Prep


def _kmeans(xy: np.ndarray, weight: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> np.ndarray:
    """Weighted k-means (k-means++ start) on projected km coordinates; returns centres (k, 2)."""
    n = len(xy)
    w = np.maximum(weight, 1e-9)
    centres = np.empty((k, 2))
    centres[0] = xy[rng.choice(n, p=w / w.sum())]
    d2 = ((xy - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        p = w * d2
        centres[j] = xy[rng.choice(n, p=p / p.sum())] if p.sum() > 0 else xy[rng.integers(n)]
        d2 = np.minimum(d2, ((xy - centres[j]) ** 2).sum(1))
    sq = (xy ** 2).sum(1)
    for _ in range(iters):
        lab = _nearest_centre(xy, sq, centres)
        sw = np.bincount(lab, weights=w, minlength=k)
        new = centres.copy()
        ok = sw > 0
        new[ok, 0] = np.bincount(lab, weights=w * xy[:, 0], minlength=k)[ok] / sw[ok]
        new[ok, 1] = np.bincount(lab, weights=w * xy[:, 1], minlength=k)[ok] / sw[ok]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


def _nearest_centre(xy: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point, in row chunks (|x|^2 - 2 x.c + |c|^2)."""
    out = np.empty(len(xy), dtype=np.int64)
    csq = (centres ** 2).sum(1)
    step = max(1, 4_000_000 // max(len(centres), 1))
    for s0 in range(0, len(xy), step):
        d = sq[s0:s0 + step, None] - 2.0 * xy[s0:s0 + step] @ centres.T + csq[None, :]
        out[s0:s0 + step] = np.argmin(d, axis=1)
    return out


def _project(lonlat: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Local equirectangular projection to km around ``ref`` (lon, lat)."""
    k = math.cos(math.radians(float(ref[1])))
    return np.c_[(lonlat[:, 0] - ref[0]) * 111.32 * k, (lonlat[:, 1] - ref[1]) * 110.57]


def _unproject(xy: np.ndarray, ref: np.ndarray) -> np.ndarray:
    k = math.cos(math.radians(float(ref[1])))
    return np.c_[xy[:, 0] / (111.32 * k) + ref[0], xy[:, 1] / 110.57 + ref[1]]


def _initial_centres(problem: TerritoryProblem, prep: _Prep, planned: np.ndarray, xy: np.ndarray, ref: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Territory centres: weighted k-means of the planned accounts, matched to reps to keep current owners."""
    from ortools.graph.python import linear_sum_assignment

    R = problem.n_reps
    idx = np.flatnonzero(planned)
    if len(idx) < R:
        return problem.base_lonlat.copy()
    cen = _kmeans(xy[idx], prep.visits[idx], R, rng)
    lab = _nearest_centre(xy[idx], (xy[idx] ** 2).sum(1), cen)
    cur = prep.cur[idx]
    keep = np.zeros((R, R))
    ok = cur >= 0
    np.add.at(keep, (lab[ok], cur[ok]), prep.visits[idx][ok])
    base_xy = _project(problem.base_lonlat, ref)
    dist = np.sqrt(((cen[:, None, :] - base_xy[None, :, :]) ** 2).sum(2))
    cost = np.rint(-keep * 100 + dist).astype(np.int64)
    lsa = linear_sum_assignment.SimpleLinearSumAssignment()
    ci, ri = np.meshgrid(np.arange(R), np.arange(R), indexing="ij")
    lsa.add_arcs_with_cost(ci.ravel(), ri.ravel(), cost.ravel())
    if lsa.solve() != lsa.OPTIMAL:
        return _unproject(cen, ref)
    out = np.empty((R, 2))
    for c in range(R):
        out[lsa.right_mate(c)] = cen[c]
    return _unproject(out, ref)


def _grid_units(xy: np.ndarray, cur: np.ndarray, target: int, max_size: int) -> tuple[np.ndarray, int, float]:
    """Units = square grid cell x current owner, about ``target`` of them, none above ``max_size`` accounts.

    The cell grows until about ``target`` units remain; then any unit with more
    than ``max_size`` accounts is split on a grid twice as fine (repeatedly),
    and finally in chunks, so that no unit is a large part of a rep's load.
    Returns the unit of each point, the number of units and the base cell (km).
    """
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0, 0.0
    span = np.ptp(xy, axis=0)
    cell = max(0.2, math.sqrt(max(span[0] * span[1], 1.0) / max(target, 1)))

    def units(key: np.ndarray) -> np.ndarray:
        return np.unique(key, axis=0, return_inverse=True)[1].ravel()

    for _ in range(40):
        key = np.c_[np.zeros(n, dtype=np.int64), np.floor(xy / cell).astype(np.int64), cur]
        inv = units(key)
        if inv.max() + 1 <= target * 1.15:
            break
        cell *= 1.2
    for depth in range(1, 9):
        big = np.bincount(inv)[inv] > max_size
        if not big.any():
            break
        key[big, 0] = depth
        key[big, 1:3] = np.floor(xy[big] / (cell / 2 ** depth)).astype(np.int64)
        inv = units(key)
    big = np.bincount(inv)[inv] > max_size
    if big.any():  # identical points: split in chunks
        order = np.argsort(inv, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        starts = np.searchsorted(inv[order], inv[order])
        rank[order] = np.arange(n) - starts
        key = np.c_[key, np.where(big, rank // max_size, 0)]
        inv = units(key)
    return inv, int(inv.max()) + 1, cell
