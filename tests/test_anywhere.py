"""Every job on an organisation's own folder in another province, as its CRM and HR exports come.

``planner.demo.province.write`` writes a synthetic Guangdong team the way a user
there would bring it (Chinese headers and values, Amap GCJ-02 coordinates,
GB18030 text, Excel rosters, a ``planner.toml`` saying only ``crs = "gcj02"``);
each CLI job and each notebook app must run on that folder unchanged. The
WGS-84 truth of the generated points stays in memory (``ProvinceDemo``), never
in the files.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import geo, schema as S
from planner.app.cli import main
from planner.demo import province as P
from planner.errors import InputError
from planner.io.workspace import Workspace

PROVINCE = "440000"  # Guangdong
PREFIX = PROVINCE[:2]
HAN = re.compile(r"[\u4e00-\u9fff]")
ALL_TABLES = ("accounts", "reps", "offices", "markets", "cadres", "people", "forecasts", "actuals", "targets",
              "territories")


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, P.ProvinceDemo]:
    folder = tmp_path_factory.mktemp("guangdong") / "我的团队"
    return folder, P.write(folder, province=PROVINCE)


def _run(out: Path, *argv: str) -> dict:
    t0 = time.perf_counter()
    code = main([*argv, "--out", str(out)])
    assert code == 0, f"planner {argv[0]} exited {code}"
    assert time.perf_counter() - t0 < 60
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for table, counts in summary.get("inputs", {}).items():
        assert counts["rejected_rows"] == 0, (table, counts)
    return summary


def _haversine_m(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(a))


# --------------------------------------------------------------------------- the folder
def test_the_folder_looks_like_a_chinese_export(org):
    folder, demo = org
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["planner.toml", "accounts.csv", "reps.xlsx", "offices.csv", "markets.csv", "cadres.xlsx",
                            "people.xlsx", "forecasts.csv", "actuals.csv", "targets.csv", "territories.csv"])
    raw = (folder / "accounts.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    acc = pd.read_csv(folder / "accounts.csv", encoding="gb18030", dtype=str, keep_default_na=False)
    assert list(acc.columns) == ["客户编号", "客户名称", "经度", "纬度", "客户状态", "负责人", "客户等级", "所属行业",
                                 "潜力金额", "销售阶段", "最后拜访日期", "预约开始", "预约结束", "synthetic"]
    assert 1900 <= len(acc) <= 2100
    assert acc["客户名称"].str.endswith("（合成）").all() and (acc["synthetic"] == "true").all()
    assert set(acc["客户状态"]) == {"成交客户", "意向客户"} and set(acc["客户等级"]) == {"A类", "B类", "C类"}
    assert set(acc["销售阶段"]) == {"新客户", "跟进", "签约"} and "公海" in set(acc["负责人"])
    booked = acc.loc[acc["预约开始"] != "", "预约开始"].str[:10]
    assert len(booked) >= 20 and booked.nunique() == 1
    reps = pd.read_excel(folder / "reps.xlsx", dtype=str, keep_default_na=False)
    assert list(reps.columns)[:8] == ["工号", "姓名", "团队", "职级", "驻点", "直属上级", "入职日期", "老销售"]
    assert len(reps) == 20 and set(reps["职级"]) == {"经理", "主管", "储备主管", "销售"}
    assert reps["姓名"].str.endswith("（合成）").all() and set(reps["驻点"]) == {demo.office_id}
    off = pd.read_csv(folder / "offices.csv", encoding="gb18030", dtype=str)
    assert set(off["状态"]) == {"现有"} and set(off["类型"]) == {"办公室"}
    cfg = [ln for ln in (folder / "planner.toml").read_text(encoding="utf-8").splitlines()
           if ln.strip() and not ln.startswith("#")]
    assert cfg == ['crs = "gcj02"']
    for col in ("lon", "lat", "wgs84", "county_adcode"):
        assert col not in acc.columns  # the truth stays out of the files


def test_every_row_of_every_table_loads(org):
    folder, demo = org
    tables = Workspace.open(folder).load(ALL_TABLES)
    assert tables.rejected == {}
    assert [len(tables[t]) for t in ("accounts", "reps", "offices")] == [len(demo["accounts"]), 20, 1]
    assert tables["offices"][S.OFFICE_KIND].tolist() == ["office"]
    assert set(tables["reps"][S.LEVEL]) == {"M2", "M1", "M0", "sales"}
    assert tables["accounts"][S.SYNTHETIC].all() and tables["reps"][S.SYNTHETIC].all()
    assert tables["reps"][S.ID].tolist() == demo["reps"][S.ID].tolist()  # Excel's numeric staff numbers as text


def test_gcj02_coordinates_come_back_to_the_wgs84_truth(org):
    folder, demo = org
    truth = demo["accounts"].set_index(S.ID)
    loaded = Workspace.open(folder).load(["accounts"])["accounts"].set_index(S.ID).loc[truth.index]
    d = _haversine_m(truth[S.LON].to_numpy(), truth[S.LAT].to_numpy(), loaded[S.LON].to_numpy(),
                     loaded[S.LAT].to_numpy())
    assert d.max() < 1.0, d.max()
    raw = pd.read_csv(folder / "accounts.csv", encoding="gb18030").set_index("客户编号").loc[truth.index]
    shift = _haversine_m(truth[S.LON].to_numpy(), truth[S.LAT].to_numpy(), raw["经度"].to_numpy(),
                         raw["纬度"].to_numpy())
    assert shift.min() > 100  # the file really is GCJ-02 (a few hundred metres off WGS-84)
    off = Workspace.open(folder).load(["offices"])["offices"].iloc[0]
    assert _haversine_m(off[S.LON], off[S.LAT], *demo.area.office_wgs) < 1.0


# --------------------------------------------------------------------------- the jobs
def test_overview_names_the_provinces_real_counties(org, tmp_path):
    folder, demo = org
    s = _run(tmp_path / "overview", "demo", "--data", str(folder), "--no-tiles")
    assert s["accounts"] == len(demo["accounts"]) and s["base"].endswith("（合成）")
    assert "(none)" not in s["by_prefecture"] and sum(s["by_prefecture"].values()) == s["accounts"]
    tab = pd.read_csv(tmp_path / "overview" / "accounts_by_county.csv", dtype={"county_adcode": str,
                                                                               "prefecture_adcode": str})
    assert tab["county_adcode"].str.startswith(PREFIX).all() and tab["county"].map(lambda v: bool(HAN.search(v))).all()
    names = geo.admin_units().set_index("adcode")["name_zh"]
    assert (tab["county"] == tab["county_adcode"].map(names)).all()
    assert set(tab["prefecture_adcode"]) == set(demo.area.prefectures)
    truth = demo["accounts"].groupby("county_adcode").size()
    assert tab.set_index("county_adcode")["accounts"].sort_index().equals(truth.sort_index().rename("accounts"))


def test_bases_stations_the_team_at_generated_seats_and_towns(org, tmp_path):
    folder, _ = org
    s = _run(tmp_path / "bases", "bases", "--data", str(folder), "--k", "2", "--time-limit", "5", "--no-tiles")
    assert s["report"]["status"] in ("optimal", "feasible")
    assert len(s["bases"]) == 2 and sum(b["reps"] for b in s["bases"]) == 20
    towns = set(geo.towns(PROVINCE)["geonameid"].astype(str))
    for b in s["bases"]:
        kind, _, code = b["id"].partition("-")
        assert kind in ("CS", "TW"), b
        assert code.startswith(PREFIX) if kind == "CS" else code in towns, b


def test_territories_divide_among_the_sellers(org, tmp_path):
    folder, demo = org
    s = _run(tmp_path / "territories", "territories", "--data", str(folder), "--time-limit", "5", "--quiet")
    assert s["status"] in ("optimal", "feasible")
    sellers = demo["reps"][demo["reps"][S.LEVEL].isin(S.SELLER_LEVELS)]
    assert s["kpis"]["reps"] == len(sellers) == 16 and s["kpis"]["assigned"] > 0


def test_contiguous_areas_balance_a_team_driving_out_of_one_office(org, tmp_path):
    """All 16 sellers drive out of one Guangzhou office: workload (with the drive) is heavy far out,
    potential sits in the city. Compact blobs left one territory 6.6 % / 21 % off; the wedges around
    the office balance both."""
    folder, _ = org
    s = _run(tmp_path / "areas", "territories", "--data", str(folder), "--contiguous", "--tolerance", "5%",
             "--time-limit", "20", "--quiet", "--no-tiles")
    k = s["kpis"]
    assert s["status"] == "feasible" and not s["violated"], s["message"][:300]
    assert k["contiguous"] and k["territories_in_pieces"] == 0
    assert k["workload_worst_deviation"] <= 0.05 + 1e-9 and k["potential_worst_deviation"] <= 0.15 + 1e-9


def test_days_keeps_the_booked_appointments(org, tmp_path):
    folder, demo = org
    acc = demo["accounts"]
    booked = acc[acc[S.APPT_START].notna()]
    reps = sorted(booked[S.OWNER].unique())[:2]
    day = demo.extra["appointment_date"].isoformat()
    s = _run(tmp_path / "days", "days", "--data", str(folder), "--date", day, "--rep", reps[0], "--rep", reps[1],
             "--time-limit", "3", "--quiet", "--no-map")
    n = int(booked[S.OWNER].isin(reps).sum())
    assert s["date"] == day and s["reps"] == 2 and s["visits"] >= n
    assert s["appointments_booked"] == n >= 2 and s["appointments_kept"] == n


def test_week_plans_the_booked_week_of_the_users_team(org, tmp_path):
    folder, demo = org
    acc = demo["accounts"]
    booked = acc[acc[S.APPT_START].notna()]
    reps = sorted(booked[S.OWNER].unique())[:3]
    day = pd.Timestamp(demo.extra["appointment_date"])
    s = _run(tmp_path / "week", "week", "--data", str(folder), "--start", day.strftime("%Y-%m-%d"), "--days", "2",
             *[a for r in reps for a in ("--rep", r)], "--time-limit", "6", "--quiet")
    n = int(booked[S.OWNER].isin(reps).sum())
    assert s["dates"][0] == day.strftime("%Y-%m-%d") and s["reps"] == 3 and s["rep_days"] == 6
    assert s["appointments_booked"] == n >= 2 and s["appointments_kept"] == n
    assert s["visits"] > 6 * 4  # the pool around the user's office fills the days
    assert s["report"]["bound"] >= s["visits"]
    assert len(list((tmp_path / "week").glob("week_*.html"))) == 2


def test_expansion_travels_from_the_users_office_city(org, tmp_path):
    folder, demo = org
    s = _run(tmp_path / "expansion", "expansion", "--data", str(folder), "--time-limit", "5",
             "--rotation-time-limit", "3", "--no-explain")
    assert s["status"] in ("optimal", "feasible")
    capital = demo.area.capital
    scores = pd.read_excel(tmp_path / "expansion" / "expansion.xlsx", sheet_name="scores", dtype={"adcode": str})
    assert capital not in set(scores["adcode"]) and capital not in {o["adcode"] for o in s["openings"]}
    assert set(scores["adcode"]) == set(demo["markets"][S.ADCODE]) - {capital}
    prefs = geo.load_units("prefecture").set_index("adcode")
    near = set(prefs.index[prefs.geometry.intersects(prefs.geometry[capital].buffer(0.01))]) - {capital}
    t = scores.set_index("adcode")["travel_min"]
    assert t.idxmin() in near and t.min() < 60
    assert t[t.index.isin(near)].mean() < t[~t.index.isin(near)].mean()
    seats = geo.admin_units().set_index("adcode").loc[t.index, ["seat_lon", "seat_lat"]]
    c = geo.admin_units().set_index("adcode").loc[capital, ["seat_lon", "seat_lat"]]
    km = _haversine_m(seats["seat_lon"].to_numpy(), seats["seat_lat"].to_numpy(), c["seat_lon"], c["seat_lat"])
    assert np.corrcoef(pd.Series(km).rank(), t.rank().to_numpy())[0, 1] > 0.9  # from the capital, nowhere else


def test_targets_rolls_up_the_month(org, tmp_path):
    folder, demo = org
    month = demo.extra["month"]
    s = _run(tmp_path / "targets", "targets", "--data", str(folder), "--month", month)
    assert s["month"] == month and s["synthetic"] is True
    assert s["people"] == 20 and s["forecasting"] == 16
    assert s["totals"]["raw_cny"] > 0 and s["totals"]["target_cny"] > 0
    assert s["pay"]["reps"] == 16


# --------------------------------------------------------------------------- the notebook apps
def test_notebook_apps_load_the_folder_and_solve(org):
    from planner.app.ui import bases_app, days_app, expansion_app, start_here_app, targets_app, territories_app
    from planner.solvers import bases, days, expansion, territories

    folder, demo = org
    data = str(folder)
    app = start_here_app(data)
    assert app.reach is not None and len(app.located) == len(demo["accounts"])
    assert (app.located["prefecture_adcode"].str[:2] == PREFIX).all()
    app = bases_app(data, options=bases.BaseOptions(k=2, time_limit_s=5))
    assert app.plan is not None and int(app.plan.bases["reps"].sum()) == 20
    assert app.plan.bases["id"].str.match(r"^(CS|TW)-").all()
    app = territories_app(data, options=territories.TerritoryOptions(time_limit_s=4))
    assert app.plans["A"].report.status in ("optimal", "feasible")
    app = days_app(data, plan_now=True, options=days.DayOptions(time_limit_s=3))
    assert app.plan is not None and str(app.plan.date.date()) == demo.extra["appointment_date"].isoformat()
    assert app.plan.summary()["appointments_kept"] == app.plan.summary()["appointments_booked"] > 0
    app = expansion_app(data, options=expansion.RoadmapOptions(time_limit_s=4, explain=False))
    assert app.scores is not None and demo.area.capital not in set(app.scores[S.ADCODE])
    assert all(side.plan is not None for side in app.sides)
    app = targets_app(data, month=demo.extra["month"])
    assert app.rollup is not None and app.month.value == demo.extra["month"]


def test_week_app_plans_the_users_team(org):
    from planner.app.ui import week_app
    from planner.solvers import week

    folder, demo = org
    acc = demo["accounts"]
    reps = tuple(sorted(acc.loc[acc[S.APPT_START].notna(), S.OWNER].unique())[:2])
    app = week_app(str(folder), options=week.WeekOptions(time_limit_s=4))
    app.w["start"].value = demo.extra["appointment_date"]
    app.w["days"].value = 2
    app.w["reps"].value = reps
    app.solve()
    k = app.plan.kpis
    assert k["appointments_kept"] == k["appointments_booked"] > 0 and k["visits"] > 8
    assert "<table" in app.w["grid"].value and all(r in app.w["grid"].value for r in reps)


@pytest.fixture(scope="module")
def visit_log(org, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A month of the Guangdong team's visits with planted fakes, exported as its CRM app writes them."""
    from planner.demo import visits as V

    folder, _ = org
    t = Workspace.open(folder).load(("accounts", "reps", "offices"))
    log, truth = V.make(t["accounts"], t["reps"], t["offices"], start="2026-11-02", weeks=2)
    path = tmp_path_factory.mktemp("visits") / "拜访记录.csv"
    V.export(log).to_csv(path, index=False, encoding="gb18030")
    return path, truth


