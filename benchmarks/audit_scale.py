"""Audit speed at national scale: ``python benchmarks/audit_scale.py [--visits 1000000] [--reps 200] [--seed 0]``.

A seeded synthetic log, built vectorised: ``--reps`` reps over a year of working days, each day a chain
of visits 2-6 km apart (45 min each, 20 min between) at accounts of his own, check-ins within ~20 m of
the account, plus 1 % of records displaced 2-30 km (so the checks have work to do).  Only
``planner.solvers.audit.audit`` is timed.  Prints one JSON line: ``visits, reps, seconds, flagged,
flags`` and the counts by reason.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from planner import schema as S
from planner.solvers import audit

KM_DEG = 1 / 111.0


def instance(n: int, n_reps: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    per_day = 8
    days = int(np.ceil(n / (n_reps * per_day)))
    rep = np.repeat(np.arange(n_reps), days * per_day)[:n]
    day = np.tile(np.repeat(np.arange(days), per_day), n_reps)[:n]
    k = np.tile(np.arange(per_day), n_reps * days)[:n]
    base_lon = 113.0 + rng.uniform(0, 3, n_reps)
    base_lat = 22.5 + rng.uniform(0, 2, n_reps)
    step = rng.uniform(2, 6, n) * KM_DEG
    ang = rng.uniform(0, 2 * np.pi, n)
    dx = pd.Series(step * np.cos(ang)).groupby(rep * days + day).cumsum().to_numpy()
    dy = pd.Series(step * np.sin(ang)).groupby(rep * days + day).cumsum().to_numpy()
    acc_lon, acc_lat = base_lon[rep] + dx, base_lat[rep] + dy
    accounts = pd.DataFrame({S.ID: [f"A{i:07d}" for i in range(n)], S.LON: acc_lon, S.LAT: acc_lat})
    start = pd.Timestamp("2025-01-06") + pd.to_timedelta(day * 7 // 5 * 1440 + 8 * 60 + 30 + k * 65, unit="m")
    jitter = rng.normal(0, 20, (n, 2)) / 111_000.0
    far = rng.random(n) < 0.01
    shift = np.where(far, rng.uniform(2, 30, n) * KM_DEG, 0.0)
    visits = pd.DataFrame({S.ID: [f"V{i:07d}" for i in range(n)], S.VISIT_REP: [f"R{r:03d}" for r in rep],
                           S.ACCOUNT: accounts[S.ID], S.CHECK_IN: start, S.CHECK_OUT: start + pd.Timedelta(minutes=45),
                           S.LON: acc_lon + jitter[:, 0] + shift, S.LAT: acc_lat + jitter[:, 1],
                           S.VISIT_KIND: "visit", S.CONTACT_ROLE: "", S.NOTES: ""})
    reps = pd.DataFrame({S.ID: [f"R{r:03d}" for r in range(n_reps)],
                         S.BASE_OFFICE: [f"O{r:03d}" for r in range(n_reps)]})
    offices = pd.DataFrame({S.ID: reps[S.BASE_OFFICE], S.LON: base_lon, S.LAT: base_lat})
    return visits, accounts, reps, offices


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--visits", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    visits, accounts, reps, offices = instance(a.visits, a.reps, a.seed)
    t0 = time.perf_counter()
    plan = audit.audit(visits, accounts, reps, offices)
    seconds = time.perf_counter() - t0
    s = plan.summary()
    print(json.dumps({"visits": len(visits), "reps": a.reps, "seconds": round(seconds, 2), "flagged": s["flagged"],
                      "flags": s["flags"], "by_reason": s["by_reason"],
                      "displaced": int((visits[S.LON] - accounts[S.LON]).abs().gt(0.01).sum())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
