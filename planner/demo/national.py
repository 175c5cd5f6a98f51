"""A synthetic organisation at national scale: regions, cities, offices, teams and accounts, seeded.

``generate(NationalConfig(regions=20, reps=10_000, accounts=400_000))`` builds, from the seed alone and
in a few seconds, the three tables a workspace folder holds (canonical columns, WGS-84), and
``write(out_dir, config)`` writes them as ``accounts.csv``, ``reps.csv`` and ``offices.csv`` (or
Parquet), so every job and ``--by team|city|region`` runs on the folder (``planner national-demo``).

How it is built (every figure below is an assumption of this generator, not a fact):

- **Regions** are provinces, taken in the order of :data:`REGION_ORDER` (roughly the largest
  provincial economies first), the region's weight ``1 / (rank + 4)``.
- **Cities** are the real prefecture-level units of each region (the province itself for
  Chongqing, whose counties have no prefecture), at most ``cities_per_region`` of them: the capital
  first, then by the number of county seats and GeoNames towns (``planner.geo``). A city's weight is
  the square root of its seats and towns, the capital's doubled.
- **People**: one regional manager (M3) per region at the capital's first office; the other people
  are shared out by weight over regions and then over their first cities (one city per 24 people of
  the region at most, so that a small organisation has few, full teams); a city of 24 people or more
  has a city manager (M2); the rest are teams of one supervisor (M1) and at most ``team_size`` sellers
  (as many teams as that takes, the sellers shared evenly: mostly 7 to 12), one seller in seven a
  reserve manager (M0) among those with over a year's tenure.
  Team names are ``<City>-<k>``; managers above team level have no team.
- **Offices**: one per ``reps_per_office`` people of a city (at least one), each at a county seat of
  the city, the city's own seat first, then the county seats nearest to it.
- **Accounts** are shared over the cities by their sellers, each within ``jitter_m`` (normal) of a
  county seat or a town of its city. Each team works a sector of its city (the city's seats and
  towns sorted by bearing from the city seat, cut into one run per team) from the office nearest to
  it; ``owned_share`` of a city's accounts belong to a seller of the team whose sector they lie in,
  the rest sit in the public pool anywhere in the city. Half of the owned accounts are customers.
- **Appointments**: up to two per seller on :data:`APPOINTMENT_DATE` (10:00 and 15:00, an hour
  each) on the seller's own follow-up or closing accounts within 25 km of his office, so that each
  one can be kept.

Every name says "(synthetic)" and every row has ``synthetic = true``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.demo.province import CAPITALS
from planner.errors import raise_if_any

DEFAULT_SEED = 20261123
TODAY = date(2026, 11, 23)  # a Monday: the exports' "today" (plan the week from it)
APPOINTMENT_DATE = TODAY + timedelta(days=1)  # the day the appointments are booked on (plan the day)
# Provinces, roughly by the size of their economy: the order regions are opened in (an assumption).
REGION_ORDER: tuple[str, ...] = (
    "440000", "320000", "370000", "330000", "410000", "510000", "420000", "350000", "430000", "310000",
    "340000", "110000", "130000", "610000", "360000", "500000", "210000", "530000", "450000", "140000",
    "120000", "520000", "150000", "220000", "650000", "230000", "620000", "460000", "640000", "630000")
INDUSTRIES = ("electronics", "machinery", "building materials", "textiles", "food", "chemicals", "wholesale",
              "auto parts", "appliances", "logistics")
FILES = ("accounts", "reps", "offices")
_KM_PER_DEG = 111.32


@dataclass(frozen=True, kw_only=True)
class NationalConfig:
    """Size and shape of the national organisation (see the module docstring)."""

    regions: int = 20
    reps: int = 10_000
    accounts: int = 400_000
    seed: int = DEFAULT_SEED
    cities_per_region: int = 8
    team_size: int = 12  # sellers under one supervisor, at most
    reps_per_office: int = 60
    owned_share: float = 0.6
    jitter_m: float = 1500.0

    def __post_init__(self) -> None:
        p = []
        if not 1 <= self.regions <= len(REGION_ORDER):
            p.append(f"regions must be within 1..{len(REGION_ORDER)}, got {self.regions}")
        if self.reps < 3 * max(self.regions, 1):
            p.append(f"reps must be at least 3 per region ({3 * max(self.regions, 1)}), got {self.reps}")
        if self.accounts < 1:
            p.append(f"accounts must be at least 1, got {self.accounts}")
        if self.cities_per_region < 1 or self.team_size < 2 or self.reps_per_office < 1:
            p.append("cities_per_region >= 1, team_size >= 2 and reps_per_office >= 1 are needed")
        if not 0.0 <= self.owned_share <= 1.0 or self.jitter_m <= 0:
            p.append("owned_share must be within 0..1 and jitter_m positive")
        raise_if_any(p, what="national demo settings")


@dataclass(frozen=True)
class NationalDemo:
    """The generated tables (canonical columns, WGS-84) and the cities they were drawn over."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    cities: pd.DataFrame  # region, region_name, city, city_name, pinyin, seat_lon, seat_lat, weight, people

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"accounts": self.accounts, "reps": self.reps, "offices": self.offices}


