"""The visit-log audit: each check on a hand-made log, its evidence in numbers, every record accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.errors import InputError
from planner.solvers import audit as A

DAY = pd.Timestamp("2026-11-24")
KM_LON = 1 / (111.32 * np.cos(np.radians(24.5)))  # degrees of longitude per km at 24.5 N


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Office O1 at (118.0, 24.5); accounts A0..A9 every 3 km east of it, F1 60 km east, X1..X5 8 km north."""
    acc = [{S.ID: f"A{k}", S.LON: 118.0 + 3 * (k + 1) * KM_LON, S.LAT: 24.5} for k in range(10)]
    acc.append({S.ID: "F1", S.LON: 118.0 + 60 * KM_LON, S.LAT: 24.5})
    acc += [{S.ID: f"X{k}", S.LON: 118.0 + 0.01 * k, S.LAT: 24.5 + 8 / 110.54} for k in range(1, 6)]
    reps = pd.DataFrame({S.ID: ["R1", "R2"], S.BASE_OFFICE: ["O1", "O1"]})
    off = pd.DataFrame({S.ID: ["O1"], S.LON: [118.0], S.LAT: [24.5]})
    return pd.DataFrame(acc), reps, off


def _rec(vid: str, rep: str, account: str, t0: str, minutes: float, acc: pd.DataFrame, *, dx_m: float = 10.0,
         at: tuple[float, float] | None = None, kind: str = "visit", role: str = "", notes: str = "") -> dict:
    a = acc.set_index(S.ID).loc[account]
    lon, lat = at if at is not None else (a[S.LON] + dx_m / 1000 * KM_LON, a[S.LAT])
    start = DAY + pd.Timedelta(t0)
    return {S.ID: vid, S.VISIT_REP: rep, S.ACCOUNT: account, S.CHECK_IN: start,
            S.CHECK_OUT: start + pd.Timedelta(minutes=minutes), S.LON: lon, S.LAT: lat, S.VISIT_KIND: kind,
            S.CONTACT_ROLE: role, S.NOTES: notes}


def _honest_day(acc: pd.DataFrame, rep: str = "R1") -> list[dict]:
    """Eight honest visits 3 km apart, 45 min each, 20 min between: 9 km/h; roles consistent with notes."""
    out = []
    for k in range(8):
        t = pd.Timedelta(hours=8, minutes=30) + k * pd.Timedelta(minutes=65)
        out.append(_rec(f"{rep}-H{k}", rep, f"A{k}", str(t), 45, acc, role="采购经理" if k % 2 else "总经理",
                        notes="和采购经理谈了报价" if k % 2 else "总经理亲自接待"))
    return out


def _audit(rows: list[dict], acc, reps, off, **opts) -> A.AuditPlan:
    return A.audit(pd.DataFrame(rows), acc, reps, off, A.AuditOptions(**opts))


def _flags_of(plan: A.AuditPlan) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for vid, reason in zip(plan.flags["visit_id"], plan.flags["reason"]):
        out.setdefault(vid, set()).add(reason)
    return out


def test_an_honest_day_and_an_honest_call_are_clean():
    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("C1", "R1", "A9", "18:30:00", 8, acc, kind="call", at=(118.0, 24.5))]
    plan = _audit(rows, acc, reps, off)
    assert plan.flags.empty, plan.flags[["visit_id", "reason", "evidence"]]
    assert len(plan.records) == 9 and plan.unchecked.empty


@pytest.mark.parametrize("fake, expected", [
    (dict(account="A3", t0="12:10:00", minutes=30, dx_m=4000), {"far_from_account"}),
    (dict(account="A3", t0="12:05:00", minutes=4), {"call_as_visit"}),
    (dict(account="F1", t0="11:00:00", minutes=30, at=(118.0003, 24.5)), {"call_as_visit", "far_from_account"}),
    (dict(account="A9", t0="05:30:00", minutes=40), {"outside_hours"}),
    (dict(account="A9", t0="21:40:00", minutes=50), {"outside_hours"}),
    (dict(account="A3", t0="12:20:00", minutes=30, role="总经理", notes="副总接待，总经理不在"), {"role_mismatch"}),
])
def test_each_planted_fake_is_flagged_with_its_reason_only(fake, expected):
    acc, reps, off = _world()
    rows = _honest_day(acc, "R2") + [_rec("FAKE", "R1", fake.pop("account"), fake.pop("t0"), fake.pop("minutes"),
                                          acc, **fake)]
    flags = _flags_of(_audit(rows, acc, reps, off))
    assert flags == {"FAKE": expected}


def test_a_teleport_between_two_honest_visits_is_the_one_flagged():
    acc, reps, off = _world()
    rows = _honest_day(acc)
    rows.insert(3, _rec("FAKE", "R1", "F1", "11:05:00", 10, acc))  # 60 km away, between 10:40-11:25 and 11:45
    rows[2][S.CHECK_OUT] = DAY + pd.Timedelta("10:55:00")
    plan = _audit(rows, acc, reps, off)
    assert _flags_of(plan) == {"FAKE": {"impossible_speed"}}
    ev = plan.flags.loc[plan.flags["visit_id"] == "FAKE", "evidence"].iloc[0]
    assert int(ev.split(" ")[0]) > 120


def test_overlap_flags_the_later_start():
    acc, reps, off = _world()
    rows = _honest_day(acc)
    rows.append(_rec("FAKE", "R1", "A1", "08:50:00", 30, acc))  # A0's visit runs 08:30-09:15; A1 is 3 km away
    plan = _audit(rows, acc, reps, off)
    assert _flags_of(plan) == {"FAKE": {"overlap"}}
    assert "R1-H0" in plan.flags["evidence"].iloc[0]


