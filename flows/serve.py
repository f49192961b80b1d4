"""``alflow serve``: the campaign's deployments served until SIGINT (Ctrl-C) or SIGTERM.

Prefect's scheduler runs in a Prefect server, not in the ephemeral API, so when no
``PREFECT_API_URL`` is set ``alflow serve`` starts one itself (``prefect server start`` on
127.0.0.1, a free port, its database under ``<workspace>/prefect``) and stops it on exit: no
server to start by hand. With ``PREFECT_API_URL`` set it serves against that server instead.

This process only supervises: the Prefect runner (``flows.serve_runner``: the deployments, their
flow runs and the flow runs' Dask clusters) and the server run in sessions of their own, so a
Ctrl-C in the terminal reaches this process alone and it stops them in order: the runner (and
everything it started) while the API still answers, then the server. Exit code 0 after SIGTERM,
130 after SIGINT.

The first round is on the clock from launch, so this process starts the server before anything
heavy loads: it imports only the config and ``psutil`` at the top, the ledger (SQLAlchemy,
pandas: 1-3 s) once the server is starting, and never ``alflow.project`` (scikit-learn, MLflow,
Dask: that is the runner's and the flow runs' business).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from alflow.config import AlflowConfig
from alflow.workspace import Workspace
from flows.local_services import server_process, stop_tree, wait_healthy

if TYPE_CHECKING:
    from alflow.ledger import StopRecord

RUNNER_GRACE = 5.0  # seconds; with the server's 3 s within the 10 s a stop may take


class Stopped(Exception):
    """SIGINT or SIGTERM arrived."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def runner(config_path: Path, paused: bool, own_server: bool) -> Iterator[subprocess.Popen]:
    """``flows.serve_runner`` in a session of its own; stopped with all it started."""
    env = {**os.environ, "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    cmd = [sys.executable, "-m", "flows.serve_runner", str(config_path.resolve())]
    flags = [*(["--paused"] if paused else []), *(["--own-server"] if own_server else [])]
    proc = subprocess.Popen(
        [*cmd, *flags],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop_tree(proc, RUNNER_GRACE, signal.SIGINT)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Stopped`` once; a second one during the stop is ignored."""

    def handler(signum: int, _frame) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


def serve(config_path: Path, config: AlflowConfig, resume: bool = False) -> int:
    """Serve the campaign's deployments until a signal; the exit code. A stopped campaign is
    served paused (and says why) unless ``resume`` clears its stop."""
    try:
        with stop_on_signals(), ExitStack() as stack:
            url, server = os.environ.get("PREFECT_API_URL"), None
            home = Workspace.from_config(config).root / "prefect"
            if not url:  # a server of our own, starting while the ledger opens and the runner
                url, server = stack.enter_context(server_process(home, own_session=True))
                os.environ["PREFECT_API_URL"] = url  # the runner and its flow runs inherit it
            stop = _campaign_stop(config, resume)
            paused = stop is not None
            proc = stack.enter_context(runner(config_path, paused, own_server=server is not None))
            wait_healthy("prefect server", f"{url}/health", server, home / "server.log")
            print(f"serving {config.project} on the Prefect API at {url}", flush=True)
            if code := proc.wait():
                print(f"alflow serve: the Prefect runner exited with code {code}", file=sys.stderr)
            return code
    except Stopped as sig:
        print(f"alflow serve: stopped on {sig}", flush=True)
        return 130 if sig.signum == signal.SIGINT else 0


def _campaign_stop(config: AlflowConfig, resume: bool) -> StopRecord | None:
    """The campaign's recorded stop (said on stdout), after clearing it when ``resume``."""
    from alflow.handles import Stores  # deferred: the server starts while this loads

    ledger = Stores(config).ledger
    if resume:
        ledger.clear_stop()
    stop = ledger.active_stop()
    if stop is not None:
        print(f"campaign {config.project} stopped: {stop.reason} (alflow serve --resume to go on)")
    return stop
