"""Reading users' data: one loader, one policy for bad rows.

- ``read``: files as raw text columns (CSV, Excel, GeoJSON, GeoPackage, Parquet);
- ``columns``: the user's headers matched to the canonical columns;
- ``validate``: one validation pass per file, every bad row rejected with its reason;
- ``write``: canonical tables and rejected rows written back out.
"""

from planner.errors import FileReadError, InputError
from planner.io.columns import LOCATION_ALIASES, parse_column_mapping, resolve_columns
from planner.io.read import READ_SUFFIXES, find_file, read_raw
from planner.io.validate import REJECTED_COLUMNS, ImportResult, load, validate
from planner.io.workspace import Source, Tables, Workspace
from planner.io.write import neutralise, to_geodataframe, write_csv, write_result

__all__ = ["FileReadError", "InputError", "LOCATION_ALIASES", "parse_column_mapping", "resolve_columns",
           "READ_SUFFIXES", "find_file", "read_raw", "REJECTED_COLUMNS", "ImportResult", "load", "validate",
           "Source", "Tables", "Workspace", "neutralise", "to_geodataframe", "write_csv", "write_result"]
