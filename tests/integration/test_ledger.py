"""The ledger on real SQLite and PostgreSQL databases: idempotent transitions, nothing lost
or counted twice."""

from dataclasses import is_dataclass

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from alflow.errors import LedgerError
from alflow.labels.resolution import Policy
from alflow.ledger import (
    EventRecord,
    ExportRecord,
    Ledger,
    RoundRecord,
    RoundStatus,
    StopRecord,
    migrate,
)
from alflow.ledger.schema import Base


@pytest.fixture
def ledger(databases):
    led = Ledger(databases.ledger_url)
    with led.ingest("mem", "pool") as ingest:
        items = pd.DataFrame({"item_id": [f"i{i}" for i in range(10)], "content_hash": ["h"] * 10})
        ingest.add_partition(name="p0", target="pool", sha256="x", items=items)
    yield led
    led.close()


def batch(ids, start_rank=1):
    return pd.DataFrame(
        {
            "item_id": ids,
            "rank": range(start_rank, start_rank + len(ids)),
            "utility": [0.5] * len(ids),
            "predicted_label": ["a"] * len(ids),
            "predicted_score": [0.6] * len(ids),
            "margin": [0.5] * len(ids),
        }
    )


def open_round(led):
    return led.open_round(strategy="margin", batch_size=3, seed=0, config_hash="c")[0].id


def test_migrations_match_the_models(ledger):
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "alembic_version" in inspect(ledger.engine).get_table_names()


def test_reopening_runs_no_migration_twice(ledger):
    again = Ledger(ledger.url)
    assert again.state_counts() == {"unlabeled": 10}


def test_selection_is_recorded_once(ledger):
    r = open_round(ledger)
    assert ledger.record_selection(r, batch(["i1", "i2", "i3"])) == 3
    assert ledger.record_selection(r, batch(["i4", "i5"])) == 0  # a retry changes nothing
    assert ledger.selection(r)["item_id"].tolist() == ["i1", "i2", "i3"]
    assert ledger.state_counts() == {"unlabeled": 7, "selected": 3}
    r2, new = ledger.open_round(strategy="margin", batch_size=3, seed=0, config_hash="c")
    assert (r2.id, new) == (r, False)  # not exported yet: the same round resumes


def test_an_item_cannot_be_selected_twice(ledger):
    r1 = open_round(ledger)
    ledger.record_selection(r1, batch(["i1", "i2"]))
    ledger.record_export(r1, vendor="file", uri="f", n_rows=2, sha256="s")
    r2 = open_round(ledger)
    assert r2 == r1 + 1
    with pytest.raises(LedgerError, match="1 of 2 selected items are not unlabeled"):
        ledger.record_selection(r2, batch(["i2", "i3"]))
    assert ledger.selection(r2).empty
    assert ledger.state_counts() == {"unlabeled": 8, "exported": 2}


def test_export_is_recorded_once(ledger):
    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1", "i2"]))
    assert ledger.record_export(r, vendor="file", uri="f", n_rows=2, sha256="s") is True
    assert ledger.record_export(r, vendor="file", uri="f", n_rows=2, sha256="s") is False
    assert ledger.export_of(r).n_rows == 2
    assert ledger.state_counts() == {"unlabeled": 8, "exported": 2}


def test_events_are_appended_once_and_labels_resolved(ledger):
    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1", "i2", "i3"]))
    ledger.record_export(r, vendor="file", uri="f", n_rows=3, sha256="s")
    events = [
        EventRecord("k1", "i1", "label", "a", "x"),
        EventRecord("k2", "i2", "label", "b", "x"),
        EventRecord("k3", "i3", "skip", None, "x"),
    ]
    assert ledger.record_import(source="f", sha256="s", events=events, resolver=Policy()) == (3, 3)
    assert ledger.record_import(source="f", sha256="s", events=events, resolver=Policy()) == (0, 0)
    assert ledger.event_count() == 3 and ledger.import_count() == 2
    assert ledger.resolved_labels().values.tolist() == [["i1", "a"], ["i2", "b"]]
    assert ledger.state_counts() == {"unlabeled": 7, "labeled": 2, "skipped": 1}
    # a second annotator disagrees on i2: a tie is sent back for relabeling
    ledger.record_import(
        source="g",
        sha256="t",
        events=[EventRecord("k4", "i2", "label", "c", "y")],
        resolver=Policy(),
    )
    assert ledger.resolved_labels()["item_id"].tolist() == ["i1"]
    assert ledger.state_counts()["needs_relabel"] == 1


def test_failed_import_changes_nothing(ledger):
    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1"]))
    ledger.record_export(r, vendor="file", uri="f", n_rows=1, sha256="s")

    class Broken(Policy):
        def __call__(self, _votes):
            raise RuntimeError("resolver failed")

    broken = Broken()

    with pytest.raises(RuntimeError):
        ledger.record_import(
            source="f",
            sha256="s",
            events=[EventRecord("k1", "i1", "label", "a", None)],
            resolver=broken,
        )
    assert ledger.event_count() == 0 and ledger.import_count() == 0


