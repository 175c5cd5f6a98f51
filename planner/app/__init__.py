"""What people touch: maps, exports, the notebook apps (``ui``) and the ``planner`` command (``cli``).

Wiring only: no planning logic lives here. ``maps`` and ``export`` take plans
and draw or write them; ``ui`` and ``cli`` load the workspace, call a solver
and hand the plan to ``maps`` and ``export``.
"""
