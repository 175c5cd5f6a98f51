"""National runs: an organisation split into partitions (by team, city or region), each planned in its own
worker process on Dask, gathered into one plan."""
