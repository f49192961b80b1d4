"""Per-process caches: one Project (ledger engine, MLflow client) per config."""

from __future__ import annotations

from alflow.config import AlflowConfig, config_from_dict, load_config
from alflow.project import Project

_PROJECTS: dict[str, Project] = {}


def as_config(config: AlflowConfig | dict | str) -> AlflowConfig:
    """A flow's ``config`` parameter: a config, its JSON form, or the path of a YAML file
    (deployments pass paths, so secrets stay in the file and the environment)."""
    if isinstance(config, AlflowConfig):
        return config
    if isinstance(config, str):
        return load_config(config)
    return AlflowConfig.model_validate(config)


def with_batch_size(config: AlflowConfig, batch_size: int | None) -> AlflowConfig:
    """``config`` with ``campaign.batch_size`` replaced (validated like the file's value); the
    same config when ``batch_size`` is None or the same. The round records the config it ran
    with (its hash and MLflow's ``config.yaml``), so a replay rebuilds the same batch."""
    if batch_size is None or batch_size == config.campaign.batch_size:
        return config
    raw = config.model_dump()
    raw["campaign"]["batch_size"] = batch_size
    return config_from_dict(raw, source=f"batch size {batch_size}", environ={})


def project_for(config: AlflowConfig) -> Project:
    key = f"{config.workspace}|{config.hash()}"
    if key not in _PROJECTS:
        _PROJECTS[key] = Project(config)
    return _PROJECTS[key]
