"""JupyterLab in a real browser, for ``tests/test_jupyterlab.py``.

``lab_server(tmp)`` starts JupyterLab (the venv's, ``sys.executable -m jupyter lab``) on a copy of
``notebooks/`` with its own kernelspec, settings and workspaces under ``tmp``, so nothing of the user's
Jupyter set-up is read and the tracked notebooks are never written. ``NotebookRun`` drives one notebook in
a Playwright page the way a user does (menu Run > Run All Cells, buttons, dropdowns, sliders) and measures
what the page shows (maps, tables, error outputs, the log console, console errors). ``small_png`` makes the
README copy of a screenshot (about 1000 px wide, palette PNG) with numpy and the browser only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "planner-browser-test"
VIEWPORT = {"width": 1280, "height": 900}
# no name resolves but this machine's: the map tiles fail at once, nothing leaves the machine
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"
MAX_SHOT_HEIGHT = 16000  # Chromium's largest texture is 16384 px
# console errors that only say the map tiles (or anything else off this machine) did not load
NETWORK_NOISE = re.compile(r"net::ERR_|Failed to load resource|tile|openstreetmap|cartocdn|ERR_NAME_NOT_RESOLVED",
                           re.I)


def require_browser() -> str:
    """Chromium's path, or skip (fail under ``PLANNER_REQUIRE_BROWSER``, as ``.ci/run`` sets it)."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "the playwright package is missing: pip install -e '.[test]'"
    else:
        if CHROMIUM is not None:
            return CHROMIUM
        missing = "Chromium is missing: .ci/run installs it (apt-get install chromium)"
    if os.environ.get("PLANNER_REQUIRE_BROWSER"):
        pytest.fail(missing)
    pytest.skip(missing)
    raise AssertionError("unreachable")


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise ``TimeoutError`` in the test when it runs longer than ``seconds`` (the suite has no
    pytest-timeout; every browser wait is bounded as well)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(*_: Any) -> None:
        raise TimeoutError(f"{what}: over its {seconds:.0f} s budget")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --- the server -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(folder: Path) -> None:
    """User settings of the test's JupyterLab: every cell rendered (no virtual scrolling, so a full-page
    screenshot and the measurements see every output), no news or update check."""
    overrides = {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, values in overrides.items():
        path = folder / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


@dataclass
class Lab:
    """A running JupyterLab: its URL, the folder it serves and its process."""

    url: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, method: str = "GET") -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def session(self, notebook: str) -> dict[str, Any] | None:
        return next((s for s in self.api("/api/sessions") if s.get("path", "").endswith(notebook)), None)

    def kernel(self, kernel_id: str) -> dict[str, Any]:
        return dict(self.api(f"/api/kernels/{kernel_id}"))

    def stop_sessions(self) -> None:
        """Shut every kernel down (one notebook's kernel is gone before the next starts: 2 cores)."""
        for s in self.api("/api/sessions"):
            self.api(f"/api/sessions/{s['id']}", method="DELETE")

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-n:]


