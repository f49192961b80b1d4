"""Where a round's density and clusters come from: the kNN index over the whole pool (kept in
the workspace, built on a Dask worker) or, for small pools, a uniform sample and k-means."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd

from alflow.context import ProjectContext
from alflow.data.pool import features_of, read_partition
from alflow.errors import AlflowError
from alflow.index.pool import PoolIndex, cached_pool_index
from alflow.index.pool import pool_density as density_on_worker
from alflow.scoring.compute import host_threads, on_worker
from alflow.scoring.score import PARTITION, ROW
from alflow.strategies import StrategySpec


def build_pool_index(urls: list[str], n: int, kind: str, seed: int, exact_max: int):
    """The ``index.pool.PoolIndex`` over the partitions at ``urls`` (``n`` rows of ``kind``): exact
    up to ``exact_max`` rows, IVF above."""

    def chunks():
        for url in urls:
            yield url.rsplit("/", 1)[-1], features_of(read_partition(url, ["x"]), kind)

    d = next(chunks())[1].shape[1]
    return PoolIndex.build(
        chunks, n, d, standardize=kind == "numeric", seed=seed, exact_max=exact_max
    )


def uses_pool_index(ctx: ProjectContext) -> bool:
    """Density and clusters from the pool index (``strategy.density_index``; ``auto``: vector
    pools of more than ``strategy.index_exact_max`` items) rather than from a uniform pool
    sample and k-means of the candidates."""
    s = ctx.config.strategy
    if s.density_index == "auto":
        big = sum(ctx.ledger.state_counts().values()) > s.index_exact_max
        return big and ctx.config.data.features.kind not in ("text", "tabular")
    return s.density_index == "pool"


def by_pool_index(ctx: ProjectContext, spec: StrategySpec) -> bool:
    """Whether ``spec``'s density and clusters come from the pool index."""
    return bool(spec.needs & {"density", "clusters"}) and uses_pool_index(ctx)


def pool_index_source(ctx: ProjectContext) -> tuple[str, str, Callable]:
    """``(folder, pool hash, build)``: where the kNN index over the whole pool is kept, the
    content it is valid for, and how to build it (trained on a sample, filled partition by
    partition). Picklable, so a Dask worker can load or build it (``index.pool.pool_density``)."""
    kind = ctx.config.data.features.kind
    if kind in ("text", "tabular"):
        raise AlflowError("the pool index needs vector features (numeric or embedding)")
    n = sum(ctx.ledger.state_counts().values())
    cfg = ctx.config
    urls = ctx.partition_urls()
    build = partial(build_pool_index, urls, n, kind, cfg.seed, cfg.strategy.index_exact_max)
    return str(ctx.ws.root / "index"), ctx.pool_hash(), build


def pool_index(ctx: ProjectContext):
    """The pool's kNN index in this process (rounds use it on a worker instead)."""
    index, _ = cached_pool_index(*pool_index_source(ctx))
    return index


def pool_density(client, source: tuple, frame: pd.DataFrame) -> Callable:
    """Candidates' density from the pool index, computed on a worker (where it stays), on
    the threads of its machine: the scoring pass is over, the other workers wait."""
    where = frame[PARTITION].to_numpy(), frame[ROW].to_numpy()
    threads = host_threads(client)
    return lambda x: on_worker(client, density_on_worker, *source, x, *where, threads=threads)