# --------------------------------------------------------------------------- the map: regions, cities, anchors
def _anchors() -> pd.DataFrame:
    """Every county seat and GeoNames town with its city (the county's parent) and province."""
    units = geo.admin_units()
    counties = units[(units["level"] == "county") & units["planning_area"].astype(bool)]
    parent = dict(zip(counties["adcode"], counties["parent_adcode"]))
    seats = pd.DataFrame({"county": counties["adcode"], "city": counties["parent_adcode"],
                          "lon": counties["seat_lon"], "lat": counties["seat_lat"], "seat": True})
    towns = geo.towns()
    towns = pd.DataFrame({"county": towns["county_adcode"], "city": towns["county_adcode"].map(parent),
                          "lon": towns["lon"], "lat": towns["lat"], "seat": False}).dropna(subset=["city"])
    out = pd.concat([seats, towns], ignore_index=True).dropna(subset=["lon", "lat"])
    out = out[_placeable(out["lon"].to_numpy(float), out["lat"].to_numpy(float))]
    out["province"] = out["city"].str[:2] + "0000"
    return out.reset_index(drop=True)


def _cities(cfg: NationalConfig, rng: np.random.Generator, anchors: pd.DataFrame) -> pd.DataFrame:
    """The cities of each region (capital first, then by seats and towns), with their weights."""
    units = geo.admin_units().set_index("adcode")
    rows = []
    for rank, prov in enumerate(REGION_ORDER[: cfg.regions]):
        size = anchors[anchors["province"] == prov].groupby("city").size()
        capital = CAPITALS.get(prov, "")
        if capital not in size.index:
            capital = str(size.idxmax())
        order = sorted(size.index, key=lambda c: (c != capital, -int(size[c]), c))[: cfg.cities_per_region]
        for c in order:
            seat = units.loc[c, ["seat_lon", "seat_lat"]].to_numpy(float)
            w = np.sqrt(float(size[c])) * (2.0 if c == capital else 1.0)
            rows.append({"region": prov, "region_name": str(units.loc[prov, "name_zh"]),
                         "region_weight": 1.0 / (rank + 4), "city": c, "city_name": str(units.loc[c, "name_zh"]),
                         "pinyin": str(units.loc[c, "name_pinyin"]), "seat_lon": seat[0], "seat_lat": seat[1],
                         "weight": w * float(rng.lognormal(0.0, 0.3)), "capital": c == capital})
    out = pd.DataFrame(rows)
    twice = out["pinyin"].duplicated(keep=False)  # Taizhou (Jiangsu) and Taizhou (Zhejiang): team names stay unique
    out.loc[twice, "pinyin"] = out.loc[twice, "pinyin"] + out.loc[twice, "city"].str[:4]
    return out


