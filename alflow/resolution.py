"""Resolving annotation events into one training label per item.

Policy: a ground-truth annotation wins; otherwise the strict majority of label events; a tie is
``needs_relabel``; only skips is ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def resolve(events: Sequence[tuple[str, str | None]]) -> tuple[str, str | None, str]:
    """Map an item's ``(kind, label)`` events to ``(state, label or None, rule)``."""
    truth = [label for kind, label in events if kind == "ground_truth"]
    if truth:
        return "labeled", truth[-1], "ground_truth"
    labels = [label for kind, label in events if kind == "label" and label is not None]
    if not labels:
        return "skipped", None, "skipped"
    counts = Counter(labels).most_common()
    if len(counts) == 1:
        return "labeled", counts[0][0], "unanimous"
    if counts[0][1] > counts[1][1]:
        return "labeled", counts[0][0], "majority"
    return "needs_relabel", None, "tie"
