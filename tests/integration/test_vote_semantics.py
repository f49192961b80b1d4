"""The vote rules on real SQLite and PostgreSQL ledgers (docs/vendors.md, "Vote rules"): one vote
per annotator per item and round, the newest answer by the vendor's time wins whatever the import
order (also for two processes importing at once), full-state pulls retract, and every malformed
input is one clear refusal that leaves the ledger unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from alflow.errors import InputError
from alflow.project import Project
from tests import vendor_returns
from tests.conftest import DIGIT_COLUMNS, make_config

N_ITEMS = 20
ROUND = 1
ROOT = Path(__file__).resolve().parents[2]


def items() -> list[str]:
    return [f"d{i:04d}" for i in range(N_ITEMS)]


def project_for(databases, tmp_path: Path, **sections) -> Project:
    return Project(make_config(tmp_path / "ws", storage=databases.storage(), **sections))


@pytest.fixture
def seeded(databases, tmp_path):
    """Round 1 exported (20 items) on the database under test; returns a project factory."""
    project = project_for(databases, tmp_path)
    led = project.ledger
    pool = pd.DataFrame({"digit_id": items(), **dict.fromkeys(DIGIT_COLUMNS, 0), "digit": 0})
    pool.to_csv(tmp_path / "pool.csv", index=False)  # imports keep the items' pool features
    project.ingest(str(tmp_path / "pool.csv"))
    r = led.open_round(strategy="margin", batch_size=N_ITEMS, seed=0, config_hash="c")[0].id
    assert r == ROUND
    led.record_selection(r, batch_frame())
    led.record_export(r, vendor="file", uri="f", n_rows=N_ITEMS, sha256="s")

    def make(**sections) -> Project:
        return project_for(databases, tmp_path, **sections)

    yield make
    led.close()


def batch_frame() -> pd.DataFrame:
    ids = items()
    frame = pd.DataFrame(
        {
            "item_id": ids,
            "rank": range(1, len(ids) + 1),
            "utility": [0.5] * len(ids),
            "predicted_label": ["1"] * len(ids),
            "predicted_score": [0.6] * len(ids),
        }
    )
    for c in DIGIT_COLUMNS:
        frame[c] = 0
    return frame


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def state(project: Project) -> tuple[dict, dict]:
    """(resolved labels, item states) of the round's items."""
    labels = dict(project.ledger.resolved_labels().values)
    states = {i: project.ledger.import_targets([i])[i][0] for i in items()}
    return labels, states


def refused(project: Project, path: Path, *needles: str) -> str:
    before = (project.ledger.event_count(), project.ledger.import_count())
    with pytest.raises(InputError) as err:
        project.import_labels(path)
    text = str(err.value)
    for needle in needles:
        assert needle in text, text
    assert (project.ledger.event_count(), project.ledger.import_count()) == before
    return text


# ------------------------------------------------------------------------------- identity
def test_duplicated_lines_and_files_are_one_vote(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 2})
    rows = [{"item_id": i, "label": "3", "annotator": "ann"} for i in items()[:11]]
    one = jsonl(tmp_path / "once.jsonl", rows + rows[:4])  # 4 lines repeated
    assert project.import_labels(one).events_added == 11
    twice = tmp_path / "twice.jsonl"
    twice.write_text(one.read_text() * 2)  # the file concatenated with itself
    assert project.import_labels(twice).events_added == 0
    assert project.ledger.event_count() == 11
    labels, states = state(project)
    assert labels == {} and states["d0000"] == "exported"  # one annotator is one vote
    other = jsonl(tmp_path / "b.jsonl", [{"item_id": "d0000", "label": "4", "annotator": "b"}])
    project.import_labels(other)
    assert state(project)[1]["d0000"] == "needs_relabel"  # 1 vs 1, not 2 vs 1


def test_anonymous_duplicates_are_one_vote_and_answers_differ(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 2})
    rows = [{"item_id": "d0001", "label": "5"}] * 3
    assert project.import_labels(jsonl(tmp_path / "a.jsonl", rows)).events_added == 1
    assert state(project)[1]["d0001"] == "exported"


def test_a_re_answer_by_the_same_annotator_supersedes(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 1})
    first = [{"item_id": "d0002", "label": "5", "annotator": "ann"}]
    project.import_labels(jsonl(tmp_path / "1.jsonl", first))
    second = [{"item_id": "d0002", "label": "6", "annotator": "ann"}]
    project.import_labels(jsonl(tmp_path / "2.jsonl", second))
    assert state(project)[0]["d0002"] == "6"  # no time: import order


