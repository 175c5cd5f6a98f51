"""The local road engine at scale: ``python benchmarks/roads.py [--nodes 60000] [--points 5000] [--seed 0]``.

A seeded synthetic town (``planner.demo.roadnet``: grid-ish streets 200 m apart, every block drawn with
``--subdiv`` segments, 30 m of jitter, ``--drop`` of the residential blocks missing, arterials, a one-way
street, a river with two bridges) is written as ``.osm.pbf`` and built into a road engine; then
``--points`` seeded points near its roads (a road node moved up to 50 m) get a full duration matrix from
``LocalRoadsBackend``; then the built-in model is calibrated on ``--pairs`` sampled pairs of those points
and its error against the road times measured, before and after, on the fitted pairs and on 200,000
other pairs of the matrix.  Prints one JSON line per measurement (``what``):

- ``network``: nodes, ways, segments, file size, seconds to generate and write;
- ``build``: seconds, peak RSS of the build's subprocesses (``getrusage(RUSAGE_CHILDREN)``, MB) and the
  peak each OSRM tool reported, the engine's nodes and segments;
- ``matrix``: seconds to start the server, seconds for the n x n matrix, peak RSS of this process
  during it and of the server (``VmHWM``), unreachable pairs; the built-in model's seconds for the same;
- ``calibration``: the profile before and after, median and p90 of |model - road| driving minutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from common import PeakMemory

from planner.demo import roadnet
from planner.geo import calibrate, roads
from planner.geo.travel import GreatCircleBackend, SpeedProfile

HELD_OUT = 200_000


def _emit(what: str, **fields) -> None:
    print(json.dumps({"what": what, **fields}), flush=True)


def _children_peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)


def _vm_hwm_mb(pid: int | None) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError):
        pass
    return None


def _points(net: roadnet.RoadNet, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` places near the town's roads: a road node (not the island's) moved by up to 50 m."""
    road = np.setdiff1d(np.unique(np.concatenate([net.u, net.v])), net.island)
    pick = net.points[rng.choice(road, n, replace=n > len(road))]
    angle, dist = rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 50.0, n)
    lat = np.radians(pick[:, 1])
    return pick + np.column_stack([dist * np.cos(angle) / (111_320.0 * np.cos(lat)), dist * np.sin(angle) / 110_570.0])


def _errors(profile: SpeedProfile, pts: np.ndarray, i: np.ndarray, j: np.ndarray, t: np.ndarray) -> dict:
    from planner.geo.travel import haversine_m

    gc = haversine_m(pts[i], pts[j])
    model = profile.time_s(gc * profile.detour_factor) - profile.stop_overhead_s
    err = np.abs(model - t) / 60.0
    return {"median_min": round(float(np.median(err)), 2), "p90_min": round(float(np.percentile(err, 90)), 2)}


def _calibration(pts: np.ndarray, time_s: np.ndarray, dist_m: np.ndarray, pairs: int, seed: int) -> None:
    i, j = calibrate.sample_pairs(pts, pairs, seed=seed)
    t0 = time.perf_counter()
    cal = calibrate.calibrate(pts[i], pts[j], time_s[i, j].astype(float), dist_m[i, j].astype(float))
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 1)
    hi, hj = rng.integers(0, len(pts), HELD_OUT), rng.integers(0, len(pts), HELD_OUT)
    ok = (hi != hj) & np.isfinite(time_s[hi, hj]) & (time_s[hi, hj] > 0)
    hi, hj = hi[ok], hj[ok]
    ht = time_s[hi, hj].astype(float)
    _emit("calibration", pairs_used=cal.pairs_used, pairs_left_out=cal.pairs_left_out, seconds=round(seconds, 3),
          before=asdict(cal.before), after=asdict(cal.after), held_out_pairs=len(hi),
          held_out_before=_errors(cal.start, pts, hi, hj, ht), held_out_after=_errors(cal.profile, pts, hi, hj, ht),
          start=asdict(cal.start), fitted=asdict(cal.profile))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=60_000, help="OSM nodes of the synthetic town (about)")
    ap.add_argument("--points", type=int, default=5_000, help="matrix size (points x points)")
    ap.add_argument("--pairs", type=int, default=600, help="pairs sampled for the calibration")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subdiv", type=int, default=6, help="segments per block (shape nodes)")
    ap.add_argument("--drop", type=float, default=0.3, help="share of residential blocks missing")
    ap.add_argument("--table-size", type=int, default=1000, help="coordinates per /table request")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        net = roadnet.generate(a.nodes, seed=a.seed, subdiv=a.subdiv, drop=a.drop, jitter_m=30.0)
        src = net.write(Path(tmp) / "town.osm.pbf")
        _emit("network", nodes=net.n_nodes, ways=len(net.ways), segments=len(net.u), grid=list(net.grid.shape),
              file_mb=round(src.stat().st_size / 1e6, 2), seconds=round(time.perf_counter() - t0, 2))
        t0 = time.perf_counter()
        info = roads.build(src, Path(tmp) / "engine")
        _emit("build", seconds=round(time.perf_counter() - t0, 2), children_peak_rss_mb=_children_peak_mb(),
              tool_peak_ram_mb=dict(info.peak_ram_mb), nodes=info.nodes, segments=info.edges)
        pts = _points(net, a.points, rng)
        with roads.LocalRoadsBackend(Path(tmp) / "engine", max_table_size=a.table_size) as be:
            t0 = time.perf_counter()
            be.start()
            start_s = time.perf_counter() - t0
            with PeakMemory() as mem:
                t0 = time.perf_counter()
                m = be.matrix(pts, pts)
                seconds = time.perf_counter() - t0
            server_mb = _vm_hwm_mb(be.server_pid)
        t0 = time.perf_counter()
        GreatCircleBackend().matrix(pts, pts)
        model_s = time.perf_counter() - t0
        _emit("matrix", n=len(pts), server_start_seconds=round(start_s, 2), seconds=round(seconds, 2),
              cells_per_second=round(len(pts) ** 2 / seconds), peak_rss_mb=mem.mb, server_peak_rss_mb=server_mb,
              unreachable=int(len(m.unreachable)), table_size=a.table_size, model_seconds=round(model_s, 2))
        _calibration(pts, m.time_s, m.distance_m, a.pairs, a.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
