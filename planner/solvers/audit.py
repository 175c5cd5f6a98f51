"""Visit honesty: audit a team's visit log after the fact (DOMAIN.md section 2, "Visit honesty").

:func:`audit` reads the log (one check-in per visit or call: rep, account, check-in and check-out
times, where the phone checked in) beside the accounts, reps and offices, and flags each record that
the physics or the record itself contradicts.  Each check has its threshold in :class:`AuditOptions`
and writes its evidence in numbers:

- ``far_from_account`` -- a visit checked in farther than ``far_m`` from its account (phones are
  good to ~50 m, account addresses to ~200 m; 500 m is well above both);
- ``impossible_speed`` -- two consecutive check-ins of one rep on one day that would need more than
  ``max_speed_kmh`` in a straight line, from the first one's check-out (its check-in when they overlap)
  to the second one's check-in (pairs closer than ``speed_min_km`` are never judged: GPS jitter).
  When a record is impossible both from the one before and to the one after, it alone is flagged
  (a visit that was never there); an isolated impossible pair flags its later record;
- ``overlap`` -- a rep's visit that starts more than ``overlap_min`` before the latest check-out of his
  earlier visits (at another account; calls left aside): one person at two accounts at once; the
  later-starting one is flagged;
- ``call_as_visit`` -- a "visit" shorter than ``min_visit_min``, or checked in within ``base_m``
  of the rep's base office while its account is farther than ``far_m``: a phone call logged as a visit;
- ``outside_hours`` -- a visit checked in before ``day_start_min`` or checked out after ``day_end_min``;
- ``same_spot`` -- a far-away check-in (account farther than ``far_m``) with check-ins of
  ``same_spot_accounts`` or more different accounts (itself included) by the same rep on the same day
  within ``same_spot_m`` of it: a rep logging visits from one chair;
- ``role_mismatch`` -- the notes name a contact of another rank than ``contact_role`` (the
  vice-president logged as the president).

Every record is accounted for: flagged (one row per record and reason in ``flags``), clean, or
``unchecked`` with the reason (an account or rep not in the tables: no position to compare).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as S
from planner.errors import InputError
from planner.options import Options, option, options_dict

__all__ = ("AuditOptions", "AuditPlan", "audit", "REASONS", "REASON_LABELS", "role_rank")

REASONS: tuple[str, ...] = ("far_from_account", "impossible_speed", "overlap", "call_as_visit", "outside_hours",
                            "same_spot", "role_mismatch")
REASON_LABELS: dict[str, str] = {
    "far_from_account": "远离客户 far from the account", "impossible_speed": "速度不可能 impossible speed",
    "overlap": "时间重叠 two places at once", "call_as_visit": "电话冒充拜访 a call logged as a visit",
    "outside_hours": "非工作时间 outside working hours", "same_spot": "同一地点 many accounts from one spot",
    "role_mismatch": "职务不符 contact role contradicts the notes"}

# contact ranks, checked in this order (副总经理 contains 总经理): 2 = vice-president, 3 = the boss, 1 = staff
_RANKS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (2, ("副总经理", "副总裁", "副董事长", "副总", "vice-president", "vice president", "vp")),
    (3, ("总经理", "董事长", "总裁", "老板", "法人", "厂长", "president", "owner", "ceo", "boss")),
    (1, ("经理", "主管", "采购", "前台", "助理", "业务员", "员工", "manager", "purchaser", "assistant", "staff")),
)


def role_rank(text: object) -> int:
    """The contact rank a text names first (3 boss, 2 vice-president, 1 staff), 0 when none."""
    t = str(text).lower() if isinstance(text, str) else ""
    if not t:
        return 0
    best = (len(t) + 1, 0)
    for rank, words in _RANKS:
        for w in words:
            k = t.find(w)
            if k >= 0 and (k, -len(w)) < (best[0], 0):
                best = (k, rank)
                break
    return best[1]


@dataclass(frozen=True, kw_only=True)
class AuditOptions(Options):
    """Thresholds of the audit (see the module docstring for each check)."""

    what = "audit settings"

    far_m: float = option(500.0, doc="a visit checked in farther than this from its account is flagged",
                          label="Far from account", unit="m", above=0.0, ui_max=5000, step=50)
    base_m: float = option(300.0, doc="a check-in this close to the rep's base office is 'from the office'",
                           unit="m", above=0.0, ui=False)
    min_visit_min: float = option(10.0, doc="a visit shorter than this is a call logged as a visit",
                                  label="Shortest visit", unit="min", min=0.0, ui_max=60, step=1)
    max_speed_kmh: float = option(120.0, doc="straight-line speed between two check-ins above which one of them "
                                             "cannot be true", label="Top speed", unit="km/h", above=0.0,
                                  ui_max=300, step=10)
    speed_min_km: float = option(2.0, doc="check-ins closer than this are never judged on speed (GPS jitter)",
                                 unit="km", min=0.0, ui=False)
    overlap_min: float = option(5.0, doc="a visit starting this much before the previous one ended overlaps it",
                                unit="min", min=0.0, ui=False)
    day_start_min: int = option(7 * 60, doc="visits checked in before this are outside hours", clock=True,
                                label="Day from", min=0, max=24 * 60, flag="--day-start")
    day_end_min: int = option(21 * 60, doc="visits checked out after this are outside hours", clock=True,
                              label="Day to", min=0, max=24 * 60, flag="--day-end")
    same_spot_m: float = option(50.0, doc="check-ins this close together are one spot", unit="m", above=0.0,
                                ui=False)
    same_spot_accounts: int = option(3, doc="different far-away accounts checked in from one spot in a day "
                                            "that make it suspect", min=2, ui=False)

    def problems(self) -> list[str]:
        if self.day_start_min >= self.day_end_min:
            return ["day_start_min must be before day_end_min"]
        return []


@dataclass(frozen=True, eq=False)
class AuditPlan:
    """``records``: the log with the audit's columns (WGS-84 position, distances, duration, ``reasons``);
    ``flags``: one row per record and reason with its evidence; ``unchecked``: records that could not be
    checked, with why; ``by_rep`` / ``by_week`` / ``top_accounts``: the risk-control team's tables."""

    records: pd.DataFrame
    flags: pd.DataFrame
    unchecked: pd.DataFrame
    by_rep: pd.DataFrame
    by_week: pd.DataFrame
    top_accounts: pd.DataFrame
    options: AuditOptions
    seconds: float

    def trend(self, flags: pd.DataFrame | None = None, reps: Sequence[str] = ()) -> pd.DataFrame:
        """Per week (from Monday) for ``reps`` (empty: all): visits, records among ``flags`` (default all
        flags; e.g. those of some reasons) and their share."""
        bw = self.by_week if not reps else self.by_week[self.by_week[S.VISIT_REP].astype(str).isin(list(reps))]
        visits = bw.groupby("week")["visits"].sum()
        f = self.flags if flags is None else flags
        flagged = f.groupby(week_start(f["check_in"]))["visit_id"].nunique() if len(f) else pd.Series(dtype=int)
        t = pd.DataFrame({"visits": visits}).join(flagged.rename("flagged")).fillna({"flagged": 0})
        t["flagged"] = t["flagged"].astype(int)
        t["share"] = (t["flagged"] / t["visits"].where(t["visits"] > 0)).fillna(0.0)
        return t.reset_index().rename(columns={"index": "week"})

    def summary(self) -> dict[str, Any]:
        f = self.flags
        return {"visits": int(len(self.records)), "flagged": int(f["visit_id"].nunique()) if len(f) else 0,
                "flags": int(len(f)), "unchecked": int(len(self.unchecked)),
                "by_reason": {r: int((f["reason"] == r).sum()) for r in REASONS},
                "by_rep": {str(r): int(n) for r, n in f.groupby("rep")["visit_id"].nunique().items()} if len(f)
                else {}, "thresholds": options_dict(self.options), "seconds": round(self.seconds, 2)}


