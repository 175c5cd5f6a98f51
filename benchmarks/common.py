"""Shared pieces of the benchmark scripts: instance order, best-known values, the summary line."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path


def natural_key(path: Path):
    """pmed2 before pmed10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)]


def read_bks(directory: Path, column: str, *, key: str = "instance") -> dict[str, float]:
    """``{instance: value}`` from DIR/bks.csv (empty when the file or the value is missing)."""
    f = Path(directory) / "bks.csv"
    if not f.exists():
        return {}
    with f.open(newline="") as fh:
        return {row[key]: float(row[column]) for row in csv.DictReader(fh) if row.get(column) not in (None, "")}


def gap_pct(objective: float | None, best: float | None, *, maximise: bool = False) -> float | None:
    """Percentage gap to the best known value (positive = worse)."""
    if objective is None or best is None or best == 0:
        return None
    return 100.0 * ((best - objective) if maximise else (objective - best)) / abs(best)


class Summary:
    """Collects per-instance results and prints the closing summary line."""

    def __init__(self) -> None:
        self.instances = 0
        self.optimal = 0
        self.gaps: list[float] = []
        self.seconds = 0.0

    def add(self, *, seconds: float, status: str | None = None, gap: float | None = None) -> None:
        self.instances += 1
        self.seconds += seconds
        self.optimal += status == "optimal"
        if gap is not None:
            self.gaps.append(gap)

    def print(self, **extra) -> None:
        g = self.gaps
        print(json.dumps({"summary": True, "instances": self.instances, "optimal": self.optimal,
                          "mean_gap_pct": round(sum(g) / len(g), 4) if g else None,
                          "worst_gap_pct": round(max(g), 4) if g else None,
                          "total_seconds": round(self.seconds, 3), **extra}), flush=True)


class PeakMemory:
    """Peak resident memory (MB) of this process while the ``with`` block runs.

    Linux: the high-water mark (``VmHWM``) is reset on entry by writing 5 to
    ``/proc/self/clear_refs`` and read on exit, so the figure is the largest
    resident set during the block (the process's baseline included: the
    interpreter, imports and inputs already built). Elsewhere it falls back to
    ``ru_maxrss``, the peak since the process started.
    """

    def __init__(self) -> None:
        self.mb = float("nan")
        self.base_mb = float("nan")  # resident memory on entry (the part of ``mb`` that was already there)

    def __enter__(self) -> PeakMemory:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self.base_mb = round(rss_mb(), 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.mb = round(peak_rss_mb(), 1)


def peak_rss_mb() -> float:
    """The process's resident high-water mark in MB (``VmHWM``, else ``ru_maxrss``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    """The process's resident memory now in MB (``VmRSS``; NaN where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")
