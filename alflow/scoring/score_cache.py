"""Scoring results kept in the workspace, so a retried round resumes instead of rescoring.

A result is keyed by everything that decides it: the pool's content hash, the items excluded from
scoring, the scoring model's version, the strategy and its parameters, the resolved config and the
round. It is written to a temporary folder and renamed into place, so a killed process leaves
either a complete result or none. A mixed table's feature rows (numbers and category names
in one row) are kept as JSON text, which Parquet can hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alflow.data.tabular import is_tabular
from alflow.scoring.score import FEATURES, PartitionScores

FRAMES = ("candidates", "sample", "confident")
SUMMARY = "summary.json"


def cache_key(**parts: Any) -> str:
    """A stable hash of the keyword parts (JSON-encoded, sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def ids_hash(item_ids: list[str]) -> str:
    """A hash of a set of item ids (order does not matter)."""
    digest = hashlib.sha256()
    for item_id in sorted(item_ids):
        digest.update(item_id.encode() + b"\0")
    return digest.hexdigest()


class ScoreCache:
    """One folder per key under ``root``: Parquet frames and a JSON summary."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key

    def load(self, key: str) -> PartitionScores | None:
        """The stored result for ``key``, or None."""
        folder = self.path(key)
        if not (folder / SUMMARY).is_file():
            return None
        summary = json.loads((folder / SUMMARY).read_text())
        frames = {
            name: _from_stored(pd.read_parquet(folder / f"{name}.parquet"), summary)
            if name in summary["frames"]
            else None
            for name in FRAMES
        }
        return PartitionScores(
            candidates=frames["candidates"],
            histograms={k: np.asarray(v) for k, v in summary["histograms"].items()},
            rows_scored=summary["rows_scored"],
            sample=frames["sample"],
            confident=frames["confident"],
        )

    def save(self, key: str, scores: PartitionScores) -> Path:
        """Store ``scores`` under ``key`` (atomically: a folder renamed into place)."""
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{key}."))
        try:
            stored, as_json = [], False
            for name in FRAMES:
                frame = getattr(scores, name)
                if frame is not None:
                    frame, encoded = _storable(frame)
                    frame.to_parquet(tmp / f"{name}.parquet", index=False)
                    stored.append(name)
                    as_json |= encoded
            summary = {
                "rows_scored": int(scores.rows_scored),
                "histograms": {k: np.asarray(v).tolist() for k, v in scores.histograms.items()},
                "frames": stored,
                "json_features": as_json,
            }
            (tmp / SUMMARY).write_text(json.dumps(summary))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final


def _storable(frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """``frame`` with tabular feature rows as JSON text (NaN kept), and whether it was."""
    rows = frame.get(FEATURES)
    if rows is None or not len(rows) or not is_tabular(np.atleast_2d(rows.iloc[0])):
        return frame, False
    return frame.assign(**{FEATURES: [json.dumps(list(r)) for r in rows]}), True


def _from_stored(frame: pd.DataFrame, summary: dict) -> pd.DataFrame:
    """The inverse of ``_storable``: JSON text back to object rows (floats stay floats)."""
    if not summary.get("json_features") or FEATURES not in frame:
        return frame
    rows = [np.array(json.loads(r), dtype=object) for r in frame[FEATURES]]
    return frame.assign(**{FEATURES: rows})
