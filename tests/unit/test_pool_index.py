"""The pool index: its choice by size, its build, reuse by pool hash, density and recall."""

import faiss
import numpy as np
import pytest

from alflow.config import StrategyConfig
from alflow.index import EXACT_MAX, knn_similarity
from alflow.index import pool as index_module
from alflow.index.pool import (
    PoolIndex,
    cached_pool_index,
    exact_knn,
    index_spec,
    pool_density,
    recall_at_k,
)


def mixture(n: int, d: int, components: int, seed: int) -> np.ndarray:
    """Clustered data like real embeddings: Gaussian blobs around random centres."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(size=(components, d)).astype(np.float32)
    return centers[rng.integers(components, size=n)] + rng.normal(scale=0.5, size=(n, d)).astype(
        np.float32
    )


def chunked(x: np.ndarray, rows: int):
    parts = [(f"part-{i:05d}", x[s : s + rows]) for i, s in enumerate(range(0, len(x), rows))]
    return lambda: iter(parts)


def test_the_index_is_chosen_by_size_and_memory():
    assert index_spec(EXACT_MAX, 128) == "IDMap,Flat"
    assert index_spec(1_000_000, 128) == "IVF1024_HNSW32,Flat"  # 0.5 GB of vectors fits
    assert index_spec(10_000_000, 128) == "IVF4096_HNSW32,SQ8"  # 5 GB does not; 1.3 GB does
    spec = index_spec(100_000_000, 128)
    assert spec.startswith("IVF") and spec.endswith(("PQ8", "PQ16"))


def test_the_config_default_is_the_index_threshold():
    assert StrategyConfig().index_exact_max == EXACT_MAX


def test_a_small_pool_is_searched_exactly_and_density_leaves_out_the_query(tmp_path):
    x = mixture(3_000, 16, 20, 0)
    chunks = chunked(x, 1_000)
    index = PoolIndex.build(chunks, len(x), 16, standardize=False)
    keys = index.keys(["part-00001"] * 50, np.arange(50))
    _, ids = index.search(x[1_000:1_050], 1)
    np.testing.assert_array_equal(ids[:, 0], keys)  # each row's nearest is itself
    density = index.density(x[1_000:1_050], keys, k=10)
    # the same as exact kNN similarity to every other row
    others = np.delete(x, np.arange(1_000, 1_050), axis=0)
    expected = knn_similarity(x[1_000:1_050], np.vstack([others, x[1_000:1_050]]), k=11)
    expected = (expected * 11 - 1.0) / 10  # drop the self-similarity of 1
    np.testing.assert_allclose(density, expected, atol=1e-4)


def test_standardised_numeric_features_use_the_sample_statistics():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2_000, 4)) * [1, 10, 100, 1000] + 5).astype(np.float32)
    index = PoolIndex.build(chunked(x, 500), len(x), 4, standardize=True)
    np.testing.assert_allclose(index.mean, x.mean(axis=0), rtol=0.05, atol=0.2)
    np.testing.assert_allclose(index.scale, x.std(axis=0), rtol=0.05)


def counted_build(x: np.ndarray, rows: int, builds: list, *, standardize: bool):
    """A build function that records each call in ``builds``."""

    def build():
        builds.append(1)
        return PoolIndex.build(chunked(x, rows), len(x), x.shape[1], standardize=standardize)

    return build


def test_the_index_is_reused_while_the_pool_hash_is_unchanged(tmp_path):
    x = mixture(1_500, 8, 10, 2)
    builds = []
    build = counted_build(x, 500, builds, standardize=True)

    folder = str(tmp_path / "index")
    first, built = cached_pool_index(folder, "aaaa", build)
    again, built_again = cached_pool_index(folder, "aaaa", build)
    assert (built, built_again, len(builds)) == (True, False, 1)
    assert again.partitions == first.partitions and again.index.ntotal == 1_500
    np.testing.assert_array_equal(again.mean, first.mean)
    q = x[:20]
    np.testing.assert_array_equal(again.search(q, 5)[1], first.search(q, 5)[1])
    _, rebuilt = cached_pool_index(folder, "bbbb", build)
    assert rebuilt and len(builds) == 2
    names = sorted(p.name for p in (tmp_path / "index").iterdir())
    assert names == ["pool-bbbb.faiss", "pool-bbbb.faiss.json"]


@pytest.mark.slow
def test_ivf_recall_at_10_on_clustered_data():
    n, d = 120_000, 32
    x = mixture(n, d, 300, 3)
    chunks = chunked(x, 20_000)
    index = PoolIndex.build(chunks, n, d, standardize=False)
    assert "IVF" in type(index.index).__name__
    q = mixture(200, d, 300, 4)
    _, found = index.search(q, 10)
    exact = exact_knn(q, chunks, 10, index.prepare)
    recall = recall_at_k(found, exact)
    assert recall >= 0.9, recall
    assert recall_at_k(found, exact[::-1]) < 0.1  # the measure can fail


def test_exact_knn_streams_partitions_like_one_flat_search():
    x = mixture(900, 8, 5, 5)
    chunks = chunked(x, 200)
    index = PoolIndex.build(chunks, len(x), 8, standardize=False)
    q = x[::97]
    _, flat_ids = index.search(q, 7)
    np.testing.assert_array_equal(exact_knn(q, chunks, 7, index.prepare), flat_ids)


def test_the_assigner_puts_rows_in_the_ivf_lists_the_index_itself_uses():
    x = mixture(20_000, 8, 40, 6)
    index = PoolIndex.build(chunked(x, 7_000), len(x), 8, standardize=True, exact_max=5_000)
    assigner = index.assigner()
    ivf = faiss.extract_index_ivf(index.index)
    assert assigner.centroids.shape == (ivf.nlist, 8)
    q = x[::500]
    _, lists = ivf.quantizer.search(index.prepare(q), 1)
    agree = (assigner.assign(q) == lists[:, 0]).mean()
    assert agree >= 0.98, agree  # the HNSW quantizer is approximate; the assigner is exact
    assert assigner.assign(q[:0]).shape == (0,)


def test_an_exact_index_has_no_clusters():
    x = mixture(500, 8, 5, 7)
    assert PoolIndex.build(chunked(x, 250), len(x), 8, standardize=False).assigner() is None


def test_density_where_the_index_lives_keeps_it_open_for_the_next_call(tmp_path, monkeypatch):
    monkeypatch.setattr(index_module, "_OPEN", {})
    x = mixture(1_200, 8, 10, 8)
    builds = []
    build = counted_build(x, 400, builds, standardize=False)

    folder = str(tmp_path / "index")
    parts, rows = ["part-00001"] * 30, np.arange(30)
    first = pool_density(folder, "cccc", build, x[400:430], parts, rows)
    (tmp_path / "index" / "pool-cccc.faiss").unlink()  # the open index is used, not the file
    again = pool_density(folder, "cccc", build, x[400:430], parts, rows)
    np.testing.assert_array_equal(first, again)
    index = PoolIndex.build(chunked(x, 400), len(x), 8, standardize=False)
    np.testing.assert_allclose(first, index.density(x[400:430], index.keys(parts, rows)))
    assert len(builds) == 1
    pool_density(folder, "dddd", build, x[:5], ["part-00000"] * 5, np.arange(5))
    assert len(builds) == 2  # a new pool content: built again


def test_density_of_many_queries_probes_fewer_lists_and_stays_close(monkeypatch):
    assert index_module.density_nprobe(100) == index_module.POOL_NPROBE
    assert index_module.density_nprobe(50_000) == 4  # a 10k batch's candidates
    assert index_module.density_nprobe(10_000_000) == 1
    x = mixture(20_000, 16, 30, 3)
    index = PoolIndex.build(chunked(x, 5_000), len(x), 16, standardize=False, exact_max=1_000)
    ivf = faiss.extract_index_ivf(index.index)
    keys = index.keys(["part-00000"] * 2_000, np.arange(2_000))
    full = index.density(x[:2_000], keys)  # 2,000 queries probe POOL_NPROBE lists
    threads = faiss.omp_get_max_threads()
    monkeypatch.setattr(index_module, "DENSITY_PROBES", 4_000)  # 2 lists a query
    fewer = index.density(x[:2_000], keys, threads=2)
    assert ivf.nprobe == index_module.POOL_NPROBE and faiss.omp_get_max_threads() == threads
    assert not np.array_equal(fewer, full)  # fewer lists were probed
    assert np.corrcoef(fewer, full)[0, 1] > 0.95
    assert np.abs(fewer - full).mean() < 0.02
