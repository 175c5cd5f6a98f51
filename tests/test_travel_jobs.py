"""One travel backend for every job: ``--travel``, ``planner.toml``'s ``[travel]``, the cache, the summary.

The OSRM stand-in of ``test_travel`` answers with 'Manhattan' distances at 36 km/h: far from the
built-in model, so a job that really uses the backend plans differently.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_travel import osrm_server  # noqa: F401  (the OSRM stand-in, a fixture)

from planner import demo
from planner.app.cli import main
from planner.errors import InputError
from planner.geo import backends
from planner.geo.travel import GreatCircleBackend, Matrix, SpeedProfile, travel_matrix
from planner.io.workspace import Workspace


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test its own matrix cache (never the user's ~/.cache), and the jobs in this process."""
    monkeypatch.setenv("PLANNER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PLANNER_IN_PROCESS", "1")


class Counting:
    """A backend that counts its calls: the model, twice as slow."""

    def __init__(self) -> None:
        self.calls = 0
        self.model = GreatCircleBackend(SpeedProfile(urban_speed_kmh=12.5, suburban_speed_kmh=30.0))

    def matrix(self, origins, destinations):
        self.calls += 1
        return self.model.matrix(origins, destinations)

    def cache_key(self):
        return "counting"


PTS = np.array([[118.6, 24.9], [118.7, 24.95], [119.0, 25.1]])


# --------------------------------------------------------------------------- specs and planner.toml


@pytest.mark.parametrize("text, kind, target", [
    (None, "model", ""), ("model", "model", ""), ("model:prof.json", "model", "prof.json"),
    ("osrm:http://10.0.0.1:5000", "osrm", "http://10.0.0.1:5000"), ("roads:engine", "roads", "engine"),
    ("amap", "amap", ""), ("AMAP:https://proxy.example/amap", "amap", "https://proxy.example/amap"),
])
def test_specs_parse(text, kind, target):
    spec = backends.parse(text)
    assert (spec.kind, spec.target) == (kind, target)


@pytest.mark.parametrize("text, says", [
    ("google", "unknown backend 'google'"), ("osrm:10.0.0.1:5000", "needs the server's address"),
    ("amap:MYSECRETKEY", "never from the command line"), ("roads", "needs the folder"),
])
def test_bad_specs_say_what_is_wrong(text, says):
    with pytest.raises(InputError, match=says):
        backends.parse(text)


def _folder(tmp_path: Path, toml: str) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    (d / "planner.toml").write_text(toml, encoding="utf-8")
    return d


def test_planner_toml_travel_section_and_the_flag_over_it(tmp_path):
    d = _folder(tmp_path, '[travel]\nbackend = "roads:engine"\ncache = "mycache"\n')
    ws = Workspace.open(d)
    assert ws.travel.kind == "roads" and ws.travel.path(ws.travel.target) == d / "engine"
    assert ws.travel.cache == d / "mycache"
    over = Workspace.open(d, travel="osrm:http://127.0.0.1:5000")
    assert over.travel.text == "osrm:http://127.0.0.1:5000" and over.travel.cache == d / "mycache"


@pytest.mark.parametrize("toml, says", [
    ('[travel]\nbackend = "roads:x"\nspeed = 3\n', "unknown keys \\['speed'\\]"),
    ('[travel]\nbackend = 5\n', "backend: must be a string"),
    ('[travel]\nbackend = "osrm:http://h:1"\nprofile = "p.json"\n', "profile is for the built-in model"),
    ('travel = "roads:x"\n', "\\[travel\\] must be a table"),
])
def test_bad_travel_section_names_the_key(tmp_path, toml, says):
    with pytest.raises(InputError, match=says):
        Workspace.open(_folder(tmp_path, toml))


def test_calibrated_profile_in_the_folder_is_the_default_model(tmp_path):
    d = _folder(tmp_path, "")
    prof = {"detour_factor": 1.5, "urban_speed_kmh": 20.0, "urban_radius_m": 5000.0,
            "suburban_speed_kmh": 50.0, "stop_overhead_s": 300.0}
    (d / backends.PROFILE_FILE).write_text(json.dumps({"profile": prof, "meta": {"pairs": 300}}))
    opened = Workspace.open(d).open_travel()
    assert opened.backend.profile == SpeedProfile(**prof)  # type: ignore[attr-defined]
    info = backends.describe(opened)
    assert info["backend"] == "model" and info["calibration"] == {"pairs": 300}
    (d / backends.PROFILE_FILE).write_text(json.dumps({"profile": {**prof, "speed": 3}}))
    with pytest.raises(InputError, match="field 'speed': unknown"):
        Workspace.open(d).open_travel()


# --------------------------------------------------------------------------- wrappers


def test_overhead_is_added_to_every_trip_but_none_and_no_road():
    class Inner:
        def matrix(self, o, d):
            t = np.array([[0, 100, np.inf]], np.float32)
            return Matrix(np.array([[0, 1000, np.inf]], np.float32), t, "x")

        def cache_key(self):
            return "inner"

    m = backends.OverheadBackend(Inner(), 300.0).matrix(PTS[:1], PTS)
    assert m.time_s.tolist() == [[0.0, 400.0, np.inf]]


