"""The Jupyter server configuration ``planner notebooks`` starts JupyterLab with (``--config`` this file).

Loaded as a config file it registers :func:`scrub` as the contents manager's pre-save hook, so that
autosave and Ctrl-S never write into the project's notebooks what belongs to one session:

- the project's notebooks (``NN_name.ipynb``, the tracked ones) are saved **without outputs**,
  execution counts or widget state, whatever ran in them;
- any other notebook keeps its outputs but loses the widget state and the widget views (a saved
  view of a widget whose kernel is gone opens as "Error displaying widget: model not found");
- every notebook gets a ``python3`` kernelspec and ``language_info`` when it has none (else
  JupyterLab asks "Select Kernel" on opening it).

Importable as a module too (the hook is ``planner.app.jupyter_config.scrub``; tests call it).
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python",
                 "codemirror_mode": {"name": "ipython", "version": 3}, "nbconvert_exporter": "python",
                 "pygments_lexer": "ipython3"}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROJECT_NOTEBOOK = re.compile(r"^\d\d_[\w-]+\.ipynb$")  # the project's own notebooks: 00_start_here.ipynb, ...
CELL_METADATA_DROPPED = ("execution", "collapsed", "scrolled")


def is_project_notebook(path: str) -> bool:
    """One of the project's notebooks (``NN_name.ipynb``), stored without outputs."""
    return bool(PROJECT_NOTEBOOK.match(PurePath(path or "").name))


def scrub_notebook(nb: dict[str, Any], *, outputs: bool = True) -> dict[str, Any]:
    """``nb`` (a notebook's JSON, changed in place and returned) without widget state and with a kernel;
    ``outputs``: without outputs and execution counts too (else only widget views are dropped)."""
    meta = nb.setdefault("metadata", {})
    meta.pop("widgets", None)
    meta.setdefault("kernelspec", dict(KERNELSPEC))
    info = meta.setdefault("language_info", {})
    for k, v in LANGUAGE_INFO.items():
        info.setdefault(k, v)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        cm = cell.get("metadata", {})
        for k in CELL_METADATA_DROPPED:
            cm.pop(k, None)
        if outputs:
            cell["outputs"] = []
            cell["execution_count"] = None
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data or WIDGET_STATE in data:
                if set(data) <= {WIDGET_VIEW, WIDGET_STATE}:
                    continue
                data.pop(WIDGET_VIEW, None)
                data.pop(WIDGET_STATE, None)
            kept.append(out)
        cell["outputs"] = kept
    return nb


def scrub(model: dict[str, Any], path: str = "", contents_manager: Any = None, **kwargs: Any) -> None:
    """The pre-save hook (called by the Jupyter server with keywords): see the module docstring."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    scrub_notebook(model["content"], outputs=is_project_notebook(path))


def configure(c: Any) -> None:
    """Set the hook on a traitlets config object (``c`` of a Jupyter config file)."""
    c.ContentsManager.pre_save_hook = "planner.app.jupyter_config.scrub"


if "get_config" in globals():  # loaded by Jupyter as a config file: ``c`` is the server's configuration
    configure(globals()["get_config"]())