def test_many_far_accounts_from_one_spot():
    acc, reps, off = _world()
    spot = (118.0 + 20 * KM_LON, 24.5)
    rows = [_rec(f"S{k}", "R1", f"X{k}", f"{9 + k}:00:00", 40, acc, at=(spot[0] + 0.00005 * k, spot[1]))
            for k in range(1, 5)]
    flags = _flags_of(_audit(rows, acc, reps, off))
    assert flags == {f"S{k}": {"same_spot", "far_from_account"} for k in range(1, 5)}


def test_unknown_accounts_are_accounted_for_not_flagged():
    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("U1", "R1", "A1", "18:00:00", 20, acc)]
    rows[-1][S.ACCOUNT] = "NOPE"
    plan = _audit(rows, acc, reps, off)
    assert plan.flags.empty
    assert plan.unchecked[S.ID].tolist() == ["U1"] and "NOPE" in plan.unchecked["reason"].iloc[0]
    s = plan.summary()
    assert s["visits"] == 9 and s["unchecked"] == 1 and s["flagged"] == 0


def test_tables_per_rep_and_week():
    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("FAKE", "R1", "A3", "12:10:00", 30, acc, dx_m=4000)]
    plan = _audit(rows, acc, reps, off)
    r = plan.by_rep.set_index(S.VISIT_REP).loc["R1"]
    assert r["visits"] == 9 and r["flagged"] == 1 and r["far_from_account"] == 1
    assert plan.by_week["flagged"].sum() == 1
    assert plan.top_accounts[S.ACCOUNT].iloc[0] == "A3"


def test_thresholds_are_options():
    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("FAKE", "R1", "A3", "12:10:00", 30, acc, dx_m=800)]
    assert _flags_of(_audit(rows, acc, reps, off)) == {"FAKE": {"far_from_account"}}
    assert _audit(rows, acc, reps, off, far_m=1000).flags.empty
    with pytest.raises(InputError, match="day_start"):
        A.AuditOptions(day_start_min=22 * 60, day_end_min=21 * 60)


def test_role_rank_reads_the_longest_title_first():
    assert A.role_rank("副总经理") == 2 and A.role_rank("总经理") == 3 and A.role_rank("采购经理") == 1
    assert A.role_rank("副总接待，总经理不在") == 2 and A.role_rank("") == 0 and A.role_rank(None) == 0


def test_cli_audits_a_chinese_export_in_gcj02(tmp_path):
    import json

    from planner.app.cli import main
    from planner.geo import coords

    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("FAKE", "R1", "A3", "12:10:00", 30, acc, dx_m=4000),
                               _rec("BAD", "R1", "A3", "12:10:00", 30, acc)]
    log = pd.DataFrame(rows)
    glon, glat = coords.wgs84_to_gcj02(log[S.LON].to_numpy(), log[S.LAT].to_numpy())
    data = tmp_path / "team"
    data.mkdir()
    for name, t in (("accounts", acc), ("offices", off)):  # the whole CRM speaks GCJ-02, as Amap does
        lon, lat = coords.wgs84_to_gcj02(t[S.LON].to_numpy(), t[S.LAT].to_numpy())
        t.assign(**{S.LON: lon, S.LAT: lat}).to_csv(data / f"{name}.csv", index=False)
    reps.to_csv(data / "reps.csv", index=False)
    export = pd.DataFrame({"拜访编号": log[S.ID], "工号": log[S.VISIT_REP], "客户编号": log[S.ACCOUNT],
                           "签到时间": log[S.CHECK_IN].dt.strftime("%Y-%m-%d %H:%M"),
                           "签退时间": log[S.CHECK_OUT].dt.strftime("%Y-%m-%d %H:%M"), "经度": glon, "纬度": glat,
                           "拜访方式": "上门", "联系人职务": log[S.CONTACT_ROLE], "备注": log[S.NOTES]})
    export.loc[export["拜访编号"] == "BAD", "签到时间"] = "yesterday"
    export.to_csv(tmp_path / "拜访记录.csv", index=False, encoding="gb18030")
    out = tmp_path / "out"
    code = main(["audit", "--data", str(data), "--visits", str(tmp_path / "拜访记录.csv"), "--crs", "gcj02",
                 "--out", str(out), "--no-tiles"])
    assert code == 0
    flags = pd.read_csv(out / "flags.csv")
    assert flags["visit_id"].tolist() == ["FAKE"] and flags["reason"].tolist() == ["far_from_account"]
    assert "km from the account" in flags["evidence"].iloc[0]
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["visits"] == 9 and s["flagged"] == 1 and s["inputs"]["visits"]["rejected_rows"] == 1
    rejected = pd.read_csv(out / "visits_rejected.csv")
    assert rejected["id"].tolist() == ["BAD"] and rejected["field"].tolist() == ["check_in"]
    assert (out / "audit.xlsx").exists() and (out / "audit_map.html").exists()


def test_trend_per_week_counts_the_flags_given():
    acc, reps, off = _world()
    rows = _honest_day(acc) + [_rec("FAKE", "R1", "A3", "12:10:00", 30, acc, dx_m=4000)]
    plan = _audit(rows, acc, reps, off)
    t = plan.trend()
    assert t["week"].tolist() == [pd.Timestamp("2026-11-23")] and t["visits"].tolist() == [9]
    assert t["flagged"].tolist() == [1] and t["share"].iloc[0] == pytest.approx(1 / 9)
    assert plan.trend(plan.flags.iloc[0:0])["flagged"].tolist() == [0]
    assert plan.trend(reps=["R2"]).empty
