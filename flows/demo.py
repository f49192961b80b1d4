"""``alflow demo``: simulated campaigns for a strategy and the random control, side by side."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd

from alflow.demo import MARKER, digits_config, write_digits
from alflow.errors import AlflowError
from alflow.tracking import plots
from flows.campaign import campaign
from flows.heartbeats import command_heartbeats
from tasks.context import project_for


def prepare_workspace(root: Path) -> None:
    """Start from an empty demo folder (a previous demo's folder is replaced, nothing else)."""
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise AlflowError(f"{root} exists and is not an alflow demo folder; pick another")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("created by alflow demo; removed by the next demo run\n")


def run_demo(root: Path, *, strategy: str, rounds: int, batch_size: int, seed: int) -> dict:
    """Run both campaigns; return the learning curves, the PNG path and timings."""
    prepare_workspace(root)
    pool_csv, eval_csv = write_digits(root / "data", seed=seed)
    curves = []
    timings = {}
    for name in dict.fromkeys([strategy, "random"]):
        started = time.perf_counter()
        config = digits_config(root, name, rounds=rounds, batch_size=batch_size, seed=seed)
        project = project_for(config)
        project.ingest(str(pool_csv))
        project.ingest(str(eval_csv), target="eval")
        with command_heartbeats():
            result = campaign(config)
        curves.extend({**row, "strategy": name} for row in result["curve"])
        timings[name] = time.perf_counter() - started
    frame = pd.DataFrame(curves)
    png = plots.learning_curves(
        frame, "accuracy", root / "learning_curve.png", "digits: test accuracy by labels"
    )
    return {
        "curves": frame,
        "png": png,
        "timings": timings,
        "mlflow_uri": f"sqlite:///{root / 'mlflow.db'}",
    }
