"""The notebook apps as people see them: words and units in the tables, one language switch, controls that
solve on release, progress and Cancel, notebooks stored clean, exports where the user says, the
``planner notebooks`` command."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from planner.app import jupyter_config
from planner.app.cli import main, notebooks as cli_notebooks
from planner.app.ui import bases as ui_bases, common, jobs, tables

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _widgets(w):
    """Every widget in the tree under ``w`` (children of boxes and tabs)."""
    yield w
    for c in getattr(w, "children", ()) or ():
        yield from _widgets(c)


@pytest.fixture
def lang(monkeypatch):
    """The language switch, put back after the test."""
    monkeypatch.setenv(tables.LANGUAGE_ENV, "both")  # restored (to unset) after the test
    return tables.set_language


@pytest.fixture(scope="module")
def bases_app():
    return ui_bases.bases_app()


# --- tables for people ----------------------------------------------------------------------------

def test_language_switch_changes_headers(lang):
    df = pd.DataFrame({"kpi": ["mean_time_min", "share_within_60_min"], "today": [106.186921, 0.168],
                       "plan": [60.61316, 0.653333]})
    assert tables.language() == "both"
    both = tables.kpi_html(df)
    assert "平均路程 mean travel (min)" in both and "60分钟内客户 accounts within 60 min" in both
    lang("zh")
    zh = tables.kpi_html(df)
    assert "平均路程 (分钟)" in zh and "mean travel" not in zh and "现在" in zh
    lang("en")
    en = tables.kpi_html(df)
    assert "mean travel (min)" in en and "平均路程" not in en and "today" in en
    for text in (both, zh, en):  # never the code's names, never raw floats
        assert "mean_time_min" not in text and "share_within" not in text and "106.186921" not in text
        assert "<td" in text and "106</td>" in text and "65.3%</td>" in text and "16.8%</td>" in text
    with pytest.raises(ValueError, match="zh, en, both"):
        lang("fr")


def test_language_switch_reaches_the_apps(lang):
    from planner.app.ui import overview

    lang("en")
    app = overview.start_here_app()
    assert "prefecture" in app.table.value and "地级市" not in app.table.value
    assert "accounts shown" in app.reach_box.value
    lang("zh")
    app = overview.start_here_app()
    assert "地级市" in app.table.value and "prefecture" not in app.table.value
    assert "个客户" in app.reach_box.value and "accounts shown" not in app.reach_box.value
    assert app.prefecture.description == "地级市"


def test_percentages_thousands_and_sensible_decimals():
    df = pd.DataFrame({"name": ["泉州市"], "potential_cny": [19390912.4], "share": [0.168], "accounts": [2108],
                       "mean_time_min": [60.38], "workload_max_over_min": [1.221007], "weird_float": [1.93909e7]})
    html = tables.table_html(df)
    assert "19,390,912" in html and "16.8%" in html and "2,108" in html and ">60<" in html
    assert "1.22×" in html and "19,390,900" in html and "e+07" not in html
    assert 'style="max-width:100%;overflow-x:auto"' in html  # never wider than its panel
    assert tables.fmt(None, "cny") == "–" and tables.pct(0.5) == "50%" and tables.num(0.123) == "0.12"


def test_tables_escape_text_and_put_names_first():
    df = pd.DataFrame({"name": ["<script>x</script>"], "id": ["A1"]})
    html = tables.table_html(df)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert tables.place_names(pd.Series(["350582", "", "999999"])).tolist() == ["晋江市 Jinjiang", "", "999999"]


def test_bases_tables_in_words(bases_app):
    kpis, table = bases_app.kpis.value, bases_app.table.value
    assert "mean_time_min" not in kpis and "share_within_60_min" not in kpis and "%" in kpis
    assert "平均路程 mean travel (min)" in kpis
    assert "mean_time_min" not in table and "所在地 where" in table
    assert "objective" not in bases_app.status.value.split("<details")[0]  # the solver's numbers folded away
    labels = [label for label, _ in bases_app.controls["locked"].options]
    assert len(labels) == len(set(labels))  # the two Licheng county seats are two different labels


def test_start_here_table_follows_the_filter():
    from planner.app.ui import overview

    app = overview.start_here_app()
    linked = app.summary_table()
    assert "晋江市" in linked.value
    app.prefecture.value = app.prefecture.options[1][1]
    assert linked.value == app.summary_html(app.summary()) != ""
    assert app.table.value == app.summary_html(app.summary(), rows=overview.TABLE_ROWS)


def test_targets_tree_rows_sit_beside_their_triangles():
    from planner.app.ui import targets

    app = targets.targets_app()
    assert "display:inline-grid" in app.tree.value and "display:grid" not in app.tree.value
    assert "0.96" not in app.tree.value.split("<details", 1)[0]  # the header


# --- controls, progress, Cancel ---------------------------------------------------------------------------

def test_sliders_and_boxes_solve_on_release(bases_app):
    import ipywidgets as w

    controls = [c for c in _widgets(bases_app.widget)
                if isinstance(c, (w.IntSlider, w.FloatSlider, w.IntText, w.FloatText, w.BoundedIntText,
                                  w.BoundedFloatText, w.Text))]
    assert any(isinstance(c, w.IntSlider) for c in controls)
    assert all(c.continuous_update is False for c in controls), [c.description for c in controls]
    assert bases_app.controls["k"].continuous_update is False


def test_buttons_are_never_truncated(bases_app):
    import ipywidgets as w

    buttons = [c for c in _widgets(bases_app.widget) if isinstance(c, w.Button)]
    assert len(buttons) >= 3
    assert all(b.layout.min_width == "max-content" for b in buttons), [b.description for b in buttons]


def test_cancel_keeps_the_previous_plan_and_says_cancelled(bases_app, monkeypatch):
    from planner.solvers import bases

    before = bases_app.plan
    real = bases.solve_bases
    calls = []

    def cancelled_midway(acc, off, *, reps, options, progress, backend=None):
        def pressed(fraction, message):  # Cancel pressed while the real solver runs
            calls.append(message)
            bases_app.job.cancel_button.click()
            progress(fraction, message)
        return real(acc, off, reps=reps, options=options, progress=pressed, backend=backend)

    monkeypatch.setattr(bases, "solve_bases", cancelled_midway)
    k0 = bases_app.controls["k"].value
    bases_app.controls["k"].value = k0 + 1  # solves on the change
    assert calls, "the solver never called its progress callback"
    assert bases_app.plan is before and bases_app.job.state == "cancelled"
    assert "cancelled" in bases_app.job.text.value and "previous" in bases_app.job.text.value
    assert bases_app.job.cancel_button.disabled and not any(b.disabled for b in bases_app.job.buttons)
    assert not any("planner-busy" in b._dom_classes for b in bases_app.job.greyed)
    monkeypatch.setattr(bases, "solve_bases", real)
    bases_app.controls["k"].value = k0
    assert bases_app.job.state == "done" and len(bases_app.plan.bases) == k0


def test_a_background_solve_greys_the_results_and_stops_on_cancel():
    import ipywidgets as w

    box, btn = w.HTML("old plan"), w.Button(description="Solve")
    job = jobs.job(busy=[box], buttons=[btn], background=True)
    started, results = threading.Event(), []

    def work(progress):
        started.set()
        for k in range(200):
            progress(k / 200, f"step {k}")
            time.sleep(0.02)
        return "new plan"

    job.submit(work, results.append, what="solving", limit_s=10)
    assert started.wait(5)
    assert job.running and "planner-busy" in box._dom_classes and btn.disabled
    assert "solving" in job.text.value and " s" in job.text.value  # the phase and the seconds
    job.cancel_button.click()
    job.wait(10)
    assert job.state == "cancelled" and results == [] and "cancelled" in job.text.value
    assert "planner-busy" not in box._dom_classes and not btn.disabled
    # a second request while one runs: the running one gives way, the newest settings are solved
    job.submit(work, results.append, what="first")
    assert started.wait(5)
    job.submit(lambda progress: "second", results.append, what="second")
    job.wait(10)
    assert results == ["second"] and job.state == "done"


def test_expansion_has_a_solve_button_and_progress():
    import ipywidgets as w

    from planner.app.ui import expansion
    from planner.solvers import expansion as E

    app = expansion.expansion_app(options=E.RoadmapOptions(time_limit_s=4, explain=False))
    buttons = [c.description for c in _widgets(app.widget) if isinstance(c, w.Button)]
    assert any("Solve" in b for b in buttons) and app.job is not None and app.job.state == "done"
    assert "adcode" not in app.score_table.value and "泉州市 Quanzhou" in app.score_table.value


# --- exports ---------------------------------------------------------------------------------------------

def test_every_app_has_an_export_button():
    import ipywidgets as w

    from planner.app import ui
    from planner.solvers import expansion as E

    apps = {"00": ui.start_here_app(), "01": ui.bases_app(),
            "02": ui.territories_app(solve_first=False), "03": ui.days_app(plan_now=False), "03w": ui.week_app(),
            "04": ui.expansion_app(options=E.RoadmapOptions(time_limit_s=4, explain=False)),
            "05": ui.targets_app(), "06": ui.audit_app(run_now=False)}
    for name, app in apps.items():
        buttons = [c for c in _widgets(app.widget) if isinstance(c, w.Button)]
        assert any("Export" in b.description and "导出" in b.description for b in buttons), name


def test_targets_export_writes_the_workbook(tmp_path):
    from planner.app.ui import targets

    app = targets.targets_app()
    app.export_folder.value = str(tmp_path / "t")
    app._on_export()
    assert "Written:" in app.written.value
    assert (tmp_path / "t" / "summary.json").exists() and list((tmp_path / "t").glob("targets_*.xlsx"))


def test_exports_go_to_out_under_the_project_root(tmp_path, monkeypatch):
    monkeypatch.delenv(common.OUT_ENV, raising=False)
    monkeypatch.chdir(ROOT / "notebooks")  # where the kernel of a notebook runs
    assert common.resolve_out(None, "days") == ROOT / "out" / "days"
    assert common.resolve_out("out/mine", "days") == ROOT / "out" / "mine"
    assert common.resolve_out(str(tmp_path), "days") == tmp_path
    monkeypatch.setenv(common.OUT_ENV, str(tmp_path / "exports"))
    assert common.resolve_out("", "week") == tmp_path / "exports" / "week"
    monkeypatch.delenv(common.OUT_ENV)
    monkeypatch.chdir(tmp_path)  # no project above: the working directory
    assert common.resolve_out(None, "audit") == tmp_path.resolve() / "out" / "audit"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "/out/" in ignored and "notebooks/out/" in ignored


# --- notebooks stored clean --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_kernel_and_nothing_of_a_session(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    meta = nb["metadata"]
    assert meta["kernelspec"]["name"] == "python3" and meta["kernelspec"]["language"] == "python"
    assert meta["language_info"]["name"] == "python"
    assert "widgets" not in meta
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


def _session_notebook() -> dict:
    view = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2}}
    return {"cells": [{"cell_type": "code", "id": "a", "metadata": {"scrolled": True}, "execution_count": 3,
                       "source": "app", "outputs": [
                           {"output_type": "display_data", "data": {**view, "text/plain": ["App(...)"]},
                            "metadata": {}},
                           {"output_type": "stream", "name": "stdout", "text": "hello"}]},
                      {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 4, "source": "w",
                       "outputs": [{"output_type": "display_data", "data": view, "metadata": {}}]}],
            "metadata": {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
            "nbformat": 4, "nbformat_minor": 5}


def test_pre_save_hook_strips_outputs_and_widget_state():
    model = {"type": "notebook", "content": _session_notebook()}
    jupyter_config.scrub(model, path="notebooks/01_where_are_the_customers.ipynb")
    nb = model["content"]
    assert "widgets" not in nb["metadata"] and nb["metadata"]["kernelspec"]["name"] == "python3"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in nb["cells"])
    assert "scrolled" not in nb["cells"][0]["metadata"]
    # a notebook of the user's own keeps its outputs, not the widget views (dead once the kernel is gone)
    mine = {"type": "notebook", "content": _session_notebook()}
    jupyter_config.scrub(mine, path="my analysis.ipynb")
    cells = mine["content"]["cells"]
    assert [o["output_type"] for o in cells[0]["outputs"]] == ["display_data", "stream"]
    assert cells[0]["outputs"][0]["data"] == {"text/plain": ["App(...)"]} and cells[1]["outputs"] == []
    other = {"type": "file", "content": "x"}
    jupyter_config.scrub(other, path="01_x.ipynb")
    assert other["content"] == "x"


def test_the_server_config_saves_notebooks_stripped(tmp_path):
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader(Path(jupyter_config.__file__).name,
                             path=str(Path(jupyter_config.__file__).parent)).load_config()
    assert cfg.ContentsManager.pre_save_hook == "planner.app.jupyter_config.scrub"
    cm = FileContentsManager(root_dir=str(tmp_path), config=cfg)
    cm.save({"type": "notebook", "format": "json", "content": _session_notebook()}, "02_mine.ipynb")
    saved = json.loads((tmp_path / "02_mine.ipynb").read_text(encoding="utf-8"))
    assert all(c["outputs"] == [] for c in saved["cells"]) and "widgets" not in saved["metadata"]


# --- planner notebooks ------------------------------------------------------------------------------------

def test_planner_notebooks_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["notebooks", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--port" in out and "JupyterLab" in out


def test_planner_notebooks_command(monkeypatch, tmp_path):
    folder = cli_notebooks.notebooks_dir(None, cwd=ROOT / "planner")
    assert folder == ROOT / "notebooks"
    cmd = cli_notebooks.command(folder, port=9999, root=False)
    assert cmd[:4] == [sys.executable, "-m", "jupyter", "lab"]  # the venv's Jupyter, whatever is on PATH
    assert f"--ServerApp.root_dir={folder}" in cmd and "--port=9999" in cmd and "--allow-root" not in cmd
    assert f"--config={Path(jupyter_config.__file__).resolve()}" in cmd
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--allow-root" in cli_notebooks.command(folder)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "--allow-root" not in cli_notebooks.command(folder)
    with pytest.raises(FileNotFoundError, match="--dir"):
        monkeypatch.setattr(cli_notebooks, "__file__", str(tmp_path / "a" / "b" / "c" / "d.py"))
        cli_notebooks.notebooks_dir(None, cwd=tmp_path)


def test_planner_notebooks_dry_run_and_the_demo_hint(capsys, monkeypatch):
    assert main(["notebooks", "--dry-run", "--port", "9001"]) == 0
    out = capsys.readouterr().out
    assert "-m jupyter lab" in out and "--port=9001" in out
    assert "notebooks" in cli_notebooks.hint() and "jupyter lab" not in cli_notebooks.hint()
