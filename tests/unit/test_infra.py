"""The infra/ files parse, and the settings they hand alflow are valid alflow config."""

import ast

import yaml

from alflow.config import config_from_dict
from tests.conftest import ROOT

INFRA = ROOT / "infra"
MINIMAL = {"data": {"features": {"kind": "numeric", "columns": ["a"]}, "labels": ["x", "y"]}}


def test_compose_runs_every_service_and_points_alflow_at_them():
    compose = yaml.safe_load((INFRA / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "prefect", "dask-scheduler", "dask-worker", "alflow"} <= set(
        services
    )
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    env = services["alflow"]["environment"]
    overrides = {k: v for k, v in env.items() if k.startswith("ALFLOW__")}
    cfg = config_from_dict(MINIMAL, environ=overrides)
    assert cfg.compute.scheduler_address == "tcp://dask-scheduler:8786"
    assert cfg.storage.ledger_url.startswith("postgresql+psycopg://")
    assert cfg.storage.mlflow_tracking_uri == "http://mlflow:5000"
    # the databases the services use exist: the ledger's by POSTGRES_DB, the others by initdb
    init = (INFRA / "compose" / "initdb" / "10-databases.sql").read_text()
    assert "CREATE DATABASE mlflow" in init and "CREATE DATABASE prefect" in init


def test_kubernetes_manifests_declare_a_dask_cluster_of_alflow_workers():
    docs = list(yaml.safe_load_all((INFRA / "kubernetes" / "daskcluster.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert {"Namespace", "DaskCluster", "DaskAutoscaler"} <= set(kinds)
    cluster = kinds["DaskCluster"]
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"] and "alflow" in worker["image"]
    port = cluster["spec"]["scheduler"]["service"]["ports"][0]
    assert port["port"] == 8786


def test_the_slurm_example_is_python_that_imports_jobqueue_lazily():
    tree = ast.parse((INFRA / "hpc" / "slurm_cluster.py").read_text())
    top_imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("jobqueue" not in ast.dump(n) for n in top_imports)
    assert "SLURMCluster" in ast.dump(tree)
