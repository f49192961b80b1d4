"""Shared fixtures: offline settings, small real datasets, configs, and real engines."""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager

for _k, _v in {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # CLI commands in tests use the session's Prefect server and cluster (_shared_services), not
    # a workspace's; the workspace's services are tested on their own (test_workspace_services.py)
    "ALFLOW_LOCAL_SERVICES": "0",
}.items():
    os.environ.setdefault(_k, _v)
# the session's own warm server (flows.warm), stopped when the session ends; one per pytest-xdist
# worker (a worker inherits the controller's environment, and one worker's end stops its server)
if "ALFLOW_WARM_DIR" not in os.environ or "PYTEST_XDIST_WORKER" in os.environ:
    os.environ["ALFLOW_WARM_DIR"] = __import__("tempfile").mkdtemp(prefix="alflow-warm-")

import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from alflow.config import AlflowConfig, config_from_dict  # noqa: E402
from alflow.workspace import Workspace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DIGIT_COLUMNS = [f"px{i:02d}" for i in range(64)]
POSTGRES_ENV = "ALFLOW_TEST_POSTGRES_URL"  # set by infra/ci/postgres.sh (see docs/operations.md)

# ------------------------------------------------------------- MLflow store templates
# A new MLflow backend store runs MLflow's ~50 schema migrations: 1.5-2.5 s of CPU each time,
# in every test that opens a workspace. The session creates one store per backend (in a child
# process, so no pooled connection holds it) and each test gets a copy: the same empty store.
_TEMPLATES: dict[str, Path] = {}  # "folder": where the session keeps its templates
_CREATE_MLFLOW_STORE = (
    "import sys; from mlflow import MlflowClient; MlflowClient(sys.argv[1]).search_experiments()"
)


def create_mlflow_store(uri: str) -> None:
    """A new, empty MLflow backend store at ``uri``, created by MLflow itself."""
    subprocess.run(
        [sys.executable, "-c", _CREATE_MLFLOW_STORE, uri], check=True, capture_output=True
    )


SHARED_VARS = ("PREFECT_API_URL", "ALFLOW_LOCAL_SCHEDULER")  # what _shared_services exports
SHARED: dict[str, str] = {}  # their values while _shared_services runs


@pytest.fixture(scope="session", autouse=True)
def _shared_services(request, tmp_path_factory) -> Iterator[None]:
    """One Prefect server and one Dask cluster for the whole session, held by alflow's own
    service daemon (``flows.workspace_services``) and exported to every process the tests start:
    a CLI command that starts Prefect's embedded API and a LocalCluster of its own spends
    10-14 s on them. Only when integration tests run; tests of the embedded defaults and of the
    daemon itself remove these variables from their commands' environment."""
    if not any("integration" in item.nodeid for item in request.session.items):
        yield
        return
    from alflow.config import ComputeConfig
    from flows.workspace_services import IDLE, ensure_running, stop

    root = tmp_path_factory.mktemp("shared-services")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(IDLE, "86400")  # the commands never touch the daemon: it must not idle out
        # its workers unpickle the tests' own estimators (tests.user_pyfuncs), as a user's
        # cluster has the user's modules
        env.setenv("PYTHONPATH", str(ROOT), prepend=os.pathsep)
        state = ensure_running(root, ComputeConfig(), prefect=True, dask=True)
    values = (state["prefect_api_url"], state["dask_address"])
    SHARED.update(zip(SHARED_VARS, values, strict=True))
    with pytest.MonkeyPatch.context() as env:
        for name, value in SHARED.items():
            env.setenv(name, value)
        try:
            yield
        finally:
            SHARED.clear()
            stop(root)


@pytest.fixture(scope="session", autouse=True)
def _stop_warm_servers() -> Iterator[None]:
    yield
    from flows.warm import stop_servers

    stop_servers()


@pytest.fixture(scope="session", autouse=True)
def _template_folder(tmp_path_factory) -> Iterator[None]:
    _TEMPLATES["folder"] = tmp_path_factory.mktemp("templates")
    yield
    _TEMPLATES.clear()


