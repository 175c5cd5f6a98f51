"""Pieces every notebook app uses: the data it opens, rejected rows, maps as widgets."""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from planner.app.maps.core import to_html
from planner.io.workspace import Tables, Workspace

Data = str | Path | Workspace | None


def open_data(data: Data) -> Workspace:
    """The workspace an app works on: a folder path, a ``Workspace``, or None for the Fujian demo."""
    if isinstance(data, Workspace):
        return data
    if data is None:
        from planner import demo

        return demo.workspace()
    return Workspace.open(data)


def load(data: Data, needed: Iterable[str], optional: Iterable[str] = (),
         refine: Callable[[Tables], Tables] | None = None) -> Tables:
    """The app's tables through the one loader (same policy as the command: rejected rows are left out,
    shown by :func:`rejected_html`; nothing usable left, or any rejected row with a strict workspace, raises)."""
    tables = open_data(data).load(needed, optional=optional)
    if refine is not None:
        tables = refine(tables)
    tables.require_usable()
    return tables


def rejected_html(tables: Tables, *, rows: int = 50) -> str:
    """A collapsible table of the rows left out, by table ('' when every row loaded)."""
    parts = [f"<p>{_html.escape(line)}</p>" for line in tables.describe() if "rows rejected" not in line]
    for entity, rej in tables.rejected.items():
        n = int(rej["row"].nunique())
        body = rej.head(rows).to_html(index=False, border=0, escape=True)
        more = f"<p>... {len(rej) - rows} more problems</p>" if len(rej) > rows else ""
        parts.append(f"<details><summary><b>{_html.escape(entity)}</b>: {n} row(s) left out, with the reason"
                     f"</summary>{body}{more}</details>")
    return "".join(parts)


def as_widget(m: Any, *, height: int = 520) -> Any:
    """The map as an ipywidgets.HTML iframe (self-contained), for the notebook apps."""
    import ipywidgets as w

    doc = _html.escape(to_html(m, offline=True), quote=True)
    return w.HTML(f'<iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:0"></iframe>')
