"""The Fujian demo scenario: a seeded, visibly synthetic sales organisation.

The story (``DOMAIN.md`` section 1): a team of about 25 reps all based at one
office in Xiamen (Siming district) while most of its export-manufacturer
accounts sit in Quanzhou (Jinjiang, Shishi, Nan'an, Hui'an, the city
districts), fewer in Xiamen, Zhangzhou and Putian.

``generate(seed)`` builds the tables in memory; ``write(out_dir)`` writes them
as CSV (``geodata/demo/`` by default); ``load_demo(dir)`` reads them back
through ``planner.io`` (the same path as a user's files).

How points are placed: the number of accounts per county is a multinomial
draw with the weights of ``geodata/demo/county_weights.csv`` (each row says
where its weight comes from: hand-set assumptions, labelled as such). Each
account sits near a real GeoNames town point (or the county seat) of its
county, offset by a normal jitter of about 1.5 km, and is redrawn until it
lies inside the county polygon. Counties and towns come from the demo's own
frozen Fujian extract (``geodata/demo/fujian_counties.geojson``,
``fujian_towns.csv``, written by ``geodata/build.py``), not from the national
layer, whose Fujian border counties are simplified a little differently: the
demo stays byte-identical. Every record has ``synthetic = true`` and
company names say "(synthetic)".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.errors import InputError, raise_if_any
from planner.io import ImportResult
from planner.io.workspace import Workspace

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

DEFAULT_SEED = 20261122
DEMO_DATE = date(2026, 11, 23)  # the Monday the demo's "today" is set to
HOME_OFFICE_ID = "OF-XM-SIMING"
HOME_COUNTY = "350203"  # Siming district, Xiamen
DEMO_PREFECTURES = ("350200", "350500", "350600", "350300")  # Xiamen, Quanzhou, Zhangzhou, Putian
EXPANSION_PROVINCES = ("350000", "330000", "440000", "360000")  # Fujian, Zhejiang, Guangdong, Jiangxi
FILES = ("accounts", "reps", "offices", "markets", "cadres")

# City tiers for the expansion candidates: a plainly labelled assumption
# (commonly used commercial tiering, simplified); all others are tier 4.
_TIERS: Mapping[str, int] = MappingProxyType(
    {"440100": 1, "440300": 1, "330100": 2, "330200": 2, "350100": 2, "350200": 2, "350500": 2, "441900": 2,
     "440600": 2, "330300": 2, "360100": 2, "330700": 3, "330600": 3, "331000": 3, "330400": 3, "440400": 3,
     "441300": 3, "442000": 3, "440500": 3, "350600": 3, "350300": 3, "440700": 3, "330500": 3, "360700": 3,
     "360400": 3})

_SUFFIX = ("Trading", "Manufacturing", "Industrial", "Products", "Craft", "Export")


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Size and shape of the demo scenario (``generate``)."""

    seed: int = DEFAULT_SEED
    n_accounts: int = 3000
    n_reps: int = 25
    n_cadres: int = 40
    jitter_m: float = 1500.0
    customer_share: float = 0.30
    owned_prospect_share: float = 0.40

    def __post_init__(self) -> None:
        problems = []
        for name, n in (("n_accounts", self.n_accounts), ("n_cadres", self.n_cadres)):
            if n < 1:
                problems.append(f"{name} must be at least 1")
        if self.n_reps < 5:
            problems.append("n_reps must be at least 5 (a manager, supervisors and reps)")
        if self.jitter_m <= 0:
            problems.append("jitter_m must be positive")
        for name, share in (("customer_share", self.customer_share),
                            ("owned_prospect_share", self.owned_prospect_share)):
            if not 0 <= share <= 1:
                problems.append(f"{name} must be within 0..1")
        raise_if_any(problems, what="demo settings")


