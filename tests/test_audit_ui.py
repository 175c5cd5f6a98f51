"""The audit app and map on a hand-made data folder: the numbers are the plan's, the filters narrow the map
and the table alike, hostile ids and notes stay text, one line per flagged check-in, no visits table is a
message (not a crash), the export calls the writer."""

from __future__ import annotations

import csv
import html
import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app import maps, ui
from planner.app.maps.audit import REASON_LABELS
from planner.app.maps.core import esc, to_html
from planner.app.ui import audit as ui_audit
from planner.solvers import audit as A

DAY = pd.Timestamp("2026-11-24")
KM_LON = 1 / (111.32 * np.cos(np.radians(24.5)))  # degrees of longitude per km at 24.5 N
BAD_ACC = "</script><img src=x onerror=alert(1)>"
BAD_NOTES = '副总<img src=x onerror=alert(2)>=HYPERLINK("http://e.x","x")'  # within the evidence's 60 characters
BAD_REP = "R3<svg onload=alert(3)>"
PAYLOAD_BITS = ("<img src=x", "<svg onload", "</script><img")


def _world() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Office O1 at (118.0, 24.5); accounts A0..A9 every 3 km east of it, the hostile one 20 km east."""
    acc = [{S.ID: f"A{k}", S.NAME: f"Account {k}", S.LON: 118.0 + 3 * (k + 1) * KM_LON, S.LAT: 24.5}
           for k in range(10)]
    acc.append({S.ID: BAD_ACC, S.NAME: BAD_ACC, S.LON: 118.0 + 20 * KM_LON, S.LAT: 24.5})
    reps = pd.DataFrame({S.ID: ["R1", "R2", BAD_REP], S.BASE_OFFICE: ["O1", "O1", "O1"]})
    off = pd.DataFrame({S.ID: ["O1"], S.NAME: ["Office"], S.LON: [118.0], S.LAT: [24.5]})
    return pd.DataFrame(acc), reps, off


def _rec(vid: str, rep: str, account: str, t0: str, minutes: float, acc: pd.DataFrame, *, dx_m: float = 10.0,
         day: int = 0, kind: str = "visit", role: str = "", notes: str = "", located: bool = True) -> dict:
    a = acc.set_index(S.ID).loc[account]
    start = DAY + pd.Timedelta(days=day) + pd.Timedelta(t0)
    return {S.ID: vid, S.VISIT_REP: rep, S.ACCOUNT: account, S.CHECK_IN: start.strftime("%Y-%m-%d %H:%M"),
            S.CHECK_OUT: (start + pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M"),
            S.LON: a[S.LON] + dx_m / 1000 * KM_LON if located else "", S.LAT: a[S.LAT] if located else "",
            S.VISIT_KIND: kind, S.CONTACT_ROLE: role, S.NOTES: notes}


def _log(acc: pd.DataFrame) -> list[dict]:
    """Two weeks of honest days for three reps, and six planted fakes (two of them hostile)."""
    rows = []
    for day in (0, 7):
        for rep in ("R1", "R2", BAD_REP):
            for k in range(6):
                t = pd.Timedelta(hours=8, minutes=30) + k * pd.Timedelta(minutes=65)
                rows.append(_rec(f"{rep[:2]}-{day}-{k}", rep, f"A{k}", str(t), 45, acc, day=day))
    rows += [
        _rec("F-FAR", "R1", BAD_ACC, "16:00:00", 40, acc, dx_m=4000),
        _rec("F-ROLE", "R2", "A7", "16:00:00", 40, acc, role="总经理", notes=BAD_NOTES),
        _rec("F-LATE", "R2", "A8", "21:30:00", 40, acc, day=7),
        _rec("F-SHORT", BAD_REP, "A9", "16:00:00", 3, acc, day=7),
        _rec("F-EARLY-FAR", "R1", "A9", "05:30:00", 40, acc, dx_m=3000, day=7),
        _rec("F-CALL", "R1", "A8", "17:30:00", 5, acc, kind="call", role="总经理", notes="副总接的电话",
             located=False),
    ]
    return rows


def _write_folder(d: Path, *, visits: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    acc, reps, off = _world()
    frames = {"accounts": acc, "reps": reps, "offices": off}
    if visits:
        frames["visits"] = pd.DataFrame(_log(acc))
    for name, df in frames.items():
        df.to_csv(d / f"{name}.csv", index=False, quoting=csv.QUOTE_NONNUMERIC)
    (d / "planner.toml").write_text('crs = "wgs84"\n', encoding="utf-8")
    return d


def _page(widget_value: str) -> str:
    """The map page inside an app's iframe."""
    m = re.search(r'srcdoc="(.*?)"', widget_value, re.S)
    assert m, widget_value[:200]
    return html.unescape(m.group(1))


