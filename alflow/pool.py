"""The pool: partitioned Parquet, local or on any fsspec filesystem.

Layout per partition: ``item_id`` (string), then ``x`` (fixed-size list of float32: numeric or
embedding features, the fast layout) or ``text`` (string), and ``truth`` (string, optional: a
ground-truth column for simulated annotators, never a feature).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

FEATURE_COLUMN = {"numeric": "x", "embedding": "x", "text": "text"}


def join(url: str, name: str) -> str:
    return f"{url.rstrip('/')}/{name}"


def to_table(item_ids: Sequence[str], features: np.ndarray | Sequence[str], truth=None) -> pa.Table:
    """Build a partition table from ids, a 2-D float array (or texts) and optional truth."""
    cols: dict[str, pa.Array] = {"item_id": pa.array(item_ids, pa.string())}
    if isinstance(features, np.ndarray) and features.ndim == 2:
        flat = pa.array(np.ascontiguousarray(features, dtype=np.float32).ravel())
        cols["x"] = pa.FixedSizeListArray.from_arrays(flat, features.shape[1])
    else:
        cols["text"] = pa.array(list(features), pa.string())
    if truth is not None:
        cols["truth"] = pa.array(truth, pa.string())
    return pa.table(cols)


def write_partition(table: pa.Table, url: str) -> str:
    """Write atomically (temp name, then rename) and return the file's sha256."""
    fs, path = fsspec.core.url_to_fs(url)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with fs.open(tmp, "wb") as f:
        # Snappy, and no dictionary on the vectors: reading 100k x 128 float32 took 48 ms this
        # way against 274 ms with zstd and dictionary pages (benchmarks/scoring.py, same machine).
        dictionary = [c for c in ("truth",) if c in table.column_names]
        pq.write_table(table, f, compression="snappy", use_dictionary=dictionary)
    fs.mv(tmp, path)
    return file_sha256(url)


def file_sha256(url: str) -> str:
    """The sha256 of a file's bytes (a partition's identity in the ledger)."""
    fs, path = fsspec.core.url_to_fs(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_partition(url: str, columns: Sequence[str] | None = None) -> pa.Table:
    fs, path = fsspec.core.url_to_fs(url)
    with fs.open(path, "rb") as f:
        return pq.read_table(f, columns=list(columns) if columns else None)


def features_of(table: pa.Table, kind: str) -> np.ndarray | list[str]:
    """The model input of a partition: a 2-D float32 array, or a list of texts."""
    if kind == "text":
        return table.column("text").to_pylist()
    col = table.column("x").combine_chunks()
    width = col.type.list_size
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, width)


def fetch_items(base_url: str, locations: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """Read the rows of the given items (``item_id``, ``partition``), one partition at a time."""
    tables = []
    for name, group in locations.groupby("partition", sort=True):
        table = read_partition(join(base_url, str(name)), ["item_id", *columns])
        mask = pa.compute.is_in(table.column("item_id"), pa.array(group["item_id"].tolist()))
        tables.append(table.filter(mask))
    if not tables:
        raise ValueError("no items to fetch")
    return pa.concat_tables(tables)


def pool_hash(partitions: Sequence[tuple[str, str]]) -> str:
    """A hash of the pool's content: every partition's name and sha256."""
    digest = hashlib.sha256()
    for name, sha in sorted(partitions):
        digest.update(f"{name}:{sha}\n".encode())
    return digest.hexdigest()[:16]
