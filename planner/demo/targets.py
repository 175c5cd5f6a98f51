"""Seeded demo data for the targets job: an organisation, forecasts, actuals, targets.

The Fujian demo has one manager (R01, M2) with 3 supervisors and 21 sellers
in Xiamen. The targets job needs the whole pyramid of ``DOMAIN.md`` section 5
(reps -> supervisors -> area managers -> regional managers -> national head),
so this module builds a synthetic national organisation around that team:
``regions`` regional managers (M3) under a national head (M4), each with
``areas_per_region`` area managers (M2), each with ``supervisors_per_area``
supervisors (M1) of ``reps_per_supervisor`` reps. The first area of the first
region is the demo's Xiamen team itself (``geodata/demo/reps.csv``), with R01
reporting to that region's manager. The source's shape is 7 regions x 10 areas
x 10 supervisors x 10 reps (``TargetsDemoConfig.full()``); the default is
smaller (2 x 2 x 3 x 8).

History (``history_months`` months before ``month``), per seller:
- deals a month ~ Poisson(lambda x season x ramp); lambda is the rep's skill
  (lognormal around 2 deals), season dips for Chinese New Year (Jan 0.85,
  Feb 0.6, Dec 1.1), ramp rises over a new hire's first 6 months; about 15%
  of reps joined during the history. Deal sizes ~ ``deal_cny`` x lognormal(0, 0.35).
- forecasts: expected result x the rep's bias x lognormal(0, 0.15): a fifth
  over-promise (bias 1.5-2.0), half are about right (0.9-1.1), the rest are
  cautious (0.65-0.85), so the confidence indices learnt from history differ.
- targets: expected result x 1.05-1.30; the Xiamen team's targets add up to
  1,000,000 a month against a run-rate near 700,000 (the source's elephant), and
  one area is set a target it cannot reach in 3 months.
- two planted hoarders: one holds deals and releases them every third month,
  one lands just above the gold line after near-empty months.
Territories: the Xiamen team's four prefectures and Fuzhou as a new city, with
monthly potential = a twelfth of the demo accounts' potential there times a
10% capture share (Fuzhou: 0.6 x Quanzhou's) and market stages set by hand
(assumptions).

Everything is flagged ``synthetic``. ``write`` puts ``people.csv``,
``forecasts.csv``, ``actuals.csv``, ``targets.csv`` and ``territories.csv`` in
``geodata/demo/targets/`` (``python -m planner.demo.targets [DIR]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.demo import scenario as demo
from planner.errors import InputError, raise_if_any
from planner.solvers import targets as T

DEFAULT_SEED = 20261123
DEMO_MONTH = demo.DEMO_DATE.strftime("%Y-%m")
FILES = ("people", "forecasts", "actuals", "targets", "territories")
_SEASON: Mapping[int, float] = MappingProxyType({1: 0.85, 2: 0.60, 12: 1.10})
TERRITORY_CAPTURE = 0.10  # share of the accounts' potential a team can take: an assumption
_TERRITORY_STAGES: Mapping[str, str] = MappingProxyType(
    {"350200": "harvesting", "350500": "growing", "350600": "cultivating", "350300": "sowing", "350100": "sowing"})


@dataclass(frozen=True, kw_only=True)
class TargetsDemoConfig:
    """Shape of the synthetic national organisation and its history (module docstring)."""

    seed: int = DEFAULT_SEED
    regions: int = 2
    areas_per_region: int = 2
    supervisors_per_area: int = 3
    reps_per_supervisor: int = 8
    history_months: int = 15
    ahead_months: int = 2
    month: str = DEMO_MONTH
    deal_cny: float = 33_000.0
    include_xiamen: bool = True
    xiamen_run_rate_cny: float = 700_000.0
    xiamen_target_cny: float = 1_000_000.0

    def __post_init__(self) -> None:
        problems = []
        for name, n in (("regions", self.regions), ("areas_per_region", self.areas_per_region),
                        ("supervisors_per_area", self.supervisors_per_area),
                        ("reps_per_supervisor", self.reps_per_supervisor)):
            if n < 1:
                problems.append(f"{name} must be at least 1")
        if self.history_months < 12:
            problems.append("history_months must be at least 12")
        if self.ahead_months < 0:
            problems.append("ahead_months must be >= 0")
        month = T.parse_month(self.month)
        if month is None:
            problems.append(f"month {self.month!r} is not a month YYYY-MM")
        else:
            object.__setattr__(self, "month", month)
        if self.deal_cny <= 0 or self.xiamen_run_rate_cny <= 0 or self.xiamen_target_cny <= 0:
            problems.append("deal_cny, xiamen_run_rate_cny and xiamen_target_cny must be > 0")
        raise_if_any(problems, what="targets demo settings")

    @classmethod
    def full(cls, **kw: Any) -> TargetsDemoConfig:
        """The source's shape: 7 regions x 10 areas x 10 supervisors x 10 reps."""
        return cls(regions=7, areas_per_region=10, supervisors_per_area=10, reps_per_supervisor=10, **kw)


