"""Vendor return files written as each vendor documents them, from an alflow export.

An answer is ``(item_id, kind, label, annotator)``; kind is ``label`` or ``skip``. The same
``(item_id, annotator)`` always gets the same vendor annotation id, so a later file with a
changed answer is a correction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from xml.sax.saxutils import quoteattr

Answer = tuple[str, str, str | None, str]


def _export_lines(export: Path) -> list[dict]:
    return [json.loads(line) for line in export.read_text().splitlines()]


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def argilla(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """``dataset.records.to_list(flatten=True)``, one record a line."""
    by_item: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_item[a[0]].append(a)
    records = []
    for rec in _export_lines(export):
        mine = by_item.get(rec["id"], [])
        flat = {
            "id": rec["id"],
            "status": "completed" if mine else "pending",
            "_server_id": f"uuid-{rec['id']}",
            "text": rec["fields"]["text"],
            **rec["metadata"],
            "label.responses": [a[2] for a in mine] + ([labels[0]] if mine else []),
            "label.responses.users": [a[3] for a in mine] + (["drafter"] if mine else []),
            "label.responses.status": [
                "submitted" if a[1] == "label" else "discarded" for a in mine
            ]
            + (["draft"] if mine else []),
        }
        if rec["suggestions"]:
            flat["label.suggestion"] = rec["suggestions"][0]["value"]
            flat["label.suggestion.score"] = rec["suggestions"][0]["score"]
        records.append(flat)
    return _write_jsonl(out, records)


def sagemaker(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """An output manifest: one line per job and item (each annotator is its own job)."""
    lines = {rec["alflow-item-id"]: rec for rec in _export_lines(export)}
    records = []
    for item_id, kind, label, who in answers:
        meta = {
            "job-name": f"labeling-job/{who}",
            "type": "groundtruth/text-classification",
            "human-annotated": "yes",
            "creation-date": "2026-11-22T01:00:00.000000",
        }
        line = dict(lines[item_id])
        if kind == "skip":
            meta["failure-reason"] = "ClientError: worker declined the task"
        else:
            line["label"] = labels.index(label)
            meta |= {"class-name": label, "confidence": 0.93}
        records.append({**line, "label-metadata": meta})
    return _write_jsonl(out, records)


def labelbox(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """Export v2: one data row a line, its labels under the project."""
    by_item: dict[str, list[Answer]] = defaultdict(list)
    for a in answers:
        by_item[a[0]].append(a)
    records = []
    for row in _export_lines(export):
        key = row["global_key"]
        project_labels = []
        for _, kind, label, who in by_item.get(key, []):
            project_labels.append(
                {
                    "id": f"lbl-{key}-{who}",
                    "label_kind": "Default",
                    "label_details": {"created_by": f"{who}@example.com", "reviews": []},
                    "performance_details": {"seconds_to_create": 3.2, "skipped": kind == "skip"},
                    "annotations": {
                        "objects": [],
                        "classifications": []
                        if kind == "skip"
                        else [{"name": "label", "radio_answer": {"name": label}}],
                        "relationships": [],
                    },
                }
            )
        records.append(
            {
                "data_row": {"id": f"cl-{key}", "global_key": key, "row_data": row["row_data"]},
                "metadata_fields": [
                    {"schema_name": "alflow_round", "value": row["metadata_fields"][0]["value"]}
                ],
                "projects": {"proj1": {"name": "alflow", "labels": project_labels}},
            }
        )
    return _write_jsonl(out, records)


def scale(
    export: Path, answers: list[Answer], out: Path, labels: list[str], secret: str = "s3cret"
) -> Path:
    """Saved callbacks (headers and body), one a line; each annotator answers its own task."""
    tasks = {t["metadata"]["item_id"]: t for t in _export_lines(export)}
    records = []
    for item_id, kind, label, who in answers:
        task = tasks[item_id]
        body_task = {
            "task_id": f"task-{item_id}-{who}",
            "type": "categorization",
            "status": "completed" if kind == "label" else "canceled",
            "unique_id": task["unique_id"],
            "metadata": task["metadata"],
            "params": {"attachment_type": "text", "categories": labels},
        }
        body = {"task": body_task, "task_id": body_task["task_id"]}
        if kind == "label":
            body["response"] = body_task["response"] = {"category": label}
        records.append({"headers": {"Scale-Callback-Auth": secret}, "body": body})
    return _write_jsonl(out, records)


def prodigy(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """``prodigy db-out``: the task plus answer, accept and the annotator's ids."""
    tasks = {t["meta"]["item_id"]: t for t in _export_lines(export)}
    records = []
    for item_id, kind, label, who in answers:
        rec = dict(tasks[item_id])
        rec |= {
            "answer": "accept" if kind == "label" else "ignore",
            "accept": [label] if kind == "label" else [],
            "_session_id": f"alflow-{who}",
            "_annotator_id": f"alflow-{who}",
            "_timestamp": 1795000000,
        }
        records.append(rec)
    return _write_jsonl(out, records)


def ls_annotation(
    id_, label=None, *, user=2, cancelled=False, gt=False, uid=None, updated="2026-01-01"
) -> dict:
    """One Label Studio annotation as its JSON export writes it (no result: a skip)."""
    result = (
        []
        if label is None
        else [
            {
                "from_name": "label",
                "to_name": "item",
                "type": "choices",
                "value": {"choices": [label]},
            }
        ]
    )
    return {
        "id": id_,
        "completed_by": user,
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": gt,
        "unique_id": uid or f"uuid-{id_}",
        "updated_at": updated,
    }


def label_studio(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """Label Studio's JSON export of the tasks file, a task a line (as ``alflow import`` pulls)."""
    tasks = json.loads(export.read_text())
    by_item = {t["data"]["item_id"]: t for t in tasks}
    for n, (item, kind, label, who) in enumerate(answers, start=1):
        task = by_item[item]
        task.setdefault("id", n)
        task.setdefault("annotations", []).append(
            ls_annotation(
                n,
                label,
                user=who,
                cancelled=kind == "skip",
                uid=f"uuid-{n}",
                updated="2026-11-22T00:00:00Z",
            )
        )
    out.write_text("[\n" + ",\n".join(json.dumps(t) for t in tasks) + "\n]\n")
    return out


def cvat(export: Path, answers: list[Answer], out: Path, labels: list[str]) -> Path:
    """CVAT for images 1.1 XML tagging the exported images, one element a line (skips: no tag)."""
    mapping = json.loads(
        export.with_name(export.name.replace(".cvat.zip", ".cvat-mapping.json")).read_text()
    )
    name_of = {item: name for name, item in mapping["images"].items()}
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "<version>1.1</version>"]
    for n, (item, kind, label, _who) in enumerate(answers):
        tag = "" if kind == "skip" else f'<tag label={quoteattr(label)} source="manual"></tag>'
        name = quoteattr(name_of[item])
        lines.append(f'<image id="{n}" name={name} width="8" height="8">{tag}</image>')
    out.write_text("\n".join([*lines, "</annotations>"]) + "\n")
    return out


WRITERS = {
    "argilla": argilla,
    "sagemaker": sagemaker,
    "labelbox": labelbox,
    "scale": scale,
    "prodigy": prodigy,
}
# vendors whose round trips have their own tests (a real Label Studio server, CVAT's archives)
FUZZ_WRITERS = {**WRITERS, "label-studio": label_studio, "cvat": cvat}
