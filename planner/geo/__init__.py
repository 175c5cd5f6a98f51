"""Geography: coordinate systems, admin units of China, travel times.

- ``planner.geo.coords``: WGS-84 / GCJ-02 / BD-09 conversions and map-app links;
- ``planner.geo.admin`` (re-exported here): the committed boundaries and look-ups
  ("which county is this point in");
- ``planner.geo.travel``: travel-time and distance matrices (built-in model or OSRM).
"""

from planner.geo.admin import (
    GEODATA_ENV,
    LEVELS,
    SNAP_DEG,
    admin_units,
    china_region,
    geodata_dir,
    in_china,
    load_units,
    locate,
    metric_crs,
    towns,
)

__all__ = ["GEODATA_ENV", "LEVELS", "SNAP_DEG", "admin_units", "china_region", "geodata_dir", "in_china",
           "load_units", "locate", "metric_crs", "towns"]
