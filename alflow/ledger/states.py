"""The ledger's closed vocabularies, as string enums (a state compares equal to its text)."""

from __future__ import annotations

from enum import StrEnum


class ItemState(StrEnum):
    """Where a pool item is in its life: in the pool, in a batch, or labeled."""

    UNLABELED = "unlabeled"
    SELECTED = "selected"
    EXPORTED = "exported"
    LABELED = "labeled"
    SKIPPED = "skipped"
    NEEDS_RELABEL = "needs_relabel"


class RoundStatus(StrEnum):
    """How far a labeling round got: opened, batch chosen, handed to a vendor, retrained."""

    OPEN = "open"
    SELECTED = "selected"
    EXPORTED = "exported"
    TRAINED = "trained"


class EventKind(StrEnum):
    """What an annotation event says: a vote, an adjudicated ground truth, a skip, or the
    retraction of an annotation the vendor no longer has (``alflow.labels.votes``)."""

    LABEL = "label"
    GROUND_TRUTH = "ground_truth"
    SKIP = "skip"
    RETRACT = "retract"


class ModelLabelKind(StrEnum):
    """Labels that did not come from a person: our model's pseudo-labels, or weak labels."""

    PSEUDO = "pseudo"
    WEAK = "weak"


class SelectionReason(StrEnum):
    """Why an item joined a batch: the strategy, the stream threshold, the control slice."""

    STRATEGY = "strategy"
    STREAM = "stream"
    CONTROL = "control"


IN_FLIGHT = (ItemState.SELECTED, ItemState.EXPORTED)
UNFINISHED_ROUND = (RoundStatus.OPEN, RoundStatus.SELECTED)


def check_sql(column: str, states: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint that holds ``column`` to the values of ``states``."""
    values = ", ".join(f"'{s.value}'" for s in states)
    return f"{column} IN ({values})"
