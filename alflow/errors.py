"""Errors that tell the user what is wrong and where (file, line or row, field)."""

from __future__ import annotations


class AlflowError(Exception):
    """Base class for every error alflow reports to a user."""


class ConfigError(AlflowError):
    """A configuration file or value is invalid."""


class InputError(AlflowError):
    """A user-supplied file or record is invalid; nothing was changed.

    ``problems`` lists every located problem found (capped), each already formatted as
    ``file:line: field: message``.
    """

    def __init__(self, summary: str, problems: list[str] | None = None) -> None:
        self.summary = summary
        self.problems = list(problems or [])
        shown = "\n".join(f"  - {p}" for p in self.problems[:20])
        more = len(self.problems) - 20
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{summary}\n{shown}{tail}" if self.problems else summary)


class NoAnnotations(InputError):
    """A vendor file without a single annotation (a full-state pull may legitimately be one)."""


class LedgerError(AlflowError):
    """The ledger refused a transition that would lose or double-count something."""


def located(
    source: str, line: int | None, field: str | None, message: str, unit: str = "line"
) -> str:
    """Format one problem as ``source:line: field: message`` (or ``source: row N: …``)."""
    if line is None:
        where = source
    else:
        where = f"{source}:{line}" if unit == "line" else f"{source}: row {line}"
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"


class LockBusy(AlflowError):
    """Another process holds the lock (e.g. a round of the same campaign is running)."""
