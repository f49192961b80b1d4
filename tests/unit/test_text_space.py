"""A text pool's representation: fitted on a bounded sample, applied chunk by chunk, frozen in
the model pipeline."""

import numpy as np
import pandas as pd
import pytest

from alflow.config import config_from_dict
from alflow.data.pool import features_of, read_partition
from alflow.data.text_space import (
    SINGLETONS_DROPPED_FROM,
    fit_text_space,
    load_text_space,
    sample_texts,
    save_text_space,
)
from alflow.errors import InputError
from alflow.handles import Stores
from alflow.training.model import build_model

WORDS = [
    "apple",
    "banana",
    "cherry",
    "delta",
    "echo",
    "fox",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mango",
]


def pool(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n)]


def chunks(texts: list[str], rows: int):
    for i in range(0, len(texts), rows):
        yield texts[i : i + rows]


def test_sample_is_bounded_uniform_seeded_and_in_stream_order():
    texts = [f"doc {i}" for i in range(5_000)]
    a = sample_texts(chunks(texts, 700), 300, seed=1)
    assert len(a) == 300 and len(set(a)) == 300
    assert a == sample_texts(chunks(texts, 300), 300, seed=1)  # chunking does not matter
    assert a != sample_texts(chunks(texts, 700), 300, seed=2)
    positions = [int(t.split()[1]) for t in a]
    assert positions == sorted(positions)
    assert 1_500 < np.mean(positions) < 3_500  # drawn across the stream, not its head
    assert sample_texts(chunks(texts[:50], 20), 300, seed=1) == texts[:50]


def test_fit_on_a_sample_and_embed_per_partition_equals_fitting_in_memory():
    texts = pool(600)
    streamed = fit_text_space(sample_texts(chunks(texts, 128), 10_000, seed=3), 8, seed=3)
    per_partition = np.vstack([streamed.embed(c) for c in chunks(texts, 128)])
    in_memory = fit_text_space(texts, 8, seed=3).embed(texts)
    assert per_partition.dtype == np.float32 and per_partition.shape == (600, 8)
    np.testing.assert_allclose(per_partition, in_memory, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(per_partition, axis=1), 1.0, atol=1e-5)


def test_a_sample_bounds_what_is_fitted():
    texts = pool(2_000)
    space = fit_text_space(sample_texts(chunks(texts, 500), 200, seed=0), 4, seed=0)
    assert space.fitted_on == 200 and space.embed(texts[:5]).shape == (5, 4)
    with pytest.raises(ValueError, match="no embedding"):
        fit_text_space(texts[:10], 0, seed=0).embed(texts[:1])


def test_the_pipeline_reads_text_through_the_pool_vectoriser_unchanged(tmp_path):
    cfg = config_from_dict(
        {"data": {"features": {"kind": "text", "text_column": "t"}, "labels": ["a", "b"]}},
        environ={},
    )
    texts = [*pool(300), "zulu only in the pool"]
    save_text_space(fit_text_space(texts, 4, seed=0), tmp_path / "space.pkl")
    space = load_text_space(tmp_path / "space.pkl")
    labeled = [t for t in texts[:40] if "zulu" not in t]
    y = ["a" if "apple" in t else "b" for t in labeled]
    model = build_model(cfg, space).fit(labeled, y)
    vocab = model.named_steps["vectorize"].vocabulary_
    assert "zulu" in vocab and vocab == space.vectorizer.vocabulary_  # the pool's, not refit
    # the benchmark's shortcut: the same pipeline on texts vectorised once by the pool's space
    bare = build_model(cfg, space)[1:].fit(space.vectorizer.transform(labeled), y)
    np.testing.assert_allclose(
        model.predict_proba(texts), bare.predict_proba(space.vectorizer.transform(texts))
    )
    assert load_text_space(tmp_path / "missing.pkl") is None


def text_config(tmp_path):
    return config_from_dict(
        {
            "workspace": str(tmp_path / "ws"),
            "data": {
                "id_column": "id",
                "features": {"kind": "text", "text_column": "t", "text_embedding_dim": 4},
                "labels": ["a", "b"],
                "read_chunk_rows": 100,
            },
        },
        environ={},
    )


def test_the_first_pool_ingest_fits_the_space_once_and_a_refusal_keeps_none(tmp_path):
    stores = Stores(text_config(tmp_path))
    bad = tmp_path / "bad.csv"
    rows = [*pool(50, seed=1), ""]  # one empty text: the file is refused
    pd.DataFrame({"id": [f"x{i}" for i in range(51)], "t": rows}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="missing text"):
        stores.ingest(str(bad))
    assert not stores.ws.text_space.exists() and stores.ledger.partitions("pool") == []

    first, second = tmp_path / "one.csv", tmp_path / "two.csv"
    texts = pool(400)
    pd.DataFrame({"id": [f"a{i}" for i in range(300)], "t": texts[:300]}).to_csv(first)
    pd.DataFrame({"id": [f"b{i}" for i in range(100)], "t": texts[300:]}).to_csv(second)
    stores.ingest(str(first))
    fitted = stores.ws.text_space.read_bytes()
    assert load_text_space(stores.ws.text_space).fitted_on == 300
    stores.ingest(str(second))
    assert stores.ws.text_space.read_bytes() == fitted  # fitted once, on the first ingest
    (_, _), (name, _) = stores.ledger.partitions("pool")
    x = features_of(read_partition(f"{stores.ws.pool_url}/{name}"), "embedding")
    space = load_text_space(stores.ws.text_space)
    np.testing.assert_allclose(x, space.embed(texts[300:]), atol=1e-6)


def test_terms_of_one_text_only_are_dropped_from_large_samples():
    common = [f"alpha beta gamma word{i % 50}" for i in range(SINGLETONS_DROPPED_FROM - 1)]
    small = fit_text_space([*common[1:], "alpha onlyhere"], 0, seed=0)
    assert "onlyhere" in small.vectorizer.vocabulary_  # below the threshold: every term kept
    large = fit_text_space([*common, "alpha onlyhere", "beta"], 0, seed=0)
    assert "onlyhere" not in large.vectorizer.vocabulary_
    assert {"alpha", "beta", "word7"} <= set(large.vectorizer.vocabulary_)
