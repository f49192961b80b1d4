"""A round killed (SIGKILL) after selection, or after writing the export file, then rerun."""

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alflow.config import load_config
from alflow.project import Project
from tests.conftest import make_config

pytestmark = pytest.mark.slow


def alflow(config: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """Run the CLI in its own session; afterwards end whatever it left behind.

    A SIGKILLed process cannot stop its children: Prefect's ephemeral API server outlives it
    (the Dask workers exit by themselves), so output goes to files, not pipes they would hold.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
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


@pytest.fixture
def config_file(tmp_path, digits_csv):
    """The tests' digits config as a YAML file with a workspace relative to it."""
    config = make_config(Path("ws"), project="crash", campaign={"batch_size": 12})
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    Project(load_config(path)).ingest(str(digits_csv[0]))
    return path


@pytest.mark.parametrize("kill_at", ["after_selection", "after_export_file"])
def test_killed_round_reruns_without_double_selection_or_export(config_file, kill_at):
    killed = alflow(config_file, "round", kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    project = Project(load_config(config_file))
    first = project.ledger.selection(1)
    assert len(first) == 12
    assert project.ledger.export_of(1) is None  # died before the export was recorded
    assert project.ledger.state_counts()["selected"] == 12

    rerun = alflow(config_file, "round")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "round 1: selected 12 items" in rerun.stdout
    second = project.ledger.selection(1)
    assert second["item_id"].tolist() == first["item_id"].tolist()
    assert project.ledger.state_counts() == {"unlabeled": 1297 - 12, "exported": 12}
    export = project.ledger.export_of(1)
    data = Path(export.uri).read_bytes()
    assert hashlib.sha256(data).hexdigest() == export.sha256
    assert [json.loads(line)["item_id"] for line in data.splitlines()] == first["item_id"].tolist()
    assert len(list(Path(export.uri).parent.glob("round-*.jsonl"))) == 1

    nxt = alflow(config_file, "round")  # round 2 excludes round 1's items
    assert nxt.returncode == 0, nxt.stderr[-2000:]
    assert not set(project.ledger.selection(2)["item_id"]) & set(first["item_id"])
