"""Who opens which city: reserve managers, supervisors and experienced reps matched to the roadmap.

``solve_rotation(problem, roadmap, options) -> RotationPlan`` (OR-Tools CP-SAT).
Every input person appears once in ``RotationPlan.people`` (moved, or stays
with the reason); every move in ``RotationPlan.assignments`` carries its reasons.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd

from planner import schema as S
from planner.options import Options, option
from planner.plans import ProgressFn, SolveReport, no_progress
from planner.solvers.expansion import (
    MANAGEMENT_ROLES,
    ROLE_OF_LEVEL,
    STEP_UP_LEVELS,
    Person,
    RoadmapOptions,
    RoadmapPlan,
    RoadmapProblem,
    home_floors,
    role_of,
)


@dataclass(frozen=True, kw_only=True)
class RotationOptions(Options):
    """Weights of the match score (per person and opening) and the hard settings."""

    what = "rotation settings"

    w_fit: float = option(1.0, doc="weight of fit: review score / 100 + readiness margin (quarters early, max 2) / 4",
                          min=0.0, ui=False)
    w_development: float = option(0.5, doc="weight of development: per new market type (coastal/inland, tier, "
                                           "region) / 3", min=0.0, ui=False)
    w_willing: float = option(0.5, doc="weight of willingness (locked unwilling people score 0 here)", min=0.0,
                              ui=False)
    w_cost_per_100k_cny: float = option(0.3, doc="weight of cost, minus, per CNY 100,000 of relocation", min=0.0,
                                        ui=False)
    budget_cny: float | None = option(None, doc="relocation budget (default: the roadmap's)", min=0.0, cli=False,
                                      ui=False)
    locked: tuple[tuple[str, str], ...] = option((), doc="(person id, city adcode)", cli=False, ui=False)
    excluded: tuple[str, ...] = option((), doc="people who do not move", cli=False, ui=False)
    time_limit_s: float = option(10.0, doc="seconds for the rotation", unit="s", above=0.0,
                                 flag="--rotation-time-limit", ui=False)
    seed: int = option(0, doc="random seed (the roadmap's seed)", min=0, cli=False, ui=False)
    # one worker runs CP-SAT's LP-based search, which proves these matchings in < 1 s;
    # with 2 workers the portfolio drops it and a 60x200x12 rotation stalls at a 1-2 % gap after 60 s
    num_workers: int = option(1, doc="CP-SAT workers", min=1, cli=False, ui=False)


@dataclass(frozen=True)
class RotationPlan:
    """``assignments``: one row per move; ``people``: every input person with ``outcome`` and ``reason``."""

    assignments: pd.DataFrame
    people: pd.DataFrame
    report: SolveReport
    options: RotationOptions


def person_cost_cny(p: Person, city) -> float:
    """Relocation incentive: the city's ``relocation_cny``; nothing for someone who lives there."""
    return 0.0 if p.home == city.adcode else float(round(city.relocation_cny))


def _attrs(problem: RoadmapProblem) -> dict[str, tuple[int, str, str]]:
    out = {a: (t, co, rg) for a, t, co, rg in problem.city_attrs}
    for c in problem.cities:
        out[c.adcode] = (c.tier, c.coastal, c.region)
    return out


def development(p: Person, city, attrs: dict) -> list[str]:
    """Market types of ``city`` the person has not served yet (coastal/inland, tier, region)."""
    seen = [attrs[a] for a in {p.home, *p.served} if a in attrs]
    new = []
    if city.coastal not in {s[1] for s in seen}:
        new.append(f"first {city.coastal} market")
    if city.tier not in {s[0] for s in seen}:
        new.append(f"first tier-{city.tier} city")
    if city.region and city.region not in {s[2] for s in seen}:
        new.append(f"first market in {city.region}")
    return new


