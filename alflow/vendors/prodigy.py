"""Prodigy: a JSONL task stream out, ``prodigy db-out`` JSONL in.

Tasks carry ``meta.item_id`` and ``meta.round`` and stable ``_input_hash`` / ``_task_hash``
(derived from the item id, the round and the question, so a rerun writes the same hashes and
Prodigy, which keeps hashes already present, dedupes on them). Two modes (``vendor.prodigy_mode``):

* ``choice`` (``textcat`` multiple choice): ``options`` = the schema; ``answer: accept`` with one
  option id in ``accept`` is a label; ``accept`` with nothing chosen is a skip.
* ``binary``: ``label`` = the model's suggestion (the first schema label at a cold start);
  ``accept`` says the item is that class.

In both modes ``ignore`` and ``reject`` are skips by that annotator. A binary ``reject`` means "not
this class": it is never turned into a label (not even in a two-class schema), and it does not
count as a vote for any class; if nobody accepts a class, the item follows the skip policy.
The annotator is ``_annotator_id`` (``<dataset>-<session>``) or ``_session_id``; the annotation id
is ``<_task_hash>/<annotator>``, so an annotator's later answer to the same task replaces theirs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.vendors.base import Annotation, ExportReceipt
from alflow.vendors.exporting import rendering, rows, suggestion, write_export
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    Collector,
    get,
    jsonl_bytes,
    read_jsonl_annotations,
    text,
)

ANSWERS = ("accept", "reject", "ignore")


def stable_hash(*parts: object) -> int:
    """A signed 32-bit hash like Prodigy's, but from sha256 (stable across runs and machines)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


class ProdigyVendor:
    """Prodigy task streams (choice or binary) and ``db-out`` answers."""

    pulls_labels = False  # labels come back as a file to import

    name = "prodigy"

    def __init__(self, mode: str = "choice", max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        if mode not in ("choice", "binary"):
            raise ValueError(f"unknown Prodigy mode {mode!r}")
        self.mode = mode
        self.max_file_bytes = max_file_bytes

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        tasks = []
        for row in rows(batch):
            item_id = str(row["item_id"])
            hint = suggestion(row, labels)
            meta = {"item_id": item_id, "round": round_id}
            task = {"text": rendering(row), "meta": meta}
            if self.mode == "choice":
                task["options"] = [{"id": lab, "text": lab} for lab in labels]
                question = "choice"
                if hint:
                    meta["suggestion"], meta["score"] = hint
            else:
                task["label"] = hint[0] if hint else labels[0]
                question = task["label"]
                if hint:
                    meta["score"] = hint[1]
            task["_input_hash"] = stable_hash(item_id)
            task["_task_hash"] = stable_hash(item_id, round_id, self.mode, question)
            tasks.append(task)
        path = dest / f"round-{round_id:04d}.prodigy.jsonl"
        return write_export(
            self.name, path, jsonl_bytes(tasks), len(tasks), round_id, labels, mode=self.mode
        )

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        return read_jsonl_annotations(path, labels, self.max_file_bytes, self._answer)

    def _answer(self, c: Collector, line: int, rec: dict) -> None:
        item_id = c.item_id(line, get(rec, "meta", "item_id"), "meta.item_id")
        if item_id is None:
            return
        answer = rec.get("answer")
        if not isinstance(answer, str) or answer not in ANSWERS:
            c.problem(line, "answer", f"{str(answer)[:40]!r} is not one of {ANSWERS}", item_id)
            return
        annotator = text(rec.get("_annotator_id")) or text(rec.get("_session_id"))
        task_hash = rec.get("_task_hash")
        if task_hash is not None and (
            isinstance(task_hash, bool) or not isinstance(task_hash, int)
        ):
            c.problem(line, "_task_hash", "must be an integer", item_id)
            return
        common = {
            "annotator": annotator,
            "annotation_id": f"{task_hash}/{annotator}" if task_hash is not None else None,
            "round_id": c.round(line, get(rec, "meta", "round"), "meta.round", item_id),
            "at": c.time(line, rec.get("_timestamp"), "_timestamp", item_id),
        }
        if answer != "accept":
            c.add(line, item_id, "skip", **common)
            return
        if self.mode == "binary":
            label = c.label(line, item_id, rec.get("label"), "label")
        else:
            chosen = rec.get("accept", [])
            if not isinstance(chosen, list):
                c.problem(line, "accept", "must be a list of option ids", item_id)
                return
            if not chosen:
                c.add(line, item_id, "skip", **common)
                return
            if len(chosen) > 1:
                c.problem(line, "accept", f"{len(chosen)} options chosen (need one)", item_id)
                return
            label = c.label(line, item_id, chosen[0], "accept")
        if label is not None:
            c.add(line, item_id, "label", label, **common)


def build(config: AlflowConfig, exports_dir: Path | None = None) -> ProdigyVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    return ProdigyVendor(config.vendor.prodigy_mode, config.vendor.max_file_bytes)