# --------------------------------------------------------------------------- supersession
def timed(label: str, at: str, who: str = "ann", item: str = "d0003") -> dict:
    return {"item_id": item, "label": label, "annotator": who, "labeled_at": at}


def test_the_vendors_time_wins_over_import_order(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 1})
    newer = jsonl(tmp_path / "labels-10.jsonl", [timed("7", "2026-11-22T10:00:00Z")])
    older = jsonl(tmp_path / "labels-9.jsonl", [timed("2", "2026-11-22T09:00:00+00:00")])
    project.import_labels(newer)
    project.import_labels(older)  # late file: the older answer does not replace the newer
    assert state(project)[0]["d0003"] == "7"


def test_label_studio_updated_at_decides(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 1}, vendor={"kind": "label-studio"})
    ann = vendor_returns.ls_annotation

    def export(path, annotation):
        task = {"id": 1, "data": {"item_id": "d0004", "round": ROUND}, "annotations": [annotation]}
        path.write_text(json.dumps([task]) + "\n")
        return path

    edited = ann(5, "8", uid="u-5", updated="2026-11-22T12:00:00Z")
    original = ann(5, "1", uid="u-5", updated="2026-11-22T08:00:00Z")
    project.import_labels(export(tmp_path / "new.json", edited))
    project.import_labels(export(tmp_path / "old.json", original))
    assert state(project)[0]["d0004"] == "8"


def test_the_inbox_is_imported_oldest_file_first(seeded, tmp_path):
    project = seeded()
    inbox = project.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    nine = jsonl(inbox / "labels-9.jsonl", [timed("1", "2026-11-22T09:00:00Z")])
    ten = jsonl(inbox / "labels-10.jsonl", [timed("2", "2026-11-22T10:00:00Z")])
    os.utime(nine, (1_000, 1_000))
    os.utime(ten, (2_000, 2_000))
    assert project.new_label_files() == [nine, ten]


CONCURRENT = """
import sys
from alflow.config import load_config
from alflow.project import Project
Project(load_config(sys.argv[1])).import_labels(sys.argv[2])
"""


def test_two_processes_importing_at_once_give_the_serial_result(seeded, tmp_path, databases):
    project = seeded(resolution={"min_votes": 2})
    config = tmp_path / "alflow.yaml"
    raw = project.config.model_dump(mode="json") | {"storage": databases.storage()}
    config.write_text(json.dumps(raw))  # the URLs with their passwords (dumps redact them)
    files = []
    for n, (hour, who_first) in enumerate([(9, "a"), (10, "b")]):
        rows = []
        for k, item in enumerate(items()):
            label = str((k + n) % 10)  # the two files disagree on every item
            for who in (who_first, "c"):
                rows.append(timed(label, f"2026-11-22T{hour:02d}:{k:02d}:00Z", who, item))
        files.append(jsonl(tmp_path / f"f{n}.jsonl", rows))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT, str(config), str(f)], env=env)
        for f in reversed(files)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    # serially in time order: a (9h) and c (9h, then 10h) and b (10h): file 1's label wins 2:1
    expected = {item: str((k + 1) % 10) for k, item in enumerate(items())}
    assert state(project)[0] == expected
    assert project.ledger.event_count() == 4 * N_ITEMS


# ---------------------------------------------------------------------------- retraction
def ls_export(path: Path, annotations: dict[str, list[dict]]) -> Path:
    tasks = [
        {"id": n, "data": {"item_id": item, "round": ROUND}, "annotations": anns}
        for n, (item, anns) in enumerate(annotations.items(), start=1)
    ]
    path.write_text(json.dumps(tasks) + "\n")
    return path


