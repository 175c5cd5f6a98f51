"""iCalendar text pieces shared by the day and week calendars (RFC 5545): user text is data, never a property."""

from __future__ import annotations

import re

__all__ = ["escape", "uid_part", "fold_line"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UID_SAFE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-")


def escape(text: object) -> str:
    """An iCalendar TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped,
    every other control character dropped, so user text can never start a new property."""
    t = str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub("", t)


def uid_part(text: object) -> str:
    """A piece of a UID from user text: letters, digits, ``.`` and ``-`` kept, every other character as
    ``_XX`` per UTF-8 byte (``_`` included), so two different ids never give the same UID."""
    return "".join(ch if ch in _UID_SAFE else "".join(f"_{b:02X}" for b in ch.encode("utf-8")) for ch in str(text))


def fold_line(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character."""
    out, cur, size = [], "", 0
    for ch in line:
        b = len(ch.encode("utf-8"))
        if size + b > 75:
            out.append(cur)
            cur, size = " ", 1
        cur += ch
        size += b
    out.append(cur)
    return "\r\n".join(out)
