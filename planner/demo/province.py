"""A synthetic sales organisation in any province, written as its CRM and HR exports look.

The Fujian demo (``planner.demo.scenario``) is written in the planner's own
canonical columns. This module writes what an organisation elsewhere would
bring instead: Chinese headers and values, Amap (GCJ-02) coordinates,
GB18030 text files and Excel sheets, one folder, and a ``planner.toml`` that
only says ``crs = "gcj02"``. It proves that every job runs on a folder of
data the planner has never seen (``tests/test_anywhere.py``).

``write(out_dir, province="440000", seed=...)`` (or ``python -m
planner.demo.province OUT [--province ADCODE] [--seed N]``) builds, from the
seed alone:

- ``accounts.csv`` (GB18030): about 2,000 accounts over the provincial
  capital's prefecture and its nearest neighbours (8 prefectures), each near a
  real county seat or GeoNames town of its county and inside the county
  polygon (``planner.geo``), in GCJ-02; 客户编号, 客户名称, 经度, 纬度, 客户状态
  (成交客户/意向客户), 负责人 (a 工号 or 公海), 客户等级 (A类/B类/C类), 所属行业,
  潜力金额, 销售阶段 (新客户/跟进/签约), 最后拜访日期, 预约开始/预约结束 (two
  keepable appointments per seller on ``APPOINTMENT_DATE``);
- ``reps.xlsx`` (HR roster): 20 people, 工号, 姓名, 团队, 职级 (经理/主管/储备主管/
  销售), 驻点, 直属上级, 入职日期, 老销售 (是/否);
- ``offices.csv`` (GB18030): the one office (状态 现有) in the provincial
  capital; no candidate sites, so the bases job generates them;
- ``markets.csv`` (UTF-8 with BOM): the province's and its nearest
  neighbouring province's prefectures (区划代码, 城市, 城市等级, 沿海, 大区);
- ``cadres.xlsx``: the bench (员工编号, 姓名, 职级, 所在城市, 经历市场, 考核分,
  就绪季度, 愿意外派);
- ``people.xlsx``, ``forecasts.csv``, ``actuals.csv``, ``targets.csv``,
  ``territories.csv``: the targets job's tables (the same 20 people as the
  reporting tree, 15 months of history, forecasts and targets for ``MONTH``).

A point whose GCJ-02 form the loader would judge off the mainland (within
about half a kilometre of the Hong Kong or Macau border) is redrawn, so every
row loads; the loader's judgement there is a known limitation
(``tests/test_anywhere.py``). Prefecture-level units whose adcode does not end
in ``00`` (Hubei's Xiantao 429004, Hainan's county-level cities) are kept as
they are: a user's data holds them too.

Everything is synthetic and says so: every name ends in "（合成）" and every
file has a ``synthetic`` column (true). City tiers are an assumption (the
capitals tier 2, the others by their number of towns); ``ProvinceDemo`` keeps
the canonical tables in WGS-84 (the truth a test compares the loaded files with).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.errors import raise_if_any

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

DEFAULT_PROVINCE = "440000"  # Guangdong
DEFAULT_SEED = 20270315
TODAY = date(2027, 3, 15)  # a Monday: the export's "today"
APPOINTMENT_DATE = TODAY + timedelta(days=1)  # the working day the appointments are booked on
MONTH = TODAY.strftime("%Y-%m")  # the month the targets job plans
MARK = "（合成）"  # every synthetic name ends with it
FILES = ("accounts", "reps", "offices", "markets", "cadres", "people", "forecasts", "actuals", "targets",
         "territories")
# The capital's prefecture of each province with prefectures (municipalities have none to spread over).
CAPITALS: Mapping[str, str] = MappingProxyType({
    "130000": "130100", "140000": "140100", "150000": "150100", "210000": "210100", "220000": "220100",
    "230000": "230100", "320000": "320100", "330000": "330100", "340000": "340100", "350000": "350100",
    "360000": "360100", "370000": "370100", "410000": "410100", "420000": "420100", "430000": "430100",
    "440000": "440100", "450000": "450100", "460000": "460100", "510000": "510100", "520000": "520100",
    "530000": "530100", "540000": "540100", "610000": "610100", "620000": "620100", "630000": "630100",
    "640000": "640100", "650000": "650100"})
# 大区 by the first two digits of the adcode (a common commercial split: an assumption)
_REGIONS: Mapping[str, str] = MappingProxyType({
    **dict.fromkeys(("11", "12", "13", "14", "15"), "华北"), **dict.fromkeys(("21", "22", "23"), "东北"),
    **dict.fromkeys(("31", "32", "33", "34", "35", "36", "37"), "华东"),
    **dict.fromkeys(("41", "42", "43"), "华中"), **dict.fromkeys(("44", "45", "46"), "华南"),
    **dict.fromkeys(("50", "51", "52", "53", "54"), "西南"), **dict.fromkeys(("61", "62", "63", "64", "65"), "西北")})
_INDUSTRIES = ("电子制造", "五金机械", "家具建材", "纺织服装", "食品饮料", "化工塑料", "商贸批发", "汽车配件",
               "家用电器", "物流仓储")
_COMPANY = ("有限公司", "实业有限公司", "贸易有限公司", "科技有限公司", "制造厂", "商行")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗梁"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建文斌"
_CLASS_ZH: Mapping[str, str] = MappingProxyType({"A": "A类", "B": "B类", "C": "C类"})
_STAGE_ZH: Mapping[str, str] = MappingProxyType({"new": "新客户", "follow-up": "跟进", "closing": "签约"})
_LEVEL_ZH: Mapping[str, str] = MappingProxyType(
    {"sales": "销售", "M0": "储备主管", "M1": "主管", "M1.5": "储备经理", "M2": "经理"})
_STAGES_ZH = ("收获", "成长", "成长", "耕耘", "耕耘", "耕耘", "播种", "播种")  # territories, nearest city first
_SEASON: Mapping[int, float] = MappingProxyType({1: 0.85, 2: 0.60, 12: 1.10})  # Chinese New Year dip
_DEAL_CNY = 30_000.0


@dataclass(frozen=True, kw_only=True)
class ProvinceConfig:
    """Size of the synthetic organisation (``generate``)."""

    province: str = DEFAULT_PROVINCE
    seed: int = DEFAULT_SEED
    n_accounts: int = 2000
    n_reps: int = 20
    n_prefectures: int = 8
    n_cadres: int = 30
    history_months: int = 15
    jitter_m: float = 1500.0

    def __post_init__(self) -> None:
        problems = []
        if str(self.province) not in CAPITALS:
            problems.append(f"province {self.province!r}: give the adcode of a province with prefectures "
                            f"({', '.join(CAPITALS)})")
        if self.n_accounts < 100:
            problems.append("n_accounts must be at least 100")
        if self.n_reps < 8:
            problems.append("n_reps must be at least 8 (a manager, three supervisors, sellers)")
        if self.n_prefectures < 1 or self.n_cadres < 1:
            problems.append("n_prefectures and n_cadres must be at least 1")
        if self.history_months < 12:
            problems.append("history_months must be at least 12")
        raise_if_any(problems, what="province demo settings")


@dataclass(frozen=True)
class Area:
    """Where the organisation works: the capital, its prefectures and counties, the office's county."""

    province: str
    capital: str  # prefecture adcode
    prefectures: tuple[str, ...]  # the capital's first, then by distance
    neighbour: str  # the nearest province sharing a border (of an island: the nearest province)
    counties: gpd.GeoDataFrame  # the counties of ``prefectures``
    office_county: str
    office_wgs: tuple[float, float]

    @property
    def office_id(self) -> str:
        return f"BGS-{self.office_county}"


