"""What every sub-command shares: the data flags, the one loader, progress on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from planner.app.cli.options import pair
from planner.errors import InputError
from planner.geo import backends
from planner.geo.coords import CRS_NAMES
from planner.io.workspace import Tables, Workspace
from planner.plans import ProgressFn


def add_data_args(p: argparse.ArgumentParser, *, out: bool = True) -> None:
    """``--data``, ``--crs``, ``--file``, ``--strict`` (and ``--out``): where the job's tables come from."""
    g = p.add_argument_group("data")
    g.add_argument("--data", default=None, metavar="DIR",
                   help="folder with your tables, a file per table named after it (accounts.csv, reps.xlsx, ...; "
                        "planner.toml may declare files, coordinate systems and column mappings); "
                        "default: the Fujian demo")
    g.add_argument("--crs", choices=list(CRS_NAMES), default=None,
                   help="coordinate system of the files that declare none: wgs84 (GPS), gcj02 (Amap, Tencent), "
                        "bd09 (Baidu); default wgs84, or planner.toml's")
    g.add_argument("--file", action="append", type=pair, default=[], metavar="TABLE=FILE",
                   help="read TABLE from FILE instead (repeatable), e.g. --file accounts=crm_export.xlsx")
    g.add_argument("--travel", default=None, metavar="SPEC",
                   help="how travel is measured: model (built-in, offline; the calibrated profile when the folder "
                        "has one), model:PROFILE.json, osrm:http://HOST:PORT (your OSRM server), roads:DIR (the "
                        "local road engine from planner roads build), amap (key in AMAP_KEY); default: "
                        "planner.toml's [travel], else model")
    g.add_argument("--strict", action="store_true",
                   help="refuse any rejected row (default: leave it out, list it in TABLE_rejected.csv, go on)")
    if out:
        p.add_argument("--out", required=True, metavar="DIR", help="output folder")


def add_map_args(p: argparse.ArgumentParser) -> None:
    """``--tiles`` and ``--no-tiles``: the background of the job's HTML map(s)."""
    from planner.app.maps import tiles as T

    g = p.add_argument_group("map")
    g.add_argument("--tiles", default=None, metavar="NAME",
                   help=f"background tiles of the map: {T.CHOICES}; default: {T.TILES_ENV} when set, else osm "
                        "(amap is faster in mainland China; markers are shifted to GCJ-02 to sit on its streets)")
    g.add_argument("--no-tiles", action="store_true", help="no background tiles (fully offline map): --tiles none")


def map_tiles(args: argparse.Namespace) -> str | None:
    """The ``tiles`` argument of the job's maps from ``--tiles``/``--no-tiles``, checked before any solve (an
    unknown name, or Tianditu without a key, is an ``InputError`` naming the choices)."""
    from planner.app.maps import tiles as T

    if getattr(args, "no_tiles", False):
        return None
    name = getattr(args, "tiles", None)
    tiles = T.DEFAULT_TILES if name is None else name
    if tiles is not None and tiles.strip().lower() in ("none", "offline", ""):
        return None
    T.choose(tiles)  # raises for a bad choice now, not after the solve
    return tiles


def parse_day(text: str, flag: str) -> pd.Timestamp:
    """A day from the command line (``YYYY-MM-DD``), or an error naming the flag."""
    try:
        return pd.Timestamp(text).normalize()
    except (ValueError, TypeError):
        raise InputError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None


def workspace(args: argparse.Namespace) -> Workspace:
    """The workspace the flags name: ``--data``/``--file``, or the demo."""
    files = dict(getattr(args, "file", None) or [])
    strict = bool(getattr(args, "strict", False))
    if getattr(args, "data", None) is None and not files:
        from planner import demo

        return demo.workspace(strict=strict, travel=getattr(args, "travel", None))
    return Workspace.open(args.data, files=files, crs=getattr(args, "crs", None), strict=strict,
                          travel=getattr(args, "travel", None))


def open_travel(tables: Tables, quiet: bool = False) -> backends.Opened:
    """The workspace's travel backend, opened for one job (use it in a ``with``: a road engine's server
    stops at the end); says on stderr which backend measures the travel when it is not the built-in model."""
    opened = tables.workspace.open_travel()
    if opened.spec.kind != "model" and not quiet:
        print(f"travel times: {opened.spec.text}", file=sys.stderr)
    return opened


def load_tables(args: argparse.Namespace, needed: Iterable[str], optional: Iterable[str] = (),
                refine: Callable[[Tables], Tables] | None = None) -> Tables:
    """Load the job's tables (``refine``: the job's own row checks); write ``<table>_rejected.csv`` into
    ``--out``; stop if nothing usable is left (or, ``--strict``, if any row was rejected)."""
    tables = workspace(args).load(needed, optional=optional)
    if refine is not None:
        tables = refine(tables)
    for line in tables.describe():
        print(line, file=sys.stderr)
    tables.write_rejected(Path(args.out))
    tables.require_usable()
    return tables


def wrote(args: argparse.Namespace, paths: Iterable[Path | str]) -> str:
    """``Wrote a.xlsx, b.json into OUT``: the files by their place in the output folder the user named
    (jobs write into a staging folder that replaces it at the end)."""
    staging = Path(args.out)
    names = []
    for p in paths:
        try:
            names.append(str(Path(p).relative_to(staging)))
        except ValueError:
            names.append(str(p))
    return f"Wrote {', '.join(names)} into {getattr(args, 'final_out', args.out)}"


def stderr_progress(*, quiet: bool = False) -> ProgressFn:
    """A one-line progress display on stderr for long solves from the shell."""

    def show(fraction: float | None, message: str) -> None:
        if quiet:
            return
        pct = "" if fraction is None else f"{fraction:4.0%} "
        print(f"\r  {pct}{message:<60}", end="", file=sys.stderr, flush=True)

    return show


def end_progress(quiet: bool = False) -> None:
    if not quiet:
        print(file=sys.stderr)
