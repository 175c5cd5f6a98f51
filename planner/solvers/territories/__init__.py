"""Territories: balanced, compact, stable assignment of accounts to reps.

- ``model``: the problem, the options, the plan and the account classification
  (the formulation is in its docstring);
- ``prices``: the Lagrangian prices, their bound and the accounts they leave open;
- ``search``: the LP + CP-SAT search and the repair;
- ``geometry``: a local flat projection, centres and grid units for large inputs;
- ``solve``: ``solve(problem, options) -> TerritoryPlan``, the KPI comparison, the realignment curve;
- ``areas``: contiguous territories (units from ``planner.geo.units``, the district solver in
  ``contiguous``); ``shape``: knn_same and hull_overlap, how drawable any plan is.
"""

from planner.solvers.territories.model import (
    DEFAULT_VISITS_PER_MONTH,
    OUTCOMES,
    SELLER_LEVELS,
    Compactness,
    TerritoryOptions,
    TerritoryPlan,
    TerritoryProblem,
    problem_from_tables,
    select_reps,
)
from planner.solvers.territories.solve import CURVE_KEEPS, kpi_table, realignment_curve, solve

__all__ = ["DEFAULT_VISITS_PER_MONTH", "OUTCOMES", "SELLER_LEVELS", "Compactness", "TerritoryOptions",
           "TerritoryPlan", "TerritoryProblem", "problem_from_tables", "select_reps", "kpi_table", "solve",
           "realignment_curve", "CURVE_KEEPS"]
