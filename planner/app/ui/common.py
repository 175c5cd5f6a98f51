"""Pieces every notebook app uses: the data it opens, rejected rows, maps as widgets, where exports go.

Exports go to the folder in the app's folder box. The default is ``out/<job>`` under the **project
root**: the nearest folder at or above the working directory that holds a ``pyproject.toml`` or a
``.git`` (so a notebook running in ``notebooks/`` writes to ``<repo>/out/``, as the ``planner`` command
run from the repo does), else the working directory. A relative folder typed in the box resolves against
the same root; an absolute one is used as it is. ``PLANNER_OUT`` (a folder) overrides the root's ``out``.
"""

from __future__ import annotations

import html as _html
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from planner.app.maps.core import to_html
from planner.app.ui.tables import table_html, tr
from planner.geo import backends
from planner.io.workspace import Tables, Workspace

Data = str | Path | Workspace | None
OUT_ENV = "PLANNER_OUT"
ROOT_MARKERS = ("pyproject.toml", ".git")


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding a
    ``pyproject.toml`` or a ``.git``; else ``start`` itself."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    return here


def out_root() -> Path:
    """Where exports go by default: ``PLANNER_OUT``, else ``<project root>/out``."""
    env = os.environ.get(OUT_ENV, "").strip()
    return Path(env).expanduser().resolve() if env else project_root() / "out"


def resolve_out(folder: str | Path | None, job: str) -> Path:
    """An export folder: ``None`` or empty -> ``out/<job>`` (see the module docstring); relative -> under
    the project root; absolute -> itself."""
    text = str(folder).strip() if folder is not None else ""
    if not text:
        return out_root() / job
    p = Path(text).expanduser()
    return p if p.is_absolute() else project_root() / p


def export_row(folder: Path, *, label: tuple[str, str] = ("导出", "Export")) -> tuple[Any, Any, Any, Any]:
    """The export controls: the folder box, the button, the line saying what was written, and their row."""
    import ipywidgets as w

    from planner.app.ui.jobs import button

    box = w.Text(value=str(folder), description=tr("文件夹", "Folder"), style={"description_width": "initial"},
                 continuous_update=False,
                 layout=w.Layout(width="auto", min_width="360px", flex="1 1 360px"))
    btn = button(tr(*label), icon="download")
    written = w.HTML()
    return box, btn, written, w.HBox([box, btn], layout=w.Layout(width="100%", flex_flow="row wrap"))


def written_html(paths: Iterable[Path]) -> str:
    """The line listing the files an export wrote."""
    from planner.app.ui.tables import language

    head = {"zh": "已写入：", "en": "Written:"}.get(language(), "Written: 已写入")
    return head + "<br>" + "<br>".join(_html.escape(str(p)) for p in paths)


def error_html(e: Exception | str) -> str:
    return f'<b style="color:#b00">{_html.escape(str(e))}</b>'


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


def travel_of(app: Any) -> backends.Opened:
    """The travel backend of the app's workspace (``planner.toml``'s ``[travel]``, or the Travel box of the
    data row), opened once for the app's life: a road engine's server keeps running between solves and
    stops with the kernel."""
    opened = vars(app).get("_travel")
    if opened is None:
        opened = app.tables.workspace.open_travel()
        vars(app)["_travel"] = opened
    return opened


def rejected_html(tables: Tables, *, rows: int = 50) -> str:
    """A collapsible table of the rows left out, by table ('' when every row loaded)."""
    parts = [f"<p>{_html.escape(line)}</p>" for line in tables.describe() if "rows rejected" not in line]
    for entity, rej in tables.rejected.items():
        n = int(rej["row"].nunique())
        body = table_html(rej, rows=rows)
        what = tr(f"{n} 行未载入（附原因）", f"{n} row(s) left out, with the reason")
        parts.append(f"<details><summary><b>{_html.escape(entity)}</b>: {_html.escape(what)}"
                     f"</summary>{body}</details>")
    return "".join(parts)


def as_widget(m: Any, *, height: int = 600) -> Any:
    """The map as an ipywidgets.HTML iframe (self-contained), for the notebook apps: the widget takes the
    whole width of its box (a bare HTML widget in a flex box shrinks to its content: a 230 px map)."""
    import ipywidgets as w

    doc = _html.escape(to_html(m, offline=True), quote=True)
    return w.HTML(f'<iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:0"></iframe>',
                  layout=w.Layout(width="100%"))


