"""Scheduling guards and the campaign's state: the round lock, the in-flight limit, the labels
inbox, the stop record and the status summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alflow.context import ProjectContext
from alflow.data.pool import file_sha256
from alflow.errors import LockBusy

UNFINISHED = ("open", "selected")


def round_lock(ctx: ProjectContext):
    """The campaign's round lock: two rounds of one campaign never overlap (any backend)."""
    return ctx.ledger.lock(_lock_name(ctx), ctx.config.schedule.lock_wait_seconds)


@dataclass(frozen=True)
class Admission:
    """Whether a round may start: the lock's holder token when it may (the caller releases it
    with ``release_round_lock``), or why it waits."""

    holder: str | None
    wait: str | None


def admit_round(ctx: ProjectContext, scheduled: bool) -> Admission:
    """Take the campaign's round lock, then check the in-flight limit and, for a ``scheduled``
    round, that the last round was trained on; a round that waits releases the lock. When
    another round keeps the lock past ``schedule.lock_wait_seconds``: ``LockBusy``, or for a
    ``scheduled`` round a wait."""
    lock = _lock_name(ctx)
    try:
        holder = ctx.ledger.acquire_lock(lock, ctx.config.schedule.lock_wait_seconds)
    except LockBusy as err:
        if not scheduled:
            raise
        return Admission(None, str(err))
    try:
        wait = in_flight_wait(ctx) or (untrained_wait(ctx) if scheduled else None)
    except BaseException:
        ctx.ledger.release_lock(lock, holder)
        raise
    if wait:
        ctx.ledger.release_lock(lock, holder)
        return Admission(None, wait)
    return Admission(holder, None)


def release_round_lock(ctx: ProjectContext, holder: str) -> None:
    """Give the round lock that ``admit_round`` took back."""
    ctx.ledger.release_lock(_lock_name(ctx), holder)


def _lock_name(ctx: ProjectContext) -> str:
    return f"rounds:{ctx.config.project}"


def in_flight_wait(ctx: ProjectContext) -> str | None:
    """Why a new round must wait for labels (``schedule.max_in_flight``), or None to go on.
    An unfinished round is always resumed."""
    limit = ctx.config.schedule.max_in_flight
    last = ctx.ledger.last_round_id()
    if limit is None or (last and ctx.ledger.get_round(last).status in UNFINISHED):
        return None
    in_flight, batch_size = ctx.ledger.in_flight_count(), ctx.config.campaign.batch_size
    if in_flight + batch_size <= limit:
        return None
    return (
        f"waiting for labels: {in_flight} item(s) exported and not labeled yet; a batch of "
        f"{batch_size} would exceed schedule.max_in_flight={limit}"
    )


def _trained(ctx: ProjectContext, round_id: int) -> bool:
    trainings = ctx.ledger.trainings()
    return bool(len(trainings) and round_id in set(trainings["round"]))


def untrained_wait(ctx: ProjectContext) -> str | None:
    """Why a scheduled round waits: the last exported round has no model trained on its
    labels yet (the next round should score with it). None to go on, and always with
    ``model.scoring_uri`` (the user retrains)."""
    last = ctx.ledger.last_exported_round_id()
    if last is None or ctx.config.model.scoring_uri or _trained(ctx, last):
        return None
    return f"waiting for round {last}'s labels to be imported and trained on"


def needs_training(ctx: ProjectContext) -> bool:
    """True when the last exported round has labels back but no model yet (e.g. a retrain
    that died after its import); never with ``model.scoring_uri``."""
    last = ctx.ledger.last_exported_round_id()
    if last is None or ctx.config.model.scoring_uri or _trained(ctx, last):
        return False
    return bool(ctx.ledger.round_summary().set_index("round").loc[last, "labeled_back"])


def inbox(ctx: ProjectContext) -> Path:
    """The folder polled for labels files (the simulated annotator drops its files here)."""
    folder = ctx.config.schedule.labels_inbox
    return Path(folder).expanduser() if folder else ctx.ws.imports_dir


def new_label_files(ctx: ProjectContext) -> list[Path]:
    """Labels files in the inbox whose content was never imported, oldest first (by
    modification time, then name: ``labels-10`` written after ``labels-9`` comes after it)."""
    folder = inbox(ctx)
    if not folder.is_dir():
        return []
    done = ctx.ledger.imported_sha256s()
    files = sorted(
        (p for p in folder.iterdir() if p.suffix in (".jsonl", ".csv")),
        key=lambda p: (p.stat().st_mtime_ns, p.name),
    )
    return [p for p in files if p.is_file() and file_sha256(str(p)) not in done]


def campaign_curve(ctx: ProjectContext) -> list[dict]:
    """Every training so far as the records the stopping criteria read."""
    return ctx.ledger.trainings().to_dict("records")


def record_stop(ctx: ProjectContext, reason: str) -> bool:
    """Record why the campaign stops (ledger + a tag on the last round's MLflow run)."""
    last = ctx.ledger.last_round_id()
    new = ctx.ledger.record_stop(reason, last)
    if new and last is not None:
        run_id = ctx.round_run_id(last)
        if run_id:
            ctx.tracker.set_tags(run_id, {"alflow.campaign_stopped": reason})
    return new
