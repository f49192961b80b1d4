"""The ``alflow`` command as a user runs it."""

import os
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def test_help_does_not_load_heavy_libraries():
    code = (
        "import sys; from flows.cli import app; "
        "heavy = [m for m in ('prefect', 'mlflow', 'sklearn', 'dask', 'distributed') "
        "if m in sys.modules]; print(heavy); assert not heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_console_script_ends_with_the_command_code_after_its_exit_handlers(tmp_path):
    """``flows.cli.run`` skips the interpreter's teardown, never the exit handlers or output."""
    stages = tmp_path / "stages.json"
    env = {**os.environ, "ALFLOW_STAGES_FILE": str(stages)}
    cmd = [sys.executable, "-m", "flows.cli"]
    out = subprocess.run(
        [*cmd, "status", "-c", str(tmp_path / "none.yaml")], env=env, capture_output=True, text=True
    )
    assert out.returncode == 2 and "none.yaml" in out.stderr + out.stdout
    assert "exit_handlers_done" in stages.read_text()  # the handler registered first ran last
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "round" in out.stdout


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("init", "ingest", "round", "import", "retrain", "status", "demo"):
        assert cmd in result.output


def test_init_ingest_status_and_a_clear_error(tmp_path, digits_csv, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "--config", "alflow.yaml"])
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load((tmp_path / "alflow.yaml").read_text())
    assert cfg["project"] == "digits"
    assert (tmp_path / "workspace" / "ledger.db").exists()
    assert (tmp_path / "workspace" / "mlflow.db").exists()

    # the starter config names the digits columns (digit_id, px00..px63)
    result = runner.invoke(app, ["ingest", str(digits_csv[0])])
    assert result.exit_code == 0, result.output
    assert "read 1297 rows, added 1297 new items" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_text("digit_id,px00\nx,1\n")
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert "missing column(s)" in result.output and "Traceback" not in result.output

    weak = tmp_path / "weak.csv"
    weak.write_text("item_id,label,confidence\nd0000,0,0.9\nd0001,1,0.8\n")
    result = runner.invoke(app, ["import", "--weak", str(weak)])
    assert result.exit_code == 0, result.output
    assert "2 weak labels read (0 abstains left out), 2 new or changed" in result.output

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert "unlabeled" in result.output and "1297" in result.output
    assert "weak labels: 2" in result.output
    assert "champion: none yet" in result.output


def test_bad_config_names_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data:\n  labels: [a, b]\n  features: {kind: numeric, columns: [x]}\n"
        "strategy:\n  nmae: margin\n"
    )
    result = runner.invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert "strategy.nmae: unknown key" in result.output


def test_a_misspelt_strategy_parameter_is_one_line_with_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "data:\n  labels: [a, b]\n  features: {kind: numeric, columns: [x]}\n"
        "strategy:\n  name: margin_coreset\n  params:\n    top_factr: 3\n"
    )
    result = runner.invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: invalid configuration: {path}:7: strategy.params.top_factr: unknown key"
    ]


@pytest.mark.slow
def test_init_from_a_file_refuses_in_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "people.csv"
    rows = [f"{i},{20 + i % 40},{'ab'[i % 2]},u{i}@x.org,{'yn?'[i % 3]}" for i in range(50)]
    data.write_text("row,age,kind,email,y\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["init", "--from", str(data), "--label-column", "y"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    line = result.output
    assert "cannot classify 2 columns 'row' (consecutive integers 0..49" in line
    assert "--id-column row" in line and "--ignore email" in line
    assert "Traceback" not in result.output
    assert not (tmp_path / "alflow.yaml").exists() and not (tmp_path / "workspace").exists()
    (tmp_path / "alflow.yaml").write_text("# the user's own\n")
    result = runner.invoke(app, ["init", "--from", str(data), "--label-column", "y"])
    assert result.exit_code == 2 and "alflow.yaml exists" in result.output
    assert (tmp_path / "alflow.yaml").read_text() == "# the user's own\n"
