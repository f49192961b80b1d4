import re
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from alflow import config_sections
from alflow.config import config_from_dict, load_config
from alflow.errors import ConfigError
from tests.conftest import ROOT

BASE = {
    "data": {"features": {"kind": "numeric", "columns": ["a", "b"]}, "labels": ["x", "y"]},
}


def test_minimal_config_gets_embedded_defaults():
    cfg = config_from_dict(BASE, environ={})
    s = cfg.strategy  # the measured default (docs/benchmarks.md)
    assert (s.name, s.cold_start, s.cold_start_until_per_class) == (
        "margin_explore",
        "density_coreset",
        30,
    )
    assert cfg.compute.scheduler_address is None
    assert cfg.storage.ledger_url is None


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"pool_sample": 400}, ("margin_explore", "density_coreset", 30)),
        ({"name": "margin"}, ("margin", "random", 0)),
        ({"name": "margin", "cold_start_until_per_class": 5}, ("margin", "random", 5)),
        ({"cold_start": "typiclust"}, ("margin_explore", "typiclust", 0)),
    ],
)
def test_a_section_that_chooses_its_strategy_gets_no_default_cold_start(section, expected):
    s = config_from_dict({**BASE, "strategy": section}, environ={}).strategy
    assert (s.name, s.cold_start, s.cold_start_until_per_class) == expected


def test_unknown_key_fails_with_its_dotted_path():
    raw = {**BASE, "compute": {"n_wrokers": 3}}
    with pytest.raises(ConfigError, match=r"compute\.n_wrokers: unknown key"):
        config_from_dict(raw, source="cfg.yaml", environ={})


def test_bad_value_fails_with_its_dotted_path():
    raw = {**BASE, "campaign": {"batch_size": 0}}
    with pytest.raises(ConfigError, match=r"cfg\.yaml: campaign\.batch_size: Input should be"):
        config_from_dict(raw, source="cfg.yaml", environ={})


def test_nested_rule_names_the_section():
    raw = {"data": {"features": {"kind": "text"}, "labels": ["x", "y"]}}
    with pytest.raises(ConfigError, match=r"data\.features: kind 'text' needs 'text_column'"):
        config_from_dict(raw, environ={})


def test_the_sentence_encoder_without_its_extra_is_a_one_line_config_error(monkeypatch):
    text = {"kind": "text", "text_column": "t", "text_embedding": "minilm"}
    raw = {"data": {"features": text, "labels": ["x", "y"]}}
    numeric = {**BASE["data"]["features"], "text_embedding": "minilm"}
    with pytest.raises(ConfigError, match=r"text_embedding 'minilm' is for kind 'text' only"):
        config_from_dict({**BASE, "data": {**BASE["data"], "features": numeric}}, environ={})
    monkeypatch.setattr(
        config_sections, "find_spec", lambda m: None if m == "onnxruntime" else find_spec(m)
    )
    with pytest.raises(ConfigError) as refused:
        config_from_dict(raw, source="cfg.yaml", environ={})
    message = str(refused.value)
    assert "\n" not in message and "cfg.yaml: data.features.text_embedding: " in message
    assert "onnxruntime not installed" in message and "pip install 'alflow[encoder]'" in message


def test_unknown_strategy_is_rejected_with_the_known_ones():
    raw = {**BASE, "strategy": {"name": "psychic"}}
    with pytest.raises(ConfigError, match=r"unknown strategy 'psychic'.*margin"):
        config_from_dict(raw, environ={})


def test_env_reference_is_substituted_and_missing_one_is_named(monkeypatch):
    raw = {**BASE, "storage": {"ledger_url": "${LEDGER_URL}"}}
    monkeypatch.setenv("LEDGER_URL", "postgresql+psycopg://u@127.0.0.1/db")
    cfg = config_from_dict(raw, environ={})
    assert cfg.storage.ledger_url == "postgresql+psycopg://u@127.0.0.1/db"
    monkeypatch.delenv("LEDGER_URL")
    with pytest.raises(ConfigError, match=r"storage\.ledger_url: environment variable LEDGER_URL"):
        config_from_dict(raw, environ={})


def test_env_default_and_override():
    raw = {**BASE, "compute": {"scheduler_address": "${NO_SUCH_VAR_X:-tcp://127.0.0.1:8786}"}}
    cfg = config_from_dict(raw, environ={"ALFLOW__CAMPAIGN__BATCH_SIZE": "7"})
    assert cfg.compute.scheduler_address == "tcp://127.0.0.1:8786"
    assert cfg.campaign.batch_size == 7


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  labels: [a, b\n  features: {}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_config(path)


def test_relative_workspace_resolves_against_the_config_file(tmp_path: Path):
    path = tmp_path / "sub" / "alflow.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({**BASE, "workspace": "./ws"}))
    assert load_config(path).workspace == str((path.parent / "ws").resolve())


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path):
    cfg = load_config(path)
    assert cfg.data.labels