def test_cache_on_disk_answers_a_replan_without_asking(tmp_path):
    from planner.geo.travel import TravelCache

    inner = Counting()
    be = backends.CachedBackend(inner, TravelCache(2, directory=tmp_path / "c"))
    first = travel_matrix(PTS, backend=be)
    again = backends.CachedBackend(inner, TravelCache(2, directory=tmp_path / "c"))  # a new process, same disk
    second = travel_matrix(PTS, backend=again)
    assert inner.calls == 1 and np.array_equal(first.time_s, second.time_s)
    assert len(list((tmp_path / "c").glob("*.npz"))) == 1


def test_unreachable_pairs_cost_the_solvers_more_than_a_week():
    class Island:
        def matrix(self, o, d):
            t = np.full((len(o), len(d)), 600.0, np.float32)
            t[:, -1] = np.inf
            t[np.arange(min(len(o), len(d))), np.arange(min(len(o), len(d)))] = 0
            return Matrix(t * 10, t, "island")

        def cache_key(self):
            return "island"

    s = backends.seconds_matrix(PTS, backend=Island())
    assert s.dtype == np.int64 and s[0, 1] == 600 and s[0, 2] >= 7 * 86400


# --------------------------------------------------------------------------- every job uses it


def _run(args: list[str], out: Path) -> dict:
    assert main([*args, "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


JOBS = {
    "demo": ["demo", "--no-tiles"],
    "bases": ["bases", "--k", "2", "--time-limit", "10", "--no-tiles"],
    "territories": ["territories", "--time-limit", "8", "--quiet"],
    "days": ["days", "--date", "2026-11-24", "--rep", "R05", "--rep", "R06", "--solution-limit", "20",
             "--no-map", "--quiet"],
    "week": ["week", "--start", "2026-11-23", "--days", "2", "--rep", "R05", "--solution-limit", "20",
             "--no-map", "--quiet"],
    "expansion": ["expansion", "--time-limit", "10"],
}


@pytest.mark.slow
@pytest.mark.parametrize("job", list(JOBS))
def test_every_job_takes_travel_osrm_and_says_so(job, tmp_path, osrm_server):  # noqa: F811
    url, state = osrm_server
    summary = _run([*JOBS[job], "--travel", f"osrm:{url}"], tmp_path / "a")
    assert summary["travel"]["backend"] == "osrm" and summary["travel"]["url"] == url
    asked = len(state["requests"])
    assert asked > 0, "the job never asked the road backend"
    again = _run([*JOBS[job], "--travel", f"osrm:{url}"], tmp_path / "b")
    asked_again = len(state["requests"]) - asked
    if job == "territories":  # a time-limited search: the territory centres it tries may differ
        assert asked_again < asked, "a re-plan asked the server again instead of the cache"
    else:  # the same plan asks the same matrices: all from the cache
        assert asked_again == 0, "a re-plan asked the server again instead of the cache"
    assert again["travel"]["cache_hits"] > 0


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str)


@pytest.mark.slow
def test_days_territories_and_expansion_plans_change_with_the_backend(tmp_path, osrm_server):  # noqa: F811
    """The same job, the same settings: the built-in model and the road stand-in give other plans."""
    url, _ = osrm_server
    for job, compare in (("days", lambda d: _frame(next(d.glob("stops_*.csv")))[["rep", "id", "start"]]),
                         ("territories", lambda d: pd.read_excel(d / "territories.xlsx", sheet_name=None)),
                         ("expansion", lambda d: pd.read_excel(d / "expansion.xlsx", sheet_name=0))):
        model = tmp_path / f"{job}_model"
        road = tmp_path / f"{job}_road"
        s_model = _run(JOBS[job], model)
        s_road = _run([*JOBS[job], "--travel", f"osrm:{url}"], road)
        assert s_model["travel"]["backend"] == "model" and s_road["travel"]["backend"] == "osrm"
        a, b = compare(model), compare(road)
        same = all(a[k].equals(b[k]) for k in a) if isinstance(a, dict) else a.equals(b)
        assert not same, f"{job}: the plan did not change with the travel backend"


def test_notebook_app_uses_the_workspace_backend(monkeypatch):
    from planner.app.ui.common import travel_of

    class App:
        tables = demo.workspace(travel="osrm:http://127.0.0.1:9").load(["offices"])

    app = App()
    first = travel_of(app)
    assert first is travel_of(app) and first.spec.kind == "osrm"  # opened once for the app's life


@pytest.mark.slow
def test_a_job_on_amap_with_the_key_from_the_environment(tmp_path, monkeypatch):
    """``--travel amap:URL`` (the stand-in): the key comes from AMAP_KEY, never shows in the summary, and
    the summary counts the requests the job made."""
    from amap_standin import AmapStandin

    with AmapStandin() as amap:
        monkeypatch.setenv("AMAP_KEY", amap.key)
        summary = _run([*JOBS["expansion"], "--travel", f"amap:{amap.url}"], tmp_path / "x")
        made = len(amap.requests)
    assert made > 0 and summary["travel"]["backend"] == "amap"
    assert summary["travel"]["requests_made"] == made
    assert amap.key not in json.dumps(summary)