@dataclass(frozen=True)
class TargetsDemo:
    people: pd.DataFrame
    forecasts: pd.DataFrame
    actuals: pd.DataFrame
    targets: pd.DataFrame
    territories: pd.DataFrame
    # "hoarders" and "xiamen": person ids; "hard_area": the area set a target it cannot reach in time
    extra: dict[str, list[str] | str | None] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in FILES}

    def data(self) -> T.TargetsData:
        """The tables validated as the targets job reads them."""
        return T.validate(self.people, self.forecasts, self.actuals, self.targets, self.territories)


def targets_dir() -> Path:
    return demo.demo_dir() / "targets"


def _org(cfg: TargetsDemoConfig) -> tuple[pd.DataFrame, set[str]]:
    from planner import io

    rows = [{S.ID: "NAT", S.NAME: "National head NAT (synthetic)", S.TEAM: "National", S.LEVEL: "M4",
             S.MANAGER: ""}]
    xiamen: set[str] = set()
    for r in range(1, cfg.regions + 1):
        rg = f"RG{r}"
        rows.append({S.ID: rg, S.NAME: f"Regional manager {rg} (synthetic)", S.TEAM: f"Region {r}",
                     S.LEVEL: "M3", S.MANAGER: "NAT"})
        for a in range(1, cfg.areas_per_region + 1):
            if cfg.include_xiamen and r == 1 and a == 1:
                reps = io.load(demo.demo_dir() / "reps.csv", "reps").table
                for p in reps.itertuples():
                    mgr = getattr(p, S.MANAGER) or rg
                    rows.append({S.ID: p.id, S.NAME: p.name, S.TEAM: p.team, S.LEVEL: p.level, S.MANAGER: mgr})
                    xiamen.add(p.id)
                continue
            ar = f"AR{r}{a:02d}"
            rows.append({S.ID: ar, S.NAME: f"Area manager {ar} (synthetic)", S.TEAM: f"Area {r}-{a}",
                         S.LEVEL: "M2", S.MANAGER: rg})
            for s in range(1, cfg.supervisors_per_area + 1):
                su = f"SU{r}{a:02d}{s:02d}"
                team = f"Group {r}-{a}-{s}"
                rows.append({S.ID: su, S.NAME: f"Supervisor {su} (synthetic)", S.TEAM: team, S.LEVEL: "M1",
                             S.MANAGER: ar})
                for k in range(1, cfg.reps_per_supervisor + 1):
                    rp = f"P{r}{a:02d}{s:02d}{k:02d}"
                    rows.append({S.ID: rp, S.NAME: f"Rep {rp} (synthetic)", S.TEAM: team, S.LEVEL: "sales",
                                 S.MANAGER: su})
    people = pd.DataFrame(rows)
    people[S.SYNTHETIC] = True
    return people, xiamen


