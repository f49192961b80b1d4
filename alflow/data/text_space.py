"""A text pool's representation, fitted once on a bounded sample of the pool and kept in the
workspace (``Workspace.text_space``): the TF-IDF vectoriser the classifier reads, and the LSA
embedding distances are measured in (Deerwester et al. 1990: the same sublinear TF-IDF, a
truncated SVD to ``data.features.text_embedding_dim`` dimensions, L2-normalised).

Both are fitted at the first pool ingest on a uniform sample of at most
``data.features.text_sample_rows`` texts (bottom-k sampling over the file's chunks, so the file
never sits in memory whole), then applied chunk by chunk: every pool partition carries its rows'
embedding as its vector column ``x`` next to ``text``. Unsupervised: they see the unlabeled pool,
never a label.

With ``data.features.text_embedding: minilm`` the embedding is a pretrained sentence encoder's
(``alflow.data.sentence_encoder``, 384 dimensions) instead of the LSA projection; the classifier
still reads the TF-IDF vectoriser.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

MINILM_DIM = 384  # alflow.data.sentence_encoder.DIM (that module loads only with its extra)


@dataclass(frozen=True)
class TextSpace:
    """The fitted vectoriser (the classifier's input) and the embedding: the LSA projection,
    or the pretrained sentence encoder (``encoder: minilm``, nothing fitted)."""

    vectorizer: TfidfVectorizer
    svd: TruncatedSVD | None  # None: no LSA (``text_embedding_dim: 0``, or the encoder's)
    fitted_on: int  # texts in the sample
    encoder: str = "lsa"  # ``data.features.text_embedding`` at the fit

    @property
    def embedding_dim(self) -> int:
        """The embedding's dimension (0: this space has no embedding)."""
        if self.encoder == "minilm":
            return MINILM_DIM
        return 0 if self.svd is None else self.svd.n_components

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The rows' embedding, float32 with unit norm (LSA: zeros for a text with no term
        of the sample)."""
        if self.encoder == "minilm":
            from alflow.data import sentence_encoder  # the optional encoder extra: only when used

            return sentence_encoder.encode(texts)
        if self.svd is None:
            raise ValueError("this text space has no embedding (text_embedding_dim: 0)")
        x = self.svd.transform(self.vectorizer.transform(texts))
        return normalize(x).astype(np.float32)


SINGLETONS_DROPPED_FROM = 1_000  # texts in the sample


def fit_text_space(texts: Sequence[str], dim: int, seed: int, encoder: str = "lsa") -> TextSpace:
    """Fit the vectoriser on ``texts`` and, for the LSA embedding with ``dim`` > 0, the SVD
    (at most one dimension fewer than the vocabulary) on their TF-IDF vectors.

    From ``SINGLETONS_DROPPED_FROM`` texts on, a term found in one text only is left out: it
    cannot carry a label to another item, yet such terms are most of a large vocabulary and of
    every retrain's cost (20newsgroups: 130k terms -> 56k, a 300-label fit 2.8x faster, the
    same accuracy; docs/benchmarks.md)."""
    if not len(texts):
        raise ValueError("no texts to fit the text representation on")
    min_df = 2 if len(texts) >= SINGLETONS_DROPPED_FROM else 1
    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=min_df).fit(texts)
    if encoder != "lsa":
        return TextSpace(vectorizer, None, len(texts), encoder)
    svd = None
    if dim:
        tfidf = vectorizer.transform(texts)
        svd = TruncatedSVD(max(1, min(dim, tfidf.shape[1] - 1)), random_state=seed).fit(tfidf)
    return TextSpace(vectorizer, svd, len(texts))


def sample_texts(chunks: Iterable[Sequence[str]], k: int, seed: int) -> list[str]:
    """A uniform sample of at most ``k`` texts from a stream of chunks, in stream order: each
    text gets a seeded uniform key and the ``k`` smallest keys are kept (bottom-k sampling), so
    memory holds ``k`` texts plus one chunk."""
    rng = np.random.default_rng(seed)
    keys = np.empty(0)
    kept: list[str] = []
    for chunk in chunks:
        keys = np.concatenate([keys, rng.random(len(chunk))])
        kept.extend(chunk)
        if len(kept) > k:
            keep = np.sort(np.argpartition(keys, k - 1)[:k])
            keys, kept = keys[keep], [kept[i] for i in keep]
    return kept


def save_text_space(space: TextSpace, path: Path) -> None:
    """Write atomically (temp name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(pickle.dumps(space, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)


def load_text_space(path: Path) -> TextSpace | None:
    """The workspace's text space, or None when its pool has none (not text, or ingested
    before alflow fitted one)."""
    return pickle.loads(path.read_bytes()) if path.exists() else None
