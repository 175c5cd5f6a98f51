"""Territories: balanced, compact and stable assignment of accounts to reps.

``solve(problem, options) -> TerritoryPlan`` divides a team's ground (``DOMAIN.md``
section 3). ``problem_from_tables(accounts, reps, offices)`` is the thin adapter
from canonical tables; the solver itself works on arrays.

Model
-----
Each account ``i`` either goes to exactly one rep ``r`` of the plan or is left
out with a reason. Left out, before any search:

- accounts the user *excludes* stay in the public pool;
- the public-pool rule: an owned account not visited for more than
  ``pool_return_days`` days goes back to the pool (listed in the plan);
- accounts in the pool today stay there unless ``include_pool``;
- a *locked* account stays with its current owner (fixed, not a variable); if
  that owner is not a rep of the plan it is kept with them, outside the plan.

Per account and rep (``v_i`` visits a month by class, default A 2, B 1, C 0.5):

- workload ``w_ir = v_i * (service_min + 2 * t(base_r, i) / visits_per_day)``
  minutes a month: visit time plus the round trip from the rep's base, shared
  by a day's visits (``t`` from ``planner.travel``);
- compactness cost ``c_ir = v_i * t(anchor_r, i)``: visit-weighted travel from
  the rep's anchor, which is the rep's base, or (``compactness="centre"``, the
  default when several reps share a base, as in the demo) a territory centre
  found by weighted k-means and updated after each solve;
- potential ``p_i`` (CNY).

With ``x_ir`` in {0, 1}, loads ``W_r = sum_i w_ir x_ir`` (locked accounts
included as constants), ``T = sum_r W_r``, ``S = sum_r share_r``::

    minimise   sum_ir c_ir x_ir + move_penalty_min * (accounts moved away from a
               current owner who is in the plan)
    subject to sum_r x_ir = 1                                 every planned account
               (1 - tol) share_r T / S <= W_r <= (1 + tol) share_r T / S
               (1 - ptol) share_r P / S <= P_r <= (1 + ptol) share_r P / S
               accounts_r <= capacity_r
               moved <= max_moves                              (when set)

``share_r`` is 1 for a full rep and less for a new one (tenure / ramp), so new
reps get proportionally smaller targets and capacities.

Method
------
1. Candidates: ``x_ir`` exists for the ``candidates`` reps with the smallest
   ``c_ir``, the current owner, and, for every rep, its cheapest accounts up to
   three times its share of the workload (so a remote base can fill up).
2. LP relaxation with HiGHS (through OR-Tools' model builder). Every limit has
   a slack (relative to the limit) with a penalty above any cost, so the LP is
   always feasible; with no slack left it is the plain LP and its value is the
   reported bound. If slack is needed, the candidates are widened around the
   broken limits (up to three rounds) before concluding that the limits cannot
   all hold.
3. Integer plan: each account takes its largest LP value (at a vertex only a
   few are fractional), a greedy repair (single moves, then swaps) removes any
   broken limit, and CP-SAT polishes the fractional accounts plus the ones
   cheapest to move, started from the repaired plan. Integer scaling of
   minutes, CNY and shares is done in one place (``_Scaler``) with an overflow
   check.
4. Above ``unit_threshold`` free accounts, steps 1-3 run first on units (cells
   of a projected square grid x current owner, no unit above a tenth of a
   rep's accounts), then at account level, each account choosing among its
   unit's rep, its 3 nearest anchors and its owner.
5. ``compactness="centre"``: centres start from weighted k-means matched to the
   reps (to keep owners), and move to their territory's visit-weighted centre
   between ``centre_iterations`` solves; the best round is kept.

The bound holds for the candidate pairs actually modelled (all pairs when
``candidates >= R`` and no units: then ``optimal`` is a proof). Contiguity is
not modelled: compactness keeps territories mostly contiguous.

Infeasible settings (tolerance too tight for the capacities, locked accounts
overloading a rep, a move limit that prevents balance, ...) never raise: the
plan is the closest one found (least total relative violation, then least
cost), with status ``partial`` and ``report.violated`` naming each broken limit
and rep. A time limit that stops the LP returns the start plan (current owners,
else the cheapest candidate) as ``partial``.

Deterministic: HiGHS is deterministic; CP-SAT runs with ``random_seed``, a
fixed number of workers (one by default; several use its deterministic
interleaved search) and a budget in deterministic work units, so the same seed
gives the same plan unless the wall-clock ``time_limit_s`` cuts a stage short.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from planner import schema as S, travel
from planner.plans import ProgressFn, SolveReport, no_progress

DEFAULT_VISITS_PER_MONTH = {"A": 2.0, "B": 1.0, "C": 0.5}
SELLER_LEVELS = ("sales", "M0")
OUTCOMES = ("assigned", "pool", "kept")
_MAX_ERRORS = 20
_INT_LIMIT = 2**52  # largest |activity| allowed in the CP-SAT model (int64 with headroom)
_HIGHS_PARAMS = "output_flag=false"
_SLACK_MAX_PER_MILLE = 100_000  # a limit may be missed by up to 100 x in the closest plan


# --------------------------------------------------------------------------- #
# Problem, options, plan
# --------------------------------------------------------------------------- #


def _raise_all(problems: list[str], what: str) -> None:
    if problems:
        more = f"; ... and {len(problems) - _MAX_ERRORS} more" if len(problems) > _MAX_ERRORS else ""
        raise ValueError(f"{what}: " + "; ".join(problems[:_MAX_ERRORS]) + more)


@dataclass(frozen=True, eq=False)
class TerritoryProblem:
    """The data of a re-alignment, as arrays (``problem_from_tables`` builds one).

    Accounts (length n): ``account_ids``, ``lonlat`` (n, 2) WGS-84,
    ``account_class`` (a key of ``visits_per_month``), ``potential_cny``,
    ``owner`` (a rep id, ``"pool"``, or someone outside the plan) and
    ``days_since_visit`` (NaN when never visited or unknown).
    Reps (length R): ``rep_ids``, ``base_lonlat`` (R, 2), ``share`` in (0, 1]
    (1 for a full rep; a new rep's targets and default capacity scale by it)
    and ``capacity`` (max accounts; 0 = derive from the options).
    """

    account_ids: np.ndarray
    lonlat: np.ndarray
    account_class: np.ndarray
    potential_cny: np.ndarray
    owner: np.ndarray
    days_since_visit: np.ndarray
    rep_ids: np.ndarray
    base_lonlat: np.ndarray
    share: np.ndarray
    capacity: np.ndarray

    def __post_init__(self) -> None:
        conv = {"account_ids": str, "account_class": str, "owner": str, "rep_ids": str}
        for name in ("account_ids", "lonlat", "account_class", "potential_cny", "owner", "days_since_visit",
                     "rep_ids", "base_lonlat", "share", "capacity"):
            val = getattr(self, name)
            if name in conv:
                arr = np.asarray(["" if v is None else str(v) for v in np.asarray(val, dtype=object).ravel()],
                                 dtype=object)
            elif name == "capacity":
                arr = np.asarray(val, dtype=np.int64).ravel()
            else:
                arr = np.asarray(val, dtype=float)
            object.__setattr__(self, name, arr)
        n, r = len(self.account_ids), len(self.rep_ids)
        probs: list[str] = []
        for name in ("account_class", "potential_cny", "owner", "days_since_visit"):
            if len(getattr(self, name)) != n:
                probs.append(f"{name} has {len(getattr(self, name))} values for {n} accounts")
        for name in ("share", "capacity"):
            if len(getattr(self, name)) != r:
                probs.append(f"{name} has {len(getattr(self, name))} values for {r} reps")
        for name, rows in (("lonlat", n), ("base_lonlat", r)):
            a = getattr(self, name)
            if a.shape != (rows, 2) and not (rows == 0 and a.size == 0):
                probs.append(f"{name} must have shape ({rows}, 2), got {a.shape}")
        _raise_all(probs, "territory problem")
        if n == 0:
            object.__setattr__(self, "lonlat", np.zeros((0, 2)))
        if r == 0:
            raise ValueError("territory problem: at least one rep is needed")
        ids = self.account_ids
        for i in np.flatnonzero(ids == ""):
            probs.append(f"account row {i}: field id is empty")
        dup = pd.Series(ids).duplicated(keep="first").to_numpy() & (ids != "")
        for i in np.flatnonzero(dup):
            probs.append(f"account row {i} (id {ids[i]}): field id duplicates an earlier row")
        if n:
            ll = self.lonlat
            bad = ~np.isfinite(ll).all(axis=1) | (np.abs(ll[:, 0]) > 180) | (np.abs(ll[:, 1]) > 90)
            for i in np.flatnonzero(bad):
                probs.append(f"account row {i} (id {ids[i]}): field lon/lat invalid ({ll[i, 0]!r}, {ll[i, 1]!r})")
        p = self.potential_cny
        for i in np.flatnonzero(~np.isfinite(p) | (p < 0)):
            probs.append(f"account row {i} (id {ids[i]}): field potential_cny must be >= 0, got {p[i]!r}")
        rids = self.rep_ids
        for j in range(r):
            if rids[j] in ("", S.PUBLIC_POOL):
                probs.append(f"rep row {j}: field id {rids[j]!r} is not a rep id")
        for j in np.flatnonzero(pd.Series(rids).duplicated().to_numpy()):
            probs.append(f"rep row {j} (id {rids[j]}): field id duplicates an earlier row")
        bl = self.base_lonlat
        bad = ~np.isfinite(bl).all(axis=1) | (np.abs(bl[:, 0]) > 180) | (np.abs(bl[:, 1]) > 90)
        for j in np.flatnonzero(bad):
            probs.append(f"rep row {j} (id {rids[j]}): field base lon/lat invalid ({bl[j, 0]!r}, {bl[j, 1]!r})")
        sh = self.share
        for j in np.flatnonzero(~np.isfinite(sh) | (sh <= 0) | (sh > 1)):
            probs.append(f"rep row {j} (id {rids[j]}): field share must be in (0, 1], got {sh[j]!r}")
        for j in np.flatnonzero(self.capacity < 0):
            probs.append(f"rep row {j} (id {rids[j]}): field capacity must be >= 0, got {self.capacity[j]}")
        _raise_all(probs, "territory problem")

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_reps(self) -> int:
        return len(self.rep_ids)


Compactness = Literal["auto", "base", "centre"]


@dataclass(frozen=True, kw_only=True)
class TerritoryOptions:
    """The user's settings. Tolerances are relative (0.10 = +-10 %).

    - ``tolerance``, ``potential_tolerance``: balance of workload and potential
      around each rep's share of the team total.
    - ``visits_per_month`` by class, ``service_min`` per visit, ``visits_per_day``
      (a day's round trip from the base is shared by that many visits).
    - ``max_accounts``: capacity of a full rep (new reps: ``share`` of it); None
      gives ``(1 + capacity_headroom) x`` the rep's share of the planned accounts.
    - ``locked`` / ``excluded``: account ids kept with their owner / left in the pool.
    - ``max_moves`` (None: no limit) and ``move_penalty_min`` (cost of one move,
      in visit-weighted travel minutes a month) keep today's owners.
    - ``pool_return_days``: owned accounts not visited for longer go back to the
      pool (None: rule off). ``include_pool``: also divide today's pool accounts.
    - ``compactness``: travel from the rep's ``base``, from a territory
      ``centre``, or ``auto`` (base when every rep has their own base).
    - ``candidates``: reps considered per account (nearest anchors + owner).
    - ``unit_threshold``, ``units``: above that many free accounts, solve first on
      about ``units`` grid-cell units, then refine at account level.
    - ``time_limit_s``, ``seed``, ``workers``: the search budget and determinism
      (CP-SAT polishes for 10 % of the time limit in its deterministic work units;
      one worker is fast and deterministic, more use CP-SAT's deterministic
      interleaved search, which is slower on small models).
    """

    tolerance: float = 0.10
    potential_tolerance: float = 0.15
    visits_per_month: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_VISITS_PER_MONTH))
    service_min: float = 45.0
    visits_per_day: float = 8.0
    max_accounts: int | None = None
    capacity_headroom: float = 0.25
    locked: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()
    max_moves: int | None = None
    move_penalty_min: float = 60.0
    pool_return_days: int | None = 90
    include_pool: bool = False
    compactness: Compactness = "auto"
    candidates: int = 8
    centre_iterations: int = 3
    unit_threshold: int = 15000
    units: int = 3000
    time_limit_s: float = 30.0
    seed: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        def num(name: str, lo: float, hi: float = math.inf, *, strict: bool = False) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
            if (v <= lo if strict else v < lo) or v > hi:
                raise ValueError(f"{name} must be {'>' if strict else '>='} {lo:g}"
                                 + (f" and <= {hi:g}" if hi < math.inf else "") + f", got {v!r}")

        def integer(name: str, lo: int, *, optional: bool = False) -> None:
            v = getattr(self, name)
            if optional and v is None:
                return
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}" + (" or None" if optional else "")
                                 + f", got {v!r}")

        num("tolerance", 0.0, 1.0, strict=True)
        num("potential_tolerance", 0.0, 10.0, strict=True)
        num("service_min", 0.0)
        num("visits_per_day", 0.0, strict=True)
        num("capacity_headroom", 0.0)
        num("move_penalty_min", 0.0)
        num("time_limit_s", 0.0, strict=True)
        integer("max_accounts", 1, optional=True)
        integer("max_moves", 0, optional=True)
        integer("pool_return_days", 0, optional=True)
        integer("candidates", 1)
        integer("centre_iterations", 1)
        integer("unit_threshold", 1)
        integer("units", 10)
        integer("seed", 0)
        integer("workers", 1)
        if not isinstance(self.include_pool, bool):
            raise ValueError(f"include_pool must be True or False, got {self.include_pool!r}")
        if self.compactness not in ("auto", "base", "centre"):
            raise ValueError(f"compactness must be auto, base or centre, got {self.compactness!r}")
        if not isinstance(self.visits_per_month, Mapping) or not self.visits_per_month:
            raise ValueError("visits_per_month must be a non-empty mapping class -> visits a month")
        bad = {k: v for k, v in self.visits_per_month.items()
               if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0}
        if bad:
            raise ValueError(f"visits_per_month must map classes to numbers >= 0, got {bad}")
        object.__setattr__(self, "visits_per_month", {str(k): float(v) for k, v in self.visits_per_month.items()})
        for name in ("locked", "excluded"):
            v = getattr(self, name)
            if isinstance(v, str):
                raise ValueError(f"{name} must be a collection of account ids, not a single string")
            object.__setattr__(self, name, frozenset(str(a) for a in v))
        both = self.locked & self.excluded
        if both:
            raise ValueError(f"locked and excluded both name accounts {sorted(both)[:10]}: choose one")


@dataclass(frozen=True, eq=False)
class TerritoryPlan:
    """The plan: one row per input account, one per rep, overall KPIs and the report.

    ``accounts`` (index: account id): ``owner`` (today), ``territory`` (rep id,
    ``"pool"``, or the outside owner for kept accounts), ``outcome``
    (assigned / pool / kept), ``moved``, ``reason``, ``locked``, ``visits_per_month``,
    ``workload_h`` (a month), ``travel_min`` (from the rep's anchor), ``base_travel_min``,
    ``potential_cny``, ``account_class``, ``lon``, ``lat``.
    ``reps`` (index: rep id): per-rep KPIs and the anchor. ``kpis``: overall.
    """

    accounts: pd.DataFrame
    reps: pd.DataFrame
    kpis: dict
    report: SolveReport
    options: TerritoryOptions
    compactness: str

    @property
    def moves(self) -> pd.DataFrame:
        """Accounts that change hands, with the reason."""
        a = self.accounts
        return a.loc[a["moved"], ["owner", "territory", "reason", "account_class", "potential_cny"]]

    @property
    def pool_returns(self) -> pd.DataFrame:
        """Accounts sent back to the public pool by the not-visited rule."""
        a = self.accounts
        return a.loc[a["pool_return"], ["owner", "reason", "account_class", "potential_cny"]]


# --------------------------------------------------------------------------- #
# Adapter from canonical tables
# --------------------------------------------------------------------------- #


def select_reps(reps: pd.DataFrame, n_reps: int | None, *, as_of: date | None = None) -> pd.DataFrame:
    """The reps of a plan: ``n_reps`` sellers (levels sales and M0, by id).

    Managers (M1 and above) are not given territories. When ``n_reps`` exceeds
    the sellers, vacancies ``NEW-01``, ... are added at the sellers' most common
    base, starting on ``as_of`` (so they count as new reps).
    """
    sellers = reps[reps[S.LEVEL].isin(SELLER_LEVELS)].sort_values(S.ID, kind="stable")
    if n_reps is None:
        return sellers.reset_index(drop=True)
    if isinstance(n_reps, bool) or not isinstance(n_reps, (int, np.integer)) or n_reps < 1:
        raise ValueError(f"reps must be a whole number >= 1, got {n_reps!r}")
    out = sellers.head(n_reps)
    missing = n_reps - len(out)
    if missing > 0:
        if len(reps) == 0:
            raise ValueError("reps: the reps table is empty, so vacancies have no base office")
        src = sellers if len(sellers) else reps
        base = src[S.BASE_OFFICE].mode().iloc[0]
        start = pd.Timestamp(as_of) if as_of is not None else pd.NaT
        extra = pd.DataFrame({S.ID: [f"NEW-{k + 1:02d}" for k in range(missing)],
                              S.NAME: [f"Vacancy {k + 1}" for k in range(missing)],
                              S.LEVEL: "sales", S.BASE_OFFICE: base, S.START_DATE: start})
        out = pd.concat([out, extra], ignore_index=True)
    return out.reset_index(drop=True)


def problem_from_tables(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame, *,
                        n_reps: int | None = None, as_of: date | None = None, ramp_days: int = 180,
                        min_share: float = 0.5, capacity: Mapping[str, int] | None = None) -> TerritoryProblem:
    """Build a ``TerritoryProblem`` from canonical accounts, reps and offices.

    Reps come from ``select_reps(reps, n_reps)``; each base is its
    ``base_office`` row in ``offices``. ``as_of`` (default: the day after the
    latest ``last_visit`` or ``start_date``, so the result does not depend on
    today's date; today when the tables have neither) sets
    days since the last visit and tenure; a rep's share is
    ``clip(tenure_days / ramp_days, min_share, 1)`` (1 when ``start_date`` is
    missing). ``capacity`` optionally gives max accounts by rep id. One
    ``ValueError`` lists every rep whose base office is missing or unknown.
    """
    if ramp_days < 1:
        raise ValueError(f"ramp_days must be >= 1, got {ramp_days!r}")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    lv = pd.to_datetime(accounts[S.LAST_VISIT], errors="coerce") if S.LAST_VISIT in accounts else \
        pd.Series(pd.NaT, index=accounts.index)
    if as_of is None:
        starts = pd.to_datetime(reps[S.START_DATE], errors="coerce") if S.START_DATE in reps else pd.Series([])
        latest = max((d for d in (lv.max(), starts.max()) if pd.notna(d)), default=None)
        as_of = (latest + pd.Timedelta(days=1)).date() if latest is not None else date.today()
    as_of_ts = pd.Timestamp(as_of)
    chosen = select_reps(reps, n_reps, as_of=as_of)
    off = offices.drop_duplicates(S.ID).set_index(S.ID)
    probs = []
    base = np.full((len(chosen), 2), np.nan)
    for j, r in enumerate(chosen.itertuples(index=False)):
        b = getattr(r, S.BASE_OFFICE)
        rid = getattr(r, S.ID)
        if b is None or (isinstance(b, float) and np.isnan(b)) or str(b) == "":
            probs.append(f"rep {rid} field base_office: missing")
        elif b not in off.index:
            probs.append(f"rep {rid} field base_office: unknown office {b!r}")
        else:
            base[j] = off.loc[b, [S.LON, S.LAT]].to_numpy(float)
    _raise_all(probs, "reps")
    start = pd.to_datetime(chosen[S.START_DATE], errors="coerce") if S.START_DATE in chosen else \
        pd.Series(pd.NaT, index=chosen.index)
    tenure = (as_of_ts - start).dt.days.to_numpy(dtype=float)
    share = np.where(np.isnan(tenure), 1.0, np.clip(tenure / ramp_days, min_share, 1.0))
    cap = np.zeros(len(chosen), dtype=np.int64)
    if capacity:
        unknown = sorted(set(capacity) - set(chosen[S.ID]))
        if unknown:
            raise ValueError(f"capacity names reps not in the plan: {unknown}")
        cap = np.array([int(capacity.get(r, 0)) for r in chosen[S.ID]], dtype=np.int64)
    days = (as_of_ts - lv).dt.days.to_numpy(dtype=float)
    return TerritoryProblem(
        account_ids=accounts[S.ID].to_numpy(), lonlat=accounts[[S.LON, S.LAT]].to_numpy(float),
        account_class=accounts[S.CLASS].to_numpy(), potential_cny=accounts[S.POTENTIAL_CNY].fillna(0).to_numpy(float),
        owner=accounts[S.OWNER].fillna(S.PUBLIC_POOL).to_numpy(), days_since_visit=days,
        rep_ids=chosen[S.ID].to_numpy(), base_lonlat=base, share=share, capacity=cap)


# --------------------------------------------------------------------------- #
# Integer scaling (the one place where floats become integers for CP-SAT)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _Scaler:
    """Units of the CP-SAT model: workload minutes, potential CNY and cost minutes per integer step.

    ``pick`` chooses the finest power-of-ten units for which the largest
    constraint activity stays below ``_INT_LIMIT`` and raises otherwise.
    Shares are in 1/100 and tolerances in 1/10,000.
    """

    work_unit_min: float
    pot_unit_cny: float
    cost_unit_min: float
    SHARE: int = 100
    TOL: int = 10_000

    @staticmethod
    def pick(total_work_min: float, total_pot_cny: float, total_cost_min: float, sum_share: float,
             n_slacks: int) -> _Scaler:
        s_int = max(1, round(sum_share * _Scaler.SHARE))
        # balance rows: TOL * S * W_r  vs  (TOL + tol) * share_r * T  vs  slack (per mille of the target)
        mult = 2 * _Scaler.TOL * max(s_int, _Scaler.SHARE * _SLACK_MAX_PER_MILLE // 1000)
        work = next((u for u in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
                     if mult * (total_work_min / u + 1) < _INT_LIMIT), None)
        pot_mult = 2 * _SLACK_MAX_PER_MILLE // 1000 + 4
        pot = next((u for u in (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
                    if pot_mult * (total_pot_cny / u + 1) < _INT_LIMIT), None)
        # objective: sum cost x + big * sum slacks, big = sum cost + 1
        obj_mult = 2 * _SLACK_MAX_PER_MILLE * max(n_slacks, 1)
        cost = next((u for u in (0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
                     if obj_mult * (total_cost_min / u + 1) < _INT_LIMIT), None)
        if work is None or pot is None or cost is None:
            raise OverflowError(f"territory model too large for 64-bit integers (workload {total_work_min:.3g} min, "
                                f"potential {total_pot_cny:.3g} CNY, cost {total_cost_min:.3g}): use units")
        return _Scaler(work, pot, cost)

    def work(self, v):
        return np.rint(np.asarray(v, dtype=float) / self.work_unit_min).astype(np.int64)

    def pot(self, v):
        return np.rint(np.asarray(v, dtype=float) / self.pot_unit_cny).astype(np.int64)

    def cost(self, v):
        return np.rint(np.asarray(v, dtype=float) / self.cost_unit_min).astype(np.int64)

    def share(self, v):
        return np.maximum(1, np.rint(np.asarray(v, dtype=float) * self.SHARE)).astype(np.int64)

    def tol(self, v: float) -> int:
        return int(round(v * self.TOL))


def _check_int_range(values, what: str) -> None:
    m = max((abs(int(v)) for v in values), default=0)
    if m >= _INT_LIMIT:
        raise OverflowError(f"{what}: integer {m} exceeds the CP-SAT limit {_INT_LIMIT}")


# --------------------------------------------------------------------------- #
# The assignment core: items (accounts or units) x candidate reps
# --------------------------------------------------------------------------- #


@dataclass
class _Core:
    """An assignment instance on items (accounts or units).

    Edge arrays (``e_*``, length E, sorted by item): candidate (item, rep) pairs
    with workload minutes, cost, potential, accounts and accounts moved.
    ``fixed_*``: per-rep constants from locked accounts (and fixed items).
    """

    n_items: int
    n_reps: int
    e_item: np.ndarray
    e_rep: np.ndarray
    e_work: np.ndarray
    e_cost: np.ndarray
    e_pot: np.ndarray
    e_count: np.ndarray
    e_moved: np.ndarray
    share: np.ndarray
    capacity: np.ndarray
    fixed_work: np.ndarray
    fixed_pot: np.ndarray
    fixed_count: np.ndarray
    pot_total: float
    tol: float
    ptol: float
    max_moves: int | None
    move_penalty: float

    @property
    def starts(self) -> np.ndarray:
        return np.searchsorted(self.e_item, np.arange(self.n_items + 1))

    @property
    def obj(self) -> np.ndarray:
        return self.e_cost + self.move_penalty * self.e_moved

    def pot_targets(self) -> np.ndarray:
        return self.share / self.share.sum() * self.pot_total


@dataclass
class _Eval:
    work: np.ndarray
    pot: np.ndarray
    count: np.ndarray
    moved: float
    cost: float
    objective: float
    violated: list[tuple[str, int, float, float, float]]  # kind, rep, value, limit, relative excess


def _evaluate(core: _Core, chosen_edge: np.ndarray, eps: float = 1e-6) -> _Eval:
    """Loads and broken limits of an assignment (one edge index per item)."""
    R = core.n_reps
    er = core.e_rep[chosen_edge]
    work = core.fixed_work + np.bincount(er, weights=core.e_work[chosen_edge], minlength=R)
    pot = core.fixed_pot + np.bincount(er, weights=core.e_pot[chosen_edge], minlength=R)
    count = core.fixed_count + np.bincount(er, weights=core.e_count[chosen_edge], minlength=R)
    moved = float(core.e_moved[chosen_edge].sum())
    cost = float(core.e_cost[chosen_edge].sum())
    viol = []
    tgt_w = core.share / core.share.sum() * work.sum()
    tgt_p = core.pot_targets()
    for r in range(R):
        hi, lo = (1 + core.tol) * tgt_w[r], (1 - core.tol) * tgt_w[r]
        if work[r] > hi * (1 + eps) + eps:
            viol.append(("workload_max", r, work[r], hi, work[r] / max(hi, 1e-9) - 1))
        if work[r] < lo * (1 - eps) - eps:
            viol.append(("workload_min", r, work[r], lo, 1 - work[r] / max(lo, 1e-9)))
        if core.pot_total > 0:
            hi, lo = (1 + core.ptol) * tgt_p[r], (1 - core.ptol) * tgt_p[r]
            if pot[r] > hi * (1 + eps) + eps:
                viol.append(("potential_max", r, pot[r], hi, pot[r] / max(hi, 1e-9) - 1))
            if pot[r] < lo * (1 - eps) - eps:
                viol.append(("potential_min", r, pot[r], lo, 1 - pot[r] / max(lo, 1e-9)))
        if count[r] > core.capacity[r] + eps:
            viol.append(("capacity", r, count[r], core.capacity[r], count[r] / max(core.capacity[r], 1) - 1))
    if core.max_moves is not None and moved > core.max_moves + eps:
        viol.append(("max_moves", -1, moved, core.max_moves, moved / max(core.max_moves, 1) - 1))
    return _Eval(work, pot, count, moved, cost, cost + core.move_penalty * moved, viol)


def _lp(core: _Core, time_limit_s: float, *, elastic: bool
        ) -> tuple[np.ndarray | None, float | None, str, np.ndarray | None]:
    """LP relaxation: edge values (or None), objective, a status word and the slacks
    (relative; 5 x R per-rep limits in the order workload max, workload min,
    potential max, potential min, capacity, then max moves).

    ``elastic``: every limit gets a slack (relative to the limit) with a penalty
    that outweighs any cost, so the least total violation comes first.
    """
    import scipy.sparse as sp
    from ortools.linear_solver.python import model_builder as mb
    from ortools.linear_solver.python import model_builder_helper as mbh

    t_end = time.perf_counter() + time_limit_s
    E, K, R = len(core.e_item), core.n_items, core.n_reps
    share = core.share
    frac = share / share.sum()
    use_pot = core.pot_total > 0
    # columns: x (E), T, slacks: wu, wl, pu, pl, cap (R each), moves (1)
    c_T = E
    c_s = E + 1
    n_sl = 5 * R + 1
    ncol = c_s + n_sl
    starts = core.starts
    least = np.minimum.reduceat(core.e_work, starts[:-1]).sum() if K else 0.0
    tref = frac * max(float(core.fixed_work.sum() + least), 1.0)  # slack unit: 100 % of a rep's target
    ptgt = core.pot_targets()
    cap = core.capacity.astype(float)
    rows, cols, vals, lo, hi = [], [], [], [], []
    nrow = 0

    def add(r_idx, c_idx, v, lb, ub):
        nonlocal nrow
        rows.append(np.asarray(r_idx, dtype=np.int64) + nrow)
        cols.append(np.asarray(c_idx, dtype=np.int64))
        vals.append(np.asarray(v, dtype=float))
        lo.append(np.asarray(lb, dtype=float))
        hi.append(np.asarray(ub, dtype=float))
        nrow += len(np.atleast_1d(lb))

    eidx = np.arange(E)
    add(core.e_item, eidx, np.ones(E), np.ones(K), np.ones(K))  # each item once
    # T - sum w x = fixed total
    add(np.zeros(E + 1, dtype=np.int64), np.r_[eidx, c_T], np.r_[-core.e_work, 1.0],
        [core.fixed_work.sum()], [core.fixed_work.sum()])
    rr = np.arange(R)
    # workload upper: sum w x - a_r T - tref_r s <= -fixed
    add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + rr],
        np.r_[core.e_work, -(1 + core.tol) * frac, -tref], np.full(R, -np.inf), -core.fixed_work)
    add(np.r_[core.e_rep, rr, rr], np.r_[eidx, np.full(R, c_T), c_s + R + rr],
        np.r_[core.e_work, -(1 - core.tol) * frac, tref], -core.fixed_work, np.full(R, np.inf))
    if use_pot:
        pt = np.maximum(ptgt, 1e-9)
        add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 2 * R + rr], np.r_[core.e_pot, -pt],
            np.full(R, -np.inf), (1 + core.ptol) * ptgt - core.fixed_pot)
        add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 3 * R + rr], np.r_[core.e_pot, pt],
            (1 - core.ptol) * ptgt - core.fixed_pot, np.full(R, np.inf))
    add(np.r_[core.e_rep, rr], np.r_[eidx, c_s + 4 * R + rr], np.r_[core.e_count, -np.maximum(cap, 1)],
        np.full(R, -np.inf), cap - core.fixed_count)
    if core.max_moves is not None:
        mm = core.e_moved > 0
        add(np.zeros(int(mm.sum()) + 1, dtype=np.int64), np.r_[eidx[mm], c_s + 5 * R],
            np.r_[core.e_moved[mm], -max(core.max_moves, 1)], [-np.inf], [core.max_moves])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, ncol))
    lb_r, ub_r = np.concatenate(lo), np.concatenate(hi)
    var_lb = np.zeros(ncol)
    var_ub = np.r_[np.ones(E), np.inf, np.full(n_sl, np.inf if elastic else 0.0)]
    cost_obj = np.r_[core.obj, 0.0, np.zeros(n_sl)]

    def run(obj, A_, lb_, ub_):
        model = mb.Model()
        model.helper.fill_model_from_sparse_data(var_lb, var_ub, obj, lb_, ub_, A_)
        solver_name = "highs"
        solver = mbh.ModelSolverHelper(solver_name)
        if not solver.solver_is_supported():
            solver_name = "glop"
            solver = mbh.ModelSolverHelper(solver_name)
        solver.enable_output(False)
        if solver_name == "highs":
            solver.set_solver_specific_parameters(_HIGHS_PARAMS)  # no banner on stdout
        solver.set_time_limit_in_seconds(max(0.05, t_end - time.perf_counter()))
        solver.solve(model.helper)
        st = mb.SolveStatus(solver.status())
        if st == mb.SolveStatus.OPTIMAL and solver.has_solution():
            return np.asarray(solver.variable_values()), float(solver.objective_value()), "optimal"
        if time.perf_counter() >= t_end - 0.05:
            return None, None, "time_limit"
        return None, None, "infeasible" if st == mb.SolveStatus.INFEASIBLE else st.name.lower()

    if not elastic:
        xv, obj, st = run(cost_obj, A, lb_r, ub_r)
        return (xv[:E] if xv is not None else None), obj, st, None
    # one LP: a slack of 1 (100 % of a limit) costs as much as the whole plan's travel, times 100
    big = 100.0 * max(float(np.minimum.reduceat(core.obj, starts[:-1]).sum()) if K else 0.0, 1.0)
    xv, obj, st = run(cost_obj + np.r_[np.zeros(E + 1), np.full(n_sl, big)], A, lb_r, ub_r)
    if xv is None:
        return None, None, st, None
    return xv[:E], float(core.obj @ xv[:E]), st, xv[c_s:]


def _argmax_edges(core: _Core, xv: np.ndarray) -> np.ndarray:
    """The edge with the largest LP value of each item."""
    order = np.lexsort((-xv, core.e_item))
    return order[core.starts[:-1]]


def _polish(core: _Core, best: np.ndarray, free_items: np.ndarray, options: TerritoryOptions,
            time_limit_s: float, *, elastic: bool = True) -> np.ndarray:
    """CP-SAT on ``free_items`` (every other item fixed as in ``best``), starting from ``best``.

    Same limits as the LP; with ``elastic`` each has a penalised slack in per
    mille of the limit (so a plan that misses limits is still a solution),
    objective cost + ``big`` x slack; without, the limits are hard (``best``
    must meet them). Returns ``best`` with the free items re-chosen.
    """
    from ortools.sat.python import cp_model

    if len(free_items) == 0:
        return best
    starts = core.starts
    R = core.n_reps
    in_free = np.zeros(core.n_items, dtype=bool)
    in_free[free_items] = True
    fixed_edge = best[~in_free]
    fw = core.fixed_work + np.bincount(core.e_rep[fixed_edge], weights=core.e_work[fixed_edge], minlength=R)
    fp = core.fixed_pot + np.bincount(core.e_rep[fixed_edge], weights=core.e_pot[fixed_edge], minlength=R)
    fc = core.fixed_count + np.bincount(core.e_rep[fixed_edge], weights=core.e_count[fixed_edge], minlength=R)
    fm = float(core.e_moved[fixed_edge].sum())
    fe = np.flatnonzero(in_free[core.e_item])
    n_sl = 5 * R + 1
    sc = _Scaler.pick(float(fw.sum() + core.e_work[fe].sum()), core.pot_total + 1.0,
                      float(np.abs(core.obj[fe]).sum()) + 1.0, float(core.share.sum()), n_sl)
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{e}") for e in fe]
    loc = np.full(len(core.e_item), -1, dtype=np.int64)
    loc[fe] = np.arange(len(fe))
    for it in free_items:
        m.add_exactly_one([x[k] for k in loc[starts[it]:starts[it + 1]]])
        m.add_hint(x[loc[best[it]]], True)
    hint_set = set(loc[best[free_items]].tolist())
    for k in range(len(fe)):
        if k not in hint_set:
            m.add_hint(x[k], False)
    w_int, p_int = sc.work(core.e_work[fe]), sc.pot(core.e_pot[fe])
    fw_int, fp_int = sc.work(fw), sc.pot(fp)
    sh = sc.share(core.share)
    s_sum = int(sh.sum())
    tol = sc.tol(core.tol)
    tot_hi = int(fw_int.sum() + w_int.sum()) + 1
    t_hint = int(fw_int.sum() + w_int[loc[best[free_items]]].sum())
    T = m.new_int_var(0, tot_hi, "T")
    m.add(T == int(fw_int.sum()) + cp_model.LinearExpr.weighted_sum(x, w_int.tolist()))
    er = core.e_rep[fe]
    obj_i = sc.cost(core.obj[fe])
    big = int(np.abs(obj_i).sum()) + 1
    ptgt = core.pot_targets()
    svars = []

    def slack(unit: int):  # violation in per mille of the limit
        if not elastic:
            return 0
        s = m.new_int_var(0, _SLACK_MAX_PER_MILLE, "")
        svars.append(s)
        return s * unit

    for r in range(R):
        idx = np.flatnonzero(er == r)
        xs = [x[k] for k in idx]
        load = cp_model.LinearExpr.weighted_sum(xs, w_int[idx].tolist()) + int(fw_int[r])
        unit_w = max(1, sc.TOL * int(sh[r]) * t_hint // 1000)
        _check_int_range([sc.TOL * s_sum * tot_hi, (sc.TOL + tol) * int(sh[r]) * tot_hi,
                          unit_w * _SLACK_MAX_PER_MILLE], "workload balance row")
        m.add(sc.TOL * s_sum * load <= (sc.TOL + tol) * int(sh[r]) * T + slack(unit_w))
        m.add(sc.TOL * s_sum * load >= (sc.TOL - tol) * int(sh[r]) * T - slack(unit_w))
        if core.pot_total > 0:
            ploads = cp_model.LinearExpr.weighted_sum(xs, p_int[idx].tolist()) + int(fp_int[r])
            unit_p = max(1, int(sc.pot(ptgt[r] / 1000)))
            m.add(ploads <= int(math.floor((1 + core.ptol) * ptgt[r] / sc.pot_unit_cny)) + slack(unit_p))
            m.add(ploads >= int(math.ceil((1 - core.ptol) * ptgt[r] / sc.pot_unit_cny)) - slack(unit_p))
        counts = cp_model.LinearExpr.weighted_sum(xs, np.rint(core.e_count[fe][idx]).astype(np.int64).tolist())
        m.add(counts + int(round(fc[r])) <= int(core.capacity[r]) + slack(max(1, int(core.capacity[r]) // 1000)))
    if core.max_moves is not None:
        mv = np.rint(core.e_moved[fe]).astype(np.int64)
        m.add(cp_model.LinearExpr.weighted_sum(x, mv.tolist()) + int(round(fm))
              <= core.max_moves + slack(max(1, core.max_moves // 1000)))
    _check_int_range([big * _SLACK_MAX_PER_MILLE * len(svars), int(np.abs(obj_i).sum())], "objective")
    m.minimize(cp_model.LinearExpr.weighted_sum(x, obj_i.tolist())
               + (big * cp_model.LinearExpr.sum(svars) if svars else 0))
    solver = cp_model.CpSolver()
    p = solver.parameters
    p.max_time_in_seconds = max(0.1, time_limit_s)
    # a budget in CP-SAT's deterministic work units (not wall time): same seed, same plan on any machine
    p.max_deterministic_time = min(max(0.1 * options.time_limit_s, 0.5), 10.0)
    p.relative_gap_limit = 1e-4
    p.random_seed = int(options.seed)
    p.num_workers = int(options.workers)
    p.interleave_search = options.workers > 1
    st = solver.solve(m)
    out = best.copy()
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        vals = np.array([solver.boolean_value(v) for v in x], dtype=bool)
        chosen = fe[vals]
        out[core.e_item[chosen]] = chosen
    return out


def _settle(core: _Core, xv: np.ndarray, options: TerritoryOptions, t_end: float, *, polish: bool) -> np.ndarray:
    """Integer plan from LP values: argmax rounding, greedy repair of the limits, then (``polish``) CP-SAT on
    the fractional items and the items cheapest to move, started from the repaired plan."""
    best = _argmax_edges(core, xv)
    frac = np.flatnonzero(xv[best] < 1 - 1e-6)
    if len(frac) == 0:
        return best
    best = _repair(core, best, max(t_end, time.perf_counter() + 1.0))
    if not polish:
        return best
    in_free = np.zeros(core.n_items, dtype=bool)
    in_free[frac] = True
    n_extra = min(core.n_items - len(frac), max(200, 10 * core.n_reps))
    if n_extra > 0:
        obj = core.obj
        alt = np.where(np.arange(len(obj)) == best[core.e_item], np.inf, obj)
        regret = np.minimum.reduceat(alt, core.starts[:-1]) - obj[best]
        regret[in_free] = np.inf
        extra = np.argsort(regret, kind="stable")[:n_extra]
        in_free[extra[np.isfinite(regret[extra])]] = True
    before = _evaluate(core, best)
    cand = _polish(core, best, np.flatnonzero(in_free), options, max(t_end - time.perf_counter(), 0.5),
                   elastic=bool(before.violated))
    after = _evaluate(core, cand)
    worse = sum(v[4] for v in after.violated) > sum(v[4] for v in before.violated) + 1e-9
    return best if worse or (not after.violated and after.objective > before.objective) else cand


def _violation(core: _Core, reps: np.ndarray, work, pot, count, total_work) -> np.ndarray:
    """Relative excess over the limits of ``reps`` given their loads (0 where all hold), elementwise."""
    frac = core.share[reps] / core.share.sum()
    hi_w, lo_w = (1 + core.tol) * frac * total_work, (1 - core.tol) * frac * total_work
    v = np.maximum(work / np.maximum(hi_w, 1e-9) - 1, 0) + np.maximum(1 - work / np.maximum(lo_w, 1e-9), 0)
    if core.pot_total > 0:
        tp = core.pot_targets()[reps]
        v = v + np.maximum(pot / np.maximum((1 + core.ptol) * tp, 1e-9) - 1, 0)
        v = v + np.maximum(1 - pot / np.maximum((1 - core.ptol) * tp, 1e-9), 0)
    return v + np.maximum(count / np.maximum(core.capacity[reps], 1) - 1, 0)


def _repair(core: _Core, best: np.ndarray, t_end: float, max_steps: int = 100_000) -> np.ndarray:
    """Greedy local search after rounding: move one item at a time to cut the total relative violation.

    Each step takes the candidate move with the largest violation decrease (the
    smallest cost increase among equals), within the move limit. The other
    reps' workload targets shift with the total only slightly and are held
    within a step. Stops when every limit holds, no move helps, or at ``t_end``.
    """
    best = best.copy()
    R = core.n_reps
    reps = np.arange(R)
    item_rep = core.e_rep[best]
    work = core.fixed_work + np.bincount(item_rep, weights=core.e_work[best], minlength=R)
    pot = core.fixed_pot + np.bincount(item_rep, weights=core.e_pot[best], minlength=R)
    count = core.fixed_count + np.bincount(item_rep, weights=core.e_count[best], minlength=R)
    moved = float(core.e_moved[best].sum())
    obj = core.obj
    for _ in range(max_steps):
        total = work.sum()
        v_rep = _violation(core, reps, work, pot, count, total)
        if v_rep.sum() <= 1e-9 or time.perf_counter() > t_end:
            break
        cur_e = best[core.e_item]  # each edge's item's chosen edge
        a, b = core.e_rep[cur_e], core.e_rep
        ok = (a != b) & ((v_rep[a] > 0) | (v_rep[b] > 0))  # moves touching a rep that breaks a limit
        if core.max_moves is not None:
            ok &= moved - core.e_moved[cur_e] + core.e_moved <= core.max_moves + 1e-9
        idx = np.flatnonzero(ok)
        changes: list[tuple[int, int]] = []  # (new edge, old edge) to apply
        if len(idx):
            ce, ia, ib = cur_e[idx], a[idx], b[idx]
            t2 = total + core.e_work[idx] - core.e_work[ce]
            va = _violation(core, ia, work[ia] - core.e_work[ce], pot[ia] - core.e_pot[ce],
                            count[ia] - core.e_count[ce], t2)
            vb = _violation(core, ib, work[ib] + core.e_work[idx], pot[ib] + core.e_pot[idx],
                            count[ib] + core.e_count[idx], t2)
            dv = va + vb - v_rep[ia] - v_rep[ib]
            if dv.min() < -1e-9:
                k = int(np.argmin(np.where(dv < -1e-9, dv * 1e9 + (obj[idx] - obj[ce]), np.inf)))
                changes = [(int(idx[k]), int(ce[k]))]
        if not changes:
            changes = _best_swap(core, best, cur_e, v_rep, work, pot, count, total, moved)
            if not changes:
                break
        for e, old in changes:
            ra, rb = int(core.e_rep[old]), int(core.e_rep[e])
            work[ra] -= core.e_work[old]
            work[rb] += core.e_work[e]
            pot[ra] -= core.e_pot[old]
            pot[rb] += core.e_pot[e]
            count[ra] -= core.e_count[old]
            count[rb] += core.e_count[e]
            moved += core.e_moved[e] - core.e_moved[old]
            best[int(core.e_item[e])] = e
    return best


def _best_swap(core: _Core, best, cur_e, v_rep, work, pot, count, total, moved) -> list[tuple[int, int]]:
    """The exchange of two items between the most violated rep and a neighbour that cuts violation most."""
    a = int(np.argmax(v_rep))
    out_e = np.flatnonzero((core.e_rep[cur_e] == a) & (core.e_rep != a))  # a's items -> b
    in_e = np.flatnonzero((core.e_rep == a) & (core.e_rep[cur_e] != a))  # b's items -> a
    best_pair, best_score = None, 0.0
    for b in np.unique(core.e_rep[out_e]):
        o = out_e[core.e_rep[out_e] == b]
        i = in_e[core.e_rep[cur_e[in_e]] == b]
        if len(o) == 0 or len(i) == 0:
            continue
        o, i = o[:400], i[:400]
        oc, ic = cur_e[o], cur_e[i]  # current edges (item at a; item at b)
        # a loses item(o) (edge oc), gains item(i) (edge i); b loses item(i) (edge ic), gains item(o) (edge o)
        dwa = core.e_work[i][None, :] - core.e_work[oc][:, None]
        dwb = core.e_work[o][:, None] - core.e_work[ic][None, :]
        dpa = core.e_pot[i][None, :] - core.e_pot[oc][:, None]
        dca = core.e_count[i][None, :] - core.e_count[oc][:, None]
        t2 = total + dwa + dwb
        ra, rb = np.full(dwa.shape, a), np.full(dwa.shape, b)
        va = _violation(core, ra, work[a] + dwa, pot[a] + dpa, count[a] + dca, t2)
        vb = _violation(core, rb, work[b] + dwb, pot[b] - dpa, count[b] - dca, t2)
        dv = va + vb - v_rep[a] - v_rep[b]
        if core.max_moves is not None:
            dm = (core.e_moved[o] - core.e_moved[oc])[:, None] + (core.e_moved[i] - core.e_moved[ic])[None, :]
            dv = np.where(moved + dm <= core.max_moves + 1e-9, dv, np.inf)
        k = np.unravel_index(np.argmin(dv), dv.shape)
        if dv[k] < best_score - 1e-9:
            best_score = float(dv[k])
            best_pair = [(int(o[k[0]]), int(oc[k[0]])), (int(i[k[1]]), int(ic[k[1]]))]
    return best_pair or []


def _kmeans(xy: np.ndarray, weight: np.ndarray, k: int, rng: np.random.Generator, iters: int = 30) -> np.ndarray:
    """Weighted k-means (k-means++ start) on projected km coordinates; returns centres (k, 2)."""
    n = len(xy)
    w = np.maximum(weight, 1e-9)
    centres = np.empty((k, 2))
    centres[0] = xy[rng.choice(n, p=w / w.sum())]
    d2 = ((xy - centres[0]) ** 2).sum(1)
    for j in range(1, k):
        p = w * d2
        centres[j] = xy[rng.choice(n, p=p / p.sum())] if p.sum() > 0 else xy[rng.integers(n)]
        d2 = np.minimum(d2, ((xy - centres[j]) ** 2).sum(1))
    sq = (xy ** 2).sum(1)
    for _ in range(iters):
        lab = _nearest_centre(xy, sq, centres)
        sw = np.bincount(lab, weights=w, minlength=k)
        new = centres.copy()
        ok = sw > 0
        new[ok, 0] = np.bincount(lab, weights=w * xy[:, 0], minlength=k)[ok] / sw[ok]
        new[ok, 1] = np.bincount(lab, weights=w * xy[:, 1], minlength=k)[ok] / sw[ok]
        if np.allclose(new, centres):
            break
        centres = new
    return centres


def _nearest_centre(xy: np.ndarray, sq: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point, in row chunks (|x|^2 - 2 x.c + |c|^2)."""
    out = np.empty(len(xy), dtype=np.int64)
    csq = (centres ** 2).sum(1)
    step = max(1, 4_000_000 // max(len(centres), 1))
    for s0 in range(0, len(xy), step):
        d = sq[s0:s0 + step, None] - 2.0 * xy[s0:s0 + step] @ centres.T + csq[None, :]
        out[s0:s0 + step] = np.argmin(d, axis=1)
    return out


def _project(lonlat: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Local equirectangular projection to km around ``ref`` (lon, lat)."""
    k = math.cos(math.radians(float(ref[1])))
    return np.c_[(lonlat[:, 0] - ref[0]) * 111.32 * k, (lonlat[:, 1] - ref[1]) * 110.57]


def _unproject(xy: np.ndarray, ref: np.ndarray) -> np.ndarray:
    k = math.cos(math.radians(float(ref[1])))
    return np.c_[xy[:, 0] / (111.32 * k) + ref[0], xy[:, 1] / 110.57 + ref[1]]


# --------------------------------------------------------------------------- #
# solve
# --------------------------------------------------------------------------- #


@dataclass
class _Prep:
    """Account classification and per-account arrays shared by all stages."""

    visits: np.ndarray
    cur: np.ndarray  # index of today's owner among the plan's reps, -1 otherwise
    status: np.ndarray  # 0 free, 1 locked in plan, 2 pool, 3 kept outside
    reason: np.ndarray
    pool_return: np.ndarray
    locked: np.ndarray


def _classify(problem: TerritoryProblem, options: TerritoryOptions) -> _Prep:
    ids = problem.account_ids
    idset = set(ids.tolist())
    probs = []
    for name in ("locked", "excluded"):
        unknown = sorted(getattr(options, name) - idset)
        if unknown:
            probs.append(f"{name} names unknown account ids {unknown[:10]}"
                         + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))
    vpm = options.visits_per_month
    cls = problem.account_class
    bad = np.flatnonzero(~pd.Series(cls).isin(list(vpm)).to_numpy())
    for i in bad:
        probs.append(f"account row {i} (id {ids[i]}): field account_class {cls[i]!r} has no visit frequency "
                     f"(visits_per_month has {', '.join(vpm)})")
    _raise_all(probs, "territory options")
    n = problem.n_accounts
    rep_index = {r: j for j, r in enumerate(problem.rep_ids)}
    owner = problem.owner
    cur = np.array([rep_index.get(o, -1) for o in owner], dtype=np.int64)
    visits = pd.Series(cls).map(vpm).to_numpy(float)
    locked = pd.Series(ids).isin(options.locked).to_numpy()
    excluded = pd.Series(ids).isin(options.excluded).to_numpy()
    in_pool = owner == S.PUBLIC_POOL
    status = np.zeros(n, dtype=np.int8)
    reason = np.full(n, "", dtype=object)
    pool_return = np.zeros(n, dtype=bool)
    days = problem.days_since_visit
    if options.pool_return_days is not None:
        stale = ~in_pool & ~locked & ~excluded & np.isfinite(days) & (days > options.pool_return_days)
        pool_return = stale
        status[stale] = 2
        for i in np.flatnonzero(stale):
            reason[i] = (f"returned to the public pool: not visited for {int(days[i])} days "
                         f"(rule: {options.pool_return_days} days)")
    status[excluded] = 2
    reason[excluded] = "excluded by the user: stays in the public pool"
    if not options.include_pool:
        m = in_pool & ~excluded & ~locked
        status[m] = 2
        reason[m] = "in the public pool (pool accounts are not divided; include_pool is off)"
    lk_in = locked & (cur >= 0)
    status[lk_in] = 1
    reason[lk_in] = "locked with its owner"
    lk_out = locked & (cur < 0)
    status[lk_out & in_pool] = 2
    reason[lk_out & in_pool] = "locked in the public pool"
    status[lk_out & ~in_pool] = 3
    for i in np.flatnonzero(lk_out & ~in_pool):
        reason[i] = f"locked with {owner[i]}, who is not a rep of this plan: kept outside the plan"
    return _Prep(visits, cur, status, reason, pool_return, locked)


def _anchor_mode(problem: TerritoryProblem, options: TerritoryOptions) -> str:
    if options.compactness != "auto":
        return options.compactness
    b = problem.base_lonlat
    if len(b) < 2:
        return "base"
    d = travel.haversine_matrix_m(b, b)
    np.fill_diagonal(d, np.inf)
    return "base" if d.min() > 200.0 else "centre"


@dataclass
class _Items:
    """Free accounts grouped into items (accounts or units) with their full item x rep matrices.

    ``mask`` (items x reps) says which pairs are candidates; ``core(mask)``
    builds the sparse instance. Candidates start as the ``k`` cheapest reps of
    each item, its current owner, an optional extra rep (the unit's rep when
    refining), and for every rep its cheapest items up to ``reach`` times its
    share of the workload; ``expand`` widens them where the LP found limits
    that cannot hold.
    """

    W: np.ndarray
    C: np.ndarray
    P: np.ndarray
    N: np.ndarray
    cur: np.ndarray
    acc: np.ndarray  # free account indices, sorted by item
    share: np.ndarray
    capacity: np.ndarray
    fixed: tuple
    pot_total: float
    options: TerritoryOptions

    @staticmethod
    def build(item_of, n_items, free, prep, W, C, pot, fixed, share, capacity, options) -> _Items:
        acc = np.flatnonzero(free)
        order = np.argsort(item_of[acc], kind="stable")
        acc = acc[order]
        bounds = np.searchsorted(item_of[acc], np.arange(n_items + 1))
        if n_items == len(acc):
            Wi, Ci, Pi, Ni = W[acc].astype(float), C[acc].astype(float), pot[acc], np.ones(len(acc))
        else:
            Wi = np.add.reduceat(W[acc].astype(float), bounds[:-1], axis=0)
            Ci = np.add.reduceat(C[acc].astype(float), bounds[:-1], axis=0)
            Pi = np.add.reduceat(pot[acc], bounds[:-1])
            Ni = np.diff(bounds).astype(float)
        cur = prep.cur[acc[bounds[:-1]]] if n_items else np.zeros(0, dtype=np.int64)
        return _Items(Wi, Ci, Pi, Ni, cur, acc, share.astype(float), capacity.astype(float), fixed,
                      float(pot[free].sum() + fixed[1].sum()), options)

    @property
    def n_items(self) -> int:
        return len(self.N)

    def _reach(self, mask: np.ndarray, reps, factor: float) -> None:
        need = factor * self.share / self.share.sum() * (self.W.min(axis=1).sum() + self.fixed[0].sum())
        per = self.C / np.maximum(self.N, 1.0)[:, None]
        for r in reps:
            order = np.argsort(per[:, r], kind="stable")
            upto = int(np.searchsorted(np.cumsum(self.W[order, r]), need[r])) + 1
            mask[order[:upto], r] = True

    def initial_mask(self, k: int, extra_rep: np.ndarray | None = None, reach: float = 3.0) -> np.ndarray:
        n, R = self.n_items, len(self.share)
        mask = np.zeros((n, R), dtype=bool)
        k = min(k, R)
        if k >= R:
            mask[:] = True
            return mask
        if n:
            np.put_along_axis(mask, np.argpartition(self.C, k - 1, axis=1)[:, :k], True, axis=1)
            if reach > 0:
                self._reach(mask, range(R), reach)
        has = self.cur >= 0
        mask[np.flatnonzero(has), self.cur[has]] = True
        if extra_rep is not None:
            mask[np.arange(n), extra_rep] = True
        return mask

    def expand(self, mask: np.ndarray, core: _Core, xv: np.ndarray, slacks: np.ndarray, round_no: int) -> bool:
        """Widen the candidates around broken limits; False when nothing could be added."""
        R = len(self.share)
        before = int(mask.sum())
        sl = slacks[:5 * R].reshape(5, R)
        under = np.flatnonzero((sl[1] > 1e-7) | (sl[3] > 1e-7))
        over = np.flatnonzero((sl[0] > 1e-7) | (sl[2] > 1e-7) | (sl[4] > 1e-7))
        self._reach(mask, under, 3.0 * 3 ** round_no)
        if len(over):
            items = np.unique(core.e_item[(xv > 1e-9) & np.isin(core.e_rep, over)])
            k = min(R, self.options.candidates * 2 ** round_no)
            if len(items) and k < R:
                near = np.argpartition(self.C[items], k - 1, axis=1)[:, :k]
                mask[items[:, None], near] = True
            elif len(items):
                mask[items] = True
        return int(mask.sum()) > before

    def core(self, mask: np.ndarray) -> _Core:
        o = self.options
        e_item, e_rep = np.nonzero(mask)
        moved_n = np.where(self.cur[e_item] >= 0, (e_rep != self.cur[e_item]) * self.N[e_item], 0.0)
        fw, fp, fc = self.fixed
        return _Core(self.n_items, len(self.share), e_item, e_rep, self.W[e_item, e_rep], self.C[e_item, e_rep],
                     self.P[e_item], self.N[e_item], moved_n, self.share, self.capacity, fw, fp, fc,
                     self.pot_total, o.tolerance, o.potential_tolerance, o.max_moves, o.move_penalty_min)


def _solve_items(items: _Items, mask: np.ndarray, options: TerritoryOptions, t_end: float, progress: ProgressFn,
                 label: str, *, polish: bool = True) -> tuple[np.ndarray | None, _Core, dict]:
    """LP (widening the candidates while limits cannot hold), rounding, greedy repair, CP-SAT polish.

    Returns the chosen edge per item (None when the time ran out before any
    LP solution), the instance it refers to, and info (LP status, bound).
    """
    info: dict = {"lp_status": None, "bound": None, "elastic": False}
    core = items.core(mask)
    t_start = time.perf_counter()
    round_no = 0
    last = None
    while True:
        # The penalised LP is as fast as the plain one and always feasible; with no slack left it is the
        # plain LP's optimum, otherwise the candidates are widened around the broken limits and it runs again.
        t = time.perf_counter()
        xv, obj, st, slacks = _lp(core, max((t_end - t) * 0.7, 0.1), elastic=True)
        if xv is None:
            progress(None, f"{label}: LP {st} after {time.perf_counter() - t:.1f} s ({len(core.e_item):,} pairs)")
            break
        violation = float(slacks.sum())
        last = (xv, obj, st, violation, core)
        progress(None, f"{label}: LP {st} in {time.perf_counter() - t:.1f} s ({core.n_items:,} items, "
                       f"{len(core.e_item):,} item-rep pairs, total relative violation {violation:.3g})")
        round_no += 1
        if violation <= 1e-7 or round_no > 3 or time.perf_counter() > t_end - 0.5 * (t_end - t_start) or \
                not items.expand(mask, core, xv, slacks, round_no):
            break
        core = items.core(mask)
    info["lp_status"] = st
    if last is None:
        return None, core, info
    xv, obj, st, violation, core = last
    info["elastic"] = violation > 1e-7
    info["bound"] = obj if not info["elastic"] else None
    t = time.perf_counter()
    chosen = _settle(core, xv, options, t_end, polish=polish)
    info["elastic"] = info["elastic"] and bool(_evaluate(core, chosen).violated)
    progress(None, f"{label}: rounding, repair" + (" and CP-SAT polish" if polish else "")
             + f" in {time.perf_counter() - t:.1f} s")
    return chosen, core, info


def _start_edges(core: _Core, prefer_rep: np.ndarray) -> np.ndarray:
    """Edge per item for a preferred rep (current owner), else the cheapest candidate."""
    starts = core.starts
    best = np.empty(core.n_items, dtype=np.int64)
    order = np.lexsort((core.e_cost, core.e_item))
    best[:] = order[starts[:-1]]
    hit = np.flatnonzero((prefer_rep[core.e_item] == core.e_rep) & (prefer_rep[core.e_item] >= 0))
    best[core.e_item[hit]] = hit
    return best


def _grid_units(xy: np.ndarray, cur: np.ndarray, target: int, max_size: int) -> tuple[np.ndarray, int, float]:
    """Units = square grid cell x current owner, about ``target`` of them, none above ``max_size`` accounts.

    The cell grows until about ``target`` units remain; then any unit with more
    than ``max_size`` accounts is split on a grid twice as fine (repeatedly),
    and finally in chunks, so that no unit is a large part of a rep's load.
    Returns the unit of each point, the number of units and the base cell (km).
    """
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0, 0.0
    span = np.ptp(xy, axis=0)
    cell = max(0.2, math.sqrt(max(span[0] * span[1], 1.0) / max(target, 1)))

    def units(key: np.ndarray) -> np.ndarray:
        return np.unique(key, axis=0, return_inverse=True)[1].ravel()

    for _ in range(40):
        key = np.c_[np.zeros(n, dtype=np.int64), np.floor(xy / cell).astype(np.int64), cur]
        inv = units(key)
        if inv.max() + 1 <= target * 1.15:
            break
        cell *= 1.2
    for depth in range(1, 9):
        big = np.bincount(inv)[inv] > max_size
        if not big.any():
            break
        key[big, 0] = depth
        key[big, 1:3] = np.floor(xy[big] / (cell / 2 ** depth)).astype(np.int64)
        inv = units(key)
    big = np.bincount(inv)[inv] > max_size
    if big.any():  # identical points: split in chunks
        order = np.argsort(inv, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        starts = np.searchsorted(inv[order], inv[order])
        rank[order] = np.arange(n) - starts
        key = np.c_[key, np.where(big, rank // max_size, 0)]
        inv = units(key)
    return inv, int(inv.max()) + 1, cell


def solve(problem: TerritoryProblem, options: TerritoryOptions | None = None, *,
          progress: ProgressFn = no_progress) -> TerritoryPlan:
    """Assign accounts to the reps of ``problem`` (see the module docstring for the model).

    Objective: visit-weighted travel from each rep's anchor plus
    ``move_penalty_min`` per account moved away from a current owner.
    Constraints: each planned account to one rep; workload and potential
    within their tolerances of each rep's share; capacities; ``max_moves``;
    locked accounts fixed; excluded, pool and pool-rule accounts left out.
    When the limits cannot all hold the plan is the closest one (least total
    relative violation), status ``partial``, ``report.violated`` naming each
    broken limit. Bad settings raise one ``ValueError`` listing them.
    """
    options = options or TerritoryOptions()
    t0 = time.perf_counter()
    t_end = t0 + options.time_limit_s
    progress(0.0, "classifying accounts")
    prep = _classify(problem, options)
    n, R = problem.n_accounts, problem.n_reps
    mode = _anchor_mode(problem, options)
    free = prep.status == 0
    planned = free | (prep.status == 1)
    pot = problem.potential_cny
    share = problem.share
    n_plan = int(planned.sum())
    if options.max_accounts is not None:
        capacity = np.maximum(1, np.floor(options.max_accounts * share)).astype(np.int64)
    else:
        capacity = np.ceil((1 + options.capacity_headroom) * n_plan * share / share.sum()).astype(np.int64)
        capacity = np.maximum(capacity, 1)
    capacity = np.where(problem.capacity > 0, problem.capacity, capacity)
    progress(0.05, "travel times from the bases")
    t_base = travel.travel_matrix(problem.lonlat, problem.base_lonlat).time_s / np.float32(60.0) if n else \
        np.zeros((0, R), dtype=np.float32)
    v32 = prep.visits.astype(np.float32)[:, None]
    W = v32 * (np.float32(options.service_min) + np.float32(2.0 / options.visits_per_day) * t_base)
    lk = np.flatnonzero(prep.status == 1)
    fixed = (np.bincount(prep.cur[lk], weights=W[lk, prep.cur[lk]].astype(float), minlength=R),
             np.bincount(prep.cur[lk], weights=pot[lk], minlength=R),
             np.bincount(prep.cur[lk], minlength=R).astype(float))
    ref = problem.lonlat[planned].mean(axis=0) if n_plan else problem.base_lonlat.mean(axis=0)
    xy = _project(problem.lonlat, ref)
    rng = np.random.default_rng(options.seed)
    if mode == "base":
        anchors = problem.base_lonlat.copy()
        iterations = 1
    else:
        anchors = _initial_centres(problem, prep, planned, xy, ref, rng)
        iterations = options.centre_iterations
    n_free = int(free.sum())
    use_units = n_free > options.unit_threshold
    best: dict | None = None
    for it_no in range(iterations):
        budget_end = time.perf_counter() + (t_end - time.perf_counter()) / (iterations - it_no)
        progress(0.1 + 0.8 * it_no / iterations, f"solving ({'units, then accounts' if use_units else 'accounts'})"
                 + (f", centre round {it_no + 1} of {iterations}" if iterations > 1 else ""))
        t_anchor = t_base if mode == "base" else travel.travel_matrix(problem.lonlat, anchors).time_s / np.float32(60)
        st = _one_round(problem, options, prep, free, lk, W, v32 * t_anchor, fixed, share, capacity, xy,
                        use_units, budget_end, progress)
        st["anchors"] = anchors
        key = (sum(v[4] for v in st["ev"].violated), st["lp_failed"], st["ev"].objective)
        if best is None or key < best["key"]:
            best = dict(st, key=key)
        if mode == "centre" and it_no < iterations - 1:  # move each centre to its territory's centre of visits
            assign = st["assign"]
            sel = np.flatnonzero(assign >= 0)
            if len(sel):
                w, a = prep.visits[sel] + 1e-6, assign[sel]
                sw = np.bincount(a, weights=w, minlength=R)
                new_xy = _project(anchors, ref)
                ok = sw > 0
                new_xy[ok, 0] = np.bincount(a, weights=w * xy[sel, 0], minlength=R)[ok] / sw[ok]
                new_xy[ok, 1] = np.bincount(a, weights=w * xy[sel, 1], minlength=R)[ok] / sw[ok]
                anchors = _unproject(new_xy, ref)
        if time.perf_counter() >= t_end:
            break
    progress(0.95, "KPIs")
    return _make_plan(problem, options, prep, best["assign"], best["anchors"], mode, W, t_base, capacity,
                      best["ev"], best["core"], best["info"], best["bound"], best["lp_failed"], best["messages"], t0)


def _one_round(problem, options, prep, free, lk, W, C, fixed, share, capacity, xy, use_units, budget_end,
               progress) -> dict:
    """One solve with fixed anchors: units first when ``use_units``, then accounts."""
    n, R = problem.n_accounts, problem.n_reps
    pot = problem.potential_cny
    n_free = int(free.sum())
    assign = np.full(n, -1, dtype=np.int64)
    assign[lk] = prep.cur[lk]
    messages: list[str] = []
    info: dict = {}
    lp_failed = False
    unit_rep, unit_violated = None, False
    if use_units and n_free:
        max_size = max(1, int(0.1 * n_free / R))  # a unit is at most a tenth of a rep's accounts
        inv, n_units, cell = _grid_units(xy[free], prep.cur[free], options.units, max_size)
        item_of = np.full(n, -1, dtype=np.int64)
        item_of[free] = inv
        items_u = _Items.build(item_of, n_units, free, prep, W, C, pot, fixed, share, capacity, options)
        mid = time.perf_counter() + (budget_end - time.perf_counter()) * 0.4
        chosen_u, core_u, info = _solve_items(items_u, items_u.initial_mask(options.candidates), options, mid,
                                              progress, "units", polish=False)
        if chosen_u is None:
            chosen_u = _start_edges(core_u, items_u.cur)
            lp_failed = True
        unit_rep = core_u.e_rep[chosen_u][item_of[free]]
        unit_violated = bool(_evaluate(core_u, chosen_u).violated)
        messages.append(f"{n_units} units (grid cells from {cell:.1f} km x owner), refined at account level")
    item_of = np.full(n, -1, dtype=np.int64)
    item_of[free] = np.arange(n_free)
    items = _Items.build(item_of, n_free, free, prep, W, C, pot, fixed, share, capacity, options)
    acc = items.acc
    k_acc = options.candidates if unit_rep is None else min(options.candidates, 3)
    # refining a unit plan: each account keeps its unit's rep, so no extra reach is needed
    mask = items.initial_mask(k_acc, unit_rep, reach=0.0 if unit_rep is not None else 3.0)
    core = items.core(mask)
    chosen = np.zeros(0, dtype=np.int64)
    bound = None
    if n_free and unit_rep is not None and unit_violated:
        # the unit plan misses limits, so the account LP would be infeasible too: repair greedily
        chosen = _repair(core, _start_edges(core, unit_rep), max(budget_end, time.perf_counter() + 1.0))
        messages.append("unit plan misses limits: account level repaired greedily")
    elif n_free:
        chosen, core_a, info_a = _solve_items(items, mask, options, budget_end, progress, "accounts")
        if chosen is None:
            if unit_rep is not None:
                chosen = _start_edges(core, unit_rep)
                messages.append("account-level refinement stopped by the time limit: unit plan kept")
            else:
                chosen = _start_edges(core, prep.cur[acc])
                lp_failed = True
        else:
            core, info = core_a, info_a
            bound = info.get("bound")
    if n_free:
        assign[acc] = core.e_rep[chosen]
    return {"assign": assign, "ev": _evaluate(core, chosen), "core": core, "info": info, "bound": bound,
            "lp_failed": lp_failed, "messages": messages}


def _initial_centres(problem: TerritoryProblem, prep: _Prep, planned: np.ndarray, xy: np.ndarray, ref: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Territory centres: weighted k-means of the planned accounts, matched to reps to keep current owners."""
    from ortools.graph.python import linear_sum_assignment

    R = problem.n_reps
    idx = np.flatnonzero(planned)
    if len(idx) < R:
        return problem.base_lonlat.copy()
    cen = _kmeans(xy[idx], prep.visits[idx], R, rng)
    lab = _nearest_centre(xy[idx], (xy[idx] ** 2).sum(1), cen)
    cur = prep.cur[idx]
    keep = np.zeros((R, R))
    ok = cur >= 0
    np.add.at(keep, (lab[ok], cur[ok]), prep.visits[idx][ok])
    base_xy = _project(problem.base_lonlat, ref)
    dist = np.sqrt(((cen[:, None, :] - base_xy[None, :, :]) ** 2).sum(2))
    cost = np.rint(-keep * 100 + dist).astype(np.int64)
    lsa = linear_sum_assignment.SimpleLinearSumAssignment()
    ci, ri = np.meshgrid(np.arange(R), np.arange(R), indexing="ij")
    lsa.add_arcs_with_cost(ci.ravel(), ri.ravel(), cost.ravel())
    if lsa.solve() != lsa.OPTIMAL:
        return _unproject(cen, ref)
    out = np.empty((R, 2))
    for c in range(R):
        out[lsa.right_mate(c)] = cen[c]
    return _unproject(out, ref)


_LIMIT_TEXT = {
    "workload_max": "workload above +{tol:.0%}", "workload_min": "workload below -{tol:.0%}",
    "potential_max": "potential above +{ptol:.0%}", "potential_min": "potential below -{ptol:.0%}",
    "capacity": "capacity", "max_moves": "max_moves",
}


def _describe(kind: str, rep: str, value: float, limit: float, options: TerritoryOptions) -> str:
    label = _LIMIT_TEXT[kind].format(tol=options.tolerance, ptol=options.potential_tolerance)
    if kind.startswith("workload"):
        return f"{label}: {rep} {value / 60:,.1f} h a month vs limit {limit / 60:,.1f} h"
    if kind.startswith("potential"):
        return f"{label}: {rep} {value:,.0f} CNY vs limit {limit:,.0f} CNY"
    if kind == "capacity":
        return f"capacity: {rep} {value:.0f} accounts > {limit:.0f}"
    return f"max_moves: {value:.0f} moves > {limit:.0f}"


def _make_plan(problem, options, prep, assign, anchors, mode, W, t_base, capacity, ev, core, info, bound,
               lp_failed, messages, t0) -> TerritoryPlan:
    n, R = problem.n_accounts, problem.n_reps
    rep_ids = problem.rep_ids
    ids = problem.account_ids
    t_anchor = t_base if mode == "base" else travel.travel_matrix(problem.lonlat, anchors).time_s / np.float32(60)
    rows = np.arange(n)
    a = np.maximum(assign, 0)
    assigned = assign >= 0
    territory = np.where(assigned, rep_ids[a], np.where(prep.status == 3, problem.owner, S.PUBLIC_POOL))
    outcome = np.where(assigned, "assigned", np.where(prep.status == 3, "kept", "pool"))
    moved = assigned & (problem.owner != territory)
    work_min = np.where(assigned, W[rows, a], 0.0).astype(float)
    travel_min = np.where(assigned, t_anchor[rows, a], np.nan).astype(float)
    base_travel = np.where(assigned, t_base[rows, a], np.nan).astype(float)
    visits = prep.visits
    pot = problem.potential_cny
    # per-rep loads (floats) and targets
    wl = np.bincount(a[assigned], weights=work_min[assigned], minlength=R)
    pl = np.bincount(a[assigned], weights=pot[assigned], minlength=R)
    cnt = np.bincount(a[assigned], minlength=R)
    share = problem.share
    frac = share / share.sum()
    tgt_w, tgt_p = frac * wl.sum(), frac * pl.sum()
    # today's loads (all planned accounts staying with in-plan owners), for the reasons of moves
    stay = (prep.status <= 1) & (prep.cur >= 0)
    w_now = np.bincount(prep.cur[stay], weights=W[rows[stay], prep.cur[stay]].astype(float), minlength=R)
    over_now = w_now > (1 + options.tolerance) * frac * w_now.sum()
    p_now = np.bincount(prep.cur[stay], weights=pot[stay], minlength=R)
    n_now = np.bincount(prep.cur[stay], minlength=R)
    reason = prep.reason.copy()
    word = "base" if mode == "base" else "centre"
    for i in np.flatnonzero(moved):
        c, q = prep.cur[i], a[i]
        o = problem.owner[i]
        if o == S.PUBLIC_POOL:
            reason[i] = "taken from the public pool (include_pool)"
        elif c < 0:
            reason[i] = f"owner {o} is not a rep of this plan"
        elif over_now[c]:
            reason[i] = (f"rebalance: {o} had {w_now[c] / 60:,.0f} h a month, above the +{options.tolerance:.0%} "
                         f"limit ({(1 + options.tolerance) * frac[c] * w_now.sum() / 60:,.0f} h)")
        elif n_now[c] > capacity[c]:
            reason[i] = f"capacity: {o} had {n_now[c]} accounts (capacity {capacity[c]})"
        elif p_now[c] > (1 + options.potential_tolerance) * frac[c] * p_now.sum():
            reason[i] = f"rebalance: {o} had {p_now[c]:,.0f} CNY potential, above the +{options.potential_tolerance:.0%} limit"
        elif t_anchor[i, q] < t_anchor[i, c]:
            reason[i] = f"compactness: {float(t_anchor[i, c] - t_anchor[i, q]):.0f} min nearer {rep_ids[q]}'s {word}"
        else:
            reason[i] = f"rebalance: {rep_ids[q]} needed workload or potential"
    for i in np.flatnonzero(assigned & ~moved & (prep.status == 0)):
        reason[i] = "stays with its owner"
    for i in np.flatnonzero(assigned & ~moved & (prep.status == 1)):
        reason[i] = "locked with its owner"
    accounts = pd.DataFrame({
        "owner": problem.owner, "territory": territory, "outcome": outcome, "moved": moved, "reason": reason,
        "locked": prep.locked, "pool_return": prep.pool_return, "visits_per_month": visits,
        "workload_h": work_min / 60.0, "travel_min": travel_min, "base_travel_min": base_travel,
        "potential_cny": pot, "account_class": problem.account_class,
        S.LON: problem.lonlat[:, 0], S.LAT: problem.lonlat[:, 1],
    }, index=pd.Index(ids, name=S.ID))
    vt = np.bincount(a[assigned], weights=(visits * travel_min)[assigned], minlength=R)
    vs = np.bincount(a[assigned], weights=visits[assigned], minlength=R)
    mv_in = np.bincount(a[moved], minlength=R)
    mv_out = np.zeros(R, dtype=np.int64)
    src = moved & (prep.cur >= 0)
    np.add.at(mv_out, prep.cur[src], 1)
    reps = pd.DataFrame({
        "share": share, "capacity": capacity, "accounts": cnt, "workload_h": wl / 60.0,
        "target_workload_h": tgt_w / 60.0, "workload_ratio": np.divide(wl, tgt_w, out=np.zeros(R), where=tgt_w > 0),
        "potential_cny": pl, "target_potential_cny": tgt_p,
        "potential_ratio": np.divide(pl, tgt_p, out=np.zeros(R), where=tgt_p > 0),
        "travel_min_mean": np.divide(vt, vs, out=np.full(R, np.nan), where=vs > 0),
        "moved_in": mv_in, "moved_out": mv_out,
        "locked": np.bincount(prep.cur[prep.status == 1], minlength=R),
        "base_lon": problem.base_lonlat[:, 0], "base_lat": problem.base_lonlat[:, 1],
        "anchor_lon": anchors[:, 0], "anchor_lat": anchors[:, 1],
    }, index=pd.Index(rep_ids, name="rep"))
    per_w, per_p = wl / share, pl / share

    def ratio(v):
        return float(v.max() / v.min()) if len(v) and v.min() > 0 else math.inf

    sel = assigned
    kpis = {
        "accounts": int(n), "assigned": int(sel.sum()), "pool": int((outcome == "pool").sum()),
        "kept_outside": int((outcome == "kept").sum()), "reps": int(R),
        "moved": int((moved & (prep.cur >= 0)).sum()),
        "reassigned_from_outside_owners": int((moved & (prep.cur < 0) & (problem.owner != S.PUBLIC_POOL)).sum()),
        "taken_from_pool": int((moved & (problem.owner == S.PUBLIC_POOL)).sum()),
        "pool_returns": int(prep.pool_return.sum()), "locked": int(prep.locked.sum()),
        "excluded": int(pd.Series(ids).isin(options.excluded).sum()),
        "workload_h_total": float(wl.sum() / 60.0),
        "workload_max_over_min": ratio(per_w), "potential_max_over_min": ratio(per_p),
        "accounts_max_over_min": ratio(cnt / share),
        "mean_travel_min": float((visits * travel_min)[sel].sum() / visits[sel].sum()) if sel.any() else math.nan,
        "mean_base_travel_min": float((visits * base_travel)[sel].sum() / visits[sel].sum()) if sel.any() else math.nan,
        "compactness": mode,
    }
    violated = tuple(_describe(k, rep_ids[r] if r >= 0 else "", v, lim, options)
                     for k, r, v, lim, _ in ev.violated)
    objective = ev.objective
    seconds = time.perf_counter() - t0
    exact = core.n_items == 0 or (min(options.candidates, R) >= R and not messages)
    gap = None if bound is None else abs(objective - bound) / max(abs(objective), 1e-9)
    if violated:
        status = "partial"
    elif lp_failed:
        status = "partial"
    elif gap is not None and gap <= 1e-6 and exact:
        status = "optimal"
    else:
        status = "feasible"
    msg = [f"{mode} compactness", f"{min(options.candidates, R)} candidate reps per account"] + messages
    if lp_failed:
        msg.append("time limit before the LP finished: start plan (current owners, else nearest) returned")
    if info.get("elastic"):
        msg.append("the limits cannot all hold: closest plan (least total relative violation)")
    report = SolveReport(status=status, objective=objective, bound=bound, seconds=seconds,
                         solver="HiGHS LP + CP-SAT", violated=violated, message="; ".join(msg))
    kpis["seconds"] = seconds
    return TerritoryPlan(accounts=accounts, reps=reps, kpis=kpis, report=report, options=options, compactness=mode)


def kpi_table(plans: Mapping[str, TerritoryPlan]) -> pd.DataFrame:
    """Overall KPIs of several plans side by side (one column per scenario)."""
    keys = ["status", "assigned", "pool", "moved", "pool_returns", "workload_max_over_min",
            "potential_max_over_min", "mean_travel_min", "workload_h_total", "seconds"]
    data = {}
    for name, p in plans.items():
        k = dict(p.kpis, status=p.report.status)
        data[name] = [k.get(key) for key in keys]
    return pd.DataFrame(data, index=keys)
