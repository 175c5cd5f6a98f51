"""The team's day at scale: the demo team with a public pool grown to N prospects, or many teams.

    python benchmarks/days_scale.py [--pool 5000] [--time-limit 10] [--seed 0]
    python benchmarks/days_scale.py --reps 100 [--shift-km 60]

The demo accounts (Fujian, 21 planned reps at the Xiamen office, 42 booked
appointments) plus jittered copies (~2 km) of the demo's pool prospects until
the pool holds ``--pool`` prospects; one ``planner.days.solve`` for the whole
team on the demo's next working day.

``--reps N``: the demo organisation cloned until it has N planned reps (copy
``c`` of every office, rep, account and appointment, ids suffixed ``-c``, its
area moved ``c x --shift-km`` north with ~1 km of jitter, appointments at the
same times), the pool of every copy grown to ``--pool / copies``; the first N
planned reps in one solve (100 reps: 5 offices, 100 reps, 15,000 accounts, 200
appointments).

Prints one JSON line: seconds end to end, cpu_seconds (this process's CPU time:
with other jobs on the machine the wall time grows, the CPU time much less),
peak_mb (the resident high-water mark during the solve, the inputs included;
base_mb: the resident memory on entry),
candidates after pre-selection, visits, appointments kept, new visits, mean
visits per rep, and the solver status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd
from common import PeakMemory

from planner import demo, schema as S
from planner.solvers import days


def grown(pool: int, seed: int) -> pd.DataFrame:
    sc = demo.load_demo()
    acc = sc.accounts
    base = acc[acc[S.OWNER] == S.PUBLIC_POOL]
    rng = np.random.default_rng(seed)
    need = max(0, pool - len(base))
    extra = base.sample(need, replace=True, random_state=seed).copy()
    extra[S.ID] = [f"X{i:06d}" for i in range(need)]
    extra[S.LON] = extra[S.LON] + rng.normal(0, 0.02, need)
    extra[S.LAT] = extra[S.LAT] + rng.normal(0, 0.02, need)
    return sc, pd.concat([acc, extra], ignore_index=True)


def cloned(n_reps: int, pool: int, seed: int, shift_km: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                                                        tuple[str, ...]]:
    """(accounts, reps, offices, planned rep ids): the demo organisation cloned until it has ``n_reps``
    planned reps (see the module docstring)."""
    sc = demo.load_demo()
    planned = [r for r in sc.reps[S.ID] if r in set(sc.accounts[S.OWNER])]
    copies = -(-n_reps // len(planned))
    rng = np.random.default_rng(seed)
    accs, reps, offs, ids = [], [], [], []
    for c in range(copies):
        _, acc = grown(max(pool // copies, 1), seed + c)
        sfx = f"-{c}"
        acc = acc.copy()
        acc[S.ID] = acc[S.ID].astype(str) + sfx
        acc[S.OWNER] = np.where(acc[S.OWNER] == S.PUBLIC_POOL, S.PUBLIC_POOL, acc[S.OWNER].astype(str) + sfx)
        acc[S.LAT] = acc[S.LAT] + c * shift_km / 111.0 + rng.normal(0, 0.01, len(acc))
        acc[S.LON] = acc[S.LON] + rng.normal(0, 0.01, len(acc))
        rp = sc.reps.copy()
        rp[S.ID] = rp[S.ID].astype(str) + sfx
        rp[S.BASE_OFFICE] = rp[S.BASE_OFFICE].astype(str) + sfx
        if S.MANAGER in rp:
            rp[S.MANAGER] = np.where(rp[S.MANAGER].astype(str) != "", rp[S.MANAGER].astype(str) + sfx, "")
        of = sc.offices.copy()
        of[S.ID] = of[S.ID].astype(str) + sfx
        of[S.LAT] = of[S.LAT] + c * shift_km / 111.0
        accs.append(acc)
        reps.append(rp)
        offs.append(of)
        ids += [r + sfx for r in planned]
    return (pd.concat(accs, ignore_index=True), pd.concat(reps, ignore_index=True),
            pd.concat(offs, ignore_index=True), tuple(ids[:n_reps]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=5000)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all-reps", action="store_true",
                    help="plan all 25 demo reps (managers and supervisors too), not only those with accounts")
    ap.add_argument("--reps", type=int, default=0, help="clone the demo organisation to this many planned reps")
    ap.add_argument("--shift-km", type=float, default=60.0, help="each clone's area this much further north")
    a = ap.parse_args(argv)
    if a.reps:
        acc, rep_table, offices, reps = cloned(a.reps, a.pool, a.seed, a.shift_km)
    else:
        sc, acc = grown(a.pool, a.seed)
        rep_table, offices = sc.reps, sc.offices
        reps = tuple(sc.reps[S.ID]) if a.all_reps else None
    date = pd.Timestamp(demo.DEMO_DATE) + pd.Timedelta(days=1)
    problem = days.DayProblem(acc, rep_table, offices, date, rep_ids=reps)
    t0, cpu = time.perf_counter(), time.process_time()
    with PeakMemory() as peak:
        plan = days.solve(problem, days.DayOptions(time_limit_s=a.time_limit, seed=a.seed))
    sec, cpu = time.perf_counter() - t0, time.process_time() - cpu
    s = plan.summary()
    print(json.dumps({"pool": int((acc[S.OWNER] == S.PUBLIC_POOL).sum()), "accounts": len(acc),
                      "seconds": round(sec, 2), "cpu_seconds": round(cpu, 2), "peak_mb": peak.mb,
                      "base_mb": peak.base_mb,
                      "status": plan.report.status, "message": plan.report.message,
                      **{k: v for k, v in s.items() if not isinstance(v, (list, dict))},
                      "visits_per_rep": round(s["visits"] / max(1, s["reps"]), 2)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
