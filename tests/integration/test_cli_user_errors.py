"""Every user error through the real CLI is one clear line and exit code 2: no traceback (not
even Prefect's failure logging), and the ledger unchanged. ``-v`` shows the trace."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.cli import app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def init_and_ingest(tmp: Path, digits_frame) -> Path:
    """``alflow init`` and 300 digits ingested in ``tmp`` (in this process: quick)."""
    pool = tmp / "pool.csv"
    digits_frame.iloc[:300].to_csv(pool, index=False)
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["init", "--config", "alflow.yaml"]).exit_code == 0
        assert runner.invoke(app, ["ingest", str(pool)]).exit_code == 0
    finally:
        os.chdir(cwd)
    return tmp


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, digits_frame):
    """``alflow init`` and the digits pool ingested, in a folder of its own."""
    return init_and_ingest(tmp_path_factory.mktemp("cli-errors"), digits_frame)


def alflow(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m flows.cli ARGS`` in ``cwd`` with this checkout importable and ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def events(ws: Path) -> tuple[int, int]:
    with sqlite3.connect(ws / "workspace" / "ledger.db") as db:
        return tuple(
            db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("annotation_events", "imports")
        )


def assert_one_clear_line(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, out.stderr
    assert out.stderr.count("error:") == 1, out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def patched_zip(path: Path, *, method: int | None = None, encrypted: bool = False) -> Path:
    """A zip with ``annotations.xml`` whose headers claim AES (method 99) or encryption."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("annotations.xml", "<annotations><version>1.1</version></annotations>")
    data = bytearray(buf.getvalue())
    for sig, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = data.index(sig)
        if encrypted:
            data[at + flag_at] |= 0x1
        if method is not None:
            data[at + method_at : at + method_at + 2] = method.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    return path


def test_input_errors_are_one_line_through_the_import_flow(workspace):
    before = events(workspace)
    unknown = jsonl(workspace / "u.jsonl", [{"item_id": "nope", "label": "1"}])
    assert_one_clear_line(alflow(workspace, "import", str(unknown)), "unknown item 'nope'")
    sur = workspace / "s.jsonl"
    sur.write_text('{"item_id": "d0001", "label": "1", "annotator": "\\ud800"}\n')
    assert_one_clear_line(alflow(workspace, "import", str(sur)), f"{sur}:1: annotator")
    nul = jsonl(workspace / "n.jsonl", [{"item_id": "d0001", "label": "1", "annotator": "a\0"}])
    assert_one_clear_line(alflow(workspace, "import", str(nul)), "NUL")
    flat = workspace / "min.json"
    flat.write_text(json.dumps([{"item_id": "d1", "annotator": 1, "annotation_id": 2}]))
    assert_one_clear_line(alflow(workspace, "import", str(flat)), "JSON_MIN")
    assert events(workspace) == before
    verbose = alflow(workspace, "-v", "import", str(unknown))
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr  # -v shows the trace


def test_a_missing_pool_file_is_one_line(workspace):
    before = events(workspace)
    assert_one_clear_line(
        alflow(workspace, "ingest", "gone.parquet"), "gone.parquet: file not found"
    )
    assert events(workspace) == before


@pytest.mark.parametrize(
    ("kwargs", "needle"), [({"encrypted": True}, "encrypted"), ({"method": 99}, "method 99")]
)
def test_unsupported_archives_are_one_line(workspace, kwargs, needle):
    before = events(workspace)
    path = patched_zip(workspace / f"cvat-{needle[:3]}.zip", **kwargs)
    out = alflow(workspace, "import", "--vendor", "cvat", str(path))
    assert_one_clear_line(out, needle)
    assert events(workspace) == before


def test_config_errors_and_a_full_disk_are_one_line(workspace):
    bad = workspace / "bad.yaml"
    bad.write_text("data:\n  labels: [a]\nstrategy:\n  nmae: margin\n")
    assert_one_clear_line(alflow(workspace, "status", "--config", str(bad)), "nmae")
    out = alflow(workspace, "audit", "rounds", "--csv", "/dev/full")
    assert_one_clear_line(out, "/dev/full: the disk is full")


def test_a_read_only_ledger_is_one_line(workspace):
    cfg = yaml.safe_load((workspace / "alflow.yaml").read_text())
    db = workspace / "workspace" / "ledger.db"
    cfg.setdefault("storage", {})["ledger_url"] = f"sqlite:///file:{db}?mode=ro&uri=true"
    ro = workspace / "ro.yaml"
    ro.write_text(yaml.safe_dump(cfg))
    before = events(workspace)
    labels = jsonl(workspace / "ok.jsonl", [{"item_id": "d0001", "label": "1"}])
    out = alflow(workspace, "import", "--config", str(ro), str(labels))
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "read-only" in out.stderr or "was never exported" in out.stderr, out.stderr
    assert events(workspace) == before


def test_a_locked_ledger_is_one_line(workspace):
    db = sqlite3.connect(workspace / "workspace" / "ledger.db", timeout=1)
    db.execute("BEGIN EXCLUSIVE")
    try:
        out = alflow(workspace, "import", "--weak", str(workspace / "none.csv"))
        weak = workspace / "weak.csv"
        weak.write_text("item_id,label,confidence\nd0000,0,0.9\n")
        out = alflow(workspace, "import", "--weak", str(weak), ALFLOW_LEDGER_BUSY_SECONDS="2")
    finally:
        db.rollback()
        db.close()
    assert_one_clear_line(out, "the ledger is locked")
