"""Warm commands: ``alflow round`` and the other heavy commands run in a fork of a process that
has Prefect, MLflow, Dask and scikit-learn imported already.

Those imports cost 6-7 s of CPU in every command, more than a small round's work. The first
heavy command starts a *warm server* (``python -m flows.warm_server``, its own session, one per
Python environment and version of alflow's code), which imports them once and listens on a
Unix socket in a folder only this user can open. Each command then sends its arguments,
environment, working directory and its stdin, stdout and stderr (the file descriptors
themselves) to the server, which forks a child to run the command exactly as the process
would have: output goes straight to the caller's terminal or pipes, signals the caller gets are
passed on, the exit code (or the signal that ended the child) comes back, and when the caller
dies the child dies with it.

``ALFLOW_WARM=0`` (or ``-v``) runs every command in its own process as before. The server exits
after ``ALFLOW_WARM_IDLE_SECONDS`` (default 1800) without a command; a change to alflow's code
gives a new server. Nothing here imports anything heavy: this runs before the command does.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWITCH = "ALFLOW_WARM"
IDLE = "ALFLOW_WARM_IDLE_SECONDS"
DIR_ENV = "ALFLOW_WARM_DIR"
START = "ALFLOW_WARM_START_SECONDS"
COMMANDS = {"round", "import", "retrain", "ingest", "replay"}
# what Python reads once at start: a command with other values needs a server started with them
STARTUP_VARS = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONUSERBASE",
    "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONOPTIMIZE", "PYTHONUTF8",
)  # fmt: skip
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
CODE = [Path(__file__).resolve().parents[1] / pkg for pkg in ("alflow", "tasks", "flows")]


def command_of(argv: list[str]) -> str | None:
    """The command word of an ``alflow`` argument list (the first one not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def wanted(argv: list[str]) -> bool:
    """This command runs warm: a heavy one, not verbose, on a system with fork."""
    if os.environ.get(SWITCH, "1") == "0" or not hasattr(os, "fork"):
        return False
    if "-v" in argv or "--verbose" in argv or os.environ.get("ALFLOW_VERBOSE"):
        return False  # -v shows Prefect's INFO logs, configured when Prefect is imported
    return command_of(argv) in COMMANDS


def code_fingerprint() -> str:
    """The newest modification time of alflow's modules: a changed module means new servers
    (this one and the workspace's, ``flows.workspace_services``)."""
    return str(max(p.stat().st_mtime_ns for d in CODE for p in d.rglob("*.py")))


def server_key() -> str:
    """What a warm server must share with the command: the interpreter, alflow's code and the
    variables Python reads at start."""
    python_env = [os.environ.get(k) for k in STARTUP_VARS]
    blob = json.dumps([sys.executable, sys.prefix, code_fingerprint(), python_env])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def socket_dir() -> Path:
    """A folder only this user can open: the socket's permission check."""
    base = os.environ.get(DIR_ENV) or Path(tempfile.gettempdir()) / f"alflow-warm-{os.getuid()}"
    d = Path(base)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    if d.stat().st_uid != os.getuid() or d.stat().st_mode & 0o077:
        raise PermissionError(f"{d} must belong to this user alone (mode 700)")
    return d


def socket_path() -> Path:
    return socket_dir() / f"{server_key()}.sock"


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


def connect(path: Path) -> socket.socket | None:
    """A connection to the warm server at ``path``, starting it when none answers."""
    sock = _connect(path)
    if sock is not None:
        return sock
    with (path.with_suffix(".lock")).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one command starts the server; the others wait
        sock = _connect(path)
        if sock is not None:
            return sock
        path.unlink(missing_ok=True)
        proc = _start_server(path)
        deadline = time.monotonic() + float(os.environ.get(START, "180"))
        while time.monotonic() < deadline and proc.poll() is None:
            sock = _connect(path)
            if sock is not None:
                return sock
            time.sleep(0.05)
    return None


def stop_servers() -> list[int]:
    """Ask every warm server of this user to stop (each lets its running commands finish);
    the process ids of those that answered."""
    stopped = []
    for path in sorted(socket_dir().glob("*.sock")):
        sock = _connect(path)
        if sock is None:
            path.unlink(missing_ok=True)  # nothing listens: left by a server that was killed
            continue
        with sock, contextlib.suppress(OSError, ValueError, KeyError):
            sock.sendall(json.dumps({"stop": True}).encode() + b"\n")
            stopped.append(json.loads(sock.makefile("rb").readline())["pid"])
    return stopped


def _start_server(path: Path) -> subprocess.Popen:
    with path.with_suffix(".log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.warm_server", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal does not stop it
            cwd="/",
        )


def run_warm(argv: list[str], prog_name: str) -> int | None:
    """Run the command in a fork of the warm server; ``None`` when there is none to use (the
    caller then runs it itself). Returns the exit code; a child killed by a signal kills this
    process with the same signal."""
    try:
        sock = connect(socket_path())
    except OSError:
        return None
    if sock is None:
        return None
    request = {
        "argv": argv,
        "prog_name": prog_name,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
    }
    with sock:
        try:
            socket.send_fds(sock, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            reply = sock.makefile("rb")
            child = json.loads(reply.readline())["pid"]
        except (OSError, ValueError, KeyError):
            return None  # the server went away before it forked: run the command here
        with _forwarding(child):
            line = reply.readline()
    try:
        status = json.loads(line)
    except ValueError:
        sys.stderr.write(f"alflow: the warm server stopped during the command (child {child})\n")
        return 1
    if "signal" in status:
        _die_like(status["signal"])
    return int(status["exit"])


@contextlib.contextmanager
def _forwarding(pid: int):
    """Pass the signals this process gets on to the child."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _die_like(signum: int) -> None:
    """End as the child ended: killed by ``signum`` (the whole group when this leads one)."""
    sys.stdout.flush()
    sys.stderr.flush()
    if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler to reset
        signal.signal(signum, signal.SIG_DFL)
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signum)
    os.kill(os.getpid(), signum)
