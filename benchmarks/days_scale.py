"""The team's day at scale: the demo team with a public pool grown to N prospects.

    python benchmarks/days_scale.py [--pool 5000] [--time-limit 10] [--seed 0]

The demo accounts (Fujian, 21 planned reps at the Xiamen office, 42 booked
appointments) plus jittered copies (~2 km) of the demo's pool prospects until
the pool holds ``--pool`` prospects; one ``planner.days.solve`` for the whole
team on the demo's next working day.  Prints one JSON line: seconds end to
end, candidates after pre-selection, visits, appointments kept, new visits,
mean visits per rep, and the solver status.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import pandas as pd

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=5000)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--all-reps", action="store_true",
                    help="plan all 25 demo reps (managers and supervisors too), not only those with accounts")
    a = ap.parse_args(argv)
    sc, acc = grown(a.pool, a.seed)
    date = pd.Timestamp(demo.DEMO_DATE) + pd.Timedelta(days=1)
    t0 = time.perf_counter()
    reps = tuple(sc.reps[S.ID]) if a.all_reps else None
    plan = days.solve(days.DayProblem(acc, sc.reps, sc.offices, date, rep_ids=reps),
                      days.DayOptions(time_limit_s=a.time_limit, seed=a.seed))
    sec = time.perf_counter() - t0
    s = plan.summary()
    print(json.dumps({"pool": int((acc[S.OWNER] == S.PUBLIC_POOL).sum()), "accounts": len(acc),
                      "seconds": round(sec, 2), "status": plan.report.status, "message": plan.report.message,
                      **{k: v for k, v in s.items() if not isinstance(v, (list, dict))},
                      "visits_per_rep": round(s["visits"] / max(1, s["reps"]), 2)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
