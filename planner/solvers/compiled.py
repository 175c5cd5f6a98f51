"""What the compiled (numba) engines share: whether their kernels are in numba's on-disk cache, and one
command that compiles them all: ``python -m planner.solvers.compiled`` (once per installation, ~30 s; else
each engine compiles on its first long solve and shorter solves take the uncompiled path meanwhile)."""

from __future__ import annotations

import os
from collections.abc import Iterable


def cached(kernels: Iterable[object]) -> bool:
    """Whether every numba dispatcher of ``kernels`` (``cache=True``) has its index in numba's cache, so the
    first call in a process loads instead of compiling. False on a numba whose cache layout differs."""
    try:
        return all(os.path.exists(k._cache._cache_file._index_path) for k in kernels)  # type: ignore[attr-defined]
    except AttributeError:
        return False


def warm_up_all() -> dict[str, float]:
    """Compile (or load) every compiled engine's kernels: seconds per engine. Needs numba (the ``fast`` extra)."""
    from planner.solvers import fleet_fast, toptw_fast
    from planner.solvers.pmedian import knapsack_kernels

    return {"toptw_fast": toptw_fast.warm_up(), "fleet_fast": fleet_fast.warm_up(),
            "knapsack_kernels": knapsack_kernels.warm_up()}


if __name__ == "__main__":  # python -m planner.solvers.compiled
    for name, seconds in warm_up_all().items():
        print(f"{name}: ready in {seconds:.1f} s")