def test_a_full_state_pull_retracts_what_disappeared(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 1}, vendor={"kind": "label-studio"})
    ann = vendor_returns.ls_annotation
    both = {
        "d0005": [ann(1, "3", user=1, uid="u1"), ann(2, "3", user=2, uid="u2")],
        "d0006": [ann(3, "4", user=1, uid="u3")],
    }
    project.import_labels(ls_export(tmp_path / "p1.json", both), full_state=True)
    assert state(project)[0] == {"d0005": "3", "d0006": "4"}
    later = {"d0005": [ann(2, "3", user=2, uid="u2")], "d0006": []}
    rep = project.import_labels(ls_export(tmp_path / "p2.json", later), full_state=True)
    assert rep.events_added == 2  # two retraction events, appended
    labels, states = state(project)
    assert labels == {"d0005": "3"} and states["d0006"] == "exported"  # back to waiting
    again = project.import_labels(ls_export(tmp_path / "p3.json", later), full_state=True)
    assert again.events_added == 0
    # a file import (not a full-state pull) never retracts
    project.import_labels(ls_export(tmp_path / "f.json", {"d0006": [ann(9, "5", uid="u9")]}))
    assert state(project)[0]["d0006"] == "5"


def test_the_audit_says_which_events_count(seeded, tmp_path):
    """``Ledger.annotations()`` and ``alflow audit item`` keep every event and mark the ones
    that count: a superseded answer names its successor, a retracted one its retraction."""
    files = seeded(resolution={"min_votes": 1})
    newer, older = timed("7", "2026-11-22T10:00:00Z"), timed("2", "2026-11-22T09:00:00Z")
    also = timed("7", "2026-11-22T08:00:00Z", "b")  # annotator b agrees: a vote of its own
    files.import_labels(jsonl(tmp_path / "new.jsonl", [newer, also]))
    files.import_labels(jsonl(tmp_path / "old.jsonl", [older]))  # late, and older
    ls = seeded(resolution={"min_votes": 1}, vendor={"kind": "label-studio"})
    ann = vendor_returns.ls_annotation
    pulled = {"d0011": [ann(1, "4", user=1, uid="u1"), ann(2, "5", user=2, uid="u2")]}
    ls.import_labels(ls_export(tmp_path / "p1.json", pulled), full_state=True)
    pulled["d0011"] = pulled["d0011"][1:]  # annotation 1 deleted in Label Studio
    ls.import_labels(ls_export(tmp_path / "p2.json", pulled), full_state=True)

    events = ls.ledger.annotations()
    d3 = events[events["item_id"] == "d0003"].fillna({"by": 0})
    ids = {(a, label): int(e) for e, a, label in d3[["event", "annotator", "label"]].values}
    standing = {
        (a, label): (st, by)
        for a, label, st, by in d3[["annotator", "label", "status", "by"]].values
    }
    assert standing == {
        ("ann", "7"): ("counts", 0),
        ("b", "7"): ("counts", 0),
        ("ann", "2"): ("superseded", ids["ann", "7"]),
    }
    d11 = events[events["item_id"] == "d0011"]
    assert sorted(d11["status"]) == ["counts", "retracted", "retraction"]
    retraction = d11[d11["status"] == "retraction"]["event"].tolist()
    assert d11[d11["status"] == "retracted"][["label", "by"]].values.tolist() == [
        ["4", *retraction]
    ]
    labels = ls.ledger.resolved_labels().set_index("item_id")
    assert labels.loc["d0003", "label"] == "7" and labels.loc["d0011", "label"] == "5"

    history = ls.ledger.item_history("d0003")
    assert history["resolved"]["events"] == 2  # the superseded answer is not a third vote
    assert [(a["label"], a["status"], a["by"]) for a in history["annotations"]] == [
        ("7", "counts", None),
        ("7", "counts", None),
        ("2", "superseded", ids["ann", "7"]),
    ]
    assert history["annotations"][2]["given_at"].startswith("2026-11-22T09:00")


# ---------------------------------------------------------------------- strict parsing
@pytest.mark.parametrize(
    ("value", "kind"), [("false", "label"), ("true", "skip"), (False, "label"), (True, "skip")]
)
def test_label_studio_booleans_are_booleans(seeded, tmp_path, value, kind):
    project = seeded(resolution={"min_votes": 1}, vendor={"kind": "label-studio"})
    a = {**vendor_returns.ls_annotation(1, "3"), "was_cancelled": value, "ground_truth": "false"}
    project.import_labels(ls_export(tmp_path / "b.json", {"d0007": [a]}))
    labels, states = state(project)
    assert (labels.get("d0007"), states["d0007"]) == (
        ("3", "labeled") if kind == "label" else (None, "skipped")
    )


