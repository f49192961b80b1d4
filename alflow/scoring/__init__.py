"""Scoring the pool: partitions scored on the Dask cluster (the Dask owner: ``compute``), a
score cache for retries, an external scoring model."""