@dataclass(frozen=True)
class DemoData:
    """The generated tables (canonical columns) plus the ground truth used by tests."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    markets: pd.DataFrame
    cadres: pd.DataFrame
    county_weights: pd.DataFrame
    extra: dict[str, dict[str, int]] = field(default_factory=dict)  # "counts": accounts drawn per county

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in FILES}


def demo_dir() -> Path:
    return geo.geodata_dir() / "demo"


def demo_counties() -> gpd.GeoDataFrame:
    """Fujian's planning counties as the demo places accounts in them (the frozen demo extract)."""
    import geopandas as gpd

    gdf = gpd.read_file(demo_dir() / "fujian_counties.geojson")
    for col in ("adcode", "prefecture_adcode"):
        gdf[col] = gdf[col].astype(str)
    gdf["province_adcode"] = gdf["adcode"].str[:2] + "0000"
    return gdf


def demo_towns() -> pd.DataFrame:
    """GeoNames towns inside ``demo_counties()`` (the frozen demo extract)."""
    return pd.read_csv(demo_dir() / "fujian_towns.csv", dtype={"county_adcode": str, "prefecture_adcode": str})


def county_weights(path: Path | None = None) -> pd.DataFrame:
    df = pd.read_csv(path or demo_dir() / "county_weights.csv", dtype={"adcode": str})
    if (df["weight"] <= 0).any():
        raise ValueError("county weights must be positive")
    return df


def _anchors(counties: pd.DataFrame, polys: Mapping[str, BaseGeometry]) -> dict[str, np.ndarray]:
    """Town points and the seat of each county, kept only where inside its polygon."""
    import shapely

    towns = demo_towns()
    units = geo.admin_units("county").set_index("adcode")
    out = {}
    for code in counties["adcode"]:
        t = towns[towns["county_adcode"] == code][["lon", "lat"]].to_numpy(float)
        seat = units.loc[code, ["seat_lon", "seat_lat"]].to_numpy(float)[None, :]
        pts = np.vstack([seat, seat, t])  # the seat counts double: towns cluster around it
        inside = shapely.contains_xy(polys[code], pts[:, 0], pts[:, 1])
        pts = pts[inside]
        if len(pts) == 0:
            p = shapely.point_on_surface(polys[code])
            pts = np.array([[p.x, p.y]])
        out[code] = pts
    return out


