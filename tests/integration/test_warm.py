"""Warm commands (``flows.warm``): a heavy command runs in a fork of the warm server and behaves
as the process it replaces: its output, exit code, user errors, kills and signals; the server
stops without cutting a running command short."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from flows import warm
from tests.integration.test_cli_user_errors import (
    assert_one_clear_line,
    events,
    init_and_ingest,
    jsonl,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warm_dir() -> Path:
    """A socket folder of this module's own (short: a socket path has at most 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="aw-"))
    yield d
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(warm.DIR_ENV, str(d))
        warm.stop_servers()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, digits_frame):
    return init_and_ingest(tmp_path_factory.mktemp("warm"), digits_frame)


def start(cwd: Path, warm_dir: Path, *args: str, **env: str) -> subprocess.Popen:
    full = {**os.environ, warm.DIR_ENV: str(warm_dir), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def alflow(cwd: Path, warm_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The command run to its end; ``args`` of the result is the caller's pid."""
    proc = start(cwd, warm_dir, *args, **env)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.pid, proc.returncode, out, err)


def server(warm_dir: Path) -> psutil.Process:
    """The warm server listening in ``warm_dir``."""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "flows.warm_server" in cmd and any(str(warm_dir) in a for a in cmd):
            return p
    raise AssertionError(f"no warm server in {warm_dir}")


def command_child(warm_dir: Path, timeout: float = 120.0) -> psutil.Process:
    """The fork running a command, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = server(warm_dir).children()
        except AssertionError:
            kids = []  # the caller is still starting the server
        if kids:
            return kids[0]
        time.sleep(0.1)
    raise AssertionError("no command started in the warm server")


def gone(proc: psutil.Process, timeout: float = 10.0) -> bool:
    try:
        proc.wait(timeout=timeout)
    except psutil.TimeoutExpired:
        return False
    return True


def test_a_round_runs_in_a_fork_of_the_warm_server_with_the_same_result(workspace, warm_dir):
    stages = workspace / "stages.json"
    out = alflow(workspace, warm_dir, "round", ALFLOW_STAGES_FILE=str(stages))
    assert out.returncode == 0, out.stderr
    assert "round 1: selected 20 items" in out.stdout
    ran_in = json.loads(stages.read_text())["pid"]
    assert ran_in != out.args and server(warm_dir).pid != ran_in  # a fork, not the caller
    assert not psutil.pid_exists(ran_in) or psutil.Process(ran_in).status() == "zombie"
    # the same command in a process of its own, for comparison: the round is already out
    cold = alflow(workspace, warm_dir, "round", ALFLOW_WARM="0", ALFLOW_STAGES_FILE=str(stages))
    assert cold.returncode == 0, cold.stderr
    assert json.loads(stages.read_text())["pid"] != ran_in
    assert "round skipped" in cold.stdout or "round 2" in cold.stdout


def test_a_user_error_is_one_line_and_exit_2_through_the_warm_server(workspace, warm_dir):
    before = events(workspace)
    unknown = jsonl(workspace / "unknown.jsonl", [{"item_id": "nope", "label": "1"}])
    out = alflow(workspace, warm_dir, "import", str(unknown))
    assert_one_clear_line(out, "unknown item 'nope'", "unknown.jsonl:1")
    assert events(workspace) == before
    usage = alflow(workspace, warm_dir, "round", "--no-such-option")
    assert usage.returncode == 2 and "python -m flows.cli round" in usage.stderr


def test_a_crash_point_kills_the_caller_like_the_command(workspace, warm_dir):
    out = alflow(workspace, warm_dir, "round", ALFLOW_KILL_AT="after_scoring")
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr)


def test_a_killed_caller_takes_its_command_with_it(workspace, warm_dir):
    proc = start(workspace, warm_dir, "round", ALFLOW_LOCAL_SERVICES="0")
    child = command_child(warm_dir)
    proc.kill()
    proc.wait()
    assert gone(child), "the command outlived its killed caller"
    assert server(warm_dir).is_running()  # the server goes on serving


def test_ctrl_c_reaches_the_command(workspace, warm_dir):
    proc = start(workspace, warm_dir, "round", ALFLOW_LOCAL_SERVICES="0")
    child = command_child(warm_dir)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert gone(child)


def test_stopping_the_server_lets_a_running_command_finish(workspace, warm_dir):
    proc = start(workspace, warm_dir, "retrain", ALFLOW_LOCAL_SERVICES="0")
    child = command_child(warm_dir)
    srv = server(warm_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(warm.DIR_ENV, str(warm_dir))
        assert warm.stop_servers() == [srv.pid]
    assert not list(warm_dir.glob("*.sock"))  # no new command from now on
    _, err = proc.communicate(timeout=300)
    assert child.pid and "warm server stopped" not in err
    assert proc.returncode in (0, 2), err  # retrain's own answer, not a cut-off command
    assert gone(srv, 30)


def test_the_server_key_follows_the_code_and_pythons_start_variables(monkeypatch):
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    key = warm.server_key()
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    assert warm.server_key() != key
    monkeypatch.delenv("PYTHONHASHSEED")
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # set again in each fork: the same server
    assert warm.server_key() == key


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["round", "-c", "x.yaml"], True),
        (["-v", "round"], False),
        (["status"], False),
        (["--help"], False),
        (["import", "labels.jsonl", "--retrain"], True),
    ],
)
def test_which_commands_run_warm(argv, expected, monkeypatch):
    monkeypatch.delenv("ALFLOW_VERBOSE", raising=False)
    monkeypatch.delenv(warm.SWITCH, raising=False)
    assert warm.wanted(argv) is expected
    monkeypatch.setenv(warm.SWITCH, "0")
    assert warm.wanted(argv) is False
