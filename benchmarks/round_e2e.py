"""End-to-end benchmark: whole-process wall time and peak RSS of the ``alflow`` commands.

    python benchmarks/round_e2e.py --rows 10000             # a 10k x 128 vector pool
    python benchmarks/round_e2e.py --rows 1000000 --reps 3
    python benchmarks/round_e2e.py --text --rows 10000      # a 10k-row text pool

Writes a source Parquet file (a Gaussian mixture of ``--dim``-d embeddings, or short texts
drawn from per-class vocabularies) and a 1,000-row evaluation set, then runs the real CLI as a
user would, each command a new process: ``alflow init``, ``alflow ingest`` (pool, then
``--eval``), ``alflow status`` (``--reps`` times), the first ``alflow round`` (cold start: no
model yet), then ``--reps`` times ``alflow import <labels> --retrain`` (the last batch labeled
from the truth) followed by a steady ``alflow round`` (with a champion).

Each process books its time into stages (``alflow.stages``, written through
``ALFLOW_STAGES_FILE``): the breakdown of the median run adds up to its wall time, ``startup``
being process start and module imports up to the command's first line and ``other`` what no
stage covers (argument parsing, printing, interpreter exit). Peak RSS is the command process's
own ``ru_maxrss`` (``os.wait4``), not its Dask workers' or servers', and so is its CPU time (user +
system, which a busy machine inflates far less than the wall time); a command that ran in a fork
of the warm server (``flows.warm``) adds that fork's CPU time and peak RSS, which it writes
itself. The first heavy command starts the warm server (``--cold`` runs every command in its
own process instead, ``ALFLOW_WARM=0``). Prints a table and writes
JSON to ``benchmarks/results/round_e2e-<kind>-<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ALFLOW = str(Path(sys.executable).with_name("alflow"))
CLASSES = 10
ENV = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def vectors(rows: int, dim: int, seed: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` points of a 200-component mixture in ``dim`` dimensions and their class."""
    centers = np.random.default_rng(0).normal(size=(200, dim)).astype(np.float32)
    rng = np.random.default_rng([seed, start])
    comp = rng.integers(200, size=rows)
    x = centers[comp] + rng.normal(scale=0.7, size=(rows, dim)).astype(np.float32)
    return x, comp % CLASSES


def vector_classes(rows: int, seed: int, start: int) -> np.ndarray:
    """The classes ``vectors(rows, dim, seed, start)`` gives, without drawing the vectors."""
    return np.random.default_rng([seed, start]).integers(200, size=rows) % CLASSES


def texts(rows: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences of 12 words, 4 of them from the class's own 30-word vocabulary."""
    rng = np.random.default_rng(seed)
    y = rng.integers(CLASSES, size=rows)
    common = rng.integers(2000, size=(rows, 8))
    own = rng.integers(30, size=(rows, 4))
    out = [
        " ".join([f"w{w}" for w in common[i]] + [f"c{y[i]}x{w}" for w in own[i]])
        for i in range(rows)
    ]
    return out, y


def write_source(path: Path, rows: int, dim: int, text: bool, seed: int, prefix: str) -> None:
    """A Parquet source file, written 100k rows per row group (never the whole file in memory)."""
    writer = None
    for start in range(0, rows, 100_000):
        n = min(100_000, rows - start)
        ids = pa.array([f"{prefix}{start + i:09d}" for i in range(n)])
        if text:
            feats, y = texts(n, seed + start)
            feature = pa.array(feats)
        else:
            x, y = vectors(n, dim, seed, start)
            feature = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), dim)
        table = pa.table({"item_id": ids, "features": feature, "truth": pa.array(y.astype(str))})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def truth_of(ids: list[str], rows: int, dim: int, text: bool, seed: int) -> list[str]:
    """The truth of pool items, recomputed from their ids (the row number): labeling a batch
    needs no table of every id's label."""
    blocks: dict[int, np.ndarray] = {}  # each 100k-row block's classes, drawn once
    out = []
    for item in ids:
        i = int(item[1:])
        start = i - i % 100_000
        if start not in blocks:
            n = min(100_000, rows - start)
            blocks[start] = texts(n, seed + start)[1] if text else vector_classes(n, seed, start)
        out.append(str(blocks[start][i - start]))
    return out


def write_config(root: Path, text: bool, batch: int) -> Path:
    features = (
        "  features: {kind: text, text_column: features}\n"
        if text
        else "  features: {kind: embedding, embedding_column: features}\n"
    )
    labels = ", ".join(f'"{c}"' for c in range(CLASSES))
    cfg = root / "alflow.yaml"
    cfg.write_text(
        f"project: e2e\nworkspace: ./workspace\nseed: 0\n"
        f"data:\n  id_column: item_id\n  truth_column: truth\n{features}  labels: [{labels}]\n"
        f"vendor: {{kind: file, format: jsonl}}\ncampaign: {{batch_size: {batch}}}\n"
    )
    return cfg


def run(args: list[str], cwd: Path) -> dict:
    """One CLI process: wall seconds, its own peak RSS (``os.wait4``), its stage breakdown."""
    with tempfile.TemporaryDirectory() as tmp:
        stages_file, log = Path(tmp) / "stages.json", Path(tmp) / "log"
        env = os.environ | ENV | {"ALFLOW_STAGES_FILE": str(stages_file)}
        with log.open("wb") as out:
            t0 = time.time()
            proc = subprocess.Popen([ALFLOW, *args], cwd=cwd, env=env, stdout=out, stderr=out)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.time() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(
                f"alflow {' '.join(args)} failed ({proc.returncode}):\n{log.read_text()}"
            )
        try:
            data = json.loads(stages_file.read_text())
        except (OSError, ValueError):
            data = {}
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    warm = data.get("pid") not in (None, proc.pid)  # it ran in a fork of the warm server
    if warm:  # count the fork's own CPU time and peak RSS, which it wrote
        cpu, rss = cpu + data["usage"]["cpu_s"], max(rss, data["usage"]["peak_rss_mb"])
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": round(rss, 1),
        "warm": warm,
        "stages": _breakdown(data, t0, wall) if data else {},
    }


