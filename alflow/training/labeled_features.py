"""The labeled-features store: the features of every item a model trains on, kept in the
workspace when its label resolves, so a retrain reads O(labels) rows instead of the pool.

Parquet files under ``<workspace>/labeled_features``, append-only, each named by the range of
append numbers it holds (``00000007-00000007.parquet``; a compaction writes ``00000001-00000040``
and then deletes the files it covers, and a reader ignores any file inside another's range, so a
crash between the two steps duplicates nothing). Rows are ``item_id`` and the item's features in
the pool's partition layout (``alflow.data.pool.to_table``). Features never change (an id's content
is fixed at ingest), so the store holds no labels: a retraction or a superseding vote changes the
ledger's label, never a row here.

Exactly once: an append writes the ids the store lacks, under an exclusive file lock, to a
temporary name renamed into place; a process killed before the rename leaves only a temporary
file (ignored, removed by the next append), and a rerun appends what is still missing.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alflow import faults
from alflow.data.pool import features_of, to_table

NAME = re.compile(r"^(\d{8})-(\d{8})\.parquet$")
COMPACT_AT = 32  # live files before an append merges them into one

Fetch = Callable[[Sequence[str]], pa.Table]  # pool rows (item_id + feature columns) of ids


class LabeledFeatures:
    """The store of one workspace; ``fetch`` reads items' rows from the pool when missing."""

    def __init__(self, folder: Path, kind: str, fetch: Fetch) -> None:
        self.folder = folder
        self.kind = kind
        self.fetch = fetch

    def features(self, item_ids: Sequence[str]) -> Any:
        """The features of ``item_ids`` in their order (an array, or texts); items the store
        lacks (labeled before it existed, weak or pseudo labels) are fetched and appended."""
        ids = [str(i) for i in item_ids]
        table = self._read()
        if not _all_in(ids, table):
            self.add(ids)
            table = self._read()
        idx = pc.index_in(pa.array(ids, pa.string()), value_set=table.column("item_id"))
        return features_of(table.take(idx), self.kind)

    def add(self, item_ids: Sequence[str]) -> int:
        """Append the rows of the ``item_ids`` the store lacks; return how many it appended."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            for tmp in self.folder.glob("*.tmp-*"):
                tmp.unlink()  # an append killed before its rename
            stored = set(self._read().column("item_id").to_pylist())
            missing = sorted(set(map(str, item_ids)) - stored)
            if not missing:
                return 0
            fetched = self.fetch(missing)
            order = pc.index_in(pa.array(missing, pa.string()), value_set=fetched.column("item_id"))
            rows = fetched.take(order)
            table = to_table(missing, features_of(rows, self.kind))
            files = self._files()
            n = max((last for _, last, _ in files), default=0) + 1
            self._write(table, n, n)
            if len(files) + 1 >= COMPACT_AT:
                self._compact()
            return len(missing)

    def row_count(self) -> int:
        """Rows in the store's live files."""
        return sum(pq.ParquetFile(p).metadata.num_rows for _, _, p in self._files())

    def _read(self) -> pa.Table:
        """Every live row (``item_id`` and features)."""
        tables = [pq.read_table(p) for _, _, p in self._files()]
        if not tables:
            return pa.table({"item_id": pa.array([], pa.string())})
        return pa.concat_tables(tables)

    def _files(self) -> list[tuple[int, int, Path]]:
        """``(first, last, path)`` of the live files: those no other file's range covers."""
        found = []
        for path in self.folder.glob("*.parquet") if self.folder.is_dir() else ():
            m = NAME.match(path.name)
            if m:
                found.append((int(m[1]), int(m[2]), path))
        return sorted(
            f for f in found if not any(o is not f and o[0] <= f[0] and f[1] <= o[1] for o in found)
        )

    def _write(self, table: pa.Table, first: int, last: int) -> None:
        path = self.folder / f"{first:08d}-{last:08d}.parquet"
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        pq.write_table(table, tmp, compression="snappy")
        faults.checkpoint("mid_labeled_features")  # written, not yet renamed into place
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        tmp.rename(path)

    def _compact(self) -> None:
        """Merge the live files into one covering their whole range, then delete them."""
        files = self._files()
        self._write(self._read(), files[0][0], files[-1][1])
        for _, _, path in files:
            path.unlink()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the store (released when the process dies)."""
        with (self.folder / ".lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _all_in(ids: Sequence[str], table: pa.Table) -> bool:
    if not ids:
        return True
    found = pc.is_in(pa.array(ids, pa.string()), value_set=table.column("item_id"))
    return bool(pc.all(found).as_py())