def test_audit_flags_the_planted_fakes_of_the_users_log(org, visit_log, tmp_path):
    folder, _ = org
    path, truth = visit_log
    s = _run(tmp_path / "audit", "audit", "--data", str(folder), "--visits", str(path), "--no-tiles")
    flags = pd.read_csv(tmp_path / "audit" / "flags.csv", dtype=str)
    want = {(v, r) for v, rs in zip(truth["visit_id"], truth["reasons"]) for r in rs.split(";")}
    got = set(zip(flags["visit_id"], flags["reason"]))
    assert got == want and s["flagged"] == len(truth) > 20


def test_audit_app_loads_the_users_log(org, visit_log, tmp_path):
    import shutil

    from planner.app.ui import audit_app

    folder, _ = org
    path, truth = visit_log
    mine = tmp_path / "team"
    shutil.copytree(folder, mine)
    shutil.copy(path, mine / "visits.csv")
    app = audit_app(str(mine))
    assert app.plan is not None and app.plan.summary()["flagged"] == len(truth)


# --------------------------------------------------------------------------- the generator
def test_generator_entry_point_is_seeded(tmp_path):
    assert P.main([str(tmp_path / "a"), "--seed", "7"]) == 0
    again = P.write(tmp_path / "b", seed=7)
    for name in ("accounts.csv", "offices.csv", "markets.csv", "forecasts.csv", "actuals.csv", "targets.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert again.area.province == PROVINCE and again.area.neighbour[:2] != PREFIX
    with pytest.raises(InputError, match="province"):
        P.ProvinceConfig(province="810000")


def test_amap_points_in_shenzhen_near_the_border_load(tmp_path):
    """Futian district (Shenzhen) points that are on the mainland in WGS-84, exported from Amap."""
    import shapely

    from planner.geo import coords

    poly = geo.load_units("county", area="440304").geometry.iloc[0]
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = poly.bounds
    lon, lat = rng.uniform(x0, x1, 3000), rng.uniform(y0, y1, 3000)
    keep = shapely.contains_xy(poly, lon, lat) & coords.in_mainland(lon, lat)
    lon, lat = lon[keep], lat[keep]
    assert (geo.locate(lon, lat)["county_adcode"] == "440304").all()
    g_lon, g_lat = coords.from_wgs84(lon, lat, "gcj02")
    pd.DataFrame({"客户编号": [f"SZ{i:04d}" for i in range(len(lon))], "经度": np.round(g_lon, 6),
                  "纬度": np.round(g_lat, 6)}).to_csv(tmp_path / "accounts.csv", index=False)
    (tmp_path / "planner.toml").write_text('crs = "gcj02"\n', encoding="utf-8")
    res = Workspace.open(tmp_path).load(["accounts"])
    assert res.rejected == {}, res.rejected["accounts"]["reason"].value_counts().to_dict()


# --------------------------------------------------------------------------- a province with county-level cities
@pytest.fixture(scope="module")
def hubei(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, P.ProvinceDemo]:
    """Hubei: among Wuhan's neighbours are Xiantao and Tianmen, county-level cities the province administers
    directly (adcodes 4290xx: prefecture-level units whose code does not end in 00)."""
    folder = tmp_path_factory.mktemp("hubei")
    return folder, P.write(folder, province="420000")


def test_hubei_overview_and_bases(hubei, tmp_path):
    folder, demo = hubei
    assert "429004" in demo.area.prefectures  # Xiantao
    s = _run(tmp_path / "overview", "demo", "--data", str(folder), "--no-tiles")
    assert "(none)" not in s["by_prefecture"] and "仙桃市" in s["by_prefecture"]
    s = _run(tmp_path / "bases", "bases", "--data", str(folder), "--k", "2", "--time-limit", "3", "--no-tiles")
    assert sum(b["reps"] for b in s["bases"]) == 20 and all(b["id"][:3] in ("CS-", "TW-") for b in s["bases"])


def test_hubei_expansion_scores_county_level_cities(hubei, tmp_path):
    folder, _ = hubei
    s = _run(tmp_path / "expansion", "expansion", "--data", str(folder), "--time-limit", "3",
             "--rotation-time-limit", "2", "--no-explain")
    scores = pd.read_excel(tmp_path / "expansion" / "expansion.xlsx", sheet_name="scores", dtype={"adcode": str})
    assert s["status"] in ("optimal", "feasible") and "429004" in set(scores["adcode"])
