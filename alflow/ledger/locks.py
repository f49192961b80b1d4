"""Named locks in the ledger, held by ``host:pid:token`` so a killed process's lock is stale."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, update

from alflow.errors import LockBusy
from alflow.ledger.schema import Lock, utcnow
from alflow.ledger.store import LedgerStore


def new_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process is gone (other hosts: unknown)."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LocksLedger(LedgerStore):
    """Locks that keep two rounds of one campaign from running at once."""

    def acquire_lock(self, name: str, wait_seconds: float = 0.0, poll: float = 0.5) -> str:
        """Take the lock ``name`` and return the holder token; a lock held by a dead process on
        this host is taken over. Waits up to ``wait_seconds``, then raises ``LockBusy`` naming
        the holder."""
        holder = new_holder()
        deadline = time.monotonic() + wait_seconds
        while True:
            taken, current = self._try_lock(name, holder)
            if taken:
                return holder
            if time.monotonic() >= deadline:
                who, since = current if current else ("?", "?")
                raise LockBusy(
                    f"{name} is held by {who} since {since}: "
                    "another round of this campaign is running; not starting a second one"
                )
            time.sleep(poll)

    def _try_lock(self, name: str, holder: str) -> tuple[bool, tuple[str, str] | None]:
        """One attempt: ``(taken, (current holder, since))``; a dead holder's lock is taken."""
        with self.transaction() as s:
            inserted = s.execute(
                self._insert_ignore(Lock.__table__).values(
                    name=name, holder=holder, acquired_at=utcnow()
                )
            ).rowcount
            if inserted:
                return True, None
            current = s.get(Lock, name)
            if current is None:
                return False, None
            if holder_is_dead(current.holder):
                took_over = s.execute(  # only one of several racing takers wins
                    update(Lock)
                    .where(Lock.name == name, Lock.holder == current.holder)
                    .values(holder=holder, acquired_at=utcnow())
                ).rowcount
                if took_over:
                    return True, None
            return False, (current.holder, current.acquired_at.isoformat())

    def release_lock(self, name: str, holder: str) -> None:
        with self.transaction() as s:
            s.execute(delete(Lock).where(Lock.name == name, Lock.holder == holder))

    @contextmanager
    def lock(self, name: str, wait_seconds: float = 0.0) -> Iterator[str]:
        """Hold the lock ``name`` for the block (see ``acquire_lock``)."""
        holder = self.acquire_lock(name, wait_seconds)
        try:
            yield holder
        finally:
            self.release_lock(name, holder)
