"""``planner demo``: where the accounts are and how far they sit from the team's offices (the main job)."""

from __future__ import annotations

import argparse
import time
import unicodedata
from pathlib import Path

import pandas as pd

from planner import geo, schema as S
from planner.app import maps
from planner.app.cli.common import add_data_args, add_map_args, load_tables, map_tiles, open_travel, wrote
from planner.app.export.common import write_csv, write_json
from planner.geo import backends
from planner.solvers import density, overview
from planner.solvers.density import ReachResult

NEEDS = ("accounts", "offices")


def _pad(text: str, width: int) -> str:
    """Left-justify by display width (CJK characters take two columns)."""
    w = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(width - w, 0)


def format_summary(summary: pd.DataFrame, rch: ReachResult, base_name: str, *, top: int = 15) -> str:
    """Plain-text report for the terminal."""
    lines = []
    total = int(summary["accounts"].sum())
    lines.append(f"Accounts: {total}")
    pref = summary.groupby("prefecture", sort=False)[["accounts", *S.CLASSES]].sum()
    pref = pref.sort_values("accounts", ascending=False)
    lines.append("\nBy prefecture            accounts   share     A     B     C")
    for name, r in pref.iterrows():
        label = str(name) or "(outside planning counties)"
        lines.append(f"  {_pad(label, 22)}{int(r.accounts):>8} {r.accounts / max(total, 1):>7.1%} "
                     f"{int(r.A):>5} {int(r.B):>5} {int(r.C):>5}")
    lines.append(f"\nTop {min(top, len(summary))} counties         accounts   share     A     B     C")
    for _, r in summary.head(top).iterrows():
        label = f"{r.county or '(none)'} ({r.prefecture or '-'})"
        lines.append(f"  {_pad(label, 22)}{int(r.accounts):>8} {r.share:>7.1%} {int(r.A):>5} {int(r.B):>5} "
                     f"{int(r.C):>5}")
    lines.append(f"\nReach from {base_name} (one way, great-circle x detour, speed bands):")
    for th, sh in rch.shares.items():
        lines.append(f"  within {th:>3} min: {sh:6.1%} of accounts")
    lines.append(f"  median {rch.time_min.median():.0f} min, 90th percentile {rch.time_min.quantile(0.9):.0f} min")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    tiles = map_tiles(args)
    t0 = time.perf_counter()
    tables = load_tables(args, NEEDS)
    acc, off = tables["accounts"], tables["offices"]
    current = off[off[S.OFFICE_STATUS] == "current"]
    if not len(current):
        raise ValueError("offices: no office has status 'current' (现有): mark where the team sits today")
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    tab = overview.account_summary(acc, located=loc)
    base_name = "; ".join(current[S.NAME].astype(str))
    with open_travel(tables) as tr:
        rch = density.reach(acc, current[[S.LON, S.LAT]].to_numpy(float), backend=tr.backend)
    print(format_summary(tab, rch, base_name))
    out = Path(args.out)
    units = geo.load_units("county")
    units = units[units["prefecture_adcode"].isin(set(loc["prefecture_adcode"]) - {""})]
    counts = tab.groupby("county_adcode")["accounts"].sum()
    m = maps.demo_map(acc, current, units, counts, tiles=tiles)
    html_path = maps.save_html(m, out / "demo_map.html")
    write_csv(tab, out / "accounts_by_county.csv")
    write_json(out / "summary.json", {
        "accounts": int(len(acc)), "base": base_name,
        "share_within_min": {str(k): round(v, 4) for k, v in rch.shares.items()},
        "median_time_min": round(float(rch.time_min.median()), 1),
        "by_prefecture": {k or "(none)": int(v) for k, v in tab.groupby("prefecture")["accounts"].sum().items()},
        "inputs": tables.summary(),
        "travel": backends.describe(tr),
    })
    print("\n" + wrote(args, [html_path, out / "accounts_by_county.csv", out / "summary.json"])
          + f" ({time.perf_counter() - t0:.1f} s)")
    from planner.app.cli.notebooks import hint
    print(hint())
    return 0


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = sub.add_parser("demo", help="where the accounts are and how far they sit from the team's offices",
                       description="Print where the accounts are (by prefecture and county) and how far they sit "
                                   "from the team's current offices, and write an HTML map. On the embedded "
                                   "Fujian demo, or on your tables with --data.")
    add_data_args(d)
    add_map_args(d)
    d.set_defaults(func=run)
    return d
