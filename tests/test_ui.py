"""The start-here app reacts to its widgets."""

import re

from planner import schema as S
from planner.app import ui


def _count(html: str) -> int:
    return int(re.search(r"<b>(\d+)</b> accounts shown", html).group(1))


def test_start_here_app_filters():
    app = ui.start_here_app()
    total = _count(app.reach_box.value)
    assert total == 3000
    assert "晋江市" in app.table.value
    app.prefecture.value = "350200"  # Xiamen
    xm = _count(app.reach_box.value)
    assert 0 < xm < total
    assert "晋江市" not in app.table.value and "思明区" in app.table.value
    app.classes.value = ("A",)
    assert 0 < _count(app.reach_box.value) < xm
    iframe = app.map_box.children[0].value
    assert iframe.startswith("<iframe srcdoc=")


def test_bases_app_reacts_to_k_and_locks():
    app = ui.bases_app()
    assert app.plan.report.status == "optimal" and len(app.plan.bases) == 2
    app.controls["k"].value = 3
    assert len(app.plan.bases) == 3
    body = app.widget.children[-1]  # below the data row
    assert "Today vs plan" in body.children[4].children[0].children[0].value
    off = app.tables["offices"]
    office = off.loc[off[S.OFFICE_STATUS] == "current", S.ID].iloc[0]
    app.controls["locked"].value = (office,)
    assert office in set(app.plan.bases["id"])
    app.controls["classes"].value = ("A",)
    n_a = int((app.tables["accounts"][S.CLASS] == "A").sum())
    assert f"<b>{n_a}</b> accounts" in app.status.value


def test_data_row_loads_another_folder_in_place(tmp_path):
    import shutil

    from planner import demo

    app = ui.start_here_app()
    folder, _crs, load = app.widget.children[0].children
    status = app.widget.children[2]
    folder.value = str(tmp_path / "nowhere")
    load.click()
    assert "data folder not found" in status.value and len(app.tables["accounts"]) == 3000
    data = tmp_path / "mine"
    data.mkdir()
    acc = demo.load_demo().accounts.head(120)
    acc.drop(columns=[S.SOURCE_ROW]).to_csv(data / "accounts.csv", index=False)
    shutil.copy(demo.demo_dir() / "offices.csv", data / "offices.csv")
    folder.value = str(data)
    load.click()
    assert "mine" in status.value and len(app.tables["accounts"]) == 120
    assert _count(app.reach_box.value) == 120
    app.classes.value = ("A",)  # the new controls drive the object the notebook holds
    assert _count(app.reach_box.value) == int((acc[S.CLASS] == "A").sum())
