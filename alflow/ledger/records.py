"""Plain records the ledger hands out: no ORM row ever leaves its session."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

from alflow.ledger.states import RoundStatus

T = TypeVar("T")


def record(cls: type[T], row: Any) -> T:
    """The dataclass ``cls`` filled from the same-named attributes of an ORM row."""
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class EventRecord:
    """One annotation ready for the ledger (already validated against the schema)."""

    event_key: str
    item_id: str
    kind: str
    label: str | None
    annotator: str | None
    ref: str | None = None  # the vendor's annotation id: the newest event per ref counts
    at: datetime | None = None  # the vendor's time: supersession order (``alflow.labels.votes``)


@dataclass(frozen=True)
class RoundRecord:
    """A labeling round as the ledger last recorded it."""

    id: int
    status: RoundStatus
    strategy: str
    batch_size: int
    seed: int
    config_hash: str
    pool_hash: str | None
    model_uri: str | None
    model_version: str | None
    mlflow_run_id: str | None
    flow_run_id: str | None
    ingest_watermark: int | None
    created_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RoundStatus(self.status))


@dataclass(frozen=True)
class ExportRecord:
    """A batch handed to a vendor (at most one per round)."""

    id: int
    round_id: int
    vendor: str
    uri: str
    n_rows: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class StopRecord:
    """Why the campaign stopped, and after which round."""

    id: int
    reason: str
    round_id: int | None
    active: bool
    created_at: datetime
