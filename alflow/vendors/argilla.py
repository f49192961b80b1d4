"""Argilla 2.x: records out (``id`` = item id, a ``text`` field, model suggestions with scores),
responses back. Files always; the REST API too when ``vendor.url`` is set (see argilla_api.py).

Records file (JSONL, one record per line, the SDK's ``rg.Record`` shape)::

    {"id": "d0042", "fields": {"text": "..."}, "metadata": {"item_id": "d0042", "round": 2},
     "suggestions": [{"question_name": "label", "value": "cat", "score": 0.83, "agent": "alflow"}]}

Responses file (JSONL) in any of three shapes, one record per line:

* ``dataset.records.to_list(flatten=True)``: ``id``, ``<q>.responses``, ``<q>.responses.users``,
  ``<q>.responses.status`` (metadata keys such as ``round`` at the top level);
* the SDK's nested dict with ``responses: {<q>: [{"value", "user_id", "status"}]}``;
* the server's record JSON (what ``alflow import`` with no file pulls): ``external_id``,
  ``metadata`` and ``responses: [{"user_id", "status", "values": {<q>: {"value": …}}}]``.

Only ``submitted`` responses are labels; ``discarded`` is a skip; ``draft`` is ignored. A response
without a status is refused: the SDK's nested ``to_json``/``to_list`` drop it, and a discarded
answer would then look submitted. One response per user and record: a user's changed answer
supersedes the earlier one (annotation id ``<item id>/<user id>``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.errors import ConfigError
from alflow.vendors.argilla_api import ArgillaClient
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

STATUSES = {"submitted": "label", "discarded": "skip", "draft": None}


class ArgillaVendor:
    """Argilla records as JSONL files, optionally pushed and pulled over the REST API."""

    name = "argilla"

    def __init__(
        self,
        question: str = "label",
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        client=None,
    ) -> None:
        self.question = question
        self.max_file_bytes = max_file_bytes
        self.client = client  # an ArgillaClient when a server URL is configured

    @property
    def pulls_labels(self) -> bool:
        """With a server URL, ``pull`` downloads every record with its responses."""
        return self.client is not None

    def records(self, batch: pd.DataFrame, round_id: int, labels: list[str]) -> list[dict]:
        out = []
        for row in rows(batch):
            record = {
                "id": str(row["item_id"]),
                "fields": {"text": rendering(row)},
                "metadata": {"item_id": str(row["item_id"]), "round": round_id},
                "suggestions": [],
            }
            hint = suggestion(row, labels)
            if hint is not None:
                record["suggestions"].append(
                    {
                        "question_name": self.question,
                        "value": hint[0],
                        "score": hint[1],
                        "agent": "alflow",
                        "type": "model",
                    }
                )
            out.append(record)
        return out

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        """Write the records file; with a server configured, also upsert them (by item id)."""
        records = self.records(batch, round_id, labels)
        path = dest / f"round-{round_id:04d}.argilla.jsonl"
        receipt = write_export(
            self.name,
            path,
            jsonl_bytes(records),
            len(records),
            round_id,
            labels,
            question=self.question,
            pushed_to=self.client.describe() if self.client else None,
        )
        if self.client is not None:
            self.client.push(records, self.question, labels)
        return receipt

    def pull(self, dest: Path, labels: list[str]) -> Path:
        """Download every record with its responses to a JSONL file in ``dest`` (API mode; the
        responses are checked against ``labels`` when the file is imported)."""
        if self.client is None:
            raise ConfigError("vendor.url is not set: export responses to a file and import it")
        return self.client.pull(dest)

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        return read_jsonl_annotations(path, labels, self.max_file_bytes, self._record)

    def _record(self, c: Collector, line: int, rec: dict) -> None:
        # the server's JSON keeps our id in external_id (its own id is a UUID); the SDK's in id
        field = "external_id" if "external_id" in rec else "id"
        item_id = c.item_id(line, rec.get(field), field)
        if item_id is None:
            return
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else rec
        declared = text(get(meta, "item_id"))
        if declared is not None and declared != item_id:
            c.problem(line, "metadata.item_id", f"{declared!r} differs from the record id", item_id)
            return
        round_id = c.round(line, get(meta, "round"), "metadata.round", item_id)
        if get(meta, "round") is not None and round_id is None:
            return
        record_at = rec.get("updated_at") or rec.get("inserted_at")
        for field, user, status, value, at in self._responses(c, line, item_id, rec):
            if not isinstance(status, str) or status not in STATUSES:
                c.problem(line, field, f"unknown response status {status!r}"[:200], item_id)
                continue
            kind = STATUSES[status]
            if kind is None:  # a draft is not an answer yet
                continue
            label = c.label(line, item_id, value, field) if kind == "label" else None
            if kind == "label" and label is None:
                continue
            user = text(user)
            c.add(
                line,
                item_id,
                kind,
                label,
                annotator=user,
                annotation_id=f"{item_id}/{user or 'anonymous'}",
                round_id=round_id,
                at=c.time(line, at or record_at, f"{field[: -len('.status')]}.updated_at", item_id),
            )

    def _responses(self, c: Collector, line: int, item_id: str, rec: dict):
        """``(field, user, status, value, time)`` for each response to our question, in any
        shape (the time when the shape has one)."""
        q = self.question
        flat = f"{q}.responses"
        if flat in rec:
            values, users = rec.get(flat), rec.get(f"{flat}.users")
            statuses = rec.get(f"{flat}.status")
            if values is None:
                return
            if not all(isinstance(v, list) for v in (values, users, statuses)) or not (
                len(values) == len(users) == len(statuses)
            ):
                c.problem(
                    line,
                    flat,
                    f"{flat}, {flat}.users and {flat}.status must be lists of one length",
                    item_id,
                )
                return
            for v, u, s in zip(values, users, statuses, strict=True):
                yield f"{flat}.status", u, s, v, None
            return
        responses = rec.get("responses")
        if responses is None:
            return
        if isinstance(responses, dict):  # the SDK's nested dict
            answers = responses.get(q)
            if answers is None:
                return
            if not isinstance(answers, list):
                c.problem(line, f"responses.{q}", "must be a list", item_id)
                return
            for i, r in enumerate(answers):
                field = f"responses.{q}[{i}]"
                if not isinstance(r, dict) or "status" not in r:
                    c.problem(
                        line,
                        field,
                        "a response needs a status (export with to_list(flatten=True))",
                        item_id,
                    )
                    continue
                at = r.get("updated_at") or r.get("inserted_at")
                yield f"{field}.status", r.get("user_id"), r["status"], r.get("value"), at
            return
        if not isinstance(responses, list):
            c.problem(line, "responses", "must be a list or a mapping", item_id)
            return
        for i, r in enumerate(responses):  # the server's record JSON
            field = f"responses[{i}]"
            if not isinstance(r, dict) or not isinstance(r.get("status"), str):
                c.problem(line, field, "a response needs a status", item_id)
                continue
            values = r.get("values")
            if r["status"] != "discarded" and get(values, q) is None:
                continue  # an answer to other questions only
            at = r.get("updated_at") or r.get("inserted_at")
            yield f"{field}.status", r.get("user_id"), r["status"], get(values, q, "value"), at


def build(config: AlflowConfig, exports_dir: Path | None = None) -> ArgillaVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    cfg = config.vendor
    client = ArgillaClient(cfg.url, cfg.token_variable, cfg.dataset or "") if cfg.url else None
    return ArgillaVendor(cfg.label_field, cfg.max_file_bytes, client)
