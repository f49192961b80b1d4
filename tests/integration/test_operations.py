"""Stream picks, the control slice, round reports and replay on a real project (Dask
LocalCluster, MLflow and the ledger on SQLite)."""

from __future__ import annotations

import tempfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from typer.testing import CliRunner

from alflow.data.pool import features_of, join, read_partition
from alflow.project import Project
from alflow.rounds.replay import replay_round
from alflow.scoring.score import random_scores
from alflow.selection.committee import aligned_proba
from alflow.strategies import UTILITIES
from alflow.tracking.report import SECTIONS
from flows.cli import app
from tests.conftest import make_config
from tests.integration.test_project import one_round


def _expected_control(project: Project, round_id: int, n: int) -> set[str]:
    """The n unlabeled items with the best seeded uniform score, recomputed from the files."""
    excluded = set()
    for r in range(1, round_id):
        excluded |= set(project.ledger.selection(r)["item_id"])
    rows = []
    for name, _ in project.ledger.partitions("pool"):
        ids = read_partition(join(project.ws.pool_url, name), ["item_id"]).column(0).to_pylist()
        rand = random_scores(len(ids), project.config.seed, round_id, name)
        rows += [(-v, i) for i, v in zip(ids, rand, strict=True) if i not in excluded]
    return {i for _, i in sorted(rows)[:n]}


def test_control_slice_is_exact_and_its_saving_estimate_is_logged(
    tmp_path, digits_csv, dask_client
):
    config = make_config(tmp_path / "ws", campaign={"batch_size": 10, "control_fraction": 0.3})
    project = Project(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    for r in (1, 2, 3):
        assert one_round(project, dask_client) == r
        batch = project.ledger.selection(r)
        assert len(batch) == 10 and batch["reason"].value_counts().to_dict() == {
            "strategy": 7,
            "control": 3,
        }
        control = set(batch.loc[batch["reason"] == "control", "item_id"])
        assert control == _expected_control(project, r, 3)
        project.retrain(r)
    assert len(project.ledger.selected_ids("control")) == 9
    run_id = project.ledger.get_round(3).mlflow_run_id
    metrics = project.tracker.client.get_run(run_id).data.metrics
    assert metrics["control_picks"] == 3
    assert metrics["control.labels"] == 9 and 0.0 <= metrics["control.macro_f1"] <= 1.0
    history = project.tracker.client.get_metric_history(run_id, "control.macro_f1")
    assert [m.step for m in history] == [3]

    with tempfile.TemporaryDirectory() as tmp:
        page = project.tracker.download(run_id, "report.html", tmp).read_text()
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in page
    assert page.count("data:image/png;base64,") == 3  # curve, scores, class balance
    assert 'src="http' not in page and "control.macro_f1" in page
    assert "one annotator" in page


def test_stream_picks_and_replay(tmp_path, digits_frame, dask_client):
    first, second, third = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    digits_frame.iloc[:700].to_csv(first, index=False)
    digits_frame.iloc[700:1100].to_csv(second, index=False)
    digits_frame.iloc[1100:1297].to_csv(third, index=False)
    ev = tmp_path / "eval.csv"
    digits_frame.iloc[1297:].to_csv(ev, index=False)
    config = make_config(
        tmp_path / "ws",
        campaign={"batch_size": 12, "control_fraction": 0.25},
        stream={"budget": 4, "threshold": 0.2, "utility": "margin"},
    )
    project = Project(config)
    project.ingest(str(first))
    project.ingest(str(ev), target="eval")
    project.retrain(one_round(project, dask_client))
    assert (project.ledger.selection(1)["reason"] != "stream").all()  # nothing new yet

    new_ids = set(digits_frame.iloc[700:1100]["digit_id"])
    project.ingest(str(second))
    project.retrain(one_round(project, dask_client))
    batch = project.ledger.selection(2)
    stream = batch[batch["reason"] == "stream"]
    assert batch["reason"].value_counts().to_dict() == {"strategy": 5, "control": 3, "stream": 4}
    assert set(stream["item_id"]) <= new_ids and (stream["utility"] >= 0.2).all()
    # the champion alone, over the new items: the stream picks are its 4 most uncertain
    model = project.tracker.load(project.tracker.model_uri("1"))
    pool = pq.read_table(project.ws.pool_url)
    keep = pool["item_id"].to_pandas().isin(new_ids).to_numpy()
    new = pool.filter(pa.array(keep))
    table = new.select(["item_id"]).to_pandas()
    x = features_of(new, "numeric")
    margin = UTILITIES["margin"](aligned_proba(model, x, config.data.labels))
    best = table.assign(u=margin).sort_values(["u", "item_id"], ascending=[False, True])
    assert stream["item_id"].tolist() == best["item_id"].head(4).tolist()

    for r in (1, 2):
        report = replay_round(project, r, dask_client)
        assert report.identical, report.differences()
    assert report.notes == []  # round 2 saw today's pool; round 1 notes the ingest since
    assert "1 partition(s) ingested since" in replay_round(project, 1, dask_client).notes[0]
    project.ingest(str(third))
    report = replay_round(project, 2, dask_client)
    assert report.identical
    assert any(n.startswith("pool hash changed") for n in report.notes)

    # rewrite the partition that held round 2's top stream pick, without that item
    victim = stream["item_id"].iloc[0]
    part = project.ledger.locations([victim])["partition"].iloc[0]
    url = join(project.ws.pool_url, part)
    kept = read_partition(url).to_pandas()
    pq.write_table(read_partition(url).filter(pd.Series(kept["item_id"] != victim).to_numpy()), url)
    report = replay_round(project, 2, dask_client)
    assert any(n.startswith(f"pool hash mismatch: partition {part}") for n in report.notes)
    diff = report.differences()
    assert not report.identical and victim in set(
        diff.loc[diff["change"] == "recorded only", "item_id"]
    )

    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    out = CliRunner().invoke(app, ["replay", "1", "-c", str(path)])
    assert out.exit_code == 0 and "replay identical (12 items" in out.output, out.output
    out = CliRunner().invoke(app, ["replay", "2", "-c", str(path)])
    assert out.exit_code == 1 and "pool hash mismatch" in out.output and victim in out.output
