"""A simulated annotator: labels from a ground-truth column, with optional noise.

It writes an ordinary labels file, so demos and benchmarks go through the same import path as
people do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alflow.config import AlflowConfig
from alflow.vendors.base import atomic_write
from alflow.vendors.files import FileVendor, labels_file_bytes


def simulate_labels(
    truth: pd.DataFrame, labels: list[str], noise_rate: float, rng: np.random.Generator
) -> pd.DataFrame:
    """``truth`` has ``item_id`` and ``truth``; a ``noise_rate`` share get a wrong label."""
    out = truth[["item_id"]].copy()
    answer = truth["truth"].to_numpy(dtype=object).copy()
    flip = rng.random(len(out)) < noise_rate
    for i in np.flatnonzero(flip):
        others = [lab for lab in labels if lab != answer[i]]
        answer[i] = others[rng.integers(len(others))]
    out["label"] = answer
    out["annotator"] = "simulated"
    return out


class SimulatedVendor(FileVendor):
    """Exports like the file vendor; ``annotate`` answers from the ground truth."""

    def __init__(
        self, fmt: str = "jsonl", noise_rate: float = 0.0, max_file_bytes: int = 1 << 30
    ) -> None:
        super().__init__(fmt, name="simulated", max_file_bytes=max_file_bytes)
        self.noise_rate = noise_rate

    def annotate(
        self, truth: pd.DataFrame, labels: list[str], dest: Path, round_id: int, seed: int
    ) -> Path:
        """Write the labels file for one round's batch and return its path."""
        rng = np.random.default_rng([seed, round_id])
        answers = simulate_labels(truth, labels, self.noise_rate, rng)
        path = dest / f"round-{round_id:04d}.labels.jsonl"
        atomic_write(path, labels_file_bytes(answers))
        return path


def build(config: AlflowConfig, exports_dir: Path | None = None) -> SimulatedVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    cfg = config.vendor
    return SimulatedVendor(cfg.format, cfg.noise_rate, max_file_bytes=cfg.max_file_bytes)
