"""What the ``alflow`` commands share: the ``--config`` and ``--vendor`` options, loading the
config, pointing the process at the workspace's services, printing a training result."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from alflow.stages import stage

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ALFLOW_CONFIG", help="The project's YAML config."),
]

VendorOpt = Annotated[
    str | None,
    typer.Option(
        "--vendor",
        help="Override vendor.kind: file, simulated or label-studio (its url, mode and "
        "token_env come from the config's vendor section or ALFLOW__VENDOR__* variables).",
    ),
]


def load(config: Path, vendor: str | None = None):
    """The validated config; ``vendor`` replaces ``vendor.kind`` (and is validated with it)."""
    from alflow.config import config_from_dict, load_config

    cfg = load_config(config)
    if vendor is None or vendor == cfg.vendor.kind:
        return cfg
    raw = cfg.model_dump()
    raw["vendor"]["kind"] = vendor
    return config_from_dict(raw, source=f"{config} with --vendor {vendor}", environ={})


def with_services(cfg):
    """The config, this process pointed at the workspace's shared Prefect server and Dask
    cluster first (``flows.workspace_services``; started on first use)."""
    from flows.workspace_services import use_workspace_services

    use_workspace_services(cfg)
    if "prefect" in sys.modules:  # a warm command: Prefect read its settings before these
        _reread_settings()
    return cfg


@contextmanager
def orchestration() -> Iterator[None]:
    """The command's flow run, booked as the "orchestration" stage; it sends no heartbeats
    unless the environment asks for them (``flows.heartbeats``)."""
    from flows.heartbeats import command_heartbeats

    with stage("orchestration"), command_heartbeats():
        yield


def _reread_settings() -> None:
    """After a warm command (``flows.warm``) changed its environment: Prefect's settings and
    logging, and Dask's config, as a process that imported them now would have them."""
    import prefect.context
    import prefect.logging.configuration

    from alflow.scoring.compute import reread_config
    from flows.user_errors import quiet_expected_failures

    prefect.context.refresh_global_settings_context()
    prefect.logging.configuration.setup_logging(incremental=False)
    quiet_expected_failures()  # new handlers: filtered again (a warm command is never -v)
    reread_config()


def print_training(train: dict) -> None:
    """One line for a retrain: the version, its labels, its metrics and the gate's verdict."""
    m = train["metrics"]
    acc = (
        f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}"
        if "accuracy" in m
        else ("no evaluation set yet")
    )
    verdict = "promoted to champion" if train["promoted"] else "champion kept"
    typer.echo(
        f"model version {train['model_version']} on {train['n_labels']} labels: {acc}; {verdict}"
    )
