"""A seeded visit log for the Fujian demo team, with planted fakes: what the visit audit is measured on.

``make(accounts, reps, offices)`` returns ``(visits, truth)``; ``write(folder)`` writes ``visits.csv`` as a
Chinese CRM exports it (Chinese headers, 上门/电话, positions in GCJ-02 as the phones report them, GB18030)
and ``visits_truth.csv``; ``python -m planner.demo.visits [OUT]`` (default: the packaged demo folder).
Load the log with ``crs="gcj02"``.  Every row is labelled synthetic.

Honest records are generated physically.  Each selling rep (the reps owning accounts), each working
day (Monday to Friday, a Saturday now and then), leaves the base office at about 08:00 (about 10:00 on
his weekly office morning, after one or two calls from the office), drives to a cluster of 5-8 of his
own accounts (the least recently seen account and its nearest neighbours, in nearest-neighbour order),
and is back by 18:30.  Every leg takes the built-in travel model's time
(:func:`planner.geo.travel.travel_matrix`) times a factor of 1.0-1.4; visits last 25-90 minutes
(shortened, never below 25, when the day would not fit).  A check-in is the account's position plus
GPS noise (normal, sigma 20 m, clipped at 150 m).  Calls (kind ``call``, 5-20 min) are made from the
office (a position within metres of the base) or on the road (no position), between 08:30 and 18:00.
Most records name a contact role and their notes, when they name a role, name the same one.

So honest records keep to the physics: consecutive check-ins need < 50 km/h in a straight line, every
visit is checked in < 150 m from its account, between 07:00 and 19:00, and lasts >= 25 min.

Planted fakes (``truth``: one row per planted record, ``reasons`` every check that holds by
construction, ``evidence`` the numbers), at most one kind per rep and day, spread over reps and weeks:

- ``far_from_account``: an honest check-in relabelled to another account of the rep 3-25 km from
  where the phone was (the rep was elsewhere);
- ``impossible_speed``: a 15-20 min visit at a real account of the rep 60-150 km away, checked in at
  that account, slipped into the 18-40 min drive between two honest visits (the first cut to 25 min):
  both the leg before and the leg after need >= 160 km/h, timed check-in to check-in (far more from the
  check-out before);
- ``overlap``: a 20-35 min visit at a nearby account (< 10 km; < 45 km/h from the visit's check-in, and
  from its own check-out to the next check-in) starting 20-40 min after an honest visit started and
  >= 15 min before it ended;
- ``call_as_visit``: an honest visit cut to 2-6 min, or (with ``far_from_account``) a 25-45 min
  "visit" checked in at the base office (< 40 m) for an account > 40 km away, on an office morning;
- ``outside_hours``: a visit at an account near the day's route checked in at 05:00-06:15, or checked
  out at 22:00-23:30;
- ``same_spot`` (with ``far_from_account``): a day of 4-6 check-ins from one spot (within 15 m) for
  accounts 5-25 km away from it, at plausible times;
- ``role_mismatch``: an honest visit whose role says the boss while the notes name a vice-president
  first (副总接待，总经理不在), or the vice-president while the notes name the purchaser.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from planner import schema as S
from planner.demo.scenario import demo_dir, workspace
from planner.geo import coords
from planner.geo.travel import haversine_matrix_m, travel_matrix

__all__ = ["DEFAULT_SEED", "DEFAULT_START", "DEFAULT_WEEKS", "HEADERS", "PLANTS", "TRUTH_COLUMNS", "export", "main",
           "make", "write"]

DEFAULT_SEED = 0
DEFAULT_START = "2026-11-02"  # a Monday
DEFAULT_WEEKS = 4
TRUTH_COLUMNS = ("visit_id", "planted", "reasons", "evidence")
# planted kind -> how many (same_spot: days of 4-6 records each); call_as_visit is half short, half at base
PLANTS: Mapping[str, int] = MappingProxyType({
    "far_from_account": 20, "impossible_speed": 20, "overlap": 20, "call_as_visit": 20, "outside_hours": 20,
    "same_spot": 5, "role_mismatch": 20})
# the CSV's headers, as the CRM names them (aliases of planner.schema.VISITS)
HEADERS: Mapping[str, str] = MappingProxyType({
    S.ID: "拜访编号", S.VISIT_REP: "工号", S.ACCOUNT: "客户编号", S.CHECK_IN: "签到时间", S.CHECK_OUT: "签退时间",
    S.LON: "经度", S.LAT: "纬度", S.VISIT_KIND: "拜访方式", S.CONTACT_ROLE: "联系人职务", S.NOTES: "备注",
    S.SYNTHETIC: "合成数据"})
ENCODING = "gb18030"

# the physics of an honest day (minutes after midnight, metres, minutes)
LEAVE_MIN = (7 * 60 + 45, 8 * 60 + 15)
OFFICE_LEAVE_MIN = (9 * 60 + 50, 10 * 60 + 10)
BACK_BY_MIN = 18 * 60 + 30
CALL_HOURS_MIN = (8 * 60 + 30, 18 * 60)
TRAVEL_FACTOR = (1.0, 1.4)
VISIT_MIN = (25.0, 90.0)
CALL_MIN = (5.0, 20.0)
STOPS = (5, 8)
GPS_SIGMA_M, GPS_CLIP_M = 20.0, 150.0
SATURDAY_SHARE = 0.25
# the planted fakes' margins
FAKE_SPEED_KMH = 160.0
FAKE_SPEED_KM = (60.0, 150.0)
FAR_KM = (3.0, 25.0)
BASE_FAR_KM = 40.0
SPOT_KM = (5.0, 25.0)
NEAR_KM = 10.0
PLAUSIBLE_KMH = 45.0

_ROLES = (("老板", 15), ("总经理", 15), ("董事长", 3), ("厂长", 7), ("副总", 10), ("副总经理", 5),
          ("采购经理", 20), ("采购主管", 10), ("生产经理", 5), ("外贸经理", 10))
_ROLE_NOTES = ("和{r}谈了报价", "{r}看了样品，下周回复", "给{r}送了样品", "{r}确认了下季度订单量", "向{r}介绍新产品",
               "{r}反馈交期偏紧，需要跟进", "和{r}对了账，催回款", "{r}亲自接待，谈了明年合作")
_PLAIN_NOTES = ("送样品，约了下次拜访", "了解明年需求", "对账催款", "介绍新产品目录", "跟进上次报价",
                "看了车间，产能饱满")
_CALL_NOTES = ("电话跟进{r}，确认交期", "电话和{r}约了拜访时间", "电话回复{r}的报价问题")
_CALL_PLAIN = ("电话确认发货时间", "电话约拜访时间", "电话催款")
# role_mismatch: (logged role, notes naming another rank first)
_MISMATCH = (("总经理", "副总接待，总经理不在"), ("老板", "副总经理接待，老板出差了"), ("董事长", "副总接待，谈了报价"),
             ("总经理", "只见到副总，总经理在开会"), ("副总", "采购经理接待，副总不在"), ("副总", "采购接待，谈了报价"))


@dataclass(frozen=True, eq=False)
class _World:
    """One rep's map: row 0 the base office, rows 1..n his accounts."""

    rep: str
    ids: np.ndarray
    pos: np.ndarray  # (n+1, 2) WGS-84 lon, lat
    km: np.ndarray  # straight-line km
    drive: np.ndarray  # minutes by the built-in travel model


