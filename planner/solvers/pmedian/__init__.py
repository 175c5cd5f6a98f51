"""p-median and capacitated p-median on cost matrices (formulations in each module's docstrings).

- ``core``: the problem and result types, shared heuristics, the MIP call, OR-Library readers;
- ``uncapacitated``: ``solve_pmedian`` (greedy + swap, Lagrangian bound, Elloumi's radius MIP);
- ``capacitated``: ``solve_cpmp`` (Lagrangian bound and reduced-cost fixing, LP fixing, single-source MIP).
"""

from planner.solvers.pmedian.capacitated import solve_cpmp
from planner.solvers.pmedian.core import PMedianProblem, PMedianResult, read_orlib_cpmp, read_orlib_pmed
from planner.solvers.pmedian.uncapacitated import solve_pmedian

__all__ = ["PMedianProblem", "PMedianResult", "solve_pmedian", "solve_cpmp", "read_orlib_pmed", "read_orlib_cpmp"]
