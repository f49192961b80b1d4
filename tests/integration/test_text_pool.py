"""A text pool ingested through the CLI: the text space is fitted on a pool sample, every pool
partition carries its embedding (LSA, or the optional sentence encoder's), the model reads the
pool's vectoriser, and a round on a real LocalCluster measures distances in the embedding (the
batch a simulation with that embedding picks)."""

import csv
from importlib.util import find_spec

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alflow.config import load_config
from alflow.data.pool import features_of, join, read_partition
from alflow.data.text_space import load_text_space
from alflow.project import Project
from alflow.selection.batch import committee_builder
from alflow.selection.policy import choose_strategy
from alflow.selection.simulation import SimulatedPool, simulated_batch
from alflow.training.model import build_model, build_model_family
from flows.cli import app
from tests.conftest import require_dataset
from tests.integration.test_project import one_round

runner = CliRunner()
BATCH = 10


# the sentence encoder's pool: slow (it embeds every text), and only with the encoder extra
MINILM = pytest.param(
    "minilm",
    marks=[
        pytest.mark.slow,
        pytest.mark.skipif(
            find_spec("onnxruntime") is None, reason="the encoder extra is not installed"
        ),
    ],
)


@pytest.fixture(scope="module", params=["lsa", MINILM])
def text_workspace(tmp_path_factory, request):
    """500 SMS messages ingested as the pool and 200 as the evaluation set, by the CLI, with
    the LSA embedding or the sentence encoder's."""
    root = tmp_path_factory.mktemp("text")
    frame = pd.read_csv(
        require_dataset("sms_spam") / "SMSSpamCollection",
        sep="\t",
        header=None,
        names=["label", "text"],
        quoting=csv.QUOTE_NONE,
        dtype=str,
        keep_default_na=False,
    ).head(700)
    frame.insert(0, "sms_id", [f"s{i:04d}" for i in range(len(frame))])
    frame.iloc[:500].to_csv(root / "pool.csv", index=False)
    frame.iloc[500:].to_csv(root / "eval.csv", index=False)
    config = {
        "project": "sms-test",
        "workspace": str(root / "ws"),
        "data": {
            "id_column": "sms_id",
            "truth_column": "label",
            "features": {
                "kind": "text",
                "text_column": "text",
                "text_sample_rows": 300,
                "text_embedding_dim": 16,
                "text_embedding": request.param,
            },
            "labels": ["ham", "spam"],
            "partition_rows": 1_000,
            "read_chunk_rows": 150,
        },
        "compute": {"n_workers": 2},
        "vendor": {"kind": "file", "format": "csv"},
        "campaign": {"batch_size": 40, "control_fraction": 0.0},
        "strategy": {"pool_sample": 100},
    }
    path = root / "alflow.yaml"
    path.write_text(yaml.safe_dump(config))
    for args in (["ingest", str(root / "pool.csv")], ["ingest", "--eval", str(root / "eval.csv")]):
        result = runner.invoke(app, [*args, "--config", str(path)])
        assert result.exit_code == 0, result.output
    return path


def test_ingest_fits_the_text_space_on_a_sample_and_writes_the_embedding(text_workspace):
    project = Project(load_config(text_workspace))
    space = load_text_space(project.ws.text_space)
    dim = {"lsa": 16, "minilm": 384}[project.config.data.features.text_embedding]
    assert space.fitted_on == 300 and space.embedding_dim == dim
    ((name, _),) = project.ledger.partitions("pool")
    table = read_partition(join(project.ws.pool_url, name))
    x = features_of(table, "embedding")
    assert x.shape == (500, dim)
    np.testing.assert_allclose(x, space.embed(table.column("text").to_pylist()), atol=1e-6)
    norms = np.linalg.norm(x, axis=1)
    # unit vectors; a message with no term of the sample (here 3 of 500) embeds to zeros
    assert np.isin(norms.round(4), [0.0, 1.0]).all() and (norms > 0.5).sum() >= 490
    ((eval_name, _),) = project.ledger.partitions("eval")
    assert "x" not in read_partition(join(project.ws.eval_url, eval_name)).column_names


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["kmeans_round_robin", "density_coreset"])
def test_a_round_selects_in_the_pool_embedding(text_workspace, dask_client, strategy):
    project = Project(load_config(text_workspace))
    if project.ledger.last_round_id() is None:
        project.retrain(one_round(project, dask_client))  # 40 random labels, a champion
    project.config.strategy.name = strategy
    project.config.campaign.batch_size = BATCH
    cfg, space = project.config, project.text_space
    model, version, _ = project.scoring_model()
    vectorizer = model.named_steps["vectorize"].estimator  # the MLflow model's, frozen
    assert vectorizer.vocabulary_ == space.vectorizer.vocabulary_
    inputs = project.selection_inputs(2, model, version)
    real, _ = project.compute_selection(inputs, model, dask_client)

    ((name, _),) = project.ledger.partitions("pool")
    table = read_partition(join(project.ws.pool_url, name))
    pool = SimulatedPool(
        table.column("item_id").combine_chunks(),
        table.column("text").to_pylist(),
        np.asarray(table.column("truth").to_pylist()).astype(str),
        project.labels,
        embedding=features_of(table, "embedding"),
        partition=name,
    )
    labeled = pd.Index(pool.ids.to_numpy(zero_copy_only=False)).get_indexer(
        inputs.labels["item_id"]
    )
    spec, _ = choose_strategy(
        cfg.strategy,
        pool.classes,
        pd.DataFrame({"label": pool.y[labeled]}),
        has_model=True,
        history=[],
        seed=cfg.seed,
        round_id=2,
    )
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
            lambda: build_model(cfg, space),
            lambda: build_model_family(cfg, space),
            cfg.seed,
        ),
    )
    assert spec.name == strategy and len(real) == BATCH
    assert real["item_id"].tolist() == simulated["item_id"].tolist()
    np.testing.assert_allclose(real["utility"], simulated["utility"])
