"""The new-city map: prefectures coloured by market score, the roadmap's cities by quarter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import esc, tip
from planner.solvers import expansion as E

SCORE_SCALE = 100  # the score and its components are shown 0-100 (the solver's table holds 0-1)
SHOWN_COLUMNS = ("market_density", "travel_score", "management_readiness", "sales_density", "score")


def shown_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The score table as shown on the map and in the app: the score and its components 0-100 (1 decimal)."""
    out = scores.copy()
    for col in SHOWN_COLUMNS:
        if col in out:
            out[col] = (out[col].astype(float) * SCORE_SCALE).round(1)
    return out


def _bounds(b: np.ndarray) -> tuple[float, float, float, float]:
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


OPENING_COLOUR = "#08519c"


def _openings(m, openings: pd.DataFrame) -> None:
    """The roadmap's cities as badges with their quarter (Q1, Q2, ...) at the city seats."""
    import folium

    from planner.app.maps.core import pin_icon

    fg = folium.FeatureGroup(name="Roadmap: cities opened, by quarter")
    pts = E.seat_points(openings[S.ADCODE])
    for (lon, lat), r in zip(pts, openings.itertuples()):
        badge = (f'<div class="planner-badge" style="width:100%;height:100%;line-height:21px;background:'
                 f'{OPENING_COLOUR};color:#fff">{esc(r.label)}</div>')
        icon = pin_icon(badge, str(r.name), prio=max(2, 12 - int(r.quarter)), size=24)  # earlier first
        folium.Marker(maps.latlon(m, lat, lon), icon=icon, tooltip=tip(f"{r.name} opens {r.label} ({r.groups} groups)"),
                      z_index_offset=1000).add_to(fg)
    fg.add_to(m)


def score_map(scores: pd.DataFrame, *, tiles: str | None = maps.DEFAULT_TILES, openings: pd.DataFrame | None = None,
              tianditu_key: str | None = None):
    """Prefecture polygons coloured by score (0-100, as in the app's table), the roadmap's cities marked by
    quarter."""
    units = geo.load_units("prefecture")
    units = units[units["adcode"].isin(set(scores[S.ADCODE]))]
    m = maps.base_map(zoom=6, tiles=tiles, bounds=_bounds(units.total_bounds), tianditu_key=tianditu_key)
    maps.add_choropleth(m, units, shown_scores(scores).set_index(S.ADCODE)["score"],
                        name="Market score", label=f"score 0-{SCORE_SCALE}", unit_label="prefecture")
    if openings is not None and len(openings):
        _openings(m, openings)
        maps.add_legend(m, "Roadmap", {"city opened in quarter Q1, Q2, ... (name beside)": ("badge", OPENING_COLOUR,
                                                                                            "Q1")})
    maps.add_layer_control(m)
    return m