def _layers(page: str) -> list[str]:
    """The names of the map's reason layers (the layer control's entries)."""
    return [json.loads(f'"{n}"') for n in re.findall(r'"([^"]*\(\d+\))"\s*:\s*feature_group', page)]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit_ui")
    a = ui.audit_app(str(_write_folder(root / "data")), out_dir=root / "out")
    assert a.plan is not None, a.w["status"].value
    return a


@pytest.fixture(autouse=True)
def _no_filters(app):
    app.w["reps"].value, app.w["reasons"].value = (), ()
    yield
    app.w["reps"].value, app.w["reasons"].value = (), ()


def _flagged(plan: A.AuditPlan) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for vid, reason in zip(plan.flags["visit_id"], plan.flags["reason"]):
        out.setdefault(vid, set()).add(reason)
    return out


def test_the_planted_fakes_are_the_flags(app):
    assert _flagged(app.plan) == {"F-FAR": {"far_from_account"}, "F-ROLE": {"role_mismatch"},
                                  "F-LATE": {"outside_hours"}, "F-SHORT": {"call_as_visit"},
                                  "F-EARLY-FAR": {"outside_hours", "far_from_account"}, "F-CALL": {"role_mismatch"}}


def test_summary_strip_is_the_plans_summary(app):
    s = app.plan.summary()
    again = A.audit(app.visits, app.tables["accounts"], app.tables["reps"], app.tables["offices"],
                    A.AuditOptions()).summary()
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in s.items() if k != "seconds"}
    boxes = {en: value for value, en in re.findall(
        r'font-weight:bold">([^<]*)</div><div style="font-size:12px">[^<]*<br><span style="color:#666">([^<]*)</span>',
        app.w["summary"].value)}
    assert boxes["visits"] == f"{s['visits']:,}" and boxes["flagged"] == f"{s['flagged']:,}"
    assert boxes["unchecked"] == f"{s['unchecked']:,}" and boxes["share flagged"] == f"{s['flagged'] / s['visits']:.1%}"
    for reason, n in s["by_reason"].items():
        zh, _, en = REASON_LABELS[reason].partition(" ")
        assert boxes[en] == f"{n:,}" and zh in app.w["summary"].value
    assert s["visits"] == 42 and s["flagged"] == 6 and s["by_reason"]["outside_hours"] == 2


def test_one_reason_filters_the_table_and_the_map(app):
    app.w["reasons"].value = ("outside_hours",)
    table = app.w["flags"].value
    labels = "|".join(re.escape(REASON_LABELS[r]) for r in REASON_LABELS)
    shown = set(re.findall(rf"<td>({labels})</td>", table))
    assert shown == {REASON_LABELS["outside_hours"]}
    assert "F-LATE" in table and "F-EARLY-FAR" in table and "F-ROLE" not in table
    page = _page(app.w["map"].value)
    assert page.count("L.polyline(") == page.count("L.circleMarker(") == 2
    assert REASON_LABELS["outside_hours"] in page and _layers(page) == [f"{REASON_LABELS['outside_hours']} (2)"]
    for other in set(REASON_LABELS) - {"outside_hours"}:
        assert REASON_LABELS[other] not in page
    assert "hidden by the reason filter" in page  # F-EARLY-FAR is also far from its account


def test_rep_filter_narrows_map_table_and_weeks(app):
    app.w["reps"].value = ("R2",)
    table = app.w["flags"].value
    assert "F-ROLE" in table and "F-LATE" in table and "F-FAR" not in table and "F-SHORT" not in table
    assert _page(app.w["map"].value).count("L.polyline(") == 2
    trend = ui_audit.week_trend(app.plan, ui_audit.shown_flags(app.plan, reps=["R2"]), ["R2"])
    assert trend["visits"].tolist() == [7, 7] and trend["flagged"].tolist() == [1, 1]
    assert "2026-11-23" in app.w["weeks"].value and "2026-11-30" in app.w["weeks"].value
    app.w["reasons"].value = ("call_as_visit",)  # R2 has none
    assert "0 flags" in app.w["flags"].value and "L.polyline(" not in _page(app.w["map"].value)


def test_newest_first_and_columns_in_words(app):
    t = ui_audit.flags_table(app.plan.flags)
    assert list(t.columns) == list(ui_audit.FLAG_COLUMNS.values())
    assert t[ui_audit.FLAG_COLUMNS["time"]].tolist() == sorted(t[ui_audit.FLAG_COLUMNS["time"]], reverse=True)
    per_rep = app.w["per_rep"].value
    for rep in ("R1", "R2"):
        assert f"<td>{rep}</td>" in per_rep
    assert "占比 share" in per_rep and "%" in per_rep


