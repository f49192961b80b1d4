"""Per-process caches: one Project (ledger engine, MLflow client) per config."""

from __future__ import annotations

from alflow.config import AlflowConfig
from alflow.project import Project

_PROJECTS: dict[str, Project] = {}


def project_for(config: AlflowConfig) -> Project:
    key = f"{config.workspace}|{config.hash()}"
    if key not in _PROJECTS:
        _PROJECTS[key] = Project(config)
    return _PROJECTS[key]
