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
  by a day's visits (``t`` from ``planner.geo.travel``);
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
   three times its share of the workload and of the potential (so a remote
   base, or a rep in a poor area, can fill up).
2. Lagrangian prices (``prices``): the limits are priced, each account takes
   its cheapest candidate at those prices, and the prices move by subgradient
   steps (Adam's, 300 at most). Whatever the time allows afterwards, this
   gives a lower bound and a plan to fall back on (repaired, below).
3. LP relaxation with HiGHS (through OR-Tools' model builder). Every limit has
   a slack (relative to the limit) with a penalty above any cost, so the LP is
   always feasible. Up to 30,000 account-rep pairs the LP takes every account:
   with no slack left its value is the reported bound; if slack is needed, the
   candidates are widened around the broken limits (up to three rounds) before
   concluding that the limits cannot all hold. Above that the LP decides only
   the accounts whose choice the prices leave open (the quarter with the
   smallest regret, at least ten per rep, each with its three cheapest priced
   candidates, the team's workload held at the priced plan's), the others
   fixed on their cheapest priced candidate; slack widens the candidates and
   frees more accounts (up to four rounds); the bound is then the Lagrangian's.
   The full LP grew too slowly for large teams (10,000 x 50: 8.5 s; 12,500
   accounts x 200 reps: over 10 s), the reduced one takes about a second.
4. Integer plan: each account takes its largest LP value (at a vertex only a
   few are fractional), a greedy repair (moves on disjoint pairs of reps, then
   swaps) removes any broken limit, and on instances small enough for the full
   LP, CP-SAT polishes the fractional accounts plus the ones cheapest to move,
   started from the repaired plan. Integer scaling of minutes, CNY and shares
   is done in one place (``_Scaler``) with an overflow check.
   The plan aims inside the tolerances by ``balance_margin`` (a tenth of each:
   +-4.5 % for +-5 %), so that it is not balanced only at the edge: the LP that
   makes the plan aims twice as far inside (rounding moves loads by about an
   account), the repair aims at the margin, and only when that cannot hold at
   the tolerances themselves.
5. Above ``unit_threshold`` free accounts, steps 1-4 run first on units (cells
   of a projected square grid x current owner, no unit above a tenth of a
   rep's accounts), then at account level, each account choosing among its
   unit's rep, its 3 nearest anchors and its owner, the units' prices starting
   the accounts'.
6. ``compactness="centre"``: centres start from weighted k-means matched to the
   reps (to keep owners), and move to their territory's visit-weighted centre
   between ``centre_iterations`` solves; the best round is kept.

The bound holds for the candidate pairs actually modelled (all pairs when
``candidates >= R`` and no units: then ``optimal`` is a proof). Contiguity is
not modelled: compactness keeps territories mostly contiguous.

Infeasible settings (tolerance too tight for the capacities, locked accounts
overloading a rep, a move limit that prevents balance, ...) never raise: the
plan is the closest one found (least total relative violation, then least
cost), with status ``partial`` and ``report.violated`` naming each broken limit
and rep. A time limit that stops the LP returns the priced plan, repaired. A
plan that breaks a balance tolerance, for whatever reason, says so first: its
message and its first ``violated`` line read ``NOT BALANCED: workload outside
+-5% for 12 of 200 reps (worst R013, 6% above its limit)`` (and the same for
potential), and ``kpis["balanced"]`` is False.

Deterministic: the prices are numpy (a fixed number of steps), HiGHS is
deterministic; CP-SAT runs with ``random_seed``, a
fixed number of workers (one by default; several use its deterministic
interleaved search) and a budget in deterministic work units, so the same seed
gives the same plan unless the wall-clock ``time_limit_s`` cuts a stage short.

Modules
-------
This module holds the problem, options and plan dataclasses, the adapter from
tables, the account classification, ``solve`` (centre rounds) and the plan
with its KPIs and reasons. The search itself (integer scaling, the assignment
core, LP, rounding, repair, CP-SAT polish, candidate items, one solve round)
is in ``planner.solvers.territories.search``, the Lagrangian prices in
``planner.solvers.territories.prices``; the planar geometry (projection,
weighted k-means centres, grid units) in ``planner.solvers.territories.geometry``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError, raise_if_any
from planner.geo import travel
from planner.options import Options, option
from planner.plans import SolveReport

DEFAULT_VISITS_PER_MONTH = S.VISITS_PER_MONTH
SELLER_LEVELS = S.SELLER_LEVELS
OUTCOMES = ("assigned", "pool", "kept")


# --------------------------------------------------------------------------- #
# Problem, options, plan
# --------------------------------------------------------------------------- #


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

    Bad data raises one ``InputError`` naming every bad row and field.
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
        if r == 0:
            probs.append("at least one rep is needed")
        raise_if_any(probs, what="territory problem")
        if n == 0:
            object.__setattr__(self, "lonlat", np.zeros((0, 2)))
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
        probs += self._rep_problems()
        raise_if_any(probs, what="territory problem")

    def _rep_problems(self) -> list[str]:
        rids, bl, sh, cap = self.rep_ids, self.base_lonlat, self.share, self.capacity
        probs = [f"rep row {j}: field id {rids[j]!r} is not a rep id"
                 for j in range(len(rids)) if rids[j] in ("", S.PUBLIC_POOL)]
        probs += [f"rep row {j} (id {rids[j]}): field id duplicates an earlier row"
                  for j in np.flatnonzero(pd.Series(rids).duplicated().to_numpy())]
        bad = ~np.isfinite(bl).all(axis=1) | (np.abs(bl[:, 0]) > 180) | (np.abs(bl[:, 1]) > 90)
        probs += [f"rep row {j} (id {rids[j]}): field base lon/lat invalid ({bl[j, 0]!r}, {bl[j, 1]!r})"
                  for j in np.flatnonzero(bad)]
        probs += [f"rep row {j} (id {rids[j]}): field share must be in (0, 1], got {sh[j]!r}"
                  for j in np.flatnonzero(~np.isfinite(sh) | (sh <= 0) | (sh > 1))]
        probs += [f"rep row {j} (id {rids[j]}): field capacity must be >= 0, got {cap[j]}"
                  for j in np.flatnonzero(cap < 0)]
        return probs

    @property
    def n_accounts(self) -> int:
        return len(self.account_ids)

    @property
    def n_reps(self) -> int:
        return len(self.rep_ids)


Compactness = Literal["auto", "base", "centre"]


@dataclass(frozen=True, kw_only=True)
class TerritoryOptions(Options):
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
      (CP-SAT polishes for 3 % of the time limit in its deterministic work units;
      one worker is fast and deterministic, more use CP-SAT's deterministic
      interleaved search, which is slower on small models).
    """

    what = "territory settings"

    tolerance: float = option(0.10, doc="workload balance, +- fraction of each rep's share", label="Workload +-",
                              above=0.0, max=1.0, step=0.01, ui_max=0.5, percent=True)
    potential_tolerance: float = option(0.15, doc="potential balance, +- fraction of each rep's share",
                                        label="Potential +-", above=0.0, max=10.0, step=0.01, ui_max=1.0,
                                        percent=True)
    balance_margin: float = option(0.1, doc="share of each tolerance the search keeps in reserve: plans land "
                                            "that far inside the limits when they can", min=0.0, max=0.9,
                                   ui=False)
    visits_per_month: Mapping[str, float] = option(factory=lambda: dict(DEFAULT_VISITS_PER_MONTH),
                                                   doc="visits a month by account class", cli=False, ui=False)
    service_min: float = option(S.VISIT_MIN, doc="minutes per visit", unit="min", min=0.0, cli=False, ui=False)
    visits_per_day: float = option(float(S.VISITS_PER_DAY), doc="visits sharing a day's round trip", above=0.0,
                                   cli=False, ui=False)
    max_accounts: int | None = option(None, doc="accounts a full rep can hold (default: 1.25 x the rep's share)",
                                      min=1, cli=False, ui=False)
    capacity_headroom: float = option(0.25, doc="capacity above the rep's share when max_accounts is not given",
                                      min=0.0, cli=False, ui=False)
    locked: frozenset[str] = option(frozenset(), doc="account ids kept with their owner", flag="--lock", ui=False)
    excluded: frozenset[str] = option(frozenset(), doc="account ids left in the public pool", flag="--exclude",
                                      ui=False)
    max_moves: int | None = option(None, doc="at most this many accounts change owner (default: no limit)",
                                   label="Max moves", min=0, ui_max=2000)
    move_penalty_min: float = option(60.0, doc="cost of moving one account, in visit-weighted travel minutes a "
                                               "month", min=0.0, cli=False, ui=False)
    pool_return_days: int | None = option(90, doc="owned accounts not visited for longer go back to the public pool",
                                          label="Not visited for (days)", min=0, ui_max=3650, none_is=0,
                                          unit="days")
    include_pool: bool = option(False, doc="also divide the accounts in the public pool",
                                label="Also divide pool accounts")
    compactness: Compactness = option("auto", doc="travel from the rep's base, a territory centre, or auto",
                                      choices=("auto", "base", "centre"), cli=False, ui=False)
    candidates: int = option(8, doc="reps considered per account", min=1, cli=False, ui=False)
    centre_iterations: int = option(3, doc="centre rounds", min=1, cli=False, ui=False)
    unit_threshold: int = option(15000, doc="above this many free accounts, solve on grid units first", min=1,
                                 cli=False, ui=False)
    units: int = option(3000, doc="grid units for large inputs", min=10, cli=False, ui=False)
    time_limit_s: float = option(30.0, doc="search time limit", label="Time limit", unit="s", above=0.0,
                                 ui_max=600, flag="--time-limit")
    seed: int = option(0, doc="random seed (same seed, same plan)", min=0)
    workers: int = option(1, doc="CP-SAT workers", min=1, cli=False, ui=False)
    contiguous: bool | None = option(None, doc="territories as connected, compact areas of basic units (default: on "
                                               "for a new design, when no account has an owner among the reps; off "
                                               "for a realignment)", label="Contiguous areas", ui=False)
    count_tolerance: float | None = option(None, doc="account-count balance with contiguous areas, +- fraction of "
                                                     "each rep's share (default: not balanced)", label="Accounts +-",
                                           above=0.0, max=1.0, step=0.01, ui_max=0.5, percent=True, none_is=0.0)
    keep: float = option(1.0, doc="contiguous realignment: how strongly today's territories are kept (0 = draw "
                                  "from scratch; 1 = a moved account costs its share of the mean travel; larger "
                                  "keeps more)", label="Keep today's", min=0.0, step=0.25, ui_max=10.0)
    districts: int | None = option(None, doc="group the contiguous territories into this many contiguous "
                                             "supervisor districts", label="Districts", min=1, none_is=0, ui_max=20)
    max_units: int = option(5000, doc="basic units at most (contiguous areas; more accounts are grouped)", min=10,
                            cli=False, ui=False)
    barriers: str | None = option(None, doc="GeoJSON or GeoPackage of lines (rivers, ridges) no contiguous "
                                            "territory crosses", ui=False, flag="--barriers")
    assign: tuple[tuple[str, str], ...] = option((), doc="account pinned to a rep, ACCOUNT=REP (its territory "
                                                         "goes with it)", pairs=True, flag="--assign", ui=False)

    def __post_init__(self) -> None:
        if isinstance(self.visits_per_month, Mapping):
            object.__setattr__(self, "visits_per_month", {str(k): v for k, v in self.visits_per_month.items()})
        for name in ("locked", "excluded"):
            v = getattr(self, name)
            if not isinstance(v, str):
                object.__setattr__(self, name, frozenset(str(a) for a in v))
        pins = self.assign.items() if isinstance(self.assign, Mapping) else self.assign
        object.__setattr__(self, "assign", tuple((str(a), str(r)) for a, r in pins))
        super().__post_init__()
        object.__setattr__(self, "visits_per_month", {k: float(v) for k, v in self.visits_per_month.items()})

    def problems(self) -> list[str]:
        out = []
        if not isinstance(self.visits_per_month, Mapping) or not self.visits_per_month:
            out.append("visits_per_month must be a non-empty mapping class -> visits a month")
        else:
            bad = {k: v for k, v in self.visits_per_month.items()
                   if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0}
            if bad:
                out.append(f"visits_per_month must map classes to numbers >= 0, got {bad}")
        for name in ("locked", "excluded"):
            if isinstance(getattr(self, name), str):
                out.append(f"{name} must be a collection of account ids, not a single string")
        pinned = [a for a, _ in self.assign]
        twice = sorted({a for a in pinned if pinned.count(a) > 1})
        if twice:
            out.append(f"assign names accounts more than once: {twice[:10]}")
        if not out:
            both = self.locked & self.excluded
            if both:
                out.append(f"locked and excluded both name accounts {sorted(both)[:10]}: choose one")
        return out


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
    kpis: dict[str, Any]
    report: SolveReport
    options: TerritoryOptions
    compactness: str
    units: Any = None  # contiguous plans: GeoDataFrame of the basic units (unit, territory, accounts, geometry)
    areas: Any = None  # contiguous plans: GeoDataFrame of the territories as polygons (territory, units, area_km2)

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
        raise InputError(f"reps must be a whole number >= 1, got {n_reps!r}")
    out = sellers.head(n_reps)
    missing = n_reps - len(out)
    if missing > 0:
        if len(reps) == 0:
            raise InputError("reps: the reps table is empty, so vacancies have no base office")
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
    ``InputError`` lists every rep whose base office is missing or unknown.
    """
    bad_args = ([f"ramp_days must be >= 1, got {ramp_days!r}"] if ramp_days < 1 else []) + \
        ([f"min_share must be in (0, 1], got {min_share!r}"] if not 0 < min_share <= 1 else [])
    raise_if_any(bad_args)
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
    raise_if_any(probs, what="reps")
    start = pd.to_datetime(chosen[S.START_DATE], errors="coerce") if S.START_DATE in chosen else \
        pd.Series(pd.NaT, index=chosen.index)
    tenure = (as_of_ts - start).dt.days.to_numpy(dtype=float)
    share = np.where(np.isnan(tenure), 1.0, np.clip(tenure / ramp_days, min_share, 1.0))
    cap = np.zeros(len(chosen), dtype=np.int64)
    if capacity:
        unknown = sorted(set(capacity) - set(chosen[S.ID]))
        if unknown:
            raise InputError(f"capacity names reps not in the plan: {unknown}")
        cap = np.array([int(capacity.get(r, 0)) for r in chosen[S.ID]], dtype=np.int64)
    days = (as_of_ts - lv).dt.days.to_numpy(dtype=float)
    return TerritoryProblem(
        account_ids=accounts[S.ID].to_numpy(), lonlat=accounts[[S.LON, S.LAT]].to_numpy(float),
        account_class=accounts[S.CLASS].to_numpy(), potential_cny=accounts[S.POTENTIAL_CNY].fillna(0).to_numpy(float),
        owner=accounts[S.OWNER].fillna(S.PUBLIC_POOL).to_numpy(), days_since_visit=days,
        rep_ids=chosen[S.ID].to_numpy(), base_lonlat=base, share=share, capacity=cap)


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
    owner_index: np.ndarray | None = None  # today's owner among the reps (``cur`` is the pinned rep for pins)


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
    rep_index = {r: j for j, r in enumerate(problem.rep_ids)}
    for a, r in options.assign:
        if a not in idset:
            probs.append(f"assign: account {a!r} is not in the accounts table")
        if r not in rep_index:
            probs.append(f"assign: {a}={r}: {r!r} is not a rep of this plan")
    raise_if_any(probs, what="territory options")
    n = problem.n_accounts
    owner = problem.owner
    cur = np.array([rep_index.get(o, -1) for o in owner], dtype=np.int64)
    visits = pd.Series(cls).map(vpm).to_numpy(float)
    locked = pd.Series(ids).isin(options.locked).to_numpy().copy()
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
    owner_index = cur.copy()
    if options.assign:
        row = {a: i for i, a in enumerate(ids.tolist())}
        for a, r in options.assign:
            j = row[a]
            status[j], cur[j], locked[j], pool_return[j] = 1, rep_index[r], True, False
            reason[j] = f"pinned to {r} by the user"
    return _Prep(visits, cur, status, reason, pool_return, locked, owner_index)


def _anchor_mode(problem: TerritoryProblem, options: TerritoryOptions) -> str:
    if options.compactness != "auto":
        return options.compactness
    b = problem.base_lonlat
    if len(b) < 2:
        return "base"
    d = travel.haversine_matrix_m(b, b)
    np.fill_diagonal(d, np.inf)
    return "base" if d.min() > 200.0 else "centre"
