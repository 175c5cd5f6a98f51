"""The notebook apps: one function per job, each returning an app a notebook cell shows.

    from planner.app.ui import start_here_app
    start_here_app()                       # the Fujian demo
    start_here_app("path/to/your/folder")  # your tables (see planner.io.workspace)

Wiring only: each app loads the workspace, reads its controls into the job's
options (``planner.app.ui.options``), calls the solver and shows the plan.
"""

from planner.app.ui.bases import bases_app
from planner.app.ui.days import days_app
from planner.app.ui.expansion import expansion_app
from planner.app.ui.overview import start_here_app
from planner.app.ui.targets import source_example, targets_app
from planner.app.ui.territories import territories_app

__all__ = ["bases_app", "days_app", "expansion_app", "start_here_app", "source_example", "targets_app",
           "territories_app"]
