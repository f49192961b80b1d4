"""Reading a source file (CSV, JSONL or Parquet; a path or an fsspec URL) in chunks, so a
10M-row file never sits in memory whole; each record keeps its line or row number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alflow.errors import InputError, located


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
    try:
        if fmt == "parquet":
            yield from _parquet_chunks(url, chunk_rows)
        elif fmt == "jsonl":
            yield from _jsonl_chunks(url, chunk_rows)
        else:
            yield from _csv_chunks(url, chunk_rows)
    except FileNotFoundError:
        raise InputError(f"{url}: file not found") from None


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
    """Batches of each row group in turn: one reader over the whole file (``iter_batches``
    without ``row_groups``) kept about one row group of read bytes per row group read, 50 MB
    per 100k rows x 128, so memory grew with the file; a reader per row group stays flat."""
    start = 1
    with fsspec.open(url, "rb") as f:
        try:
            pf = pq.ParquetFile(f)
            for group in range(pf.num_row_groups):
                for batch in pf.iter_batches(batch_size=chunk_rows, row_groups=[group]):
                    frame = batch.to_pandas()
                    yield Chunk(frame, np.arange(start, start + len(frame)), "row", batch)
                    start += len(frame)
        except pa.ArrowInvalid as err:
            raise InputError(
                f"{url}: not a readable Parquet file (near row {start}): {err}"
            ) from None
