"""Flow runs without Prefect's heartbeat thread where nothing reads its heartbeats.

A flow run's exit waits for its heartbeat thread, which sleeps in 1 s steps: up to 1 s per flow
run, about a fifth of a steady `alflow round` on a small pool and a third of a simulated round.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

# the variables Prefect reads the heartbeat frequency from (prefect.settings.models.flows)
ASKED = ("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY")


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs started inside send no heartbeats."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def command_heartbeats():
    """For a command's own flow run: no heartbeats unless the environment asks for them. The
    command waits for its run and reports how it ended, and alflow's rerun-safe steps recover a
    run that died (docs/operations.md); served and worker runs keep Prefect's heartbeats."""
    return nullcontext() if any(os.environ.get(k) for k in ASKED) else without_heartbeats()
