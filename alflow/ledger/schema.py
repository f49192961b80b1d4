"""The ledger's tables. Changes here need a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from alflow.ledger.states import (
    EventKind,
    ItemState,
    ModelLabelKind,
    RoundStatus,
    SelectionReason,
    check_sql,
)

# the CHECK constraints that hold each state column to its enum (migration 0007_state_checks)
STATE_CHECKS = {
    "items": ("ck_items_state", "state", ItemState),
    "rounds": ("ck_rounds_status", "status", RoundStatus),
    "selections": ("ck_selections_reason", "reason", SelectionReason),
    "annotation_events": ("ck_annotation_events_kind", "kind", EventKind),
    "model_labels": ("ck_model_labels_kind", "kind", ModelLabelKind),
}


def _check(table: str) -> CheckConstraint:
    name, column, states = STATE_CHECKS[table]
    return CheckConstraint(check_sql(column, states), name=name)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Ingest(Base):
    """One ingest of one source file."""

    __tablename__ = "ingests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(16))  # pool | eval
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_added: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Partition(Base):
    """A Parquet file of the pool (or of the evaluation set), registered when committed."""

    __tablename__ = "partitions"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    target: Mapped[str] = mapped_column(String(16))
    ingest_id: Mapped[int] = mapped_column(ForeignKey("ingests.id"))
    n_rows: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class Item(Base):
    """Every pool item and its one current state."""

    __tablename__ = "items"
    item_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    partition: Mapped[str] = mapped_column(ForeignKey("partitions.name"))
    content_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=ItemState.UNLABELED)
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (Index("ix_items_state", "state"), _check("items"))


class EvalItem(Base):
    """Items of a user-supplied evaluation set (never part of the pool)."""

    __tablename__ = "eval_items"
    item_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    partition: Mapped[str] = mapped_column(ForeignKey("partitions.name"))
    content_hash: Mapped[str] = mapped_column(String(64))


class Round(Base):
    """A labeling round: selection, export, labels back, retrain."""

    __tablename__ = "rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default=RoundStatus.OPEN)
    strategy: Mapped[str] = mapped_column(String(64))
    batch_size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    config_hash: Mapped[str] = mapped_column(String(64))
    pool_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ingest_watermark: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    __table_args__ = (_check("rounds"),)


class Selection(Base):
    """An item chosen in a round, with its rank and every score component."""

    __tablename__ = "selections"
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    utility: Mapped[float] = mapped_column(Float)
    components: Mapped[dict] = mapped_column(JSON)
    predicted_label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    predicted_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # strategy: the query strategy chose it; stream: a new item above the stream threshold;
    # control: the uniform random control slice
    reason: Mapped[str] = mapped_column(String(16), default="strategy", server_default="strategy")
    __table_args__ = (
        UniqueConstraint("round_id", "rank", name="uq_selection_rank"),
        _check("selections"),
    )


class Export(Base):
    """A batch handed to a vendor; at most one per round."""

    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), unique=True)
    vendor: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    n_rows: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Import(Base):
    """One labels file taken in (a second import of the same file adds no events)."""

    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    events_read: Mapped[int] = mapped_column(Integer)
    events_added: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationEvent(Base):
    """An annotation as it arrived: append-only, unique by its event key. A ``retract`` event
    withdraws the earlier versions of its ``annotation_ref`` (the vendor deleted it)."""

    __tablename__ = "annotation_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(128), unique=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"), index=True)
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(256), nullable=True)
    annotator: Mapped[str | None] = mapped_column(String(256), nullable=True)
    annotation_ref: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # when the vendor says the annotation was given or last changed (supersession order)
    event_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (_check("annotation_events"),)


class ResolvedLabel(Base):
    """The label used for training, derived from the events by the resolution policy."""

    __tablename__ = "labels"
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"), primary_key=True)
    label: Mapped[str] = mapped_column(String(256))
    n_events: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(32))
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Training(Base):
    """A model trained on the resolved labels, with its metrics and whether it became champion."""

    __tablename__ = "trainings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), unique=True)
    model_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    n_labels: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict] = mapped_column(JSON)
    promoted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelLabel(Base):
    """A label that did not come from a person, used for training only: never exported, never a
    human label, superseded by a human label for the same item.

    ``kind`` ``pseudo``: a confident prediction of our own model (CEAL); each round's set replaces
    the previous one. ``weak``: a label model's output (Snorkel-style) imported from a file, with
    its confidence; one per item, the newest import wins.
    """

    __tablename__ = "model_labels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), nullable=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.item_id"))
    label: Mapped[str] = mapped_column(String(256))
    confidence: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (
        UniqueConstraint("kind", "round_id", "item_id", name="uq_model_label"),
        Index("ix_model_labels_kind_item", "kind", "item_id"),
        _check("model_labels"),
    )


class Lock(Base):
    """A named lock (e.g. one campaign's rounds): held by ``host:pid:token`` until released."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CampaignStop(Base):
    """Why a campaign stopped (a stopping criterion, the budget, an empty pool); the latest
    active row holds, a resume deactivates it."""

    __tablename__ = "campaign_stops"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reason: Mapped[str] = mapped_column(Text)
    round_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