def test_a_duplicated_anonymous_line_is_one_vote_and_corrections_replace(ledger, tmp_path):
    from alflow.vendors.files import FileVendor

    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1", "i2"]))
    ledger.record_export(r, vendor="file", uri="f", n_rows=2, sha256="s")
    path = tmp_path / "votes.jsonl"
    path.write_text(
        '{"item_id": "i1", "label": "cat"}\n{"item_id": "i1", "label": "cat"}\n'
        '{"item_id": "i1", "label": "dog"}\n'
        '{"item_id": "i2", "label": "cat", "annotation_id": "a-1", "annotator": "x"}\n'
    )
    vendor = FileVendor()

    def events(p):
        return [
            EventRecord(a.event_key("file"), a.item_id, a.kind, a.label, a.annotator, a.ref("file"))
            for a in vendor.read_annotations(p, ["cat", "dog"])
        ]

    once = ledger.record_import(source="v", sha256="1", events=events(path), resolver=Policy())
    assert once == (3, 2)  # the repeated anonymous "cat" line is the same vote
    again = ledger.record_import(source="v", sha256="1", events=events(path), resolver=Policy())
    assert again == (0, 0)
    assert dict(ledger.resolved_labels().values) == {"i2": "cat"}  # i1: 1 cat vs 1 dog, a tie
    assert ledger.adjudication_queue() == ["i1"]
    fixed = tmp_path / "fixed.jsonl"  # the vendor re-exports annotation a-1, corrected
    fixed.write_text(
        '{"item_id": "i2", "label": "dog", "annotation_id": "a-1", "annotator": "x"}\n'
    )
    fix = ledger.record_import(source="w", sha256="2", events=events(fixed), resolver=Policy())
    assert fix == (1, 1)
    assert dict(ledger.resolved_labels().values)["i2"] == "dog"
    assert ledger.event_count() == 4  # append-only: the first version is still there


def test_unsupported_databases_are_refused(tmp_path):
    with pytest.raises(LedgerError, match="not supported"):
        Ledger("mysql+pymysql://u@127.0.0.1/db")


@pytest.mark.parametrize(
    ("table", "column", "key"),
    [
        ("items", "state", "item_id = 'i1'"),
        ("rounds", "status", "id = :r"),
        ("selections", "reason", "round_id = :r"),
    ],
)
def test_the_database_refuses_a_state_outside_its_enum(ledger, table, column, key):
    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1"]))
    with pytest.raises(IntegrityError, match="ck_"), ledger.engine.begin() as c:
        c.execute(text(f"UPDATE {table} SET {column} = 'bogus' WHERE {key}"), {"r": r})
    assert ledger.state_counts() == {"unlabeled": 9, "selected": 1}
    assert ledger.get_round(r).status == RoundStatus.SELECTED == "selected"


def test_the_ledger_hands_out_plain_records(ledger):
    r = open_round(ledger)
    ledger.record_selection(r, batch(["i1"]))
    ledger.record_export(r, vendor="file", uri="f", n_rows=1, sha256="s")
    assert ledger.record_stop("budget", r)
    got = [ledger.get_round(r), ledger.export_of(r), ledger.active_stop()]
    assert [type(x) for x in got] == [RoundRecord, ExportRecord, StopRecord]
    assert all(is_dataclass(x) for x in got)
    assert (got[0].status, got[1].vendor, got[2].reason) == (RoundStatus.EXPORTED, "file", "budget")


def test_the_state_checks_migrate_a_ledger_with_data(databases):
    engine = create_engine(databases.ledger_url)
    migrate.upgrade(engine, "0005")
    with engine.begin() as c:
        for sql in (
            "INSERT INTO ingests (id, source, target, rows_read, rows_added, created_at) "
            "VALUES (1, 's', 'pool', 1, 1, '2026-01-01')",
            "INSERT INTO partitions VALUES ('p', 'pool', 1, 1, 'h')",
            "INSERT INTO items VALUES ('i', 'p', 'h', 'selected', 1, '2026-01-01')",
            "INSERT INTO rounds (id, status, strategy, batch_size, seed, config_hash, created_at)"
            " VALUES (1, 'selected', 'random', 1, 0, 'c', '2026-01-01')",
            "INSERT INTO selections VALUES (1, 'i', 1, 0.5, '{}', 'a', 0.5, 'strategy')",
            "INSERT INTO model_labels (kind, round_id, item_id, label, confidence)"
            " VALUES ('pseudo', 1, 'i', 'a', 0.9)",
        ):
            c.execute(text(sql))
    engine.dispose()
    ledger = Ledger(databases.ledger_url)  # upgrades to head: tables rebuilt, nothing lost
    assert ledger.state_counts() == {"selected": 1}
    assert ledger.selection(1)["item_id"].tolist() == ["i"]
    assert ledger.get_round(1).status == RoundStatus.SELECTED
    with pytest.raises(IntegrityError), ledger.engine.begin() as c:
        c.execute(text("UPDATE items SET state = 'gone'"))
    ledger.close()
