"""Label names MLflow cannot take in a key, and that a CSV, an XML file or a terminal table must
quote: a campaign (ingest, export, import, retrain, audit, the round's report), and a round trip
through every registered vendor."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.config import dump_config
from alflow.csvsafe import read_csv
from alflow.project import Project
from alflow.tracking.keys import label_key
from alflow.vendors.registry import VENDORS
from flows.cli import app
from tests import vendor_returns
from tests.conftest import make_config

NAMES = ["<=50K", ">50K", "a/b", "with space", "café", "猫", "x" * 100, "a..b", "c:d", "plain"]


def test_campaign_with_awkward_label_names(tmp_path, digits_frame, dask_client):
    frame = digits_frame.assign(digit=digits_frame["digit"].map(dict(enumerate(NAMES))))
    pool, ev = tmp_path / "pool.csv", tmp_path / "eval.csv"
    frame.iloc[:1297].to_csv(pool, index=False)
    frame.iloc[1297:].to_csv(ev, index=False)
    config = make_config(
        tmp_path / "ws", data={**_data(), "labels": NAMES}, campaign={"batch_size": 60}
    )
    project = Project(config)
    project.ingest(str(pool))
    project.ingest(str(ev), target="eval")
    start = project.start_round()
    project.select(start.round_id, dask_client)
    project.export(start.round_id)
    project.import_labels(project.simulate_annotation(start.round_id))
    imported = set(project.ledger.resolved_labels()["label"])
    assert imported and imported <= set(NAMES)
    report = project.retrain(start.round_id)
    assert report.promoted
    assert project.status()["champion"]["model_version"] == report.model_version
    run = MlflowClient(project.ws.mlflow_tracking_uri).get_run(_run_id(project, start.round_id))
    for name in imported:
        assert f"class_count.{label_key(name)}" in run.data.metrics
    page = MlflowClient(project.ws.mlflow_tracking_uri).download_artifacts(
        run.info.run_id, "report.html", str(tmp_path)
    )
    page = Path(page).read_text()
    for name in NAMES:  # the class-balance table: each label escaped, whole, in its own cell
        assert f"<td>{html.escape(name)}</td>" in page
    assert "<td><=50K" not in page
    _audit(tmp_path, config, project, report.model_version, imported)


def _audit(tmp_path: Path, config, project: Project, version: str, imported: set) -> None:
    """``alflow audit`` shows every label whole: in its CSVs and in the terminal."""
    path = tmp_path / "alflow.yaml"
    path.write_text(dump_config(config))
    trained = tmp_path / "trained.csv"
    out = runner.invoke(app, ["audit", "model", version, "-c", str(path), "--csv", str(trained)])
    assert out.exit_code == 0, out.output
    assert set(read_csv(trained)["label"]) == imported
    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    for name in sorted(imported & {"<=50K", "with space", "猫"}):
        item = resolved[resolved == name].index[0]
        out = runner.invoke(app, ["audit", "item", item, "-c", str(path)])
        assert out.exit_code == 0 and repr(name) in out.output, out.output


def _data() -> dict:
    from tests.conftest import DIGIT_COLUMNS

    return {
        "id_column": "digit_id",
        "truth_column": "digit",
        "features": {"kind": "numeric", "columns": DIGIT_COLUMNS},
        "partition_rows": 300,
        "read_chunk_rows": 250,
    }


def _run_id(project: Project, round_id: int) -> str:
    return project.ledger.get_round(round_id).mlflow_run_id


# ------------------------------------------------------------- every vendor, out and back
KINDS = [*VENDORS, "file-csv"]
runner = CliRunner()


@pytest.fixture(scope="module")
def odd_pool(tmp_path_factory, digits_frame):
    """300 digits whose classes are the awkward names, ingested once for every vendor."""
    tmp = tmp_path_factory.mktemp("odd-labels")
    frame = digits_frame.iloc[:300].assign(digit=lambda f: f["digit"].map(dict(enumerate(NAMES))))
    frame.to_csv(tmp / "pool.csv", index=False)
    Project(_config(tmp / "ws", "file")).ingest(str(tmp / "pool.csv"))
    truth = frame.set_index("digit_id")["digit"]
    batches = [
        [g.index[k] for _, g in truth.groupby(truth, sort=False)] for k in range(len(KINDS))
    ]  # one item of every class per vendor
    return tmp, truth, dict(zip(KINDS, batches, strict=True))


def _config(ws, kind: str):
    fmt = "csv" if kind == "file-csv" else "jsonl"
    return make_config(
        ws,
        data={**_data(), "labels": NAMES},
        vendor={"kind": kind.removesuffix("-csv"), "format": fmt},
    )


@pytest.mark.parametrize("kind", KINDS)
def test_awkward_labels_survive_every_vendor_out_and_back(odd_pool, kind, monkeypatch):
    monkeypatch.setenv("SCALE_CALLBACK_AUTH", "s3cret")
    tmp, truth, batches = odd_pool
    project = Project(_config(tmp / "ws", kind))
    items = batches[kind]
    round_id = project.start_round().round_id
    selection = pd.DataFrame(
        {
            "item_id": items,
            "rank": range(1, len(items) + 1),
            "utility": 0.5,
            "predicted_label": NAMES[::-1],
            "predicted_score": 0.4,
        }
    )
    project.ledger.record_selection(round_id, selection)
    export = Path(project.export(round_id)["uri"])
    answers = [(i, "label", truth[i], "alice") for i in items]
    if kind == "simulated":
        back = project.simulate_annotation(round_id)
    elif kind.startswith("file"):
        back = _filled_in(export, answers, tmp / f"{kind}-labels{export.suffix}")
    else:
        out = tmp / f"{kind}.return"
        back = vendor_returns.FUZZ_WRITERS[kind](export, answers, out, project.labels)
    report = project.import_labels(back)
    assert report.events_added == len(items)
    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert {i: resolved[i] for i in items} == {i: truth[i] for i in items}
    assert sorted(resolved[items]) == sorted(NAMES)


def _filled_in(export: Path, answers: list, out: Path) -> Path:
    """The exported batch with its ``label`` fields filled in, as annotators return it."""
    label = {i: lab for i, _, lab, _ in answers}
    if export.suffix == ".csv":
        frame = pd.read_csv(export, dtype=str, keep_default_na=False)
        frame["label"] = frame["item_id"].map(label)
        frame.to_csv(out, index=False)
        return out
    records = [json.loads(line) for line in export.read_text().splitlines()]
    out.write_text("".join(json.dumps({**r, "label": label[r["item_id"]]}) + "\n" for r in records))
    return out
