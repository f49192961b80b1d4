"""The pool's vector column layout: one fixed-size binary value of float32s per row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def vectors_array(x: np.ndarray) -> pa.Array:
    """A 2-D array as a column of float32 vectors (one fixed-size binary value per row)."""
    x = np.ascontiguousarray(x, dtype="<f4")
    n, d = x.shape
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 * d), n, [None, pa.py_buffer(x)])
