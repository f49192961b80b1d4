"""Labels coming back on real rounds (real Dask, MLflow and ledger): weak labels, partial and late
batches, skip policies, disagreement, agreement in MLflow, and the ledger migration."""

import csv
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy import create_engine, text

from alflow.errors import InputError
from alflow.ledger import Ledger, migrate
from alflow.project import Project
from tests.conftest import make_config

pytestmark = pytest.mark.slow


def start(tmp_path, digits_csv, **sections) -> Project:
    project = Project(make_config(tmp_path / "ws", **sections))
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    return project


def exported_round(project: Project, client) -> tuple[int, list[str]]:
    r = project.start_round().round_id
    project.select(r, client)
    project.export(r)
    return r, project.ledger.selection(r)["item_id"].tolist()


def write_labels(path: Path, rows: list[dict]) -> Path:
    fields = ["item_id", "label", "annotator", "skipped", "ground_truth"]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


@pytest.fixture
def truth(digits_frame) -> pd.Series:
    return digits_frame.set_index("digit_id")["digit"].astype(str)


def run_metrics(project: Project, round_id: int) -> dict[str, float]:
    client = MlflowClient(project.ws.mlflow_tracking_uri)
    return client.get_run(project.ledger.get_round(round_id).mlflow_run_id).data.metrics


def test_weak_labels_train_with_weights_and_are_never_human_labels(
    tmp_path, digits_csv, dask_client, truth
):
    project = start(tmp_path, digits_csv, model={"weak_labels": {"weight": 0.5}})
    r1, batch1 = exported_round(project, dask_client)
    project.import_labels(project.simulate_annotation(r1))
    unlabeled = sorted(set(truth.index[:1297]) - set(batch1))[:40]
    weak = tmp_path / "weak.jsonl"
    lines = [f'{{"item_id": "{i}", "label": "{truth[i]}", "confidence": 0.8}}' for i in unlabeled]
    lines += [f'{{"item_id": "{i}", "label": "{truth[i]}", "confidence": 0.9}}' for i in batch1[:2]]
    weak.write_text("\n".join(lines) + "\n")
    rep = project.import_weak_labels(weak)
    assert (rep.rows_read, rep.weak_labels_changed) == (42, 42)
    assert project.import_weak_labels(weak).weak_labels_changed == 0  # idempotent

    report = project.retrain(r1)
    assert report.metrics["weak_labels_used"] == 40  # the 2 human-labeled items supersede theirs
    assert report.n_labels == 10 == report.metrics["labels_used"]
    assert project.ledger.state_counts()["labeled"] == 10
    client = MlflowClient(project.ws.mlflow_tracking_uri)
    run_id = project.ledger.get_round(r1).mlflow_run_id
    used = pd.read_csv(client.download_artifacts(run_id, "training_labels.csv", str(tmp_path)))
    weak_rows = used[used["source"] == "weak"]
    assert sorted(weak_rows["item_id"]) == unlabeled
    assert weak_rows["weight"].tolist() == pytest.approx([0.4] * 40)  # 0.8 x 0.5
    assert set(used.loc[used["source"] == "human", "weight"]) == {1.0}

    # the next round may select weakly labeled items; the export never carries weak labels,
    # and a human label then supersedes the weak one
    r2, batch2 = exported_round(project, dask_client)
    export = Path(project.ledger.export_of(r2).uri).read_text()
    assert "weak" not in export and '"label": null' in export
    project.import_labels(project.simulate_annotation(r2))
    overlap = set(batch2) & set(unlabeled)
    assert project.retrain(r2).metrics["weak_labels_used"] == 40 - len(overlap)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"item_id": "nope", "label": "3"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:1: item_id: unknown item 'nope'"):
        project.import_weak_labels(bad)
    assert project.ledger.weak_label_count() == 42


def test_a_batch_back_in_parts_and_late_counts_every_label_once(
    tmp_path, digits_csv, dask_client, truth
):
    project = start(tmp_path, digits_csv)
    r1, batch = exported_round(project, dask_client)
    first = write_labels(
        tmp_path / "first.csv", [{"item_id": i, "label": truth[i]} for i in batch[:5]]
    )
    assert project.import_labels(first).events_added == 5
    assert project.retrain(r1).metrics["labels_used"] == 5
    assert project.ledger.state_counts()["exported"] == 5

    r2, batch2 = exported_round(project, dask_client)  # the next round while 5 are out
    assert not set(batch2) & set(batch)
    late = write_labels(
        tmp_path / "late.csv", [{"item_id": i, "label": truth[i]} for i in batch[5:]]
    )
    assert project.import_labels(late).events_added == 5
    assert project.import_labels(first).events_added == 0
    assert project.retrain(r2).metrics["labels_used"] == 10
    assert project.ledger.event_count() == 10
    summary = project.ledger.round_summary().set_index("round")
    assert summary.loc[r1, "labeled_back"] == 10 and summary.loc[r2, "labeled_back"] == 0