def _round_to(values: np.ndarray, total: float, unit: float) -> np.ndarray:
    """Round to ``unit`` keeping the sum at ``total`` (largest remainder)."""
    exact = values / values.sum() * total / unit
    base = np.floor(exact)
    left = int(round(total / unit - base.sum()))
    base[np.argsort(-(exact - base), kind="stable")[:left]] += 1
    return base * unit


def generate(config: TargetsDemoConfig | None = None) -> TargetsDemo:
    """Build the targets demo deterministically from ``config.seed``.

    One random generator feeds, in this order, the sellers' traits and then, seller by seller, the
    history (deals and amounts), the forecasts and the targets.
    """
    cfg = config or TargetsDemoConfig()
    rng = np.random.default_rng(cfg.seed)
    people, xiamen = _org(cfg)
    hist = [T.add_months(cfg.month, -k) for k in range(cfg.history_months, 0, -1)]
    plan = [T.add_months(cfg.month, k) for k in range(cfg.ahead_months + 1)]
    sel = _sellers(cfg, rng, people, xiamen, len(hist))
    manager_of = dict(zip(people[S.ID], people[S.MANAGER]))
    f_rows: list[tuple[str, str, float]] = []
    a_rows: list[tuple[str, str, float, int]] = []
    t_rows: list[tuple[str, str, float]] = []
    hard_area = f"AR{cfg.regions}{cfg.areas_per_region:02d}" if cfg.regions * cfg.areas_per_region > 1 else None
    for j, rep in enumerate(sel.ids):
        hard = 1.5 if hard_area is not None and manager_of.get(manager_of.get(rep, ""), "") == hard_area else 1.0
        _seller_rows(cfg, rng, sel, j, hist, plan, hard, f_rows, a_rows, t_rows)
    forecasts = pd.DataFrame(f_rows, columns=[T.PERSON, T.MONTH, T.FORECAST_CNY])
    actuals = pd.DataFrame(a_rows, columns=[T.PERSON, T.MONTH, T.ACTUAL_CNY, T.DEALS])
    targets = pd.DataFrame(t_rows, columns=[T.PERSON, T.MONTH, T.TARGET_CNY])
    if sel.is_xm.any():  # Xiamen: 1,000,000 a month in the months planned, split by skill
        xm = [p for p, x in zip(sel.ids, sel.is_xm) if x]
        share = _round_to(sel.skill[sel.is_xm], cfg.xiamen_target_cny, 1000.0)
        for m in plan:
            chosen = (targets[T.MONTH] == m) & targets[T.PERSON].isin(xm)
            targets.loc[chosen, T.TARGET_CNY] = targets.loc[chosen, T.PERSON].map(dict(zip(xm, share))).to_numpy()
    for df, col in ((forecasts, T.FORECAST_CNY), (actuals, T.ACTUAL_CNY), (targets, T.TARGET_CNY)):
        df[col] = df[col].astype("int64")
        df[S.SYNTHETIC] = True
    territories = _territories()
    return TargetsDemo(people=people, forecasts=forecasts, actuals=actuals, targets=targets,
                       territories=territories,
                       extra={"hoarders": [sel.ids[i] for i in (sel.bunch, sel.edge) if i >= 0],
                              "xiamen": sorted(xiamen), "hard_area": hard_area})


@dataclass(frozen=True, kw_only=True)
class _Sellers:
    """The people without reports and their traits: ``skill`` (deals a month), ``is_xm`` (the Xiamen
    team), ``start`` (history month index joined), ``bias`` (forecast / expected); ``bunch`` and ``edge``
    index the two planted hoarders (-1: none)."""

    ids: list[str]
    skill: np.ndarray
    is_xm: np.ndarray
    start: np.ndarray
    bias: np.ndarray
    bunch: int
    edge: int


