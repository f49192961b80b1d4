"""Rounds of one campaign never overlap (a ledger lock) and wait while too many items are in
flight: real Prefect flows (test harness), a real LocalCluster, MLflow and the ledger on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from alflow.errors import LockBusy
from alflow.ledger import Ledger
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import make_config


def test_ledger_lock_refuses_waits_and_takes_over_a_dead_holder(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    with ledger.lock("rounds:x") as holder:
        with pytest.raises(LockBusy, match=f"rounds:x is held by {holder} since"):
            ledger.acquire_lock("rounds:x")
        threading.Timer(1.0, ledger.release_lock, ("rounds:x", holder)).start()
        started = time.monotonic()
        second = ledger.acquire_lock("rounds:x", wait_seconds=30, poll=0.1)
        assert second != holder and 0.5 < time.monotonic() - started < 30
    ledger.release_lock("rounds:x", second)
    # a holder whose process is gone (killed) leaves a stale lock: the next round takes it over
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    stale = ledger.acquire_lock("rounds:y")
    ledger.release_lock("rounds:y", stale)
    host = stale.split(":")[0]
    with ledger.transaction() as s:
        from alflow.ledger.schema import Lock

        s.add(Lock(name="rounds:y", holder=f"{host}:{dead}:gone"))
    assert ledger.acquire_lock("rounds:y").split(":")[1] == str(os.getpid())


@pytest.mark.usefixtures("prefect_harness")
def test_concurrent_rounds_and_items_in_flight(tmp_path, digits_csv):
    config = make_config(
        tmp_path / "ws",
        vendor={"kind": "simulated"},
        schedule={"max_in_flight": 10, "lock_wait_seconds": 0},
    )
    project = project_for(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")

    # another process's round holds the campaign's lock: a second start refuses, clearly
    with project.round_lock():
        with pytest.raises(LockBusy, match="another round of this campaign is running"):
            labeling_round(config)
        skipped = labeling_round(config, scheduled=True)
        assert skipped["round_id"] is None and "is held by" in skipped["skipped"]
    assert project.ledger.last_round_id() is None  # neither started a round

    # two rounds started at once: with a wait, the second runs after the first, never beside it
    config.schedule.lock_wait_seconds = 600
    results: list[dict] = []
    threads = [
        threading.Thread(target=lambda: results.append(labeling_round(config))) for _ in range(2)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done = sorted(results, key=lambda r: r["round_id"] or 0)
    # the first exported 10 items; the second waited for the lock, then for labels (10 + 10 > 10)
    assert done[0]["round_id"] is None and "waiting for labels: 10 item(s)" in done[0]["skipped"]
    assert done[1]["round_id"] == 1 and done[1]["selected"] == 10
    assert project.ledger.in_flight_count() == 10

    labels = project.simulate_annotation(1)
    reimport_and_retrain(config, str(labels))
    assert project.ledger.in_flight_count() == 0
    assert labeling_round(config)["round_id"] == 2  # labels came back: the next round runs
