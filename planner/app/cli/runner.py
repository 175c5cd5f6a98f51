"""Running one sub-command: an output folder written whole or not at all, Ctrl-C that stops cleanly.

The job runs in a child process (forked: no re-import) that ignores SIGINT and
writes into a staging folder beside ``--out``
(:func:`planner.app.export.common.staged_output`). The parent waits:

- the job finishes (exit 0, or 2 for input it refused): if it wrote anything,
  its folder replaces ``--out`` whole, so no file of an earlier run stays
  mixed in; if it wrote nothing (a bad flag), ``--out`` is left as it was;
- Ctrl-C (or SIGTERM): the parent stops the child, removes the staging
  folder, leaves ``--out`` as it was, says so, and exits 130. No solver ever
  sees the interrupt, so none can return a cut plan as if it were complete
  (OR-Tools' CP-SAT would otherwise catch Ctrl-C and report the cut search
  as feasible);
- the child dies (a crash in a native library): ``--out`` is left as it was
  and the exit code says so.

``PLANNER_IN_PROCESS=1`` runs the job in the same process (for debugging;
where ``fork`` is not available it is the only way); Ctrl-C then raises
``KeyboardInterrupt`` in the job and the staging folder is still removed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from planner.app.export.common import staged_output
from planner.errors import InputError
from planner.geo.travel import TravelError

INTERRUPTED = 130
Job = Callable[[argparse.Namespace], int]


def call(func: Job, args: argparse.Namespace) -> int:
    """Run a sub-command's function; bad input or settings, or a travel backend that cannot answer (a
    road engine that will not build or start, an API's quota) -> the reason on stderr and 2."""
    try:
        return int(func(args))
    except (InputError, FileNotFoundError, ValueError, TravelError) as exc:
        msg = " ".join(str(exc).split())
        print(f"planner {args.command}: error: {msg}", file=sys.stderr)
        return 2


def _child(func: Job, args: argparse.Namespace) -> None:
    # The parent handles Ctrl-C. Blocked (not only ignored), so that no native library that installs a
    # handler of its own during a solve (OR-Tools does) ever sees it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent stops the child with SIGTERM: die of it quietly (the handler inherited from the parent
    # would raise KeyboardInterrupt here and print a traceback).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        code = call(func, args)
    except BaseException as exc:  # an unexpected error: show it, exit 1
        import traceback

        traceback.print_exception(exc)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _in_child(func: Job, args: argparse.Namespace) -> int:
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_child, args=(func, args), name=f"planner {args.command}")
    sys.stdout.flush()
    sys.stderr.flush()
    proc.start()
    try:
        proc.join()
    except KeyboardInterrupt:
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        raise
    code = proc.exitcode if proc.exitcode is not None else 1
    return code if code >= 0 else 128 - code  # killed by a signal: 128 + signal number


def in_process() -> bool:
    return os.environ.get("PLANNER_IN_PROCESS", "") not in ("", "0") or "fork" not in mp.get_all_start_methods()


def run(func: Job, args: argparse.Namespace) -> int:
    """Run ``func(args)`` into a staged ``args.out`` (see the module docstring); returns the exit code."""
    out = Path(args.out)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    code = 0
    try:
        with staged_output(out) as tmp:
            staged = argparse.Namespace(**{**vars(args), "out": str(tmp), "final_out": str(out)})
            code = call(func, staged) if in_process() else _in_child(func, staged)
            if code not in (0, 2):
                raise _Crashed(code)
    except _Crashed as crash:
        print(f"planner {args.command}: stopped (exit {crash.code}); {out} is left as it was", file=sys.stderr)
        return crash.code
    except KeyboardInterrupt:
        print(f"\nplanner {args.command}: interrupted; nothing written, {out} is left as it was", file=sys.stderr)
        return INTERRUPTED
    except InputError as exc:  # the output folder itself (locked, a file, someone else's files)
        print(f"planner {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


class _Crashed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
