"""Who opens which city: reserve managers, supervisors and experienced reps matched to the roadmap.

``solve_rotation(problem, roadmap, options) -> RotationPlan`` (OR-Tools CP-SAT).
Every input person appears once in ``RotationPlan.people`` (moved, or stays
with the reason); every move in ``RotationPlan.assignments`` carries its reasons.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.options import Options, option
from planner.plans import ProgressFn, SolveReport, Status, no_progress
from planner.solvers.expansion import (
    MANAGEMENT_ROLES,
    ROLE_OF_LEVEL,
    STEP_UP_LEVELS,
    City,
    Person,
    RoadmapOptions,
    RoadmapPlan,
    RoadmapProblem,
    cp_solver,
    home_floors,
    role_of,
)

if TYPE_CHECKING:
    from ortools.sat.python.cp_model import CpSolver, IntVar

_MIN_SOLVE_S = 0.05  # a CP-SAT solve with less time than this is not started


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


def person_cost_cny(p: Person, city: City) -> float:
    """Relocation incentive: the city's ``relocation_cny``; nothing for someone who lives there."""
    return 0.0 if p.home == city.adcode else float(round(city.relocation_cny))


def _attrs(problem: RoadmapProblem) -> dict[str, tuple[int, str, str]]:
    out = {a: (t, co, rg) for a, t, co, rg in problem.city_attrs}
    for c in problem.cities:
        out[c.adcode] = (c.tier, c.coastal, c.region)
    return out


def development(p: Person, city: City, attrs: Mapping[str, tuple[int, str, str]]) -> list[str]:
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


_Move = tuple[str, str]  # (person id, city adcode)


class _Matched(NamedTuple):
    """One CP-SAT solve of the matching: ``chosen`` moves (sorted) when one was found; objective and bound."""

    status: Status
    chosen: list[_Move] | None
    objective: float | None
    bound: float | None


@dataclass(frozen=True, kw_only=True)
class _Matching:
    """The matching's data: the roadmap's openings and needs, who is locked or excluded, the floors."""

    problem: RoadmapProblem
    roadmap: RoadmapPlan
    opt: RotationOptions
    ropt: RoadmapOptions
    budget: float
    by_city: dict[str, City]
    pmap: dict[str, Person]
    locked: dict[str, str]
    excluded: set[str]
    need: dict[tuple[str, str], int]  # (city, role) -> people
    oq: dict[str, int]  # city -> opening quarter
    attrs: dict[str, tuple[int, str, str]]
    floors: dict[str, tuple[int, int, int]]

    def lock_problems(self) -> list[str]:
        """Locks that cannot be honoured, as sentences."""
        pre: list[str] = []
        for pid, c in self.locked.items():
            p = self.pmap[pid]
            if pid in self.excluded:
                pre.append(f"locked: {pid} is both locked to {c} and excluded")
            elif c not in self.oq:
                pre.append(f"locked: {pid} is locked to {c}, which the roadmap does not open")
            elif role_of(p, self.ropt) is None:
                pre.append(f"locked: {pid} ({p.level}, review {p.review_score:g}) has no role to take")
            elif p.ready_in_quarters > self.oq[c]:
                pre.append(f"locked: {pid} is ready in Q{p.ready_in_quarters + 1}, after {c} opens in "
                           f"Q{self.oq[c] + 1}")
        return pre

    def eligible(self, p: Person, a: str, use_locks: bool) -> bool:
        r = role_of(p, self.ropt)
        if r is None or p.id in self.excluded or p.ready_in_quarters > self.oq[a]:
            return False
        if use_locks and p.id in self.locked:
            return self.locked[p.id] == a
        return p.willing or (use_locks and p.id in self.locked)

    def score(self, p: Person, a: str) -> tuple[int, list[str], float]:
        """(match score x 1000 as an integer, new market types, relocation) of ``p`` opening ``a``."""
        opt = self.opt
        c = self.by_city[a]
        margin = min(2, self.oq[a] - p.ready_in_quarters)
        dev = development(p, c, self.attrs)
        cost = person_cost_cny(p, c)
        val = (opt.w_fit * (p.review_score / 100 + margin / 4) + opt.w_development * len(dev) / 3
               + opt.w_willing * (1 if p.willing else 0) - opt.w_cost_per_100k_cny * cost / 100_000)
        return int(round(val * 1000)), dev, cost

    def solve(self, use_locks: bool, relax: str | None, deadline: float = math.inf) -> _Matched:
        """Build and solve the CP-SAT matching; ``relax`` drops the floors, the budget or the locks. CP-SAT
        stops at ``deadline`` (``time.perf_counter()`` time; building the model counts)."""
        from ortools.sat.python import cp_model

        opt, ropt, pmap = self.opt, self.ropt, self.pmap
        m = cp_model.CpModel()
        x: dict[_Move, IntVar] = {}
        for p in self.problem.people:
            for a in self.oq:
                if self.eligible(p, a, use_locks):
                    x[p.id, a] = m.new_bool_var(f"x_{p.id}_{a}")
        for (a, r), n in self.need.items():
            m.add(sum(v for (pid, b), v in x.items() if b == a and role_of(pmap[pid], ropt) == r) == n)
        for p in self.problem.people:
            vs = [v for (pid, _), v in x.items() if pid == p.id]
            if vs:
                m.add_at_most_one(vs)
            if use_locks and p.id in self.locked and relax != "locks":
                key = (p.id, self.locked[p.id])
                if key in x:
                    m.add(x[key] == 1)
                else:
                    m.add_bool_or([])  # cannot be honoured
        if relax != "floors":
            for h, (_, _, free) in self.floors.items():
                vs = [v for (pid, _), v in x.items() if pmap[pid].home == h
                      and ROLE_OF_LEVEL.get(pmap[pid].level) in MANAGEMENT_ROLES]
                if vs:
                    m.add(sum(vs) <= free)
        cost = sum(int(person_cost_cny(pmap[pid], self.by_city[a])) * v for (pid, a), v in x.items())
        # each person costs at most the city's incentive and the roadmap counts every mover at it, so the
        # budget only needs a constraint when it is below the roadmap's relocation total
        if relax != "budget" and x and self.budget < float(self.roadmap.roadmap["relocation_cny"].sum()):
            m.add(cost <= int(math.floor(self.budget)))
        m.maximize(sum(self.score(pmap[pid], a)[0] * v for (pid, a), v in x.items()))
        limit = min(float(opt.time_limit_s), deadline - time.perf_counter())
        if limit < _MIN_SOLVE_S:
            return _Matched("time_limit_no_solution", None, None, None)
        s = rotation_solver(opt, limit)
        st = s.solve(m)
        names: dict[object, Status] = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
                                       cp_model.INFEASIBLE: "infeasible"}
        name = names.get(st, "time_limit_no_solution")
        if name not in ("optimal", "feasible"):
            return _Matched(name, None, None, None)
        chosen = sorted(k for k, v in x.items() if s.value(v))
        return _Matched(name, chosen, s.objective_value / 1000, s.best_objective_bound / 1000)


