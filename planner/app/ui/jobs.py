"""The progress row every solving app shares: a bar, the phase and the seconds, Cancel; results greyed.

``Job.run(work, done)`` calls ``work(progress)`` (the solve; ``progress`` is the solver's callback) and then
``done(result)`` (show the plan). While it runs the buttons are disabled, the result boxes greyed (CSS
opacity) and the text says the phase and the elapsed seconds. **Cancel** sets a flag; the next progress
call raises :class:`Cancelled`, the app keeps its previous plan and says "cancelled". A solver that calls
its progress callback only between stages stops at the next stage; one that never calls it (the audit)
runs to its end and its result is dropped.

In a running Jupyter kernel a solve started from a widget (a button, a slider) runs in a worker thread
(:meth:`Job.submit`), so the kernel keeps reading clicks (Cancel) and a ticker updates the seconds. A
change while a solve runs cancels it and solves again with the newest settings (one solve, not one per
value passed). Called from code (``app.solve()``) or outside a kernel (tests, scripts), a solve runs at
once, in the caller's thread.
"""

from __future__ import annotations

import html
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner.app.ui.tables import STYLE, tr
from planner.errors import InputError

Work = Callable[[Callable[[float | None, str], None]], Any]
Done = Callable[[Any], None]
OnError = Callable[[Exception], None]
# errors that are the user's settings or data, shown as a message (others are bugs: raised, or shown in full)
USER_ERRORS = (ValueError, KeyError, InputError)


class Cancelled(BaseException):
    """Raised by the progress callback once Cancel is pressed.

    A ``BaseException`` (like ``KeyboardInterrupt``), so a solver's ``except Exception`` around its
    progress calls does not swallow it."""


