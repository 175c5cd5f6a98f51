"""Speed of the foundation: point-in-county, import, coordinate conversion, travel matrices.

    python benchmarks/foundation.py [--accounts 100000] [--matrix 5000] [--seed 1]

Prints one JSON line per measurement: {"what", "n", "seconds", "per_second"}.
Point-in-county runs first on seeded random points spread over China (uniform
in China's bounding box, kept where inside its outline, so a few lie just off
a coast or a border): once cold (reading and indexing the national county
layer included) and once warm. The other inputs are seeded random points over
Fujian written to a temporary CSV in the format of a CRM export (Chinese
headers, GCJ-02), so the import path is the one users take.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from planner import geo, io
from planner.geo import coords, travel


def _emit(what: str, n: int, seconds: float, **extra) -> None:
    print(json.dumps({"what": what, "n": n, "seconds": round(seconds, 3),
                      "per_second": round(n / seconds) if seconds > 0 else None, **extra}), flush=True)


def _locate_china(rng: np.random.Generator, n: int) -> None:
    lon = rng.uniform(73.0, 135.5, 8 * n)
    lat = rng.uniform(18.0, 54.0, 8 * n)
    inside = geo.in_china(lon, lat)
    lon, lat = lon[inside][:n], lat[inside][:n]
    for what in ("locate_county_china_cold", "locate_county_china"):
        t = time.perf_counter()
        loc = geo.locate(lon, lat)
        _emit(what, len(lon), time.perf_counter() - t, located=int((loc["county_adcode"] != "").sum()),
              counties=int(loc["county_adcode"].nunique()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--matrix", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.accounts
    _locate_china(rng, n)
    lon = rng.uniform(116.5, 119.8, 2 * n)
    lat = rng.uniform(23.8, 27.5, 2 * n)
    inside = geo.in_china(lon, lat)  # no points far out at sea: they would be rejected
    lon, lat = lon[inside][:n], lat[inside][:n]
    g_lon, g_lat = coords.from_wgs84(lon, lat, "gcj02")
    df = pd.DataFrame({"客户编号": [f"C{i:07d}" for i in range(n)], "客户名称": "Fictional Co. (synthetic)",
                       "经度": np.round(g_lon, 6), "纬度": np.round(g_lat, 6),
                       "客户等级": rng.choice(["A", "B", "C"], n), "潜力金额": rng.integers(1000, 500000, n),
                       "最后拜访日期": "2026-10-01"})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.csv"
        df.to_csv(path, index=False)
        t = time.perf_counter()
        res = io.load(path, "accounts", crs="gcj02")
        _emit("import_csv_gcj02", n, time.perf_counter() - t, loaded=res.loaded, rejected=res.rejected_rows)

    t = time.perf_counter()
    geo.locate(lon, lat)
    _emit("locate_county_fujian", n, time.perf_counter() - t)

    t = time.perf_counter()
    coords.gcj02_to_wgs84(g_lon, g_lat)
    _emit("gcj02_to_wgs84_exact", n, time.perf_counter() - t)

    m = args.matrix
    pts = np.column_stack([lon[:m], lat[:m]])
    t = time.perf_counter()
    mat = travel.travel_matrix(pts)
    _emit("travel_matrix_great_circle", m * m, time.perf_counter() - t, shape=list(mat.time_s.shape),
          megabytes=round((mat.time_s.nbytes + mat.distance_m.nbytes) / 1e6))

    bases = pts[:200]
    allpts = np.column_stack([lon, lat])
    t = time.perf_counter()
    travel.nearest(allpts, bases)
    _emit("nearest_of_200", n, time.perf_counter() - t)


if __name__ == "__main__":
    main()
