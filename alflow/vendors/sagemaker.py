"""SageMaker Ground Truth: an input manifest out, the job's output manifest in.

Input manifest (JSON Lines): ``source`` (the item as text) or ``source-ref`` (an image URI from an
``image`` column), plus ``alflow-item-id`` and ``alflow-round``, which Ground Truth passes through
unchanged. A label category config (``round-NNNN.sagemaker.labels.json``) lists the schema in
order, so class index ``i`` is ``labels[i]``.

Output manifest: the same lines plus ``<attr>`` (the class index, a number or a string) and
``<attr>-metadata`` with ``class-name``, ``confidence``, ``type``, ``job-name``,
``human-annotated`` and ``creation-date``. ``<attr>`` is ``vendor.label_field``. Index and class
name must agree with the schema. Lines without ``<attr>`` (intermediate files) and machine labels
(``human-annotated: "no"``, from automated labeling) are not human annotations and are left
out; a ``failure-reason`` is a skip. The annotation id is ``<job-name>/<item id>``: a later
output of the same job replaces the earlier one, an adjustment job (another name) adds a vote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.vendors.base import Annotation, ExportReceipt, atomic_write
from alflow.vendors.exporting import rendering, rows, write_export
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    Collector,
    jsonl_bytes,
    read_jsonl_annotations,
    text,
)

ITEM_KEY, ROUND_KEY = "alflow-item-id", "alflow-round"
TYPES = ("groundtruth/text-classification", "groundtruth/image-classification")


class SageMakerVendor:
    """Ground Truth manifests for single-label text or image classification jobs."""

    pulls_labels = False  # labels come back as a file to import

    name = "sagemaker"

    def __init__(self, label_field: str = "label", max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self.attr = label_field
        self.max_file_bytes = max_file_bytes

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        lines = []
        for row in rows(batch):
            line = {ITEM_KEY: str(row["item_id"]), ROUND_KEY: round_id}
            if isinstance(row.get("image"), str):
                line["source-ref"] = row["image"]
            else:
                line["source"] = rendering(row)
            lines.append(line)
        path = dest / f"round-{round_id:04d}.sagemaker.manifest"
        categories = dest / f"round-{round_id:04d}.sagemaker.labels.json"
        config = {"document-version": "2018-11-28", "labels": [{"label": lab} for lab in labels]}
        atomic_write(categories, (json.dumps(config, indent=2) + "\n").encode())
        return write_export(
            self.name,
            path,
            jsonl_bytes(lines),
            len(lines),
            round_id,
            labels,
            label_attribute=self.attr,
            label_category_config=categories.name,
        )

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        return read_jsonl_annotations(path, labels, self.max_file_bytes, self._line)

    def _line(self, c: Collector, line: int, rec: dict) -> None:
        item_id = c.item_id(line, rec.get(ITEM_KEY), ITEM_KEY)
        if item_id is None:
            return
        meta_key = f"{self.attr}-metadata"
        meta = rec.get(meta_key)
        if self.attr not in rec and meta is None:
            return  # not labeled yet (an intermediate manifest)
        if not isinstance(meta, dict):
            c.problem(line, meta_key, "missing or not an object", item_id)
            return
        job = text(meta.get("job-name"))
        if job is None:
            c.problem(line, f"{meta_key}.job-name", "missing", item_id)
            return
        round_id = c.round(line, rec.get(ROUND_KEY), ROUND_KEY, item_id)
        at = c.time(line, meta.get("creation-date"), f"{meta_key}.creation-date", item_id)
        if (rec.get(ROUND_KEY) is not None and round_id is None) or (
            meta.get("creation-date") and at is None
        ):
            return
        common = {
            "annotator": job,
            "annotation_id": f"{job}/{item_id}",
            "round_id": round_id,
            "at": at,
        }
        if "failure-reason" in meta:
            c.add(line, item_id, "skip", **common)
            return
        human = meta.get("human-annotated")
        if human not in ("yes", "no"):
            c.problem(line, f"{meta_key}.human-annotated", f"{human!r} is not yes or no", item_id)
            return
        if meta.get("type") not in TYPES:
            c.problem(
                line,
                f"{meta_key}.type",
                f"{str(meta.get('type'))[:80]!r} is not a single-label type {list(TYPES)}",
                item_id,
            )
            return
        label = self._label(c, line, item_id, rec.get(self.attr), meta.get("class-name"))
        if label is not None and human == "yes":
            c.add(line, item_id, "label", label, **common)

    def _label(self, c: Collector, line: int, item_id: str, index, name) -> str | None:
        """The schema class for ``index``; its ``class-name`` must name the same class."""
        idx = index if isinstance(index, int) and not isinstance(index, bool) else None
        if isinstance(index, str) and index.strip().isdigit():
            idx = int(index)
        if idx is None or not 0 <= idx < len(c.labels):
            c.problem(
                line,
                self.attr,
                f"class index {str(index)[:40]!r} is not in 0..{len(c.labels) - 1}",
                item_id,
            )
            return None
        label = c.label(line, item_id, name, f"{self.attr}-metadata.class-name")
        if label is not None and label != c.labels[idx]:
            c.problem(
                line,
                self.attr,
                f"class index {idx} is {c.labels[idx]!r} in the schema but class-name says "
                f"{label!r}",
                item_id,
            )
            return None
        return label


def build(config: AlflowConfig, exports_dir: Path | None = None) -> SageMakerVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    return SageMakerVendor(config.vendor.label_field, config.vendor.max_file_bytes)