def _upload_items(value: Any) -> list[tuple[str, bytes]]:
    """(file name, bytes) of a FileUpload's value (ipywidgets 8: a tuple of dicts)."""
    out = []
    for item in value or ():
        name = item.get("name") if isinstance(item, dict) else getattr(item, "name", "")
        content: Any = item.get("content", b"") if isinstance(item, dict) else getattr(item, "content", b"")
        out.append((str(name), bytes(content)))
    return out


def attach_data_picker(app: Any, factory: Callable[[Workspace], Any], data: Data,
                       uploads_dir: str | Path | None = None) -> Any:
    """Put a data row above ``app``'s widget: a folder box, the coordinate system, an upload for single
    files (with the table each one is), and a Load button that rebuilds the app on that data in place.

    After a load, ``app`` (the object the notebook holds) is the new app: both objects share one
    attribute dictionary, so the new widgets' callbacks and the notebook see the same state.
    """
    import ipywidgets as w

    from planner import schema as S
    from planner.app.ui.jobs import button
    from planner.geo.coords import CRS_NAMES

    uploads = resolve_out(uploads_dir, "uploads")
    wide = {"description_width": "initial"}
    folder = w.Text(value="" if data is None or isinstance(data, Workspace) else str(data),
                    placeholder=tr("数据文件夹（留空：福建示例）", "data folder (empty: the Fujian demo)"),
                    description=tr("数据", "Data"), style=wide, layout=w.Layout(width="420px"),
                    continuous_update=False)
    crs = w.Dropdown(options=[(tr("按声明（planner.toml，否则 wgs84）", "as declared (planner.toml, else wgs84)"),
                               "")] + [(c, c) for c in CRS_NAMES],
                     value="", description=tr("坐标系", "Coordinates"), style=wide)
    table = w.Dropdown(options=list(S.SCHEMAS), value="accounts", description=tr("上传为", "Upload as"),
                       style=wide, layout=w.Layout(width="auto"))
    upload = w.FileUpload(accept=".csv,.txt,.xlsx,.xls,.geojson,.json,.gpkg,.parquet", multiple=False,
                          description=tr("文件", "File"), layout=w.Layout(width="auto"))
    load_btn = button(tr("载入", "Load"), style="primary", icon="folder-open")
    data_word = tr("数据", "Data")
    status = w.HTML(f"{data_word}: <b>{_html.escape(open_data(data).label)}</b>")
    files: dict[str, Path] = {}

    def on_upload(change: Any) -> None:
        for name, content in _upload_items(change["new"]):
            target = uploads / f"{table.value}{Path(name).suffix.lower()}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            files[table.value] = target
        listed = ", ".join(f"{k} ({_html.escape(p.name)})" for k, p in files.items())
        status.value = tr("已上传", "Uploaded") + ": " + listed

    travel = w.Text(value="", placeholder="model | osrm:http://HOST:PORT | roads:DIR | amap",
                    description=tr("出行时间", "Travel"), style=wide, layout=w.Layout(width="360px"),
                    tooltip=tr("路程时间怎么算：内置模型（默认）、OSRM 服务器、本地路网（planner roads build）或高德",
                               "how travel times are measured: the built-in model (default), an OSRM server, the "
                               "local road engine (planner roads build) or Amap"), continuous_update=False)
    outer = w.VBox([w.HBox([folder, crs, load_btn]), w.HBox([table, upload, travel]), status, app.widget])

    def on_load(_: Any) -> None:
        try:
            spec = travel.value.strip() or None
            if folder.value.strip() or files:
                ws = Workspace.open(folder.value.strip() or None, files=dict(files), crs=crs.value or None,
                                    travel=spec)
            else:
                from planner import demo

                ws = demo.workspace(travel=spec)
            status.value = f"{tr('载入中', 'Loading')} <b>{_html.escape(ws.label)}</b> ..."
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
        status.value = f"{data_word}: <b>{_html.escape(ws.label)}</b>"

    upload.observe(on_upload, names="value")
    load_btn.on_click(on_load)
    app.widget = outer
    return app
