"""Fault injection: the ``alflow`` CLI SIGKILLed at every step boundary of a round, then rerun.

One campaign per database backend goes through every kill point in order, each crash followed by
a rerun of the same command (which may itself be killed at the next point), so the state a kill
leaves behind is also what the next attempt resumes from. After every kill and every rerun the
ledger, the export files and the MLflow runs are checked by ``check_consistency``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alflow.config import load_config
from alflow.data.pool import join
from alflow.project import Project
from tests.conftest import make_config
from tests.integration.invariants import check_consistency

pytestmark = pytest.mark.slow

ROUND_KILLS = ["after_scoring", "after_selection", "mid_export", "after_export_file"]
IMPORT_KILLS = ["mid_import", "after_fit", "after_register"]
BATCH = 12


def alflow(
    config: Path, *args: str, api: str, kill_at: str | None = None
) -> subprocess.CompletedProcess:
    """Run the CLI in its own session (a process group it leads); afterwards end the group.

    With ``kill_at`` the process SIGKILLs its group at that point (``alflow.faults``), so the
    Dask workers die with it; the flow run it leaves on the Prefect API at ``api`` stays as
    ``Running``, as after a real crash. Output goes to files: a killed process's children would
    otherwise hold the pipes open.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_API_URL": api}
    env.pop("ALFLOW_KILL_AT", None)
    if kill_at:
        env["ALFLOW_KILL_AT"] = kill_at
    out, err = config.parent / "stdout.txt", config.parent / "stderr.txt"
    cmd = [sys.executable, "-m", "flows.cli", *args, "--config", str(config)]
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(cmd, env=env, stdout=fo, stderr=fe, start_new_session=True)
        try:
            code = proc.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, code, out.read_text(), err.read_text())


def killed(config: Path, *args: str, api: str, at: str) -> None:
    result = alflow(config, *args, api=api, kill_at=at)
    assert result.returncode == -signal.SIGKILL, f"not killed at {at}: {result.stderr[-2000:]}"


def succeeded(config: Path, *args: str, api: str) -> str:
    result = alflow(config, *args, api=api)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def round_runs(project: Project, round_id: int) -> dict[str, str]:
    """``run_id -> status`` of a round's MLflow runs."""
    t = project.tracker
    runs = t.client.search_runs([t.experiment_id], f"tags.`alflow.round` = '{round_id}'")
    return {r.info.run_id: r.info.status for r in runs}


def labels_file(project: Project, round_id: int) -> Path:
    """The simulated answers plus a second annotator on every third item (several events)."""
    answers = project.simulate_annotation(round_id)
    lines = answers.read_text().splitlines()
    seconds = [json.dumps({**json.loads(line), "annotator": "second"}) for line in lines[::3]]
    path = answers.with_name(f"round-{round_id:04d}.two-annotators.jsonl")
    path.write_text("\n".join([*lines, *seconds]) + "\n")
    return path


def write_config(tmp_path: Path, databases) -> Path:
    """The digits config as YAML, its ledger and MLflow store on the backend under test."""
    config = make_config(
        Path("ws"),
        project="faults",
        campaign={"batch_size": BATCH},
        storage=databases.storage(),
    )
    raw = config.model_dump(mode="json") | {"storage": databases.storage()}  # JSON hides passwords
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def config_file(tmp_path, digits_csv, databases):
    """``write_config`` with the digits pool and evaluation set ingested."""
    path = write_config(tmp_path, databases)
    project = Project(load_config(path))
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")
    return path


def test_an_ingest_killed_after_a_partition_adds_each_row_once_on_rerun(
    tmp_path, digits_csv, databases, prefect_api
):
    path = write_config(tmp_path, databases)  # 250-row chunks into >= 300-row partitions
    killed(path, "ingest", str(digits_csv[0]), api=prefect_api, at="mid_ingest")
    project = Project(load_config(path))
    assert project.ledger.state_counts() == {} and project.ledger.partitions() == []
    out = succeeded(path, "ingest", str(digits_csv[0]), api=prefect_api)
    assert "1297" in out.replace(",", "")
    names = [name for name, _ in project.ledger.partitions()]
    assert len(names) == 3  # 500, 500 and 297 rows: the kill came after the first
    ids = pd.concat(
        pd.read_parquet(join(project.ws.pool_url, name), columns=["item_id"]) for name in names
    )["item_id"]
    assert len(ids) == ids.nunique() == 1297
    assert project.ledger.state_counts() == {"unlabeled": 1297}
    again = succeeded(path, "ingest", str(digits_csv[0]), api=prefect_api)
    assert project.ledger.state_counts() == {"unlabeled": 1297}, again


