"""Large batches, as Cluster-Margin runs them: whole-process rounds of 10k or 100k items.

    python benchmarks/round_e2e.py --rows 10000000 --batch 1000 --reps 3 --keep
    python benchmarks/large_batch.py --rows 10000000 --batches 10000,100000

Runs on a workspace that ``round_e2e.py --keep`` left behind
(``benchmarks/data/e2e-vector-<rows>``): labels the round in flight from the truth and imports
it (``alflow import --retrain``), then for each batch size and strategy runs ``alflow round
--batch-size N`` (``default`` is the config's strategy section as it is; another name sets
``strategy.name`` through ``ALFLOW__STRATEGY__NAME``), labelling and importing each batch before
the next round. The same CLI and warm server as a user's rounds: wall time, CPU and the driver's
peak RSS (the round's fork of the warm server) with the stage breakdown, one line per round;
JSON to ``benchmarks/results/large_batch-<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import round_e2e as e2e


def in_flight(ws: Path) -> int:
    """The id of the last exported round."""
    return max(int(p.stem.split("-")[1]) for p in (ws / "exports").glob("round-*.jsonl"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", default="10000", help="comma-separated batch sizes")
    ap.add_argument("--strategies", default="default,density_coreset")
    ap.add_argument("--workspace", default="benchmarks/data")
    a = ap.parse_args()
    a.text = False
    root = Path(a.workspace).resolve() / f"e2e-vector-{a.rows}"
    ws, c = root / "workspace", ["-c", str(root / "alflow.yaml")]
    e2e.ENV["ALFLOW_WARM_DIR"] = str(root / "warm")
    load_start = os.getloadavg()[0]
    rows = []
    for batch in [int(b) for b in a.batches.split(",")]:
        for name in a.strategies.split(","):
            labels = e2e.label_last_batch(ws, in_flight(ws), a)
            imported = e2e.run(["import", str(labels), "--retrain", *c], root)
            if name != "default":
                e2e.ENV["ALFLOW__STRATEGY__NAME"] = name
            selected = e2e.run(["round", "--batch-size", str(batch), *c], root)
            e2e.ENV.pop("ALFLOW__STRATEGY__NAME", None)
            rows.append({"strategy": name, "batch": batch, "round": selected, "import": imported})
            print(
                f"{name:>16} batch {batch:>7}: round {selected['wall_s']:7.1f} s, "
                f"driver {selected['peak_rss_mb']:7.0f} MB; stages {selected['stages']}",
                flush=True,
            )
    result = {
        "rows": a.rows,
        "load_avg_1m_at_start": load_start,
        "load_avg_1m_at_end": os.getloadavg()[0],
        "runs": rows,
    }
    out = Path(f"benchmarks/results/large_batch-{a.rows}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
