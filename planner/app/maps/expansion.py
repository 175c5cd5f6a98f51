"""The new-city map: prefectures coloured by market score, the roadmap's cities by quarter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import tip
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


def score_map(scores: pd.DataFrame, *, tiles: str | None = maps.DEFAULT_TILES, openings: pd.DataFrame | None = None):
    """Prefecture polygons coloured by score (0-100, as in the app's table), the roadmap's cities marked by
    quarter."""
    import folium

    units = geo.load_units("prefecture")
    units = units[units["adcode"].isin(set(scores[S.ADCODE]))]
    m = maps.base_map(zoom=6, tiles=tiles, bounds=_bounds(units.total_bounds))
    maps.add_choropleth(m, units, shown_scores(scores).set_index(S.ADCODE)["score"],
                        name="Market score", label=f"score 0-{SCORE_SCALE}")
    if openings is not None and len(openings):
        pts = E.seat_points(openings[S.ADCODE])
        for (lon, lat), r in zip(pts, openings.itertuples()):
            folium.CircleMarker((lat, lon), radius=8, color="#08519c", fill=True, fill_opacity=0.9,
                                tooltip=tip(f"{r.name} opens {r.label} ({r.groups} groups)")).add_to(m)
    return m
