"""Ingest: CSV, JSONL or Parquet (path or fsspec URL) into the partitioned pool.

Files are read in chunks so a 10M-row file never sits in memory whole. Every chunk is validated
(missing columns, wrong types, NaN features, labels outside the schema, one id with two contents)
and problems are reported with file, line or row, and column. An ingest is one ledger transaction:
it commits whole, or changes nothing. Items already in the pool are skipped, so re-ingesting a file
adds nothing and a new file adds only new items.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alflow.coerce import not_number_hint, tabular_block
from alflow.config import DataConfig
from alflow.errors import InputError, located
from alflow.ledger import Ledger
from alflow.pool import join, to_table, write_partition
from alflow.tabular import is_tabular, row_bytes

MAX_PROBLEMS = 50


@dataclass(frozen=True)
class IngestReport:
    source: str
    rows_read: int
    rows_added: int
    partitions: int


@dataclass
class Chunk:
    """Rows of a source file and where they came from (1-based line or row numbers)."""

    frame: pd.DataFrame
    positions: np.ndarray  # line (CSV, JSONL) or row (Parquet) of each record
    unit: str  # "line" or "row"
    arrow: pa.RecordBatch | None = None  # the same rows as read (Parquet): typed columns


def _format(url: str) -> str:
    name = url.lower().removesuffix(".gz").removesuffix(".bz2").removesuffix(".zst")
    for ext, fmt in (
        (".csv", "csv"),
        (".tsv", "csv"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
    ):
        if name.endswith(ext):
            return fmt
    raise InputError(f"{url}: unknown file type (expected .csv, .jsonl or .parquet)")


def read_chunks(url: str, chunk_rows: int) -> Iterator[Chunk]:
    """Stream a file as chunks of at most ``chunk_rows`` records."""
    fmt = _format(url)
    if fmt == "parquet":
        yield from _parquet_chunks(url, chunk_rows)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(url, chunk_rows)
    else:
        yield from _csv_chunks(url, chunk_rows)


def row_count(url: str) -> int | None:
    """The number of records when the file says it without being read (Parquet metadata)."""
    try:
        if _format(url) != "parquet":
            return None
        with fsspec.open(url, "rb") as f:
            return pq.ParquetFile(f).metadata.num_rows
    except (InputError, OSError, pa.ArrowException):
        return None  # the ingest itself says what is wrong


def _csv_chunks(url: str, chunk_rows: int) -> Iterator[Chunk]:
    sep = "\t" if ".tsv" in url.lower() else ","
    start = 2  # line 1 is the header
    with fsspec.open(url, "rt", compression="infer", newline="") as f:
        try:
            reader = pd.read_csv(f, sep=sep, chunksize=chunk_rows, dtype=str, keep_default_na=False)
            for frame in reader:
                yield Chunk(frame, np.arange(start, start + len(frame)), "line")
                start += len(frame)
        except pd.errors.ParserError as err:
            raise InputError(f"{url}: malformed CSV: {err}") from None
        except pd.errors.EmptyDataError:
            raise InputError(f"{url}: the file is empty") from None


def _jsonl_chunks(url: str, chunk_rows: int) -> Iterator[Chunk]:
    def reject_constant(name: str) -> float:
        raise ValueError(f"{name} is not allowed")

    records: list[dict] = []
    lines: list[int] = []
    with fsspec.open(url, "rt", compression="infer", encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw, parse_constant=reject_constant)
            except (ValueError, RecursionError) as err:
                raise InputError(
                    "malformed JSONL", [located(url, lineno, None, f"not valid JSON: {err}")]
                ) from None
            if not isinstance(rec, dict):
                raise InputError(
                    "malformed JSONL", [located(url, lineno, None, "a record must be an object")]
                )
            records.append(rec)
            lines.append(lineno)
            if len(records) >= chunk_rows:
                yield Chunk(pd.DataFrame.from_records(records), np.array(lines), "line")
                records, lines = [], []
    if records:
        yield Chunk(pd.DataFrame.from_records(records), np.array(lines), "line")


def _parquet_chunks(url: str, chunk_rows: int) -> Iterator[Chunk]:
    start = 1
    with fsspec.open(url, "rb") as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            yield Chunk(frame, np.arange(start, start + len(frame)), "row", batch)
            start += len(frame)


class _Validator:
    """Turns raw chunks into (ids, features, truth, content hashes), collecting problems."""

    def __init__(self, data: DataConfig, source: str, target: str = "pool") -> None:
        self.data = data
        self.source = source
        self.problems: list[str] = []
        self.n_problems = 0  # all of them; only the first MAX_PROBLEMS are kept
        f = data.features
        self.kind = f.kind
        self.feature_columns = (
            f.model_columns
            if f.kind in ("numeric", "tabular")
            else [f.text_column or f.embedding_column]
        )
        self.required = [*self.feature_columns]
        if data.id_column:
            self.required.append(data.id_column)
        if target == "eval":
            if not data.truth_column:
                raise InputError(
                    f"{source}: an evaluation set needs its label column: set data.truth_column"
                )
            self.required.append(data.truth_column)
        self.has_truth = False  # pools may carry ground truth (for simulations) or not
        self.labels = set(data.labels)
        self.width: int | None = None  # embedding width, fixed by the first vector

    def problem(self, pos: int, unit: str, column: str | None, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_PROBLEMS:
            field = f"column {column!r}" if column else None
            self.problems.append(located(self.source, int(pos), field, message, unit))

    def check_columns(self, frame: pd.DataFrame) -> None:
        self.has_truth = bool(self.data.truth_column) and self.data.truth_column in frame.columns
        missing = [c for c in self.required if c not in frame.columns]
        if missing:
            raise InputError(
                f"{self.source}: missing column(s) {missing}; found {list(frame.columns)[:30]}"
            )

    def features(self, chunk: Chunk) -> tuple[np.ndarray | list[str], np.ndarray]:
        """Parsed features and a mask of the rows that passed."""
        ok = np.ones(len(chunk.frame), dtype=bool)
        parse = {
            "numeric": self._numeric,
            "text": self._texts,
            "embedding": self._embeddings,
            "tabular": self._tabular,
        }
        return parse[self.kind](chunk, ok), ok

    def _numeric(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        x = np.empty((len(chunk.frame), len(self.feature_columns)), dtype=np.float32)
        for j, col in enumerate(self.feature_columns):
            raw = chunk.frame[col]
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(values)
            for i in np.flatnonzero(bad):
                v = raw.iloc[i]
                self.problem(chunk.positions[i], chunk.unit, col, not_number_hint(v, col))
            ok &= ~bad
            x[:, j] = np.where(bad, 0.0, values)
        return x

    def _tabular(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        def report(i: int, column: str, message: str) -> None:
            self.problem(chunk.positions[i], chunk.unit, column, message)
            ok[i] = False

        return tabular_block(chunk.frame, self.data.features, report)

    def _texts(self, chunk: Chunk, ok: np.ndarray) -> list[str]:
        col = self.feature_columns[0]
        texts = chunk.frame[col].tolist()
        for i, v in enumerate(texts):
            if not isinstance(v, str) or not v.strip():
                msg = "missing text" if _missing(v) else f"{v!r} is not a string"
                self.problem(chunk.positions[i], chunk.unit, col, msg)
                ok[i] = False
                texts[i] = ""
        return texts

    def _embeddings(self, chunk: Chunk, ok: np.ndarray) -> np.ndarray:
        col = self.feature_columns[0]
        x = _vector_column(chunk.arrow, col)
        if x is not None and self.width in (None, x.shape[1]):
            self.width = x.shape[1]
            bad = ~np.isfinite(x).all(axis=1)
            for i in np.flatnonzero(bad):
                msg = "bad embedding: contains NaN or infinity"
                self.problem(chunk.positions[i], chunk.unit, col, msg)
            ok &= ~bad
            x[bad] = 0.0
            return x.astype(np.float32, copy=False)
        vectors: list[np.ndarray | None] = []
        for i, v in enumerate(chunk.frame[col].tolist()):
            try:
                if isinstance(v, str):
                    v = json.loads(v)
                arr = np.asarray(v, dtype=np.float64)
                if arr.ndim != 1 or arr.size == 0:
                    raise ValueError("not a flat list of numbers")
                if self.width is None:
                    self.width = arr.size
                if arr.size != self.width:
                    raise ValueError(f"has {arr.size} dimensions, expected {self.width}")
                if not np.isfinite(arr).all():
                    raise ValueError("contains NaN or infinity")
                vectors.append(arr.astype(np.float32))
            except (ValueError, TypeError) as err:
                self.problem(chunk.positions[i], chunk.unit, col, f"bad embedding: {err}")
                ok[i] = False
                vectors.append(None)
        width = self.width or 1
        x = np.zeros((len(vectors), width), dtype=np.float32)
        for i, vec in enumerate(vectors):
            if vec is not None:
                x[i] = vec
        return x

    def truth(self, chunk: Chunk, ok: np.ndarray) -> list[str] | None:
        col = self.data.truth_column
        if not self.has_truth:
            return None
        values = [_label_text(v) for v in chunk.frame[col].tolist()]
        for i, v in enumerate(values):
            if v not in self.labels:
                self.problem(
                    chunk.positions[i],
                    chunk.unit,
                    col,
                    f"label {v!r} is not in the label schema {sorted(self.labels)}",
                )
                ok[i] = False
        return values

    def ids(self, chunk: Chunk, ok: np.ndarray, content: list[str]) -> list[str]:
        col = self.data.id_column
        if not col:
            return content
        ids = []
        for i, v in enumerate(chunk.frame[col].tolist()):
            s = _label_text(v)
            if not s:
                self.problem(chunk.positions[i], chunk.unit, col, "missing id")
                ok[i] = False
            ids.append(s)
        return ids


def _feature_bytes(x) -> list[bytes]:
    """Each row's content as bytes (texts, vectors or tabular rows), for content hashes."""
    if isinstance(x, list):
        return [t.encode() for t in x]
    return row_bytes(x) if is_tabular(x) else [r.tobytes() for r in x]