def kernel_python(kernel_id: str) -> str | None:
    """The executable of the kernel process with this id (its connection file names it), from /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"ipykernel_launcher" in a for a in argv) and any(kernel_id.encode() in a for a in argv):
            return argv[0].decode()
    return None


@contextmanager
def lab_server(tmp: Path) -> Iterator[Lab]:
    """JupyterLab on a copy of ``notebooks/`` in ``tmp``, with a ``python3`` kernelspec that runs
    ``sys.executable`` (the venv's python) and nothing read from the user's Jupyter folders; stopped at
    the end, also when the tests fail."""
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    data, config, runtime = tmp / "jupyter-data", tmp / "jupyter-config", tmp / "jupyter-runtime"
    spec = data / "kernels" / "python3" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                "display_name": "Python 3 (ipykernel)", "language": "python",
                                "metadata": {"debugger": False}}), encoding="utf-8")
    for d in (config, runtime, tmp / "ipython", tmp / "lab-workspaces"):
        d.mkdir(parents=True, exist_ok=True)
    _settings(tmp / "lab-settings")
    env = {**os.environ, "JUPYTER_PATH": str(data), "JUPYTER_DATA_DIR": str(data), "JUPYTER_CONFIG_DIR": str(config),
           "JUPYTER_RUNTIME_DIR": str(runtime), "IPYTHONDIR": str(tmp / "ipython"), "JUPYTER_PLATFORM_DIRS": "1",
           "PYTHONUNBUFFERED": "1", "PLANNER_OUT": str(tmp / "exports")}  # an export never lands in the repo
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={tmp / 'lab-settings'}", f"--LabApp.workspaces_dir={tmp / 'lab-workspaces'}",
           "--KernelSpecManager.ensure_native_kernel=False", "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = tmp / "jupyterlab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root,
                                start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", root, proc, log)
    try:
        t_end = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({proc.returncode}):\n{lab.log_tail()}")
            try:
                lab.api("/api/status")
                break
            except OSError:
                if time.monotonic() > t_end:
                    raise RuntimeError(f"JupyterLab did not answer in 90 s:\n{lab.log_tail()}") from None
                time.sleep(0.3)
        yield lab
    finally:
        try:
            if proc.poll() is None:
                lab.stop_sessions()
        except OSError:
            pass
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# --- one notebook in the browser ----------------------------------------------------------------------

_MEASURE = """() => {
  const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const outputs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
  const maps = [];
  document.querySelectorAll('.jp-Notebook .jp-OutputArea-output iframe').forEach((f) => {
    let doc = null; try { doc = f.contentDocument; } catch (e) {}
    if (!doc || !doc.querySelector('.leaflet-container, .folium-map')) return;
    const area = f.closest('.jp-OutputArea-output');
    const fw = f.getBoundingClientRect().width, aw = area.getBoundingClientRect().width;
    maps.push({width: Math.round(fw), area: Math.round(aw), ratio: aw ? fw / aw : 0, visible: visible(f),
               height: Math.round(f.getBoundingClientRect().height),
               drawn: doc.querySelectorAll('.leaflet-interactive, .leaflet-marker-icon').length});
  });
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const tables = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output table')]
    .filter(visible).map((t) => ({cell: cells.indexOf(t.closest('.jp-CodeCell')),
                                  rows: [...t.querySelectorAll('tr')].filter((r) => r.querySelector('td')).length}));
  const stderr = [...document.querySelectorAll(
      '.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map((e) => e.innerText);
  const text = outputs.map((e) => e.innerText).join('\\n');
  const widgetErrors = (text.match(/Error displaying widget[^\\n]*|Error rendering[^\\n]*/g) || []);
  const loading = (text.match(/Loading widget\\.\\.\\./g) || []).length;
  const log = document.querySelector('.jp-LogConsoleStatusItem [title]');
  const scroller = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')
    || document.querySelector('.jp-NotebookPanel-notebook');
  return {maps, tables, stderr, widgetErrors, loading, logTitle: log ? log.title : '',
          scrollHeight: scroller ? scroller.scrollHeight : 0,
          scrollTop: scroller ? scroller.getBoundingClientRect().top : 0};
}"""

_SCROLL = """(y) => {
  const s = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer')
    || document.querySelector('.jp-NotebookPanel-notebook');
  s.scrollTop = y;
  return [s.scrollTop, s.clientHeight, s.scrollHeight];
}"""

_STATE = """() => {
  // what a user sees of the notebook's progress: cells still to run ([*] or no count), a solve running
  // (an enabled Cancel button), widgets not drawn yet, map iframes not loaded; and a signature of the
  // outputs' text and maps, to see when something changed and when it stopped changing
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map((e) => e.textContent.trim());
  const outputs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
  const text = outputs.map((e) => e.innerText).join('\\n');
  const frames = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output iframe[srcdoc]')];
  const loaded = frames.every((f) => {
    try { const d = f.contentDocument; return d && d.URL === 'about:srcdoc' && d.readyState === 'complete'; }
    catch (e) { return true; }
  });
  let h = 0;
  const mix = (s) => { for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0; };
  mix(text); frames.forEach((f) => mix(String(f.srcdoc.length)));
  return {
    ran: prompts.length > 0 && prompts.every((t) => /^\\[\\d+\\]:$/.test(t)),
    running: [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output button.jupyter-button')]
      .some((b) => !b.disabled && /取消|Cancel/.test(b.textContent)),
    drawn: !/Loading widget\\.\\.\\./.test(text) && loaded,
    sig: `${h}:${text.length}:${frames.length}`,
  };
}"""


@dataclass
class Step:
    """What the test did, and the seconds until the page showed its result and stayed quiet."""

    label: str
    seconds: float
    limit_s: float


@dataclass
class NotebookRun:
    """One notebook open in a Playwright page of ``browser``, served by ``lab``."""

    lab: Lab
    browser: Any
    name: str
    page: Any = None
    context: Any = None
    kernel_id: str = ""
    steps: list[Step] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    network_errors: list[str] = field(default_factory=list)

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if NETWORK_NOISE.search(msg.text) or (where and not where.startswith(self.lab.url)
                                              and not where.startswith(("about:", "data:"))):
            self.network_errors.append(f"{msg.text[:80]} ({where[:80]})")
        else:
            self.console_errors.append(f"{msg.text} ({where})")

    def open(self, timeout_s: float = 90) -> None:
        """Open the notebook in a fresh workspace (nothing restored), offline, and wait for its kernel."""
        self.context = self.browser.new_context(viewport=VIEWPORT)
        self.page = page = self.context.new_page()
        page.set_default_timeout(timeout_s * 1000)
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))
        lab = self.lab.url
        stem = Path(self.name).stem.replace("_", "-")
        page.goto(f"{lab}/lab/workspaces/{stem}/tree/{self.name}?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell")
        t_end = time.monotonic() + timeout_s
        while True:
            s = self.lab.session(self.name)
            if s and s.get("kernel") and self.lab.kernel(s["kernel"]["id"]).get("execution_state") == "idle":
                self.kernel_id = s["kernel"]["id"]
                break
            assert time.monotonic() < t_end, f"{self.name}: the kernel did not start in {timeout_s:.0f} s"
            page.wait_for_timeout(300)  # (not time.sleep: Playwright handles the page's events meanwhile)
        page.wait_for_function("() => /\\| Idle/.test(document.querySelector('.jp-StatusBar-Widget, "
                               ".jp-StatusBar').innerText)")
        current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if current.count():  # the file browser is open: close it (a click on its tab), for room
            current.first.click()
            page.wait_for_selector("#jp-left-stack", state="hidden")

    def menu(self, title: str, command: str) -> None:
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(rf"^{title}$")).click()
        self.page.locator(f'.lm-Menu-item[data-command="{command}"]').click()

    def _state(self) -> dict[str, Any]:
        return dict(self.page.evaluate(_STATE))

    def _timed(self, label: str, limit_s: float, wait_s: float, act: Any, *, must_change: bool = True) -> Step:
        """Do ``act`` and time it until the page is quiet: every cell ran, no solve runs (solves started
        from a widget run in a worker thread, the kernel is idle meanwhile), the widgets and maps are drawn,
        and the outputs stay the same for a second. ``must_change``: first wait for the outputs to change or
        a solve to start (the kernel's own busy/idle is no guide: it reports idle during a long cell)."""
        before = self._state()["sig"]
        t0 = time.perf_counter()
        act()

        def left() -> float:
            remaining = wait_s - (time.perf_counter() - t0)
            assert remaining > 0, f"{self.name}: {label} not finished after {wait_s:.0f} s"
            return remaining

        while must_change:
            st = self._state()
            if st["running"] or st["sig"] != before:
                break
            assert time.perf_counter() - t0 < min(wait_s, 60), f"{self.name}: {label} changed nothing"
            self.page.wait_for_timeout(200)
        sig, quiet_since = None, 0.0
        while True:
            st = self._state()
            if not (st["ran"] and st["drawn"]) or st["running"]:
                sig = None
            elif st["sig"] != sig:
                sig, quiet_since = st["sig"], time.perf_counter()
            elif time.perf_counter() - quiet_since >= 1.0:
                break
            self.page.wait_for_timeout(min(250, int(left() * 1000)))
        step = Step(label, quiet_since - t0, limit_s)
        self.steps.append(step)
        return step

    def run_all(self, limit_s: float, wait_s: float) -> Step:
        """Run > Run All Cells; done when every code cell has its count and the page is quiet."""
        return self._timed("Run All Cells", limit_s, wait_s, lambda: self.menu("Run", "runmenu:run-all"),
                           must_change=False)

    def click(self, label: str, limit_s: float, wait_s: float) -> Step:
        """Press the first visible, enabled widget button whose label matches the regex ``label`` (labels are
        Chinese and English: search, don't anchor at the start)."""
        button = self.page.locator("button.jupyter-button:not([disabled])", has_text=re.compile(label))
        button = button.locator("visible=true").first
        return self._timed(f"press {label!r}", limit_s, wait_s, button.click)

    def select(self, label: str, limit_s: float, wait_s: float, *, index: int = 1) -> Step:
        """Pick option ``index`` (negative: from the end) of the dropdown whose description matches the
        regex ``label``."""
        box = self.page.locator(".widget-dropdown", has=self.page.locator("label", has_text=re.compile(label))).first
        sel = box.locator("select")
        options = sel.locator("option")
        value = options.nth(index % options.count()).get_attribute("value")
        return self._timed(f"{label} -> option {index}", limit_s, wait_s, lambda: sel.select_option(value))

    def tab(self, label: str, limit_s: float, wait_s: float) -> Step:
        """Open the tab (of a Tab widget) whose title matches the regex ``label``."""
        tab = self.page.locator(".jp-OutputArea-output .lm-TabBar-tab", has_text=re.compile(label)).first
        return self._timed(f"tab {label!r}", limit_s, wait_s, tab.click)

    def slide(self, label: str, value: str, limit_s: float, wait_s: float) -> Step:
        """Type ``value`` into the readout of the slider whose description matches the regex ``label``."""
        box = self.page.locator(".widget-slider", has=self.page.locator("label", has_text=re.compile(label))).first
        readout = box.locator(".widget-readout")

        def act() -> None:
            readout.click()
            self.page.keyboard.press("Control+A")
            self.page.keyboard.type(value)
            self.page.keyboard.press("Enter")

        return self._timed(f"{label} -> {value}", limit_s, wait_s, act)

    def measure(self) -> dict[str, Any]:
        return dict(self.page.evaluate(_MEASURE))

    def log_console(self) -> list[str]:
        """The log console's entries (where ipywidgets 8 sends output and tracebacks of callbacks)."""
        title = self.measure()["logTitle"]
        m = re.search(r"(\d+) log entr", title)
        if not m or int(m.group(1)) == 0:
            return []
        self.page.locator(".jp-LogConsoleStatusItem [title]").first.click()
        self.page.wait_for_selector(".jp-LogConsolePanel .jp-OutputArea-output", timeout=10000)
        return list(self.page.evaluate("""() => [...document.querySelectorAll(
            '.jp-LogConsolePanel .jp-OutputArea-output')].map((e) =>
            `${e.getAttribute('data-mime-type') || ''}: ${e.innerText}`)"""))

    def screenshot(self, path: Path) -> list[Path]:
        """The whole notebook from its top: the viewport made as tall as the notebook (Chromium's limit:
        ``MAX_SHOT_HEIGHT``); a taller notebook is scrolled on into ``NAME_part2.png``, ... Returns the
        files."""
        m = self.measure()
        height = int(min(max(m["scrollHeight"] + m["scrollTop"] + 40, VIEWPORT["height"]), MAX_SHOT_HEIGHT))
        self.page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(f"{path.stem}_part*.png"):
            old.unlink()
        files, y = [], 0
        while True:
            top, shown, total = self.page.evaluate(_SCROLL, y)
            self.page.wait_for_timeout(1200 if y == 0 else 400)  # maps and layouts follow the resize
            files.append(path if y == 0 else path.with_name(f"{path.stem}_part{len(files) + 1}.png"))
            self.page.screenshot(path=str(files[-1]))
            if top + shown >= total - 1 or shown <= 0:
                return files
            y = top + shown

    def close(self) -> None:
        try:
            if self.context is not None:
                self.context.close()
        finally:
            s = self.lab.session(self.name)
            if s:
                self.lab.api(f"/api/sessions/{s['id']}", method="DELETE")


# --- the README's small screenshots ---------------------------------------------------------------------

_SCALE = """async ([b64, width]) => {
  const img = new Image(); img.src = 'data:image/png;base64,' + b64; await img.decode();
  const h = Math.round(img.height * width / img.width);
  const c = document.createElement('canvas'); c.width = width; c.height = h;
  const g = c.getContext('2d'); g.imageSmoothingQuality = 'high'; g.drawImage(img, 0, 0, width, h);
  window.__px = g.getImageData(0, 0, width, h).data;
  return h;
}"""
_CHUNK = """([a, b]) => {
  const px = window.__px.subarray(a, b); let s = '';
  for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
  return btoa(s);
}"""


def _palette(rgb: np.ndarray, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantisation to ``colours``: colours binned at 5 bits a channel; the palette chosen greedily, each
    next colour the bin with the most pixels times the squared distance to the nearest colour chosen (so a
    legend's small red swatch gets its red, not the grey of the many anti-aliased text pixels); every bin
    mapped to its nearest palette colour. Returns (palette, index image)."""
    q = (rgb >> 3).astype(np.int32)
    bins = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
    counts = np.bincount(bins.ravel(), minlength=1 << 15)
    used = np.flatnonzero(counts)
    sums = np.stack([np.bincount(bins.ravel(), weights=rgb[..., c].ravel(), minlength=1 << 15) for c in range(3)], 1)
    mean = sums[used] / counts[used, None]  # the mean colour of each bin used
    weight = counts[used].astype(float)
    chosen = [int(weight.argmax())]
    d = ((mean - mean[chosen[0]]) ** 2).sum(1)
    for _ in range(min(colours, len(used)) - 1):
        k = int((weight * d).argmax())
        if d[k] == 0:
            break
        chosen.append(k)
        d = np.minimum(d, ((mean - mean[k]) ** 2).sum(1))
    pal = mean[chosen]
    lut = np.zeros(1 << 15, dtype=np.uint8)
    for a in range(0, len(used), 4096):  # each bin used: its nearest palette colour, in blocks
        dist = ((mean[a:a + 4096, None, :] - pal[None, :, :]) ** 2).sum(-1)
        lut[used[a:a + 4096]] = dist.argmin(1)
    return np.rint(pal).astype(np.uint8), lut[bins]


def _png(pal: np.ndarray, idx: np.ndarray) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = idx.shape
    raw = np.hstack([np.zeros((h, 1), np.uint8), idx]).tobytes()  # filter 0 on every row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", pal.tobytes()) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def small_png(browser: Any, png: bytes, *, width: int = 1000, max_height: int = 2400,
              max_bytes: int = 200_000) -> bytes:
    """``png`` scaled to ``width`` (the browser's high-quality scaling), its top ``max_height`` pixels (the
    app; a README needs no table of 300 rows), as a palette PNG under ``max_bytes``: 256 colours, fewer
    if needed, and as a last resort less of the bottom."""
    page = browser.new_page()
    try:
        h = int(page.evaluate(_SCALE, [base64.b64encode(png).decode(), width]))
        n, step = width * min(h, max_height) * 4, 4 * width * 512
        raw = b"".join(base64.b64decode(page.evaluate(_CHUNK, [a, min(a + step, n)])) for a in range(0, n, step))
    finally:
        page.close()
    rgb = np.frombuffer(raw, np.uint8).reshape(-1, width, 4)[..., :3]
    for colours in (256, 128, 64):
        out = _png(*_palette(rgb, colours))
        if len(out) <= max_bytes:
            return out
    pal, idx = _palette(rgb, 64)
    while len(out) > max_bytes and idx.shape[0] > 400:
        idx = idx[: int(idx.shape[0] * 0.85)]
        out = _png(pal, idx)
    return out