def test_hostile_ids_and_notes_are_text_in_the_map_and_the_tables(app):
    page = to_html(maps.audit_map(app.plan))
    widget_page = _page(app.w["map"].value)
    views = {"map": page, "app map": widget_page, "flags": app.w["flags"].value,
             "per rep": app.w["per_rep"].value, "more": app.w["more"].value}
    for name, text in views.items():
        for bit in PAYLOAD_BITS:
            assert bit not in text, (name, bit)
    assert esc(BAD_ACC) in page and esc(BAD_REP) in page
    assert '=HYPERLINK("http' not in page and esc('=HYPERLINK("http://e.x","x")') in page
    flags = app.w["flags"].value
    assert html.escape(BAD_ACC, quote=False) in flags and html.escape(BAD_REP, quote=False) in flags
    assert '=HYPERLINK("http://e.x","x")' in flags and "&lt;img src=x onerror=alert(2)&gt;" in flags


def test_one_line_per_flagged_check_in(app):
    plan = app.plan
    page = to_html(maps.audit_map(plan))
    located = plan.flags.dropna(subset=["lon", "lat"])["visit_id"].nunique()
    assert located == plan.flags["visit_id"].nunique() - 1  # the call has no check-in position
    assert page.count("L.polyline(") == page.count("L.circleMarker(") == located == 5
    # an account square per layer it is drawn in: A9 has check-ins in two layers (call as visit, outside hours)
    assert plan.flags.dropna(subset=["lon"])["account"].nunique() == 4 and page.count("L.marker(") == 5
    assert sorted(_layers(page)) == sorted(f"{REASON_LABELS[r]} ({n})" for r, n in (
        ("far_from_account", 1), ("outside_hours", 2), ("call_as_visit", 1), ("role_mismatch", 1)))


def test_the_newest_check_ins_when_there_are_too_many(app):
    page = to_html(maps.audit_map(app.plan, max_points=2))
    assert page.count("L.polyline(") == 2 and "newest 2 of 5 drawn" in page
    assert "F-LATE" in page and "F-SHORT" in page and "F-FAR" not in page  # both on the second Tuesday, late


def test_rerun_reads_the_thresholds(app):
    app.w["far_m"].value = 5000
    app.run()
    try:
        assert app.plan.options.far_m == 5000
        assert "far_from_account" not in set(app.plan.flags["reason"])
    finally:
        app.w["far_m"].value = 500
        app.run()
    assert "far_from_account" in set(app.plan.flags["reason"])


def test_no_visits_table_is_a_message(tmp_path):
    a = ui.audit_app(str(_write_folder(tmp_path / "data", visits=False)), out_dir=tmp_path / "out")
    assert a.plan is None and a.visits is None
    assert "no visits table in this folder" in a.w["status"].value and a.w["run"].disabled
    a.run()
    a.export()
    assert "no visits table in this folder" in a.w["status"].value and a.plan is None


def test_export_calls_the_writer_and_adds_the_map(app, tmp_path, monkeypatch):
    calls = []

    def write_all(plan, out_dir, inputs=None):
        calls.append((plan, Path(out_dir), inputs))
        p = Path(out_dir) / "audit_flags.csv"
        p.write_text("x", encoding="utf-8")
        return [p]

    fake = types.ModuleType("planner.app.export.audit")
    fake.write_all = write_all  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "planner.app.export.audit", fake)
    monkeypatch.setattr("planner.app.export.audit", fake, raising=False)
    app.w["out"].value = str(tmp_path / "audit")
    app.export()
    assert len(calls) == 1 and calls[0][0] is app.plan and set(calls[0][2]) >= {"accounts", "visits"}
    assert (tmp_path / "audit" / "audit_flags.csv").exists() and (tmp_path / "audit" / "audit_map.html").exists()
    assert "audit_map.html" in app.w["written"].value


def test_export_with_the_real_writer(app, tmp_path):
    pytest.importorskip("planner.app.export.audit")
    app.w["out"].value = str(tmp_path / "real")
    app.export()
    written = app.w["written"].value
    assert written.startswith("Written:"), written
    for name in ("flags.csv", "summary.json", "audit_map.html"):
        assert (tmp_path / "real" / name).exists() and name in written
    assert "<img" not in written


@pytest.mark.skipif(not (demo.demo_dir() / "visits.csv").exists(), reason="the demo visit log is not written yet")
def test_the_demo_log_opens_and_flags():
    a = ui.audit_app()  # the notebook's DATA = None
    assert a.plan is not None and a.plan.summary()["flagged"] > 0
    assert "L.polyline(" in _page(a.w["map"].value)