def _vector_column(batch: pa.RecordBatch | None, column: str) -> np.ndarray | None:
    """A list-of-numbers column with one width and no nulls as an ``(n, d)`` array in one
    step (no Python object per row); None when it is anything else (checked row by row)."""
    if batch is None or column not in batch.schema.names:
        return None
    arr = batch.column(column)
    kind = arr.type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind)) or not len(arr):
        return None
    if arr.null_count or not (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        return None
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    if lengths[0] == 0 or (lengths != lengths[0]).any() or arr.flatten().null_count:
        return None
    flat = arr.flatten().to_numpy(zero_copy_only=False)
    return flat.astype(np.float64 if flat.dtype != np.float32 else np.float32).reshape(
        len(arr), int(lengths[0])
    )


def _missing(v: object) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


def _label_text(v: object) -> str:
    """Canonical string of an id or label: ints stay ints even when read as floats."""
    if _missing(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _hash(parts: list[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def ingest_file(
    url: str,
    data: DataConfig,
    ledger: Ledger,
    base_url: str,
    *,
    target: str = "pool",
    progress=None,
) -> IngestReport:
    """Ingest one file into the pool (``target='pool'``) or the evaluation set (``'eval'``).

    All or nothing: on any invalid record, no partition is registered and no item is added.
    """
    validator = _Validator(data, url, target)
    rows_read = rows_added = 0
    written: list[str] = []
    with ledger.ingest(url, target) as ingest:
        seen: dict[str, tuple[str, int]] = {}
        pending: list[pa.Table] = []
        pending_hashes: list[str] = []

        def flush() -> None:
            nonlocal rows_added
            if not pending:
                return
            table = pa.concat_tables(pending)
            name = f"part-{ingest.id:06d}-{len(written):05d}.parquet"
            written.append(name)
            sha = write_partition(table, join(base_url, name))
            items = pd.DataFrame(
                {"item_id": table.column("item_id").to_pylist(), "content_hash": pending_hashes}
            )
            ingest.add_partition(name=name, target=target, sha256=sha, items=items)
            rows_added += len(items)
            pending.clear()
            pending_hashes.clear()
            seen.clear()  # flushed ids are in the ledger now: memory stays with one partition

        try:
            first = True
            for chunk in read_chunks(url, data.read_chunk_rows):
                if first:
                    validator.check_columns(chunk.frame)
                    first = False
                rows_read += len(chunk.frame)
                if progress:
                    progress(len(chunk.frame))
                x, ok = validator.features(chunk)
                truth = validator.truth(chunk, ok)
                feature_bytes = _feature_bytes(x)
                content_ids = [_hash([b]) for b in feature_bytes]
                hashes = [
                    _hash([b, (truth[i] if truth else "").encode()])
                    for i, b in enumerate(feature_bytes)
                ]
                ids = validator.ids(chunk, ok, content_ids)
                keep = _dedupe(ids, hashes, ok, chunk, validator, seen)
                if validator.problems:
                    continue  # keep scanning for more problems, write nothing
                known = ingest.content_hashes([ids[i] for i in keep], target)
                other = "eval" if target == "pool" else "pool"
                elsewhere = ingest.content_hashes([ids[i] for i in keep], other)
                new = []
                for i in keep:
                    if ids[i] in elsewhere:
                        validator.problem(
                            chunk.positions[i],
                            chunk.unit,
                            data.id_column,
                            f"item {ids[i]!r} is already in the {other}: an item may not be in "
                            "both the pool and the evaluation set",
                        )
                    elif ids[i] in known:
                        if known[ids[i]] != hashes[i]:
                            validator.problem(
                                chunk.positions[i],
                                chunk.unit,
                                data.id_column,
                                f"id {ids[i]!r} is already in the {target} with different content",
                            )
                    else:
                        new.append(i)
                if validator.problems or not new:
                    continue
                sel = np.asarray(new)
                feats = x[sel] if isinstance(x, np.ndarray) else [x[i] for i in new]
                pending.append(
                    to_table(
                        [ids[i] for i in new], feats, [truth[i] for i in new] if truth else None
                    )
                )
                pending_hashes.extend(hashes[i] for i in new)
                if sum(t.num_rows for t in pending) >= data.partition_rows:
                    flush()
            if validator.problems:
                raise InputError(
                    f"{url}: {validator.n_problems} invalid record(s) (the first "
                    f"{len(validator.problems)} below); nothing was ingested",
                    validator.problems,
                )
            if rows_read == 0:
                raise InputError(f"{url}: no records found; nothing was ingested")
            flush()
            ingest.rows_read, ingest.rows_added = rows_read, rows_added
        except BaseException:
            _remove(base_url, written)
            raise
    return IngestReport(url, rows_read, rows_added, len(written))


def _dedupe(ids, hashes, ok, chunk, validator, seen) -> list[int]:
    """Drop exact repeats within the file; report one id with two contents."""
    keep = []
    for i in np.flatnonzero(ok):
        prev = seen.get(ids[i])
        if prev is None:
            seen[ids[i]] = (hashes[i], int(chunk.positions[i]))
            keep.append(int(i))
        elif prev[0] != hashes[i]:
            what = f"id {ids[i]!r}" if validator.data.id_column else "the same features"
            validator.problem(
                chunk.positions[i],
                chunk.unit,
                validator.data.id_column,
                f"{what} appeared at {chunk.unit} {prev[1]} with different content",
            )
    return keep


def _remove(base_url: str, names: list[str]) -> None:
    for name in names:
        fs, path = fsspec.core.url_to_fs(join(base_url, name))
        if fs.exists(path):
            fs.rm(path)
