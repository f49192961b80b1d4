"""PNG figures people would rather look at than read (matplotlib, no display needed)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

# "findfont: Font family ... not found" for each mathtext font when matplotlib's shared font
# cache names another environment's files: 22 lines of noise on ``alflow serve``'s output
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def score_distribution(
    histograms: dict[str, np.ndarray],
    bins: np.ndarray,
    selected: pd.DataFrame,
    path: Path,
    title: str,
) -> Path:
    """One panel per utility: the whole pool's histogram, and where the batch's items fall."""
    names = list(histograms)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):  # one artist each: drawn in a third less
        ax.stairs(histograms[name], bins, fill=True, color="#9ab", label="pool")
        if name in selected:
            top = ax.get_xaxis_transform()  # x in data, y from the axis' bottom (0) to top (1)
            ax.vlines(selected[name], 0, 1, transform=top, color="#c33", alpha=0.25, lw=1)
        ax.set_title(name)
        ax.set_xlabel("utility (0 = sure, 1 = unsure)")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("unlabeled items (red: selected)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def learning_curves(curves: pd.DataFrame, metric: str, path: Path, title: str) -> Path:
    """``curves`` has columns ``strategy``, ``labels`` and ``metric``: one line per strategy."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, group in curves.groupby("strategy", sort=True):
        ax.plot(group["labels"], group[metric], marker="o", label=strategy)
    ax.set_xlabel("human labels")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def class_balance(balance: pd.DataFrame, path: Path, title: str) -> Path:
    """``balance`` has ``label`` and one count column per series (e.g. all labels, this round)."""
    series = [c for c in balance.columns if c != "label"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(balance))
    for i, col in enumerate(series):
        ax.bar(x + i * width, balance[col], width=width, label=col)
    ax.set_xticks(x + width * (len(series) - 1) / 2, balance["label"].astype(str))
    ax.set_ylabel("labels")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
