"""What the compiled (numba) engines share: whether their kernels are in numba's on-disk cache."""

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
