"""The one way in for data: a workspace folder, planner.toml, explicit files, one policy for bad rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from planner import schema as S
from planner.app.cli import main
from planner.errors import FileReadError, InputError
from planner.geo import coords
from planner.io import Workspace

WGS = [(118.59, 24.82), (118.68, 24.88), (118.10, 24.48)]  # Jinjiang, Quanzhou, Xiamen


def _accounts(path, *, gcj: bool = False, headers=("客户编号", "经度", "纬度", "客户等级"), bad_row: bool = True):
    lon, lat = np.array(WGS).T
    if gcj:
        lon, lat = coords.wgs84_to_gcj02(lon, lat)
    rows = {headers[0]: ["A1", "A2", "A3"], headers[1]: [f"{v:.7f}" for v in lon],
            headers[2]: [f"{v:.7f}" for v in lat], headers[3]: ["A类", "B", "C"]}
    df = pd.DataFrame(rows)
    if bad_row:
        df.loc[len(df)] = ["A4", "abc", "24.9", "A"]
    df.to_csv(path, index=False, encoding="gb18030")


def _offices(path):
    pd.DataFrame({"编号": ["O1"], "名称": ["厦门办公室"], "经度": [118.089], "纬度": [24.479], "状态": ["现有"],
                  "区划代码": ["350203"]}).to_csv(path, index=False)


def test_folder_loads_every_table_named_after_its_entity(tmp_path):
    _accounts(tmp_path / "accounts.csv")
    _offices(tmp_path / "offices.csv")
    tables = Workspace.open(tmp_path).load(["accounts", "offices"], optional=["reps"])
    assert "reps" not in tables and tables.get("reps") is None
    acc = tables["accounts"]
    assert list(acc[S.ID]) == ["A1", "A2", "A3"] and list(acc[S.CLASS]) == ["A", "B", "C"]
    # the bad row is left out with its row and reason, and counted; every input row is accounted for
    rej = tables.rejected["accounts"]
    assert rej[["row", "field", "reason"]].values.tolist() == [[5, "lon", "not a number"]]
    assert tables.summary()["accounts"] == {"file": str(tmp_path / "accounts.csv"), "read": 4, "loaded": 3,
                                            "rejected_rows": 1}
    paths = tables.write_rejected(tmp_path / "out")
    assert [p.name for p in paths] == ["accounts_rejected.csv"]
    tables.require_usable()  # usable rows are left: the job goes on


def test_planner_toml_declares_files_crs_and_columns(tmp_path):
    _accounts(tmp_path / "crm export.csv", gcj=True, headers=("ID号", "X", "Y", "级别"), bad_row=False)
    _offices(tmp_path / "offices.csv")
    (tmp_path / "planner.toml").write_text(
        'crs = "wgs84"\n\n[accounts]\nfile = "crm export.csv"\ncrs = "gcj02"\n'
        'columns = { id = "ID号", lon = "X", lat = "Y", account_class = "级别" }\n', encoding="utf-8")
    tables = Workspace.open(tmp_path).load(["accounts", "offices"])
    acc = tables["accounts"]
    # GCJ-02 converted back to WGS-84 (to a centimetre)
    assert np.allclose(acc[[S.LON, S.LAT]].to_numpy(float), np.array(WGS), atol=1e-6)
    # the command-line --crs is the default only for files that declare none: the toml's own crs wins
    again = Workspace.open(tmp_path, crs="bd09").load(["accounts"])["accounts"]
    assert np.allclose(again[[S.LON, S.LAT]].to_numpy(float), np.array(WGS), atol=1e-6)


def test_bad_planner_toml_names_every_problem(tmp_path):
    (tmp_path / "planner.toml").write_text('crs = "utm"\n[acounts]\nfile = "x.csv"\n[reps]\nfile = "r.csv"\n'
                                           'colour = "red"\n', encoding="utf-8")
    with pytest.raises(FileReadError) as e:
        Workspace.open(tmp_path)
    msg = str(e.value)
    assert "unknown coordinate system 'utm'" in msg and "unknown entry 'acounts'" in msg
    assert "[reps]: unknown keys ['colour']" in msg


def test_missing_table_and_nothing_usable(tmp_path):
    _accounts(tmp_path / "accounts.csv")
    with pytest.raises(FileReadError, match="no offices table in"):
        Workspace.open(tmp_path).load(["accounts", "offices"])
    pd.DataFrame({"id": ["O1"], "lon": ["x"], "lat": [24.4]}).to_csv(tmp_path / "offices.csv", index=False)
    tables = Workspace.open(tmp_path).load(["accounts", "offices"])
    with pytest.raises(InputError, match="offices: nothing usable: all 1 rows were rejected"):
        tables.require_usable()


def test_strict_refuses_any_rejected_row(tmp_path):
    _accounts(tmp_path / "accounts.csv")
    _offices(tmp_path / "offices.csv")
    tables = Workspace.open(tmp_path, strict=True).load(["accounts", "offices"])
    with pytest.raises(InputError, match="accounts row 5, lon: not a number"):
        tables.require_usable()


def test_cli_writes_rejected_rows_and_counts_them(tmp_path, capfd):
    data = tmp_path / "data"
    data.mkdir()
    _accounts(data / "accounts.csv")
    _offices(data / "offices.csv")
    out = tmp_path / "out"
    assert main(["demo", "--data", str(data), "--out", str(out), "--no-tiles"]) == 0
    assert "accounts: 1 of 4 rows rejected" in capfd.readouterr().err
    rej = pd.read_csv(out / "accounts_rejected.csv")
    assert rej["row"].tolist() == [5] and rej["field"].tolist() == ["lon"]
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summ["accounts"] == 3 and summ["inputs"]["accounts"]["rejected_rows"] == 1
    # --strict refuses with exit 2 and the row named
    assert main(["demo", "--data", str(data), "--out", str(tmp_path / "strict"), "--strict", "--no-tiles"]) == 2
    assert "accounts row 5, lon: not a number" in capfd.readouterr().err


def test_cli_file_flag_and_crs(tmp_path, capfd):
    _accounts(tmp_path / "mine.csv", gcj=True, bad_row=False)
    _offices(tmp_path / "off.csv")
    out = tmp_path / "out"
    assert main(["demo", "--file", f"accounts={tmp_path / 'mine.csv'}", "--file", f"offices={tmp_path / 'off.csv'}",
                 "--crs", "gcj02", "--out", str(out), "--no-tiles"]) == 0
    summ = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summ["accounts"] == 3 and summ["inputs"]["accounts"]["file"].endswith("mine.csv")
    assert main(["demo", "--file", "acounts=x.csv", "--out", str(out)]) == 2
    assert "unknown table 'acounts'" in capfd.readouterr().err


def test_demo_workspace_declares_the_targets_tables():
    from planner import demo

    ws = demo.workspace()
    assert ws.source("people").path.parent.name == "targets"
    tables = ws.load(T_TABLES := ("people", "forecasts", "actuals", "targets"), optional=("territories",))
    assert set(tables.results) == {*T_TABLES, "territories"} and not tables.rejected


def test_a_toml_entry_for_a_table_not_in_the_folder_applies_when_the_file_is_given(tmp_path):
    import pandas as pd

    from planner.io.workspace import Workspace

    (tmp_path / "planner.toml").write_text('[visits]\ncrs = "gcj02"\n', encoding="utf-8")
    pd.DataFrame({"id": ["A1"], "lon": [118.1], "lat": [24.5]}).to_csv(tmp_path / "accounts.csv", index=False)
    ws = Workspace.open(tmp_path)
    assert not ws.has("visits") and ws.has("accounts")
    log = tmp_path / "elsewhere.csv"
    pd.DataFrame({"id": ["V1"], "rep": ["R1"], "account": ["A1"], "check_in": ["2026-11-24 09:00"],
                  "lon": [118.1], "lat": [24.5]}).to_csv(log, index=False)
    ws = Workspace.open(tmp_path, files={"visits": log})
    assert ws.source("visits").crs == "gcj02"
    t = ws.load(["visits"])
    assert abs(float(t["visits"]["lon"].iloc[0]) - 118.1) > 1e-3  # converted from GCJ-02
