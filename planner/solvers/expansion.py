"""New cities: market scoring and the entry roadmap (which city opens in which quarter).

Two pure steps:

- ``score_markets(...)``: a transparent score per candidate city. Four components
  in 0..1 (market density, travel from the existing bases, management density and
  sales density: how well the willing, ready bench fits an opening of that city),
  each with its user weight; the score is their weighted geometric mean (a product:
  a market breakthrough needs management x sales x market density). The returned
  table holds every component, its weight and its factor in the product.
- ``solve_roadmap(problem, options) -> RoadmapPlan``: OR-Tools CP-SAT chooses
  ``open[c, q]`` (city ``c`` opens in quarter ``q``) and ``groups[c, q]`` (2-3
  supervisor groups) to maximise projected revenue minus relocation cost.

The roadmap counts people by role, home city and readiness; ``planner.solvers.rotation``
then names who goes where (a count-feasible roadmap always has a rotation: the
pools are nested by readiness, so earliest-ready-first fills every opening).

Roles: ``manager`` = an M2, or an M1.5 stepping up (review >= threshold);
``supervisor`` = an M1, or an M0 stepping up (review >= threshold); ``rep`` = a
``sales``-level cadre (an experienced rep). A person counts from the quarter
``ready_in_quarters`` on (quarter 0 is the first planned quarter); only
willing people (or people locked to a city) move; excluded people never move.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.geo.travel import TravelBackend
from planner.options import Options, option
from planner.plans import ProgressFn, SolveReport, Status, no_progress
from planner.solvers.watch import run_watched

if TYPE_CHECKING:
    from ortools.sat.python.cp_model import CpModel, CpSolver, IntVar

ROLES = ("manager", "supervisor", "rep")
ROLE_OF_LEVEL: Mapping[str, str] = MappingProxyType(
    {"M2": "manager", "M1.5": "manager", "M1": "supervisor", "M0": "supervisor", "sales": "rep"})
STEP_UP_LEVELS = ("M1.5", "M0")  # need a passed review to take the role
MANAGEMENT_ROLES = ("manager", "supervisor")
STAGE_NAMES = ("sowing", "cultivating", "growing", "harvesting")
FAMILIES = ("managers", "supervisors", "reps", "floors", "openings", "budget", "required")
EXPLAINED = FAMILIES[:6]  # the families relaxed in turn to explain the plan
_MIN_SOLVE_S = 0.05  # a CP-SAT solve with less time than this is not started
_EXPLAIN_SHARE = 0.2  # with explanations on, the main solve leaves them this share of the limit


# --------------------------------------------------------------------------- scoring
SCORE_COMPONENTS: Mapping[str, str] = MappingProxyType(
    {"market": "market_density", "travel": "travel_score", "management": "management_readiness",
     "sales": "sales_density"})  # weight name -> component column
EXPERIENCE: Mapping[str, float] = MappingProxyType(
    {"city": 1.0, "province": 0.7, "region": 0.4, "type": 0.25, "none": 0.1})  # how well a person knows a city


@dataclass(frozen=True, kw_only=True)
class ScoreWeights(Options):
    """Weights of the four score components (exponents of a weighted geometric mean; any non-negative
    numbers, normalised by their sum), the floor each component gets before the product, and the
    weights of the attribute-based market density used where a city has no accounts."""

    what = "score weights"

    market: float = option(0.4, doc="weight of market density", label="w market", min=0.0, ui_max=1.0, step=0.05,
                           flag="--w-market")
    travel: float = option(0.2, doc="weight of travel from the bases", label="w travel", min=0.0, ui_max=1.0,
                           step=0.05, flag="--w-travel")
    management: float = option(0.2, doc="weight of management density (the bench's managers and supervisors)",
                               label="w management", min=0.0, ui_max=1.0, step=0.05, flag="--w-management")
    sales: float = option(0.2, doc="weight of sales density (the bench's experienced reps)", label="w sales",
                          min=0.0, ui_max=1.0, step=0.05, flag="--w-sales")
    floor: float = option(0.01, doc="each component counts as at least this in the product, so that one zero "
                                    "does not make every such city tie at 0", above=0.0, max=1.0, cli=False,
                          ui=False)
    tier: float = option(0.6, doc="attribute density: weight of (6 - tier) / 5", min=0.0, cli=False, ui=False)
    coastal: float = option(0.4, doc="attribute density: weight of being coastal", min=0.0, cli=False, ui=False)
    max_travel_min: float = option(600.0, doc="travel score 0 at (or beyond) this many minutes", above=0.0,
                                   cli=False, ui=False)

    def problems(self) -> list[str]:
        p = []
        if self.market + self.travel + self.management + self.sales <= 0:
            p.append("market + travel + management + sales must be > 0")
        if self.tier + self.coastal <= 0:
            p.append("tier + coastal must be > 0")
        return p


@functools.lru_cache(maxsize=1)
def _unit_levels() -> dict[str, tuple[str, str]]:
    from planner import geo

    u = geo.admin_units()
    return {str(a): (str(lv), str(p)) for a, lv, p in zip(u["adcode"], u["level"], u["parent_adcode"])}


def _prefecture_of(adcode: str) -> str:
    """The prefecture-level unit of an adcode: a county's parent (Chongqing's counties: the municipality),
    a prefecture itself (also the ones whose code does not end in 00, such as Xiantao 429004), a province-level
    municipality given by its province code itself; unknown codes by their first four digits."""
    a = str(adcode).strip()
    hit = _unit_levels().get(a)
    if hit is None:
        return a[:4] + "00" if len(a) == 6 and a.isdigit() else a
    level, parent = hit
    return parent if level == "county" else a


def seat_points(adcodes: Iterable[str]) -> np.ndarray:
    """(n, 2) lon/lat of the prefectures' seats; ValueError listing unknown codes."""
    from planner import geo

    u = geo.admin_units().set_index("adcode")  # every level: a municipality's code is its province's
    codes = [_prefecture_of(c) for c in adcodes]
    bad = [c for c in codes if c not in u.index]
    if bad:
        raise ValueError(f"adcode: {', '.join(sorted(set(bad)))} is not a prefecture in geodata")
    return u.loc[codes, ["seat_lon", "seat_lat"]].to_numpy(float)


