"""Plain-data pieces shared by every solver's plan.

A solver is a pure function ``solve(problem, options) -> Plan``; each job's
``Plan`` dataclass holds its frames, KPIs and a ``SolveReport``. Plans know
nothing of widgets or maps. ``SolveReport`` says how the search ended, in the
same words for every job, so the notebooks and the CLI can show it uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

Status = Literal["optimal", "feasible", "infeasible", "partial", "time_limit_no_solution", "invalid"]
STATUSES: tuple[str, ...] = ("optimal", "feasible", "infeasible", "partial", "time_limit_no_solution", "invalid")


@dataclass(frozen=True)
class SolveReport:
    """How a search ended.

    - ``status``: ``optimal`` (proven), ``feasible`` (a plan, not proven optimal),
      ``partial`` (the closest plan; ``violated`` names the limits it breaks),
      ``infeasible`` (proven: no plan meets the hard limits; ``violated`` says which),
      ``time_limit_no_solution``, ``invalid`` (bad settings; ``message`` says which).
    - ``objective`` and ``bound`` in the objective's units; ``gap`` relative
      (``|objective - bound| / max(|objective|, 1e-9)``), ``None`` when unknown.
    """

    status: Status
    objective: float | None = None
    bound: float | None = None
    seconds: float = 0.0
    solver: str = ""
    violated: tuple[str, ...] = ()
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {', '.join(STATUSES)}")

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        if not (math.isfinite(self.objective) and math.isfinite(self.bound)):
            return None
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)

    @property
    def ok(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["violated"] = list(self.violated)
        d["gap"] = self.gap
        return d

    def describe(self) -> str:
        parts: list[str] = [self.status]
        if self.objective is not None:
            parts.append(f"objective {self.objective:,.6g}")
        if self.bound is not None:
            parts.append(f"bound {self.bound:,.6g}")
        if self.gap is not None:
            parts.append(f"gap {self.gap:.3%}")
        parts.append(f"{self.seconds:.1f} s")
        text = ", ".join(parts)
        if self.violated:
            text += "; not met: " + "; ".join(self.violated)
        if self.message and self.message != "; ".join(self.violated):
            text += f" ({self.message})"
        return text


class Progress(Protocol):
    """Progress callback: ``progress(fraction_done, message)``; fraction in 0..1 or None."""

    def __call__(self, fraction: float | None, message: str) -> None: ...


def no_progress(fraction: float | None, message: str) -> None:  # the default callback
    return None


ProgressFn = Callable[[float | None, str], None]
