"""The notebook apps: one function per job, each returning an app a notebook cell shows.

    from planner.app.ui import start_here_app
    start_here_app()                       # the Fujian demo
    start_here_app("path/to/your/folder")  # your tables (see planner.io.workspace)

    from planner.app.ui import set_language
    set_language("zh")                     # 中文 only; "en": English only; "both" (default): 中文 English
    table(app.plan.bases)                  # any frame for people: headers in words, numbers formatted

The language switch is one for the whole UI (``planner.app.ui.tables``); exports go to ``out/<job>``
under the project root by default (``planner.app.ui.common``); a solve started from a widget runs in
the background with a progress row and a Cancel button (``planner.app.ui.jobs``).

Wiring only: each app loads the workspace, reads its controls into the job's
options (``planner.app.ui.options``), calls the solver and shows the plan.
"""

import functools
from collections.abc import Callable
from typing import Any

from planner.app.ui import bases, days, expansion, overview, targets, territories, week
from planner.app.ui.audit import audit_app as _audit_app
from planner.app.ui.common import attach_data_picker
from planner.app.ui.jobs import Cancelled
from planner.app.ui.tables import language, set_language, table
from planner.app.ui.targets import source_example


def _with_data_picker(factory: Callable[..., Any]) -> Callable[..., Any]:
    """The app with a data row on top (folder, coordinate system, upload, Load) that rebuilds it in place."""

    @functools.wraps(factory)
    def build(data: Any = None, *args: Any, **kwargs: Any) -> Any:
        app = factory(data, *args, **kwargs)
        return attach_data_picker(app, lambda ws: factory(ws, *args, **kwargs), data)

    return build


start_here_app = _with_data_picker(overview.start_here_app)
bases_app = _with_data_picker(bases.bases_app)
territories_app = _with_data_picker(territories.territories_app)
days_app = _with_data_picker(days.days_app)
expansion_app = _with_data_picker(expansion.expansion_app)
targets_app = _with_data_picker(targets.targets_app)
week_app = _with_data_picker(week.week_app)
audit_app = _with_data_picker(_audit_app)

__all__ = ["bases_app", "days_app", "expansion_app", "start_here_app", "source_example", "targets_app",
           "territories_app", "week_app"]
__all__ += ["audit_app", "Cancelled", "language", "set_language", "table"]