def _sellers(cfg: TargetsDemoConfig, rng: np.random.Generator, people: pd.DataFrame, xiamen: set[str],
             H: int) -> _Sellers:
    has_reports = set(people[S.MANAGER]) - {""}
    ids = [p for p in people[S.ID] if p not in has_reports]
    n = len(ids)
    skill = rng.lognormal(np.log(2.0), 0.35, size=n)
    is_xm = np.array([p in xiamen for p in ids])
    if is_xm.any():  # the Xiamen team runs near the source's 700,000 a month
        skill[is_xm] *= cfg.xiamen_run_rate_cny / (skill[is_xm].sum() * cfg.deal_cny)
    start = np.where(rng.random(n) < 0.15, rng.integers(1, H - 2, size=n), 0)  # month index joined
    kind = rng.choice(3, size=n, p=[0.2, 0.5, 0.3])
    bias = np.where(kind == 0, rng.uniform(1.5, 2.0, n), np.where(kind == 1, rng.uniform(0.9, 1.1, n),
                                                                      rng.uniform(0.65, 0.85, n)))
    # two hoarders: a Xiamen seller who releases deals every third month, one elsewhere just over gold
    xm_idx = np.flatnonzero(is_xm & (start == 0))
    other_idx = np.flatnonzero(~is_xm & (start == 0))
    pool = xm_idx if len(xm_idx) else other_idx
    bunch = int(pool[np.argmax(skill[pool])]) if len(pool) else -1  # the busiest: bunching shows
    edge = int(other_idx[len(other_idx) // 3]) if len(other_idx) else -1
    return _Sellers(ids=ids, skill=skill, is_xm=is_xm, start=start, bias=bias, bunch=bunch, edge=edge)


def _history(cfg: TargetsDemoConfig, rng: np.random.Generator, sel: _Sellers, j: int, ramp: np.ndarray,
             season_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seller ``j``'s (deals, amount) over the history months, a planted hoarder's reshaped."""
    H = len(season_h)
    lam = sel.skill[j] * season_h * np.maximum(ramp, 1 / 6)
    deals = rng.poisson(lam)
    sizes = [cfg.deal_cny * rng.lognormal(-0.06, 0.35, size=d).sum() if d else 0.0 for d in deals]
    amount = np.round(np.array(sizes), -2)
    if j == sel.bunch:  # hold deals back, release every third month
        d_c, a_c = np.cumsum(deals), np.cumsum(amount)
        rel = (np.arange(H) % 3) == 2
        rel[-1] = True
        idx = np.flatnonzero(rel)
        prev = np.concatenate([[-1], idx[:-1]])
        nd, na = np.zeros(H, dtype=int), np.zeros(H)
        nd[idx] = d_c[idx] - np.where(prev >= 0, d_c[np.maximum(prev, 0)], 0)
        na[idx] = a_c[idx] - np.where(prev >= 0, a_c[np.maximum(prev, 0)], 0)
        deals, amount = nd, na
    if j == sel.edge:  # near-empty months, then just over the gold line
        odd = (np.arange(H) % 2) == 0
        amount = np.where(odd, np.round(rng.uniform(0, 2500, H), -2),
                          np.round(100_000 * rng.uniform(1.0, 1.07, H), -2))
        deals = np.where(odd, (amount > 0).astype(int), np.maximum(1, np.round(amount / cfg.deal_cny))).astype(int)
    return deals, amount


def _seller_rows(cfg: TargetsDemoConfig, rng: np.random.Generator, sel: _Sellers, j: int, hist: list[str],
                 plan: list[str], hard: float, f_rows: list[tuple[str, str, float]],
                 a_rows: list[tuple[str, str, float, int]], t_rows: list[tuple[str, str, float]]) -> None:
    """Append seller ``j``'s forecasts, actuals and targets (history, then the months planned)."""
    rep, H = sel.ids[j], len(hist)
    season_h = np.array([_SEASON.get(int(m[5:7]), 1.0) for m in hist])
    season_p = np.array([_SEASON.get(int(m[5:7]), 1.0) for m in plan])
    ramp = np.clip((np.arange(H) - sel.start[j] + 1) / 6.0, 0.0, 1.0)
    active = np.flatnonzero(np.arange(H) >= sel.start[j])
    deals, amount = _history(cfg, rng, sel, j, ramp, season_h)
    expected = sel.skill[j] * cfg.deal_cny
    for k in active:
        fc = expected * season_h[k] * max(ramp[k], 1 / 6) * sel.bias[j] * rng.lognormal(0, 0.15)
        f_rows.append((rep, hist[k], round(fc, -3)))
        a_rows.append((rep, hist[k], amount[k], int(deals[k])))
    for i, m in enumerate(plan):
        r = min(1.0, (H + i - sel.start[j] + 1) / 6.0)
        fc = expected * season_p[i] * r * sel.bias[j] * rng.lognormal(0, 0.15)
        if i == 0:
            f_rows.append((rep, m, round(fc, -3)))
    # targets: later for the Xiamen team (they add up to the source's 1,000,000)
    up = rng.uniform(1.05, 1.30)
    for k in active:
        t = expected * season_h[k] * up * min(1.0, ramp[k] + 0.3)
        t_rows.append((rep, hist[k], round(max(30_000.0, t), -3)))
    for i, m in enumerate(plan):
        t_rows.append((rep, m, round(max(30_000.0, expected * season_p[i] * up * hard), -3)))


def _territories() -> pd.DataFrame:

    acc = pd.read_csv(demo.demo_dir() / "accounts.csv", usecols=[S.POTENTIAL_CNY, "county_adcode"],
                      dtype={"county_adcode": str})
    pref = acc["county_adcode"].str[:4] + "00"
    pot = acc.groupby(pref)[S.POTENTIAL_CNY].sum() / 12.0 * TERRITORY_CAPTURE
    markets = pd.read_csv(demo.demo_dir() / "markets.csv", dtype={S.ADCODE: str}).set_index(S.ADCODE)
    rows = []
    for code in ("350200", "350500", "350600", "350300", "350100"):
        p = pot.get(code, 0.0) if code != "350100" else 0.6 * pot.get("350500", 0.0)
        name = markets[S.NAME].get(code, code)
        rows.append({S.ID: code, S.NAME: name, S.POTENTIAL_CNY: int(round(p, -3)),
                     T.MARKET_STAGE: _TERRITORY_STAGES[code], S.SYNTHETIC: True})
    return pd.DataFrame(rows)


def write(data: TargetsDemo, out_dir: str | Path | None = None) -> list[Path]:
    """Write the tables as CSV (UTF-8) into ``out_dir`` (default ``geodata/demo/targets``)."""
    out = Path(out_dir) if out_dir is not None else targets_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in data.tables().items():
        p = out / f"{name}.csv"
        df.to_csv(p, index=False, lineterminator="\n")
        paths.append(p)
    return paths


def load(directory: str | Path | None = None) -> T.TargetsData:
    """The committed targets demo (or a folder of the same tables) as the targets job reads it; every row must load."""
    from planner.io.workspace import Workspace

    ws = demo.workspace() if directory is None else Workspace.open(directory)
    tables = ws.load(T.INPUT_TABLES, optional=T.OPTIONAL_TABLES)
    data, rejected = T.check_tables(tables["people"], tables["forecasts"], tables["actuals"], tables["targets"],
                                    tables.get("territories"))
    bad = {k: len(v) for k, v in {**tables.rejected, **rejected}.items() if len(v)}
    if bad:
        raise InputError(f"the targets tables in {ws.folder} have rejected rows {bad}")
    return data


if __name__ == "__main__":  # python -m planner.demo.targets [OUT_DIR]
    import sys

    for p in write(generate(), sys.argv[1] if len(sys.argv) > 1 else None):
        print(p)
