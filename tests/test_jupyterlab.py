"""Every notebook in a real browser: JupyterLab (the venv's) on a copy of ``notebooks/``, driven by
Playwright in Debian's Chromium the way a user does it: Run > Run All Cells, the app's button, one control
changed. Then, per notebook: no error output and no traceback in the log console, no "Error displaying
widget", no console error but the offline map tiles, the map at least 90 % of the output's width, a result
table with rows, and each solve back within its time limit (plus a margin for the browser on 2 cores).

A full-page screenshot of each notebook goes to ``out/screenshots/`` with ``report.json`` (the measured
numbers); ``PLANNER_UPDATE_SCREENSHOTS=1`` also writes the small copies the README shows
(``docs/screenshots/``). Without Chromium the tests skip, or fail under ``PLANNER_REQUIRE_BROWSER=1``
(``.ci/run``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from jupyterlab_driver import (
    OFFLINE,
    ROOT,
    NotebookRun,
    deadline,
    kernel_python,
    lab_server,
    require_browser,
    small_png,
)

from planner.solvers import bases, days, expansion, rotation, territories
from planner.solvers.week import WeekOptions

SHOTS = ROOT / "out" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
MARGIN_S = 20.0  # a solve's time limit bounds the search; the tables, the map and the browser come on top
LOAD_S = 25.0  # imports, the demo's tables and the first drawing of an app, on 2 cores with the browser
MIN_MAP_SHARE = 0.90


@dataclass(frozen=True)
class Act:
    """One user action: ``kind`` click (a button), select (a dropdown: option ``index``, negative from the
    end), slide (a slider: ``value`` typed into its readout) or tab (a Tab widget's tab); ``label`` a regex
    on the control's label (labels are Chinese and English); ``limit_s`` the time limit of the solve it
    starts."""

    kind: str
    label: str
    limit_s: float = 0.0
    value: str = ""
    index: int = 1


@dataclass(frozen=True)
class Case:
    name: str
    load_limit_s: float  # the solves Run All Cells starts (apps that solve when built)
    acts: tuple[Act, ...]
    has_map: bool = True


_expansion_side = expansion.RoadmapOptions().time_limit_s + rotation.RotationOptions().time_limit_s
_bases = bases.BaseOptions().time_limit_s
CASES = [
    Case("00_start_here.ipynb", 0.0, (Act("select", "Prefecture", index=2),)),
    Case("01_where_are_the_customers.ipynb", 5 * _bases,  # the app's solve and k = 1..4 in the last cell
         (Act("slide", r"Bases \(k\)", _bases, value="3"), Act("click", r"Solve\s*$", _bases))),
    Case("02_territories.ipynb", territories.TerritoryOptions().time_limit_s,
         (Act("click", r"Solve B\s*$", territories.TerritoryOptions().time_limit_s),)),
    Case("03_daily_eight_visits.ipynb", days.DayOptions().time_limit_s,
         (Act("click", r"Plan the day", days.DayOptions().time_limit_s),
          Act("click", r"Solve the week", WeekOptions().time_limit_s))),
    Case("04_new_city_entry.ipynb", 2 * _expansion_side,  # both settings solve when the app is built
         (Act("slide", r"Quarters", _expansion_side, value="6"), Act("click", r"Solve\s*$", 2 * _expansion_side))),
    Case("05_targets.ipynb", 0.0, (Act("select", r"(^|\s)Month\s*$", index=-2),  # the gap split into deals
                                   Act("tab", r"Eating the elephant")), has_map=False),
    Case("06_visit_audit.ipynb", 0.0, (Act("slide", r"Far from account", value="300"), Act("click", r"Run audit"))),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    with lab_server(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=require_browser(), headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                     "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                                     OFFLINE])
        try:
            yield b
        finally:
            b.close()


def test_the_kernel_is_the_venvs_python(lab):
    spec = lab.api("/api/kernelspecs")
    assert spec["default"] == "python3"
    assert spec["kernelspecs"]["python3"]["spec"]["argv"][0] == sys.executable


def _act(run: NotebookRun, a: Act):
    wait = a.limit_s + MARGIN_S + 60
    limit = a.limit_s + MARGIN_S
    if a.kind == "click":
        return run.click(a.label, limit, wait)
    if a.kind == "select":
        return run.select(a.label, limit, wait, index=a.index)
    if a.kind == "tab":
        return run.tab(a.label, limit, wait)
    return run.slide(a.label, a.value, limit, wait)


def _report(name: str, entry: dict) -> None:
    path = SHOTS / "report.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    data[name] = entry
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name.split("_")[0])
def test_notebook_in_jupyterlab(lab, browser, case):
    budget = 150 + case.load_limit_s + sum(a.limit_s + MARGIN_S for a in case.acts)
    run = NotebookRun(lab, browser, case.name)
    stem = Path(case.name).stem
    with deadline(budget, case.name):
        try:
            run.open()
            python = kernel_python(run.kernel_id)
            run.run_all(case.load_limit_s + LOAD_S, case.load_limit_s + LOAD_S + 120)
            for a in case.acts:
                _act(run, a)
            seen = run.measure()
            shots = run.screenshot(SHOTS / f"{stem}.png")
            png = shots[0].read_bytes()
            small = small_png(browser, png)
            (SHOTS / "small").mkdir(parents=True, exist_ok=True)
            (SHOTS / "small" / f"{stem}.png").write_bytes(small)
            if os.environ.get("PLANNER_UPDATE_SCREENSHOTS"):
                DOCS.mkdir(parents=True, exist_ok=True)
                (DOCS / f"{stem}.png").write_bytes(small)
            log = run.log_console()
        except BaseException:
            if run.page is not None:  # what the page showed when it went wrong
                try:
                    run.screenshot(SHOTS / f"{stem}_failed.png")
                except Exception:
                    pass
            raise
        finally:
            run.close()
    maps = [m for m in seen["maps"] if m["visible"]]
    steps = [{"step": s.label, "seconds": round(s.seconds, 1), "limit_s": s.limit_s} for s in run.steps]
    _report(case.name, {"steps": steps, "maps": maps, "table_rows": seen["tables"], "stderr": seen["stderr"],
                        "widget_errors": seen["widgetErrors"],
                        "log_console": log, "console_errors": run.console_errors,
                        "network_errors_ignored": len(run.network_errors),
                        "network_errors_sample": sorted(set(run.network_errors))[:5], "kernel_python": python,
                        "screenshots": [p.name for p in shots], "small_bytes": len(small)})
    print(f"\n{case.name}: steps {steps}; maps {[(m['width'], m['area'], round(m['ratio'], 3)) for m in maps]}; "
          f"table rows {[(t['cell'], t['rows']) for t in seen['tables']]}; small {len(small) // 1000} kB")

    problems = []
    if python is None and Path("/proc").is_dir():
        problems.append(f"no kernel process found for kernel {run.kernel_id}")
    elif python is not None and python != sys.executable:
        problems.append(f"kernel runs {python}, not {sys.executable}")
    problems += [f"stderr output: {t[:400]}" for t in seen["stderr"] if "Traceback" in t or "Error" in t]
    problems += [f"widget: {t}" for t in seen["widgetErrors"]]
    problems += [f"log console: {t[:400]}" for t in log if "stderr" in t or "Traceback" in t or "Error" in t]
    problems += [f"console: {t[:300]}" for t in run.console_errors]
    if case.has_map and not maps:
        problems.append("no map drawn in the output")
    elif maps and max(m["ratio"] for m in maps) < MIN_MAP_SHARE:
        problems.append(f"the widest map is {max(m['ratio'] for m in maps):.0%} of the output's width "
                        f"(maps: {[(m['width'], m['area']) for m in maps]} px), not at least {MIN_MAP_SHARE:.0%}")
    problems += [f"a map draws nothing: {m}" for m in maps if m["drawn"] == 0]
    if not any(t["cell"] == 0 and t["rows"] >= 1 for t in seen["tables"]):  # the app is the first code cell
        problems.append(f"no result table with a row in the app's output (tables: {seen['tables']})")
    problems += [f"{s.label} took {s.seconds:.1f} s, limit {s.limit_s:.0f} s (time limit + margin)"
                 for s in run.steps if s.seconds > s.limit_s]
    assert len(small) <= 200_000
    assert not problems, f"{case.name}:\n- " + "\n- ".join(problems)
