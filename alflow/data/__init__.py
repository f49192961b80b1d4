"""Ingest: files read, validated and written as the partitioned Parquet pool; a pool's features
(tabular encoding, text space, embeddings)."""
