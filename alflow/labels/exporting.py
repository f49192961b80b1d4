"""The resolved labels with their features, for a model trained outside alflow.

With ``model.scoring_uri`` retraining is the user's: ``alflow labels export FILE`` writes every
resolved human label (``item_id``, ``label``) next to the item's features under the config's
column names, so the file trains the same model the pool is scored with. CSV, JSONL or Parquet
(by the file's suffix); an embedding is a list (in CSV, JSON text).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from alflow.csvsafe import write_csv
from alflow.data.pool import feature_columns, features_of, fetch_items
from alflow.errors import InputError
from alflow.handles import Stores

FORMATS = (".csv", ".jsonl", ".parquet")


def retrain_refusal(uri: str) -> str:
    """What a retrain says when ``model.scoring_uri`` is set."""
    return (
        f"model.scoring_uri is set ({uri} scores the pool), so alflow does not retrain: "
        "export the labels with 'alflow labels export labels.csv', train and register your "
        "model; the next round scores with the version the URI names then"
    )


def labeled_frame(stores: Stores) -> pd.DataFrame:
    """``item_id``, ``label`` and the feature columns of every resolved label."""
    labels = stores.ledger.resolved_labels()
    f = stores.config.data.features
    names = {
        "text": [f.text_column],
        "embedding": [f.embedding_column],
        "tabular": [*f.numeric, *f.categorical],
    }.get(f.kind, f.columns)
    if not len(labels):
        return pd.DataFrame(columns=["item_id", "label", *names])
    table = fetch_items(
        stores.ws.pool_url, stores.ledger.locations(labels["item_id"]), feature_columns(f.kind)
    )
    x = features_of(table, f.kind)
    if f.kind == "embedding":
        x = _lists(x)
    features = pd.DataFrame(x, columns=names)
    if f.kind == "tabular" and f.numeric:
        features = features.astype(dict.fromkeys(f.numeric, np.float64))
    features.insert(0, "item_id", table.column("item_id").to_pylist())
    return labels.merge(features, on="item_id", how="left", validate="one_to_one")


def _lists(x: np.ndarray) -> np.ndarray:
    """Vectors as a one-column object array of lists."""
    out = np.empty((len(x), 1), dtype=object)
    out[:, 0] = [row.tolist() for row in x]
    return out


def export_labels(stores: Stores, path: Path) -> int:
    """Write ``labeled_frame`` to ``path`` (its suffix picks the format); the rows written."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"{path}: write labels as {', '.join(FORMATS)} (by the file's suffix)")
    frame = labeled_frame(stores)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        f = stores.config.data.features
        if f.kind == "embedding":
            frame[f.embedding_column] = [json.dumps(v) for v in frame[f.embedding_column]]
        write_csv(frame, path)
    return len(frame)
