"""The ledger's and MLflow's consistency after any crash: one checker for every fault case."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from alflow.ledger.schema import AnnotationEvent, Export, Item, ResolvedLabel, Round, Selection
from alflow.project import Project

PICKED = ("selected", "exported", "labeled", "skipped", "needs_relabel")


@dataclass(frozen=True)
class Figures:
    """What the checker counted: the suite asserts duplicates and losses are zero."""

    duplicates: int  # items selected twice, rounds exported twice, annotations counted twice
    annotations_lost: int  # annotations in the imported files that the ledger does not hold
    events: int
    labels: int


def check_consistency(project: Project, labels_files: list[Path] = ()) -> Figures:
    """Assert every invariant of the ledger, the exports and the MLflow runs; return counts.

    - every selected item is in exactly one round, in the state its round reached;
    - each round is exported at most once, its file complete (sha256, rows, ids in rank order),
      and no second file (an unrecorded file of an unexported round is what a kill between
      writing and recording leaves: the rerun rewrites the same bytes and records it);
    - the ledger holds each distinct annotation of the imported files exactly once;
    - no resolved label without events, no labeled item without a resolved label;
    - each round has one live MLflow run (the ledger's); its other runs are FAILED.
    """
    problems: list[str] = []
    with project.ledger.transaction() as s:
        selected = s.execute(select(Selection.item_id, Selection.round_id)).all()
        items = {i.item_id: i for i in s.execute(select(Item)).scalars()}
        exports = s.execute(select(Export)).scalars().all()
        rounds = {r.id: r for r in s.execute(select(Round)).scalars()}
        events = s.execute(select(AnnotationEvent.event_key, AnnotationEvent.item_id)).all()
        labels = {r.item_id: r for r in s.execute(select(ResolvedLabel)).scalars()}
        per_round = dict(
            s.execute(select(Selection.round_id, func.count()).group_by(Selection.round_id)).all()
        )
        s.expunge_all()  # the rows stay readable after the transaction, as a snapshot

    picked_rounds: dict[str, list[int]] = {}
    for item_id, round_id in selected:
        picked_rounds.setdefault(item_id, []).append(round_id)
    twice = {i: r for i, r in picked_rounds.items() if len(r) > 1}
    duplicates = len(twice)
    problems += [f"item {i} selected in rounds {r}" for i, r in twice.items()]
    for item_id, item in items.items():
        if item.state in PICKED and picked_rounds.get(item_id) != [item.round_id]:
            problems.append(f"item {item_id} is {item.state} without its selection")
        if item.state == "unlabeled" and item_id in picked_rounds:
            problems.append(f"item {item_id} is selected but unlabeled")

    exported_rounds = [e.round_id for e in exports]
    duplicates += len(exported_rounds) - len(set(exported_rounds))
    for e in exports:
        data = Path(e.uri).read_bytes()
        if hashlib.sha256(data).hexdigest() != e.sha256:
            problems.append(f"round {e.round_id}: export file differs from its recorded sha256")
        ids = [json.loads(line)["item_id"] for line in data.splitlines()]
        batch = project.ledger.selection(e.round_id)["item_id"].tolist()
        if ids != batch or e.n_rows != len(batch):
            problems.append(f"round {e.round_id}: export rows are not the selection")
        if any(items[i].state == "selected" for i in batch):
            problems.append(f"round {e.round_id}: exported items still 'selected'")
    for r in rounds.values():
        if r.status in ("exported", "trained") and r.id not in exported_rounds:
            problems.append(f"round {r.id} is {r.status} without an export")
        if r.status != "open" and not per_round.get(r.id):
            problems.append(f"round {r.id} is {r.status} without a selection")
    out = project.ws.exports_dir
    files = {p.name for p in out.glob("round-*.jsonl")}
    recorded = {Path(e.uri).name for e in exports}
    if recorded - files:
        problems.append(f"recorded exports {sorted(recorded - files)} have no file")
    # a file written before a kill, not yet recorded: the rerun rewrites it (same bytes), once
    pending = {f"round-{r:04d}.jsonl" for r in rounds if r not in exported_rounds}
    if stray := files - recorded - pending:
        problems.append(f"export files {sorted(stray)} belong to no unexported round")

    keys = [k for k, _ in events]
    duplicates += len(keys) - len(set(keys))
    read = [
        a for f in labels_files for a in project.vendor.read_annotations(Path(f), project.labels)
    ]
    rounds_of = project.ledger.import_targets(a.item_id for a in read)
    expected = {a.event_key(project.vendor.name, rounds_of[a.item_id][1]) for a in read}
    lost = len(expected - set(keys))
    if set(keys) - expected:
        problems.append(f"{len(set(keys) - expected)} events come from no imported file")
    with_events = {i for _, i in events}
    problems += [f"label of {i} has no events" for i in labels if i not in with_events]
    problems += [
        f"item {i} is labeled without a resolved label"
        for i, item in items.items()
        if item.state == "labeled" and i not in labels
    ]

    tracker = project.tracker
    for r in rounds.values():
        runs = tracker.client.search_runs(
            [tracker.experiment_id], filter_string=f"tags.`alflow.round` = '{r.id}'"
        )
        live = [x.info.run_id for x in runs if x.info.status != "FAILED"]
        if live != [r.mlflow_run_id]:
            problems.append(f"round {r.id}: live runs {live}, ledger says {r.mlflow_run_id}")
        if r.status == "trained" and tracker.run_status(r.mlflow_run_id) != "FINISHED":
            problems.append(f"round {r.id} is trained but its run is not FINISHED")

    if duplicates:
        problems.append(f"{duplicates} duplicate selection(s), export(s) or event(s)")
    if lost:
        problems.append(f"{lost} annotation(s) of the imported files are not in the ledger")
    assert not problems, "\n".join(problems)
    return Figures(duplicates, lost, len(keys), len(labels))
