"""Crash points for fault-injection tests: ``ALFLOW_KILL_AT=<name>`` SIGKILLs the process there.

The kill is real (no cleanup, no exception handlers), so tests see exactly what a killed worker or
an out-of-memory kill leaves behind.
"""

from __future__ import annotations

import os
import signal

ENV = "ALFLOW_KILL_AT"


def checkpoint(name: str) -> None:
    """Die here if the environment asks for it; otherwise do nothing."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
