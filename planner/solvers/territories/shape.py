"""How drawable a territory plan is, measured the same way for every plan (scattered or contiguous).

- ``knn_same``: the mean share of each assigned account's ``k`` nearest assigned neighbours (straight
  distance, default 5) that are in its own territory. 1.0 when territories never interleave; about
  ``1 / R`` when accounts are dealt out at random.
- ``hull_overlap``: the sum of the territories' convex-hull areas over the area of their union. 1.0 when
  the hulls do not overlap; a plan whose territories sprawl across each other scores far above.

Both work on a local flat projection (km) of longitude/latitude, so they hold anywhere in China.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree


def _xy(lonlat: np.ndarray) -> np.ndarray:
    ll = np.asarray(lonlat, dtype=float).reshape(-1, 2)
    if not len(ll):
        return np.zeros((0, 2))
    ref = ll.mean(axis=0)
    return np.c_[(ll[:, 0] - ref[0]) * 111.32 * np.cos(np.radians(ref[1])), (ll[:, 1] - ref[1]) * 110.57]


def knn_same(lonlat: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean share of each point's ``k`` nearest other points that carry its label (NaN below 2 points).

    Points at the same place count as neighbours like any other (ties broken by index)."""
    xy = _xy(lonlat)
    lab = np.asarray(labels)
    n = len(xy)
    if n < 2:
        return float("nan")
    kk = min(k, n - 1)
    _, idx = cKDTree(xy).query(xy, k=kk + 1)
    idx = np.asarray(idx).reshape(n, kk + 1)
    # drop the point itself (normally column 0; with duplicates it may sit elsewhere)
    rows = np.arange(n)[:, None]
    self_mask = idx == rows
    keep = ~self_mask
    # rows where the point itself was not returned (kk+1 duplicates): drop the last column instead
    missing = ~self_mask.any(axis=1)
    keep[missing, -1] = False
    neigh = idx[keep].reshape(n, kk)
    return float((lab[neigh] == lab[:, None]).mean())


def hull_overlap(lonlat: np.ndarray, labels: np.ndarray) -> float:
    """Sum of the convex-hull areas of each label's points over the area of the union of those hulls.

    Territories of fewer than three points have no area (they add nothing); NaN when no hull has area."""
    xy = _xy(lonlat)
    lab = np.asarray(labels)
    hulls = []
    for value in np.unique(lab):
        pts = xy[lab == value]
        if len(pts) >= 3:
            hulls.append(shapely.convex_hull(shapely.multipoints(pts)))
    if not hulls:
        return float("nan")
    arr = np.asarray(hulls, dtype=object)
    union = shapely.union_all(arr).area
    if union <= 0:
        return float("nan")
    return float(shapely.area(arr).sum() / union)
