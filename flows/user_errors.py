"""What the CLI tells a user about an error that is theirs to fix: one line, no traceback.

``one_line`` maps alflow's own errors and the environment's (a full disk, a read-only
workspace, a locked ledger) to a message; ``quiet_expected_failures`` keeps Prefect from
logging a traceback for them (``-v`` shows everything).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import traceback

import typer
from rich.console import Console
from rich.markup import escape

from alflow.errors import AlflowError

_OS_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_DB_ERRORS = {
    "database is locked": "the ledger is locked by another process; try again when it is done",
    "readonly database": "the ledger is read-only (the workspace cannot be written)",
    "unable to open database file": "the ledger cannot be opened (a missing or read-only "
    "workspace folder?)",
    "disk i/o error": "the ledger could not be written (disk full or failing?)",
    "database or disk is full": "the disk is full: the ledger could not be written",
}


def _cause_chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def one_line(err: BaseException) -> str | None:
    """The user's message for ``err``, or None when it is a bug (the trace is then shown)."""
    for e in _cause_chain(err):
        if isinstance(e, AlflowError):
            return str(e)
        if isinstance(e, OSError) and e.errno in _OS_ERRORS:
            where = f"{e.filename}: " if e.filename else ""
            return f"{where}{_OS_ERRORS[e.errno]}; nothing was changed"
        text = str(e).lower()
        for needle, message in _DB_ERRORS.items():
            if needle in text and type(e).__name__ in ("OperationalError", "DatabaseError"):
                return f"{message}; nothing was changed"
        if isinstance(e, UnicodeError):
            return f"not valid text: {e}; nothing was changed"
    return None


class _DropExpected(logging.Filter):
    """Drops Prefect's failure records (and their tracebacks) for user errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            return one_line(record.exc_info[1]) is None
        msg = record.getMessage()
        return not ("Failed(" in msg or "encountered an exception" in msg) or not any(
            name in msg for name in _user_error_names()
        )


def _user_error_names() -> set[str]:
    names, todo = set(), [AlflowError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names | {"OperationalError", "PermissionError", "UnicodeEncodeError"}


def quiet_expected_failures() -> None:
    """Filter every Prefect handler (and the root's) so user errors log no traceback."""
    quiet = _DropExpected()
    loggers = [logging.getLogger(), logging.getLogger("prefect")]
    loggers += [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("prefect")
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if quiet.__class__ not in {type(f) for f in handler.filters}:
                handler.addFilter(quiet)


def fail(err: Exception | str) -> None:
    # soft_wrap: a message is never broken across lines (it names files and lines)
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
    )
    raise typer.Exit(2)


def guard(fn):
    """Turn user errors (alflow's own, a full disk, a read-only workspace, a locked ledger)
    into one clear line and exit code 2; ``-v`` also prints the trace. Bugs keep theirs."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            message = one_line(err)
            if message is None:
                raise
            if os.environ.get("ALFLOW_VERBOSE"):
                traceback.print_exc()
            fail(message)

    return wrapper
