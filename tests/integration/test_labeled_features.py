"""The labeled-features store (``alflow.training.labeled_features``) on real SQLite and PostgreSQL
ledgers: a retrain after several imports reads no pool partition (the pool folder is moved away) and
fits the same model as one that read the pool; an import killed before or while it keeps the
features (a real SIGKILL of the importing process) and rerun stores every labeled item exactly once;
a superseding vote changes the label the model trains on, not the stored rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from alflow.config import load_config
from alflow.project import Project
from tests.conftest import make_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_file(tmp_path, digits_csv, databases) -> Path:
    """A digits project on the backend under test, pool ingested, no evaluation set (so the
    evaluation is a holdout of the labels: its features come from the store too)."""
    config = make_config(tmp_path / "ws", campaign={"batch_size": 25}, storage=databases.storage())
    raw = config.model_dump(mode="json") | {"storage": databases.storage()}
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(raw))
    Project(load_config(path)).ingest(str(digits_csv[0]))
    return path


def exported_round(project: Project, client) -> int:
    r = project.start_round().round_id
    project.select(r, client)
    project.export(r)
    return r


@contextmanager
def pool_hidden(project: Project):
    """The pool's partition files out of reach: any read of one fails."""
    pool = Path(project.ws.pool_url)
    hidden = pool.with_name("pool-hidden")
    pool.rename(hidden)
    try:
        yield
    finally:
        hidden.rename(pool)


def stored_ids(project: Project) -> list[str]:
    folder = project.labeled_features.folder
    files = sorted(folder.glob("*.parquet"))
    return [i for p in files for i in pq.read_table(p).column("item_id").to_pylist()]


def import_in_subprocess(config: Path, labels: Path, kill_at: str | None) -> int:
    """``Project.import_labels`` in a new process, SIGKILLed at ``kill_at`` if given."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ALFLOW_KILL_AT", None)
    if kill_at:
        env["ALFLOW_KILL_AT"] = kill_at
    code = (
        "import sys; from alflow.config import load_config; from alflow.project import Project;"
        "Project(load_config(sys.argv[1])).import_labels(sys.argv[2])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(config), str(labels)],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.decode()[-2000:]
    return proc.returncode


def test_retrain_reads_no_pool_partition_and_fits_the_same_model(config_file, dask_client):
    project = Project(load_config(config_file))
    for _ in range(3):
        r = exported_round(project, dask_client)
        project.import_labels(project.simulate_annotation(r))
    labeled = project.ledger.resolved_labels()["item_id"].tolist()
    assert sorted(stored_ids(project)) == sorted(labeled) and len(labeled) == 75

    # the same labels fitted from the pool: the store emptied, so every row comes from the pool
    for path in project.labeled_features.folder.glob("*.parquet"):
        path.unlink()
    from_pool = project.retrain(r)
    with pool_hidden(project):
        from_store = project.retrain(r)
    assert from_store.n_labels == from_pool.n_labels
    assert from_store.metrics["accuracy"] == from_pool.metrics["accuracy"]
    x = project.labeled_data(project.ledger.resolved_labels()["item_id"])
    a = project.tracker.load(project.tracker.model_uri(from_pool.model_version))
    b = project.tracker.load(project.tracker.model_uri(from_store.model_version))
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert sorted(stored_ids(project)) == sorted(labeled)  # refilled once, never twice


def test_a_killed_import_rerun_stores_each_item_once(config_file, dask_client, tmp_path):
    project = Project(load_config(config_file))
    r1 = exported_round(project, dask_client)
    answers = project.simulate_annotation(r1)
    assert import_in_subprocess(config_file, answers, "before_labeled_features") != 0
    assert project.ledger.event_count() == 25 and stored_ids(project) == []
    assert import_in_subprocess(config_file, answers, None) == 0
    assert len(stored_ids(project)) == len(set(stored_ids(project))) == 25

    r2 = exported_round(project, dask_client)
    answers = project.simulate_annotation(r2)
    assert import_in_subprocess(config_file, answers, "mid_labeled_features") != 0
    folder = project.labeled_features.folder
    assert list(folder.glob("*.tmp-*")) and len(stored_ids(project)) == 25
    assert import_in_subprocess(config_file, answers, None) == 0
    assert import_in_subprocess(config_file, answers, None) == 0  # a re-import adds nothing
    assert not list(folder.glob("*.tmp-*"))
    ids = stored_ids(project)
    assert len(ids) == len(set(ids)) == 50
    assert sorted(ids) == sorted(project.ledger.resolved_labels()["item_id"])

    # a superseding answer changes the label the model trains on; the stored rows stay
    item = project.ledger.selection(r2)["item_id"].iloc[0]
    [line] = [json.loads(x) for x in answers.read_text().splitlines() if item in x]
    new_label = str((int(line["label"]) + 1) % 10)
    again = tmp_path / "again.jsonl"
    again.write_text(json.dumps({**line, "label": new_label}) + "\n")
    project.import_labels(again)
    assert dict(project.ledger.resolved_labels().values)[item] == new_label
    assert sorted(stored_ids(project)) == sorted(ids)
    with pool_hidden(project):
        report = project.retrain(r2)
    assert report.metrics["labels_total"] == 50
