"""Configuration: YAML files validated by pydantic, with environment-variable substitution.

Every location is a URL so that an embedded default (a folder, a SQLite file, a LocalCluster) can
be replaced by a real service (``s3://``, ``postgresql://``, ``http://``, ``tcp://``).

Environment variables reach the config in two ways:

* ``${NAME}`` or ``${NAME:-default}`` inside any YAML string value;
* ``ALFLOW__SECTION__KEY=value`` overrides (``ALFLOW__STORAGE__LEDGER_URL=postgresql://…``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError

from alflow.config_sections import (
    BUILTIN_ESTIMATORS,
    DEFAULT_STRATEGY,
    MISSING_MARKERS,
    TOKEN_ENV,
    ArchiveLimits,
    CampaignConfig,
    ComputeConfig,
    DataConfig,
    DawidSkeneConfig,
    EvaluationConfig,
    FeaturesConfig,
    GateConfig,
    ModelConfig,
    PseudoLabelConfig,
    ResolutionConfig,
    ScheduleConfig,
    Section,
    StorageConfig,
    StrategyConfig,
    StreamConfig,
    VendorConfig,
    WeakLabelConfig,
    redact_url,
)
from alflow.errors import ConfigError

__all__ = [  # the sections are re-exported: ``from alflow.config import StrategyConfig`` works
    "BUILTIN_ESTIMATORS",
    "DEFAULT_STRATEGY",
    "MISSING_MARKERS",
    "TOKEN_ENV",
    "AlflowConfig",
    "ArchiveLimits",
    "CampaignConfig",
    "ComputeConfig",
    "DataConfig",
    "DawidSkeneConfig",
    "EvaluationConfig",
    "FeaturesConfig",
    "GateConfig",
    "ModelConfig",
    "PseudoLabelConfig",
    "ResolutionConfig",
    "ScheduleConfig",
    "StorageConfig",
    "StrategyConfig",
    "StreamConfig",
    "VendorConfig",
    "WeakLabelConfig",
    "config_from_dict",
    "dump_config",
    "load_config",
    "redact_url",
]

ENV_PREFIX = "ALFLOW__"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class AlflowConfig(Section):
    """The whole configuration of one project's workspace."""

    project: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "alflow"
    workspace: str = "./workspace"
    seed: int = 0
    storage: StorageConfig = Field(default_factory=StorageConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    data: DataConfig
    model: ModelConfig = Field(default_factory=ModelConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    vendor: VendorConfig = Field(default_factory=VendorConfig)
    resolution: ResolutionConfig = Field(default_factory=ResolutionConfig)
    campaign: CampaignConfig = Field(default_factory=CampaignConfig)
    stream: StreamConfig = Field(default_factory=StreamConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)

    @property
    def registered_model_name(self) -> str:
        return self.model.registered_name or f"{self.project}-model"

    def hash(self) -> str:
        """A short, stable hash of the resolved config (for the audit trail)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _substitute_env(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {
            k: _substitute_env(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _ENV_REF.sub(repl, value)


def _apply_env_overrides(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{key}: {'.'.join(path)} does not name a config section")
        node[path[-1]] = _env_value(key, value)
    return raw


def _env_value(key: str, value: str) -> Any:
    """An override as typed: lists and mappings as YAML, ``null`` as None, anything else the raw
    string (pydantic turns "7" or "true" into numbers and booleans where the field wants them,
    and a URL with ``#`` or ``@`` in it stays whole)."""
    if value.strip() in ("null", "~"):
        return None
    if value.lstrip().startswith(("[", "{")):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"{key}: not a valid YAML list or mapping: {err}") from None
    return value


def format_validation_error(
    err: ValidationError, source: str, line_of: Callable[[tuple], int | None] | None = None
) -> str:
    """Turn a pydantic error into one line per problem, each with its dotted path (and, given
    ``line_of``, the line of the YAML file it is on); one problem is one line."""
    lines = []
    for e in err.errors():
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
        dotted = dotted.removeprefix(".") or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        line = line_of(tuple(e["loc"])) if line_of else None
        lines.append(f"{source}{f':{line}' if line else ''}: {dotted}: {msg}")
    if len(lines) == 1:
        return f"invalid configuration: {lines[0]}"
    return "invalid configuration\n" + "\n".join(f"  - {line}" for line in lines)


def yaml_lines(text: str) -> Callable[[tuple], int | None]:
    """The 1-based line of a config path in the YAML ``text``: its deepest key found there."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)

    def line_of(loc: tuple) -> int | None:
        node, line = root, None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pairs = [(k, v) for k, v in node.value if k.value == str(part)]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                pairs = [(v, v) for v in node.value[part : part + 1]]
            else:
                pairs = []
            if not pairs:
                break
            line, node = pairs[0][0].start_mark.line + 1, pairs[0][1]
        return line

    return line_of


def config_from_dict(
    raw: dict[str, Any],
    source: str = "<dict>",
    environ: dict[str, str] | None = None,
    line_of: Callable[[tuple], int | None] | None = None,
) -> AlflowConfig:
    """Validate a config mapping, after ``${VAR}`` substitution and ``ALFLOW__`` overrides."""
    environ = dict(os.environ) if environ is None else environ
    raw = _apply_env_overrides(_substitute_env(raw, ""), environ)
    try:
        return AlflowConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, line_of)) from None


def load_config(path: str | Path) -> AlflowConfig:
    """Read and validate a YAML config; relative workspace paths resolve against the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (create one with 'alflow init')")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    config = config_from_dict(raw, source=str(path), line_of=yaml_lines(text))
    if "://" not in config.workspace and not Path(config.workspace).is_absolute():
        config.workspace = str((path.parent / config.workspace).resolve())
    return config


def dump_config(config: AlflowConfig) -> str:
    """The resolved config as YAML (what MLflow records for each round)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
