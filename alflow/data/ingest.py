"""Ingest: CSV, JSONL or Parquet (path or fsspec URL) into the partitioned pool.

Files are read in chunks (``alflow.data.ingest_read``) and every chunk is validated
(``alflow.data.ingest_validate``); problems are reported with file, line or row, and column. An
ingest is one ledger transaction: it commits whole, or changes nothing. Items already in the pool
are skipped, so re-ingesting a file adds nothing and a new file adds only new items.

A text pool's first ingest fits the pool's text space (``alflow.data.text_space``) on a sample of
the file first; every pool partition of a text pool then carries its rows' embedding (``x``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa

from alflow import faults
from alflow.config import AlflowConfig, DataConfig
from alflow.data.ingest_read import Chunk, read_chunks
from alflow.data.ingest_validate import Validator
from alflow.data.pool import join, to_table, write_partition
from alflow.data.tabular import is_tabular, row_bytes
from alflow.data.text_space import (
    TextSpace,
    fit_text_space,
    load_text_space,
    sample_texts,
    save_text_space,
)
from alflow.errors import InputError
from alflow.ledger import Ledger
from alflow.workspace import Workspace

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class IngestReport:
    source: str
    rows_read: int
    rows_added: int
    partitions: int


@dataclass
class _Partitions:
    """The new rows of one ingest, written as partitions of about ``partition_rows`` rows."""

    ingest: Any  # the ledger's open ingest (``Ledger.ingest``)
    base_url: str
    target: str
    partition_rows: int
    embed: Embed | None = None  # a text pool's embedding, written as the ``x`` column
    written: list[str] = field(default_factory=list)
    rows_added: int = 0
    pending: list[pa.Table] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    seen: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> (hash, position)

    def add(self, table: pa.Table, hashes: list[str]) -> None:
        self.pending.append(table)
        self.hashes.extend(hashes)
        if sum(t.num_rows for t in self.pending) >= self.partition_rows:
            self.flush()

    def flush(self) -> None:
        """Write the pending rows as one partition and register it in the ingest."""
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        name = f"part-{self.ingest.id:06d}-{len(self.written):05d}.parquet"
        self.written.append(name)
        sha = write_partition(table, join(self.base_url, name))
        items = pd.DataFrame(
            {"item_id": table.column("item_id").to_pylist(), "content_hash": self.hashes}
        )
        self.ingest.add_partition(name=name, target=self.target, sha256=sha, items=items)
        faults.checkpoint("mid_ingest")  # a partition written and registered, not committed
        self.rows_added += len(items)
        self.pending.clear()
        self.hashes.clear()
        self.seen.clear()  # flushed ids are in the ledger now: memory stays with one partition

    def remove(self) -> None:
        """Delete the partitions written so far (the ingest failed)."""
        for name in self.written:
            fs, path = fsspec.core.url_to_fs(join(self.base_url, name))
            if fs.exists(path):
                fs.rm(path)


def ingest_file(
    url: str,
    data: DataConfig,
    ledger: Ledger,
    base_url: str,
    *,
    target: str = "pool",
    progress=None,
    embed: Embed | None = None,
) -> IngestReport:
    """Ingest one file into the pool (``target='pool'``) or the evaluation set (``'eval'``);
    ``embed`` (texts -> float32 rows) adds each new text's embedding as the ``x`` column.

    All or nothing: on any invalid record, no partition is registered and no item is added.
    """
    validator = Validator(data, url, target)
    rows_read = 0
    with ledger.ingest(url, target) as ingest:
        out = _Partitions(ingest, base_url, target, data.partition_rows, embed)
        try:
            for n, chunk in enumerate(read_chunks(url, data.read_chunk_rows)):
                if n == 0:
                    validator.check_columns(chunk.frame)
                rows_read += len(chunk.frame)
                if progress:
                    progress(len(chunk.frame))
                _add_chunk(chunk, validator, out)
            if validator.problems:
                raise InputError(
                    f"{url}: {validator.n_problems} invalid record(s) (the first "
                    f"{len(validator.problems)} below); nothing was ingested",
                    validator.problems,
                )
            if rows_read == 0:
                raise InputError(f"{url}: no records found; nothing was ingested")
            out.flush()
            ingest.rows_read, ingest.rows_added = rows_read, out.rows_added
        except BaseException:
            out.remove()
            raise
    return IngestReport(url, rows_read, out.rows_added, len(out.written))


def _add_chunk(chunk: Chunk, validator: Validator, out: _Partitions) -> None:
    """Validate one chunk and queue its new rows; after any problem, only keep checking."""
    x, ok = validator.features(chunk)
    truth = validator.truth(chunk, ok)
    feature_bytes = _feature_bytes(x)
    # an item without an id column is named by its content
    content_ids = [] if validator.data.id_column else [_hash([b]) for b in feature_bytes]
    hashes = [
        _hash([b, ((truth[i] if truth else None) or "").encode()])
        for i, b in enumerate(feature_bytes)
    ]
    ids = validator.ids(chunk, ok, content_ids)
    keep = validator.dedupe(chunk, ok, ids, hashes, out.seen)
    if validator.problems:
        return  # keep scanning for more problems, write nothing
    new = _not_yet_ingested(chunk, validator, out, keep, ids, hashes)
    if validator.problems or not new:
        return
    feats = x[np.asarray(new)] if isinstance(x, np.ndarray) else [x[i] for i in new]
    embedding = out.embed(feats) if out.embed and isinstance(feats, list) else None
    truth_new = [truth[i] for i in new] if truth else None
    out.add(to_table([ids[i] for i in new], feats, truth_new, embedding), [hashes[i] for i in new])


def ingest_into(
    ws: Workspace,
    config: AlflowConfig,
    ledger: Ledger,
    url: str,
    *,
    target: str = "pool",
    progress=None,
) -> IngestReport:
    """``ingest_file`` into the workspace's pool or evaluation set. A text pool's first ingest
    fits the text space on a sample of the file and keeps it (removed again if the ingest is
    refused); each pool ingest of a text pool writes the embedding column with it."""
    base = ws.pool_url if target == "pool" else ws.eval_url
    space, new = _pool_text_space(ws, config, ledger, url, target)
    if new:
        save_text_space(space, ws.text_space)
    embed = space.embed if space is not None and space.embedding_dim else None
    try:
        return ingest_file(
            url, config.data, ledger, base, target=target, progress=progress, embed=embed
        )
    except BaseException:
        if new:
            ws.text_space.unlink(missing_ok=True)
        raise


def _pool_text_space(
    ws: Workspace, config: AlflowConfig, ledger: Ledger, url: str, target: str
) -> tuple[TextSpace | None, bool]:
    """``(space, fitted now)``: the pool's text space for a pool ingest of a text pool (None
    for other ingests, and for a pool ingested before alflow fitted one), fitted on a uniform
    sample of this file's texts when this is the pool's first ingest."""
    f = config.data.features
    if f.kind != "text" or target != "pool":
        return None, False
    space = load_text_space(ws.text_space)
    if space is not None or ledger.partitions("pool"):
        return space, False
    chunks = (
        [t for t in chunk.frame[f.text_column].tolist() if isinstance(t, str) and t.strip()]
        for chunk in read_chunks(url, config.data.read_chunk_rows)
        if f.text_column in chunk.frame
    )
    sample = sample_texts(chunks, f.text_sample_rows, config.seed)
    if not sample:
        return None, False  # nothing to fit on: ingest_file says what is wrong with the file
    return fit_text_space(sample, f.text_embedding_dim, config.seed, f.text_embedding), True


def _not_yet_ingested(
    chunk: Chunk,
    validator: Validator,
    out: _Partitions,
    keep: list[int],
    ids: list[str],
    hashes: list[str],
) -> list[int]:
    """The rows of ``keep`` not in the target yet; an item in the other target, or in this one
    with different content, is a problem."""
    target = out.target
    known = out.ingest.content_hashes([ids[i] for i in keep], target)
    other = "eval" if target == "pool" else "pool"
    elsewhere = out.ingest.content_hashes([ids[i] for i in keep], other)
    column = validator.data.id_column
    new = []
    for i in keep:
        if ids[i] in elsewhere:
            validator.problem(
                chunk.positions[i],
                chunk.unit,
                column,
                f"item {ids[i]!r} is already in the {other}: an item may not be in "
                "both the pool and the evaluation set",
            )
        elif ids[i] in known:
            if known[ids[i]] != hashes[i]:
                validator.problem(
                    chunk.positions[i],
                    chunk.unit,
                    column,
                    f"id {ids[i]!r} is already in the {target} with different content",
                )
        else:
            new.append(i)
    return new


def _feature_bytes(x) -> list[bytes]:
    """Each row's content as bytes (texts, vectors or tabular rows), for content hashes."""
    if isinstance(x, list):
        return [t.encode() for t in x]
    return row_bytes(x) if is_tabular(x) else [r.tobytes() for r in x]


def _hash(parts: list[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()
