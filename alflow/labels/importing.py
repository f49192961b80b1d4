"""Labels back from the vendor: pull them, validate a file against the ledger, append its events
exactly once; weak labels from a label model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alflow import faults
from alflow.context import ProjectContext
from alflow.errors import AlflowError, InputError, located
from alflow.labels.weak import read_weak_labels
from alflow.ledger import EventRecord
from alflow.vendors.base import source_sha256
from alflow.vendors.checked import read_checked


@dataclass(frozen=True)
class ImportReport:
    source: str
    events_read: int
    events_added: int
    items_resolved: int


@dataclass(frozen=True)
class WeakImportReport:
    source: str
    rows_read: int
    abstained: int
    weak_labels_changed: int


def pull_labels(ctx: ProjectContext) -> Path:
    """Download the vendor's current annotations into the imports folder (API vendors)."""
    vendor = ctx.vendor
    if not vendor.pulls_labels:
        raise AlflowError(
            f"vendor {vendor.name!r} does not pull labels from a server: "
            "give the labels file to import"
        )
    return vendor.pull(ctx.ws.imports_dir, ctx.labels)


def import_problems(path: str, annotations, targets: dict, exported: set, batches: dict) -> list:
    """One located message per annotation the ledger cannot take: an unknown item, an item never
    exported, or one its round's export did not contain (``targets``: item -> (state, round))."""
    problems = []
    for a in annotations:
        state = targets.get(a.item_id)
        batch = batches.get(a.round_id)
        if state is not None and a.round_id is not None and a.item_id not in (batch or ()):
            what = "was never exported" if batch is None else "did not contain it"
            message = (
                f"item {a.item_id!r} is not in round {a.round_id}'s export "
                f"(round {a.round_id} {what})"
            )
        elif state is None:
            message = f"unknown item {a.item_id!r} (not in the pool)"
        elif a.item_id not in exported:
            message = (
                f"item {a.item_id!r} was never exported "
                f"(state {state[0]}); labels only come back for exports"
            )
        else:
            continue
        problems.append(located(path, a.line, "item_id", message))
    return problems


def import_labels(ctx: ProjectContext, path: str | Path, full_state: bool = False) -> ImportReport:
    """Validate a labels file against the schema and the ledger, then append its events.
    ``full_state``: the file is a pull of everything the vendor has, so annotations missing
    from it are retracted (docs/vendors.md, vote rules)."""
    path = Path(path)
    if not (path.is_file() or path.is_dir()):
        raise InputError(f"{path}: file not found")
    ledger, vendor = ctx.ledger, ctx.vendor
    annotations = read_checked(vendor, path, ctx.labels, full_state)
    targets = ledger.import_targets(a.item_id for a in annotations)
    exported = ledger.exported_ids(targets)
    rounds = {a.round_id for a in annotations} - {None}
    batches = {r: ledger.exported_batch(r) for r in rounds}
    problems = import_problems(str(path), annotations, targets, exported, batches)
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was imported", problems)
    name = vendor.name
    events = [
        EventRecord(
            a.event_key(name, targets[a.item_id][1]),
            a.item_id,
            a.kind,
            a.label,
            a.annotator,
            a.ref(name),
            a.at,
        )
        for a in annotations
    ]
    added, resolved = ledger.record_import(
        source=str(path),
        sha256=source_sha256(path),
        events=events,
        resolver=ctx.policy,
        retract_missing=f"{name}:" if full_state else None,
    )
    faults.checkpoint("before_labeled_features")  # events committed, features not kept
    ctx.labeled_features.add(ledger.labeled_among(targets))  # a rerun adds what a kill missed
    if added:
        _log_agreement(ctx, {targets[a.item_id][1] for a in annotations} - {None})
    return ImportReport(str(path), len(events), added, resolved)


def _log_agreement(ctx: ProjectContext, round_ids: set[int]) -> None:
    """Inter-annotator agreement of each round that got new annotations, to its MLflow run."""
    for round_id in sorted(round_ids):
        agree = ctx.ledger.round_agreement(round_id)
        run_id = ctx.round_run_id(round_id)
        metrics = {
            "agreement.items": float(agree.items),
            "agreement.pairwise": agree.pairwise,
            "agreement.fleiss_kappa": agree.fleiss_kappa,
        }
        metrics = {k: v for k, v in metrics.items() if v is not None}
        if run_id is not None:
            ctx.tracker.log_metrics(run_id, metrics, step=round_id)


def import_weak_labels(ctx: ProjectContext, path: str | Path) -> WeakImportReport:
    """Store a label model's output as weak labels (all or nothing, idempotent)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    weak = read_weak_labels(path, ctx.labels, ctx.config.vendor.max_file_bytes)
    known = ctx.ledger.import_targets(weak.frame["item_id"])
    unknown = weak.frame[~weak.frame["item_id"].isin(known)]
    if len(unknown):
        raise InputError(
            f"{path}: {len(unknown)} problem(s); nothing was imported",
            [
                located(str(path), int(r.line), "item_id", f"unknown item {r.item_id!r}")
                for r in unknown.itertuples()
            ],
        )
    changed = ctx.ledger.record_weak_labels(
        weak.frame[["item_id", "label", "confidence"]], source=str(path)
    )
    return WeakImportReport(str(path), len(weak.frame), weak.abstained, changed)
