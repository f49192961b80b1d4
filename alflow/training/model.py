"""The scikit-learn pipeline built from the config, and its evaluation."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.random_projection import SparseRandomProjection

from alflow.config import AlflowConfig
from alflow.data.features import cold_tabular, tabular_encoder
from alflow.data.tabular import is_tabular
from alflow.data.text_space import TextSpace
from alflow.training.estimators import ESTIMATORS, make_estimator


def build_model(config: AlflowConfig, text_space: TextSpace | None = None) -> Pipeline:
    """A fresh, unfitted pipeline: features -> estimator, seeded by ``config.seed``.

    Text with ``model.text_vectorizer: tfidf`` is read by the pool's vectoriser (``text_space``,
    fitted on a pool sample at ingest, frozen: fitting the pipeline fits the estimator only);
    without one (a pool ingested before alflow fitted it), by a TF-IDF fitted on the labels."""
    estimator = make_estimator(config.model, config.seed)
    features = config.data.features
    if features.kind == "text":
        if config.model.text_vectorizer == "hashing":
            vectorizer = HashingVectorizer(n_features=2**18, alternate_sign=False)
        elif text_space is not None:
            vectorizer = FrozenEstimator(text_space.vectorizer)
        else:
            vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=1)
        return Pipeline([("vectorize", vectorizer), ("classify", estimator)])
    if features.kind == "tabular":
        return Pipeline([("encode", tabular_encoder(features)), ("classify", estimator)])
    return Pipeline([("scale", StandardScaler()), ("classify", estimator)])


def build_model_family(config: AlflowConfig, text_space: TextSpace | None = None) -> list:
    """One unfitted pipeline per estimator kind (a committee of different estimators)."""
    return [
        build_model(
            config.model_copy(
                update={"model": config.model.model_copy(update={"estimator": name, "params": {}})}
            ),
            text_space,
        )
        for name in ESTIMATORS
    ]


def evaluate(model: Pipeline, x_eval, y_eval: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the label schema, and a per-class report."""
    pred = model.predict(x_eval)
    return {
        "accuracy": float(accuracy_score(y_eval, pred)),
        "macro_f1": float(f1_score(y_eval, pred, labels=labels, average="macro", zero_division=0)),
        "report": classification_report(
            y_eval, pred, labels=labels, output_dict=True, zero_division=0
        ),
    }


def holdout_mask(item_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A stable split of labeled items: the same item is always on the same side."""
    if fraction <= 0:
        return np.zeros(len(item_ids), dtype=bool)
    cut = int(fraction * 2**32)
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=4).digest()) < cut
            for i in item_ids
        ],
        dtype=bool,
    )


PROJECTED_DIM = 128


def n_rows(x: Any) -> int:
    """Rows of an array, a sparse matrix or a list of texts (``len`` is ambiguous for sparse)."""
    return x.shape[0] if hasattr(x, "shape") else len(x)


def represent(model, raw, seed: int = 0) -> np.ndarray:
    """The space distances are measured in: what the classifier sees, as dense float32.

    With a fitted pipeline: its transform before the classifier (scaled numeric features, the
    encoded table, or the text vectorizer's output). Without one (cold start): raw numeric
    features, a table's numbers next to its hashed categories, or hashed text.
    Input that is already a sparse matrix (text vectorised once, upstream) is used as it is.
    Sparse vectors are projected to ``PROJECTED_DIM`` dimensions by a seeded sparse random
    projection (Johnson-Lindenstrauss), so FAISS works on them.
    """
    if model is not None and len(getattr(model, "steps", [])) > 1:
        x = model[:-1].transform(raw)
    elif is_tabular(raw):
        x = cold_tabular(raw)
    elif isinstance(raw, np.ndarray) or sparse.issparse(raw):
        x = raw
    else:
        x = HashingVectorizer(n_features=2**18, alternate_sign=False).transform(raw)
    if sparse.issparse(x) and x.shape[1] > PROJECTED_DIM:
        proj = SparseRandomProjection(n_components=PROJECTED_DIM, random_state=seed)
        x = proj.fit(x[:1]).transform(x)
    x = x.toarray() if sparse.issparse(x) else x
    return np.ascontiguousarray(x, dtype=np.float32)