def test_label_studio_garbage_boolean_is_refused(seeded, tmp_path):
    project = seeded(vendor={"kind": "label-studio"})
    a = {**vendor_returns.ls_annotation(1, "3"), "ground_truth": "perhaps"}
    refused(project, ls_export(tmp_path / "b.json", {"d0007": [a]}), "ground_truth", "perhaps")


def test_long_annotation_ids_stay_two_votes(seeded, tmp_path):
    project = seeded(resolution={"min_votes": 2})
    prefix = "x" * 150
    rows = [
        {"item_id": "d0008", "label": "2", "annotation_id": prefix + "-1"},
        {"item_id": "d0008", "label": "2", "annotation_id": prefix + "-2"},
    ]
    assert project.import_labels(jsonl(tmp_path / "l.jsonl", rows)).events_added == 2
    assert state(project)[0]["d0008"] == "2"  # two votes: min_votes 2 is met


@pytest.mark.parametrize(
    ("annotator", "why"),
    [
        ("a" * 300, "over the 256-character limit"),
        ("bad\u0000name", "NUL"),
        ("\ud800", "surrogate"),
    ],
)
def test_unstorable_annotators_are_refused_alike(seeded, tmp_path, annotator, why):
    project = seeded()
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"item_id": "d0009", "label": "1", "annotator": annotator}) + "\n")
    refused(project, path, f"{path}:1: annotator", why)


def test_the_wrong_control_name_is_named(seeded, tmp_path):
    project = seeded(vendor={"kind": "label-studio"})
    a = vendor_returns.ls_annotation(1, "3")
    a["result"][0]["from_name"] = "digit"
    path = ls_export(tmp_path / "c.json", {"d0010": [a]})
    refused(project, path, "control 'label' (vendor.label_field)", "['digit']")
    ok = seeded(
        vendor={"kind": "label-studio", "label_field": "digit"}, resolution={"min_votes": 1}
    )
    ok.import_labels(path)
    assert state(ok)[0]["d0010"] == "3"


@pytest.mark.parametrize("kind", ["file", "label-studio", "argilla"])
def test_label_studio_flat_exports_are_refused_for_any_vendor(seeded, tmp_path, kind):
    project = seeded(vendor={"kind": kind})
    flat = {
        "id": 1,
        "item_id": "d0011",
        "label": "3",
        "annotator": "a@x.org",
        "annotation_id": 4,
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:00:00Z",
        "lead_time": 2.5,
    }
    json_min = tmp_path / "min.json"
    json_min.write_text(json.dumps([flat]))
    refused(project, json_min, "Label Studio JSON_MIN export", "Export -> JSON")
    csv = tmp_path / "export.csv"
    csv.write_text(",".join(flat) + "\n" + ",".join(str(v) for v in flat.values()) + "\n")
    refused(project, csv, "Label Studio CSV export")


# ------------------------------------------------------------------------ round checks
ROUND_KEYS = ("round", "alflow-round")


def set_round(value, new):
    """Every round field of a vendor record (any nesting) set to ``new``."""
    if isinstance(value, dict):
        if "alflow_round" in (value.get("name"), value.get("schema_name")):
            value["value"] = new
        for k in value:
            if k in ROUND_KEYS and not isinstance(value[k], dict | list):
                value[k] = new
            else:
                set_round(value[k], new)
    elif isinstance(value, list):
        for v in value:
            set_round(v, new)


WRITERS = {**vendor_returns.WRITERS, "label-studio": vendor_returns.label_studio}


@pytest.mark.parametrize("kind", sorted(WRITERS))
@pytest.mark.parametrize(("bad", "needle"), [(7, "is not in round 7's export"), ("x7", "x7")])
def test_every_vendor_checks_the_round(seeded, tmp_path, monkeypatch, kind, bad, needle):
    monkeypatch.setenv("SCALE_CALLBACK_AUTH", "s3cret")
    project = seeded(vendor={"kind": kind})
    export = Path(project.vendor.export_batch(batch_frame(), ROUND, project.labels, tmp_path).uri)
    good = WRITERS[kind](export, [("d0012", "label", "3", "ann")], tmp_path / "g", project.labels)
    if kind == "label-studio":
        tasks = json.loads(good.read_text())
        set_round(tasks, bad)
        good.write_text(json.dumps(tasks) + "\n")
    else:
        records = [json.loads(x) for x in good.read_text().splitlines()]
        set_round(records, bad)
        jsonl(good, records)
    refused(project, good, needle)