def _place(rng: np.random.Generator, anchors: np.ndarray, poly: BaseGeometry, n: int, jitter_m: float) -> np.ndarray:
    import shapely

    pts = np.empty((n, 2))
    todo = np.arange(n)
    base = anchors[rng.integers(0, len(anchors), size=n)]
    lat0 = np.radians(base[:, 1].mean())
    scale = np.array([jitter_m / (111_320.0 * np.cos(lat0)), jitter_m / 110_540.0])
    for _ in range(50):
        cand = base[todo] + rng.normal(size=(len(todo), 2)) * scale
        ok = shapely.contains_xy(poly, cand[:, 0], cand[:, 1])
        pts[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if len(todo) == 0:
            break
    pts[todo] = base[todo]  # anchors are inside the polygon by construction
    return np.round(pts, 6)


def generate(config: DemoConfig | None = None) -> DemoData:
    """Build the demo scenario deterministically from ``config.seed``.

    One random generator feeds, in this order, the accounts (points, then
    attributes, names and booked appointments), the reps and the cadres; the
    offices and markets come from the geodata alone.
    """
    cfg = config or DemoConfig()
    rng = np.random.default_rng(cfg.seed)
    weights = county_weights()
    counties = demo_counties()
    polys = dict(zip(counties["adcode"], counties.geometry))
    missing = sorted(set(weights["adcode"]) - set(polys))
    if missing:
        raise ValueError(f"county_weights.csv names counties not in the planning counties: {missing}")
    counts, lonlat, county, industry = _account_points(cfg, rng, weights, polys)
    accounts, stage = _account_table(cfg, rng, lonlat, county, industry, weights)
    _book_appointments(cfg, rng, accounts, stage, lonlat)
    accounts["county_adcode"] = county  # ground truth for tests; not a canonical column
    reps = _reps(cfg, rng)
    offices = _offices(counties)
    markets = _markets()
    cadres = _cadres(cfg, rng, markets)
    return DemoData(accounts=accounts, reps=reps, offices=offices, markets=markets, cadres=cadres,
                    county_weights=weights, extra={"counts": dict(zip(weights["adcode"], counts.tolist()))})


def _rep_ids(cfg: DemoConfig) -> list[str]:
    return [f"R{i:02d}" for i in range(1, cfg.n_reps + 1)]


def _account_points(cfg: DemoConfig, rng: np.random.Generator, weights: pd.DataFrame,
                    polys: Mapping[str, BaseGeometry]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(accounts per county, lon/lat, county, industry): a multinomial draw over the county weights,
    points jittered around the county's anchors, shuffled."""
    anchors = _anchors(weights, polys)
    p = weights["weight"].to_numpy(float)
    counts = rng.multinomial(cfg.n_accounts, p / p.sum())
    rows_lonlat, rows_county, rows_ind = [], [], []
    for code, k, inds in zip(weights["adcode"], counts, weights["industries"]):
        if k == 0:
            continue
        rows_lonlat.append(_place(rng, anchors[code], polys[code], int(k), cfg.jitter_m))
        rows_county.extend([code] * int(k))
        options = inds.split(";")
        rows_ind.extend(rng.choice(options, size=int(k)).tolist())
    lonlat = np.vstack(rows_lonlat)
    order = rng.permutation(len(lonlat))
    return counts, lonlat[order], np.asarray(rows_county)[order], np.asarray(rows_ind)[order]


def _account_table(cfg: DemoConfig, rng: np.random.Generator, lonlat: np.ndarray, county: np.ndarray,
                   industry: np.ndarray, weights: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The accounts (appointments still to book) and their stage."""
    n = len(lonlat)
    is_cust = rng.random(n) < cfg.customer_share
    cls = np.where(is_cust, rng.choice(list(S.CLASSES), size=n, p=[0.25, 0.45, 0.30]),
                   rng.choice(list(S.CLASSES), size=n, p=[0.10, 0.30, 0.60]))
    owned = is_cust | (rng.random(n) < cfg.owned_prospect_share)
    # Reps 1..n_reps-? : the manager (R01) and supervisors own few accounts.
    sellers = _rep_ids(cfg)[4:]
    owner = np.where(owned, rng.choice(sellers, size=n), S.PUBLIC_POOL)
    median = {"A": 150_000.0, "B": 60_000.0, "C": 20_000.0}
    potential = np.round(np.array([median[c] for c in cls]) * rng.lognormal(0.0, 0.5, size=n), -2)
    stage = np.where(~owned, "new",
                     np.where(is_cust, rng.choice(["follow-up", "closing"], size=n, p=[0.7, 0.3]),
                              rng.choice(list(S.STAGES), size=n, p=[0.15, 0.60, 0.25])))
    days_ago = np.where(owned, rng.integers(1, 150, size=n), rng.integers(100, 400, size=n))
    never = ~owned & (rng.random(n) < 0.5)
    last_visit = [None if nv else (DEMO_DATE - timedelta(days=int(d))).isoformat()
                  for nv, d in zip(never, days_ago)]
    names = _account_names(rng, county, industry, weights)
    accounts = pd.DataFrame({
        S.ID: [f"A{i + 1:05d}" for i in range(n)], S.NAME: names,
        S.LON: lonlat[:, 0], S.LAT: lonlat[:, 1],
        S.STATUS: np.where(is_cust, "customer", "prospect"), S.OWNER: owner, S.CLASS: cls,
        S.INDUSTRY: industry, S.POTENTIAL_CNY: potential, S.STAGE: stage, S.LAST_VISIT: last_visit,
        S.APPT_START: None, S.APPT_END: None, S.SYNTHETIC: True,
    })
    return accounts, stage


def _account_names(rng: np.random.Generator, county: np.ndarray, industry: np.ndarray,
                   weights: pd.DataFrame) -> list[str]:
    """"<town> <Industry> <suffix> No.<i> (synthetic)": a town of the account's county (else its pinyin name)."""
    towns = demo_towns()
    town_name = {c: g["name"].tolist() for c, g in towns.groupby("county_adcode")}
    pin = dict(zip(weights["adcode"], weights["name_pinyin"]))
    names = []
    for i in range(len(county)):
        places = town_name.get(county[i], [pin[county[i]]])
        place = places[rng.integers(0, len(places))]
        ind = industry[i].split(" ")[0].capitalize()
        names.append(f"{place} {ind} {_SUFFIX[rng.integers(0, len(_SUFFIX))]} No.{i + 1} (synthetic)")
    return names


def _book_appointments(cfg: DemoConfig, rng: np.random.Generator, accounts: pd.DataFrame, stage: np.ndarray,
                       lonlat: np.ndarray) -> None:
    """Two booked appointments per seller for the next working day, on owned
    prospects due a follow-up or closing, with one-hour windows.

    Each one is keepable: leaving the base office at the day's start, the rep
    arrives by the booked start, stays the hour and is back by the day's end
    (the defaults of planner.solvers.days.DayOptions; travel minutes rounded up as
    planner.solvers.days does), and the afternoon one is reachable after the morning
    one. The main ``rng`` makes exactly the draws it always made (so every
    other table and column stays byte-identical); where its pick cannot be
    kept, a separate generator seeded from the config seed picks among the
    keepable accounts instead.
    """
    from planner.geo.travel import travel_matrix
    from planner.solvers.days import DayOptions

    next_day = DEMO_DATE + timedelta(days=1)
    slots = [time(9, 30), time(10, 30), time(14, 0), time(15, 30), time(16, 30)]
    day = DayOptions()
    day0, day1, slack_s = day.day_start_min * 60, day.day_end_min * 60, day.appointment_slack_min * 60
    appt_s = 3600
    seat = geo.admin_units("county").set_index("adcode").loc[HOME_COUNTY]  # the base office (see _offices)
    reach_rng = np.random.default_rng([cfg.seed, 202])
    for r in _rep_ids(cfg)[4:]:
        cand = np.flatnonzero((accounts[S.OWNER] == r).to_numpy() & (stage != "new"))
        picks = list(rng.choice(cand, size=min(2, len(cand)), replace=False))
        starts = [slots[rng.integers(0, 2) if j == 0 else rng.integers(2, len(slots))] for j in range(len(picks))]
        if not len(cand):
            continue
        pts = np.vstack([[seat.seat_lon, seat.seat_lat], lonlat[cand]])
        tt = np.ceil(travel_matrix(pts).time_s.astype(np.float64) / 60.0) * 60  # whole minutes, in s
        pos = {int(a): k + 1 for k, a in enumerate(cand)}
        prev: tuple[int, int] | None = None  # (node, departure in s) of the appointment before
        for j, s in enumerate(starts):
            s0 = s.hour * 3600 + s.minute * 60
            ok = (day0 + tt[0, 1:] <= s0 + slack_s) & (s0 + appt_s + tt[1:, 0] <= day1)
            if prev is not None:
                ok &= prev[1] + tt[prev[0], 1:] <= s0 + slack_s
                ok[prev[0] - 1] = False
            ai = int(picks[j])
            if not ok[pos[ai] - 1]:
                if not ok.any():
                    continue  # nothing keepable at this time: no appointment booked
                ai = int(reach_rng.choice(cand[ok]))
            prev = (pos[ai], s0 + appt_s)
            start = datetime.combine(next_day, s)
            accounts.loc[ai, S.APPT_START] = start.isoformat(timespec="minutes")
            accounts.loc[ai, S.APPT_END] = (start + timedelta(hours=1)).isoformat(timespec="minutes")


def _reps(cfg: DemoConfig, rng: np.random.Generator) -> pd.DataFrame:
    """R01 the manager (M2), three supervisors (M1) and the sellers, two of them reserve managers (M0)."""
    rep_ids = _rep_ids(cfg)
    levels = ["M2", "M1", "M1", "M1"] + ["sales"] * (cfg.n_reps - 4)
    # two reserve managers (M0) among the experienced sellers
    tenure_days = rng.integers(30, 6 * 365, size=cfg.n_reps)
    tenure_days[:4] = rng.integers(3 * 365, 8 * 365, size=4)
    m0 = np.argsort(-tenure_days[4:])[:2] + 4
    for i in m0:
        levels[i] = "M0"
    teams = ["XM-Mgmt"] + [f"XM-{k}" for k in (1, 2, 3)] + [f"XM-{1 + (i % 3)}" for i in range(cfg.n_reps - 4)]
    return pd.DataFrame({
        S.ID: rep_ids, S.NAME: [f"Rep {r} (synthetic)" for r in rep_ids], S.TEAM: teams, S.LEVEL: levels,
        S.BASE_OFFICE: HOME_OFFICE_ID,
        S.MANAGER: ["", rep_ids[0], rep_ids[0], rep_ids[0]] + [rep_ids[1 + (i % 3)] for i in range(cfg.n_reps - 4)],
        S.START_DATE: [(DEMO_DATE - timedelta(days=int(d))).isoformat() for d in tenure_days],
        S.EXPERIENCED: tenure_days > 365, S.SYNTHETIC: True,
    })


def _offices(counties: pd.DataFrame) -> pd.DataFrame:
    """Today's office and the candidate bases: the demo prefectures' county seats and towns."""
    units = geo.admin_units("county").set_index("adcode")
    home = units.loc[HOME_COUNTY]
    office_rows = [{S.ID: HOME_OFFICE_ID, S.NAME: "Xiamen office, Siming (synthetic)", S.LON: home.seat_lon,
                    S.LAT: home.seat_lat, S.DESKS: 30, S.OFFICE_STATUS: "current", S.MONTHLY_COST_CNY: 60000.0,
                    S.OFFICE_KIND: "office", S.ADCODE: HOME_COUNTY, S.SYNTHETIC: True}]
    in_area = counties[counties["prefecture_adcode"].isin(DEMO_PREFECTURES)]
    for code in in_area["adcode"]:
        u = units.loc[code]
        office_rows.append({S.ID: f"CS-{code}", S.NAME: f"{u.name_pinyin} county seat (candidate)",
                            S.LON: u.seat_lon, S.LAT: u.seat_lat, S.DESKS: 15, S.OFFICE_STATUS: "candidate",
                            S.MONTHLY_COST_CNY: 25000.0, S.OFFICE_KIND: "county_seat", S.ADCODE: code,
                            S.SYNTHETIC: True})
    towns = demo_towns()
    t_area = towns[towns["prefecture_adcode"].isin(DEMO_PREFECTURES)]
    for t in t_area.itertuples():
        office_rows.append({S.ID: f"TW-{t.geonameid}", S.NAME: f"{t.name} town (candidate)", S.LON: t.lon,
                            S.LAT: t.lat, S.DESKS: 8, S.OFFICE_STATUS: "candidate", S.MONTHLY_COST_CNY: 12000.0,
                            S.OFFICE_KIND: "town", S.ADCODE: t.county_adcode, S.SYNTHETIC: True})
    return pd.DataFrame(office_rows)


def _markets() -> pd.DataFrame:
    """Candidate cities for expansion: the prefectures of ``EXPANSION_PROVINCES``."""
    import shapely

    prefs = geo.load_units("prefecture")
    prefs = prefs[prefs["province_adcode"].isin(EXPANSION_PROVINCES)].sort_values("adcode")
    coast = shapely.boundary(geo.china_region("china"))
    coastal = [shapely.distance(g, coast) < 0.3 for g in prefs.geometry]
    return pd.DataFrame({
        S.ADCODE: prefs["adcode"].to_numpy(), S.NAME: prefs["name_zh"].to_numpy(),
        S.TIER: [_TIERS.get(c, 4) for c in prefs["adcode"]],
        S.COASTAL: np.where(coastal, "coastal", "inland"),
        S.REGION: np.where(prefs["province_adcode"] == "440000", "South China", "East China"),
        S.SYNTHETIC: True,
    })


def _cadres(cfg: DemoConfig, rng: np.random.Generator, markets: pd.DataFrame) -> pd.DataFrame:
    """The bench of reserve managers and experienced reps."""
    lv = (["M2"] * 3 + ["M1.5"] * 5 + ["M1"] * 10 + ["M0"] * 12 + ["sales"] * 10)
    lv = (lv * (cfg.n_cadres // len(lv) + 1))[: cfg.n_cadres]
    home_cities = rng.choice(["350200", "350500", "350100"], size=cfg.n_cadres, p=[0.6, 0.25, 0.15])
    market_codes = markets[S.ADCODE].tolist()
    served = []
    for hc in home_cities:
        k = int(rng.integers(0, 3))
        others = rng.choice(market_codes, size=k, replace=False).tolist()
        served.append(";".join(sorted({hc, *others})))
    return pd.DataFrame({
        S.ID: [f"C{i + 1:03d}" for i in range(cfg.n_cadres)],
        S.NAME: [f"Cadre C{i + 1:03d} (synthetic)" for i in range(cfg.n_cadres)],
        S.LEVEL: lv, S.CURRENT_CITY: home_cities, S.MARKETS_SERVED: served,
        S.REVIEW_SCORE: np.round(rng.uniform(60, 98, size=cfg.n_cadres), 1),
        S.READY_IN_QUARTERS: rng.choice([0, 0, 1, 2, 3], size=cfg.n_cadres),
        S.WILLING_TO_RELOCATE: rng.random(cfg.n_cadres) < 0.7, S.SYNTHETIC: True,
    })


def write(data: DemoData, out_dir: str | Path | None = None) -> list[Path]:
    """Write the demo tables as CSV (UTF-8); returns the paths written."""
    out = Path(out_dir) if out_dir is not None else demo_dir()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in data.tables().items():
        p = out / f"{name}.csv"
        df.to_csv(p, index=False, float_format="%.6f" if name in ("accounts", "offices") else None,
                  lineterminator="\n")
        paths.append(p)
    return paths


@dataclass(frozen=True)
class Scenario:
    """Canonical tables loaded through ``planner.io`` (with their import reports)."""

    accounts: pd.DataFrame
    reps: pd.DataFrame
    offices: pd.DataFrame
    markets: pd.DataFrame
    cadres: pd.DataFrame
    reports: dict[str, ImportResult]

    @property
    def home_office(self) -> pd.Series:
        cur = self.offices[self.offices[S.OFFICE_STATUS] == "current"]
        return cur.iloc[0]


def workspace(*, strict: bool = False, travel: str | None = None) -> Workspace:
    """The packaged demo folder as a workspace (its ``planner.toml`` declares the targets tables);
    ``travel``: a travel spec (``planner.geo.backends``) instead of the built-in model."""
    return Workspace.open(demo_dir(), strict=strict, label="Fujian demo (synthetic)", travel=travel)


def load_demo(directory: str | Path | None = None) -> Scenario:
    """Load the committed demo through the same loader as users' files (every row must load)."""
    ws = workspace() if directory is None else Workspace.open(directory)
    tables = ws.load(FILES)
    bad = {k: len(v) for k, v in tables.rejected.items()}
    if bad:
        raise InputError(f"the demo files in {ws.folder} have rejected rows {bad}: regenerate them with "
                         f"'python -m planner.demo'")
    return Scenario(**tables.frames, reports=dict(tables.results))