def new_mlflow_sqlite(path: Path) -> None:
    """An empty MLflow SQLite store at ``path`` (left alone if it exists): a copy of the
    session's template, or nothing outside a test session (MLflow then creates it)."""
    folder = _TEMPLATES.get("folder")
    if folder is None or path.exists():
        return
    template = folder / "mlflow.db"
    if not template.exists():
        create_mlflow_store(f"sqlite:///{template}")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


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
    config = config_from_dict(raw, environ={})
    tracking = Workspace.from_config(config).mlflow_tracking_uri
    if tracking.startswith("sqlite:///"):
        new_mlflow_sqlite(Path(tracking.removeprefix("sqlite:///")))
    return config


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
    from alflow.config import ComputeConfig
    from alflow.scoring.compute import dask_client as open_client

    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.delenv("ALFLOW_LOCAL_SCHEDULER", raising=False)  # its own cluster, in-process
            client = stack.enter_context(open_client(ComputeConfig(n_workers=2)))
        yield client


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> Iterator[str]:
    """The session's Prefect server (``_shared_services``), or one of its own when the session
    has none: an ephemeral API server started by every CLI run cost most of each run's time."""
    if SHARED:
        yield SHARED["PREFECT_API_URL"]
        return
    from flows.local_services import prefect_server

    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


@pytest.fixture(scope="session")
def _prefect_harness_session():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def prefect_harness(_prefect_harness_session):
    """Prefect's test harness: a real temporary API and database, entered once per session.
    Each test starts with no events worker: Prefect keeps one per process whatever the API URL,
    so one an earlier test started for another server would take this test's task-run events."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all()
    yield


@pytest.fixture
def argilla_server():
    """A local server with just the Argilla endpoints alflow calls (not a real Argilla)."""
    from tests.fake_argilla import serve

    with serve() as url:
        yield url


# ---------------------------------------------------------------- databases
@dataclass(frozen=True)
class Databases:
    """Where one test keeps its ledger and its MLflow backend store (fresh, empty databases)."""

    backend: str
    ledger_url: str
    mlflow_url: str

    def storage(self) -> dict[str, str]:
        """The config's ``storage`` section for these databases."""
        return {"ledger_url": self.ledger_url, "mlflow_tracking_uri": self.mlflow_url}


@contextmanager
def postgres_databases(*names: str, templates: dict[str, str] | None = None) -> Iterator[list[str]]:
    """Fresh databases on the test server (``$ALFLOW_TEST_POSTGRES_URL``), dropped afterwards;
    ``templates`` maps a name to the database it is copied from (PostgreSQL's TEMPLATE)."""
    from sqlalchemy import create_engine, make_url, text

    admin_url = os.environ.get(POSTGRES_ENV)
    if not admin_url:
        pytest.skip(
            f"PostgreSQL: no server URL in ${POSTGRES_ENV} "
            '(start one with: eval "$(infra/ci/postgres.sh start)")'
        )
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    tag = uuid.uuid4().hex[:12]
    dbs = [f"t_{tag}_{n}" for n in names]
    templates = templates or {}
    try:
        with admin.connect() as conn:
            for name, db in zip(names, dbs, strict=True):
                source = f' TEMPLATE "{templates[name]}"' if name in templates else ""
                conn.execute(text(f'CREATE DATABASE "{db}"{source}'))
        base = make_url(admin_url)
        yield [base.set(database=db).render_as_string(hide_password=False) for db in dbs]
    finally:
        with admin.connect() as conn:
            for db in dbs:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_mlflow_template() -> Iterator[str]:
    """The name of an empty MLflow store on the test server, created once per session; each
    test's MLflow database is a copy of it (no connection stays open: it is copied from)."""
    from sqlalchemy import make_url

    with postgres_databases("mlflow_template") as (url,):
        create_mlflow_store(url)
        yield make_url(url).database


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request, tmp_path: Path) -> Iterator[Databases]:
    """The ledger and the MLflow backend store on SQLite files, then on PostgreSQL (fresh,
    empty stores: the MLflow ones copies of an empty store created once per session)."""
    if request.param == "sqlite":
        new_mlflow_sqlite(tmp_path / "mlflow.db")
        yield Databases(
            "sqlite", f"sqlite:///{tmp_path / 'ledger.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
        )
        return
    template = request.getfixturevalue("postgres_mlflow_template")
    with postgres_databases("ledger", "mlflow", templates={"mlflow": template}) as urls:
        yield Databases("postgresql", *urls)


@pytest.fixture
def mlflow_server(databases: Databases, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``mlflow server`` as its own process on 127.0.0.1, its backend store on the database
    under test, artifacts proxied into a folder. Yields ``(http URL, artifacts folder)``."""
    import shutil
    import signal
    import subprocess
    import sys

    from flows.local_services import free_port, wait_healthy

    artifacts = tmp_path / "served-artifacts"
    port = free_port()
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    cmd = [
        mlflow_bin,
        "server",
        "--backend-store-uri",
        databases.mlflow_url,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = tmp_path / "mlflow-server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy("mlflow server", f"{url}/health", proc, log)
        yield url, artifacts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
