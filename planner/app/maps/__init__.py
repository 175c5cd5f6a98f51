"""Folium maps built from tables and plans; each ``add_*`` takes a map ``m``, adds its layer, returns ``m``.

- ``core``: the base map, shared layers (counties, accounts, offices, legends, density cells, clusters,
  catchments, bases), the overview and bases maps, self-contained HTML (vendored Leaflet);
- ``days``, ``territories``, ``expansion``: each job's map.
- ``audit``: the visit audit's map (flagged check-ins by reason, lines to their accounts);
- ``page`` (the shared layout, legends, labels), ``palette`` (rep colours), ``tiles`` (OpenStreetMap, Amap in
  GCJ-02, Tianditu with a key) and ``geography`` (the offline base layer drawn under every map).
"""

from planner.app.maps.audit import REASON_COLOURS, REASON_LABELS, audit_map, reason_label
from planner.app.maps.core import (
    CLASS_COLOURS,
    DEFAULT_TILES,
    MAP_HEIGHT,
    PALETTE,
    add_accounts,
    add_bases,
    add_catchments,
    add_choropleth,
    add_clusters,
    add_hexes,
    add_layer_control,
    add_legend,
    add_offices,
    base_map,
    bases_map,
    demo_map,
    display_crs,
    esc,
    save_html,
    tip,
    to_display,
    to_html,
)
from planner.app.maps.days import day_map
from planner.app.maps.expansion import score_map
from planner.app.maps.geography import add_geography
from planner.app.maps.palette import QUALITATIVE, rep_colours
from planner.app.maps.territories import add_territories, territory_map
from planner.app.maps.tiles import TIANDITU_KEY_ENV, TILES_ENV

__all__ = ["CLASS_COLOURS", "DEFAULT_TILES", "PALETTE", "add_accounts", "add_bases", "add_catchments",
           "add_choropleth", "add_clusters", "add_hexes", "add_layer_control", "add_legend", "add_offices",
           "base_map", "bases_map", "demo_map", "save_html", "to_html", "day_map", "score_map", "add_territories",
           "rep_colours", "territory_map"]
__all__ += ["REASON_COLOURS", "REASON_LABELS", "audit_map", "reason_label"]
__all__ += ["MAP_HEIGHT", "QUALITATIVE", "TIANDITU_KEY_ENV", "TILES_ENV", "add_geography", "display_crs", "esc", "tip",
            "to_display"]