def in_kernel() -> bool:
    """Inside a running IPython kernel (a notebook), where widget events arrive while a solve runs."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def button(description: str, *, style: str = "", icon: str = "", tooltip: str = "") -> Any:
    """A button as wide as its label (never truncated)."""
    import ipywidgets as w

    return w.Button(description=description, button_style=style, icon=icon, tooltip=tooltip or description,
                    layout=w.Layout(width="max-content", min_width="max-content", flex="0 0 auto"))


@dataclass(eq=False)
class Job:
    """The progress row of one app (see the module docstring); ``widget`` is the row to place."""

    bar: Any
    text: Any
    cancel_button: Any
    widget: Any
    greyed: list[Any] = field(default_factory=list)
    buttons: list[Any] = field(default_factory=list)
    background: bool = False
    cancellable: bool = True
    state: str = "idle"
    what: str = ""
    message: str = ""
    limit_s: float | None = None
    t0: float = 0.0
    fraction: float | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _queued: tuple[Any, ...] | None = None

    # --- state shown ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def busy(self) -> bool:
        """A solve runs, or waits to run, in the worker thread."""
        return self.running or self._thread is not None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0 if self.t0 else 0.0

    def _head(self) -> str:
        return f"<b>{html.escape(self.what)}</b>: " if self.what else ""

    def _show(self) -> None:
        secs = f"{self.elapsed():,.0f} s"
        if self.limit_s:
            secs += " / " + tr(f"最多 {self.limit_s:,.0f} 秒", f"at most {self.limit_s:,.0f} s")
        self.text.value = f"{self._head()}{html.escape(self.message)} · {secs}"
        f = self.fraction
        if f is None and self.limit_s:
            f = min(self.elapsed() / self.limit_s, 0.99)
        if f is not None:
            self.bar.value = max(0.0, min(float(f), 1.0))

    def progress(self, fraction: float | None, message: str) -> None:
        """The solver's progress callback: raises :class:`Cancelled` once Cancel is pressed."""
        if self._cancel.is_set():
            raise Cancelled
        self.fraction, self.message = fraction, message
        self._show()

    def cancel(self, *_: Any) -> None:
        """Ask the running solve to stop (at its next progress call)."""
        if self.running:
            self._cancel.set()
            self.message = tr("正在取消…", "cancelling ...")
            self._show()

    # --- one run -----------------------------------------------------------------------------------
    def _begin(self, what: str, limit_s: float | None) -> None:
        self._cancel.clear()
        self.state, self.what, self.limit_s, self.t0 = "running", what, limit_s, time.perf_counter()
        self.fraction, self.message = 0.0, tr("开始", "starting")
        self.bar.bar_style, self.bar.value = "info", 0.0
        for b in self.greyed:
            b.add_class("planner-busy")
        for b in self.buttons:
            b.disabled = True
        self.cancel_button.disabled = False
        self._show()

    def _end(self, state: str, text: str) -> None:
        self.state = state
        for b in self.greyed:
            b.remove_class("planner-busy")
        for b in self.buttons:
            b.disabled = False
        self.cancel_button.disabled = True
        self.bar.bar_style = {"done": "success", "cancelled": "warning"}.get(state, "danger")
        if state == "done":
            self.bar.value = 1.0
        self.text.value = text

    def run(self, work: Work, done: Done, *, what: str = "", limit_s: float | None = None,
            on_error: OnError | None = None) -> str:
        """Run one solve here and now; the state it ended in: ``done``, ``cancelled`` or ``failed``."""
        self._begin(what, limit_s)
        try:
            result = work(self.progress)
            if self._cancel.is_set():  # a solver without progress calls: its result arrives, unwanted
                raise Cancelled
            self.fraction, self.message = 1.0, tr("显示结果…", "showing the result ...")
            self._show()
            done(result)
        except Cancelled:
            said = tr("已取消：保留上一个结果", "cancelled: the previous result is kept")
            self._end("cancelled", self._head() + html.escape(said) + f" · {self.elapsed():,.1f} s")
            return "cancelled"
        except USER_ERRORS as e:
            self._end("failed", self._head() + f'<b style="color:#b00">{html.escape(str(e))}</b>')
            if on_error is not None:
                on_error(e)
            return "failed"
        except Exception as e:
            self._end("failed", f'<b style="color:#b00">{html.escape(f"{type(e).__name__}: {e}")}</b>')
            if not self.background:
                raise
            self.text.value += f"<pre>{html.escape(traceback.format_exc()[-3000:])}</pre>"
            return "failed"
        self._end("done", self._head() + html.escape(tr("完成", "done")) + f" · {self.elapsed():,.1f} s")
        return "done"

    # --- from a widget: a worker thread in a kernel ------------------------------------------------------
    def start(self, request: Callable[[], tuple[Work, Done, dict[str, Any]]], on_error: OnError, *,
              background: bool) -> None:
        """Build a solve with ``request`` (bad settings raise ``ValueError``: shown by ``on_error``) and run
        it: here and now, or, ``background`` (asked for by a widget), as :meth:`submit` does."""
        try:
            work, done, kw = request()
        except ValueError as e:
            on_error(e)
            return
        (self.submit if background else self.run)(work, done, **kw)

    def submit(self, work: Work, done: Done, *, what: str = "", limit_s: float | None = None,
               on_error: OnError | None = None) -> None:
        """Run a solve asked for by a widget: in a worker thread in a kernel (a running solve is cancelled
        and this one runs after it), else at once."""
        request = (work, done, what, limit_s, on_error)
        if not self.background:
            self.run(work, done, what=what, limit_s=limit_s, on_error=on_error)
            return
        with self._lock:
            self._queued = request
            if self._thread is not None:  # a solve runs: stop it; the worker runs this one next
                self.cancel()
                return
            self._thread = threading.Thread(target=self._worker, daemon=True, name="planner-solve")
            self._thread.start()

    def _worker(self) -> None:
        while True:
            with self._lock:
                request, self._queued = self._queued, None
                if request is None:
                    self._thread = None
                    return
            work, done, what, limit_s, on_error = request
            stop = threading.Event()
            threading.Thread(target=self._tick, args=(stop,), daemon=True).start()
            try:
                self.run(work, done, what=what, limit_s=limit_s, on_error=on_error)
            finally:
                stop.set()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            if self.running:
                self._show()

    def wait(self, timeout: float | None = None) -> None:
        """Until the worker thread (if any) is done (for scripts and tests)."""
        t = self._thread
        if t is not None:
            t.join(timeout)


def job(*, busy: Sequence[Any] = (), buttons: Sequence[Any] = (), cancellable: bool = True,
        background: bool | None = None) -> Job:
    """A progress row: bar, Cancel, the text (wraps, never truncated); ``busy`` greyed and ``buttons``
    disabled while a solve runs; ``background`` default: in a kernel."""
    import ipywidgets as w

    bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="220px", flex="0 0 auto"))
    text = w.HTML(tr("就绪", "ready"), layout=w.Layout(flex="1 1 auto", min_width="0"))
    tip = "" if cancellable else tr("此计算不能中途停止：结果到达后被丢弃", "this job cannot stop midway: its "
                                    "result is dropped when it arrives")
    cancel = button(tr("取消", "Cancel"), icon="stop", style="warning", tooltip=tip)
    cancel.disabled = True
    row = w.HBox([bar, cancel, text, w.HTML(STYLE, layout=w.Layout(display="none"))],
                 layout=w.Layout(width="100%", align_items="center", flex_flow="row wrap"))
    j = Job(bar=bar, text=text, cancel_button=cancel, widget=row, greyed=list(busy), buttons=list(buttons),
            background=in_kernel() if background is None else background, cancellable=cancellable)
    cancel.on_click(j.cancel)
    return j
