"""A light stage timer: where a command's wall time goes.

``with stage("scoring pass"):`` adds the block's *exclusive* time (minus the stages nested in
it) to a per-process total, so the totals of one command add up to the time spent inside its
outermost stages. Cost: two ``perf_counter`` calls per stage. With ``ALFLOW_STAGES_FILE`` set,
``emit_at_exit`` writes the totals as JSON when the process exits (``benchmarks/round_e2e.py``
reads them); nothing is written otherwise.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

F = TypeVar("F", bound=Callable)

ENV = "ALFLOW_STAGES_FILE"
TOTALS: dict[str, float] = {}
_STACK: list[list[float]] = []  # per open stage: [start, time taken by nested stages]
_MARKS: dict[str, float] = {}


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as ``name`` (exclusive of nested stages)."""
    enter(name)
    try:
        yield
    finally:
        leave(name)


def enter(name: str) -> None:
    _STACK.append([time.perf_counter(), 0.0])


def leave(name: str) -> None:
    """Close the innermost stage and book it as ``name``."""
    if not _STACK:
        return
    start, nested = _STACK.pop()
    took = time.perf_counter() - start
    TOTALS[name] = TOTALS.get(name, 0.0) + took - nested
    if _STACK:
        _STACK[-1][1] += took


def mark(name: str) -> None:
    """Remember the wall-clock time (epoch seconds) of a point in the process."""
    _MARKS[name] = time.time()


def reset() -> None:
    """Forget every stage and mark: a forked process starts its own count."""
    TOTALS.clear()
    _STACK.clear()
    _MARKS.clear()


def _usage() -> dict[str, float]:
    """This process's CPU seconds and peak RSS so far (a forked command's own, not its
    caller's)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": u.ru_utime + u.ru_stime, "peak_rss_mb": u.ru_maxrss / 1024}


def emit_at_exit() -> None:
    """Write the totals and marks to ``$ALFLOW_STAGES_FILE`` when the process exits.

    Call it first thing: exit handlers run last-registered-first, so cluster shutdown (and any
    other handler registered later) is inside the ``exit`` span."""
    path = os.environ.get(ENV)
    if not path:
        return
    mark("command_start")

    def write() -> None:
        mark("exit_handlers_done")
        data = {"stages": TOTALS, "marks": _MARKS, "pid": os.getpid(), "usage": _usage()}
        with open(path, "w") as f:
            json.dump(data, f)

    atexit.register(write)


def timed(name: str) -> Callable[[F], F]:
    """A decorator: every call of the function is booked as stage ``name``."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def timed_call(*args, **kwargs):
            with stage(name):
                return fn(*args, **kwargs)

        return timed_call  # type: ignore[return-value]

    return wrap


def timed_methods(name: str) -> Callable[[type], type]:
    """A class decorator: every public method (and ``__init__``) is booked as stage ``name``."""

    def decorate(cls: type) -> type:
        for attr, fn in list(vars(cls).items()):
            if callable(fn) and (attr == "__init__" or not attr.startswith("_")):
                setattr(cls, attr, timed(name)(fn))
        return cls

    return decorate
