"""The tasks Label Studio imports: one per item, with the columns annotators see and the model's
suggestion as a prediction."""

from __future__ import annotations

import json

import pandas as pd

from alflow.config import AlflowConfig
from alflow.vendors.label_studio_config import CONTROL, OBJECT, display_key
from alflow.vendors.reading import plain


def build_tasks(
    batch: pd.DataFrame,
    round_id: int,
    labels: list[str],
    display_columns: list[str],
    control: str = CONTROL,
) -> list[dict]:
    """One task per batch row: ``data`` (id, round, rank, what to show) and the prediction."""
    key = display_key(display_columns)
    tasks = []
    for row in batch.to_dict("records"):
        row = plain(row)
        if key == "text":
            shown = row.get("text") or ""
        else:
            lines = [f"{c}: {row.get(c)}" for c in display_columns]
            shown = "\n".join(lines) or f"item {row['item_id']}"
        task: dict = {
            "data": {
                "item_id": str(row["item_id"]),
                "round": round_id,
                "rank": row.get("rank"),
                key: shown,
            }
        }
        predicted = row.get("predicted_label")
        if predicted is not None and str(predicted) in labels:
            prediction: dict = {
                "model_version": f"alflow-round-{round_id:04d}",
                "result": [
                    {
                        "from_name": control,
                        "to_name": OBJECT,
                        "type": "choices",
                        "value": {"choices": [str(predicted)]},
                    }
                ],
            }
            if row.get("predicted_score") is not None:
                prediction["score"] = float(row["predicted_score"])
            task["predictions"] = [prediction]
        tasks.append(task)
    return tasks


def tasks_bytes(tasks: list[dict]) -> bytes:
    """A JSON array with one task a line (Label Studio imports it; diffs stay readable)."""
    body = ",\n".join(json.dumps(t, ensure_ascii=False, allow_nan=False) for t in tasks)
    return f"[\n{body}\n]\n".encode()


def display_columns(config: AlflowConfig) -> list[str]:
    """The columns an annotator is shown (the text, or the numeric features; embeddings: none)."""
    f = config.data.features
    return {"text": ["text"], "numeric": f.model_columns, "tabular": f.model_columns}.get(
        f.kind, []
    )
