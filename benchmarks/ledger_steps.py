"""Ledger benchmark: each step of a round on a ledger of ``--rows`` pool items.

    python benchmarks/ledger_steps.py --rows 1000000 --batch 1000
    python benchmarks/ledger_steps.py --rows 1000000 --url postgresql+psycopg://...

Fills a fresh ledger with ``--rows`` items (through ``Ledger.ingest``, 100k per partition,
``--labeled`` of them labeled by an import first), then times the steps a round and an import
take, in the real Ledger API: the excluded ids, recording a ``--batch``-item selection,
recording its export, importing one label per item of the batch (with resolution), and the
resolved labels read back. Each step also counts its SQL statements. Prints a table and writes
JSON to ``benchmarks/results/ledger_steps-<backend>-<rows>.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from report import emit
from sqlalchemy import event

from alflow.config import ResolutionConfig
from alflow.labels.resolution import Policy
from alflow.ledger import EventRecord, Ledger


def fill(led: Ledger, rows: int) -> None:
    with led.ingest("bench", "pool") as w:
        for p, start in enumerate(range(0, rows, 100_000)):
            ids = [f"r{i:09d}" for i in range(start, min(rows, start + 100_000))]
            items = pd.DataFrame({"item_id": ids, "content_hash": ["h"] * len(ids)})
            w.add_partition(name=f"p{p:05d}", target="pool", sha256="x", items=items)


def batch_frame(ids: list[str]) -> pd.DataFrame:
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


def label_round(led: Ledger, round_id: int, ids: list[str], policy: Policy) -> tuple[int, int]:
    led.record_selection(round_id, batch_frame(ids))
    led.record_export(round_id, vendor="file", uri="x", n_rows=len(ids), sha256=f"s{round_id}")
    events = [EventRecord(f"e{round_id}-{i}", i, "label", "a", "ann") for i in ids]
    return led.record_import(
        source=f"r{round_id}", sha256=f"i{round_id}", events=events, resolver=policy
    )


class Counter:
    """Counts the statements an engine runs."""

    def __init__(self, engine) -> None:
        self.n = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.n += 1


def timed(r: dict, name: str, counter: Counter, fn):
    before = counter.n
    t = time.perf_counter()
    out = fn()
    r[f"{name}_s"] = round(time.perf_counter() - t, 3)
    r[f"{name}_statements"] = counter.n - before
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--labeled", type=int, default=1_000)
    ap.add_argument("--url", default=None, help="a ledger URL (default: a new SQLite file)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = a.url or f"sqlite:///{Path(tmp.name) / 'ledger.db'}"
    led = Ledger(url)
    backend = led.engine.dialect.name
    r: dict = {
        "backend": backend,
        "rows": a.rows,
        "batch": a.batch,
        "load_avg_1m_at_start": os.getloadavg()[0],
    }
    t = time.perf_counter()
    fill(led, a.rows)
    r["fill_s"] = round(time.perf_counter() - t, 1)
    policy = Policy(ResolutionConfig())

    def open_round():
        return led.open_round(
            strategy="m",
            batch_size=a.batch,
            seed=0,
            config_hash="c",
        )[0].id

    label_round(led, open_round(), [f"r{i:09d}" for i in range(a.labeled)], policy)
    counter = Counter(led.engine)
    excluded = timed(r, "excluded_ids", counter, led.excluded_ids)
    assert len(excluded) == a.labeled
    rid = open_round()
    step = a.rows // (2 * a.batch)
    ids = [f"r{a.rows - 1 - i * step:09d}" for i in range(a.batch)]  # spread over the pool
    timed(r, "record_selection", counter, lambda: led.record_selection(rid, batch_frame(ids)))
    timed(
        r,
        "record_export",
        counter,
        lambda: led.record_export(rid, vendor="file", uri="x", n_rows=len(ids), sha256="s"),
    )
    events = [EventRecord(f"e-{i}", i, "label", "a", "ann") for i in ids]
    added = timed(
        r,
        "record_import",
        counter,
        lambda: led.record_import(source="labels", sha256="i", events=events, resolver=policy),
    )
    assert added == (a.batch, a.batch), added
    labels = timed(r, "resolved_labels", counter, led.resolved_labels)
    assert len(labels) == a.labeled + a.batch
    r["load_avg_1m_at_end"] = os.getloadavg()[0]
    led.close()
    emit(r, a.out or f"benchmarks/results/ledger_steps-{backend}-{a.rows}.json")


if __name__ == "__main__":
    main()
