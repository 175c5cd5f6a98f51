"""One error type for bad input and bad settings.

``InputError`` is a ``ValueError`` that carries every problem found, each a
sentence naming the row or the option and, where there is one, the remedy:
``accounts row 14, lon: not a number ('abc')`` or ``tolerance must be within
0..1, got 1.5``. Validation collects all problems first and raises once, so a
user fixes a file or a settings form in one go. ``FileReadError`` is the
kind for a file that cannot be read at all (as opposed to rows that are bad,
which are rejected one by one and never raised).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_LISTED = 20


class InputError(ValueError):
    """Bad input or bad settings; ``problems`` lists every one of them."""

    def __init__(self, problems: str | Iterable[str], *, what: str = "") -> None:
        items = (problems,) if isinstance(problems, str) else tuple(str(p) for p in problems)
        self.problems: tuple[str, ...] = items or ("bad input",)
        self.what = what
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.what}: " if self.what else ""
        if len(self.problems) == 1:
            return head + self.problems[0]
        listed = "; ".join(self.problems[:MAX_LISTED])
        more = f"; and {len(self.problems) - MAX_LISTED} more" if len(self.problems) > MAX_LISTED else ""
        return f"{head}{len(self.problems)} problems: {listed}{more}"


class FileReadError(InputError):
    """A file that cannot be read at all (missing, wrong format, no column for a required field)."""


def raise_if_any(problems: list[str], *, what: str = "") -> None:
    """Raise one ``InputError`` listing ``problems`` when there are any."""
    if problems:
        raise InputError(problems, what=what)
