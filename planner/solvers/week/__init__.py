"""The rep's week (visit cycles by class, full days of eight, ride-alongs inside the plan) and the slots to offer.

* :mod:`planner.solvers.week.demand` -- the problem, the settings, the visits owed, the pool's split,
  the ride-alongs.
* :mod:`planner.solvers.week.solve` -- :func:`solve`: the team's week (a :class:`WeekPlan`).
* :mod:`planner.solvers.week.slots` -- :func:`offer_slots`: the best (day, time) for a new appointment.
* :mod:`planner.solvers.week.compare` -- :func:`rebased` / :func:`compare`: the same week from the
  bases ``planner bases`` recommends.
"""

from planner.solvers.week.compare import compare, rebased
from planner.solvers.week.demand import RIDE_STEPS, WeekOptions, WeekProblem, due_visits, working_days
from planner.solvers.week.slots import offer_slots
from planner.solvers.week.solve import WeekPlan, solve

__all__ = ("WeekProblem", "WeekOptions", "WeekPlan", "solve", "due_visits", "working_days", "RIDE_STEPS",
           "rebased", "compare", "offer_slots")
