"""The local road engine from the command line: ``planner roads build``, ``planner roads calibrate``, and a
job with ``--travel roads:DIR`` on a team whose accounts sit in a town made here (a river with two bridges).

Runs OSRM for real; without it the tests skip, unless ``PLANNER_REQUIRE_ROADS=1``: then they fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app.cli import main
from planner.demo import roadnet
from planner.geo import backends, roads
from planner.geo.travel import TravelError

REPS = ("R05", "R06")


@pytest.fixture(scope="module")
def engine_ok() -> None:
    try:
        roads.find_engine()
    except TravelError as exc:
        if os.environ.get("PLANNER_REQUIRE_ROADS") == "1":
            pytest.fail(f"PLANNER_REQUIRE_ROADS=1 but the road engine is missing: {exc}")
        pytest.skip(f"no road engine: {exc}")


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PLANNER_IN_PROCESS", "1")


@pytest.fixture(scope="module")
def team(engine_ok, tmp_path_factory) -> tuple[Path, roadnet.RoadNet]:
    """A folder: two reps of the demo with their accounts and some of the pool, moved into the town (the
    demo's layout squeezed into the town's box, so the river splits them), their office in the middle."""
    root = tmp_path_factory.mktemp("town")
    net = roadnet.generate(900, seed=3)
    net.write(root / "town.osm.pbf")
    tables = demo.workspace().load(["accounts", "reps", "offices"])
    acc, reps, off = tables["accounts"], tables["reps"], tables["offices"]
    keep = acc[acc[S.OWNER].isin(REPS) | (acc[S.OWNER] == S.PUBLIC_POOL)].head(70).copy()
    lo, hi = np.array([net.lon.min(), net.lat.min()]), np.array([net.lon.max(), net.lat.max()])
    xy = keep[[S.LON, S.LAT]].to_numpy(float)
    unit = (xy - xy.min(axis=0)) / np.ptp(xy, axis=0)
    keep[[S.LON, S.LAT]] = np.round(lo + (0.05 + 0.9 * unit) * (hi - lo), 6)
    rep_rows = reps[reps[S.ID].isin(REPS)].copy()
    office = off[off[S.ID] == rep_rows[S.BASE_OFFICE].iloc[0]].copy()
    office[[S.LON, S.LAT]] = np.round((lo + hi) / 2 + [0.0004, 0.0002], 6)
    rep_rows[S.BASE_OFFICE] = office[S.ID].iloc[0]
    ws = root / "team"
    ws.mkdir()
    for name, frame in (("accounts", keep), ("reps", rep_rows), ("offices", office)):
        frame.drop(columns=[c for c in frame.columns if c in (S.SOURCE_ROW,)]).to_csv(ws / f"{name}.csv",
                                                                                     index=False)
    return ws, net


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_build_calibrate_and_plan_on_road_times(team, tmp_path, capsys):
    ws, _ = team
    engine = ws.parent / "engine"
    assert main(["roads", "build", str(ws.parent / "town.osm.pbf"), "--engine", str(engine)]) == 0
    assert (engine / "roads.json").is_file()
    day = ["days", "--date", "2026-11-24", "--data", str(ws), "--solution-limit", "20", "--no-map", "--quiet"]
    assert main([*day, "--travel", f"roads:{engine}", "--out", str(tmp_path / "road")]) == 0
    travel = _summary(tmp_path / "road")["travel"]
    assert travel["backend"] == "roads" and travel["source"] == "town.osm.pbf"
    assert main([*day, "--out", str(tmp_path / "model")]) == 0
    road = pd.read_csv(next((tmp_path / "road").glob("stops_*.csv")))
    model = pd.read_csv(next((tmp_path / "model").glob("stops_*.csv")))
    assert road.groupby("rep")["travel_min"].sum().to_dict() != model.groupby("rep")["travel_min"].sum().to_dict()

    capsys.readouterr()
    assert main(["roads", "calibrate", "--data", str(ws), "--travel", f"roads:{engine}", "--pairs", "200"]) == 0
    said = capsys.readouterr().out
    saved = json.loads((ws / backends.PROFILE_FILE).read_text(encoding="utf-8"))
    meta = saved["meta"]
    assert meta["against"] == f"roads:{engine}"
    before, after = meta["before"], meta["after"]
    # a least-squares fit: the large errors shrink (the median of small ones may move either way)
    assert after["p90_min"] < before["p90_min"], said
    assert "before: median" in said and "after:  median" in said
    # the next plan on this folder uses the fitted profile without being told
    assert main([*day, "--out", str(tmp_path / "fitted")]) == 0
    fitted = _summary(tmp_path / "fitted")["travel"]
    assert fitted["backend"] == "model" and fitted["profile_file"].endswith(backends.PROFILE_FILE)
    assert fitted["profile"]["detour_factor"] == saved["profile"]["detour_factor"]


def test_calibrate_refuses_the_model_itself_and_the_demo_folder(engine_ok, capsys):
    assert main(["roads", "calibrate", "--travel", "model", "--dry-run"]) == 2
    assert "must name a road backend" in capsys.readouterr().err
    assert main(["roads", "calibrate", "--travel", "roads:somewhere"]) == 2
    assert "belongs to the package" in capsys.readouterr().err


def test_build_of_a_missing_file_says_so(engine_ok, tmp_path, capsys):
    assert main(["roads", "build", str(tmp_path / "none.osm.pbf"), "--engine", str(tmp_path / "e")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