def _largest_remainder(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integers proportional to ``weights``, each at least ``minimum`` (when the total allows), summing to
    ``total``."""
    n = len(weights)
    base = np.full(n, min(minimum, total // max(n, 1)), dtype=np.int64)
    rest = total - int(base.sum())
    share = rest * np.asarray(weights, float) / float(np.sum(weights))
    out = base + np.floor(share).astype(np.int64)
    left = total - int(out.sum())
    out[np.argsort(-(share - np.floor(share)), kind="stable")[:left]] += 1
    return out


def _people_per_city(cfg: NationalConfig, cities: pd.DataFrame) -> pd.DataFrame:
    """The cities that get people, with their ``people`` (regional managers excepted): regions by weight; in
    a region, one city per 24 people at most (its first ones), each at least 2, the rest by weight."""
    regions = cities.drop_duplicates("region")
    per_region = _largest_remainder(cfg.reps - len(regions), regions["region_weight"].to_numpy(),
                                    minimum=2)
    parts = []
    for prov, n in zip(regions["region"], per_region):
        mine = cities[cities["region"] == prov].head(max(1, int(n) // 24))
        parts.append(mine.assign(people=_largest_remainder(int(n), mine["weight"].to_numpy(), minimum=2)))
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- people and offices
def _bearing_order(pts: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return np.argsort(np.arctan2(pts[:, 1] - centre[1], (pts[:, 0] - centre[0]) * np.cos(np.radians(centre[1]))),
                      kind="stable")


def _city_offices(city: pd.Series, anchors: pd.DataFrame, n_people: int, cfg: NationalConfig) -> pd.DataFrame:
    """The city's offices (``anchors``: its seats and towns): its own seat's county first, then the county
    seats nearest to it."""
    seats = anchors[anchors["seat"].to_numpy(bool)]
    d = np.hypot((seats["lon"] - city["seat_lon"]) * np.cos(np.radians(city["seat_lat"])),
                 seats["lat"] - city["seat_lat"]).to_numpy()
    n = max(1, min(len(seats), round(n_people / cfg.reps_per_office)))
    chosen = seats.iloc[np.argsort(d, kind="stable")[:n]]
    if not len(chosen):  # a city without county seats: its own seat
        chosen = pd.DataFrame({"county": [city["city"]], "lon": [city["seat_lon"]], "lat": [city["seat_lat"]]})
    return pd.DataFrame({
        S.ID: [f"OF-{c}" for c in chosen["county"]],
        S.NAME: [f"{city['pinyin']} office {k + 1} (synthetic)" for k in range(len(chosen))],
        S.LON: np.round(chosen["lon"].to_numpy(float) + 0.004, 6),
        S.LAT: np.round(chosen["lat"].to_numpy(float) + 0.003, 6),  # a street off the seat
        S.DESKS: max(10, cfg.reps_per_office), S.OFFICE_STATUS: "current", S.MONTHLY_COST_CNY: 50_000.0,
        S.OFFICE_KIND: "office", S.ADCODE: chosen["county"].to_numpy(), S.SYNTHETIC: True})


@dataclass
class _Ids:
    """Running person numbers (one sequence for the whole organisation)."""

    next: int = 1

    def take(self, n: int) -> list[str]:
        out = [f"N{k:05d}" for k in range(self.next, self.next + n)]
        self.next += n
        return out


def _person(pid: str, level: str, team: str, office: str, manager: str, tenure_days: int) -> dict[str, object]:
    return {S.ID: pid, S.NAME: f"Rep {pid} (synthetic)", S.TEAM: team, S.LEVEL: level, S.BASE_OFFICE: office,
            S.MANAGER: manager, S.START_DATE: (TODAY - timedelta(days=int(tenure_days))).isoformat(),
            S.EXPERIENCED: tenure_days > 365, S.SYNTHETIC: True}


def _teams(cfg: NationalConfig, rng: np.random.Generator, city: pd.Series, n_people: int, boss: str,
           offices: pd.DataFrame, sector_centres: list[np.ndarray], ids: _Ids) -> list[dict[str, object]]:
    """The city's people: a city manager when it is large enough, then teams of a supervisor and sellers,
    each team at the office nearest its sector."""
    rows: list[dict[str, object]] = []
    n = n_people
    head = boss
    if n >= 24:
        (m2,) = ids.take(1)
        rows.append(_person(m2, "M2", "", str(offices[S.ID].iloc[0]), boss, int(rng.integers(3 * 365, 9 * 365))))
        head, n = m2, n - 1
    n_teams = len(sector_centres)
    sizes = _largest_remainder(n - n_teams, np.ones(n_teams))
    off_xy = offices[[S.LON, S.LAT]].to_numpy(float)
    for k, (size, centre) in enumerate(zip(sizes, sector_centres)):
        office = str(offices[S.ID].iloc[int(np.argmin(np.hypot(*(off_xy - centre).T)))])
        team = f"{city['pinyin']}-{k + 1}"
        (sup,) = ids.take(1)
        rows.append(_person(sup, "M1", team, office, head, int(rng.integers(2 * 365, 8 * 365))))
        tenure = rng.integers(30, 6 * 365, size=int(size))
        reserve = (tenure > 365) & (rng.random(int(size)) < 1 / 7)
        for pid, t, m0 in zip(ids.take(int(size)), tenure, reserve):
            rows.append(_person(pid, "M0" if m0 else "sales", team, office, sup, int(t)))
    return rows


def _n_teams(cfg: NationalConfig, n_people: int) -> int:
    n = n_people - (1 if n_people >= 24 else 0)
    return max(1, min(n // 2, math.ceil(n / (cfg.team_size + 1))))


def _sectors(city_anchors: pd.DataFrame, centre: np.ndarray, n_teams: int) -> list[np.ndarray]:
    """The city's seats and towns by bearing from its seat, cut into ``n_teams`` runs (indices into them)."""
    pts = city_anchors[["lon", "lat"]].to_numpy(float)
    order = _bearing_order(pts, centre)
    parts = np.array_split(order, n_teams)
    return [part if len(part) else order[[k % len(order)]] for k, part in enumerate(parts)]

# --------------------------------------------------------------------------- accounts
def _placeable(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """In China and on the mainland (not in Hong Kong, Macau, Taiwan or at sea): where the loader keeps a row."""
    from planner.geo import coords

    return geo.in_china(lon, lat) & coords.in_mainland(lon, lat)


def _jitter(rng: np.random.Generator, pts: np.ndarray, metres: float) -> np.ndarray:
    """``pts`` moved by a normal jitter of ``metres``; a point that leaves the mainland stays where it was."""
    scale = np.column_stack([metres / (_KM_PER_DEG * 1000 * np.cos(np.radians(pts[:, 1]))),
                             np.full(len(pts), metres / (_KM_PER_DEG * 1000))])
    out = np.round(pts + rng.normal(size=pts.shape) * scale, 6)
    bad = ~_placeable(out[:, 0], out[:, 1])
    out[bad] = np.round(pts[bad], 6)
    return out


def _city_accounts(cfg: NationalConfig, rng: np.random.Generator, n: int, city_anchors: pd.DataFrame,
                   sectors: list[np.ndarray], team_sellers: list[list[str]]) -> pd.DataFrame:
    """``n`` accounts of one city: owned ones in their team's sector, the pool anywhere in the city."""
    pts = city_anchors[["lon", "lat"]].to_numpy(float)
    weights = np.array([len(s) for s in team_sellers], float)
    n_own = int(round(cfg.owned_share * n)) if weights.sum() else 0
    per_team = _largest_remainder(n_own, weights) if n_own else np.zeros(len(team_sellers), np.int64)
    xy, owner = [], []
    for sector, sellers, k in zip(sectors, team_sellers, per_team):
        if k == 0:
            continue
        xy.append(pts[sector[rng.integers(0, len(sector), int(k))]])
        owner.append(np.asarray(sellers, dtype=object)[rng.integers(0, len(sellers), int(k))])
    n_pool = n - n_own
    xy.append(pts[rng.integers(0, len(pts), n_pool)])
    owner.append(np.full(n_pool, S.PUBLIC_POOL, dtype=object))
    pts = _jitter(rng, np.vstack(xy), cfg.jitter_m)
    return pd.DataFrame({S.LON: pts[:, 0], S.LAT: pts[:, 1], S.OWNER: np.concatenate(owner)})


def _attributes(rng: np.random.Generator, owner: np.ndarray) -> dict[str, object]:
    """Status, class, stage, potential, industry and last visit of each account (vectorised)."""
    n = len(owner)
    owned = owner != S.PUBLIC_POOL
    cust = owned & (rng.random(n) < 0.5)
    cls = np.where(cust, rng.choice(list(S.CLASSES), size=n, p=[0.25, 0.45, 0.30]),
                   rng.choice(list(S.CLASSES), size=n, p=[0.10, 0.30, 0.60]))
    stage = np.where(~owned, "new", np.where(cust, rng.choice(["follow-up", "closing"], size=n, p=[0.7, 0.3]),
                                             rng.choice(list(S.STAGES), size=n, p=[0.15, 0.60, 0.25])))
    median = np.select([cls == "A", cls == "B"], [150_000.0, 60_000.0], 20_000.0)
    days_ago = np.where(owned, rng.integers(1, 150, size=n), rng.integers(100, 400, size=n))
    never = ~owned & (rng.random(n) < 0.5)
    last = pd.Series(pd.Timestamp(TODAY) - pd.to_timedelta(days_ago, unit="D")).dt.strftime("%Y-%m-%d")
    return {S.STATUS: np.where(cust, "customer", "prospect"), S.OWNER: owner, S.CLASS: cls,
            S.INDUSTRY: np.asarray(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n)],
            S.POTENTIAL_CNY: np.round(median * rng.lognormal(0.0, 0.5, size=n), -2), S.STAGE: stage,
            S.LAST_VISIT: last.where(~never, "").to_numpy()}


def _appointments(rng: np.random.Generator, accounts: pd.DataFrame, reps: pd.DataFrame,
                  offices: pd.DataFrame) -> None:
    """Up to two appointments per seller on ``APPOINTMENT_DATE`` (10:00 and 15:00, an hour each) on his
    follow-up or closing accounts within 25 km of his office."""
    base = accounts[S.OWNER].map(reps.set_index(S.ID)[S.BASE_OFFICE])
    off = offices.set_index(S.ID)
    blon, blat = base.map(off[S.LON]).to_numpy(float), base.map(off[S.LAT]).to_numpy(float)
    lon, lat = accounts[S.LON].to_numpy(float), accounts[S.LAT].to_numpy(float)
    km = _KM_PER_DEG * np.hypot((lon - blon) * np.cos(np.radians(lat)), lat - blat)
    ok = np.flatnonzero((accounts[S.STAGE] != "new").to_numpy() & (km < 25.0))  # NaN (pool) is never < 25
    ok = ok[rng.permutation(len(ok))]
    nth = pd.Series(accounts[S.OWNER].to_numpy()[ok]).groupby(accounts[S.OWNER].to_numpy()[ok]).cumcount().to_numpy()
    day = APPOINTMENT_DATE.isoformat()
    start = np.full(len(accounts), "", dtype=object)
    end = start.copy()
    for k, (a, b) in enumerate((("10:00", "11:00"), ("15:00", "16:00"))):
        rows = ok[nth == k]
        start[rows], end[rows] = f"{day}T{a}", f"{day}T{b}"
    accounts[S.APPT_START], accounts[S.APPT_END] = start, end


# --------------------------------------------------------------------------- the organisation
def _region_people(cfg: NationalConfig, rng: np.random.Generator, cities: pd.DataFrame, anchors: pd.DataFrame,
                   ids: _Ids) -> tuple[list[dict[str, object]], list[pd.DataFrame], dict[str, tuple]]:
    """People and offices of every city; per city its anchors, sectors and the sellers of each team."""
    people: list[dict[str, object]] = []
    offices: list[pd.DataFrame] = []
    layout: dict[str, tuple] = {}
    boss_of: dict[str, str] = {}
    by_city = {str(c): g.reset_index(drop=True) for c, g in anchors[anchors["city"].isin(set(cities["city"]))]
               .groupby("city", sort=False)}
    for _, city in cities.iterrows():
        ca = by_city[str(city["city"])]
        off = _city_offices(city, ca, int(city["people"]), cfg)
        offices.append(off)
        if city["region"] not in boss_of:  # the regional manager, at the capital's first office
            (m3,) = ids.take(1)
            boss_of[city["region"]] = m3
            people.append(_person(m3, "M3", "", str(off[S.ID].iloc[0]), "", int(rng.integers(5 * 365, 12 * 365))))
        centre = np.array([city["seat_lon"], city["seat_lat"]])
        sectors = _sectors(ca, centre, _n_teams(cfg, int(city["people"])))
        centres = [ca[["lon", "lat"]].to_numpy(float)[s].mean(axis=0) for s in sectors]
        rows = _teams(cfg, rng, city, int(city["people"]), boss_of[city["region"]], off, centres, ids)
        people.extend(rows)
        teams = sorted({str(r[S.TEAM]) for r in rows if r[S.TEAM]}, key=lambda t: int(t.rsplit("-", 1)[1]))
        sellers = [[str(r[S.ID]) for r in rows if r[S.TEAM] == t and r[S.LEVEL] in S.SELLER_LEVELS] for t in teams]
        layout[str(city["city"])] = (ca, sectors, sellers)
    return people, offices, layout


def generate(config: NationalConfig | None = None) -> NationalDemo:
    """Build the organisation deterministically from ``config.seed`` (see the module docstring)."""
    cfg = config or NationalConfig()
    rng = np.random.default_rng(cfg.seed)
    anchors = _anchors()
    cities = _people_per_city(cfg, _cities(cfg, rng, anchors))
    people, office_parts, layout = _region_people(cfg, rng, cities, anchors, _Ids())
    reps = pd.DataFrame(people)
    offices = pd.concat(office_parts, ignore_index=True).drop_duplicates(S.ID).reset_index(drop=True)
    sellers_per_city = np.array([sum(len(s) for s in layout[str(c)][2]) for c in cities["city"]], float)
    per_city = _largest_remainder(cfg.accounts, np.maximum(sellers_per_city, 1e-9))
    parts = [_city_accounts(cfg, rng, int(n), *layout[str(c)]) for c, n in zip(cities["city"], per_city) if n]
    acc = pd.concat(parts, ignore_index=True)
    acc = acc.iloc[rng.permutation(len(acc))].reset_index(drop=True)  # in no order, as an export lists them
    n = len(acc)
    accounts = pd.DataFrame({S.ID: [f"NA{i:07d}" for i in range(1, n + 1)],
                             S.NAME: [f"Company {i} (synthetic)" for i in range(1, n + 1)],
                             S.LON: acc[S.LON].to_numpy(), S.LAT: acc[S.LAT].to_numpy(),
                             **_attributes(rng, acc[S.OWNER].to_numpy())})
    _appointments(rng, accounts, reps, offices)
    accounts[S.SYNTHETIC] = True
    return NationalDemo(accounts=accounts, reps=reps, offices=offices, cities=cities)


def write(out_dir: str | Path, config: NationalConfig | None = None, *, fmt: str = "csv") -> list[Path]:
    """Generate the organisation and write ``accounts``, ``reps`` and ``offices`` into ``out_dir`` as
    ``csv`` (default) or ``parquet``; returns the paths written."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"fmt must be csv or parquet, got {fmt!r}")
    demo = generate(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in demo.tables().items():
        p = out / f"{name}.{fmt}"
        if fmt == "parquet":
            df.to_parquet(p, index=False)
        else:
            df.to_csv(p, index=False, float_format="%.6f" if name in ("accounts", "offices") else None,
                      lineterminator="\n")
        paths.append(p)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m planner.demo.national OUT [--regions 20 --reps 10000 --accounts 400000 --seed N]``."""
    p = argparse.ArgumentParser(prog="python -m planner.demo.national", description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder")
    p.add_argument("--regions", type=int, default=20)
    p.add_argument("--reps", type=int, default=10_000)
    p.add_argument("--accounts", type=int, default=400_000)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = p.parse_args(argv)
    for path in write(a.out, NationalConfig(regions=a.regions, reps=a.reps, accounts=a.accounts, seed=a.seed)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
