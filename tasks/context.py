"""Per-process caches: one Project (ledger engine, MLflow client) per config."""

from __future__ import annotations

from alflow.config import AlflowConfig, load_config
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


def project_for(config: AlflowConfig) -> Project:
    key = f"{config.workspace}|{config.hash()}"
    if key not in _PROJECTS:
        _PROJECTS[key] = Project(config)
    return _PROJECTS[key]