def test_a_round_survives_a_kill_at_every_step(config_file, databases, prefect_api):
    project = Project(load_config(config_file))
    figures = []

    # --- labeling round: each rerun is killed at the next point, the last one completes
    for at in ROUND_KILLS:
        killed(config_file, "round", api=prefect_api, at=at)
        figures.append(check_consistency(project))
        assert project.ledger.export_of(1) is None  # every kill came before the export record
        if at == "after_scoring":
            assert project.ledger.selection(1).empty
            [stored] = (project.ws.root / "scores").iterdir()
            stamp = (stored / "summary.json").stat().st_mtime_ns
    out = succeeded(config_file, "round", api=prefect_api)
    assert f"round 1: selected {BATCH} items" in out
    figures.append(check_consistency(project))
    # the scores computed before the first kill were reused, never recomputed
    assert [p.name for p in (project.ws.root / "scores").iterdir()] == [stored.name]
    assert (stored / "summary.json").stat().st_mtime_ns == stamp
    run_id = project.ledger.get_round(1).mlflow_run_id
    _, tags = project.tracker.run_state(run_id)
    assert tags["alflow.scores"] == "reused" and tags["alflow.scores_key"] == stored.name
    runs = round_runs(project, 1)
    assert sorted(runs.values()) == ["FAILED"] * len(ROUND_KILLS) + ["RUNNING"]
    assert runs[run_id] == "RUNNING"  # open until the round's retrain
    assert not list(project.ws.exports_dir.glob(".*"))  # the killed writer's temp file is gone
    assert project.ledger.state_counts() == {"unlabeled": 1297 - BATCH, "exported": BATCH}
    assert project.tracker.client.list_artifacts(run_id, "export")  # the manifest is logged
    assert "selected_batch.csv" in {a.path for a in project.tracker.client.list_artifacts(run_id)}

    # --- import + retrain: killed mid-import, after the fit, after registration
    labels = labels_file(project, 1)
    for at in IMPORT_KILLS:
        killed(config_file, "import", str(labels), "--retrain", api=prefect_api, at=at)
        figures.append(check_consistency(project, [labels] if at != "mid_import" else []))
        if at == "mid_import":
            assert project.ledger.event_count() == 0  # the open transaction was rolled back
        assert project.ledger.trainings().empty
    out = succeeded(config_file, "import", str(labels), "--retrain", api=prefect_api)
    assert "0 new" in out  # the last rerun found every annotation already imported
    final = check_consistency(project, [labels])
    figures.append(final)
    n_lines = len(labels.read_text().splitlines())
    assert final.events == n_lines and final.labels == BATCH
    run_id = project.ledger.get_round(1).mlflow_run_id
    runs = round_runs(project, 1)
    assert runs[run_id] == "FINISHED"
    assert sorted(runs.values()) == ["FAILED"] * (len(ROUND_KILLS) + 2) + ["FINISHED"]
    [training] = project.ledger.trainings().to_dict("records")
    assert project.tracker.champion()[0] == training["model_version"]
    # the version registered before the "after_register" kill stays; the new run made its own
    assert int(training["model_version"]) == 2

    # --- the next round scores with the champion and excludes round 1
    succeeded(config_file, "round", api=prefect_api)
    figures.append(check_consistency(project, [labels]))
    assert project.ledger.get_round(2).model_version == training["model_version"]
    assert not set(project.ledger.selection(2)["item_id"]) & set(
        project.ledger.selection(1)["item_id"]
    )

    kills = len(ROUND_KILLS) + len(IMPORT_KILLS)
    summary = {
        "backend": databases.backend,
        "kills": kills,
        "steps": ROUND_KILLS + IMPORT_KILLS,
        "checks": len(figures),
        "duplicates": sum(f.duplicates for f in figures),
        "annotations_lost": final.annotations_lost,
        "events": final.events,
    }
    print(f"\nfault-injection summary: {json.dumps(summary)}")
    assert summary["duplicates"] == 0 and summary["annotations_lost"] == 0
