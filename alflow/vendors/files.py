"""The generic file vendor: JSONL or CSV batches out (with a manifest), labels files in.

A labels file has one record per annotation with ``item_id`` and ``label``, and optionally
``annotator``, ``annotation_id``, ``skipped`` (true/false), ``ground_truth`` (true/false) and
``labeled_at`` (ISO 8601 or Unix seconds: a later answer by the same annotator supersedes).
The export file itself is a valid labels file once its ``label`` fields are filled in.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.csvsafe import csv_bytes, unneutralize
from alflow.errors import InputError, NoAnnotations, located
from alflow.vendors.base import Annotation, ExportReceipt, atomic_write
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    check_size,
    flag,
    jsonl_records,
    plain,
    round_number,
    vendor_time,
)


class FileVendor:
    """Batches as files in a folder the annotation team can reach."""

    pulls_labels = False  # labels come back as a file to import

    def __init__(
        self, fmt: str = "jsonl", name: str = "file", max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    ) -> None:
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"unknown file format {fmt!r}")
        self.fmt = fmt
        self.name = name
        self.max_file_bytes = max_file_bytes

    def export_path(self, dest: Path, round_id: int) -> Path:
        return dest / f"round-{round_id:04d}.{self.fmt}"

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        """Write the batch (deterministic content: a rerun writes the same bytes) and a manifest."""
        out = batch.copy()
        out.insert(1, "round", round_id)
        out["label"] = None
        path = self.export_path(dest, round_id)
        data = self._to_bytes(out)
        sha = atomic_write(path, data, checkpoint="mid_export")
        manifest = {
            "round": round_id,
            "vendor": self.name,
            "format": self.fmt,
            "file": path.name,
            "rows": len(out),
            "sha256": sha,
            "label_schema": labels,
            "columns": list(out.columns),
            "labels_file_fields": [
                "item_id",
                "label",
                "annotator",
                "annotation_id",
                "skipped",
                "ground_truth",
                "labeled_at",
            ],
        }
        manifest_path = path.with_suffix(".manifest.json")
        atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        return ExportReceipt(self.name, str(path), len(out), sha, str(manifest_path))

    def _to_bytes(self, frame: pd.DataFrame) -> bytes:
        records = frame.to_dict("records")
        if self.fmt == "jsonl":
            lines = [json.dumps(plain(r), ensure_ascii=False, allow_nan=False) for r in records]
            return ("\n".join(lines) + "\n").encode()
        return csv_bytes(frame)

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        """Parse and validate a labels file; all problems are reported at once."""
        check_size(path, self.max_file_bytes)
        fmt = "csv" if path.suffix.lower() in (".csv", ".tsv") else "jsonl"
        records = jsonl_records(path) if fmt == "jsonl" else csv_records(path)
        problems: list[str] = []
        out: list[Annotation] = []
        schema = set(labels)
        for line, rec, err in records:
            if err:
                problems.append(located(str(path), line, None, err))
                continue
            parsed = _annotation(rec, line, schema, str(path), problems)
            if parsed is not None:
                out.append(parsed)
        if problems:
            raise InputError(f"{path}: {len(problems)} problem(s); nothing was imported", problems)
        if not out:
            raise NoAnnotations(f"{path}: no annotations found; nothing was imported")
        return out


def csv_records(path: Path):
    """Stream a CSV labels file; a missing final newline is truncation."""
    with open(path, "rb") as f:
        newlines, last = 0, b"\n"
        for block in iter(lambda: f.read(1 << 20), b""):
            newlines, last = newlines + block.count(b"\n"), block[-1:]
        if last not in (b"\n", b"\r"):
            yield newlines + 1, None, "the last line has no newline: the file looks truncated"
            return
    # a spreadsheet's byte-order mark is not part of the header
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        try:
            if reader.fieldnames is None:
                yield 1, None, "the file is empty"
                return
            for rec in reader:
                line = reader.line_num
                if None in rec:
                    yield line, None, "more cells than header columns"
                    continue
                yield line, {k: unneutralize(v) for k, v in rec.items() if v is not None}, None
        except (csv.Error, UnicodeDecodeError) as err:
            yield reader.line_num + 1, None, f"not valid CSV: {err}"


def _flag(rec: dict, key: str, line: int, source: str, problems: list[str]) -> bool:
    v = rec.get(key, False)
    if flag(v) is not None:
        return bool(flag(v))
    problems.append(located(source, line, key, f"{v!r} is not true or false"))
    return False


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def _annotation(rec: dict, line: int, schema: set[str], source: str, problems: list[str]):
    item_id = _text(rec.get("item_id"))
    if item_id is None:
        problems.append(located(source, line, "item_id", "missing"))
        return None
    n = len(problems)
    skipped = _flag(rec, "skipped", line, source, problems)
    ground_truth = _flag(rec, "ground_truth", line, source, problems)
    label = _text(rec.get("label"))
    if skipped:
        kind, label = "skip", None
    elif label is None:
        problems.append(located(source, line, "label", f"missing for item_id {item_id!r}"))
    elif label not in schema:
        problems.append(
            located(
                source,
                line,
                "label",
                f"{label!r} for item_id {item_id!r} is not in the label schema {sorted(schema)}",
            )
        )
    else:
        kind = "ground_truth" if ground_truth else "label"
    round_id = None
    if _text(rec.get("round")) is not None:
        round_id = round_number(_text(rec.get("round")))
        if round_id is None:
            problems.append(located(source, line, "round", f"{rec['round']!r} is not a round"))
    at = None
    if _text(rec.get("labeled_at")) is not None:
        at = vendor_time(rec["labeled_at"])
        if at is None:
            problems.append(
                located(source, line, "labeled_at", f"{rec['labeled_at']!r} is not a time")
            )
    if len(problems) > n:
        return None
    return Annotation(
        line=line,
        item_id=item_id,
        kind=kind,
        label=label,
        annotator=_text(rec.get("annotator")),
        annotation_id=_text(rec.get("annotation_id")),
        round_id=round_id,
        at=at,
    )


def labels_file_bytes(labels: pd.DataFrame) -> bytes:
    """A JSONL labels file for ``item_id``, ``label``, ``annotator`` (as an annotator returns)."""
    stamp = datetime.now(UTC).isoformat()
    lines = [
        json.dumps({**plain(r), "labeled_at": stamp}, allow_nan=False)
        for r in labels.to_dict("records")
    ]
    return ("\n".join(lines) + "\n").encode()


def build(config: AlflowConfig, exports_dir: Path | None = None) -> FileVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    return FileVendor(config.vendor.format, max_file_bytes=config.vendor.max_file_bytes)