@dataclass(eq=False)
class _Rec:
    rep: str
    day: date
    acc: int  # row in the rep's _World (>= 1)
    t_in: float  # minutes after midnight
    t_out: float
    lon: float
    lat: float
    kind: str = "visit"
    role: str = ""
    notes: str = ""
    reasons: tuple[str, ...] = ()
    evidence: str = ""


@dataclass(eq=False)
class _Day:
    world: _World
    day: date
    week: int
    office_morning: bool
    depart: float = 0.0
    recs: list[_Rec] = field(default_factory=list)
    planted: str = ""

    def visits(self) -> list[_Rec]:
        return sorted((r for r in self.recs if r.kind == "visit"), key=lambda r: r.t_in)

    def honest(self) -> list[_Rec]:
        return [r for r in self.visits() if not r.reasons]

    def accounts(self) -> set[int]:
        return {r.acc for r in self.recs}


# --- the rep's world and the physics -----------------------------------------------------------------------


def _worlds(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame) -> list[_World]:
    """The selling reps (those owning accounts) with their base office and accounts."""
    office = offices.drop_duplicates(S.ID).set_index(S.ID)
    out = []
    for _, rep in reps.sort_values(S.ID, kind="stable").iterrows():
        own = accounts[accounts[S.OWNER] == rep[S.ID]].sort_values(S.ID, kind="stable")
        if len(own) < STOPS[1] + 4 or rep[S.BASE_OFFICE] not in office.index:
            continue
        base = office.loc[rep[S.BASE_OFFICE], [S.LON, S.LAT]].to_numpy(float)
        pos = np.vstack([base, own[[S.LON, S.LAT]].to_numpy(float)])
        m = travel_matrix(pos)
        out.append(_World(rep=str(rep[S.ID]), ids=own[S.ID].astype(str).to_numpy(), pos=pos,
                          km=haversine_matrix_m(pos, pos) / 1000.0, drive=np.asarray(m.time_s, float) / 60.0))
    return out


