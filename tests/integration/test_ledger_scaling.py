"""Every ledger step of a round is O(batch): a bounded number of statements, each found by an
index (no full scan of the pool's items), on SQLite and PostgreSQL."""

import pandas as pd
import pytest
from sqlalchemy import event

from alflow.config import ResolutionConfig
from alflow.labels.resolution import Policy
from alflow.ledger import EventRecord, Ledger

POOL, BATCH = 5_000, 1_000
# tables that grow with the pool: no step of a round may walk them
POOL_SIZED = ("items", "labels", "annotation_events", "selections")


@pytest.fixture
def ledger(databases):
    led = Ledger(databases.ledger_url)
    with led.ingest("mem", "pool") as w:
        ids = [f"i{i:05d}" for i in range(POOL)]
        items = pd.DataFrame({"item_id": ids, "content_hash": ["h"] * POOL})
        w.add_partition(name="p0", target="pool", sha256="x", items=items)
    yield led
    led.close()


class Statements:
    """The statements (and their parameters) an engine runs inside the block."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, parameters, _context, executemany):
        self.seen.append((statement, parameters[0] if executemany else parameters))


def full_scans(led: Ledger, seen: list, by_state: bool = False) -> list[str]:
    """The statements whose SQLite query plan scans a pool-sized table, or (unless
    ``by_state``) walks the items of one state (all the unlabeled ones, say)."""
    bad = []
    with led.engine.connect() as conn:
        for statement, params in seen:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                continue
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            steps = [str(row[-1]) for row in plan]
            if any(p.startswith(f"SCAN {t}") for p in steps for t in POOL_SIZED) or (
                not by_state and any("ix_items_state" in p for p in steps)
            ):
                bad.append(f"{statement[:120]} -> {plan}")
    return bad


def a_batch(ids):
    n = len(ids)
    return pd.DataFrame(
        {
            "item_id": ids,
            "rank": range(1, n + 1),
            "utility": [0.5] * n,
            "predicted_label": ["a"] * n,
            "predicted_score": [0.6] * n,
            "margin": [0.5] * n,
        }
    )


def test_round_steps_are_o_batch(ledger, databases):
    ids = [f"i{i:05d}" for i in range(0, 2 * BATCH, 2)]
    r = ledger.open_round(strategy="margin", batch_size=BATCH, seed=0, config_hash="c")[0].id
    events = [EventRecord(f"e{i}", i, "label", "a", "ann") for i in ids]
    steps = {
        "excluded ids": lambda: ledger.excluded_ids(),
        "selection": lambda: ledger.record_selection(r, a_batch(ids)),
        "export": lambda: ledger.record_export(r, vendor="f", uri="u", n_rows=BATCH, sha256="s"),
        "import": lambda: ledger.record_import(
            source="l", sha256="i", events=events, resolver=Policy(ResolutionConfig())
        ),
    }
    counts, results = {}, {}
    for name, step in steps.items():
        with Statements(ledger.engine) as st:
            results[name] = step()
        counts[name] = len(st.seen)
        if databases.backend == "sqlite":
            assert full_scans(ledger, st.seen, by_state=name == "excluded ids") == [], name
    assert results["selection"] == BATCH and results["import"] == (BATCH, BATCH)
    assert ledger.state_counts() == {"unlabeled": POOL - BATCH, "labeled": BATCH}
    # 1,000 items: a few chunked statements per step, never one per item
    assert counts["selection"] <= 20 and counts["export"] <= 10 and counts["import"] <= 40, counts
