"""Shared fixtures: offline settings, small real datasets, configs, and real engines."""

from __future__ import annotations

import os

for _k, _v in {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}.items():
    os.environ.setdefault(_k, _v)

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from alflow.config import AlflowConfig, config_from_dict  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DIGIT_COLUMNS = [f"px{i:02d}" for i in range(64)]


def require_dataset(name: str) -> Path:
    """The folder of a shared dataset, or skip saying where it was looked for."""
    path = DATASETS / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {name!r} not found at {path} (CI has ../shared/datasets)")
    return path


@pytest.fixture(scope="session")
def digits_frame() -> pd.DataFrame:
    d = load_digits()
    frame = pd.DataFrame(d.data.astype(int), columns=DIGIT_COLUMNS)
    frame.insert(0, "digit_id", [f"d{i:04d}" for i in range(len(frame))])
    frame["digit"] = d.target
    return frame


def make_config(workspace: Path, **sections) -> AlflowConfig:
    """A digits config in ``workspace``; keyword sections are merged over the defaults."""
    raw = {
        "project": "test",
        "workspace": str(workspace),
        "data": {
            "id_column": "digit_id",
            "truth_column": "digit",
            "features": {"kind": "numeric", "columns": DIGIT_COLUMNS},
            "labels": [str(i) for i in range(10)],
            "partition_rows": 300,
            "read_chunk_rows": 250,
        },
        "compute": {"n_workers": 2},
        "vendor": {"kind": "file"},
        "campaign": {"batch_size": 10},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return config_from_dict(raw, environ={})


@pytest.fixture
def digits_csv(tmp_path: Path, digits_frame: pd.DataFrame) -> tuple[Path, Path]:
    """A 1,297-row pool CSV and a 500-row evaluation CSV."""
    pool, ev = tmp_path / "pool.csv", tmp_path / "eval.csv"
    digits_frame.iloc[:1297].to_csv(pool, index=False)
    digits_frame.iloc[1297:].to_csv(ev, index=False)
    return pool, ev


@pytest.fixture(scope="session")
def dask_client():
    """A real LocalCluster (2 worker processes) shared by the session."""
    from alflow.compute import dask_client as open_client
    from alflow.config import ComputeConfig

    with open_client(ComputeConfig(n_workers=2, threads_per_worker=1)) as client:
        yield client


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's test harness: a real temporary API and database, entered once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def argilla_server():
    """A local server with just the Argilla endpoints alflow calls (not a real Argilla)."""
    from tests.fake_argilla import serve

    with serve() as url:
        yield url
