"""Rounds whose density comes from the pool index: built once, reused while the pool is
unchanged, rebuilt when it changes."""

import numpy as np
import pandas as pd

from alflow.index import pool as index_module
from alflow.project import Project
from alflow.scoring.score import CLUSTER, FEATURES, stack
from tests.conftest import make_config
from tests.integration.test_project import one_round


def test_density_rounds_build_the_pool_index_once_and_reuse_it(tmp_path, digits_csv, dask_client):
    config = make_config(
        tmp_path / "ws",
        strategy={"name": "density_coreset", "density_index": "pool"},
        campaign={"batch_size": 12},
    )
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    assert project.uses_pool_index()
    project.retrain(one_round(project, dask_client))  # cold start: random, no density
    folder = tmp_path / "ws" / "index"
    assert not folder.exists()

    r2 = one_round(project, dask_client)
    index_file = folder / f"pool-{project.pool_hash()}.faiss"
    built_at = index_file.stat().st_mtime_ns
    assert len(project.ledger.selection(r2)) == 12
    index = project.pool_index()
    assert index.index.ntotal == 1_297  # every pool item, labeled ones included
    project.retrain(r2)
    r3 = one_round(project, dask_client)
    assert index_file.stat().st_mtime_ns == built_at  # reused, not rebuilt
    chosen = [set(project.ledger.selection(r)["item_id"]) for r in (r2, r3)]
    assert not chosen[0] & chosen[1]

    extra = tmp_path / "more.csv"  # new items change the pool's content hash
    more = pd.read_csv(digits_csv[1]).head(50)
    more.assign(digit_id="new-" + more["digit_id"]).to_csv(extra, index=False)
    project.ingest(str(extra))
    project.pool_index()
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(
        [f"pool-{project.pool_hash()}.faiss", f"pool-{project.pool_hash()}.faiss.json"]
    )
    assert not index_file.exists()


def test_auto_uses_the_sample_for_small_pools(tmp_path, digits_csv):
    project = Project(make_config(tmp_path / "ws"))
    project.ingest(str(digits_csv[0]))
    assert project.config.strategy.density_index == "auto" and not project.uses_pool_index()


def test_cluster_rounds_take_pool_clusters_from_the_scoring_pass(tmp_path, digits_csv, dask_client):
    config = make_config(
        tmp_path / "ws",
        strategy={"name": "cluster_margin", "density_index": "pool", "index_exact_max": 500},
        campaign={"batch_size": 12},
    )
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    project.retrain(one_round(project, dask_client))
    r2 = one_round(project, dask_client)
    assert len(project.ledger.selection(r2)) == 12
    opened_here = [k for k in index_module._OPEN if k.startswith(str(tmp_path))]
    assert not opened_here  # built and opened on a worker, never in the driver
    assert (tmp_path / "ws" / "index" / f"pool-{project.pool_hash()}.faiss").exists()

    model, version, _ = project.scoring_model()
    inputs = project.selection_inputs(r2 + 1, model, version)
    batch, scores = project.compute_selection(inputs, model, dask_client)
    frame = scores.candidates
    assigner = project.pool_index().assigner()  # an IVF: the pool is above index_exact_max
    expected = assigner.assign(stack(frame[FEATURES].tolist()))
    np.testing.assert_array_equal(frame[CLUSTER].to_numpy(), expected)
    assert frame[CLUSTER].nunique() > 12
    assert len(batch) == 12 and batch["item_id"].is_unique
