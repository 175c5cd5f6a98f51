"""The start-here app reacts to its widgets."""

import re

from planner import ui


def _count(html: str) -> int:
    return int(re.search(r"<b>(\d+)</b> accounts shown", html).group(1))


def test_start_here_app_filters():
    app = ui.start_here_app()
    total = _count(app.reach_box.value)
    assert total == 3000
    assert "晋江市" in app.table.value
    app.prefecture.value = "350200"  # Xiamen
    xm = _count(app.reach_box.value)
    assert 0 < xm < total
    assert "晋江市" not in app.table.value and "思明区" in app.table.value
    app.classes.value = ("A",)
    assert 0 < _count(app.reach_box.value) < xm
    iframe = app.map_box.children[0].value
    assert iframe.startswith("<iframe srcdoc=")
