"""The planner command, run as a user would."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    assert "demo" in r.stdout and "import" in r.stdout


def test_demo_writes_map_and_summary(tmp_path):
    r = run("demo", "--out", str(tmp_path / "out"), "--no-tiles")
    assert r.returncode == 0, r.stderr
    assert "within  60 min" in r.stdout and "泉州市" in r.stdout
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    shares = [s["share_within_min"][k] for k in ("30", "60", "90")]
    assert shares == sorted(shares) and 0 < shares[0] < shares[2] < 1
    assert sum(s["by_prefecture"].values()) == s["accounts"] == 3000
    tab = pd.read_csv(tmp_path / "out" / "accounts_by_county.csv")
    assert tab["accounts"].sum() == 3000
    page = (tmp_path / "out" / "demo_map.html").read_text(encoding="utf-8")
    assert "Xiamen office" in page and "tile.openstreetmap" not in page


def test_import_broken_csv(tmp_path):
    r = run("import", "accounts", str(HERE / "data" / "accounts_broken.csv"), "--crs", "gcj02",
            "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "read 12, loaded 3, rejected 9" in r.stdout
    table = pd.read_csv(tmp_path / "accounts.csv")
    rej = pd.read_csv(tmp_path / "accounts_rejected.csv")
    assert len(table) == 3
    assert set(rej["row"]) == {4, 5, 6, 7, 8, 9, 10, 11, 12}
    assert list(rej.columns) == ["row", "id", "field", "value", "reason"]


def test_import_errors_are_one_line(tmp_path):
    r = run("import", "accounts", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "file not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "x.docx"
    bad.write_text("hello")
    r = run("import", "accounts", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "unsupported file type" in r.stderr
    r = run("import", "accounts", str(HERE / "data" / "accounts_broken.csv"), "--columns", "lon=NoSuchHeader",
            "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "NoSuchHeader" in r.stderr
    r = run("import", "accounts", str(HERE / "data" / "accounts_broken.csv"), "--crs", "utm",
            "--out", str(tmp_path / "out"))
    assert r.returncode == 2  # argparse refuses the choice


def test_tiles_flag_draws_amap_in_gcj02_and_refuses_unknown_tiles(tmp_path):
    from planner import demo, schema as S
    from planner.geo import coords

    r = run("demo", "--out", str(tmp_path / "out"), "--tiles", "高德")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "out" / "demo_map.html").read_text(encoding="utf-8")
    assert "autonavi.com" in page and "tile.openstreetmap" not in page
    # the office marker sits where Amap draws it: its GCJ-02 position, not its WGS-84 one
    off = demo.workspace().load(["offices"])["offices"]
    cur = off[off[S.OFFICE_STATUS] == "current"].iloc[0]
    glon, glat = coords.wgs84_to_gcj02([cur[S.LON]], [cur[S.LAT]])
    assert f"[{float(glat[0])}, {float(glon[0])}]" in page
    assert f"[{float(cur[S.LAT])}, {float(cur[S.LON])}]" not in page
    # a name that is no tile source stops before any work, naming the choices
    bad = run("bases", "--out", str(tmp_path / "b"), "--tiles", "googlemaps")
    assert bad.returncode != 0 and "googlemaps" in bad.stderr and "amap" in bad.stderr
    assert not (tmp_path / "b" / "bases.xlsx").exists()
    # a company tile server by URL template; --no-tiles still means none
    url = "https://tiles.example.cn/{z}/{x}/{y}.png"
    r = run("demo", "--out", str(tmp_path / "url"), "--tiles", url)
    assert r.returncode == 0, r.stderr
    assert url in (tmp_path / "url" / "demo_map.html").read_text(encoding="utf-8")
