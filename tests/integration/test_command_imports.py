"""Read-only commands stay light: what ``alflow status``, ``audit`` and ``--help`` import."""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import make_config

HEAVY = ("prefect", "dask", "distributed", "mlflow", "sklearn", "faiss")


def modules_after(args: list[str], cwd) -> list[str]:
    """Run the CLI with ``args`` in a fresh interpreter; the heavy modules it imported."""
    code = (
        "import json, sys\n"
        "from flows.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def config_file(tmp_path):
    cfg = make_config(tmp_path / "ws")
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


def test_help_imports_nothing_heavy(tmp_path):
    assert modules_after(["--help"], tmp_path) == []


@pytest.mark.parametrize("command", [["status"], ["audit", "rounds"]])
def test_read_only_commands_import_neither_prefect_dask_nor_mlflow(tmp_path, config_file, command):
    assert modules_after([*command, "-c", str(config_file)], tmp_path) == []


@pytest.mark.parametrize("command", [["status"], ["labels", "export", "labels.csv"]])
def test_a_scoring_uri_config_is_validated_without_mlflow(tmp_path, command):
    cfg = make_config(tmp_path / "ws", model={"scoring_uri": "models:/fraud@champion"})
    path = tmp_path / "alflow.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    assert modules_after([*command, "-c", str(path)], tmp_path) == []