def solve_rotation(problem: RoadmapProblem, roadmap: RoadmapPlan, options: RotationOptions | None = None, *,
                   progress: ProgressFn = no_progress) -> RotationPlan:
    """Match people to the roadmap's openings.

    Objective: maximise the sum over moves of ``w_fit x (review/100 + min(2,
    quarters ready early)/4) + w_development x new market types/3 + w_willing x
    willing - w_cost_per_100k_cny x relocation/100,000`` (scaled to integers).

    Constraints: each opening gets exactly 1 manager, ``groups`` supervisors and
    ``groups`` experienced reps, each of that role (an M1.5/M0 only after a
    review >= the roadmap's threshold) and ready by the opening quarter; a
    person moves at most once over the horizon (so at most once a quarter);
    unwilling people move only if locked; excluded people never move; locked
    people go to their city; each home keeps its floor of management cadres;
    relocation <= budget.

    Infeasible: status ``infeasible``; ``violated`` names the locked people that
    cannot be honoured or the limit (floors, budget, locks) whose relaxation
    alone makes it feasible; the plan is the best one without the locks.
    """
    from ortools.sat.python import cp_model

    opt = options or RotationOptions()
    ropt: RoadmapOptions = roadmap.options
    budget = ropt.budget_cny if opt.budget_cny is None else opt.budget_cny
    t0 = time.perf_counter()
    progress(0.0, "matching people to openings")
    by_city = {c.adcode: c for c in problem.cities}
    pmap = {p.id: p for p in problem.people}
    locked = dict(opt.locked) | dict(ropt.locked)
    excluded = set(opt.excluded) | set(ropt.excluded)
    unknown = [f"locked person {p} is not in the people table" for p in locked if p not in pmap]
    unknown += [f"excluded person {p} is not in the people table" for p in excluded if p not in pmap]
    if unknown:
        raise ValueError("; ".join(unknown))
    openings = [(r.adcode, int(r.quarter), int(r.groups)) for r in roadmap.roadmap.itertuples()]
    need = {(a, r): (1 if r == "manager" else g) for a, q, g in openings for r in ("manager", "supervisor", "rep")}
    oq = {a: q for a, q, _ in openings}
    attrs = _attrs(problem)
    floors = home_floors(problem, ropt)

    pre: list[str] = []
    for pid, c in locked.items():
        p = pmap[pid]
        if pid in excluded:
            pre.append(f"locked: {pid} is both locked to {c} and excluded")
        elif c not in oq:
            pre.append(f"locked: {pid} is locked to {c}, which the roadmap does not open")
        elif role_of(p, ropt) is None:
            pre.append(f"locked: {pid} ({p.level}, review {p.review_score:g}) has no role to take")
        elif p.ready_in_quarters > oq[c]:
            pre.append(f"locked: {pid} is ready in Q{p.ready_in_quarters + 1}, after {c} opens in Q{oq[c] + 1}")

    def eligible(p: Person, a: str, use_locks: bool) -> bool:
        r = role_of(p, ropt)
        if r is None or p.id in excluded or p.ready_in_quarters > oq[a]:
            return False
        if use_locks and p.id in locked:
            return locked[p.id] == a
        return p.willing or (use_locks and p.id in locked)

    def score(p: Person, a: str) -> tuple[int, list[str], float]:
        c = by_city[a]
        margin = min(2, oq[a] - p.ready_in_quarters)
        dev = development(p, c, attrs)
        cost = person_cost_cny(p, c)
        val = (opt.w_fit * (p.review_score / 100 + margin / 4) + opt.w_development * len(dev) / 3
               + opt.w_willing * (1 if p.willing else 0) - opt.w_cost_per_100k_cny * cost / 100_000)
        return int(round(val * 1000)), dev, cost

    def build(use_locks: bool, relax: str | None):
        m = cp_model.CpModel()
        x = {}
        for p in problem.people:
            for a in oq:
                if eligible(p, a, use_locks):
                    x[p.id, a] = m.new_bool_var(f"x_{p.id}_{a}")
        for (a, r), n in need.items():
            m.add(sum(v for (pid, b), v in x.items() if b == a and role_of(pmap[pid], ropt) == r) == n)
        for p in problem.people:
            vs = [v for (pid, _), v in x.items() if pid == p.id]
            if vs:
                m.add_at_most_one(vs)
            if use_locks and p.id in locked and relax != "locks":
                key = (p.id, locked[p.id])
                if key in x:
                    m.add(x[key] == 1)
                else:
                    m.add_bool_or([])  # cannot be honoured
        if relax != "floors":
            for h, (_, _, free) in floors.items():
                vs = [v for (pid, _), v in x.items() if pmap[pid].home == h
                      and ROLE_OF_LEVEL.get(pmap[pid].level) in MANAGEMENT_ROLES]
                if vs:
                    m.add(sum(vs) <= free)
        cost = sum(int(person_cost_cny(pmap[pid], by_city[a])) * v for (pid, a), v in x.items())
        # each person costs at most the city's incentive and the roadmap counts every mover at it, so the
        # budget only needs a constraint when it is below the roadmap's relocation total
        if relax != "budget" and x and budget < float(roadmap.roadmap["relocation_cny"].sum()):
            m.add(cost <= int(math.floor(budget)))
        m.maximize(sum(score(pmap[pid], a)[0] * v for (pid, a), v in x.items()))
        s = cp_model.CpSolver()
        s.parameters.max_time_in_seconds = float(opt.time_limit_s)
        s.parameters.random_seed = int(opt.seed)
        s.parameters.num_workers = int(opt.num_workers)
        s.parameters.linearization_level = 2
        st = s.solve(m)
        name = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
                cp_model.INFEASIBLE: "infeasible"}.get(st, "time_limit_no_solution")
        if name not in ("optimal", "feasible"):
            return name, None, None, None
        chosen = sorted(k for k, v in x.items() if s.value(v))
        return name, chosen, s.objective_value / 1000, s.best_objective_bound / 1000

    status, chosen, objv, bound = build(True, None)
    violated: tuple[str, ...] = tuple(pre)
    message = ""
    if status == "infeasible":
        fams = [f for f in ("floors", "budget", "locks") if build(True, f)[0] in ("optimal", "feasible")]
        violated += tuple({"floors": "floors: the home teams' management floors leave too few people to move",
                           "budget": f"budget: relocation would exceed CNY {budget:,.0f}",
                           "locks": "locks: the locked people cannot all be honoured"}[f] for f in fams)
        if not violated:
            violated = ("roles: the openings need more ready, willing people of some role than there are",)
        st2, chosen, objv, bound = build(False, None)
        message = "no rotation honours every limit; the plan shown ignores the locks" if chosen is not None else \
            "no rotation meets the roadmap's needs"
    rows = []
    for pid, a in chosen or []:
        p, c = pmap[pid], by_city[a]
        val, dev, cost = score(p, a)
        r = role_of(p, ropt)
        why = [f"{p.level} as {r}" + (f" (steps up: review {p.review_score:g} >= {ropt.review_threshold:g})"
                                      if p.level in STEP_UP_LEVELS else f" (review {p.review_score:g})"),
               f"ready Q{p.ready_in_quarters + 1}, opening Q{oq[a] + 1}"]
        if dev:
            why.append("development: " + ", ".join(dev))
        why.append("willing to relocate" if p.willing else "not willing, but locked here")
        if p.id in locked:
            why.append("locked")
        why.append("lives there: no relocation" if cost == 0 else f"relocation CNY {cost:,.0f}")
        rows.append({"person": pid, S.LEVEL: p.level, "role": r, "from": p.home, S.ADCODE: a, S.NAME: c.name,
                     "quarter": oq[a], "label": f"Q{oq[a] + 1}", S.REVIEW_SCORE: p.review_score,
                     S.READY_IN_QUARTERS: p.ready_in_quarters, "willing": p.willing, "development": len(dev),
                     "relocation_cny": cost, "match_score": val / 1000, "reasons": "; ".join(why)})
    cols = ["person", S.LEVEL, "role", "from", S.ADCODE, S.NAME, "quarter", "label", S.REVIEW_SCORE,
            S.READY_IN_QUARTERS, "willing", "development", "relocation_cny", "match_score", "reasons"]
    assignments = pd.DataFrame(rows, columns=cols).sort_values(["quarter", S.ADCODE, "role", "person"],
                                                                kind="stable").reset_index(drop=True)
    moved = dict(zip(assignments["person"], assignments[S.ADCODE]))
    prow = []
    for p in problem.people:
        if p.id in moved:
            out, why = "moves", f"opens {by_city[moved[p.id]].name}"
        elif p.id in excluded:
            out, why = "stays", "excluded"
        elif role_of(p, ropt) is None:
            out, why = "stays", (f"{p.level} review {p.review_score:g} < {ropt.review_threshold:g}: no step up yet"
                                 if p.level in STEP_UP_LEVELS else f"level {p.level} takes no opening role")
        elif not p.willing:
            out, why = "stays", "not willing to relocate"
        else:
            out, why = "stays", "not needed by the roadmap (or keeps the home floor, or is not ready in time)"
        prow.append({"person": p.id, S.LEVEL: p.level, "home": p.home, "outcome": out, "reason": why})
    people = pd.DataFrame(prow, columns=["person", S.LEVEL, "home", "outcome", "reason"])
    if status in ("optimal", "feasible") and pre:
        status = "partial"
    rep = SolveReport(status, objv, bound, time.perf_counter() - t0, "cp-sat", violated, message)
    progress(1.0, "rotation done")
    return RotationPlan(assignments, people, rep, opt)


__all__ = ["RotationOptions", "RotationPlan", "solve_rotation", "person_cost_cny", "development"]
