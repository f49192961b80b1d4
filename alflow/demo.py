"""The demo's data and configs: scikit-learn's digits (bundled, no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from alflow.config import DEFAULT_STRATEGY, AlflowConfig, config_from_dict

MARKER = ".alflow-demo"


def write_digits(folder: Path, seed: int = 0, eval_size: int = 500) -> tuple[Path, Path]:
    """Write the digits pool and a stratified evaluation set as CSV; return both paths."""
    digits = load_digits()
    frame = pd.DataFrame(digits.data.astype(np.int64), columns=[f"px{i:02d}" for i in range(64)])
    frame.insert(0, "digit_id", [f"digit-{i:04d}" for i in range(len(frame))])
    frame["digit"] = digits.target
    pool, test = train_test_split(
        frame, test_size=eval_size, stratify=frame["digit"], random_state=seed
    )
    folder.mkdir(parents=True, exist_ok=True)
    pool_path, eval_path = folder / "digits_pool.csv", folder / "digits_eval.csv"
    pool.to_csv(pool_path, index=False)
    test.to_csv(eval_path, index=False)
    return pool_path, eval_path


def digits_config(
    root: Path, strategy: str, *, rounds: int, batch_size: int, seed: int = 0
) -> AlflowConfig:
    """One campaign of the demo: its own workspace, the demo's shared MLflow backend;
    ``strategy`` is a registered name or ``default`` (the default strategy section)."""
    return config_from_dict(
        {
            "project": f"digits-{strategy}",
            "workspace": str(root / strategy),
            "seed": seed,
            "storage": {
                "mlflow_tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                "mlflow_artifact_location": (root / "mlartifacts" / strategy).as_uri(),
            },
            "data": {
                "id_column": "digit_id",
                "truth_column": "digit",
                "features": {"kind": "numeric", "columns": [f"px{i:02d}" for i in range(64)]},
                "labels": [str(i) for i in range(10)],
                "partition_rows": 400,
            },
            "model": {"params": {"C": 0.5, "max_iter": 2000}},
            "strategy": {} if strategy == DEFAULT_STRATEGY else {"name": strategy},
            "vendor": {"kind": "simulated"},
            "campaign": {"batch_size": batch_size, "max_rounds": rounds},
        }
    )