def _jitter(rng: np.random.Generator, lon: float, lat: float, sigma_m: float, clip_m: float) -> tuple[float, float]:
    """A position ``sigma_m`` (normal, per axis) around (lon, lat), never farther than ``clip_m``."""
    dx, dy = rng.normal(0.0, sigma_m, 2)
    r = float(np.hypot(dx, dy))
    if r > clip_m:
        dx, dy = dx * clip_m / r, dy * clip_m / r
    return _offset(lon, lat, float(dx), float(dy))


def _offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    return (lon + east_m / (111_320.0 * np.cos(np.radians(lat))), lat + north_m / 110_574.0)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(haversine_matrix_m(np.array([a]), np.array([b]))[0, 0]) / 1000.0


def _at(rng: np.random.Generator, w: _World, acc: int) -> tuple[float, float]:
    """An honest check-in at account row ``acc``."""
    return _jitter(rng, float(w.pos[acc, 0]), float(w.pos[acc, 1]), GPS_SIGMA_M, GPS_CLIP_M)


def _pick(rng: np.random.Generator, items: Sequence[tuple[str, int]]) -> str:
    p = np.array([n for _, n in items], float)
    return items[int(rng.choice(len(items), p=p / p.sum()))][0]


def _talk(rng: np.random.Generator, *, call: bool = False) -> tuple[str, str]:
    """A contact role (most records) and notes that name no other role than it."""
    role = _pick(rng, _ROLES) if rng.random() < 0.85 else ""
    with_role, plain = (_CALL_NOTES, _CALL_PLAIN) if call else (_ROLE_NOTES, _PLAIN_NOTES)
    if role and rng.random() < 0.7:
        return role, str(rng.choice(with_role)).format(r=role)
    return role, str(rng.choice(plain)) if rng.random() < 0.9 else ""


# --- honest days -------------------------------------------------------------------------------------------


def _tour(w: _World, stops: np.ndarray) -> list[int]:
    """Nearest-neighbour order from the base office."""
    left, here, out = [int(s) for s in stops], 0, []
    while left:
        nxt = min(left, key=lambda s: (w.km[here, s], s))
        out.append(nxt)
        left.remove(nxt)
        here = nxt
    return out


def _fit(w: _World, rng: np.random.Generator, tour: list[int], depart: float
         ) -> tuple[list[int], np.ndarray, np.ndarray] | None:
    """The longest head of ``tour`` (>= 5 stops) that is back by 18:30: (stops, legs, durations)."""
    factors = rng.uniform(*TRAVEL_FACTOR, len(tour) + 1)
    durs = rng.uniform(*VISIT_MIN, len(tour))
    for k in range(len(tour), STOPS[0] - 1, -1):
        stops = tour[:k]
        legs = np.array([w.drive[a, b] for a, b in zip([0, *stops], stops)] + [w.drive[stops[-1], 0]])
        legs = legs * factors[: k + 1]
        slack = BACK_BY_MIN - depart - legs.sum() - VISIT_MIN[0] * k
        if slack < 0:
            continue
        extra = durs[:k] - VISIT_MIN[0]
        if extra.sum() > slack:
            extra = extra * slack / extra.sum()
        return stops, legs, VISIT_MIN[0] + extra
    return None


