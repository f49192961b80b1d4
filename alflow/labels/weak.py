"""Snorkel-style weak labels: a label model's output read from a JSONL or CSV file.

One record per item, in either shape (all records of a file need not use the same one):

* ``item_id``, ``label`` and ``confidence`` (in (0, 1]; 1 when absent): a hard label;
* ``item_id`` and one ``prob_<class>`` field for every class of the label schema (a row of
  Snorkel's ``LabelModel.predict_proba``): the label is the most probable class and the confidence
  its probability; the probabilities must sum to 1 (within 0.001). A row whose top probability is
  shared by two classes is an abstain and is left out.

Weak labels train with ``sample_weight = confidence * model.weak_labels.weight``; they are never
exported and never counted as human labels, and a human label for the same item supersedes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alflow.errors import InputError, located
from alflow.vendors.files import csv_records
from alflow.vendors.reading import DEFAULT_MAX_FILE_BYTES, check_size, jsonl_records

PROB_PREFIX = "prob_"
SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class WeakLabels:
    frame: pd.DataFrame  # item_id, label, confidence, line
    abstained: int


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _row(rec: dict, line: int, labels: list[str], src: str, problems: list[str]):
    """``(item_id, label, confidence)``, ``None`` for an abstain, or a recorded problem."""
    item_id = str(rec.get("item_id") or "").strip()
    if not item_id:
        problems.append(located(src, line, "item_id", "missing"))
        return False
    probs = {
        k[len(PROB_PREFIX) :]: v
        for k, v in rec.items()
        if k.startswith(PROB_PREFIX) and v not in (None, "")
    }
    label = rec.get("label")
    label = None if label is None or str(label).strip() == "" else str(label).strip()
    if probs and label is not None:
        problems.append(located(src, line, "label", f"item {item_id!r}: give label or prob_*"))
        return False
    if probs:
        unknown = sorted(set(probs) - set(labels))
        missing = [c for c in labels if c not in probs]
        if unknown or missing:
            problems.append(
                located(
                    src,
                    line,
                    "prob_*",
                    f"item {item_id!r}: classes {unknown} are not in the label schema"
                    if unknown
                    else f"item {item_id!r}: no probability for classes {missing}",
                )
            )
            return False
        values = [_number(probs[c]) for c in labels]
        if any(v is None or not 0.0 <= v <= 1.0 for v in values):
            problems.append(located(src, line, "prob_*", f"item {item_id!r}: not all in [0, 1]"))
            return False
        if abs(sum(values) - 1.0) > SUM_TOLERANCE:
            problems.append(
                located(src, line, "prob_*", f"item {item_id!r}: sum to {sum(values):.4f}, not 1")
            )
            return False
        top = max(values)
        if values.count(top) > 1:
            return None
        return item_id, labels[values.index(top)], top
    if label is None:
        problems.append(located(src, line, "label", f"item {item_id!r}: missing (or prob_*)"))
        return False
    if label not in labels:
        problems.append(
            located(src, line, "label", f"{label!r} for item {item_id!r} is not in the schema")
        )
        return False
    raw = rec.get("confidence")
    conf = 1.0 if raw is None or raw == "" else _number(raw)
    if conf is None or not 0.0 < conf <= 1.0:
        problems.append(
            located(src, line, "confidence", f"{raw!r} for item {item_id!r} is not in (0, 1]")
        )
        return False
    return item_id, label, conf


def read_weak_labels(
    path: Path, labels: list[str], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> WeakLabels:
    """Parse and validate a weak-labels file; every problem is reported, nothing half-read."""
    check_size(path, max_file_bytes)
    csv = path.suffix.lower() in (".csv", ".tsv")
    records = csv_records(path) if csv else jsonl_records(path)
    problems: list[str] = []
    rows: list[tuple[str, str, float, int]] = []
    seen: dict[str, int] = {}
    abstained = 0
    for line, rec, err in records:
        if err:
            problems.append(located(str(path), line, None, err))
            continue
        row = _row(rec, line, labels, str(path), problems)
        if row is False:
            continue
        item_id = str(rec.get("item_id")).strip()
        if item_id in seen:
            problems.append(
                located(str(path), line, "item_id", f"{item_id!r} repeats line {seen[item_id]}")
            )
            continue
        seen[item_id] = line
        if row is None:
            abstained += 1
            continue
        rows.append((*row, line))
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was imported", problems)
    if not rows:
        raise InputError(f"{path}: no weak labels found; nothing was imported")
    frame = pd.DataFrame(rows, columns=["item_id", "label", "confidence", "line"])
    return WeakLabels(frame, abstained)