@dataclass(frozen=True)
class ProvinceDemo:
    """The canonical tables (WGS-84; the truth a test compares the files with), the area and the files."""

    area: Area
    tables: Mapping[str, pd.DataFrame]
    paths: tuple[Path, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def office_id(self) -> str:
        return self.area.office_id


# --------------------------------------------------------------------------- the area
def area_of(province: str, n_prefectures: int = 8) -> Area:
    """The capital's prefecture and its nearest ``n_prefectures - 1`` prefectures of ``province``."""
    import shapely

    units = geo.admin_units().set_index("adcode")
    counties = geo.load_units("county", area=province)
    capital = CAPITALS[province]
    prefs = sorted(set(counties["prefecture_adcode"]))
    seat = units.loc[prefs, ["seat_lon", "seat_lat"]].to_numpy(float)
    c = units.loc[capital, ["seat_lon", "seat_lat"]].to_numpy(float)
    dist = np.hypot((seat[:, 0] - c[0]) * np.cos(np.radians(c[1])), seat[:, 1] - c[1])
    chosen = tuple(prefs[i] for i in np.argsort(dist, kind="stable")[:n_prefectures])
    counties = counties[counties["prefecture_adcode"].isin(chosen)].reset_index(drop=True)
    where = geo.locate([c[0]], [c[1]]).iloc[0]
    county = str(where["county_adcode"]) if where["county_adcode"] else str(
        counties[counties["prefecture_adcode"] == capital]["adcode"].iloc[0])
    poly = counties.set_index("adcode").geometry[county]
    cs = units.loc[county, ["seat_lon", "seat_lat"]].to_numpy(float) if county in units.index else c
    office = (round(float(cs[0]) + 0.004, 6), round(float(cs[1]) + 0.003, 6))  # a street off the seat
    if not shapely.contains_xy(poly, *office):
        p = shapely.point_on_surface(poly)
        office = (round(p.x, 6), round(p.y, 6))
    return Area(province=province, capital=capital, prefectures=chosen, neighbour=_neighbour(province),
                counties=counties, office_county=county, office_wgs=office)


def _neighbour(province: str) -> str:
    """The province sharing a border with ``province`` whose capital is nearest to its capital (an island
    province: the nearest capital of any province)."""
    import shapely

    prefs = geo.load_units("prefecture")
    prefs = prefs[prefs["planning_area"] & prefs["province_adcode"].isin(CAPITALS)]
    mine = shapely.union_all(prefs[prefs["province_adcode"] == province].geometry.to_numpy()).buffer(0.05)
    touching = sorted(set(prefs[prefs.intersects(mine)]["province_adcode"]) - {province}) or \
        sorted(set(CAPITALS) - {province})
    units = geo.admin_units().set_index("adcode")
    c = units.loc[CAPITALS[province], ["seat_lon", "seat_lat"]].to_numpy(float)
    d = [float(np.hypot(*(units.loc[CAPITALS[p], ["seat_lon", "seat_lat"]].to_numpy(float) - c)))
         for p in touching]
    return touching[int(np.argmin(d))]


def _anchors(area: Area) -> dict[str, np.ndarray]:
    """Per county: its seat (twice: towns cluster around it) and its GeoNames towns, those inside it."""
    import shapely

    units = geo.admin_units().set_index("adcode")
    towns = geo.towns(area.province)
    out = {}
    for code, poly in zip(area.counties["adcode"], area.counties.geometry):
        t = towns[towns["county_adcode"] == code][["lon", "lat"]].to_numpy(float)
        seat = units.loc[[code], ["seat_lon", "seat_lat"]].to_numpy(float) if code in units.index \
            else np.empty((0, 2))
        pts = np.vstack([seat, seat, t])
        pts = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
        if not len(pts):
            p = shapely.point_on_surface(poly)
            pts = np.array([[p.x, p.y]])
        out[code] = pts
    return out


def _placeable(poly: BaseGeometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Inside the county, and its GCJ-02 form still on the mainland (the loader judges the file's point)."""
    import shapely

    from planner.geo import coords

    ok = shapely.contains_xy(poly, lon, lat)
    if ok.any():
        g_lon, g_lat = coords.from_wgs84(lon[ok], lat[ok], "gcj02")
        ok[ok] = coords.in_mainland(g_lon, g_lat)
    return ok


def _place(rng: np.random.Generator, anchors: np.ndarray, poly: BaseGeometry, n: int, jitter_m: float) -> np.ndarray:
    """``n`` points around random ``anchors``, a normal jitter of ``jitter_m``, redrawn until placeable."""
    pts = np.empty((n, 2))
    todo = np.arange(n)
    base = anchors[rng.integers(0, len(anchors), size=n)]
    lat0 = np.radians(base[:, 1].mean())
    scale = np.array([jitter_m / (111_320.0 * np.cos(lat0)), jitter_m / 110_540.0])
    for attempt in range(60):  # a point at sea or across the border is redrawn, a little closer each time
        cand = base[todo] + rng.normal(size=(len(todo), 2)) * scale * (0.97 ** attempt)
        ok = _placeable(poly, cand[:, 0], cand[:, 1])
        pts[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if not len(todo):
            break
    pts[todo] = base[todo]
    return np.round(pts, 6)


# --------------------------------------------------------------------------- the tables
def _names(rng: np.random.Generator, n: int) -> list[str]:
    """Chinese-looking personal names, marked synthetic."""
    given = [rng.choice(list(_GIVEN), size=int(k)) for k in rng.integers(1, 3, size=n)]
    return [f"{_SURNAMES[int(s)]}{''.join(g)}{MARK}" for s, g in zip(rng.integers(0, len(_SURNAMES), n), given)]


def _rep_ids(n: int) -> list[str]:
    return [str(10000 + i) for i in range(1, n + 1)]


def _reps(cfg: ProvinceConfig, rng: np.random.Generator, area: Area) -> pd.DataFrame:
    """One manager (经理), three supervisors (主管) and the sellers, two of them reserve supervisors."""
    ids = _rep_ids(cfg.n_reps)
    n_sell = cfg.n_reps - 4
    tenure = rng.integers(30, 6 * 365, size=cfg.n_reps)
    tenure[:4] = rng.integers(3 * 365, 8 * 365, size=4)
    levels = ["M2", "M1", "M1", "M1"] + ["sales"] * n_sell
    for i in np.argsort(-tenure[4:], kind="stable")[:2] + 4:
        levels[int(i)] = "M0"
    teams = ["管理组", "一组", "二组", "三组"] + [("一组", "二组", "三组")[i % 3] for i in range(n_sell)]
    return pd.DataFrame({
        S.ID: ids, S.NAME: _names(rng, cfg.n_reps), S.TEAM: teams, S.LEVEL: levels,
        S.BASE_OFFICE: area.office_id,
        S.MANAGER: ["", ids[0], ids[0], ids[0]] + [ids[1 + i % 3] for i in range(n_sell)],
        S.START_DATE: [(TODAY - timedelta(days=int(d))).isoformat() for d in tenure],
        S.EXPERIENCED: tenure > 2 * 365, S.SYNTHETIC: True,
    })


def _county_counts(cfg: ProvinceConfig, rng: np.random.Generator, area: Area,
                   anchors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Accounts per county: a multinomial draw; weights grow with the county's towns, the capital's doubled."""
    codes = area.counties["adcode"].to_numpy()
    w = np.array([np.sqrt(len(anchors[c])) for c in codes]) * rng.lognormal(0.0, 0.6, size=len(codes))
    w *= np.where(area.counties["prefecture_adcode"].to_numpy() == area.capital, 2.0, 1.0)
    return rng.multinomial(cfg.n_accounts, w / w.sum())


def _account_points(cfg: ProvinceConfig, rng: np.random.Generator, area: Area) -> tuple[np.ndarray, np.ndarray]:
    """(WGS-84 lon/lat, county adcode) of every account, shuffled."""
    anchors = _anchors(area)
    counts = _county_counts(cfg, rng, area, anchors)
    polys = dict(zip(area.counties["adcode"], area.counties.geometry))
    pts, county = [], []
    for code, k in zip(area.counties["adcode"], counts):
        if k:
            pts.append(_place(rng, anchors[code], polys[code], int(k), cfg.jitter_m))
            county.extend([code] * int(k))
    order = rng.permutation(cfg.n_accounts)
    return np.vstack(pts)[order], np.asarray(county)[order]


def _accounts(cfg: ProvinceConfig, rng: np.random.Generator, area: Area, reps: pd.DataFrame) -> pd.DataFrame:
    """The accounts (canonical columns, WGS-84) with ``county_adcode``; appointments booked later."""
    lonlat, county = _account_points(cfg, rng, area)
    n = len(lonlat)
    is_cust = rng.random(n) < 0.3
    cls = np.where(is_cust, rng.choice(list(S.CLASSES), size=n, p=[0.25, 0.45, 0.30]),
                   rng.choice(list(S.CLASSES), size=n, p=[0.10, 0.30, 0.60]))
    owned = is_cust | (rng.random(n) < 0.4)
    sellers = reps.loc[reps[S.LEVEL].isin(S.SELLER_LEVELS), S.ID].to_numpy()
    owner = np.where(owned, rng.choice(sellers, size=n), S.PUBLIC_POOL)
    median = np.array([{"A": 150_000.0, "B": 60_000.0, "C": 20_000.0}[c] for c in cls])
    stage = np.where(~owned, "new", np.where(is_cust, rng.choice(["follow-up", "closing"], size=n, p=[0.7, 0.3]),
                                             rng.choice(list(S.STAGES), size=n, p=[0.15, 0.60, 0.25])))
    days_ago = np.where(owned, rng.integers(1, 150, size=n), rng.integers(100, 400, size=n))
    never = ~owned & (rng.random(n) < 0.5)
    industry = rng.choice(list(_INDUSTRIES), size=n)
    towns = geo.towns(area.province)
    place = {c: g["name_zh"].dropna().tolist() for c, g in towns.groupby("county_adcode")}
    cname = geo.admin_units().set_index("adcode")["name_zh"]
    names = []
    for i in range(n):
        opts = place.get(county[i]) or [str(cname.get(county[i], ""))]
        names.append(f"{opts[int(rng.integers(0, len(opts)))]}{industry[i][:2]}"
                     f"{_COMPANY[int(rng.integers(0, len(_COMPANY)))]}{i + 1}号{MARK}")
    return pd.DataFrame({
        S.ID: [f"KH{i + 1:06d}" for i in range(n)], S.NAME: names, S.LON: lonlat[:, 0], S.LAT: lonlat[:, 1],
        S.STATUS: np.where(is_cust, "customer", "prospect"), S.OWNER: owner, S.CLASS: cls, S.INDUSTRY: industry,
        S.POTENTIAL_CNY: np.round(median * rng.lognormal(0.0, 0.5, size=n), -2), S.STAGE: stage,
        S.LAST_VISIT: [None if nv else (TODAY - timedelta(days=int(d))).isoformat() for nv, d in zip(never, days_ago)],
        S.APPT_START: None, S.APPT_END: None, S.SYNTHETIC: True, "county_adcode": county,
    })


def _book_appointments(rng: np.random.Generator, accounts: pd.DataFrame, reps: pd.DataFrame, area: Area) -> None:
    """Two one-hour appointments per seller on ``APPOINTMENT_DATE`` on owned accounts due a follow-up or
    closing, each keepable: out of the office at the day's start, there by the start, back by the day's end
    (``DayOptions`` defaults, travel rounded up to whole minutes), the afternoon one reachable after the
    morning one."""
    from planner.geo.travel import travel_matrix
    from planner.solvers.days import DayOptions

    day = DayOptions()
    day0, day1, slack = day.day_start_min * 60, day.day_end_min * 60, day.appointment_slack_min * 60
    morning, afternoon = (time(9, 30), time(10, 30)), (time(14, 0), time(15, 0), time(16, 0))
    due = (accounts[S.STAGE] != "new").to_numpy()
    for rep in reps.loc[reps[S.LEVEL].isin(S.SELLER_LEVELS), S.ID]:
        cand = np.flatnonzero((accounts[S.OWNER] == rep).to_numpy() & due)
        if not len(cand):
            continue
        pts = np.vstack([area.office_wgs, accounts.loc[cand, [S.LON, S.LAT]].to_numpy(float)])
        tt = np.ceil(travel_matrix(pts).time_s.astype(np.float64) / 60.0) * 60
        prev: tuple[int, int] | None = None
        for slots in (morning, afternoon):
            s = slots[int(rng.integers(0, len(slots)))]
            s0 = s.hour * 3600 + s.minute * 60
            ok = (day0 + tt[0, 1:] <= s0 + slack) & (s0 + 3600 + tt[1:, 0] <= day1)
            if prev is not None:
                ok &= prev[1] + tt[prev[0], 1:] <= s0 + slack
                ok[prev[0] - 1] = False
            if not ok.any():
                continue
            k = int(rng.choice(np.flatnonzero(ok)))
            prev = (k + 1, s0 + 3600)
            start = datetime.combine(APPOINTMENT_DATE, s)
            accounts.loc[cand[k], S.APPT_START] = start.isoformat(timespec="minutes")
            accounts.loc[cand[k], S.APPT_END] = (start + timedelta(hours=1)).isoformat(timespec="minutes")


def _offices(area: Area) -> pd.DataFrame:
    """The one office today (no candidate sites: the bases job generates them)."""
    cname = geo.admin_units().set_index("adcode")["name_zh"]
    return pd.DataFrame([{
        S.ID: area.office_id, S.NAME: f"{cname[area.capital]}{cname.get(area.office_county, '')}办公室{MARK}",
        S.LON: area.office_wgs[0], S.LAT: area.office_wgs[1], S.DESKS: 30, S.OFFICE_STATUS: "current",
        S.MONTHLY_COST_CNY: 55000.0, S.OFFICE_KIND: "office", S.ADCODE: area.office_county, S.SYNTHETIC: True}])


def _markets(area: Area) -> pd.DataFrame:
    """Candidate cities: the prefectures of the province and of its neighbour. Tiers are an assumption:
    the two capitals tier 2; the others by their number of GeoNames towns (top quarter 3, bottom quarter 5)."""
    import shapely

    prefs = geo.load_units("prefecture")
    prefs = prefs[prefs["planning_area"] & prefs["province_adcode"].isin({area.province, area.neighbour})]
    prefs = prefs.sort_values("adcode").reset_index(drop=True)
    n_towns = geo.towns().groupby("prefecture_adcode").size()
    size = prefs["adcode"].map(n_towns).fillna(0).to_numpy(float)
    rank = pd.Series(size).rank(pct=True).to_numpy()
    tier = np.where(rank > 0.75, 3, np.where(rank > 0.25, 4, 5))
    tier[prefs["adcode"].isin({CAPITALS[area.province], CAPITALS.get(area.neighbour, "")}).to_numpy()] = 2
    coast = shapely.boundary(geo.china_region("china"))
    coastal = np.array([shapely.distance(g, coast) < 0.3 for g in prefs.geometry], dtype=bool)
    return pd.DataFrame({
        S.ADCODE: prefs["adcode"].to_numpy(), S.NAME: prefs["name_zh"].to_numpy(), S.TIER: tier,
        S.COASTAL: np.where(coastal, "coastal", "inland"),
        S.REGION: [_REGIONS.get(str(p)[:2], "其他") for p in prefs["province_adcode"]], S.SYNTHETIC: True})


def _cadres(cfg: ProvinceConfig, rng: np.random.Generator, area: Area, markets: pd.DataFrame) -> pd.DataFrame:
    """The bench: managers, reserve managers, supervisors, reserve supervisors and experienced reps."""
    lv = ["M2"] * 3 + ["M1.5"] * 4 + ["M1"] * 8 + ["M0"] * 8 + ["sales"] * 7
    lv = (lv * (cfg.n_cadres // len(lv) + 1))[: cfg.n_cadres]
    others = [p for p in area.prefectures if p != area.capital] or [area.capital]
    home = np.where(rng.random(cfg.n_cadres) < 0.6, area.capital, rng.choice(others, size=cfg.n_cadres))
    codes = markets[S.ADCODE].tolist()
    served = [";".join(sorted({h, *rng.choice(codes, size=int(rng.integers(0, 3)), replace=False).tolist()}))
              for h in home]
    return pd.DataFrame({
        S.ID: [str(20000 + i) for i in range(1, cfg.n_cadres + 1)], S.NAME: _names(rng, cfg.n_cadres),
        S.LEVEL: lv, S.CURRENT_CITY: home, S.MARKETS_SERVED: served,
        S.REVIEW_SCORE: np.round(rng.uniform(60, 98, size=cfg.n_cadres), 1),
        S.READY_IN_QUARTERS: rng.choice([0, 0, 1, 2, 3], size=cfg.n_cadres),
        S.WILLING_TO_RELOCATE: rng.random(cfg.n_cadres) < 0.7, S.SYNTHETIC: True})


def _add_months(month: str, k: int) -> str:
    t = int(month[:4]) * 12 + int(month[5:7]) - 1 + k
    return f"{t // 12:04d}-{t % 12 + 1:02d}"


def _monthly(cfg: ProvinceConfig, rng: np.random.Generator, reps: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Forecasts, actuals and targets of every seller: ``history_months`` months before ``MONTH`` (from the
    month a new hire joined, ramping up over six months), the forecast and target for ``MONTH`` and targets
    for the two months after. Deals ~ Poisson(skill x season x ramp), ~30,000 each; forecasts carry the
    rep's bias (optimists, realists, cautious); targets 5-30% above the expected result."""
    hist = [_add_months(MONTH, -k) for k in range(cfg.history_months, 0, -1)]
    plan = [_add_months(MONTH, k) for k in range(3)]
    f_rows: list[tuple[str, str, float]] = []
    a_rows: list[tuple[str, str, float, int]] = []
    t_rows: list[tuple[str, str, float]] = []
    sellers = reps[reps[S.LEVEL].isin(S.SELLER_LEVELS)]
    for rep, start in zip(sellers[S.ID], sellers[S.START_DATE]):
        joined = str(start)[:7]
        skill = float(rng.lognormal(np.log(2.0), 0.35))
        bias = float(rng.choice([rng.uniform(1.4, 1.9), rng.uniform(0.9, 1.1), rng.uniform(0.65, 0.85)],
                                p=[0.2, 0.5, 0.3]))
        up = float(rng.uniform(1.05, 1.30))
        months = [m for m in hist + plan if m >= joined]
        for m in months:
            age = (int(m[:4]) * 12 + int(m[5:7])) - (int(joined[:4]) * 12 + int(joined[5:7]))
            expect = skill * _SEASON.get(int(m[5:7]), 1.0) * min(1.0, (age + 1) / 6.0) * _DEAL_CNY
            t_rows.append((rep, m, round(max(30_000.0, expect * up), -3)))
            if m > MONTH:
                continue
            f_rows.append((rep, m, round(expect * bias * float(rng.lognormal(0, 0.15)), -3)))
            if m < MONTH:
                deals = int(rng.poisson(expect / _DEAL_CNY))
                amount = sum(_DEAL_CNY * float(rng.lognormal(-0.06, 0.35)) for _ in range(deals))
                a_rows.append((rep, m, round(amount, -2), deals))
    return {"forecasts": pd.DataFrame(f_rows, columns=[S.PERSON, S.MONTH, S.FORECAST_CNY]),
            "actuals": pd.DataFrame(a_rows, columns=[S.PERSON, S.MONTH, S.ACTUAL_CNY, S.DEALS]),
            "targets": pd.DataFrame(t_rows, columns=[S.PERSON, S.MONTH, S.TARGET_CNY])}


def _territories(accounts: pd.DataFrame, area: Area) -> pd.DataFrame:
    """The prefectures worked: monthly potential = a twelfth of the accounts' potential x 10% (an assumption),
    market stages by distance from the capital (nearest harvesting, farthest sowing)."""
    names = geo.admin_units().set_index("adcode")["name_zh"]
    prefecture = dict(zip(area.counties["adcode"], area.counties["prefecture_adcode"]))
    pot = accounts.groupby(accounts["county_adcode"].map(prefecture))[S.POTENTIAL_CNY].sum() / 12.0 * 0.10
    return pd.DataFrame({
        S.ID: list(area.prefectures), S.NAME: [names[p] for p in area.prefectures],
        S.POTENTIAL_CNY: [int(round(float(pot.get(p, 0.0)), -3)) for p in area.prefectures],
        S.MARKET_STAGE: [_STAGES_ZH[min(i, len(_STAGES_ZH) - 1)] for i in range(len(area.prefectures))],
        S.SYNTHETIC: True})


def generate(province: str = DEFAULT_PROVINCE, *, seed: int = DEFAULT_SEED,
             config: ProvinceConfig | None = None) -> ProvinceDemo:
    """Build the organisation deterministically from the seed (canonical columns, WGS-84).

    One random generator feeds, in this order: the reps, the accounts (points, attributes, names), the
    appointments, the cadres, and the sellers' monthly figures."""
    cfg = config or ProvinceConfig(province=str(province), seed=seed)
    rng = np.random.default_rng(cfg.seed)
    area = area_of(cfg.province, cfg.n_prefectures)
    reps = _reps(cfg, rng, area)
    accounts = _accounts(cfg, rng, area, reps)
    _book_appointments(rng, accounts, reps, area)
    markets = _markets(area)
    tables = {"accounts": accounts, "reps": reps, "offices": _offices(area), "markets": markets,
              "cadres": _cadres(cfg, rng, area, markets), "people": reps.copy(), **_monthly(cfg, rng, reps),
              "territories": _territories(accounts, area)}
    for name in ("forecasts", "actuals", "targets"):
        tables[name][S.SYNTHETIC] = True
    return ProvinceDemo(area=area, tables=tables,
                        extra={"appointment_date": APPOINTMENT_DATE, "month": MONTH, "seed": cfg.seed})


# --------------------------------------------------------------------------- the export
def _yes_no(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "是" if bool(v) else "否")


def _gcj(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    from planner.geo import coords

    lon, lat = coords.from_wgs84(df[S.LON].to_numpy(float), df[S.LAT].to_numpy(float), "gcj02")
    return np.round(lon, 6), np.round(lat, 6)


def _slash_date(values: pd.Series) -> pd.Series:
    """``2027-03-01`` -> ``2027/3/1``, as Chinese spreadsheets show dates; empty stays empty."""
    return values.map(lambda v: "" if v is None or pd.isna(v) else
                      f"{int(str(v)[:4])}/{int(str(v)[5:7])}/{int(str(v)[8:10])}{str(v)[10:].replace('T', ' ')}")


def export_accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    """The accounts as a CRM export: Chinese headers and values, GCJ-02 coordinates."""
    lon, lat = _gcj(accounts)
    return pd.DataFrame({
        "客户编号": accounts[S.ID], "客户名称": accounts[S.NAME], "经度": lon, "纬度": lat,
        "客户状态": accounts[S.STATUS].map({"customer": "成交客户", "prospect": "意向客户"}),
        "负责人": accounts[S.OWNER].replace({S.PUBLIC_POOL: "公海"}), "客户等级": accounts[S.CLASS].map(_CLASS_ZH),
        "所属行业": accounts[S.INDUSTRY], "潜力金额": accounts[S.POTENTIAL_CNY].astype(int),
        "销售阶段": accounts[S.STAGE].map(_STAGE_ZH), "最后拜访日期": _slash_date(accounts[S.LAST_VISIT]),
        "预约开始": _slash_date(accounts[S.APPT_START]), "预约结束": _slash_date(accounts[S.APPT_END]),
        "synthetic": "true"})


def export_people(reps: pd.DataFrame) -> pd.DataFrame:
    """The reps (and the targets job's people) as an HR roster."""
    return pd.DataFrame({
        "工号": reps[S.ID], "姓名": reps[S.NAME], "团队": reps[S.TEAM], "职级": reps[S.LEVEL].map(_LEVEL_ZH),
        "驻点": reps[S.BASE_OFFICE], "直属上级": reps[S.MANAGER], "入职日期": _slash_date(reps[S.START_DATE]),
        "老销售": _yes_no(reps[S.EXPERIENCED]), "synthetic": "true"})


def export_offices(offices: pd.DataFrame) -> pd.DataFrame:
    lon, lat = _gcj(offices)
    return pd.DataFrame({
        "编号": offices[S.ID], "名称": offices[S.NAME], "经度": lon, "纬度": lat, "工位数": offices[S.DESKS],
        "状态": offices[S.OFFICE_STATUS].map({"current": "现有", "candidate": "候选"}),
        "月成本": offices[S.MONTHLY_COST_CNY].astype(int),
        "类型": offices[S.OFFICE_KIND].map({"office": "办公室", "county_seat": "县城", "town": "镇"}),
        "区划代码": offices[S.ADCODE], "synthetic": "true"})


def export_tables(demo: ProvinceDemo) -> dict[str, pd.DataFrame]:
    """Every table as the organisation's exports show it (Chinese headers and values, GCJ-02)."""
    t = demo.tables
    mk, cd = t["markets"], t["cadres"]
    month = lambda s: s.map(lambda m: f"{m[:4]}年{int(m[5:7])}月")
    return {
        "accounts": export_accounts(t["accounts"]), "reps": export_people(t["reps"]),
        "offices": export_offices(t["offices"]),
        "markets": pd.DataFrame({"区划代码": mk[S.ADCODE], "城市": mk[S.NAME], "城市等级": mk[S.TIER],
                                 "沿海": mk[S.COASTAL].map({"coastal": "沿海", "inland": "内陆"}),
                                 "大区": mk[S.REGION], "synthetic": "true"}),
        "cadres": pd.DataFrame({"员工编号": cd[S.ID], "姓名": cd[S.NAME], "职级": cd[S.LEVEL].map(_LEVEL_ZH),
                                "所在城市": cd[S.CURRENT_CITY],
                                "经历市场": cd[S.MARKETS_SERVED].str.replace(";", "，"),
                                "考核分": cd[S.REVIEW_SCORE], "就绪季度": cd[S.READY_IN_QUARTERS],
                                "愿意外派": _yes_no(cd[S.WILLING_TO_RELOCATE]), "synthetic": "true"}),
        "people": export_people(t["people"]),
        "forecasts": pd.DataFrame({"工号": t["forecasts"][S.PERSON], "月份": month(t["forecasts"][S.MONTH]),
                                   "预测业绩": t["forecasts"][S.FORECAST_CNY].astype(int), "synthetic": "true"}),
        "actuals": pd.DataFrame({"工号": t["actuals"][S.PERSON], "月份": month(t["actuals"][S.MONTH]),
                                 "实际业绩": t["actuals"][S.ACTUAL_CNY].astype(int), "签单数": t["actuals"][S.DEALS],
                                 "synthetic": "true"}),
        "targets": pd.DataFrame({"工号": t["targets"][S.PERSON], "月份": month(t["targets"][S.MONTH]),
                                 "目标业绩": t["targets"][S.TARGET_CNY].astype(int), "synthetic": "true"}),
        "territories": pd.DataFrame({"区划代码": t["territories"][S.ID], "城市": t["territories"][S.NAME],
                                     "月潜力": t["territories"][S.POTENTIAL_CNY],
                                     "市场阶段": t["territories"][S.MARKET_STAGE], "synthetic": "true"}),
    }


# How each table is written: (suffix, encoding of a text file or the Excel sheet's name)
FORMATS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "accounts": (".csv", "gb18030"), "reps": (".xlsx", "花名册"), "offices": (".csv", "gb18030"),
    "markets": (".csv", "utf-8-sig"), "cadres": (".xlsx", "后备干部"), "people": (".xlsx", "组织架构"),
    "forecasts": (".csv", "gb18030"), "actuals": (".csv", "gb18030"), "targets": (".csv", "gb18030"),
    "territories": (".csv", "gb18030")})
CONFIG_TEXT = ('# A synthetic organisation written by planner.demo.province: every file is an Amap (GCJ-02)\n'
               '# export; the tables are named after their entities, so nothing else needs declaring.\n'
               'crs = "gcj02"\n')


def _excel_cells(df: pd.DataFrame) -> pd.DataFrame:
    """As an HR system's Excel export types its cells: staff numbers and adcodes as numbers, dates as dates."""
    out = df.copy()
    for col in ("工号", "员工编号", "直属上级", "所在城市"):
        if col in out:
            out[col] = pd.to_numeric(out[col].replace("", None)).astype("Int64")
    if "入职日期" in out:
        out["入职日期"] = pd.to_datetime(out["入职日期"], format="%Y/%m/%d")
    return out


def write(out_dir: str | Path, *, province: str = DEFAULT_PROVINCE, seed: int = DEFAULT_SEED) -> ProvinceDemo:
    """Generate the organisation (``generate``) and write its folder (module docstring); returns the
    canonical WGS-84 tables with the paths written."""
    demo = generate(province, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in export_tables(demo).items():
        suffix, how = FORMATS[name]
        p = out / f"{name}{suffix}"
        if suffix == ".xlsx":
            _excel_cells(df).to_excel(p, sheet_name=how, index=False, engine="openpyxl")
        else:
            p.write_bytes(df.to_csv(index=False, lineterminator="\r\n").encode(how))
        paths.append(p)
    cfg = out / "planner.toml"
    cfg.write_text(CONFIG_TEXT, encoding="utf-8")
    return replace(demo, paths=(*paths, cfg))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m planner.demo.province OUT [--province ADCODE] [--seed N]``."""
    p = argparse.ArgumentParser(prog="python -m planner.demo.province",
                                description="Write a synthetic organisation's folder (CRM and HR exports, "
                                            "GCJ-02) in any province.")
    p.add_argument("out", help="output folder")
    p.add_argument("--province", default=DEFAULT_PROVINCE, help=f"province adcode (default {DEFAULT_PROVINCE})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = p.parse_args(argv)
    demo = write(args.out, province=args.province, seed=args.seed)
    for path in demo.paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
