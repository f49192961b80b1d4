"""A real round and a simulated round on the same state pick the same batch: the benchmark
measures what users run. Same labeled set (in the ledger's order), same champion, same pool;
the real side goes through ``Project.selection_inputs`` and ``compute_selection`` on Dask."""

import numpy as np
import pandas as pd
import pytest

from alflow.data.pool import features_of, join, read_partition
from alflow.project import Project
from alflow.selection.batch import committee_builder
from alflow.selection.policy import choose_strategy
from alflow.selection.portfolio import PORTFOLIO
from alflow.selection.simulation import SimulatedPool, simulated_batch
from alflow.strategies import REGISTRY, get_strategy
from alflow.training.model import build_model, build_model_family
from tests.conftest import make_config
from tests.integration.test_project import one_round

BATCH = 8
ARMS = ["margin", "entropy", "random"]
CASES = [(name, "bagging") for name in sorted(REGISTRY)] + [
    (PORTFOLIO, "bagging"),
    ("qbc_vote_entropy", "estimators"),
]


def config_for(root, strategy: str, committee_kind: str):
    return make_config(
        root,
        data={"partition_rows": 1_000},
        strategy={
            "name": strategy,
            "params": {"arms": ARMS} if strategy == PORTFOLIO else {},
            "committee_kind": committee_kind,
            "committee_size": 3,
            "pool_sample": 100,
        },
        campaign={"batch_size": BATCH, "control_fraction": 0.0},
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_frame, dask_client):
    """A 400-item pool in one partition, a first round of 60 labels and its champion."""
    root = tmp_path_factory.mktemp("equal")
    pool_csv = root / "pool.csv"
    digits_frame.iloc[:400].to_csv(pool_csv, index=False)
    project = Project(config_for(root / "ws", "random", "bagging"))
    project.ingest(str(pool_csv))
    project.config = project.config.model_copy(
        update={"campaign": project.config.campaign.model_copy(update={"batch_size": 60})}
    )
    project.retrain(one_round(project, dask_client))
    return root / "ws"


def simulated_pool(project: Project) -> SimulatedPool:
    """The real pool's one partition, in memory."""
    ((name, _),) = project.ledger.partitions("pool")
    table = read_partition(join(project.ws.pool_url, name))
    return SimulatedPool(
        table.column("item_id").combine_chunks(),
        features_of(table, "numeric"),
        np.asarray(table.column("truth").to_pylist()).astype(str),
        project.labels,
        partition=name,
    )


@pytest.mark.parametrize(("strategy", "committee_kind"), CASES)
def test_a_real_and_a_simulated_round_pick_the_same_batch(
    trained, dask_client, strategy, committee_kind
):
    project = Project(config_for(trained, strategy, committee_kind))
    cfg = project.config
    model, version, _ = project.scoring_model()
    inputs = project.selection_inputs(2, model, version)
    real, _ = project.compute_selection(inputs, model, dask_client)

    pool = simulated_pool(project)
    position = pd.Index(pool.ids.to_numpy(zero_copy_only=False))
    labeled = position.get_indexer(inputs.labels["item_id"])
    assert (labeled >= 0).all() and len(labeled) == 60
    spec, _ = choose_strategy(
        cfg.strategy,
        pool.classes,
        pd.DataFrame({"label": pool.y[labeled]}),
        has_model=True,
        history=[],  # one training so far: no gain yet, in the ledger either
        seed=cfg.seed,
        round_id=2,
    )
    assert spec.name == inputs.strategy
    s = cfg.strategy
    simulated = simulated_batch(
        pool,
        labeled,
        model,
        spec,
        batch_size=BATCH,
        seed=cfg.seed,
        round_id=2,
        strategy=s,
        committee=committee_builder(
            s.committee_kind,
            s.committee_size,
            lambda: build_model(cfg),
            lambda: build_model_family(cfg),
            cfg.seed,
        ),
    )
    assert len(real) == BATCH and (real["reason"] == "strategy").all()
    assert real["item_id"].tolist() == simulated["item_id"].tolist()
    np.testing.assert_allclose(real["utility"], simulated["utility"])
    if strategy == PORTFOLIO:
        assert get_strategy(inputs.strategy).name in ARMS
