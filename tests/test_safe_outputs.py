"""Outputs written whole or not at all; Ctrl-C stops cleanly; bad settings and no-plan outcomes in words."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from planner import schema as S
from planner.app.cli import main
from planner.app.export.common import MARKER, staged_output
from planner.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def _planner(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "planner", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# --- output folders -------------------------------------------------------------------------------------

def test_a_run_replaces_the_folder_of_an_earlier_run(tmp_path, capfd):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-tiles"]) == 0
    (out / "old_map.html").write_text("from an earlier run", encoding="utf-8")
    (out / "ics").mkdir()
    assert main(["targets", "--month", "2026-11", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([MARKER, "summary.json", "targets_2026-11.xlsx"])  # nothing of the earlier run
    assert "into " + str(out) in capfd.readouterr().out
    assert not list(tmp_path.glob(".out.*"))  # no staging folder or lock left behind


def test_a_folder_the_planner_did_not_write_is_refused(tmp_path, capfd):
    (tmp_path / "my_notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["demo", "--out", str(tmp_path), "--no-tiles"]) == 2
    assert "holds files the planner did not write" in capfd.readouterr().err
    assert (tmp_path / "my_notes.txt").read_text(encoding="utf-8") == "keep me"


def test_a_bad_flag_leaves_the_earlier_output_alone(tmp_path, capfd):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-tiles"]) == 0
    before = sorted(p.name for p in out.iterdir())
    assert main(["bases", "--k", "0", "--out", str(out), "--no-tiles"]) == 2
    assert "--k: k must be >= 1" in capfd.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_second_run_into_the_same_folder_is_refused_while_one_is_writing(tmp_path):
    out = tmp_path / "out"
    with staged_output(out):  # a run in progress holds the lock
        with pytest.raises(InputError, match="another planner run .* is writing into"):
            with staged_output(out):
                pass
    with staged_output(out) as tmp:  # released afterwards
        (tmp / "x.txt").write_text("x", encoding="utf-8")
    assert (out / "x.txt").exists()


def test_a_stale_lock_of_a_dead_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    (tmp_path / ".out.lock").write_text("999999999", encoding="utf-8")  # no such process
    with staged_output(out) as tmp:
        (tmp / "x.txt").write_text("x", encoding="utf-8")
    assert (out / "x.txt").exists() and not (tmp_path / ".out.lock").exists()


@pytest.mark.slow
def test_ctrl_c_stops_with_130_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--no-tiles"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    proc = _planner("territories", "--time-limit", "60", "--out", str(out), start_new_session=True)
    time.sleep(6)  # inside the search
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; nothing written" in err and "Traceback" not in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".out.*"))


# --- settings and outcomes in words, never a traceback ----------------------------------------------------

def _folder(d: Path, accounts: bool = True, offices: bool = True, reps: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({S.ID: ["A1", "A2", "A3", "A4"], S.LON: [118.59, 118.6, 118.1, 118.7],
                  S.LAT: [24.82, 24.9, 24.5, 25.0], S.OWNER: ["R1", "R1", "R2", "R2"]}).iloc[
        : 4 if accounts else 0].to_csv(d / "accounts.csv", index=False)
    pd.DataFrame({S.ID: ["O1", "O2"], S.LON: [118.1, 118.6], S.LAT: [24.48, 24.9], S.OFFICE_STATUS: ["current",
                  "candidate"], S.ADCODE: ["350203", "350582"], S.DESKS: [2, 2]}).iloc[: 2 if offices else 0].to_csv(
        d / "offices.csv", index=False)
    pd.DataFrame({S.ID: ["R1", "R2"], S.LEVEL: ["sales", "sales"], S.BASE_OFFICE: ["O1", "O1"]}).iloc[
        : 2 if reps else 0].to_csv(d / "reps.csv", index=False)
    return d


@pytest.mark.parametrize("argv, words", [
    (["bases", "--k", "5"], "k = 5 is larger than the 2 candidate bases"),
    (["bases", "--k", "1", "--lock", "O1", "--lock", "O2"], "2 locked bases but k = 1"),
    (["bases", "--k", "1", "--lock", "NOPE"], "NOPE"),
])
def test_bases_without_a_plan_says_why(tmp_path, capfd, argv, words):
    data = _folder(tmp_path / "data")
    code = main([*argv, "--data", str(data), "--out", str(tmp_path / "out"), "--no-tiles"])
    err = capfd.readouterr()
    assert code == 2 and words in err.out + err.err and "Traceback" not in err.err


@pytest.mark.parametrize("job, extra", [("bases", ["--no-tiles"]), ("territories", ["--quiet"]),
                                        ("days", ["--date", "2026-11-24", "--quiet"]), ("demo", ["--no-tiles"])])
def test_header_only_accounts_is_named(tmp_path, capfd, job, extra):
    data = _folder(tmp_path / "data", accounts=False)
    assert main([job, *extra, "--data", str(data), "--out", str(tmp_path / "out")]) == 2
    err = capfd.readouterr().err
    assert "accounts: nothing usable: the file has no rows" in err and "Traceback" not in err


@pytest.mark.parametrize("table", ["markets", "cadres"])
def test_expansion_with_an_empty_table_says_so(tmp_path, capfd, table):
    from planner import demo

    data = tmp_path / "data"
    data.mkdir()
    for name in demo.FILES:
        (data / f"{name}.csv").write_bytes((demo.demo_dir() / f"{name}.csv").read_bytes())
    header = (data / f"{table}.csv").read_text(encoding="utf-8").splitlines()[0]
    (data / f"{table}.csv").write_text(header + "\n", encoding="utf-8")
    assert main(["expansion", "--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert f"{table}: nothing usable: the file has no rows" in capfd.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["days", "--date", "2026-11-24", "--lunch-min", "700"], "lunch is longer than the day"),
    (["days", "--date", "2026-11-24", "--mix", "new=8,follow-up=4,closing=2"], "14 visits"),
    (["days", "--date", "2026-11-24", "--day-start", "19:00"], "must start (19:00) before it ends (18:00)"),
    (["expansion", "--lock", "C001=350500", "--lock", "C001=350600"], "C001 locked to more than one city"),
    (["territories", "--tolerance", "150%"], "--tolerance: tolerance must be <= 1"),
    (["targets", "--month", "2026-11", "--months", "0"], "--months: months must be >= 1"),
])
def test_bad_settings_in_words(tmp_path, capfd, argv, words):
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capfd.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_summary_counts_survive_a_run_with_rejected_rows(tmp_path):
    data = _folder(tmp_path / "data")
    with (data / "accounts.csv").open("a", encoding="utf-8") as f:
        f.write("A5,inf,24.9,R1\n")
    assert main(["demo", "--data", str(data), "--out", str(tmp_path / "out"), "--no-tiles"]) == 0
    summ = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summ["inputs"]["accounts"]["rejected_rows"] == 1
