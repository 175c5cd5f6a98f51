"""Time limits: does every solver return within its limit, with a real bound?

    python benchmarks/time_limits.py [--solvers pmedian,cpmp,territories,roadmap,rotation,days]
                                     [--limits 2,5,10] [--cpmp-limits 2,5,10,30] [--repeat 1] [--large]

Runs each solver at each limit and prints one JSON line per run:
``{"solver", "case", "limit_s", "seconds", "overrun_pct", "ok", "status",
"objective", "bound", "gap", "message"}``. ``seconds`` is the wall time from the
call to the returned plan (building the inputs excluded); ``overrun_pct`` =
100 (seconds - limit) / limit (negative: under the limit); ``ok`` says whether
the run kept the rule: seconds <= limit + max(10 % of the limit, 1 s). The last
line is a summary: the worst run of each (solver, case, limit) over the repeats.

Cases (demo = the packaged Fujian demo):

- ``pmedian``: ``solve_bases`` uncapacitated, demo, k = 3; ``solve_pmedian`` on a
  seeded Beasley-style graphs (n = 700, p = 10 and n = 900, p = 5: they stop at the limit);
- ``cpmp``: ``solve_bases`` capacitated, demo, k = 3, 15 desks a base (``planner
  bases --k 3 --capacity 15``), also at 30 s (the default limit);
- ``territories``: ``territories.solve``, demo, 21 reps;
- ``roadmap``: ``expansion.solve_roadmap`` with its explaining re-solves, demo and
  a seeded 60-city x 200-cadre x 12-quarter case whose budget binds (seed 4 of
  ``benchmarks/expansion.py --max-openings 5 --budget 6000000``);
- ``rotation``: ``rotation.solve_rotation`` on the same two roadmaps;
- ``days``: ``days.solve``, demo team on the demo's next working day.

``--large`` adds ``solve_bases`` on 200,000 accounts, demo-like (the demo's,
resampled with ~1 km of jitter: ~15,000 demand cells) and uniform over the
demo area (~87,000 cells), with the demo offices as candidates,
uncapacitated and capacitated (800 desks a base, 1,600 reps), and the
territories of 10,000 accounts x 50 reps, at 5 and 10 s. ``--only TEXT``
keeps the cases whose name contains TEXT.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from planner import demo, schema as S
from planner.plans import SolveReport

Run = Callable[[float], SolveReport]  # limit in seconds -> the plan's report
SOLVERS = ("pmedian", "cpmp", "territories", "roadmap", "rotation", "days")


def kept(seconds: float, limit: float) -> bool:
    """The rule: within 10 % of the limit, or 1 s, whichever is larger."""
    return seconds <= limit + max(0.1 * limit, 1.0)


def measure(solver: str, case: str, limit: float, run: Run) -> dict[str, Any]:
    t = time.perf_counter()
    rep = run(limit)
    seconds = time.perf_counter() - t
    return {"solver": solver, "case": case, "limit_s": limit, "seconds": round(seconds, 2),
            "overrun_pct": round(100 * (seconds - limit) / limit, 1), "ok": kept(seconds, limit),
            "status": rep.status, "objective": rep.objective, "bound": rep.bound,
            "gap": None if rep.gap is None else round(rep.gap, 6), "message": rep.message[:160]}


def scaled_accounts(sc: Any, n: int, seed: int = 0, *, uniform: bool = False) -> pd.DataFrame:
    """``n`` demo accounts drawn with replacement, moved by ~1 km (demo-like: clustered where the demo's
    are), or with ``uniform`` placed uniformly at random over the demo accounts' bounding box."""
    rng = np.random.default_rng(seed)
    acc = sc.accounts.iloc[rng.integers(0, len(sc.accounts), n)].reset_index(drop=True).copy()
    if uniform:
        lo = sc.accounts[[S.LON, S.LAT]].min().to_numpy(float)
        hi = sc.accounts[[S.LON, S.LAT]].max().to_numpy(float)
        acc[[S.LON, S.LAT]] = lo + rng.random((n, 2)) * (hi - lo)
    else:
        acc[S.LON] = acc[S.LON] + rng.normal(0, 0.01, n)
        acc[S.LAT] = acc[S.LAT] + rng.normal(0, 0.01, n)
    acc[S.ID] = [f"S{i:07d}" for i in range(n)]
    return acc


def bases_cases(sc: Any, large: bool) -> Iterator[tuple[str, str, Run, tuple[float, ...] | None]]:
    from planner.solvers import bases

    def run_bases(acc: pd.DataFrame, reps: int, **kw: Any) -> Run:
        return lambda limit: bases.solve_bases(acc, sc.offices, reps=reps, options=bases.BaseOptions(
            time_limit_s=limit, **kw)).report

    yield "pmedian", "demo k=3", run_bases(sc.accounts, len(sc.reps), k=3), None
    yield "cpmp", "demo k=3 capacity 15", run_bases(sc.accounts, len(sc.reps), k=3, desks=15), ()
    if large:
        for uniform in (False, True):
            acc = scaled_accounts(sc, 200_000, uniform=uniform)
            where = "uniform" if uniform else "demo-like"
            yield "pmedian", f"200k accounts {where} k=3", run_bases(acc, 1600, k=3), (5.0, 10.0)
            yield "cpmp", f"200k accounts {where} k=3 capacity 800", run_bases(acc, 1600, k=3, desks=800), \
                (5.0, 10.0)


