"""What every vendor export shares: the item as annotators see it, the model's suggestion, and an
atomically written file with a manifest (row count, sha256, label schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alflow.vendors.base import ExportReceipt, atomic_write
from alflow.vendors.reading import plain

SELECTION_COLUMNS = {"item_id", "round", "rank", "utility", "predicted_label", "predicted_score"}
# the per-item scores a round records (tests/unit/test_vendor_registry.py keeps this in step
# with alflow.strategies.UTILITIES): never shown to annotators as if they were features
SCORE_COLUMNS = {"random", "least_confidence", "margin", "entropy"}
MAX_RENDER_CHARS = 20_000  # SageMaker's per-attribute limit; plenty for a feature listing


def rows(batch: pd.DataFrame) -> list[dict]:
    """The batch as plain JSON-friendly dicts, in rank order."""
    return [plain(r) for r in batch.to_dict("records")]


def rendering(row: dict) -> str:
    """The item as text: its ``text`` column, or its feature values as ``name=value`` pairs."""
    if row.get("text") is not None:
        return str(row["text"])
    skip = SELECTION_COLUMNS | SCORE_COLUMNS
    shown = [f"{k}={v}" for k, v in row.items() if k not in skip and not str(k).startswith("p:")]
    return ", ".join(shown)[:MAX_RENDER_CHARS]


def suggestion(row: dict, labels: list[str]) -> tuple[str, float] | None:
    """The model's ``(label, score)`` for the item, when it has one inside the schema."""
    label, score = row.get("predicted_label"), row.get("predicted_score")
    if label is None or str(label) not in labels:
        return None
    return str(label), float(score) if score is not None else 0.0


def write_export(
    vendor: str, path: Path, data: bytes, n_rows: int, round_id: int, labels: list[str], **extra
) -> ExportReceipt:
    """Write the export and its manifest atomically; the receipt names both."""
    sha = atomic_write(path, data)
    manifest = {
        "round": round_id,
        "vendor": vendor,
        "file": path.name,
        "rows": n_rows,
        "sha256": sha,
        "label_schema": labels,
        **extra,
    }
    manifest_path = path.parent / f"{path.name}.manifest.json"
    atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    return ExportReceipt(vendor, str(path), n_rows, sha, str(manifest_path))