def travel_between(origins: Iterable[str], destinations: Iterable[str], *,
                   backend: TravelBackend | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distance_km, time_min) between prefecture seats, measured by ``backend`` (default the built-in
    model); a pair with no road is ``inf`` (scored as the farthest city, never chosen for its distance)."""
    from planner.geo import travel

    m = travel.travel_matrix(seat_points(origins), seat_points(destinations), backend=backend)
    return np.asarray(m.distance_m, float) / 1000.0, np.asarray(m.time_s, float) / 60.0


def _served(text: object) -> set[str]:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return set()
    return {s.strip() for s in str(text).split(";") if s.strip()}


def score_markets(markets: pd.DataFrame, *, accounts: pd.DataFrame | None = None,
                  cadres: pd.DataFrame | None = None, bases: tuple[str, ...],
                  weights: ScoreWeights | None = None, exclude_bases: bool = True,
                  roadmap: RoadmapOptions | None = None, backend: TravelBackend | None = None) -> pd.DataFrame:
    """Score every candidate city (rows of ``markets``), best first.

    A market breakthrough is management density x sales density x market density
    (DOMAIN.md section 4): a city nobody on the bench can open scores low however
    big its market. So the score is a weighted geometric mean (a normalised product)::

        score = prod_i max(floor, c_i) ** (w_i / sum_j w_j)

    over the four components ``c_i`` below (each 0..1) with the user weights
    ``w_i`` (``ScoreWeights``). A component is floored at ``floor`` (0.01) so that one
    zero does not tie every such city at 0: it costs the factor ``floor ** share``
    instead (0.40 at a 0.2 share). The score is in (0, 1]; 1 only when every
    weighted component is 1.

    Components:

    - ``market_density``: from accounts located in the city when it has any
      (``0.5 + 0.5 * share of the best city's weighted accounts``, where an
      account weighs 1 + 1 for class A/B + potential / mean potential); else from
      the attributes ``(w_tier * (6 - tier) / 5 + w_coastal * coastal) / (w_tier + w_coastal)``
      scaled to at most 0.5 (user data beats attributes);
    - ``travel_score``: ``1 - min travel time from a base / max_travel_min`` (clipped);
    - ``management_readiness`` (management density): how well the bench fits an
      opening of THIS city: the best manager and the best ``min_groups``
      supervisors (``roadmap``'s roles: willing or locked, not excluded, an M1.5/M0
      with review >= ``review_threshold``), each valued ``experience x readiness``,
      averaged over the ``1 + min_groups`` places (a place nobody fills counts 0);
    - ``sales_density``: the same over the ``min_groups`` experienced reps (level
      ``sales``) an opening needs (one per supervisor group).

    ``experience`` (see ``experience``): served the city itself (or lives there) 1.0,
    a city of its province 0.7, of its region 0.4, a city of the same market type
    (same coastal/inland and tier) 0.25, otherwise 0.1. ``readiness`` is
    ``1 / (1 + ready_in_quarters)``: ready now 1, next quarter 0.5, then 0.33, ...

    Returned columns: the city, every component, ``management_bench`` /
    ``sales_bench`` (who fills the places and each one's value), and per component
    ``w_<name>`` (its normalised weight, the exponent) and ``f_<name>`` (its factor
    ``max(floor, c) ** w``; the factors multiply to ``score``, and ``ln f`` is the
    component's log-share of ``ln score``); ``limited_by`` names the component
    with the smallest factor. Base cities are left out when ``exclude_bases``
    (they are open already).
    """
    w = weights or ScoreWeights()
    mk = markets.copy()
    mk[S.ADCODE] = mk[S.ADCODE].astype(str)
    if exclude_bases:
        mk = mk[~mk[S.ADCODE].isin(set(bases))]
    codes = mk[S.ADCODE].tolist()
    out = pd.DataFrame({S.ADCODE: codes, S.NAME: mk[S.NAME].astype(str).tolist(),
                        S.TIER: mk[S.TIER].astype("Int64").fillna(4).astype(int).to_numpy(),
                        S.COASTAL: mk[S.COASTAL].fillna("inland").astype(str).to_numpy(),
                        S.REGION: mk[S.REGION].fillna("").astype(str).to_numpy()})
    dens, src, n_acc = _market_density(out, accounts, bases, w)
    out["accounts"] = n_acc
    out["density_source"] = src
    out["market_density"] = dens
    tmin = travel_between(list(bases), codes, backend=backend)[1].min(axis=0) if len(out) else np.zeros(0)
    out["travel_min"] = np.round(tmin, 1)
    out["travel_score"] = np.clip(1 - tmin / w.max_travel_min, 0, 1)
    people = _people(cadres) if cadres is not None else ()
    _add_bench_fit(out, city_attributes(markets), people, roadmap or RoadmapOptions())
    _add_score(out, w)
    return out.sort_values(["score", S.ADCODE], ascending=[False, True], kind="stable").reset_index(drop=True)


def _market_density(out: pd.DataFrame, accounts: pd.DataFrame | None, bases: tuple[str, ...],
                    w: ScoreWeights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(density, its source, accounts located) per row of ``out`` (see ``score_markets``)."""
    attr = ((w.tier * (6 - out[S.TIER].clip(1, 6)) / 5 + w.coastal * (out[S.COASTAL] == "coastal"))
            / (w.tier + w.coastal))
    dens = 0.5 * attr.to_numpy(float)
    src = np.array(["attributes"] * len(out), dtype=object)
    n_acc = np.zeros(len(out), int)
    if accounts is None or not len(accounts):
        return dens, src, n_acc
    from planner import geo

    loc = geo.locate(accounts[S.LON], accounts[S.LAT], level="prefecture")["prefecture_adcode"].to_numpy()
    none = np.zeros(len(accounts))
    pot = accounts[S.POTENTIAL_CNY].astype(float).fillna(0).to_numpy() if S.POTENTIAL_CNY in accounts else none
    mean_pot = float(np.mean(pot)) if np.size(pot) and float(np.mean(pot)) > 0 else 1.0
    ab = accounts[S.CLASS].isin(["A", "B"]).to_numpy() if S.CLASS in accounts else none
    wt = 1.0 + ab + np.asarray(pot) / mean_pot
    per = pd.Series(wt).groupby(loc).sum()
    cnt = pd.Series(1, index=range(len(loc))).groupby(loc).sum()
    top = float(per.drop(labels=[b for b in bases if b in per.index] + [""], errors="ignore").max()
                if len(per) else 0) or 1.0
    for i, c in enumerate(out[S.ADCODE]):
        if c in per.index and cnt[c] > 0:
            dens[i] = min(1.0, 0.5 + 0.5 * float(per[c]) / top)
            src[i] = "accounts"
            n_acc[i] = int(cnt[c])
    return dens, src, n_acc


CityAttributes = Mapping[str, tuple[int, str, str]]  # prefecture adcode -> (tier, coastal, region)


def city_attributes(markets: pd.DataFrame) -> dict[str, tuple[int, str, str]]:
    """Prefecture adcode -> (tier, coastal, region) from the markets table (tier 4, inland, '' when empty)."""
    tiers = pd.to_numeric(markets[S.TIER], errors="coerce").fillna(4).astype(int)
    return {_prefecture_of(a): (int(t), str(co), str(rg)) for a, t, co, rg in
            zip(markets[S.ADCODE].astype(str), tiers, markets[S.COASTAL].fillna("inland"),
                markets[S.REGION].fillna(""))}


def experience(p: Person, city: str, attrs: CityAttributes) -> float:
    """How well ``p`` knows ``city`` (``EXPERIENCE``): the city itself (served or lives there) 1.0, another
    city of its province 0.7, of its region 0.4, of the same market type (coastal/inland and tier) 0.25,
    else 0.1. Regions and types come from ``attrs`` (the markets table); a city not in it has neither."""
    been = {_prefecture_of(s) for s in p.served} | ({p.home} if p.home and p.home != "nan" else set())
    if city in been:
        return EXPERIENCE["city"]
    if any(b[:2] == city[:2] for b in been):
        return EXPERIENCE["province"]
    tier, coastal, region = attrs.get(city, (-1, "", ""))
    known = [attrs[b] for b in been if b in attrs]
    if region and any(r == region for _, _, r in known):
        return EXPERIENCE["region"]
    if coastal and any((t, co) == (tier, coastal) for t, co, _ in known):
        return EXPERIENCE["type"]
    return EXPERIENCE["none"]


def bench_value(p: Person, city: str, attrs: CityAttributes) -> float:
    """``experience x 1 / (1 + ready_in_quarters)``: what ``p`` brings to an opening of ``city``."""
    return experience(p, city, attrs) / (1 + p.ready_in_quarters)


def _best(pool: Sequence[Person], n: int, city: str, attrs: CityAttributes) -> list[tuple[str, float]]:
    """The ``n`` best (id, value) of ``pool`` for ``city`` (ties by id); fewer when the pool is short."""
    vals = sorted(((p.id, bench_value(p, city, attrs)) for p in pool), key=lambda iv: (-iv[1], iv[0]))
    return vals[:n]


def _add_bench_fit(out: pd.DataFrame, attrs: CityAttributes, people: Sequence[Person],
                   opt: RoadmapOptions) -> None:
    """``management_readiness``, ``sales_density`` and who fills the places (see ``score_markets``)."""
    pool = {r: [p for p in people if movable(p, opt) and role_of(p, opt) == r] for r in ROLES}
    need = {"manager": 1, "supervisor": opt.min_groups, "rep": opt.min_groups}
    mgmt, sales, mgmt_who, sales_who = [], [], [], []
    for c in out[S.ADCODE]:
        best = {r: _best(pool[r], n, c, attrs) for r, n in need.items()}
        mgmt.append(sum(v for r in MANAGEMENT_ROLES for _, v in best[r]) / (1 + opt.min_groups))
        sales.append(sum(v for _, v in best["rep"]) / opt.min_groups)
        mgmt_who.append("; ".join(_who(r, best[r], need[r]) for r in MANAGEMENT_ROLES))
        sales_who.append(_who("rep", best["rep"], need["rep"]))
    out["management_readiness"] = np.asarray(mgmt, float)
    out["sales_density"] = np.asarray(sales, float)
    out["management_bench"] = mgmt_who
    out["sales_bench"] = sales_who


def _who(role: str, best: Sequence[tuple[str, float]], n: int) -> str:
    names = [f"{i} {v:.2f}" for i, v in best] + ["nobody 0"] * (n - len(best))
    return f"{role}: {', '.join(names)}"


def _add_score(out: pd.DataFrame, w: ScoreWeights) -> None:
    """``score`` (the weighted geometric mean), each component's weight ``w_*`` and factor ``f_*``, and
    ``limited_by``; every number rounded to 4 decimals."""
    tot = w.market + w.travel + w.management + w.sales
    factors = {}
    for name, col in SCORE_COMPONENTS.items():
        share = getattr(w, name) / tot
        out[f"w_{name}"] = share
        factors[name] = np.maximum(out[col].to_numpy(float), w.floor) ** share
        out[f"f_{name}"] = factors[name]
    out["score"] = np.prod(np.vstack(list(factors.values())), axis=0) if len(out) else np.zeros(0)
    names = list(factors)
    low = np.argmin(np.vstack(list(factors.values())), axis=0) if len(out) else np.zeros(0, int)
    out["limited_by"] = [names[k] for k in low]
    for col in (*SCORE_COMPONENTS.values(), "score", *(f"{p}_{n}" for p in "wf" for n in SCORE_COMPONENTS)):
        out[col] = out[col].astype(float).round(4)


# --------------------------------------------------------------------------- problem
@dataclass(frozen=True)
class City:
    adcode: str
    name: str
    revenue_per_group_cny: float  # a supervisor group's quarterly revenue once fully harvesting
    relocation_cny: float  # incentive for each person who moves there
    tier: int = 4
    coastal: str = "inland"
    region: str = ""


@dataclass(frozen=True)
class Person:
    id: str
    level: str
    home: str
    review_score: float = 0.0
    ready_in_quarters: int = 0
    willing: bool = True
    served: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoadmapProblem:
    """Candidate cities, the bench, and the home teams (city -> reps there)."""

    cities: tuple[City, ...]
    people: tuple[Person, ...]
    home_reps: tuple[tuple[str, int], ...] = ()
    city_attrs: tuple[tuple[str, int, str, str], ...] = ()  # (adcode, tier, coastal, region) of homes/served

    def __post_init__(self) -> None:
        errs = []
        seen = set()
        for i, c in enumerate(self.cities):
            if c.adcode in seen:
                errs.append(f"cities row {i}: adcode {c.adcode} repeated")
            seen.add(c.adcode)
            if not (c.revenue_per_group_cny >= 0 and c.relocation_cny >= 0):
                errs.append(f"cities row {i} ({c.adcode}): revenue_per_group_cny and relocation_cny must be >= 0")
        pids = set()
        for i, p in enumerate(self.people):
            if p.id in pids:
                errs.append(f"people row {i}: id {p.id} repeated")
            pids.add(p.id)
            if p.level not in ROLE_OF_LEVEL and p.level not in S.REP_LEVELS:
                errs.append(f"people row {i} ({p.id}): level {p.level!r} unknown")
            if p.ready_in_quarters < 0:
                errs.append(f"people row {i} ({p.id}): ready_in_quarters must be >= 0")
        if errs:
            raise InputError(errs)


@dataclass(frozen=True, kw_only=True)
class RoadmapOptions(Options):
    """Settings of the entry roadmap."""

    what = "roadmap settings"

    horizon_q: int = option(8, doc="quarters to plan", label="Quarters", min=1, max=40, ui_max=12, flag="--horizon")
    max_openings_per_q: int = option(2, doc="openings per quarter at most", label="Open/quarter", min=0, ui_max=4,
                                     flag="--max-openings")
    budget_cny: float = option(3_000_000.0, doc="relocation budget", label="Budget", unit="CNY", min=0.0,
                               flag="--budget")
    review_threshold: float = option(75.0, doc="review score an M1.5/M0 needs to step up", min=0.0, max=100.0,
                                     ui=False)
    min_groups: int = option(2, doc="supervisor groups per opening at least", min=1, cli=False, ui=False)
    max_groups: int = option(3, doc="supervisor groups per opening at most", min=1, max=10, cli=False, ui=False)
    floor_per_10_reps: float = option(2.0, doc="reserve cadres each home team keeps per 10 reps", min=0.0,
                                      max=10.0, ui=False, flag="--floor-per-10")
    stage_quarters: tuple[int, int, int] = option((1, 2, 2), doc="quarters of sowing, cultivating, growing",
                                                  cli=False, ui=False)
    stage_levels: tuple[float, float, float, float] = option((0.1, 0.35, 0.7, 1.0),
                                                             doc="revenue level of each stage", cli=False, ui=False)
    ramp_months: int = option(6, doc="new reps ramp linearly over this many months", min=3, max=12, ui=False)
    discount_per_q: float = option(0.0, doc="discount per quarter", min=0.0, max=0.999, ui=False)
    required: tuple[str, ...] = option((), doc="cities (adcodes) that must open within the horizon",
                                       flag="--require", ui=False)
    locked: tuple[tuple[str, str], ...] = option((), doc="PERSON=ADCODE: this person opens that city", pairs=True,
                                                 flag="--lock", ui=False)
    excluded: tuple[str, ...] = option((), doc="people who do not move", flag="--exclude", ui=False)
    time_limit_s: float = option(20.0, doc="seconds for the roadmap, its explaining re-solves included", unit="s",
                                 above=0.0, flag="--time-limit", ui=False)
    seed: int = option(0, doc="random seed", min=0, ui=False)
    num_workers: int = option(2, doc="CP-SAT workers", min=1, cli=False, ui=False)
    explain: bool = option(True, doc="re-solve with each limit relaxed to name the binding ones", ui=False)
    explain_time_limit_s: float = option(5.0, doc="seconds per explaining re-solve at most (within the time limit)",
                                         unit="s", above=0.0,
                                         ui=False, flag="--explain-time-limit")
    gap_limit: float = option(0.0, doc="stop once the relative gap is at most this (0: prove the optimum)",
                              min=0.0, max=0.999, ui=False)

    def problems(self) -> list[str]:
        p = []
        if self.max_groups < self.min_groups:
            p.append(f"max_groups ({self.max_groups}) must be at least min_groups ({self.min_groups})")
        if len(self.stage_quarters) != 3 or not all(isinstance(d, int) and d >= 1 for d in self.stage_quarters):
            p.append(f"stage_quarters must be three whole numbers >= 1, got {self.stage_quarters!r}")
        if len(self.stage_levels) != 4 or not all(0 <= v for v in self.stage_levels):
            p.append(f"stage_levels must be four numbers >= 0, got {self.stage_levels!r}")
        people = [a for a, _ in self.locked]
        twice = sorted({a for a in people if people.count(a) > 1})
        if twice:
            p.append(f"locked: {', '.join(twice)} locked to more than one city: keep one lock per person")
        return p


def stage_of(age_q: int, opt: RoadmapOptions) -> str:
    """The city's stage ``age_q`` quarters after opening (0 = the opening quarter)."""
    edge = np.cumsum(opt.stage_quarters)
    for name, e in zip(STAGE_NAMES, edge):
        if age_q < e:
            return name
    return STAGE_NAMES[3]


def revenue_factor(age_q: int, opt: RoadmapOptions) -> float:
    """Stage level x rep ramp (mean over the quarter's three months of min(1, month / ramp_months))."""
    level = opt.stage_levels[STAGE_NAMES.index(stage_of(age_q, opt))]
    months = [3 * age_q + m for m in (1, 2, 3)]
    ramp = sum(min(1.0, m / opt.ramp_months) for m in months) / 3
    return level * ramp


def group_revenue_cny(city: City, open_q: int, opt: RoadmapOptions) -> np.ndarray:
    """Revenue per quarter (horizon long, discounted) of one supervisor group in ``city`` opened in ``open_q``."""
    out = np.zeros(opt.horizon_q)
    for t in range(open_q, opt.horizon_q):
        out[t] = city.revenue_per_group_cny * revenue_factor(t - open_q, opt) * (1 - opt.discount_per_q) ** t
    return out


def role_of(p: Person, opt: RoadmapOptions) -> str | None:
    """The role a person can take (None: none; an M1.5/M0 needs review >= threshold)."""
    r = ROLE_OF_LEVEL.get(p.level)
    if r is None:
        return None
    if p.level in STEP_UP_LEVELS and p.review_score < opt.review_threshold:
        return None
    return r


def movable(p: Person, opt: RoadmapOptions) -> bool:
    locked = {pid for pid, _ in opt.locked}
    return p.id not in set(opt.excluded) and (p.willing or p.id in locked) and role_of(p, opt) is not None


def home_floors(problem: RoadmapProblem, opt: RoadmapOptions) -> dict[str, tuple[int, int, int]]:
    """home -> (management cadres there, floor, how many may leave)."""
    reps = dict(problem.home_reps)
    homes = sorted({p.home for p in problem.people if ROLE_OF_LEVEL.get(p.level) in MANAGEMENT_ROLES} | set(reps))
    out = {}
    for h in homes:
        n = sum(1 for p in problem.people if p.home == h and ROLE_OF_LEVEL.get(p.level) in MANAGEMENT_ROLES)
        floor = math.ceil(opt.floor_per_10_reps * reps.get(h, 0) / 10 - 1e-9)
        out[h] = (n, floor, max(0, n - floor))
    return out


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class RoadmapPlan:
    """``roadmap``: one row per opening (adcode, name, quarter, groups, people, revenue, relocation);
    ``cash``: per quarter revenue, relocation, net, cumulative; ``binding``: sentences."""

    roadmap: pd.DataFrame
    cash: pd.DataFrame
    binding: tuple[str, ...]
    skipped: pd.DataFrame  # candidate cities not opened, with the reason
    report: SolveReport
    options: RoadmapOptions
    problem: RoadmapProblem = field(repr=False)

    def openings(self) -> dict[str, tuple[int, int]]:
        return {r.adcode: (int(r.quarter), int(r.groups)) for r in self.roadmap.itertuples()}


def _phrase(family: str, opt: RoadmapOptions) -> str:
    return {"managers": "an M2 manager (or an M1.5 who passed review)",
            "supervisors": "more M1 supervisors (or M0s who passed review)",
            "reps": "experienced reps (one per supervisor group)",
            "floors": f"home-team floors ({opt.floor_per_10_reps:g} cadres per 10 reps stay home)",
            "openings": f"an opening slot (at most {opt.max_openings_per_q} a quarter)",
            "budget": f"relocation budget (CNY {opt.budget_cny:,.0f})",
            "required": "the required cities"}[family]


_Openings = dict[str, tuple[int, int]]  # city adcode -> (opening quarter, supervisor groups)
_Cell = tuple[int, int]  # (city index, quarter)


class _Solved(NamedTuple):
    """One CP-SAT solve of the roadmap: ``result`` is (solution, required cities missed) when one was found."""

    status: Status
    result: tuple[_Openings, tuple[str, ...]] | None
    objective: float | None
    bound: float | None
    seconds: float


def _build_and_solve(problem: RoadmapProblem, opt: RoadmapOptions, relax: str | None = None,
                     time_limit_s: float | None = None, soft_required: bool = False,
                     deadline: float = math.inf, progress: ProgressFn = no_progress) -> _Solved:
    """Build the CP-SAT model; ``relax`` drops one limit family. Returns (status, sol, obj, bound, secs).

    CP-SAT runs for ``time_limit_s`` (default ``opt.time_limit_s``), and not past ``deadline``
    (``time.perf_counter()`` time; building the model counts)."""
    from ortools.sat.python import cp_model

    H = opt.horizon_q
    people = [p for p in problem.people if movable(p, opt)]
    req = set(opt.required) | {c for _, c in opt.locked}
    problem = _prune(problem, opt, people, req, relax)
    C = len(problem.cities)
    m = cp_model.CpModel()
    opened, grp, rev = _add_openings(m, problem, opt)
    _add_locks(m, problem, opt, opened)
    miss = _add_required(m, problem, opt, opened, req, relax, soft_required)
    homes = sorted({p.home for p in people})
    z = _add_pools(m, problem, opt, people, homes, relax)
    for q in range(H):
        opened_by = sum(opened[ci, t] for ci in range(C) for t in range(q + 1))
        groups_by = sum(grp[ci, t] for ci in range(C) for t in range(q + 1))
        if homes:
            m.add(sum(z[h, "manager", q] for h in homes) == opened_by)
            m.add(sum(z[h, "supervisor", q] for h in homes) == groups_by)
            m.add(sum(z[h, "rep", q] for h in homes) == groups_by)
        elif relax not in ("managers", "supervisors", "reps"):
            m.add(opened_by == 0)
        if relax != "openings":
            m.add(sum(opened[ci, q] for ci in range(C)) <= opt.max_openings_per_q)
        # implied by the pools above, stated directly to tighten the LP bound
        for r, fam, lhs in (("manager", "managers", opened_by), ("supervisor", "supervisors", groups_by),
                            ("rep", "reps", groups_by)):
            if relax != fam:
                m.add(lhs <= sum(1 for p in people if role_of(p, opt) == r and p.ready_in_quarters <= q))
    cost = sum(int(round(c.relocation_cny)) * (opened[ci, q] + 2 * grp[ci, q])
               for ci, c in enumerate(problem.cities) for q in range(H))
    if relax != "budget":
        m.add(cost <= int(math.floor(opt.budget_cny)))
    obj = sum(rev[ci, q] * grp[ci, q] for ci in range(C) for q in range(H)) - cost
    if miss:
        obj -= sum(miss.values()) * (sum(rev.values()) * opt.max_groups + 1)
    m.maximize(obj)
    limit = min(float(time_limit_s or opt.time_limit_s), deadline - time.perf_counter())
    return _solve(m, problem, opt, opened, grp, rev, miss, limit, progress)


def _add_openings(m: CpModel, problem: RoadmapProblem, opt: RoadmapOptions
                  ) -> tuple[dict[_Cell, IntVar], dict[_Cell, IntVar], dict[_Cell, int]]:
    """``open[c, q]``, ``groups[c, q]`` (0, or min_groups..max_groups when open; each city opens at most
    once) and a group's revenue over the horizon when ``c`` opens in ``q`` (whole CNY)."""
    opened: dict[_Cell, IntVar] = {}
    grp: dict[_Cell, IntVar] = {}
    rev: dict[_Cell, int] = {}
    for ci, c in enumerate(problem.cities):
        for q in range(opt.horizon_q):
            o = m.new_bool_var(f"open_{ci}_{q}")
            g = m.new_int_var(0, opt.max_groups, f"g_{ci}_{q}")
            m.add(g >= opt.min_groups * o)
            m.add(g <= opt.max_groups * o)
            opened[ci, q], grp[ci, q] = o, g
            rev[ci, q] = int(round(group_revenue_cny(c, q, opt).sum()))
        m.add_at_most_one(opened[ci, q] for q in range(opt.horizon_q))
    return opened, grp, rev


def _add_locks(m: CpModel, problem: RoadmapProblem, opt: RoadmapOptions, opened: dict[_Cell, IntVar]) -> None:
    """Locked people: their city opens, and not before they are ready."""
    idx = {c.adcode: i for i, c in enumerate(problem.cities)}
    pmap = {p.id: p for p in problem.people}
    not_before: dict[str, int] = {}
    for pid, city in opt.locked:
        if pid in pmap and city in idx:
            not_before[city] = max(not_before.get(city, 0), pmap[pid].ready_in_quarters)
    for city, q0 in not_before.items():
        for q in range(min(q0, opt.horizon_q)):
            m.add(opened[idx[city], q] == 0)


def _add_required(m: CpModel, problem: RoadmapProblem, opt: RoadmapOptions, opened: dict[_Cell, IntVar],
                  req: set[str], relax: str | None, soft_required: bool) -> dict[str, IntVar]:
    """Required (and locked) cities open; with ``soft_required`` a ``miss`` variable per city may excuse it."""
    idx = {c.adcode: i for i, c in enumerate(problem.cities)}
    miss: dict[str, IntVar] = {}
    if relax == "required":
        return miss
    for city in sorted(req):
        if city not in idx:
            continue
        once = sum(opened[idx[city], q] for q in range(opt.horizon_q))
        if soft_required:
            miss[city] = m.new_bool_var(f"miss_{city}")
            m.add(once + miss[city] >= 1)
        else:
            m.add(once == 1)
    return miss


def _add_pools(m: CpModel, problem: RoadmapProblem, opt: RoadmapOptions, people: list[Person], homes: list[str],
               relax: str | None) -> dict[tuple[str, str, int], IntVar]:
    """``z[home, role, q]``: people of that role used from that home by quarter ``q`` (at most those
    ready by then, never fewer than the quarter before); the management cadres leaving a home keep
    its floor."""
    H = opt.horizon_q
    big = 10 ** 6
    floors = home_floors(problem, opt)
    z: dict[tuple[str, str, int], IntVar] = {}
    for h in homes:
        for r in ROLES:
            ready = [sum(1 for p in people if p.home == h and role_of(p, opt) == r and p.ready_in_quarters <= q)
                     for q in range(H)]
            for q in range(H):
                cap = ready[q]
                if relax == {"manager": "managers", "supervisor": "supervisors", "rep": "reps"}[r]:
                    cap = big
                z[h, r, q] = m.new_int_var(0, cap, f"z_{h}_{r}_{q}")
                if q:
                    m.add(z[h, r, q] >= z[h, r, q - 1])
        if relax != "floors" and h in floors:
            # a relaxed role stands for extra people from outside, so it does not count against the floor
            kept = [r for r in MANAGEMENT_ROLES if relax != {"manager": "managers", "supervisor": "supervisors"}[r]]
            m.add(sum(z[h, r, H - 1] for r in kept) <= floors[h][2])
    return z


def cp_solver(time_limit_s: float, *, seed: int, workers: int, gap_limit: float = 0.0) -> CpSolver:
    """A CP-SAT solver with the settings every solve of this job shares: wall-time limit, seed, workers,
    relative gap, and Ctrl-C not caught (``catch_sigint_signal`` off): CP-SAT's own handler would end the
    search and return the cut plan as if the limit had stopped it (FEASIBLE); off, the interrupt reaches
    Python as ``KeyboardInterrupt`` when the solve returns."""
    from ortools.sat.python import cp_model

    s = cp_model.CpSolver()
    s.parameters.relative_gap_limit = float(gap_limit)
    s.parameters.max_time_in_seconds = max(0.01, float(time_limit_s))
    s.parameters.random_seed = int(seed)
    s.parameters.num_workers = int(workers)
    s.parameters.catch_sigint_signal = False
    return s


def _solve(m: CpModel, problem: RoadmapProblem, opt: RoadmapOptions, opened: dict[_Cell, IntVar],
           grp: dict[_Cell, IntVar], rev: dict[_Cell, int], miss: dict[str, IntVar],
           time_limit_s: float, progress: ProgressFn = no_progress) -> _Solved:
    """Run CP-SAT on the built model and read the openings (objective and bound without the miss penalty).
    ``progress`` is called while CP-SAT runs (:func:`planner.solvers.watch.run_watched`): when it raises
    (Cancel in the app), the search stops and the exception goes to the caller."""
    from ortools.sat.python import cp_model

    if time_limit_s < _MIN_SOLVE_S:
        return _Solved("time_limit_no_solution", None, None, None, 0.0)
    s = cp_solver(time_limit_s, seed=opt.seed, workers=opt.num_workers, gap_limit=opt.gap_limit)
    t0 = time.perf_counter()
    st = run_watched(lambda: s.solve(m), s.stop_search, progress, label="CP-SAT", limit_s=time_limit_s)
    secs = time.perf_counter() - t0
    names: dict[object, Status] = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible",
                                   cp_model.INFEASIBLE: "infeasible", cp_model.MODEL_INVALID: "invalid"}
    name = names.get(st, "time_limit_no_solution")
    if name not in ("optimal", "feasible"):
        return _Solved(name, None, None, None, secs)
    if name == "optimal" and abs(s.best_objective_bound - s.objective_value) > 0.5:
        name = "feasible"  # stopped by gap_limit: CP-SAT says OPTIMAL, but the optimum is not proven
    sol = {c.adcode: (q, int(s.value(grp[ci, q]))) for ci, c in enumerate(problem.cities)
           for q in range(opt.horizon_q) if s.value(opened[ci, q])}
    missed = tuple(c for c, v in miss.items() if s.value(v))
    penalty = len(missed) * (sum(rev.values()) * opt.max_groups + 1)
    return _Solved(name, (sol, missed), s.objective_value + penalty, s.best_objective_bound + penalty, secs)


def _prune(problem: RoadmapProblem, opt: RoadmapOptions, people: list[Person], req: set[str],
           relax: str | None) -> RoadmapProblem:
    """Drop cities that cannot be in any optimal plan (exact dominance).

    At most ``k`` cities can open (managers ready and movable; slots ``H x N``;
    budget over the cheapest opening). A city with at least ``k`` others that
    earn at least as much per group in every quarter (same stage curve, so
    ``revenue_per_group_cny`` decides) and cost no more to move to is never
    needed: any plan using it can swap it for an unused dominating city.
    Required and locked cities are kept.
    """
    bounds = []
    if relax != "managers":
        bounds.append(sum(1 for p in people if role_of(p, opt) == "manager"))
    if relax != "openings":
        bounds.append(opt.horizon_q * opt.max_openings_per_q)
    cheapest = min((c.relocation_cny for c in problem.cities), default=0.0) * (1 + 2 * opt.min_groups)
    if relax != "budget" and cheapest > 0:
        bounds.append(int(opt.budget_cny // cheapest))
    if not bounds:
        return problem
    k = min(bounds)
    keep = []
    for c in problem.cities:
        dom = sum(1 for d in problem.cities if d is not c and d.revenue_per_group_cny >= c.revenue_per_group_cny
                  and d.relocation_cny <= c.relocation_cny
                  and (d.revenue_per_group_cny, -d.relocation_cny, d.adcode)
                  > (c.revenue_per_group_cny, -c.relocation_cny, c.adcode))
        if dom < k or c.adcode in req:
            keep.append(c)
    return replace(problem, cities=tuple(keep))


def plan_objective_cny(problem: RoadmapProblem, sol: dict[str, tuple[int, int]], opt: RoadmapOptions) -> float:
    by = {c.adcode: c for c in problem.cities}
    total = 0.0
    for a, (q, g) in sol.items():
        c = by[a]
        total += g * round(group_revenue_cny(c, q, opt).sum()) - round(c.relocation_cny) * (1 + 2 * g)
    return total


def _frames(problem: RoadmapProblem, sol: Mapping[str, tuple[int, int]],
            opt: RoadmapOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    by = {c.adcode: c for c in problem.cities}
    rows = []
    cash = pd.DataFrame({"quarter": np.arange(opt.horizon_q), "revenue_cny": 0.0, "relocation_cny": 0.0})
    for a, (q, g) in sorted(sol.items(), key=lambda kv: (kv[1][0], kv[0])):
        c = by[a]
        r = group_revenue_cny(c, q, opt) * g
        cost = c.relocation_cny * (1 + 2 * g)
        cash["revenue_cny"] += r
        cash.loc[q, "relocation_cny"] += cost
        rows.append({S.ADCODE: a, S.NAME: c.name, "quarter": q, "label": f"Q{q + 1}", "groups": g,
                     "managers": 1, "supervisors": g, "reps": g, "people": 1 + 2 * g,
                     "revenue_cny": float(r.sum()), "relocation_cny": cost,
                     "stages": " > ".join(f"Q{t + 1}:{stage_of(t - q, opt)}" for t in range(q, opt.horizon_q))})
    cols = [S.ADCODE, S.NAME, "quarter", "label", "groups", "managers", "supervisors", "reps", "people",
            "revenue_cny", "relocation_cny", "stages"]
    roadmap = pd.DataFrame(rows, columns=cols)
    cash["net_cny"] = cash["revenue_cny"] - cash["relocation_cny"]
    cash["cumulative_cny"] = cash["net_cny"].cumsum()
    cash["label"] = [f"Q{q + 1}" for q in cash["quarter"]]
    return roadmap, cash


def solve_roadmap(problem: RoadmapProblem, options: RoadmapOptions | None = None, *,
                  progress: ProgressFn = no_progress) -> RoadmapPlan:
    """Which candidate cities open in which quarter, with how many supervisor groups.

    Objective: maximise sum over openings of ``groups x`` the group's projected
    revenue over the horizon (stage level x rep ramp, optionally discounted;
    rounded to whole CNY) minus relocation (``relocation_cny`` of the city for
    each of the ``1 + 2 x groups`` people who move: 1 manager, ``groups``
    supervisors, ``groups`` experienced reps).

    Constraints: each city opens at most once; an opening has 1 manager,
    ``min_groups..max_groups`` supervisors and as many experienced reps; by
    every quarter, the people used per (home city, role) are at most those of
    that role who are movable and ready by then; each home keeps its floor of
    management cadres (``ceil(floor_per_10_reps x reps / 10)``); at most
    ``max_openings_per_q`` openings a quarter; total relocation <= budget;
    ``required`` cities and cities of ``locked`` people open (not before the
    locked person is ready).

    Infeasible (only possible with required/locked cities): status
    ``infeasible``; ``violated`` names each limit whose relaxation alone makes
    it feasible, and the plan is the closest one (as many required cities as
    possible). ``binding`` explains, in words, which limits hold cities back
    (each limit family relaxed in turn; cities that would open earlier or at
    all are named).

    Time limit: ``time_limit_s`` bounds the whole call (wall time), the
    explaining re-solves included, so the user's ``--time-limit`` bounds the
    roadmap. With ``explain`` on, the main solve leaves ``_EXPLAIN_SHARE``
    (20 %) of the limit to the explanations (they also get whatever the main
    solve did not use); each of the six re-solves then gets an equal share of
    what is left (building its model included), ``explain_time_limit_s`` at
    most; re-solves left without time are skipped and the message names
    them. When infeasible, the six relaxed re-solves share half of what is
    left and the closest plan gets the rest.
    """
    opt = options or RoadmapOptions()
    t0 = time.perf_counter()
    deadline = t0 + opt.time_limit_s
    progress(0.0, "solving the roadmap")
    known = {c.adcode for c in problem.cities}
    pids = {p.id for p in problem.people}
    bad = [f"required city {c} is not a candidate" for c in opt.required if c not in known]
    bad += [f"locked city {c} is not a candidate" for _, c in opt.locked if c not in known]
    bad += [f"locked person {p} is not in the people table" for p, _ in opt.locked if p not in pids]
    if bad:
        raise InputError(bad)
    main_end = deadline - (_EXPLAIN_SHARE * opt.time_limit_s if opt.explain else 0.0)
    status, res, objv, bound, _ = _build_and_solve(problem, opt, deadline=main_end, progress=progress)
    violated: tuple[str, ...] = ()
    message = ""
    if status == "infeasible":
        progress(0.3, "infeasible: finding the binding limit")
        violated, res, objv, bound = _closest_plan(problem, opt, deadline, progress)
        message = "no plan opens every required city; the plan shown opens as many as possible"
    if res is None:
        roadmap, cash = _frames(problem, {}, opt)
        rep = SolveReport(status, None, None, time.perf_counter() - t0, "cp-sat", violated, message)
        return RoadmapPlan(roadmap, cash, (), _skipped(problem, {}, ()), rep, opt, problem)
    sol = res[0]
    binding: list[str] = []
    if status in ("optimal", "feasible") and opt.explain:
        binding, note = _binding(problem, opt, sol, deadline, progress)
        message = "; ".join(m for m in (message, note) if m)
    roadmap, cash = _frames(problem, sol, opt)
    rep = SolveReport(status, objv, bound, time.perf_counter() - t0, "cp-sat", violated, message)
    progress(1.0, "roadmap done")
    return RoadmapPlan(roadmap, cash, tuple(binding), _skipped(problem, sol, binding), rep, opt, problem)


def _closest_plan(problem: RoadmapProblem, opt: RoadmapOptions, deadline: float, progress: ProgressFn = no_progress
                  ) -> tuple[tuple[str, ...], tuple[_Openings, tuple[str, ...]] | None, float | None, float | None]:
    """Infeasible: the limits whose relaxation alone makes it feasible (each re-solve an equal share of
    half the time left, ``explain_time_limit_s`` at most), then the closest plan (soft required cities)
    with the rest. Returns (violated, result, objective, bound)."""
    names = []
    for k, fam in enumerate(EXPLAINED):
        share = min(opt.explain_time_limit_s, 0.5 * (deadline - time.perf_counter()) / (len(EXPLAINED) - k))
        if share >= _MIN_SOLVE_S and _build_and_solve(
                problem, opt, relax=fam, deadline=min(deadline, time.perf_counter() + share), progress=progress
        ).status in ("optimal", "feasible"):
            names.append(fam)
    violated = tuple(f"{fam}: the required cities need {_phrase(fam, opt)} beyond what is available"
                     for fam in names) or ("several limits together: no single relaxation makes the required "
                                           "cities feasible",)
    _, res, objv, bound, _ = _build_and_solve(problem, opt, soft_required=True, deadline=deadline,
                                              progress=progress)
    if res is not None:
        violated += tuple(f"required city {c} cannot open" for c in res[1])
    return violated, res, objv, bound


def _binding(problem: RoadmapProblem, opt: RoadmapOptions, sol: _Openings, deadline: float,
             progress: ProgressFn) -> tuple[list[str], str]:
    """Sentences on the limits that hold cities back (each family relaxed in turn, an equal share of the
    time left each, ``explain_time_limit_s`` at most), and a note naming those not checked for lack of time."""
    base = plan_objective_cny(problem, sol, opt)
    binding: list[str] = []
    unchecked = []
    for k, fam in enumerate(EXPLAINED):
        share = min(opt.explain_time_limit_s, (deadline - time.perf_counter()) / (len(EXPLAINED) - k))
        if share < _MIN_SOLVE_S:
            unchecked.append(fam)
            continue
        progress(0.3 + 0.1 * k, f"checking whether {fam} bind")
        _, r2, o2, _, _ = _build_and_solve(problem, opt, relax=fam,
                                           deadline=min(deadline, time.perf_counter() + share), progress=progress)
        if r2 is None or o2 is None or o2 <= base + 1:
            continue
        binding.extend(_explain(problem, sol, r2[0], fam, opt, gain=o2 - base))
    note = f"not checked whether these limits bind (time limit): {', '.join(unchecked)}" if unchecked else ""
    return binding, note


def _explain(problem: RoadmapProblem, sol: Mapping[str, tuple[int, int]], relaxed: Mapping[str, tuple[int, int]],
             fam: str, opt: RoadmapOptions, *, gain: float) -> list[str]:
    names = {c.adcode: c.name for c in problem.cities}
    out = []
    for a, (q, g) in sorted(relaxed.items(), key=lambda kv: (kv[1][0], kv[0])):
        if a not in sol:
            out.append(f"{names[a]} waits for {_phrase(fam, opt)}: with more it would open in Q{q + 1}")
        elif sol[a][0] > q:
            out.append(f"{names[a]} waits for {_phrase(fam, opt)}: it opens in Q{sol[a][0] + 1}, "
                       f"with more it would open in Q{q + 1}")
        elif sol[a][1] < g:
            out.append(f"{names[a]} gets {sol[a][1]} supervisor groups, not {g}, for lack of {_phrase(fam, opt)}")
    if not out:
        out.append(f"{_phrase(fam, opt)} binds (relaxing it is worth CNY {gain:,.0f})")
    else:
        out[0] += f" (relaxing this limit alone is worth CNY {gain:,.0f})"
    return out[:6]


def _skipped(problem: RoadmapProblem, sol: Mapping[str, tuple[int, int]], binding: Sequence[str]) -> pd.DataFrame:
    rows = [{S.ADCODE: c.adcode, S.NAME: c.name,
             "reason": "not opened: its projected revenue does not win a slot, person or budget within the horizon"}
            for c in problem.cities if c.adcode not in sol]
    return pd.DataFrame(rows, columns=[S.ADCODE, S.NAME, "reason"])


# --------------------------------------------------------------------------- from tables
def build_problem(scores: pd.DataFrame, cadres: pd.DataFrame, *, main_base: str,
                  home_reps: dict[str, int] | None = None, revenue_per_group_cny: float = 600_000.0,
                  relocation_flat_cny: float = 30_000.0, relocation_per_100km_cny: float = 10_000.0,
                  markets: pd.DataFrame | None = None, backend: TravelBackend | None = None) -> RoadmapProblem:
    """A roadmap problem from the score table and the cadres table (``backend``: the travel measure).

    A group's full quarterly revenue is ``revenue_per_group_cny x (0.5 + score)``;
    relocation per person is ``flat + per_100km x distance from the main base``.
    """
    errs = []
    for i, r in enumerate(cadres.itertuples(index=False)):
        row = getattr(r, S.SOURCE_ROW, i)
        lvl = getattr(r, S.LEVEL)
        if lvl not in ROLE_OF_LEVEL:
            continue
        if pd.isna(getattr(r, S.CURRENT_CITY)) or not str(getattr(r, S.CURRENT_CITY)).strip():
            errs.append(f"cadres row {row}: {S.CURRENT_CITY} is empty")
    if errs:
        raise InputError(errs)
    codes = scores[S.ADCODE].astype(str).tolist()
    from planner import geo

    pinyin = geo.admin_units().set_index("adcode")["name_pinyin"].to_dict()
    labels = [f"{n} {pinyin[a]}" if a in pinyin and pinyin[a] not in str(n) else str(n)
              for a, n in zip(codes, scores[S.NAME])]
    dist_km, _ = travel_between([main_base], codes, backend=backend) if codes else (np.zeros((1, 0)), None)
    dist_km = np.where(np.isfinite(dist_km), dist_km, 3000.0)  # no road: priced as across the country
    cities = tuple(City(a, n, float(revenue_per_group_cny * (0.5 + s)),
                        float(round(relocation_flat_cny + relocation_per_100km_cny * d / 100.0, -2)),
                        int(t), str(co), str(rg))
                   for a, n, s, d, t, co, rg in zip(codes, labels, scores["score"], dist_km[0],
                                                    scores[S.TIER], scores[S.COASTAL], scores[S.REGION]))
    attrs: tuple[tuple[str, int, str, str], ...] = ()
    if markets is not None:
        attrs = tuple((str(a), int(t) if not pd.isna(t) else 4, str(co), str(rg)) for a, t, co, rg in
                      zip(markets[S.ADCODE], markets[S.TIER], markets[S.COASTAL], markets[S.REGION]))
    return RoadmapProblem(cities, _people(cadres), tuple(sorted((home_reps or {}).items())), attrs)


def _people(cadres: pd.DataFrame) -> tuple[Person, ...]:
    """The cadres table as people (home = the prefecture of ``current_city``)."""
    people = []
    for r in cadres.itertuples(index=False):
        rs = getattr(r, S.REVIEW_SCORE)
        rq = getattr(r, S.READY_IN_QUARTERS)
        people.append(Person(str(getattr(r, S.ID)), str(getattr(r, S.LEVEL)),
                             _prefecture_of(getattr(r, S.CURRENT_CITY)),
                             0.0 if pd.isna(rs) else float(rs), 0 if pd.isna(rq) else int(rq),
                             bool(getattr(r, S.WILLING_TO_RELOCATE)),
                             tuple(sorted(_served(getattr(r, S.MARKETS_SERVED))))))
    return tuple(people)


def home_reps_of(reps: pd.DataFrame, offices: pd.DataFrame) -> dict[str, int]:
    """Reps per home prefecture (through their base office's county adcode)."""
    where = dict(zip(offices[S.ID].astype(str), offices[S.ADCODE].astype(str)))
    codes = [_prefecture_of(where.get(str(b), "")) for b in reps[S.BASE_OFFICE]]
    out: dict[str, int] = {}
    for c in codes:
        if c:
            out[c] = out.get(c, 0) + 1
    return out


def base_cities(reps: pd.DataFrame, offices: pd.DataFrame) -> tuple[str, ...]:
    """The prefectures (adcodes) of today's current offices, the one with the most reps first."""
    cur = offices[offices[S.OFFICE_STATUS] == "current"] if S.OFFICE_STATUS in offices else offices
    codes = [_prefecture_of(c) for c in cur[S.ADCODE].astype(str) if str(c).strip() and str(c) != "nan"]
    if not codes:
        raise InputError("offices: no current office (状态 现有) with an adcode (区划代码): the expansion measures "
                         "travel and relocation from the team's current cities")
    count = home_reps_of(reps, offices)
    return tuple(sorted(dict.fromkeys(codes), key=lambda c: (-count.get(c, 0), codes.index(c))))


def problem_from_tables(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame, markets: pd.DataFrame,
                        cadres: pd.DataFrame, *, weights: ScoreWeights | None = None,
                        roadmap: RoadmapOptions | None = None, backend: TravelBackend | None = None,
                        **kw: float) -> tuple[pd.DataFrame, RoadmapProblem]:
    """(scores, problem) on a team's tables: travel and relocation measured from its current offices' cities
    (the one with the most reps for relocation); those cities are not scored as cities to open. ``roadmap``
    gives the scoring its roles and opening size (review threshold, ``min_groups``, locked and excluded
    people; default ``RoadmapOptions()``): pass the settings the roadmap will be solved with."""
    bases = base_cities(reps, offices)
    scores = score_markets(markets, accounts=accounts, cadres=cadres, bases=bases, weights=weights,
                           roadmap=roadmap, backend=backend)
    prob = build_problem(scores, cadres, main_base=bases[0], home_reps=home_reps_of(reps, offices), markets=markets,
                         backend=backend, **kw)
    return scores, prob


__all__ = ["ScoreWeights", "score_markets", "experience", "bench_value", "city_attributes", "SCORE_COMPONENTS",
           "EXPERIENCE", "City", "Person", "RoadmapProblem", "RoadmapOptions", "RoadmapPlan",
           "solve_roadmap", "build_problem", "problem_from_tables", "base_cities", "home_reps_of",
           "group_revenue_cny", "revenue_factor", "stage_of", "role_of", "movable", "home_floors",
           "plan_objective_cny"]
