"""Every fenced shell block in README.md and docs/ is either run here, offline, in a scratch
folder with the digits pool, or skipped for a stated reason (a server, a vendor's tool, a
benchmark, the test suite itself). A new block must be classified, so none goes stale unseen."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from alflow.config import DEFAULT_STRATEGY
from flows.cli_campaign import demo
from tests.conftest import ROOT, require_dataset

BLOCK = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)
BIN = Path(sys.executable).parent

# block (file: its first command, cut at 72 characters) -> why it is not run here
SKIP = {
    "README.md: python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]": (
        "runs this test suite itself; CI's .ci/run does exactly this"
    ),
    "README.md: .venv/bin/mlflow ui --backend-store-uri sqlite:///alflow-demo": (
        "starts the MLflow UI server and waits for a browser"
    ),
    "docs/benchmarks.md: DS=spambase,satimage,mushroom,wine_quality,pendigits": (
        "the broad suite: about 80 min of benchmark on 2 cores"
    ),
    "docs/benchmarks.md: python benchmarks/label_efficiency.py --seeds 5 --jo": (
        "a benchmark (hours on 2 cores), not a test"
    ),
    "docs/benchmarks.md: nice -n 10 python benchmarks/label_efficiency.py --d": (
        "a benchmark (an hour on a loaded machine), not a test"
    ),
    "docs/benchmarks.md: python benchmarks/scale.py --rows 1000000 --dim 128": (
        "the 1M/10M-row scale benchmark (minutes to an hour, ~5 GB of Parquet)"
    ),
    "docs/benchmarks.md: python benchmarks/round_e2e.py --rows 10000 --reps 5": (
        "a benchmark (five timed rounds), not a test"
    ),
    "docs/operations.md: alflow round": (
        "starts the workspace's service daemon (tests/integration/test_workspace_services.py)"
    ),
    "docs/operations.md: alflow ingest pool.csv && alflow ingest test.csv --e": (
        "alflow serve runs until the campaign stops (tests/integration/test_serve.py)"
    ),
    "docs/operations.md: prefect server start --host 127.0.0.1 &": (
        "a Prefect server, work pool and worker (tests/integration/test_serve.py)"
    ),
    "docs/operations.md: alflow ingest todays-items.csv": (
        "needs its section's stream config and seven rounds of labels"
    ),
    'docs/operations.md: eval "$(infra/ci/postgres.sh start)"': "runs the fault-injection tests",
    'docs/operations.md: eval "$(infra/ci/postgres.sh start)" #2': (
        "runs the ledger and tracking tests on PostgreSQL"
    ),
    "docs/configuration.md: alflow round": (
        "needs a model registered in the project's MLflow (tests/integration/test_scoring_uri.py)"
    ),
    "docs/vendors.md: alflow round": (
        "a CSV annotators filled in (the file vendor's round trip: test_vendor_round_trips.py)"
    ),
    "docs/vendors.md: alflow round #2": "an Argilla server and its SDK",
    "docs/vendors.md: export ARGILLA_API_KEY=...": "an Argilla server",
    "docs/vendors.md: alflow round #3": "AWS S3 and a SageMaker Ground Truth job",
    "docs/vendors.md: alflow import export.ndjson": "a Labelbox export file",
    "docs/vendors.md: export SCALE_CALLBACK_AUTH=...": "Scale's saved callbacks",
    "docs/vendors.md: alflow round #4": "the Prodigy CLI (a paid licence)",
    "docs/vendors.md: alflow import task_7_annotations.zip": (
        "a CVAT task export (tests/integration/test_cvat_round.py)"
    ),
    "docs/vendors.md: alflow import --weak weak.csv [--retrain]": (
        "a label model's weak labels (tests/integration/test_labels_back.py)"
    ),
    "docs/vendors.md: export LABEL_STUDIO_API_KEY=…": (
        "a Label Studio server (tests/integration/test_label_studio.py)"
    ),
    "docs/vendors.md: alflow round #5": "a Label Studio config (test_label_studio.py)",
    "docs/vendors.md: alflow import ~/Downloads/project-3-at-2026-11-22-10-15": (
        "a file downloaded from a Label Studio server"
    ),
}
# single commands inside a block that is run, with why they are left out
SKIP_COMMAND = {
    "alflow serve": "runs until the campaign stops (tests/integration/test_serve.py)",
}
DEMO = "README.md: python3 -m venv .venv && .venv/bin/pip install -q -e . && .ve"
WALK = "README.md: python -c \"import pandas as pd; pd.read_csv('../shared/datase"
DOWNLOAD = "docs/operations.md: MLFLOW_TRACKING_URI=sqlite:///workspace/mlflow.db ml"
DEMO_ROUNDS = inspect.signature(demo).parameters["rounds"].default  # `alflow demo`'s default
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "  # this venv is that venv


def blocks() -> dict[str, str]:
    """``file: first command`` (``#2``... when repeated) -> the block's text, for every shell
    block of README.md and docs/."""
    out: dict[str, str] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for m in BLOCK.finditer(path.read_text()):
            first = " ".join(commands(m.group(1))[0].split())
            key = f"{path.relative_to(ROOT)}: {first}"[:72].rstrip()
            n = sum(k.split(" #")[0] == key for k in out)
            out[f"{key} #{n + 1}" if n else key] = m.group(1)
    return out


def commands(block: str) -> list[str]:
    """The block's commands: continuations joined, comments and output lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    out = []
    for line in joined.splitlines():
        line = line.removeprefix("$ ")
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            out.append(command)
    return out


def test_every_shell_block_is_run_or_skipped_for_a_reason():
    found = set(blocks())
    assert set(SKIP) <= found, f"stale entries: {sorted(set(SKIP) - found)}"
    assert found - set(SKIP) == set(RUN), (
        f"unclassified blocks: {sorted(found - set(SKIP) - set(RUN))}"
    )


def run(command: str, cwd: Path, api: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PREFECT_API_URL": api}
    command = command.replace(".venv/bin/", f"{BIN}/")
    out = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, f"{command!r} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _label_round(cwd: Path, truth: pd.Series, round_id: int) -> None:
    """Annotators answer the round's export from Adult's true labels, as the README's CSV."""
    export = cwd / "workspace" / "exports" / f"round-{round_id:04d}.jsonl"
    ids = [json.loads(line)["item_id"] for line in export.read_text().splitlines()]
    labels = pd.DataFrame({"item_id": ids, "label": truth[ids].to_numpy()})
    labels.assign(annotator="ann1").to_csv(cwd / f"labels-round-{round_id}.csv", index=False)


def _getting_started(tmp_path: Path, _frame: pd.DataFrame, api: str) -> None:
    """README's worked example on Adult, in a folder next to ``shared`` as a checkout is."""
    datasets = require_dataset("adult").parent
    (tmp_path / "shared").symlink_to(datasets.parent, target_is_directory=True)
    cwd = tmp_path / "checkout"
    cwd.mkdir()
    first_item = truth = None
    for command in commands(blocks()[WALK]):
        if command in SKIP_COMMAND:
            continue
        label_file = re.match(r"alflow import labels-round-(\d+)\.csv", command)
        if label_file:
            _label_round(cwd, truth, int(label_file.group(1)))
        if "<item_id>" in command:
            first_item = (
                first_item
                or json.loads(
                    (cwd / "workspace/exports/round-0001.jsonl").read_text().splitlines()[0]
                )["item_id"]
            )
            command = command.replace("<item_id>", first_item)
        out = run(command.replace("<version>", "1"), cwd, api)
        if command.startswith("python -c"):
            adult = pd.read_csv(cwd / "adult.csv", dtype=str, keep_default_na=False)
            truth = adult.set_index("person")["ltgt50k"]
        if command.startswith("alflow replay"):
            assert "identical" in out.lower(), out
        if command.startswith("alflow status"):
            assert "champion: version 1" in out, out
    _artifact_download(cwd, api)


def _artifact_download(tmp_path: Path, api: str) -> None:
    """operations.md's download of a round's report, from the README walk's workspace."""
    from alflow.ledger import Ledger

    ledger = Ledger(f"sqlite:///{tmp_path / 'workspace' / 'ledger.db'}")
    run_id = ledger.get_round(1).mlflow_run_id
    ledger.close()
    for command in commands(blocks()[DOWNLOAD]):
        run(command.replace("<run>", run_id), tmp_path, api)
    assert (tmp_path / "report.html").stat().st_size > 1000


def _demo(tmp_path: Path, _frame: pd.DataFrame, api: str) -> None:
    """README's first command: both campaigns run, each round a finished MLflow run, a champion
    registered for each, the learning curve drawn."""
    (command,) = commands(blocks()[DEMO])
    assert command.startswith(SETUP)  # the venv this test runs in is that venv
    out = run(command.removeprefix(SETUP), tmp_path, api)
    default, ws = DEFAULT_STRATEGY, tmp_path / "alflow-demo"
    assert "labels" in out and default in out and "random" in out
    assert (ws / "learning_curve.png").stat().st_size > 10_000
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name in (f"digits-{default}", "digits-random"):
        runs = client.search_runs([client.get_experiment_by_name(name).experiment_id])
        assert len(runs) == DEMO_ROUNDS and {r.info.status for r in runs} == {"FINISHED"}
        assert client.get_model_version_by_alias(f"{name}-model", "champion").version


RUN = {
    DEMO: _demo,
    WALK: _getting_started,
    DOWNLOAD: _getting_started,  # run at the end of the README walk, in its workspace
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [DEMO, WALK], ids=["demo", "getting-started"])
def test_documented_commands_run(tmp_path, digits_frame, prefect_api, name):
    RUN[name](tmp_path, digits_frame, prefect_api)
