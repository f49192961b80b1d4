"""Adult from its raw files through the CLI with no hand edits: ``alflow init --from`` names the
label column, then ingest, three rounds labeled through the file vendor from the true labels,
``import --retrain``, a champion, audit and replay. Real engines: a LocalCluster, Prefect's
API (the test harness), MLflow and the ledger on SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alflow.data.pool import read_partition
from flows.cli import app
from tests.conftest import require_dataset

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
ROWS = 2_000
runner = CliRunner()


def adult_csv(dest: Path, rows: int) -> Path:
    """A header CSV of Adult's first ``rows`` records: names from adult.names, fields trimmed
    (the raw file separates them with ', '), ``?`` gaps and ``<=50K``/``>50K`` kept as they are."""
    folder = require_dataset("adult")
    names = [
        line.split(":")[0].replace("-", "_")
        for line in (folder / "adult.names").read_text().splitlines()
        if ":" in line and not line.startswith("|")
    ]
    raw = pd.read_csv(
        folder / "adult.data",
        skipinitialspace=True,
        dtype=str,
        keep_default_na=False,
        header=0,  # this copy has a header line; the names come from adult.names all the same
        names=[*names, "ltgt50k"],
        nrows=rows,
    )
    path = dest / "adult.csv"
    raw.to_csv(path, index=False)
    return path


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"alflow {' '.join(args)}:\n{result.output}"
    return result.output


def label_round(ws: Path, round_id: int, dest: Path) -> Path:
    """Annotators answer the round's export with the true labels (the pool's truth column)."""
    truth = pd.concat(
        read_partition(str(p), ["item_id", "truth"]).to_pandas()
        for p in sorted((ws / "pool").glob("*.parquet"))
    ).set_index("item_id")["truth"]
    export = ws / "exports" / f"round-{round_id:04d}.jsonl"
    ids = [json.loads(line)["item_id"] for line in export.read_text().splitlines()]
    path = dest / f"labels-{round_id}.csv"
    pd.DataFrame({"item_id": ids, "label": truth[ids].to_numpy(), "annotator": "ann1"}).to_csv(
        path, index=False
    )
    return path


def test_adult_from_the_raw_file_through_three_rounds(tmp_path, monkeypatch, dask_client):
    source = adult_csv(tmp_path, ROWS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALFLOW_LOCAL_SCHEDULER", dask_client.scheduler.address)
    out = cli("init", "--from", str(source), "--label-column", "ltgt50k")
    assert "kind tabular from 6 numeric, 8 categorical column(s); 2 labels" in out
    written = (tmp_path / "alflow.yaml").read_text()
    cfg = yaml.safe_load(written)
    assert cfg["data"]["labels"] == ["<=50K", ">50K"]
    assert "workclass" in cfg["data"]["features"]["categorical"]
    assert "categorical: 7 distinct values in 2,000 sampled rows, 123 gaps ('?')" in written

    assert f"read {ROWS} rows, added {ROWS} new items" in cli("ingest", str(source))
    ws = tmp_path / "workspace"
    for r in (1, 2, 3):
        assert f"round {r}: selected 20 items" in cli("round")
        out = cli("import", str(label_round(ws, r, tmp_path)), "--retrain")
        assert "20 annotations read, 20 new, 20 items resolved" in out
        assert f"model version {r} on" in out
    status = cli("status")
    assert "labeled   │    60" in status and "unlabeled │  1940" in status
    assert "champion: version" in status and "champion: none yet" not in status

    cli("audit", "rounds", "--csv", "rounds.csv")
    rounds = pd.read_csv(tmp_path / "rounds.csv")
    assert rounds["status"].tolist() == ["trained"] * 3
    assert rounds["labeled_back"].tolist() == [20, 20, 20]
    first = json.loads((ws / "exports" / "round-0003.jsonl").read_text().splitlines()[0])
    item = cli("audit", "item", first["item_id"])
    assert first["item_id"] in item and ("<=50K" in item or ">50K" in item), item
    assert "replay identical (20 items" in cli("replay", "3")
    assert (tmp_path / "alflow.yaml").read_text() == written  # no edit anywhere
