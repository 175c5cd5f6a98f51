"""Entry roadmap + rotation at scale: 60 candidate cities x 200 cadres x 12 quarters (seeded).

    /work/venv/bin/python benchmarks/expansion.py [--seeds 0 1 2] [--cities 60] [--cadres 200]
        [--quarters 12] [--time-limit 55] [--gap-limit 0] [--workers 2] [--max-openings 3] [--budget 12000000]

One JSON line per run: the roadmap's status, objective, bound, gap, seconds
(and the rotation's). The goal: proven optimum or gap <= 1% in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from planner.solvers import expansion as E, rotation as R


def generate(seed: int, n_cities: int = 60, n_cadres: int = 200) -> E.RoadmapProblem:
    rng = np.random.default_rng(seed)
    homes = ["350200", "350500", "350100", "440300"]
    cities = tuple(E.City(f"{900000 + 100 * i}", f"City{i:02d}", float(rng.uniform(2e5, 9e5)),
                          float(np.round(rng.uniform(2e4, 1.2e5), -2)), int(rng.integers(1, 6)),
                          ["coastal", "inland"][int(rng.integers(0, 2))],
                          ["East China", "South China", "Central China"][int(rng.integers(0, 3))])
                   for i in range(n_cities))
    levels = rng.choice(["M2", "M1.5", "M1", "M0", "sales"], size=n_cadres, p=[0.08, 0.12, 0.25, 0.25, 0.30])
    people = tuple(E.Person(f"P{i:03d}", str(levels[i]), homes[int(rng.choice(4, p=[0.5, 0.2, 0.2, 0.1]))],
                            float(np.round(rng.uniform(55, 99), 1)), int(rng.choice([0, 0, 1, 2, 3, 4, 6])),
                            bool(rng.random() < 0.7),
                            tuple(sorted(rng.choice([c.adcode for c in cities], size=int(rng.integers(0, 3)),
                                                    replace=False).tolist())))
                   for i in range(n_cadres))
    home_reps = tuple((h, int(n)) for h, n in zip(homes, (120, 50, 40, 20)))
    return E.RoadmapProblem(cities, people, home_reps)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--cities", type=int, default=60)
    ap.add_argument("--cadres", type=int, default=200)
    ap.add_argument("--quarters", type=int, default=12)
    ap.add_argument("--time-limit", type=float, default=55.0, help="CP-SAT seconds (model building comes on top)")
    ap.add_argument("--gap-limit", type=float, default=0.0, help="stop at this relative gap (0: prove the optimum)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-openings", type=int, default=3)
    ap.add_argument("--budget", type=float, default=12_000_000.0)
    a = ap.parse_args(argv)
    for seed in a.seeds:
        prob = generate(seed, a.cities, a.cadres)
        opt = E.RoadmapOptions(horizon_q=a.quarters, max_openings_per_q=a.max_openings, budget_cny=a.budget,
                               time_limit_s=a.time_limit, seed=seed, num_workers=a.workers, explain=False,
                               gap_limit=a.gap_limit)
        t0 = time.perf_counter()
        plan = E.solve_roadmap(prob, opt)
        t_road = time.perf_counter() - t0
        rot = R.solve_rotation(prob, plan, R.RotationOptions(time_limit_s=a.time_limit, seed=seed))
        rep = plan.report
        print(json.dumps({"job": "expansion", "seed": seed, "cities": a.cities, "cadres": a.cadres,
                          "quarters": a.quarters, "workers": a.workers,
                          "max_openings": a.max_openings, "budget_cny": a.budget, "gap_limit": a.gap_limit,
                          "status": rep.status,
                          "objective": rep.objective, "bound": rep.bound, "gap": rep.gap,
                          "seconds": round(t_road, 2), "openings": len(plan.roadmap),
                          "rotation_status": rot.report.status, "rotation_gap": rot.report.gap,
                          "rotation_seconds": round(rot.report.seconds, 2),
                          "rotation_workers": rot.options.num_workers, "moves": len(rot.assignments)},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
