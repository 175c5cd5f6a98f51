"""Folium maps built from tables and plans; each ``add_*`` takes a map ``m``, adds its layer, returns ``m``.

- ``core``: the base map, shared layers (counties, accounts, offices, legends, density cells, clusters,
  catchments, bases), the overview and bases maps, self-contained HTML (vendored Leaflet);
- ``days``, ``territories``, ``expansion``: each job's map.
- ``audit``: the visit audit's map (flagged check-ins by reason, lines to their accounts).
"""

from planner.app.maps.audit import REASON_COLOURS, REASON_LABELS, audit_map, reason_label
from planner.app.maps.core import (
    CLASS_COLOURS,
    DEFAULT_TILES,
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
    save_html,
    to_html,
)
from planner.app.maps.days import day_map
from planner.app.maps.expansion import score_map
from planner.app.maps.territories import add_territories, rep_colours, territory_map

__all__ = ["CLASS_COLOURS", "DEFAULT_TILES", "PALETTE", "add_accounts", "add_bases", "add_catchments",
           "add_choropleth", "add_clusters", "add_hexes", "add_layer_control", "add_legend", "add_offices",
           "base_map", "bases_map", "demo_map", "save_html", "to_html", "day_map", "score_map", "add_territories",
           "rep_colours", "territory_map"]
__all__ += ["REASON_COLOURS", "REASON_LABELS", "audit_map", "reason_label"]