def _route(w: _World, rng: np.random.Generator, depart: float, last_seen: np.ndarray
           ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The day's stops around the least recently seen account that fits; nearer ones when none does."""
    n = len(w.ids)
    stale = np.lexsort((rng.random(n), last_seen))[:25] + 1
    near = np.argsort(w.km[0, 1:], kind="stable") + 1
    for seed in [*stale, *near]:
        k = int(rng.integers(STOPS[0], STOPS[1] + 1))
        cluster = np.argsort(w.km[seed, 1:], kind="stable")[:k] + 1
        fitted = _fit(w, rng, _tour(w, cluster), depart)
        if fitted is not None:
            return fitted
    raise RuntimeError(f"no day fits for rep {w.rep}")  # pragma: no cover - the nearest accounts always fit


def _honest_day(w: _World, rng: np.random.Generator, d: _Day, last_seen: np.ndarray, day_no: int,
                road_call: bool) -> None:
    """The day's visits, its office calls (office morning) and maybe one call on the road."""
    t = d.depart = float(rng.uniform(*(OFFICE_LEAVE_MIN if d.office_morning else LEAVE_MIN)))
    if d.office_morning:
        _office_calls(w, rng, d, t)
    stops, legs, durs = _route(w, rng, t, last_seen)
    if road_call:
        _road_call(w, rng, d, t, t + float(legs[0]))
    for acc, leg, dur in zip(stops, legs, durs):
        t += float(leg)
        lon, lat = _at(rng, w, acc)
        role, notes = _talk(rng)
        d.recs.append(_Rec(w.rep, d.day, acc, t, t + float(dur), lon, lat, role=role, notes=notes))
        t += float(dur)
        last_seen[acc - 1] = day_no


def _call(w: _World, rng: np.random.Generator, d: _Day, t_in: float, t_out: float,
          at: tuple[float, float] | None) -> None:
    acc = int(rng.integers(1, len(w.ids) + 1))
    role, notes = _talk(rng, call=True)
    lon, lat = at if at is not None else (float("nan"), float("nan"))
    d.recs.append(_Rec(w.rep, d.day, acc, t_in, t_out, lon, lat, kind="call", role=role, notes=notes))


def _office_calls(w: _World, rng: np.random.Generator, d: _Day, depart: float) -> None:
    """One or two calls from the office before leaving (positions within metres of the base)."""
    t = CALL_HOURS_MIN[0] + float(rng.uniform(0, 20))
    for _ in range(int(rng.integers(1, 3))):
        dur = float(rng.uniform(*CALL_MIN))
        if t + dur > depart - 5:
            break
        _call(w, rng, d, t, t + dur, _jitter(rng, float(w.pos[0, 0]), float(w.pos[0, 1]), 8.0, 30.0))
        t += dur + float(rng.uniform(5, 20))


def _road_call(w: _World, rng: np.random.Generator, d: _Day, depart: float, arrive: float) -> None:
    """A call without a position on the way to the first account, in office hours, ending before arrival."""
    lo, hi = max(depart + 10, CALL_HOURS_MIN[0]), arrive - 10 - CALL_MIN[1]
    if hi > lo:
        t = float(rng.uniform(lo, hi))
        _call(w, rng, d, t, t + float(rng.uniform(*CALL_MIN)), None)


def _calendar(rng: np.random.Generator, start: date, weeks: int) -> list[tuple[date, int, bool]]:
    """(day, week, is Saturday) for every working day of one rep."""
    out = []
    for k in range(weeks):
        monday = start + timedelta(days=7 * k)
        out += [(monday + timedelta(days=i), k, False) for i in range(5)]
        if rng.random() < SATURDAY_SHARE:
            out.append((monday + timedelta(days=5), k, True))
    return out


def _honest(worlds: list[_World], rng: np.random.Generator, start: date, weeks: int) -> list[_Day]:
    days = []
    for w in worlds:
        last_seen = rng.uniform(-60, 0, len(w.ids))
        cal = _calendar(rng, start, weeks)
        morning = {k: int(rng.integers(0, 5)) for k in range(weeks)}  # the weekday of the office morning
        road = {k: set(rng.choice(5, size=int(rng.integers(1, 3)), replace=False).tolist()) for k in range(weeks)}
        for i, (day, week, saturday) in enumerate(cal):
            wd = day.weekday()
            d = _Day(w, day, week, office_morning=not saturday and wd == morning[week])
            _honest_day(w, rng, d, last_seen, i, road_call=not saturday and wd in road[week]
                        and not d.office_morning)
            days.append(d)
    return days


# --- planted fakes -----------------------------------------------------------------------------------------


def _mark(r: _Rec, reasons: tuple[str, ...], evidence: str) -> _Rec:
    r.reasons, r.evidence = reasons, evidence
    return r


def _km_to_accounts(w: _World, lon: float, lat: float) -> np.ndarray:
    """Straight-line km from a point to each account row 1..n (index 0 is account row 1)."""
    return haversine_matrix_m(np.array([[lon, lat]]), w.pos[1:])[0] / 1000.0


def _choose(rng: np.random.Generator, ok: np.ndarray, d: _Day) -> int | None:
    """A random account row among ``ok`` (over rows 1..n) not seen today."""
    rows = [int(i) + 1 for i in np.flatnonzero(ok) if int(i) + 1 not in d.accounts()]
    return int(rng.choice(rows)) if rows else None


def _clock(t: float) -> str:
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


def _plant_far(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """An honest check-in relabelled to another account of the rep 3-25 km away."""
    for r in rng.permutation(np.array(d.honest(), dtype=object)):
        dist = _km_to_accounts(w, r.lon, r.lat)
        acc = _choose(rng, (dist >= FAR_KM[0]) & (dist <= FAR_KM[1]), d)
        if acc is not None:
            r.acc = acc
            _mark(r, ("far_from_account",), f"checked in {dist[acc - 1]:.1f} km from its account")
            return True
    return False


def _plant_short(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """An honest visit cut to 2-6 minutes (the rep stayed on: the next check-in is unchanged)."""
    r = rng.choice(np.array(d.honest(), dtype=object))
    r.t_out = r.t_in + float(rng.uniform(2, 6))
    _mark(r, ("call_as_visit",), f"a visit of {r.t_out - r.t_in:.1f} min")
    return True


def _plant_base(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """On an office morning: the calls from the office replaced by one 'visit' checked in at the office
    for an account more than 40 km away."""
    acc = _choose(rng, w.km[0, 1:] > BASE_FAR_KM, d)
    if acc is None:
        return False
    d.recs = [r for r in d.recs if not (r.kind == "call" and np.isfinite(r.lon))]
    t = CALL_HOURS_MIN[0] + float(rng.uniform(5, 30))
    lon, lat = _jitter(rng, float(w.pos[0, 0]), float(w.pos[0, 1]), 8.0, 30.0)
    role, notes = _talk(rng)
    r = _Rec(w.rep, d.day, acc, t, min(t + float(rng.uniform(25, 45)), d.depart - 5), lon, lat, role=role,
             notes=notes)
    base_m = _km((lon, lat), (float(w.pos[0, 0]), float(w.pos[0, 1]))) * 1000
    d.recs.append(_mark(r, ("call_as_visit", "far_from_account"),
                        f"checked in {base_m:.0f} m from the base office; its account is {w.km[0, acc]:.1f} km "
                        f"away"))
    return True


def _plant_role(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """An honest visit whose role says one rank while its notes name another first."""
    r = rng.choice(np.array(d.honest(), dtype=object))
    r.role, r.notes = _MISMATCH[int(rng.integers(len(_MISMATCH)))]
    _mark(r, ("role_mismatch",), f"role {r.role}; notes: {r.notes}")
    return True


def _plant_hours(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """A visit at an account near the day's first (last) stop, checked in at 05:00-06:15 (checked out at
    22:00-23:30)."""
    vs = d.honest()
    early = rng.random() < 0.5
    ref = vs[0] if early else vs[-1]
    acc = _choose(rng, _km_to_accounts(w, ref.lon, ref.lat) <= NEAR_KM, d)
    if acc is None:
        return False
    if early:
        t_in = float(rng.uniform(5 * 60, 6 * 60 + 15))
        t_out, ev = t_in + float(rng.uniform(25, 45)), f"checked in at {_clock(t_in)}"
    else:
        t_out = float(rng.uniform(22 * 60, 23 * 60 + 30))
        t_in, ev = t_out - float(rng.uniform(30, 60)), f"checked out at {_clock(t_out)}"
    lon, lat = _at(rng, w, acc)
    role, notes = _talk(rng)
    d.recs.append(_mark(_Rec(w.rep, d.day, acc, t_in, t_out, lon, lat, role=role, notes=notes),
                        ("outside_hours",), ev))
    return True


def _plant_overlap(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """A 20-35 min visit at a nearby account, starting 20-40 min into an honest visit that has >= 15 min
    to go, and ending before the next visit starts."""
    vs = d.honest()
    for i in rng.permutation(len(vs)):
        a, b = vs[i], (vs[i + 1] if i + 1 < len(vs) else None)
        off = min(float(rng.uniform(20, 40)), a.t_out - a.t_in - 15)
        o_in = a.t_in + off
        o_dur = float(rng.uniform(20, 35))
        dist = _km_to_accounts(w, a.lon, a.lat)
        ok = (dist <= NEAR_KM) & (dist / (off / 60) <= PLAUSIBLE_KMH)
        if b is not None:  # and on to the next visit in time, from the check-out
            ok &= o_in + o_dur + 60 * _km_to_accounts(w, b.lon, b.lat) / PLAUSIBLE_KMH + 2 <= b.t_in
        acc = _choose(rng, ok, d) if off >= 20 else None
        if acc is None:
            continue
        lon, lat = _at(rng, w, acc)
        role, notes = _talk(rng)
        d.recs.append(_mark(_Rec(w.rep, d.day, acc, o_in, o_in + o_dur, lon, lat, role=role, notes=notes),
                            ("overlap",), f"starts {a.t_out - o_in:.0f} min before the visit at {w.ids[a.acc - 1]} "
                                          f"ends"))
        return True
    return False


def _speed_stop(w: _World, a: _Rec, b: _Rec, d: _Day) -> tuple[int, float, float] | None:
    """For a pair of honest visits (``a`` cut to 25 min): the far account and the check-in time (minutes
    after ``a``'s check-in) that make both legs fastest, with that speed; None below 160 km/h."""
    total = VISIT_MIN[0] + (b.t_in - a.t_out)
    da, db = _km_to_accounts(w, a.lon, a.lat), _km_to_accounts(w, b.lon, b.lat)
    ok = (np.minimum(da, db) >= FAKE_SPEED_KM[0]) & (np.maximum(da, db) <= FAKE_SPEED_KM[1])
    ok &= ~np.isin(np.arange(1, len(da) + 1), list(d.accounts()))
    if not ok.any():
        return None
    x = np.clip(total * da / (da + db), VISIT_MIN[0] + 1, total - 15 - 1)  # 1 min after a, 15 min before b
    speed = np.minimum(da / (x / 60), db / ((total - x) / 60))
    speed[~ok] = 0
    k = int(np.argmax(speed))
    return (k + 1, float(x[k]), float(speed[k])) if speed[k] >= FAKE_SPEED_KMH else None


def _plant_speed(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """A 15-20 min visit 60-150 km away slipped into the 18-40 min drive between two honest visits, the
    first cut to 25 min (the rest of the day moves up): both legs need >= 160 km/h."""
    vs = d.honest()
    for i in rng.permutation(max(len(vs) - 1, 0)):
        a, b = vs[i], vs[i + 1]
        if not 18 <= b.t_in - a.t_out <= 40:
            continue
        best = _speed_stop(w, a, b, d)
        if best is None:
            continue
        acc, x, _ = best
        cut = a.t_out - a.t_in - VISIT_MIN[0]
        for r in d.recs:
            if r.t_in > a.t_in:
                r.t_in, r.t_out = r.t_in - cut, r.t_out - cut
        a.t_out = a.t_in + VISIT_MIN[0]
        f_in = a.t_in + x
        lon, lat = _at(rng, w, acc)
        s1 = _km((a.lon, a.lat), (lon, lat)) / (x / 60)
        s2 = _km((lon, lat), (b.lon, b.lat)) / ((b.t_in - f_in) / 60)
        role, notes = _talk(rng)
        f = _Rec(w.rep, d.day, acc, f_in, min(f_in + float(rng.uniform(15, 20)), b.t_in - 1), lon, lat, role=role,
                 notes=notes)
        d.recs.append(_mark(f, ("impossible_speed",), f"{s1:.0f} km/h from the check-in before, {s2:.0f} km/h to "
                                                      f"the one after"))
        return True
    return False


def _plant_spot(w: _World, rng: np.random.Generator, d: _Day) -> bool:
    """The day's visits replaced by 4-6 check-ins, from one spot near the first stop, for accounts 5-25 km
    from it, at a visit's pace."""
    vs = d.honest()
    east, north = rng.uniform(-1, 1, 2) * 600
    spot = _offset(float(w.pos[vs[0].acc, 0]), float(w.pos[vs[0].acc, 1]), float(east), float(north))
    dist = _km_to_accounts(w, *spot)
    rows = np.flatnonzero((dist >= SPOT_KM[0]) & (dist <= SPOT_KM[1])) + 1
    k = int(rng.integers(4, 7))
    if len(rows) < k:
        return False
    t, recs = vs[0].t_in, []
    for acc in rng.choice(rows, size=k, replace=False):
        dur = float(rng.uniform(25, 50))
        lon, lat = _jitter(rng, spot[0], spot[1], 4.0, 7.0)
        role, notes = _talk(rng)
        recs.append(_Rec(w.rep, d.day, int(acc), t, t + dur, lon, lat, role=role, notes=notes))
        t += dur + float(rng.uniform(10, 25))
    if recs[-1].t_out > 18 * 60:
        return False
    pts = np.array([[r.lon, r.lat] for r in recs])
    spread = float(haversine_matrix_m(pts, pts).max())
    far = dist[[r.acc - 1 for r in recs]]
    ev = f"{k} accounts {far.min():.1f}-{far.max():.1f} km away checked in within {spread:.0f} m of each other"
    d.recs = [r for r in d.recs if r.kind == "call"] + [_mark(r, ("same_spot", "far_from_account"), ev) for r in recs]
    return True


_Planter = Callable[[_World, np.random.Generator, _Day], bool]
# (planted kind, how, how many, on an office morning?), the most demanding first
_PLANTERS: tuple[tuple[str, _Planter, int, bool], ...] = (
    ("call_as_visit", _plant_base, PLANTS["call_as_visit"] // 2, True),
    ("same_spot", _plant_spot, PLANTS["same_spot"], False),
    ("impossible_speed", _plant_speed, PLANTS["impossible_speed"], False),
    ("overlap", _plant_overlap, PLANTS["overlap"], False),
    ("outside_hours", _plant_hours, PLANTS["outside_hours"], False),
    ("far_from_account", _plant_far, PLANTS["far_from_account"], False),
    ("call_as_visit", _plant_short, PLANTS["call_as_visit"] - PLANTS["call_as_visit"] // 2, False),
    ("role_mismatch", _plant_role, PLANTS["role_mismatch"], False),
)


def _plant(days: list[_Day], rng: np.random.Generator) -> None:
    """Each planter on its number of days, one kind per day, the reps and weeks with fewest of it first."""
    for kind, planter, n, office in _PLANTERS:
        pool = [d for d in days if not d.planted and d.office_morning == office and len(d.honest()) >= STOPS[0]]
        tie = list(rng.random(len(pool)))
        by_rep: dict[str, int] = {}
        by_week: dict[int, int] = {}
        done = 0
        while done < n and pool:
            j = min(range(len(pool)), key=lambda i: (by_rep.get(pool[i].world.rep, 0),
                                                     by_week.get(pool[i].week, 0), tie[i]))
            d = pool.pop(j)
            tie.pop(j)
            if planter(d.world, rng, d):
                d.planted = kind
                by_rep[d.world.rep] = by_rep.get(d.world.rep, 0) + 1
                by_week[d.week] = by_week.get(d.week, 0) + 1
                done += 1


# --- the tables --------------------------------------------------------------------------------------------


def _frames(days: list[_Day]) -> tuple[pd.DataFrame, pd.DataFrame]:
    recs = sorted(((d, r) for d in days for r in d.recs), key=lambda dr: (dr[1].day, dr[1].t_in, dr[1].rep))
    ids, seq, prev = [], 0, None
    for _, r in recs:
        seq = seq + 1 if r.day == prev else 1
        prev = r.day
        ids.append(f"BF{r.day:%Y%m%d}{seq:04d}")

    def stamp(r: _Rec, t: float) -> pd.Timestamp:
        return pd.Timestamp(r.day) + pd.Timedelta(seconds=round(t * 60))

    visits = pd.DataFrame({
        S.ID: ids, S.VISIT_REP: [r.rep for _, r in recs], S.ACCOUNT: [d.world.ids[r.acc - 1] for d, r in recs],
        S.CHECK_IN: [stamp(r, r.t_in) for _, r in recs], S.CHECK_OUT: [stamp(r, r.t_out) for _, r in recs],
        S.LON: [r.lon for _, r in recs], S.LAT: [r.lat for _, r in recs], S.VISIT_KIND: [r.kind for _, r in recs],
        S.CONTACT_ROLE: [r.role for _, r in recs], S.NOTES: [r.notes for _, r in recs], S.SYNTHETIC: True,
    }, columns=S.VISITS.columns)
    visits[S.CHECK_IN] = visits[S.CHECK_IN].astype("datetime64[us]")
    visits[S.CHECK_OUT] = visits[S.CHECK_OUT].astype("datetime64[us]")
    fake = [(vid, r) for vid, (_, r) in zip(ids, recs) if r.reasons]
    truth = pd.DataFrame({"visit_id": [v for v, _ in fake], "planted": [r.reasons[0] for _, r in fake],
                          "reasons": [";".join(r.reasons) for _, r in fake],
                          "evidence": [r.evidence for _, r in fake]}, columns=list(TRUTH_COLUMNS))
    return visits, truth


def make(accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame, *, start: str | date = DEFAULT_START,
         weeks: int = DEFAULT_WEEKS, seed: int = DEFAULT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The team's visit log for ``weeks`` weeks from the Monday ``start`` (WGS-84, ``planner.schema.VISITS``
    columns) and the truth table of its planted records (module docstring)."""
    first = pd.Timestamp(start).date()
    if first.weekday() != 0:
        raise ValueError(f"start must be a Monday, got {first} ({first:%A})")
    if weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    rng = np.random.default_rng(seed)
    days = _honest(_worlds(accounts, reps, offices), rng, first, weeks)
    _plant(days, rng)
    return _frames(days)


def export(visits: pd.DataFrame) -> pd.DataFrame:
    """The log as the CRM exports it: Chinese headers and values, GCJ-02 positions, text cells."""
    lon, lat = coords.from_wgs84(visits[S.LON].to_numpy(float), visits[S.LAT].to_numpy(float), "gcj02")

    def deg(x: np.ndarray) -> list[str]:
        return [f"{v:.6f}" if np.isfinite(v) else "" for v in x]

    def when(s: pd.Series) -> pd.Series:
        return pd.to_datetime(s).dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")

    out = pd.DataFrame({
        S.ID: visits[S.ID], S.VISIT_REP: visits[S.VISIT_REP], S.ACCOUNT: visits[S.ACCOUNT],
        S.CHECK_IN: when(visits[S.CHECK_IN]), S.CHECK_OUT: when(visits[S.CHECK_OUT]), S.LON: deg(lon), S.LAT: deg(lat),
        S.VISIT_KIND: visits[S.VISIT_KIND].map({"visit": "上门", "call": "电话"}),
        S.CONTACT_ROLE: visits[S.CONTACT_ROLE].fillna(""), S.NOTES: visits[S.NOTES].fillna(""),
        S.SYNTHETIC: np.where(visits[S.SYNTHETIC].astype(bool), "是", "否"),
    })
    return out.rename(columns=dict(HEADERS))


def write(folder: str | Path | None = None, visits: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
          *, start: str | date = DEFAULT_START, weeks: int = DEFAULT_WEEKS, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write ``visits.csv`` (the CRM export, GB18030, GCJ-02: load it with ``crs="gcj02"``) and
    ``visits_truth.csv`` (UTF-8) into ``folder`` (default: the packaged demo folder); without ``visits`` and
    ``truth``, make them from the packaged demo team.  Returns the paths written."""
    if visits is None or truth is None:
        t = workspace().load(("accounts", "reps", "offices"))
        visits, truth = make(t["accounts"], t["reps"], t["offices"], start=start, weeks=weeks, seed=seed)
    out = Path(folder) if folder is not None else demo_dir()
    out.mkdir(parents=True, exist_ok=True)
    log, key = out / "visits.csv", out / "visits_truth.csv"
    log.write_bytes(export(visits).to_csv(index=False, lineterminator="\r\n").encode(ENCODING))
    key.write_bytes(truth.to_csv(index=False, lineterminator="\n").encode("utf-8"))
    return [log, key]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m planner.demo.visits [OUT] [--seed N] [--start YYYY-MM-DD] [--weeks N]``."""
    p = argparse.ArgumentParser(prog="python -m planner.demo.visits",
                                description="Write the Fujian demo team's visit log (a CRM export, GCJ-02) with "
                                            "planted fakes, and its truth table.")
    p.add_argument("out", nargs="?", default=None, help="output folder (default: the packaged demo folder)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--start", default=DEFAULT_START, help=f"the first Monday (default {DEFAULT_START})")
    p.add_argument("--weeks", type=int, default=DEFAULT_WEEKS, help=f"weeks of log (default {DEFAULT_WEEKS})")
    args = p.parse_args(argv)
    for path in write(args.out, start=args.start, weeks=args.weeks, seed=args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