@pytest.mark.parametrize("policy", ["return_to_pool", "stay_skipped"])
def test_skipped_items_follow_the_policy(tmp_path, digits_csv, dask_client, truth, policy):
    project = start(tmp_path, digits_csv, resolution={"skipped": policy})
    _, batch = exported_round(project, dask_client)
    rows = [{"item_id": i, "skipped": "true"} for i in batch[:2]]
    rows += [{"item_id": i, "label": truth[i]} for i in batch[2:]]
    project.import_labels(write_labels(tmp_path / "l.csv", rows))
    excluded = set(project.ledger.excluded_ids())
    counts = project.ledger.state_counts()
    if policy == "return_to_pool":
        assert counts.get("skipped", 0) == 0 and not set(batch[:2]) & excluded
        r2 = project.start_round().round_id
        project.select(r2, dask_client)
        assert run_metrics(project, r2)["pool_unlabeled_scored"] == 1297 - 8  # scored again
    else:
        assert counts["skipped"] == 2 and set(batch[:2]) <= excluded
    # a late answer for a skipped item is still welcome and resolves it
    late = write_labels(tmp_path / "late.csv", [{"item_id": batch[0], "label": truth[batch[0]]}])
    project.import_labels(late)
    assert batch[0] in set(project.ledger.resolved_labels()["item_id"])


def test_disagreement_needs_adjudication_and_agreement_reaches_mlflow(
    tmp_path, digits_csv, dask_client, truth
):
    project = start(tmp_path, digits_csv)
    r1, batch = exported_round(project, dask_client)
    rows = [{"item_id": i, "label": truth[i], "annotator": "ann"} for i in batch]
    wrong = {i: str((int(truth[i]) + 1) % 10) for i in batch[:3]}
    rows += [{"item_id": i, "label": wrong.get(i, truth[i]), "annotator": "bob"} for i in batch]
    project.import_labels(write_labels(tmp_path / "two.csv", rows))

    assert project.ledger.state_counts()["needs_relabel"] == 3
    assert project.status()["needs_adjudication"] == sorted(batch[:3])
    metrics = run_metrics(project, r1)
    assert metrics["agreement.items"] == 10
    assert metrics["agreement.pairwise"] == pytest.approx(0.7)
    assert metrics["agreement.fleiss_kappa"] == pytest.approx(
        project.ledger.round_agreement(r1).fleiss_kappa
    )
    assert 0 < metrics["agreement.fleiss_kappa"] < 0.7
    row = project.ledger.round_summary().set_index("round").loc[r1]
    assert row["agreement"] == pytest.approx(0.7) and row["needs_adjudication"] == 3
    assert project.retrain(r1).metrics["labels_used"] == 7  # adjudication stays out

    gt = write_labels(
        tmp_path / "gt.csv",
        [{"item_id": batch[0], "label": truth[batch[0]], "ground_truth": "true"}],
    )
    project.import_labels(gt)
    assert project.ledger.state_counts()["needs_relabel"] == 2
    labels = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert labels[batch[0]] == truth[batch[0]]


def test_migration_moves_pseudo_labels_into_model_labels(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine, "0003")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO ingests (source, target, rows_read, rows_added, created_at) "
                "VALUES ('s', 'pool', 1, 1, '2026-01-01')"
            )
        )
        c.execute(text("INSERT INTO partitions VALUES ('p', 'pool', 1, 1, 'h')"))
        c.execute(text("INSERT INTO items VALUES ('i', 'p', 'h', 'unlabeled', NULL, '2026-01-01')"))
        c.execute(
            text(
                "INSERT INTO rounds (id, status, strategy, batch_size, seed, config_hash,"
                " created_at) VALUES (1, 'open', 'random', 1, 0, 'c', '2026-01-01')"
            )
        )
        c.execute(text("INSERT INTO pseudo_labels VALUES (1, 'i', 'a', 0.99)"))
    engine.dispose()
    ledger = Ledger(url)  # upgrades to head
    assert ledger.pseudo_labels().to_dict("records") == [{"item_id": "i", "label": "a"}]
    assert ledger.weak_labels().empty


def test_dawid_skene_resolves_through_the_ledger(tmp_path, digits_csv, dask_client, truth):
    project = start(tmp_path, digits_csv, resolution={"method": "dawid_skene"})
    _, batch = exported_round(project, dask_client)
    rows = [{"item_id": i, "label": truth[i], "annotator": a} for i in batch for a in ("a", "b")]
    rows[1]["label"] = str((int(truth[batch[0]]) + 1) % 10)  # b disagrees once
    rows += [{"item_id": i, "label": truth[i], "annotator": "c"} for i in batch[:1]]
    project.import_labels(write_labels(tmp_path / "crowd.csv", rows))
    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert resolved.to_dict() == {i: truth[i] for i in batch}
    assert {project.ledger.item_history(i)["resolved"]["rule"] for i in batch} == {"dawid_skene"}
    # a later import re-fits over every item with votes; earlier labels stay right
    _, batch2 = exported_round(project, dask_client)
    more = [{"item_id": batch2[0], "label": truth[batch2[0]], "annotator": "a"}]
    assert project.import_labels(write_labels(tmp_path / "more.csv", more)).events_added == 1
    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert resolved.to_dict() == {i: truth[i] for i in [*batch, batch2[0]]}
