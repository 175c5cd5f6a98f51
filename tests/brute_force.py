"""Brute-force references for the routing tests: which sets of customers one tour can serve.

Small instances only (n <= ~12): an earliest-arrival dynamic programme over subsets.
"""

from __future__ import annotations

import numpy as np


def one_tour_subsets(travel: np.ndarray, service: np.ndarray, open_: np.ndarray, close: np.ndarray, horizon: int,
                     demand: np.ndarray | None = None, capacity: int | None = None) -> list[bool]:
    """``ok[mask]``: one tour from node 0 back to 0 within ``[0, horizon]`` serves exactly the customers of
    ``mask`` (bit j = node j + 1), each starting service inside its window (waiting allowed), within
    ``capacity`` when given. ``ok[0]`` is True (the empty tour)."""
    n = len(service) - 1
    INF = 10**9
    # ear[mask][j]: earliest start of service at customer j + 1 having served exactly mask, ending at j
    ear = [[INF] * n for _ in range(1 << n)]
    for j in range(n):
        t = max(int(travel[0, j + 1]), int(open_[j + 1]))
        if t <= close[j + 1]:
            ear[1 << j][j] = t
    ok = [False] * (1 << n)
    ok[0] = True
    for mask in range(1, 1 << n):
        load = 0 if demand is None else sum(int(demand[j + 1]) for j in range(n) if mask >> j & 1)
        fits = capacity is None or load <= capacity
        for j in range(n):
            t = ear[mask][j]
            if t >= INF:
                continue
            if fits and t + service[j + 1] + travel[j + 1, 0] <= horizon:
                ok[mask] = True
            for k in range(n):
                if mask >> k & 1:
                    continue
                t2 = max(t + int(service[j + 1]) + int(travel[j + 1, k + 1]), int(open_[k + 1]))
                if t2 <= close[k + 1] and t2 < ear[mask | 1 << k][k]:
                    ear[mask | 1 << k][k] = t2
    return ok
