"""A text pool's embedding column as the space a round measures distances in.

The ``x`` column that ingest writes next to each text (``alflow.data.text_space``: the LSA embedding
fitted on a pool sample, or a pretrained sentence encoder's) is read for the candidates, the
labeled items and the pool sample, one partition at a time, and replaces the model's own
representation for features, density and diversity (``candidates.Embedded``), as a
simulation's ``embedding`` does."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from alflow.context import ProjectContext
from alflow.data.pool import features_of, join, read_partition
from alflow.scoring.score import PARTITION, ROW
from alflow.selection.candidates import Embedded


def has_pool_embedding(ctx: ProjectContext) -> bool:
    """Whether the pool is text with an embedding column (fitted at its first ingest)."""
    space = ctx.text_space
    return ctx.config.data.features.kind == "text" and space is not None and space.embedding_dim > 0


def embedded_rows(
    ctx: ProjectContext, labeled_ids: Sequence[str]
) -> Callable[[pd.DataFrame, pd.DataFrame | None], Embedded]:
    """For a candidates frame (with ``_part``/``_row``) and the pool sample (``item_id``):
    their embedding rows, and the labeled items'."""
    width = ctx.text_space.embedding_dim

    def rows(frame: pd.DataFrame, sample: pd.DataFrame | None) -> Embedded:
        return Embedded(
            _at(ctx.ws.pool_url, frame[PARTITION].to_numpy(), frame[ROW].to_numpy(), width),
            _of(ctx, list(labeled_ids), width),
            _of(ctx, [] if sample is None else sample["item_id"].tolist(), width),
        )

    return rows


def _at(base: str, partitions: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
    """The embedding of the rows at (partition, row), in their order."""
    out = np.empty((len(rows), width), dtype=np.float32)
    for name in pd.unique(partitions):
        here = np.flatnonzero(partitions == name)
        x = features_of(read_partition(join(base, str(name)), ["x"]), "embedding")
        out[here] = x[rows[here]]
    return out


def _of(ctx: ProjectContext, item_ids: list[str], width: int) -> np.ndarray:
    """The embedding of the given items, in their order."""
    if not item_ids:
        return np.empty((0, width), dtype=np.float32)
    table = ctx.pool_rows(item_ids, ["x"])
    order = pd.Series(range(table.num_rows), index=table.column("item_id").to_pylist())
    return features_of(table.take(order.loc[item_ids].to_numpy()), "embedding")
