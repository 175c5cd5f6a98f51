"""The new-city map: prefectures coloured by market score, the roadmap's cities by quarter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner import geo, schema as S
from planner.app.maps import core as maps
from planner.app.maps.core import tip
from planner.solvers import expansion as E


def _bounds(b: np.ndarray) -> tuple[float, float, float, float]:
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def score_map(scores: pd.DataFrame, *, tiles: str | None = maps.DEFAULT_TILES, openings: pd.DataFrame | None = None):
    """Prefecture polygons coloured by score (0-100), with the roadmap's cities marked by quarter."""
    import folium

    units = geo.load_units("prefecture")
    units = units[units["adcode"].isin(set(scores[S.ADCODE]))]
    m = maps.base_map(zoom=6, tiles=tiles, bounds=_bounds(units.total_bounds))
    maps.add_choropleth(m, units, (scores.set_index(S.ADCODE)["score"] * 100).round(1),
                        name="Market score", label="score 0-100")
    if openings is not None and len(openings):
        pts = E.seat_points(openings[S.ADCODE])
        for (lon, lat), r in zip(pts, openings.itertuples()):
            folium.CircleMarker((lat, lon), radius=8, color="#08519c", fill=True, fill_opacity=0.9,
                                tooltip=tip(f"{r.name} opens {r.label} ({r.groups} groups)")).add_to(m)
    return m


