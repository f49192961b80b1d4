"""The ``alflow`` command line: the app, its options and its commands (in ``flows/cli_*.py``).

Heavy libraries load inside commands, so ``--help`` and the read-only commands are quick."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Annotated

import typer

from alflow import stages
from flows import cli_campaign, cli_rounds, cli_workspace
from flows.audit_cli import audit_app
from flows.labels_cli import labels_app

app = typer.Typer(
    name="alflow",
    help="Active-learning labeling rounds: score a pool on Dask, pick the batch worth labeling, "
    "export it to annotators, take labels back, retrain, and audit everything in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


COMMANDS = (
    ("init", cli_workspace.init),
    ("ingest", cli_workspace.ingest),
    ("round", cli_rounds.round_),
    ("import", cli_rounds.import_),
    ("retrain", cli_rounds.retrain),
    ("status", cli_workspace.status),
    ("stop", cli_workspace.stop),
    ("serve", cli_campaign.serve),
    ("replay", cli_rounds.replay),
    ("demo", cli_campaign.demo),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)
app.add_typer(audit_app, name="audit")
app.add_typer(labels_app, name="labels")


def quiet_logs(verbose: bool) -> None:
    """Prefect, MLflow and Dask log every step at INFO; the CLI shows warnings unless -v."""
    import logging

    level = "INFO" if verbose else "WARNING"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    # Prefect's embedded API gets 20 s to start by default; a busy machine needs longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    for name in ("distributed", "alembic"):
        logging.getLogger(name).setLevel(level)
    if not verbose:  # Prefect's own API database, cancelled at shutdown: not the user's error
        logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").setLevel("CRITICAL")


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's logs and errors' traces.")
    ] = False,
) -> None:
    stages.emit_at_exit()
    if verbose:
        os.environ["ALFLOW_VERBOSE"] = "1"
    quiet_logs(verbose)


def run() -> None:
    """The ``alflow`` console script: a heavy command runs in a fork of the warm server
    (``flows.warm``) when one can be had, any other here."""
    from flows import warm

    if warm.wanted(sys.argv[1:]):
        code = warm.run_warm(sys.argv, _prog_name())
        if code is not None:
            os._exit(code)
    run_here()


def _prog_name() -> str:
    """The name ``--help`` and usage errors show: ``alflow`` or ``python -m flows.cli``."""
    package = getattr(sys.modules["__main__"], "__package__", None)
    if not package:
        return os.path.basename(sys.argv[0])
    return f"python -m {package}.{os.path.splitext(os.path.basename(sys.argv[0]))[0]}"


def run_here(prog_name: str | None = None) -> None:
    """Run the command in this process: the command, its exit handlers, then ``os._exit``.

    Once Prefect, MLflow, Dask and scikit-learn are loaded, the interpreter's own teardown (some
    3,000 modules freed one by one) comes after everything the command does and took 0.25 s
    against 9 s on a busy machine; threads and exit handlers still finish as they would.
    """
    try:
        app(prog_name=prog_name)
        code: object = 0
    except SystemExit as done:
        code = done.code
    # the interpreter's own order: threading's exit hooks (which stop the thread pools' workers),
    # then a join of every non-daemon thread; joining first waits forever on an idle pool worker
    threading._shutdown()
    atexit._run_exitfuncs()
    if isinstance(code, str):
        sys.stderr.write(f"{code}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else int(code is not None))


if __name__ == "__main__":  # pragma: no cover
    run()
