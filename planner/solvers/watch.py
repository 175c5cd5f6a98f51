"""Native solves (CP-SAT) that the progress callback can stop while they run.

A solver that calls ``progress`` only between its stages cannot be cancelled during a long native call:
CP-SAT runs its whole time limit in C++. :func:`run_watched` runs such a call with a watcher thread that
calls ``progress`` every ``every_s`` seconds (the fraction moving from ``lo`` towards ``hi`` with the
time, or None, "no change", without ``lo``; the message saying the seconds); when ``progress`` raises a
``BaseException`` that is not an ``Exception`` (the apps' ``Cancelled`` on Cancel or a newer slider value,
``KeyboardInterrupt``; a broken display's ``Exception`` is ignored), the watcher asks the solver to stop (``stop``, e.g.
``CpSolver.stop_search``, which is thread-safe), and once the call returns the same exception is raised
in the caller's thread, so a cancelled solve never returns a plan as if the limit had cut it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from planner.plans import ProgressFn, no_progress

T = TypeVar("T")

__all__ = ["run_watched"]


def run_watched(call: Callable[[], T], stop: Callable[[], None], progress: ProgressFn, *, label: str,
                limit_s: float, lo: float | None = None, hi: float = 1.0, every_s: float = 0.25) -> T:
    """``call()`` with ``progress`` polled every ``every_s`` s from a watcher thread; ``stop()`` and the
    progress callback's exception re-raised here when it raises. Without a progress callback, ``call()``."""
    if progress is no_progress:
        return call()
    done = threading.Event()
    raised: list[BaseException] = []
    t0 = time.perf_counter()

    def watch() -> None:
        while not done.wait(every_s):
            el = time.perf_counter() - t0
            try:
                frac = None if lo is None else lo + (hi - lo) * min(1.0, el / max(limit_s, 1e-9))
                progress(frac, f"{label} ({el:.0f} s)")
            except Exception:  # a broken display must not stop the solve
                continue
            except BaseException as exc:  # Cancel (``Cancelled``), KeyboardInterrupt: the caller's
                raised.append(exc)
                stop()
                return

    th = threading.Thread(target=watch, name=f"watch {label}", daemon=True)
    th.start()
    try:
        out = call()
    finally:
        done.set()
        th.join()
    if raised:
        raise raised[0]
    return out