def rotation_solver(opt: RotationOptions, time_limit_s: float) -> CpSolver:
    """CP-SAT as the rotation uses it (``expansion.cp_solver``: Ctrl-C not caught), with the LP-based
    search (linearization level 2) that proves these matchings fast."""
    s = cp_solver(time_limit_s, seed=opt.seed, workers=opt.num_workers)
    s.parameters.linearization_level = 2
    return s


def _matching(problem: RoadmapProblem, roadmap: RoadmapPlan, opt: RotationOptions) -> _Matching:
    """The matching's data; ``InputError`` when a locked or excluded person is not in the people table."""
    ropt: RoadmapOptions = roadmap.options
    pmap = {p.id: p for p in problem.people}
    locked = dict(opt.locked) | dict(ropt.locked)
    excluded = set(opt.excluded) | set(ropt.excluded)
    unknown = [f"locked person {p} is not in the people table" for p in locked if p not in pmap]
    unknown += [f"excluded person {p} is not in the people table" for p in excluded if p not in pmap]
    if unknown:
        raise InputError(unknown)
    openings = [(r.adcode, int(r.quarter), int(r.groups)) for r in roadmap.roadmap.itertuples()]
    return _Matching(problem=problem, roadmap=roadmap, opt=opt, ropt=ropt,
                     budget=ropt.budget_cny if opt.budget_cny is None else opt.budget_cny,
                     by_city={c.adcode: c for c in problem.cities}, pmap=pmap, locked=locked, excluded=excluded,
                     need={(a, r): (1 if r == "manager" else g) for a, q, g in openings
                           for r in ("manager", "supervisor", "rep")},
                     oq={a: q for a, q, _ in openings}, attrs=_attrs(problem), floors=home_floors(problem, ropt))


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

    Time limit: ``time_limit_s`` bounds the whole call (wall time, building
    the models included): the matching gets all of it; when it is infeasible
    (proven, so before the limit), the three relaxed re-solves share half of
    what is left and the plan without the locks gets the rest.
    """
    opt = options or RotationOptions()
    t0 = time.perf_counter()
    deadline = t0 + opt.time_limit_s
    progress(0.0, "matching people to openings")
    mt = _matching(problem, roadmap, opt)
    pre = mt.lock_problems()
    status, chosen, objv, bound = mt.solve(True, None, deadline)
    violated: tuple[str, ...] = tuple(pre)
    message = ""
    if status == "infeasible":
        fams = [f for k, f in enumerate(("floors", "budget", "locks"))
                if mt.solve(True, f, time.perf_counter() + 0.5 * (deadline - time.perf_counter()) / (3 - k)).status
                in ("optimal", "feasible")]
        violated += tuple({"floors": "floors: the home teams' management floors leave too few people to move",
                           "budget": f"budget: relocation would exceed CNY {mt.budget:,.0f}",
                           "locks": "locks: the locked people cannot all be honoured"}[f] for f in fams)
        if not violated:
            violated = ("roles: the openings need more ready, willing people of some role than there are",)
        _, chosen, objv, bound = mt.solve(False, None, deadline)
        message = "no rotation honours every limit; the plan shown ignores the locks" if chosen is not None else \
            "no rotation meets the roadmap's needs"
    assignments = _assignments(mt, chosen or [])
    people = _outcomes(mt, assignments)
    if status in ("optimal", "feasible") and pre:
        status = "partial"
    rep = SolveReport(status, objv, bound, time.perf_counter() - t0, "cp-sat", violated, message)
    progress(1.0, "rotation done")
    return RotationPlan(assignments, people, rep, opt)


def _assignments(mt: _Matching, chosen: list[_Move]) -> pd.DataFrame:
    """One row per move, with its match score and reasons."""
    ropt = mt.ropt
    rows = []
    for pid, a in chosen:
        p, city = mt.pmap[pid], mt.by_city[a]
        val, dev, cost = mt.score(p, a)
        r = role_of(p, ropt)
        why = [f"{p.level} as {r}" + (f" (steps up: review {p.review_score:g} >= {ropt.review_threshold:g})"
                                      if p.level in STEP_UP_LEVELS else f" (review {p.review_score:g})"),
               f"ready Q{p.ready_in_quarters + 1}, opening Q{mt.oq[a] + 1}"]
        if dev:
            why.append("development: " + ", ".join(dev))
        why.append("willing to relocate" if p.willing else "not willing, but locked here")
        if p.id in mt.locked:
            why.append("locked")
        why.append("lives there: no relocation" if cost == 0 else f"relocation CNY {cost:,.0f}")
        rows.append({"person": pid, S.LEVEL: p.level, "role": r, "from": p.home, S.ADCODE: a, S.NAME: city.name,
                     "quarter": mt.oq[a], "label": f"Q{mt.oq[a] + 1}", S.REVIEW_SCORE: p.review_score,
                     S.READY_IN_QUARTERS: p.ready_in_quarters, "willing": p.willing, "development": len(dev),
                     "relocation_cny": cost, "match_score": val / 1000, "reasons": "; ".join(why)})
    cols = ["person", S.LEVEL, "role", "from", S.ADCODE, S.NAME, "quarter", "label", S.REVIEW_SCORE,
            S.READY_IN_QUARTERS, "willing", "development", "relocation_cny", "match_score", "reasons"]
    return pd.DataFrame(rows, columns=cols).sort_values(["quarter", S.ADCODE, "role", "person"],
                                                        kind="stable").reset_index(drop=True)


def _outcomes(mt: _Matching, assignments: pd.DataFrame) -> pd.DataFrame:
    """Every input person: moves (where) or stays (why)."""
    ropt = mt.ropt
    moved = dict(zip(assignments["person"], assignments[S.ADCODE]))
    prow = []
    for p in mt.problem.people:
        if p.id in moved:
            out, why = "moves", f"opens {mt.by_city[moved[p.id]].name}"
        elif p.id in mt.excluded:
            out, why = "stays", "excluded"
        elif role_of(p, ropt) is None:
            out, why = "stays", (f"{p.level} review {p.review_score:g} < {ropt.review_threshold:g}: no step up yet"
                                 if p.level in STEP_UP_LEVELS else f"level {p.level} takes no opening role")
        elif not p.willing:
            out, why = "stays", "not willing to relocate"
        else:
            out, why = "stays", "not needed by the roadmap (or keeps the home floor, or is not ready in time)"
        prow.append({"person": p.id, S.LEVEL: p.level, "home": p.home, "outcome": out, "reason": why})
    return pd.DataFrame(prow, columns=["person", S.LEVEL, "home", "outcome", "reason"])


__all__ = ["RotationOptions", "RotationPlan", "solve_rotation", "person_cost_cny", "development"]
