"""The warm server (``python -m flows.warm_server <socket>``): imports the heavy commands' code
once, then forks one child per command sent over its Unix socket (see ``flows.warm``).

The server itself stays single-threaded and never runs a command, so every fork starts from the
same state: modules imported, nothing connected, no thread, no event loop. The child becomes
the command: its own session, the caller's stdin, stdout and stderr, environment, working
directory and arguments; then ``flows.cli`` runs as in a process of its own. The server reports
each child's exit status to its caller, and a child whose caller is gone kills itself (and its
process group), as the command would have died with its process.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from alflow import stages
from flows.cli import quiet_logs, run_here
from flows.warm import IDLE

PRELOAD = (  # flows.cli itself is imported above
    "flows.rounds",
    "flows.ingest",
    "alflow.project",
    "alflow.rounds.replay",
    "alflow.tracking.plots",
)
MAX_REQUEST = 1 << 22  # the arguments and environment of one command


def preload() -> dict[str, str]:
    """Import what the commands need; the environment variables those imports set (their
    defaults, which each child sets again over its caller's environment)."""
    before = dict(os.environ)
    quiet_logs(verbose=False)
    for name in PRELOAD:
        importlib.import_module(name)
    return {k: v for k, v in os.environ.items() if k not in before}


# ------------------------------------------------------------------------------- the server
def serve(path: Path) -> None:
    defaults = preload()
    if threading.active_count() != 1:  # a fork would copy a thread's locks, not the thread
        names = [t.name for t in threading.enumerate()]
        raise SystemExit(f"warm server: imports started threads {names}; not serving")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    listener.bind(str(tmp))
    listener.listen(64)
    tmp.replace(path)
    inode = path.stat().st_ino
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    last = time.monotonic()
    idle = float(os.environ.get(IDLE, "1800"))
    print(f"warm server {os.getpid()} on {path}", flush=True)
    stop: socket.socket | None = None
    while stop is None:
        for key, _ in sel.select(timeout=5.0):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                stop = _fork(conn, children, (listener, wake_r, wake_w), defaults) or stop
            else:
                os.read(wake_r, 4096)
        _reap(children)
        if children:
            last = time.monotonic()
        if time.monotonic() - last > idle or not _still_ours(path, inode):
            break
    # no new command from here; the running ones finish and hear how they ended
    if _still_ours(path, inode):
        path.unlink()
    sel.unregister(listener)
    listener.close()
    if stop is not None:  # whoever asked hears once the socket is gone
        with contextlib.suppress(OSError), stop:
            stop.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    while children:
        sel.select(timeout=5.0)
        with contextlib.suppress(BlockingIOError):
            os.read(wake_r, 4096)
        _reap(children)


def _still_ours(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _fork(
    conn: socket.socket, children: dict, inherited: tuple, defaults: dict
) -> socket.socket | None:
    """Run one request: fork its command; for ``{"stop": true}``, the connection to answer once
    the server stopped listening."""
    try:
        conn.settimeout(10.0)
        data, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
        while not data.endswith(b"\n"):
            more = conn.recv(MAX_REQUEST)
            if not more:
                raise OSError("the caller left before its request was complete")
            data += more
        request = json.loads(data)
        if request.get("stop"):
            return conn
        if len(fds) != 3:
            raise ValueError(f"{len(fds)} file descriptors, not stdin, stdout and stderr")
        conn.settimeout(None)
    except (OSError, ValueError) as e:
        print(f"warm server: bad request ({e})", flush=True)
        conn.close()
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            _become_command(conn, fds, request, inherited, defaults)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(70)  # the command returned into the server's code: never serve from here
    for fd in fds:
        os.close(fd)
    with contextlib.suppress(OSError):  # a caller gone already: the child sees it and ends
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    children[pid] = conn
    return None


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        reply = {"signal": -code} if code < 0 else {"exit": code}
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode() + b"\n")
        conn.close()


# ------------------------------------------------------------------------------- the child
def _become_command(
    conn: socket.socket, fds: list[int], request: dict, inherited: tuple, defaults: dict
) -> None:
    """Turn this fork into the caller's command, then run it (``flows.cli`` exits the
    process)."""
    os.setsid()
    listener, wake_r, wake_w = inherited
    signal.set_wakeup_fd(-1)
    listener.close()
    os.close(wake_r)
    os.close(wake_w)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
    sys.argv = list(request["argv"])
    sys.path[0] = request["path0"]
    _std_streams()
    _die_with_caller(conn)
    _fresh_state()
    run_here(prog_name=request["prog_name"])


def _std_streams() -> None:
    """New ``sys.std*`` on the caller's descriptors, buffered as Python buffers them at start."""
    unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
    encoding = os.environ.get("PYTHONIOENCODING", "").split(":")[0] or sys.stdout.encoding

    def wrap(fd: int, mode: str, errors: str, line: bool) -> io.TextIOWrapper:
        raw = io.FileIO(fd, mode, closefd=False)
        buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
        return io.TextIOWrapper(
            buffered,
            encoding=encoding,
            errors=errors,
            line_buffering=line or raw.isatty(),
            write_through=unbuffered and mode == "w",
        )

    sys.stdin = sys.__stdin__ = wrap(0, "r", "strict", False)
    sys.stdout = sys.__stdout__ = wrap(1, "w", "strict", False)
    sys.stderr = sys.__stderr__ = wrap(2, "w", "backslashreplace", True)


def _die_with_caller(conn: socket.socket) -> None:
    """A thread that kills this command (and what it started) once its caller is gone."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while conn.recv(1024):
                pass
        os.killpg(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="alflow-warm-caller", daemon=True).start()


def _fresh_state() -> None:
    """What a new process would not share with its siblings: NumPy's global random state and
    the stage timer."""
    np.random.seed()
    stages.reset()


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
