"""Writers shared by the CLI and the notebook apps: Excel, GeoPackage, ICS, CSV, JSON summaries."""
