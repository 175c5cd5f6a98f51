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


def _upload_items(value: Any) -> list[tuple[str, bytes]]:
    """(file name, bytes) of a FileUpload's value (ipywidgets 8: a tuple of dicts)."""
    out = []
    for item in value or ():
        name = item.get("name") if isinstance(item, dict) else getattr(item, "name", "")
        content: Any = item.get("content", b"") if isinstance(item, dict) else getattr(item, "content", b"")
        out.append((str(name), bytes(content)))
    return out


def attach_data_picker(app: Any, factory: Callable[[Workspace], Any], data: Data,
                       uploads_dir: str | Path = "out/uploads") -> Any:
    """Put a data row above ``app``'s widget: a folder box, the coordinate system, an upload for single
    files (with the table each one is), and a Load button that rebuilds the app on that data in place.

    After a load, ``app`` (the object the notebook holds) is the new app: both objects share one
    attribute dictionary, so the new widgets' callbacks and the notebook see the same state.
    """
    import ipywidgets as w

    from planner import schema as S
    from planner.geo.coords import CRS_NAMES

    folder = w.Text(value="" if data is None or isinstance(data, Workspace) else str(data),
                    placeholder="data folder (empty: the Fujian demo)", description="Data",
                    layout=w.Layout(width="420px"))
    crs = w.Dropdown(options=[("as declared (planner.toml, else wgs84)", "")] + [(c, c) for c in CRS_NAMES],
                     value="", description="Coordinates", style={"description_width": "90px"})
    table = w.Dropdown(options=list(S.SCHEMAS), value="accounts", description="Upload as",
                       style={"description_width": "70px"}, layout=w.Layout(width="220px"))
    upload = w.FileUpload(accept=".csv,.txt,.xlsx,.xls,.geojson,.json,.gpkg,.parquet", multiple=False,
                          description="File")
    load_btn = w.Button(description="Load", button_style="primary", icon="folder-open")
    status = w.HTML(f"Data: <b>{_html.escape(open_data(data).label)}</b>")
    files: dict[str, Path] = {}

    def on_upload(change: Any) -> None:
        for name, content in _upload_items(change["new"]):
            target = Path(uploads_dir) / f"{table.value}{Path(name).suffix.lower()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            files[table.value] = target
        status.value = "Uploaded: " + ", ".join(f"{k} ({_html.escape(p.name)})" for k, p in files.items())

    outer = w.VBox([w.HBox([folder, crs, load_btn]), w.HBox([table, upload]), status, app.widget])

    def on_load(_: Any) -> None:
        try:
            ws = Workspace.open(folder.value.strip() or None, files=dict(files), crs=crs.value or None) \
                if (folder.value.strip() or files) else open_data(None)
            status.value = f"Loading <b>{_html.escape(ws.label)}</b> ..."
            new = factory(ws)
        except (ValueError, FileNotFoundError) as exc:
            status.value = f'<b style="color:#b00">{_html.escape(str(exc))}</b>'
            return
        body = new.widget
        state = {k: v for k, v in vars(new).items() if k != "widget"}
        vars(app).clear()
        vars(app).update(state)
        app.widget = outer
        new.__dict__ = app.__dict__  # one state for the notebook's object and the new widgets' callbacks
        outer.children = (*outer.children[:3], body)
        status.value = f"Data: <b>{_html.escape(ws.label)}</b>"

    upload.observe(on_upload, names="value")
    load_btn.on_click(on_load)
    app.widget = outer
    return app
