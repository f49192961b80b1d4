"""The random control slice: how many labels the campaign saves against uniform sampling.

Each round a fixed share of the batch is drawn uniformly at random from the unlabeled pool and
flagged ``control`` in the ledger. Retraining fits a second model on the control labels alone:
that is what random sampling reaches with ``n_c`` labels, on the user's own data and eval set.
The campaign's own learning curve (its model after every round, all labels) is interpolated to
find ``n*``, the labels it needed to reach that metric; the saving is ``1 - n* / n_c``
(0.5: the campaign needed half the labels random sampling needed; negative: it needed more).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def labels_needed(labels: Sequence[float], metric: Sequence[float], target: float) -> float | None:
    """Labels at which the learning curve ``(labels, metric)`` first reaches ``target``, linearly
    interpolated between rounds; the first point when it already reaches it (an upper bound);
    None when the curve never does."""
    order = np.argsort(np.asarray(labels, dtype=float), kind="stable")
    n = np.asarray(labels, dtype=float)[order]
    m = np.asarray(metric, dtype=float)[order]
    hits = np.flatnonzero(m >= target)
    if not len(hits):
        return None
    i = hits[0]
    if i == 0:
        return float(n[0])
    gain = m[i] - m[i - 1]
    return float(n[i - 1] + (target - m[i - 1]) / gain * (n[i] - n[i - 1]))


def label_saving(
    labels: Sequence[float], metric: Sequence[float], control_labels: int, control_metric: float
) -> tuple[float, float] | None:
    """``(saving, n*)``: the share of labels the campaign saved against random sampling, or None
    when its curve has not reached the control model's metric yet."""
    needed = labels_needed(labels, metric, control_metric)
    if needed is None or control_labels == 0:
        return None
    return 1.0 - needed / control_labels, needed
