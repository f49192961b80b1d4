"""Crash points for fault-injection tests: ``ALFLOW_KILL_AT=<name>`` SIGKILLs the process there.

The kill is real (no cleanup, no exception handlers), so tests see exactly what a killed worker or
an out-of-memory kill leaves behind. A process that leads its own process group (a CLI started in
its own session, as the fault-injection suite does) takes the whole group down with it, like a
machine or a container dying: Prefect's ephemeral API server and the Dask workers die too.

Points: ``after_scoring``, ``after_selection``, ``mid_export`` (half the batch file written),
``after_export_file``, ``mid_import`` (half the events inserted, not committed),
``before_labeled_features`` (events committed, the labeled items' features not yet kept),
``mid_labeled_features`` (their file written, not renamed into place), ``after_fit``,
``after_register`` (model version registered, alias not moved, training not recorded).
"""

from __future__ import annotations

import os
import signal

ENV = "ALFLOW_KILL_AT"


def checkpoint(name: str) -> None:
    """Die here if the environment asks for it; otherwise do nothing."""
    if os.environ.get(ENV) != name:
        return
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
