"""``planner roads``: a road engine from your own OpenStreetMap extract, and the built-in model fitted to it.

    planner roads build REGION.osm.pbf --engine DIR [--profile car|FILE.lua]
    planner roads calibrate --travel roads:DIR [--data DIR] [--pairs 300] [--seed 0] [--save FILE] [--dry-run]

``build`` prepares the local road engine once (OSRM's extract and contract, from the ``osrm-bindings``
wheel: ``pip install 'planner[roads]'``); every job then takes ``--travel roads:DIR`` (or ``[travel]
backend = "roads:DIR"`` in ``planner.toml``) and starts and stops the engine itself.

``calibrate`` asks the road backend (``--travel``: the local engine, an OSRM server or Amap) for the
travel times between pairs of your own accounts and offices, fits the built-in model's detour factor
and speeds to them, prints the model's error before and after (median and 90th percentile, minutes)
and saves the fitted profile as ``travel_profile.json`` in the data folder, where every job on that
folder finds it (``--travel model``, the default). ``--save FILE`` writes it elsewhere (needed for the
demo, whose folder belongs to the package).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from planner import schema as S
from planner.app.cli.common import add_data_args, workspace
from planner.errors import InputError
from planner.geo import backends
from planner.geo.travel import SpeedProfile


def run_build(args: argparse.Namespace) -> int:
    from planner.geo import roads

    source = Path(args.source)
    if not source.is_file():
        raise InputError(f"roads build: no such file {source} (an OpenStreetMap extract, .osm.pbf or .osm)")
    print(f"building the road engine from {source} into {args.engine} ...", file=sys.stderr)
    info = roads.build(source, Path(args.engine), profile=args.profile)
    print(f"road engine ready in {args.engine}: {info.describe()}")
    print(f"use it with --travel roads:{args.engine} (or [travel] backend = \"roads:{args.engine}\" in planner.toml)")
    return 0


def _points(args: argparse.Namespace) -> np.ndarray:
    """The distinct places of the workspace's accounts and offices (rejected rows are only counted)."""
    tables = workspace(args).load(("accounts",), optional=("offices",))
    for line in tables.describe():
        print(line, file=sys.stderr)
    tables.require_usable()
    frames = [tables["accounts"]] + ([tables["offices"]] if "offices" in tables else [])
    pts = np.vstack([f[[S.LON, S.LAT]].to_numpy(float) for f in frames])
    return np.unique(np.round(pts, 6), axis=0)


def _road_sample(args: argparse.Namespace, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                     np.ndarray, backends.Opened]:
    """(origins, destinations, road time s, road distance m) of the sampled pairs, driving time only."""
    from planner.geo import calibrate

    ws = workspace(args)
    if ws.travel.kind == "model":
        raise InputError("roads calibrate: --travel must name a road backend to fit the model to "
                         "(roads:DIR, osrm:http://HOST:PORT or amap), not the model itself")
    i, j = calibrate.sample_pairs(pts, args.pairs, seed=args.seed)
    opened = ws.open_travel()
    iu, ii = np.unique(i, return_inverse=True)
    ju, jj = np.unique(j, return_inverse=True)
    m = opened.backend.matrix(pts[iu], pts[ju])
    t = np.asarray(m.time_s, float)[ii, jj]
    d = np.asarray(m.distance_m, float)[ii, jj]
    overhead = float(opened.info.get("stop_overhead_s", 0.0))  # type: ignore[arg-type]
    t = np.where(np.isfinite(t) & (d > 0), t - overhead, t)  # the road's own driving time
    return pts[i], pts[j], t, d, opened


def run_calibrate(args: argparse.Namespace) -> int:
    from planner.geo import calibrate

    if args.data is None and args.save is None and not args.dry_run:
        raise InputError("roads calibrate: the demo's folder belongs to the package; give --save FILE "
                         "(or --data DIR to save into your folder, or --dry-run)")
    pts = _points(args)
    if len(pts) < 3:
        raise InputError(f"roads calibrate: {len(pts)} distinct places; at least 3 are needed")
    with_spec = backends.parse(args.travel)
    start = SpeedProfile()
    o, d, t, dist, opened = _road_sample(args, pts)
    with opened:
        cal = calibrate.calibrate(o, d, t, dist, start=start)
    print(cal.describe())
    if args.dry_run:
        return 0
    target = Path(args.save) if args.save else Path(args.data) / backends.PROFILE_FILE
    meta = {**cal.meta(), "against": with_spec.text}
    calibrate.save_profile(cal.profile, target, meta=meta)
    print(f"saved the fitted profile to {target}; jobs on {target.parent} use it with --travel model (the default)")
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("roads", help="road times: build a local road engine, fit the built-in model to it",
                       description="Build a road engine from your OpenStreetMap extract (planner roads build), "
                                   "or fit the built-in travel model to road times on your own accounts "
                                   "(planner roads calibrate).")
    rs = p.add_subparsers(dest="roads_command", required=True, metavar="ACTION")
    b = rs.add_parser("build", help="prepare the local road engine from an OpenStreetMap extract",
                      description="osrm-extract and osrm-contract on REGION.osm.pbf (or .osm) into --engine DIR, "
                                  "all or nothing. Jobs then use --travel roads:DIR.")
    b.add_argument("source", metavar="REGION.osm.pbf", help="your OpenStreetMap extract (.osm.pbf or .osm)")
    b.add_argument("--engine", required=True, metavar="DIR", help="folder for the engine (replaced whole)")
    b.add_argument("--profile", default="car", help="car (default), foot, bicycle, or your own .lua profile")
    b.set_defaults(func=run_build)
    c = rs.add_parser("calibrate", help="fit the built-in model to road times on your own accounts",
                      description="Sample pairs of your accounts and offices (short, medium and long trips), ask "
                                  "the road backend (--travel) for their driving times, fit the model's detour "
                                  "factor and speeds, report the error before and after, save the profile.")
    c.add_argument("--pairs", type=int, default=300, help="pairs of places to sample (default 300)")
    c.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    c.add_argument("--save", default=None, metavar="FILE",
                   help=f"where to save the profile (default: DATA/{backends.PROFILE_FILE})")
    c.add_argument("--dry-run", action="store_true", help="report the errors, save nothing")
    add_data_args(c, out=False)
    c.set_defaults(func=run_calibrate)
    return p
