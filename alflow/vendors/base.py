"""The vendor interface: export a batch and get a receipt; read a labels file into annotations."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pandas as pd

from alflow import faults
from alflow.data.pool import file_sha256


@dataclass(frozen=True)
class ExportReceipt:
    """What was handed to the vendor: where, how many rows, and the file's sha256."""

    vendor: str
    uri: str
    n_rows: int
    sha256: str
    manifest_uri: str


MAX_REF = 100  # the ledger's annotation_ref column


@dataclass(frozen=True)
class Annotation:
    """One annotation read from a vendor's file, with where it came from."""

    line: int
    item_id: str
    kind: str  # label | ground_truth | skip
    label: str | None
    annotator: str | None
    annotation_id: str | None
    round_id: int | None = None  # the round whose export the vendor file says the item came from
    at: datetime | None = None  # when the vendor says it was given (or last changed)

    def ref(self, vendor: str) -> str | None:
        """The vendor's own id for this annotation: a later version of it supersedes this one.
        An id too long for the ledger is hashed (never cut: two long ids stay two)."""
        if not self.annotation_id:
            return None
        ref = f"{vendor}:{self.annotation_id}"
        if len(ref) <= MAX_REF:
            return ref
        return f"{vendor}:sha256:{hashlib.sha256(self.annotation_id.encode()).hexdigest()}"

    def event_key(self, vendor: str, round_id: int | None = None) -> str:
        """Stable identity of what was said: importing the same content again adds nothing.

        The content is item, round, kind, label, annotator and the vendor's time. With a vendor
        annotation id: that id plus a hash of the content, so a corrected annotation is a new
        event. Without one: the hash alone, so a duplicated line or file is the same event.
        """
        at = self.at.isoformat() if self.at else ""
        parts = [self.item_id, str(round_id or ""), self.kind, self.label or ""]
        blob = "\x1f".join([*parts, self.annotator or "", at])
        digest = hashlib.sha256(blob.encode()).hexdigest()
        ref = self.ref(vendor)
        return f"{ref}:{digest[:24]}" if ref else f"{vendor}:sha256:{digest}"


class Vendor(Protocol):
    """What every vendor offers; ``pulls_labels`` declares that ``pull(dest, labels)`` downloads
    the current annotations from the vendor's server (otherwise labels come back as a file)."""

    name: str
    pulls_labels: bool

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt: ...

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]: ...


def current_umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes, checkpoint: str | None = None) -> str:
    """Write via a temp file in the same folder, fsync, rename; return the sha256.

    Temp files that a killed writer left for ``path`` are removed first. ``checkpoint`` names a
    fault-injection point halfway through the data (see ``alflow.faults``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            if checkpoint:
                f.flush()
                faults.checkpoint(checkpoint)
            f.write(data[half:])
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~current_umask())  # as open() would, not mkstemp's 0600
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()


def source_sha256(path: Path) -> str:
    """The sha256 of a file, or of a folder's files (names and contents, in name order)."""
    if not path.is_dir():
        return file_sha256(str(path))
    digest = hashlib.sha256()
    for member in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f"{member.name}\0{file_sha256(str(member))}\n".encode())
    return digest.hexdigest()
