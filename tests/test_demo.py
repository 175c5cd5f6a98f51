"""The Fujian demo: deterministic, points inside their county, counts follow the weights."""


import numpy as np
import pytest

from planner import demo, geo, schema as S


@pytest.fixture(scope="module")
def data():
    return demo.generate()


def test_same_seed_same_files(tmp_path, data):
    again = demo.write(demo.generate(), tmp_path)
    for p in again:
        committed = demo.demo_dir() / p.name
        assert p.read_bytes() == committed.read_bytes(), f"{p.name} differs from the committed demo"


def test_other_seed_other_accounts(data):
    other = demo.generate(demo.DemoConfig(seed=7))
    assert not np.allclose(other.accounts[S.LON].to_numpy(), data.accounts[S.LON].to_numpy())


def test_every_point_lies_in_its_county(data):
    acc = data.accounts
    loc = geo.locate(acc[S.LON], acc[S.LAT])
    wrong = acc[loc["county_adcode"].to_numpy() != acc["county_adcode"].to_numpy()]
    assert wrong.empty, f"{len(wrong)} accounts outside their county, e.g. {wrong.head(3)[[S.ID, 'county_adcode']]}"


def test_counts_per_county_follow_weights(data):
    w = data.county_weights.set_index("adcode")["weight"]
    p = w / w.sum()
    n = len(data.accounts)
    counts = data.accounts["county_adcode"].value_counts().reindex(p.index, fill_value=0)
    sd = np.sqrt(n * p * (1 - p))
    z = (counts - n * p) / sd
    assert (z.abs() < 4).all(), z[z.abs() >= 4]
    # and the story: Quanzhou holds most accounts, Xiamen far fewer
    pref = data.accounts["county_adcode"].str[:4].value_counts()
    assert pref["3505"] > 0.5 * n
    assert pref["3502"] < pref["3505"] / 3


def test_points_near_real_towns(data):
    towns = geo.towns()
    units = geo.admin_units("county").set_index("adcode")
    anchors = np.vstack([towns[["lon", "lat"]].to_numpy(), units[["seat_lon", "seat_lat"]].to_numpy()])
    acc = data.accounts[[S.LON, S.LAT]].to_numpy()
    # nearest anchor distance in km (equirectangular is fine at this scale)
    d = np.sqrt(((acc[:, None, 0] - anchors[None, :, 0]) * 101.0) ** 2
                + ((acc[:, None, 1] - anchors[None, :, 1]) * 111.0) ** 2).min(axis=1)
    assert np.median(d) < 3.0
    assert np.quantile(d, 0.99) < 8.0


def test_records_flagged_synthetic_and_fictional(data):
    for name, df in data.tables().items():
        assert df[S.SYNTHETIC].all(), name
    assert data.accounts[S.NAME].str.contains(r"\(synthetic\)").all()
    assert data.reps[S.NAME].str.contains(r"\(synthetic\)").all()


def test_demo_loads_through_import_without_rejections():
    sc = demo.load_demo()
    for name, rep in sc.reports.items():
        assert rep.rejected_rows == 0, name
        assert rep.loaded == rep.read
    assert len(sc.accounts) == 3000
    assert 20 <= len(sc.reps) <= 30
    assert set(sc.reps[S.LEVEL]) >= {"M2", "M1", "M0", "sales"}
    assert (sc.reps[S.BASE_OFFICE] == demo.HOME_OFFICE_ID).all()
    home = sc.home_office
    assert home[S.ID] == demo.HOME_OFFICE_ID
    assert geo.locate([home[S.LON]], [home[S.LAT]])["county_adcode"][0] == demo.HOME_COUNTY
    cand = sc.offices[sc.offices[S.OFFICE_STATUS] == "candidate"]
    assert {"county_seat", "town"} <= set(cand[S.OFFICE_KIND])
    # candidate cities are real prefecture-level units
    prefs = set(geo.admin_units("prefecture")["adcode"])
    assert set(sc.markets[S.ADCODE]) <= prefs
    assert 35 <= len(sc.cadres) <= 45
    # booked appointments: windows on owned accounts, end after start
    appt = sc.accounts.dropna(subset=[S.APPT_START])
    assert len(appt) > 0
    assert (appt[S.APPT_END] > appt[S.APPT_START]).all()
    assert (appt[S.OWNER] != S.PUBLIC_POOL).all()


def test_config_validation():
    with pytest.raises(ValueError, match="n_reps"):
        demo.DemoConfig(n_reps=2)
