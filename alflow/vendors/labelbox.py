"""Labelbox: data rows keyed by ``global_key`` out, Export v2 NDJSON in.

Data rows (NDJSON, one a line, for ``dataset.create_data_rows``)::

    {"row_data": "...", "global_key": "d0042", "media_type": "TEXT",
     "metadata_fields": [{"name": "alflow_round", "value": "2"}]}

``global_key`` is the item id: it is unique in the organisation, so Labelbox refuses a second
data row for an item (re-export a skipped item to the same data row). ``metadata_fields`` needs a
custom string metadata field ``alflow_round`` in the organisation; without it, drop the key (the
round check is then skipped for those rows).

Export v2 (NDJSON, one data row a line): ``data_row.global_key``, and for every project
``projects.<id>.labels[]`` with ``id`` (the annotation id: a label edited later replaces its
earlier version), ``label_details.created_by`` (the annotator), ``performance_details.skipped``
(a skip) and ``annotations.classifications[]`` whose ``name`` is ``vendor.label_field`` and whose
``radio_answer.name`` is the class. Checklists (multi-label) are refused.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.vendors.base import Annotation, ExportReceipt
from alflow.vendors.exporting import rendering, rows, write_export
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    Collector,
    get,
    jsonl_bytes,
    read_jsonl_annotations,
)

ROUND_FIELD = "alflow_round"


class LabelboxVendor:
    """Labelbox data rows and Export v2 radio classifications."""

    pulls_labels = False  # labels come back as a file to import

    name = "labelbox"

    def __init__(self, label_field: str = "label", max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self.classification = label_field
        self.max_file_bytes = max_file_bytes

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        data_rows = [
            {
                "row_data": rendering(row),
                "global_key": str(row["item_id"]),
                "media_type": "TEXT",
                "metadata_fields": [{"name": ROUND_FIELD, "value": str(round_id)}],
            }
            for row in rows(batch)
        ]
        path = dest / f"round-{round_id:04d}.labelbox.ndjson"
        return write_export(
            self.name,
            path,
            jsonl_bytes(data_rows),
            len(data_rows),
            round_id,
            labels,
            classification=self.classification,
        )

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        return read_jsonl_annotations(path, labels, self.max_file_bytes, self._data_row)

    def _data_row(self, c: Collector, line: int, rec: dict) -> None:
        item_id = c.item_id(line, get(rec, "data_row", "global_key"), "data_row.global_key")
        if item_id is None:
            return
        round_id = _round(c, line, item_id, rec.get("metadata_fields"))
        projects = rec.get("projects", {})
        if not isinstance(projects, dict):
            c.problem(line, "projects", "must be an object", item_id)
            return
        for pid, project in projects.items():
            labels = get(project, "labels")
            if labels is None:
                continue
            if not isinstance(labels, list):
                c.problem(line, f"projects.{pid}.labels", "must be a list", item_id)
                continue
            for i, label in enumerate(labels):
                self._label(c, line, item_id, round_id, f"projects.{pid}.labels[{i}]", label)

    def _label(self, c: Collector, line: int, item_id: str, round_id, where: str, label) -> None:
        label_id = get(label, "id")
        if not isinstance(label_id, str) or not label_id:
            c.problem(line, f"{where}.id", "missing", item_id)
            return
        details = get(label, "label_details")
        common = {
            "annotator": get(details, "created_by"),
            "annotation_id": label_id,
            "round_id": round_id,
            "at": c.time(
                line,
                get(label, "label_details", "updated_at")
                or get(label, "label_details", "created_at"),
                f"{where}.label_details.updated_at",
                item_id,
            ),
        }
        skipped = get(label, "performance_details", "skipped")
        if c.flag(line, skipped, f"{where}.performance_details.skipped", item_id):
            c.add(line, item_id, "skip", **common)
            return
        classes = get(label, "annotations", "classifications")
        if not isinstance(classes, list):
            c.problem(line, f"{where}.annotations.classifications", "missing", item_id)
            return
        ours = [k for k in classes if get(k, "name") == self.classification]
        field = f"{where}.annotations.classifications"
        if len(ours) != 1:
            c.problem(
                line, field, f"{len(ours)} answers to {self.classification!r} (need one)", item_id
            )
            return
        if "checklist_answers" in ours[0]:
            c.problem(line, field, "checklist (multi-label) answers are not supported", item_id)
            return
        value = c.label(line, item_id, get(ours[0], "radio_answer", "name"), f"{field}.radio")
        if value is not None:
            c.add(line, item_id, "label", value, **common)


def _round(c: Collector, line: int, item_id: str, fields: object) -> int | None:
    if not isinstance(fields, list):
        return None
    for f in fields:
        if isinstance(f, dict) and ROUND_FIELD in (f.get("schema_name"), f.get("name")):
            return c.round(line, f.get("value"), f"metadata_fields.{ROUND_FIELD}", item_id)
    return None


def build(config: AlflowConfig, exports_dir: Path | None = None) -> LabelboxVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    return LabelboxVendor(config.vendor.label_field, config.vendor.max_file_bytes)