def pmedian_graph_cases() -> Iterator[tuple[str, str, Run, None]]:
    """``solve_pmedian`` on Beasley-style graphs of ``benchmarks/pmedian.py --generate`` (gen seed 1)
    that stop at the limit: n = 700, p = 10 (SCIP) and n = 900, p = 5 (iterated local search)."""
    from pmedian import write_random_pmed

    from planner.solvers.pmedian import PMedianProblem, read_orlib_pmed, solve_pmedian

    for n, p in ((700, 10), (900, 5)):
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / f"pmed_n{n}_p{p}.txt"
            write_random_pmed(f, n, p, seed=1_000_003 + n * 1009 + p)
            cost, p = read_orlib_pmed(f)
        problem = PMedianProblem(cost, None, p)
        yield "pmedian", f"graph n={n} p={p}", (lambda limit, pr=problem: solve_pmedian(
            pr, time_limit_s=limit).report), None


def territory_cases(sc: Any, large: bool) -> Iterator[tuple[str, str, Run, tuple[float, ...] | None]]:
    """The demo with 21 reps; with ``large`` also 10,000 accounts x 50 reps (``benchmarks/territories.py``)."""
    from planner.solvers import territories as T

    problem = T.problem_from_tables(sc.accounts, sc.reps, sc.offices, n_reps=21)
    yield "territories", "demo 21 reps", lambda limit: T.solve(problem, T.TerritoryOptions(
        time_limit_s=limit)).report, None
    if large:
        from territories import scaled_scenario

        acc, reps, offices = scaled_scenario(10_000, 50, seed=1)
        big = T.problem_from_tables(acc, reps, offices, as_of=demo.DEMO_DATE)
        yield "territories", "10000 accounts x 50 reps", lambda limit: T.solve(big, T.TerritoryOptions(
            time_limit_s=limit)).report, (5.0, 10.0)


def expansion_cases(sc: Any, solvers: set[str]) -> Iterator[tuple[str, str, Run, None]]:
    from expansion import generate

    from planner.solvers import expansion as E, rotation as R

    _, demo_problem = E.problem_from_tables(sc.accounts, sc.reps, sc.offices, sc.markets, sc.cadres)
    cases = [("demo", demo_problem, E.RoadmapOptions()),
             ("60 cities x 200 cadres, seed 4, budget 6m", generate(4),
              E.RoadmapOptions(horizon_q=12, max_openings_per_q=5, budget_cny=6_000_000.0, seed=4))]
    for name, problem, opt in cases:
        if "roadmap" in solvers:
            yield "roadmap", name, (lambda limit, p=problem, o=opt: E.solve_roadmap(
                p, o.replace(time_limit_s=limit)).report), None
        if "rotation" in solvers:
            plan = E.solve_roadmap(problem, opt.replace(time_limit_s=10.0, explain=False))
            yield "rotation", name, (lambda limit, p=problem, pl=plan, o=opt: R.solve_rotation(
                p, pl, R.RotationOptions(time_limit_s=limit, seed=o.seed)).report), None


def days_case(sc: Any) -> tuple[str, str, Run, None]:
    from planner.solvers import days

    date = pd.Timestamp(demo.DEMO_DATE) + pd.Timedelta(days=1)
    problem = days.DayProblem(sc.accounts, sc.reps, sc.offices, date)
    return "days", "demo team", lambda limit: days.solve(problem, days.DayOptions(time_limit_s=limit)).report, None


def cases(solvers: set[str], large: bool) -> Iterator[tuple[str, str, Run, tuple[float, ...] | None]]:
    """(solver, case, run, limits): limits None = ``--limits``; () = ``--cpmp-limits``."""
    sc = demo.load_demo()
    for c in bases_cases(sc, large):
        if c[0] in solvers:
            yield c
    if "pmedian" in solvers:
        yield from pmedian_graph_cases()
    if "territories" in solvers:
        yield from territory_cases(sc, large)
    if solvers & {"roadmap", "rotation"}:
        yield from expansion_cases(sc, solvers)
    if "days" in solvers:
        yield days_case(sc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solvers", default=",".join(SOLVERS), help="comma list of " + ", ".join(SOLVERS))
    ap.add_argument("--limits", default="2,5,10", help="comma list of time limits in seconds")
    ap.add_argument("--cpmp-limits", default="2,5,10,30", help="time limits of the capacitated bases case")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each case and limit (timings are noisy)")
    ap.add_argument("--large", action="store_true",
                    help="also the 200,000-account bases cases and 10,000 x 50 territories (5 and 10 s)")
    ap.add_argument("--only", default="", help="only the cases whose name contains this text")
    args = ap.parse_args(argv)
    solvers = {s.strip() for s in args.solvers.split(",") if s.strip()}
    unknown = solvers - set(SOLVERS)
    if unknown:
        ap.error(f"unknown solvers {sorted(unknown)}: choose among {', '.join(SOLVERS)}")
    limits = tuple(float(v) for v in args.limits.split(","))
    cpmp_limits = tuple(float(v) for v in args.cpmp_limits.split(","))
    worst: dict[tuple[str, str, float], dict[str, Any]] = {}
    for solver, case, run, own in cases(solvers, args.large):
        if args.only not in case:
            continue
        for limit in limits if own is None else (own or cpmp_limits):
            for _ in range(args.repeat):
                row = measure(solver, case, limit, run)
                print(json.dumps(row, ensure_ascii=False), flush=True)
                key = (solver, case, limit)
                if key not in worst or row["seconds"] > worst[key]["seconds"]:
                    worst[key] = row
    summary = [{k: r[k] for k in ("solver", "case", "limit_s", "seconds", "overrun_pct", "ok", "gap")}
               for r in worst.values()]
    print(json.dumps({"summary": True, "runs": summary, "all_ok": all(r["ok"] for r in summary)},
                     ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