def test_the_package_ships_the_repo_configs_as_its_one_copy():
    """``alflow init`` writes ``files("alflow")/configs``: that is the repo's ``configs/``."""
    assert (ROOT / "alflow" / "configs").resolve() == (ROOT / "configs").resolve()
    shipped = files("alflow").joinpath("configs")
    names = sorted(p.name for p in shipped.iterdir() if p.name.endswith(".yaml"))
    assert names == sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))
    for name in names:
        assert shipped.joinpath(name).read_bytes() == (ROOT / "configs" / name).read_bytes()


def test_config_hash_is_stable_and_sensitive():
    a = config_from_dict(BASE, environ={})
    b = config_from_dict(BASE, environ={})
    c = config_from_dict({**BASE, "seed": 1}, environ={})
    assert a.hash() == b.hash() != c.hash()


def test_portfolio_arms_are_validated():
    ok = {**BASE, "strategy": {"name": "portfolio", "params": {"arms": ["margin", "random"]}}}
    assert config_from_dict(ok, environ={}).strategy.params["arms"] == ["margin", "random"]
    with pytest.raises(ConfigError, match=r"strategy\.params\.arms: Field required"):
        config_from_dict({**BASE, "strategy": {"name": "portfolio"}}, environ={})
    one = {**BASE, "strategy": {"name": "portfolio", "params": {"arms": ["margin"]}}}
    with pytest.raises(ConfigError, match=r"strategy\.params\.arms: List should have at least 2"):
        config_from_dict(one, environ={})
    bad = {**BASE, "strategy": {"name": "portfolio", "params": {"arms": ["margin", "magic"]}}}
    with pytest.raises(ConfigError, match=r"arms\[1\]\.name: unknown strategy 'magic'"):
        config_from_dict(bad, environ={})


def test_passwords_never_reach_the_logged_config():
    from alflow.config import dump_config, redact_url

    raw = {
        **BASE,
        "storage": {
            "ledger_url": "postgresql+psycopg://al:s3cret@db:5432/al",
            "mlflow_tracking_uri": "http://u:s3cret@mlflow:5000",
        },
    }
    cfg = config_from_dict(raw, environ={})
    assert cfg.storage.ledger_url == "postgresql+psycopg://al:s3cret@db:5432/al"  # still usable
    assert "s3cret" not in dump_config(cfg)
    assert "s3cret" not in str(cfg.model_dump(mode="json"))
    assert cfg.model_dump(mode="json")["storage"]["ledger_url"] == (
        "postgresql+psycopg://al:***@db:5432/al"
    )
    assert redact_url("sqlite:////tmp/ledger.db") == "sqlite:////tmp/ledger.db"
    assert redact_url("tcp://scheduler:8786") == "tcp://scheduler:8786"


def test_environment_overrides_keep_strings_whole():
    env = {
        "ALFLOW__STORAGE__LEDGER_URL": "postgresql://al:pa #x@db/al",
        "ALFLOW__DATA__ID_COLUMN": "0123",
        "ALFLOW__CAMPAIGN__TARGET_METRIC": "0.9",
        "ALFLOW__CAMPAIGN__LABEL_BUDGET": "null",
        "ALFLOW__DATA__LABELS": "[x, y, z]",
    }
    cfg = config_from_dict(BASE, environ=env)
    assert cfg.storage.ledger_url == "postgresql://al:pa #x@db/al"
    assert cfg.data.id_column == "0123" and cfg.campaign.target_metric == 0.9
    assert cfg.campaign.label_budget is None and cfg.data.labels == ["x", "y", "z"]
    with pytest.raises(ConfigError, match="ALFLOW__DATA__LABELS: not a valid YAML list"):
        config_from_dict(BASE, environ={"ALFLOW__DATA__LABELS": "[x, y"})


def test_the_configuration_reference_states_the_real_defaults():
    """Every `key` | `value` row of docs/configuration.md whose value is a plain YAML scalar
    matches the default of a minimal config (placeholders such as <workspace> are skipped)."""
    defaults = config_from_dict(BASE, environ={}).model_dump(mode="json")
    checked, wrong = 0, []
    for line in (ROOT / "docs" / "configuration.md").read_text().splitlines():
        row = re.match(r"\| `([a-z_.]+)` \| `([^`<]*)` \|", line)
        if not row:
            continue
        value = defaults
        for part in row[1].split("."):
            value = value.get(part, KeyError) if isinstance(value, dict) else KeyError
        if value is KeyError or isinstance(value, dict | list):
            continue
        checked += 1
        if yaml.safe_load(row[2]) != value:
            wrong.append(f"{row[1]}: docs say {row[2]!r}, default is {value!r}")
    assert checked >= 40, checked
    assert not wrong, wrong


def test_the_light_parameter_models_cover_the_registry():
    from alflow.strategies import REGISTRY
    from alflow.strategy_params import STRATEGY_PARAMS

    assert set(REGISTRY) == set(STRATEGY_PARAMS)
    assert all(REGISTRY[name].schema is model for name, model in STRATEGY_PARAMS.items())