def week_start(ts: pd.Series) -> pd.Series:
    """The Monday that starts each timestamp's week (the audit's weeks)."""
    return pd.to_datetime(ts).dt.to_period("W-SUN").dt.start_time


def _hav_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _prepare(visits: pd.DataFrame, accounts: pd.DataFrame, reps: pd.DataFrame,
             offices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The log sorted by rep and check-in with account and base positions, distances and durations;
    and the records that cannot be checked."""
    need = [c for c in (S.ID, S.VISIT_REP, S.ACCOUNT, S.CHECK_IN) if c not in visits.columns]
    if need:
        raise InputError(f"visits: missing column(s) {', '.join(need)}", what="audit")
    v = visits.copy()
    for c, d in ((S.CHECK_OUT, pd.NaT), (S.LON, np.nan), (S.LAT, np.nan), (S.VISIT_KIND, "visit"),
                 (S.CONTACT_ROLE, ""), (S.NOTES, "")):
        if c not in v.columns:
            v[c] = d
    acc = accounts.drop_duplicates(S.ID).set_index(S.ID)[[S.LON, S.LAT]]
    office = reps.drop_duplicates(S.ID).set_index(S.ID)[S.BASE_OFFICE]
    off = offices.drop_duplicates(S.ID).set_index(S.ID)
    base = pd.DataFrame({"base_lon": office.map(off[S.LON]), "base_lat": office.map(off[S.LAT])})
    v["account_lon"] = v[S.ACCOUNT].map(acc[S.LON])
    v["account_lat"] = v[S.ACCOUNT].map(acc[S.LAT])
    v = v.join(base, on=S.VISIT_REP)
    why = np.where(v["account_lon"].isna(), "account " + v[S.ACCOUNT].astype(str) + " is not in the accounts table",
                   np.where(v["base_lon"].isna(), "rep " + v[S.VISIT_REP].astype(str) + " has no base office in "
                            "the tables", np.where(v[S.LON].isna() & (v[S.VISIT_KIND] == "visit"),
                                                   "no check-in position", "")))
    unchecked = v.loc[why != "", [S.ID, S.VISIT_REP, S.ACCOUNT, S.CHECK_IN]].assign(reason=why[why != ""])
    v["check_in"] = pd.to_datetime(v[S.CHECK_IN])
    v["check_out"] = pd.to_datetime(v[S.CHECK_OUT])
    v = v.sort_values([S.VISIT_REP, S.CHECK_IN], kind="stable").reset_index(drop=True)
    v["distance_m"] = _hav_m(v[S.LON].to_numpy(float), v[S.LAT].to_numpy(float), v["account_lon"].to_numpy(float),
                             v["account_lat"].to_numpy(float))
    v["base_distance_m"] = _hav_m(v[S.LON].to_numpy(float), v[S.LAT].to_numpy(float), v["base_lon"].to_numpy(float),
                                  v["base_lat"].to_numpy(float))
    v["minutes"] = (v["check_out"] - v["check_in"]).dt.total_seconds() / 60.0
    return v, unchecked.reset_index(drop=True)


def _speed_flags(v: pd.DataFrame, o: AuditOptions) -> tuple[np.ndarray, np.ndarray]:
    """``impossible_speed``: (flag, km/h) per record, from the pairs of consecutive check-ins of one rep
    on one day (see the module docstring for which record of a bad pair is flagged)."""
    has = v[S.LON].notna().to_numpy()
    same = (v[S.VISIT_REP].to_numpy()[1:] == v[S.VISIT_REP].to_numpy()[:-1]) & has[1:] & has[:-1] & (
        v["check_in"].dt.normalize().to_numpy()[1:] == v["check_in"].dt.normalize().to_numpy()[:-1])
    lon, lat = v[S.LON].to_numpy(float), v[S.LAT].to_numpy(float)
    d = _hav_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
    left = v["check_out"].fillna(v["check_in"]).to_numpy()[:-1]
    nxt = v["check_in"].to_numpy()[1:]
    # overlapping records (the overlap check's business) are timed from the earlier check-in
    left = np.where(left > nxt, v["check_in"].to_numpy()[:-1], left)
    dt_h = np.maximum((v["check_in"].to_numpy()[1:] - left) / np.timedelta64(1, "m"), 1.0) / 60.0
    kmh = d / 1000.0 / dt_h
    bad = same & (d > o.speed_min_km * 1000) & (kmh > o.max_speed_kmh)
    n = len(v)
    bad_in = np.zeros(n, bool)
    bad_out = np.zeros(n, bool)
    bad_in[1:] = bad
    bad_out[:-1] = bad
    double = bad_in & bad_out
    prev_double = np.zeros(n, bool)
    prev_double[1:] = double[:-1]
    flag = double | (bad_in & ~bad_out & ~prev_double)
    speed = np.zeros(n)
    speed[1:] = np.where(bad, kmh, 0.0)
    speed[:-1] = np.maximum(speed[:-1], np.where(bad, kmh, 0.0))
    return flag, speed


def _overlap_flags(v: pd.DataFrame, o: AuditOptions) -> tuple[np.ndarray, pd.Series]:
    """``overlap``: a visit starting more than ``overlap_min`` before the latest check-out of the rep's
    earlier visits (calls left aside) at another account; and the id of that earlier visit."""
    flag = np.zeros(len(v), bool)
    prev_id = pd.Series("", index=v.index, dtype=object)
    vis = (v[S.VISIT_KIND] == "visit").to_numpy()
    sub = v[vis]
    if not len(sub):
        return flag, prev_id
    rep = sub[S.VISIT_REP]
    latest = sub["check_out"].groupby(rep).cummax()
    holder = sub[S.ID].where(sub["check_out"] == latest).groupby(rep).ffill()
    holder_acc = sub[S.ACCOUNT].where(sub["check_out"] == latest).groupby(rep).ffill()
    prev_end = latest.groupby(rep).shift()
    lead = (prev_end - sub["check_in"]).dt.total_seconds() / 60.0
    hit = (lead > o.overlap_min) & (holder_acc.groupby(rep).shift() != sub[S.ACCOUNT])
    flag[np.flatnonzero(vis)[hit.to_numpy()]] = True
    prev_id.loc[sub.index] = holder.groupby(rep).shift().astype(object)
    return flag, prev_id


def _same_spot_flags(v: pd.DataFrame, o: AuditOptions) -> np.ndarray:
    """``same_spot``: a rep's far-away check-ins of one day with check-ins of at least
    ``same_spot_accounts`` different accounts (itself included) within ``same_spot_m`` of it."""
    far = ((v[S.VISIT_KIND] == "visit") & (v["distance_m"] > o.far_m) & v[S.LON].notna()).to_numpy()
    flag = np.zeros(len(v), bool)
    if far.sum() < o.same_spot_accounts:
        return flag
    idx = np.flatnonzero(far)
    sub = v.iloc[idx]
    key = sub[S.VISIT_REP].astype(str) + "|" + sub["check_in"].dt.strftime("%Y-%m-%d")
    lon, lat = sub[S.LON].to_numpy(float), sub[S.LAT].to_numpy(float)
    accs = sub[S.ACCOUNT].to_numpy()
    for rows in key.groupby(key.to_numpy()).indices.values():
        if len(rows) < o.same_spot_accounts:
            continue
        d = _hav_m(lon[rows][:, None], lat[rows][:, None], lon[rows][None, :], lat[rows][None, :])
        for a, r in enumerate(rows):
            if len(set(accs[rows[d[a] <= o.same_spot_m]])) >= o.same_spot_accounts:
                flag[idx[r]] = True
    return flag


def _clock(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%H:%M").fillna("--:--")


def _checks(v: pd.DataFrame, o: AuditOptions) -> dict[str, tuple[np.ndarray, pd.Series]]:
    """Each check's mask over the records and its evidence (text for the flagged ones)."""
    vis = (v[S.VISIT_KIND] == "visit").to_numpy()
    d, bd, mins = v["distance_m"], v["base_distance_m"], v["minutes"]
    out: dict[str, tuple[np.ndarray, pd.Series]] = {}
    far = vis & (d > o.far_m).to_numpy()
    out["far_from_account"] = (far, "checked in " + (d / 1000).round(2).astype(str) + f" km from the account "
                               f"(limit {o.far_m:.0f} m)")
    speed, kmh = _speed_flags(v, o)
    out["impossible_speed"] = (speed, pd.Series(kmh, index=v.index).round(0).astype(int).astype(str)
                               + f" km/h needed in a straight line to or from the rep's neighbouring check-in "
                               f"(limit {o.max_speed_kmh:.0f} km/h)")
    ov, prev_id = _overlap_flags(v, o)
    out["overlap"] = (ov, "starts at " + _clock(v["check_in"]) + ", before visit " + prev_id.astype(str)
                      + " of the same rep had ended")
    short = vis & (mins < o.min_visit_min).to_numpy()
    office = vis & ((bd <= o.base_m) & (d > o.far_m)).to_numpy()
    ev = pd.Series(np.where(short, mins.round(0).astype("Int64").astype(str) + f" min long (a visit takes at least "
                            f"{o.min_visit_min:.0f})", ""), index=v.index)
    ev = ev.where(~office, ev + np.where(short, "; ", "") + "checked in " + bd.round(0).astype("Int64").astype(str)
                  + " m from the rep's office, " + (d / 1000).round(1).astype(str) + " km from the account")
    out["call_as_visit"] = (short | office, ev)
    t_in = v["check_in"].dt.hour * 60 + v["check_in"].dt.minute
    t_out = v["check_out"].dt.hour * 60 + v["check_out"].dt.minute
    late = (v["check_out"].dt.normalize() > v["check_in"].dt.normalize()) | (t_out > o.day_end_min)
    hours = vis & ((t_in < o.day_start_min) | late.fillna(False)).to_numpy()
    out["outside_hours"] = (hours, "checked in " + _clock(v["check_in"]) + ", out " + _clock(v["check_out"])
                            + f" (working day {o.day_start_min // 60:02d}:{o.day_start_min % 60:02d}-"
                            f"{o.day_end_min // 60:02d}:{o.day_end_min % 60:02d})")
    spot = _same_spot_flags(v, o)
    out["same_spot"] = (spot, f"one of {o.same_spot_accounts}+ far-away accounts checked in from one spot "
                              f"(within {o.same_spot_m:.0f} m) that day")
    logged = v[S.CONTACT_ROLE].map(role_rank).to_numpy()
    noted = v[S.NOTES].map(role_rank).to_numpy()
    out["role_mismatch"] = ((logged > 0) & (noted > 0) & (logged != noted),
                            "logged contact " + v[S.CONTACT_ROLE].astype(str) + "; the notes say: "
                            + v[S.NOTES].astype(str).map(lambda t: t if len(t) <= 80 else t[:79] + "…"))
    return out


def audit(visits: pd.DataFrame, accounts: pd.DataFrame, reps: pd.DataFrame, offices: pd.DataFrame,
          options: AuditOptions | None = None) -> AuditPlan:
    """Audit a visit log (canonical ``visits`` table, WGS-84) against the accounts, reps and offices.

    Not an optimisation: each check is a rule with its threshold in ``options`` (module docstring);
    the result lists every flag with its evidence, the records that could not be checked, and the
    tables per rep, per week and per account.  Vectorised: a million records take seconds.
    """
    t0 = time.perf_counter()
    o = options if options is not None else AuditOptions()
    v, unchecked = _prepare(visits, accounts, reps, offices)
    skip = v[S.ID].isin(set(unchecked[S.ID])).to_numpy()
    parts = []
    cols = [S.ID, S.VISIT_REP, S.ACCOUNT, "check_in", S.VISIT_KIND, S.LON, S.LAT, "account_lon", "account_lat",
            "distance_m"]
    for reason, (mask, evidence) in _checks(v, o).items():
        m = np.asarray(mask, bool) & ~skip
        if m.any():
            parts.append(v.loc[m, cols].assign(reason=reason, evidence=pd.Series(evidence, index=v.index)[m]))
    flags = (pd.concat(parts, ignore_index=True) if parts
             else pd.DataFrame(columns=[*cols, "reason", "evidence"]))
    flags = flags.rename(columns={S.ID: "visit_id"})
    order = flags["reason"].map({r: k for k, r in enumerate(REASONS)})
    flags = flags.assign(_o=order).sort_values(["rep", "check_in", "_o"], kind="stable").drop(columns="_o")
    reasons = flags.groupby("visit_id")["reason"].agg(";".join)
    v["reasons"] = v[S.ID].map(reasons).astype(object).fillna("") if len(reasons) else ""
    return AuditPlan(v, flags.reset_index(drop=True), unchecked, *_tables(v, flags), o, time.perf_counter() - t0)


def _tables(v: pd.DataFrame, flags: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per rep (visits, flagged, share, counts by reason), per rep and week, and the accounts most involved."""
    flagged = v["reasons"] != ""
    g = v.assign(flagged=flagged).groupby(S.VISIT_REP)
    by_rep = pd.DataFrame({"visits": g.size(), "flagged": g["flagged"].sum().astype(int)})
    by_rep["share_flagged"] = (by_rep["flagged"] / by_rep["visits"]).round(3)
    if len(flags):
        by_rep = by_rep.join(pd.crosstab(flags["rep"], flags["reason"]).reindex(columns=list(REASONS), fill_value=0))
    by_rep = by_rep.reindex(columns=["visits", "flagged", "share_flagged", *REASONS], fill_value=0)
    by_rep = by_rep.sort_values(["share_flagged", "flagged"], ascending=False).reset_index()
    week = week_start(v["check_in"])
    gw = v.assign(flagged=flagged, week=week).groupby([S.VISIT_REP, "week"])
    by_week = pd.DataFrame({"visits": gw.size(), "flagged": gw["flagged"].sum().astype(int)}).reset_index()
    by_week["share_flagged"] = (by_week["flagged"] / by_week["visits"]).round(3)
    if len(flags):
        ga = flags.groupby(S.ACCOUNT)
        top = pd.DataFrame({"flags": ga.size(), "visits_flagged": ga["visit_id"].nunique(),
                            "reps": ga["rep"].agg(lambda s: ", ".join(sorted(set(map(str, s))))),
                            "reasons": ga["reason"].agg(lambda s: ", ".join(sorted(set(s))))})
        top = top.sort_values("flags", ascending=False).head(50).reset_index()
    else:
        top = pd.DataFrame(columns=[S.ACCOUNT, "flags", "visits_flagged", "reps", "reasons"])
    return by_rep, by_week, top
