"""A valid lower bound on the dispersion of any k-territory plan: the p-median Lagrangian over all units.

Dropping contiguity, balance and "the centre is a member" leaves the uncapacitated p-median with
clients = candidates = all units and cost ``W_ij = weight_i * dist(i, j)``. Relaxing ``sum_j x_ij = 1``
with multipliers ``lam >= 0`` gives, for *every* ``lam``, the valid bound::

    L(lam) = sum_i lam_i + sum of the k smallest rho_j,   rho_j = sum_i min(0, W_ij - lam_i)

Only pairs with ``W_ij < lam_i`` enter ``rho``. Capping ``lam_i <= weight_i * R`` keeps every such pair
within distance ``R``, so the pairs are precomputed once with a k-d tree (no U x U matrix: 10,000 units
need a few million pairs). The cap only weakens the bound, never its validity. Subgradient steps
(Polyak, towards the heuristic's dispersion) raise it.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

_MAX_PAIRS = 4_000_000
# pairs per second of the budget: building them costs ~0.3 us a pair and each step ~5 ns a pair (measured,
# 10,000 units): a tenth of the budget for the set-up, the rest for steps
_PAIRS_PER_SECOND = 300_000


def pmedian_bound(xy: np.ndarray, w: np.ndarray, k: int, radius: float, ub: float, deadline: float,
                  max_steps: int = 300) -> tuple[float, int]:
    """(best L(lam) found, steps) before ``deadline``; ``radius``: the suggested pair radius R."""
    U = xy.shape[0]
    if k >= U:
        return 0.0, 0
    budget = deadline - time.perf_counter()
    cap_pairs = min(_MAX_PAIRS, max(20_000, int(budget * _PAIRS_PER_SECOND)))
    tree = cKDTree(xy)
    R = float(radius)
    sample = xy[:: max(1, U // 200)]
    for _ in range(30):
        per = float(np.mean(tree.query_ball_point(sample, R, return_length=True)))
        if per * U <= cap_pairs:
            break
        R *= 0.8
    pairs = tree.query_pairs(R, output_type="ndarray")
    ii = np.concatenate((pairs[:, 0], pairs[:, 1], np.arange(U))).astype(np.int64)
    jj = np.concatenate((pairs[:, 1], pairs[:, 0], np.arange(U))).astype(np.int64)
    dist = np.hypot(*(xy[ii] - xy[jj]).T)
    Wp = w[ii] * dist
    cap = w * R
    # start: each unit priced at the distance to its nearest neighbour
    nn = tree.query(xy, k=2)[0][:, 1] if U > 1 else np.zeros(U)
    lam = np.minimum(w * nn, cap)
    best, steps = 0.0, 0  # L(lam) >= 0 anyway: 0 is a valid start
    step_scale = 2.0
    stale = 0
    while steps < max_steps and time.perf_counter() < deadline:
        steps += 1
        red = np.minimum(Wp - lam[ii], 0.0)
        rho = np.bincount(jj, weights=red, minlength=U)
        sel = np.argpartition(rho, k - 1)[:k]
        value = float(lam.sum() + rho[sel].sum())
        if value > best + 1e-12 * max(1.0, best):
            best, stale = value, 0
        else:
            stale += 1
            if stale >= 10:
                step_scale /= 2.0
                stale = 0
        is_open = np.zeros(U, dtype=bool)
        is_open[sel] = True
        cover = np.bincount(ii, weights=(is_open[jj] & (Wp < lam[ii])).astype(float), minlength=U)
        g = 1.0 - cover
        g[(lam >= cap) & (g > 0)] = 0.0
        g[(lam <= 0) & (g < 0)] = 0.0
        norm = float(g @ g)
        if norm <= 0 or step_scale < 1e-4:
            break
        lam = np.clip(lam + step_scale * max(ub - value, 1e-9 * abs(ub)) / norm * g, 0.0, cap)
    return max(0.0, float(best)), steps
