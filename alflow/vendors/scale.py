"""Scale AI categorization: task payloads out, saved callbacks in.

Payloads (JSONL, one ``POST /v1/task/categorization`` body a line)::

    {"attachment_type": "text", "attachment": "...", "categories": ["cat", "dog"],
     "instruction": "...", "unique_id": "alflow/round-2/d0042",
     "metadata": {"item_id": "d0042", "round": 2}}

``unique_id`` is global at Scale (a reused one answers 409), so it names the project
(``vendor.dataset``), the round and the item. Scale returns ``metadata`` unchanged.

Callbacks come back as the receiver saved them, each with its headers: a JSONL file with one
``{"headers": {...}, "body": {...}}`` a line, or a folder of ``*.json`` files holding one such
object each. Every callback's ``scale-callback-auth`` header must equal the secret in the
environment variable ``vendor.callback_secret_env``; one wrong or missing header refuses the
whole file. ``task.status`` ``completed`` gives ``response.category`` as a label, ``canceled`` or
``error`` a skip; other statuses are ignored. Scale retries callbacks for 24 hours: the
annotation id is the ``task_id``, so a retried callback adds nothing.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.errors import ConfigError
from alflow.vendors.base import Annotation, ExportReceipt
from alflow.vendors.exporting import rendering, rows, write_export
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    Collector,
    Record,
    check_size,
    get,
    json_document,
    jsonl_bytes,
    jsonl_records,
    text,
)

AUTH_HEADER = "scale-callback-auth"
STATUSES = {"completed": "label", "canceled": "skip", "error": "skip"}


class ScaleVendor:
    """Scale categorization tasks and their callbacks."""

    pulls_labels = False  # labels come back as a file to import

    name = "scale"

    def __init__(
        self,
        project: str | None = None,
        callback_secret_env: str = "SCALE_CALLBACK_AUTH",
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.project = project or "alflow"
        self.secret_env = callback_secret_env
        self.max_file_bytes = max_file_bytes

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        tasks = [
            {
                "attachment_type": "text",
                "attachment": rendering(row),
                "categories": labels,
                "instruction": "Choose the one category that fits the item.",
                "unique_id": f"{self.project}/round-{round_id}/{row['item_id']}",
                "metadata": {"item_id": str(row["item_id"]), "round": round_id},
            }
            for row in rows(batch)
        ]
        path = dest / f"round-{round_id:04d}.scale.jsonl"
        return write_export(self.name, path, jsonl_bytes(tasks), len(tasks), round_id, labels)

    def _secret(self) -> str:
        secret = os.environ.get(self.secret_env)
        if not secret:
            raise ConfigError(
                f"vendor.callback_secret_env: environment variable {self.secret_env} (the Scale "
                "callback auth key) is not set"
            )
        return secret

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        secret = self._secret()
        check_size(path, self.max_file_bytes)
        c = Collector(path, labels)
        for source, line, rec, err in _callbacks(path, self.max_file_bytes):
            c.source = source
            if err:
                c.problem(line, None, err)
            else:
                self._callback(c, line, rec, secret)
        c.source = str(path)
        return c.result()

    def _callback(self, c: Collector, line: int, rec: dict, secret: str) -> None:
        headers = rec.get("headers")
        body = rec.get("body")
        if not isinstance(headers, dict) or not isinstance(body, dict):
            c.problem(line, None, 'a saved callback is {"headers": {...}, "body": {...}}')
            return
        sent = {str(k).lower(): v for k, v in headers.items()}.get(AUTH_HEADER)
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), secret.encode()):
            c.problem(
                line,
                f"headers.{AUTH_HEADER}",
                "missing or wrong: this callback is not from Scale (refused)",
            )
            return
        task = body.get("task") if isinstance(body.get("task"), dict) else body
        item_id = c.item_id(line, get(task, "metadata", "item_id"), "task.metadata.item_id")
        if item_id is None:
            return
        task_id = text(task.get("task_id", body.get("task_id")))
        if task_id is None:
            c.problem(line, "task.task_id", "missing", item_id)
            return
        status = task.get("status")
        if not isinstance(status, str):
            c.problem(line, "task.status", "missing or not a string", item_id)
            return
        kind = STATUSES.get(status)
        if kind is None:
            return  # pending or in progress: not an answer yet
        common = {
            "annotator": None,  # Scale names no worker: each task is its own vote (its id)
            "annotation_id": task_id,
            "round_id": c.round(line, get(task, "metadata", "round"), "metadata.round", item_id),
            "at": c.time(line, task.get("completed_at"), "task.completed_at", item_id),
        }
        if kind == "skip":
            c.add(line, item_id, "skip", **common)
            return
        response = body.get("response") if "response" in body else task.get("response")
        category = get(response, "category")
        if isinstance(category, list) and len(category) == 1:
            category = category[0]
        label = c.label(line, item_id, category, "response.category")
        if label is not None:
            c.add(line, item_id, "label", label, **common)


def _callbacks(path: Path, max_bytes: int) -> Iterator[tuple[str, int, dict | None, str | None]]:
    """``(source, line, saved callback, problem)`` from a JSONL file or a folder of JSON files."""
    if not path.is_dir():
        for record in jsonl_records(path):
            yield (str(path), *record)
        return
    for member in sorted(path.iterdir()):
        if member.is_symlink() or not member.is_file() or member.suffix != ".json":
            yield str(member), 1, None, "not a saved callback (.json file)"
            continue
        yield (str(member), *_document(member, max_bytes))


def _document(member: Path, max_bytes: int) -> Record:
    value, err = json_document(member, max_bytes)
    if err is None and not isinstance(value, dict):
        err = "a saved callback must be a JSON object"
    return 1, value if err is None else None, err


def build(config: AlflowConfig, exports_dir: Path | None = None) -> ScaleVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    cfg = config.vendor
    return ScaleVendor(cfg.dataset, cfg.callback_secret_env, cfg.max_file_bytes)
