"""Colours of the maps: a qualitative palette that stays distinct for 40 reps, and readable text on it.

:data:`QUALITATIVE` is a fixed list of 40 colours chosen greedily, farthest first, in CIELAB from a grid of
sRGB colours of middle lightness (L* 35-78) and clear chroma (28-80), kept away from the greys and black the
maps reserve for the public pool, left-out candidates, finished visits and the ride-along. The first four are
Tableau's blue, red, green and orange; any 30 of the first 30 differ by at least 26 CIE76 units (R05 and R25 no
longer share a blue). The order is fixed, so a rep keeps his colour from map to map: colours are given in the
order of the rep ids (:func:`rep_colours`), and cycle only beyond 40.
"""

from __future__ import annotations

from collections.abc import Iterable

QUALITATIVE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#ff5ad2", "#d2c300", "#695ae1", "#785a00", "#00d2b4", "#962d5a",
    "#f09678", "#d2a5f0", "#1e693c", "#b4c378", "#ff2d78", "#3cc3e1", "#ff87b4", "#784b96", "#874b3c", "#960096",
    "#5a780f", "#963c00", "#e1a53c", "#6996ff", "#96d23c", "#007878", "#96c3ff", "#d278ff", "#d24b5a", "#78d287",
    "#a5875a", "#b47896", "#c30078", "#c35aa5", "#1e5ab4", "#ff784b", "#5aa587", "#a5a52d", "#00d269", "#00690f",
)
POOL_COLOUR = "#bbbbbb"


def rep_colours(rep_ids: Iterable) -> dict:
    """A colour per rep id, in the given order (the same order gives the same colours on every map)."""
    return {r: QUALITATIVE[i % len(QUALITATIVE)] for i, r in enumerate(rep_ids)}


def _channel(v: float) -> float:
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance (WCAG) of a ``#rrggbb`` colour."""
    c = colour.lstrip("#")
    r, g, b = (_channel(int(c[i:i + 2], 16) / 255.0) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on ``colour`` (a ``#rrggbb``; white for anything else)."""
    if not (isinstance(colour, str) and len(colour) == 7 and colour.startswith("#")):
        return "#ffffff"
    return "#111111" if luminance(colour) > 0.179 else "#ffffff"  # the higher WCAG contrast
