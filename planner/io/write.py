"""Writing canonical tables and rejected rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd

from planner import schema as S
from planner.io.validate import ImportResult


def write_result(result: ImportResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<entity>.csv`` (canonical) and ``<entity>_rejected.csv`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / f"{result.entity}.csv"
    rej_path = out / f"{result.entity}_rejected.csv"
    result.table.to_csv(table_path, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    result.rejected.to_csv(rej_path, index=False)
    return table_path, rej_path


def to_geodataframe(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Canonical table with lon/lat -> GeoDataFrame (EPSG:4326), same index."""
    import geopandas as gpd

    return gpd.GeoDataFrame(table.copy(), geometry=gpd.points_from_xy(table[S.LON], table[S.LAT]),
                            crs="EPSG:4326")