def _breakdown(data: dict, t0: float, wall: float) -> dict[str, float]:
    out = {"startup": data["marks"]["command_start"] - t0, **data["stages"]}
    out["other"] = wall - sum(out.values())
    return {k: round(v, 3) for k, v in out.items()}


def median_run(runs: list[dict]) -> dict:
    """The run whose wall time is the median, with the median, min and max of all."""
    walls = [r["wall_s"] for r in runs]
    mid = sorted(runs, key=lambda r: r["wall_s"])[(len(runs) - 1) // 2]
    return {
        "runs": len(runs),
        "wall_s_median": round(statistics.median(walls), 2),
        "wall_s_min": round(min(walls), 2),
        "wall_s_max": round(max(walls), 2),
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "stages_of_median_run": mid["stages"],
    }


def label_last_batch(ws: Path, round_id: int, a: argparse.Namespace) -> Path:
    """The round's export with the truth filled in: a labels file as annotators return it."""
    records = [json.loads(line) for line in (ws / "exports" / f"round-{round_id:04d}.jsonl").open()]
    truth = truth_of([r["item_id"] for r in records], a.rows, a.dim, a.text, a.seed)
    path = ws / f"labels-{round_id:04d}.jsonl"
    with path.open("w") as f:
        for rec, label in zip(records, truth, strict=True):
            f.write(json.dumps({"item_id": rec["item_id"], "label": label}) + "\n")
    return path


def campaign(root: Path, a: argparse.Namespace) -> dict[str, list[dict]]:
    ws = root / "workspace"
    cfg = write_config(root, a.text, a.batch)
    write_source(root / "pool.parquet", a.rows, a.dim, a.text, a.seed, "r")
    write_source(root / "eval.parquet", 1000, a.dim, a.text, a.seed + 1, "e")
    c = ["-c", str(cfg)]
    runs: dict[str, list[dict]] = {k: [] for k in ("help", "init", "ingest", "ingest --eval")}
    runs["help"].append(run(["--help"], root))
    runs["init"].append(run(["init", *c], root))
    runs["ingest"].append(run(["ingest", "pool.parquet", *c], root))
    runs["ingest --eval"].append(run(["ingest", "eval.parquet", "--eval", *c], root))
    runs["status"] = [run(["status", *c], root) for _ in range(a.reps)]
    runs["round (cold)"] = [run(["round", *c], root)]
    runs["import --retrain"], runs["round (steady)"] = [], []
    for round_id in range(1, a.reps + 1):
        labels = label_last_batch(ws, round_id, a)
        runs["import --retrain"].append(run(["import", str(labels), "--retrain", *c], root))
        runs["round (steady)"].append(run(["round", *c], root))
    runs["status"].append(run(["status", *c], root))
    return runs


def print_table(result: dict) -> None:
    head = f"{'command':<18} {'median s':>9} {'min':>6} {'max':>6} {'CPU s':>6} {'RSS MB':>7}"
    print(f"{head}  breakdown (s)")
    for name, r in result["commands"].items():
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["stages_of_median_run"].items() if v)
        print(
            f"{name:<18} {r['wall_s_median']:>9.2f} {r['wall_s_min']:>6.2f} "
            f"{r['wall_s_max']:>6.2f} {r['cpu_s_median']:>6.2f} "
            f"{r['peak_rss_mb_max']:>7.0f}  {parts}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--text", action="store_true", help="a text pool instead of vectors")
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", default="benchmarks/data")
    ap.add_argument("--keep", action="store_true", help="keep the workspace")
    ap.add_argument("--label", default="", help="a tag for the JSON file (e.g. baseline)")
    ap.add_argument("--out", default=None)
    ap.add_argument(
        "--cold", action="store_true", help="every command in a process of its own (no warm server)"
    )
    a = ap.parse_args()
    kind = "text" if a.text else "vector"
    root = Path(a.workspace).resolve() / f"e2e-{kind}-{a.rows}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    # a warm server of the benchmark's own, started by its first heavy command, stopped at the end
    ENV.update({"ALFLOW_WARM": "0"} if a.cold else {"ALFLOW_WARM_DIR": str(root / "warm")})
    load_start = os.getloadavg()[0]
    try:
        runs = campaign(root, a)
    finally:
        stop = [ALFLOW, "stop", "-c", str(root / "alflow.yaml")]
        subprocess.run(stop, capture_output=True, env=os.environ | ENV)
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    result = {
        "pool": kind,
        "rows": a.rows,
        "dim": None if a.text else a.dim,
        "batch": a.batch,
        "label": a.label,
        "warm": not a.cold,
        "load_avg_1m_at_start": load_start,
        "load_avg_1m_at_end": os.getloadavg()[0],
        "commands": {name: median_run(rs) for name, rs in runs.items()},
    }
    print_table(result)
    tag = f"-{a.label}" if a.label else ""
    out = Path(a.out or f"benchmarks/results/round_e2e-{kind}-{a.rows}{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
