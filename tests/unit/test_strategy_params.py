"""Typed strategy parameters: every registered strategy's model refuses unknown keys, accepts
each declared parameter, has the selector's own defaults; the declared ``utility`` ranks the
candidates; the docs list every parameter."""

import inspect
from typing import Literal, get_args, get_origin

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression

from alflow.config import StrategyConfig, config_from_dict
from alflow.errors import ConfigError
from alflow.scoring.score import ScoreRequest, score_features
from alflow.selection.policy import choose_strategy
from alflow.selection.simulation import SimulatedPool, simulated_batch
from alflow.strategies import REGISTRY, get_strategy, top_k
from alflow.strategy_params import (
    PORTFOLIO,
    STRATEGY_PARAMS,
    Portfolio,
    params_model,
    params_table,
)
from tests.conftest import ROOT

BASE = {"data": {"labels": ["a", "b"], "features": {"kind": "numeric", "columns": ["x"]}}}
NAMES = sorted(REGISTRY)


def load(strategy: dict):
    return config_from_dict({**BASE, "strategy": strategy}, source="c.yaml", environ={})


def other_value(field) -> object:
    """A valid value of ``field`` that differs from its default."""
    if get_origin(field.annotation) is Literal:
        return next(v for v in get_args(field.annotation) if v != field.default)
    bounded = any(hasattr(m, "le") for m in field.metadata)
    if isinstance(field.default, float):
        return field.default / 2 if bounded else field.default * 2
    return (field.default or 1) + 1


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keys_are_refused_with_the_key_and_the_file(name):
    with pytest.raises(ConfigError) as err:
        load({"name": name, "params": {"top_factr": 3}})
    assert str(err.value) == "invalid configuration: c.yaml: strategy.params.top_factr: unknown key"


@pytest.mark.parametrize("name", NAMES)
def test_each_declared_parameter_is_accepted_and_reaches_the_spec(name):
    for key, field in REGISTRY[name].schema.model_fields.items():
        value = other_value(field)
        assert load({"name": name, "params": {key: value}}).strategy.params == {key: value}
        assert getattr(get_strategy(name).with_params({key: value}).params, key) == value


@pytest.mark.parametrize("name", NAMES)
def test_the_defaults_are_the_selectors_own(name):
    spec = REGISTRY[name]
    keywords = {
        p.name: p.default
        for p in inspect.signature(spec.select).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name != "random_state"
    }
    assert keywords == spec.params.model_dump()
    assert spec.schema is STRATEGY_PARAMS[name]
    assert spec.with_params({}).rank_by == spec.rank_by  # the defaults rank as before


def test_a_wrong_type_names_the_field_and_the_type():
    with pytest.raises(
        ConfigError,
        match=r"strategy\.params\.top_factor: Input should be a valid "
        r"integer",
    ):
        load({"name": "kmeans_round_robin", "params": {"top_factor": "ten"}})
    with pytest.raises(
        ConfigError,
        match=r"strategy\.params\.utility: Input should be "
        r"'least_confidence', 'margin' or 'entropy'",
    ):
        load({"name": "margin_coreset", "params": {"utility": "confusion"}})
    with pytest.raises(ConfigError, match=r"strategy\.params\.explore: Input should be less"):
        load({"name": "margin_explore", "params": {"explore": 1.5}})


def test_portfolio_arms_params_are_checked_and_used():
    arms = [{"name": "margin_coreset", "params": {"top_factor": 5}}, "random"]
    cfg = load({"name": PORTFOLIO, "params": {"arms": arms, "gamma": 0.3}})
    assert Portfolio.model_validate(cfg.strategy.params).arm("margin_coreset").params == {
        "top_factor": 5
    }
    with pytest.raises(
        ConfigError,
        match=r"strategy\.params\.arms\[0\]\.params\.top_factr: "
        r"unknown key",
    ):
        load(
            {
                "name": PORTFOLIO,
                "params": {"arms": [{"name": "margin", "params": {"top_factr": 1}}, "random"]},
            }
        )
    with pytest.raises(ConfigError, match=r"strategy\.params\.gamma: Input should be less"):
        load({"name": PORTFOLIO, "params": {"arms": ["margin", "random"], "gamma": 2}})
    with pytest.raises(ConfigError, match=r"strategy\.params\.arms: each strategy may be an arm"):
        load({"name": PORTFOLIO, "params": {"arms": ["margin", "margin"]}})
    # gamma=1 is a uniform draw: over a few rounds both arms are chosen, each with its params
    s = StrategyConfig(name=PORTFOLIO, params={"arms": arms, "gamma": 1.0})
    labels = pd.DataFrame({"label": ["a", "b"]})
    picks = {}
    for r in range(1, 12):
        spec, params = choose_strategy(
            s, ["a", "b"], labels, has_model=True, history=[], seed=0, round_id=r
        )
        picks[spec.name] = (spec.params.model_dump(), params)
    assert picks["margin_coreset"] == ({"utility": "margin", "top_factor": 5}, {"top_factor": 5})
    assert picks["random"] == ({}, {})


@pytest.mark.parametrize(
    ("has_model", "counts", "expected"),
    [
        (False, {"a": 0, "b": 0}, "random"),  # density_coreset needs a model: random before one
        (True, {"a": 29, "b": 40}, "density_coreset"),  # a class below 30 labels
        (True, {"a": 30, "b": 30}, "margin_explore"),
    ],
)
def test_the_default_section_starts_random_then_density_coreset_then_margin_explore(
    has_model, counts, expected
):
    labels = pd.DataFrame({"label": [c for c, n in counts.items() for _ in range(n)]})
    spec, _ = choose_strategy(
        StrategyConfig(), ["a", "b"], labels, has_model=has_model, history=[], seed=0, round_id=1
    )
    assert spec.name == expected


def test_strategy_config_built_in_code_is_checked_too():
    with pytest.raises(ValidationError, match="top_factr"):
        StrategyConfig(name="margin_coreset", params={"top_factr": 3})


def test_the_declared_utility_drives_the_pre_ranking():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = rng.integers(0, 4, size=600).astype(str)
    model = LogisticRegression(max_iter=500).fit(x, y)
    ids = pa.array([f"{i:04d}" for i in range(600)])
    by_margin = get_strategy("margin_coreset")
    by_entropy = by_margin.with_params({"utility": "entropy"})
    assert by_margin.ranks == ("margin",) and by_entropy.ranks == ("entropy",)

    def scored(rank_by, top_m: int):
        req = ScoreRequest(rank_by, top_m, seed=0, round_id=1, classes=["0", "1", "2", "3"])
        return score_features(ids, x, "p", model, None, req).candidates

    def candidates(spec) -> list[str]:
        return scored(spec.ranks, 30)["item_id"].tolist()

    full = scored("random", 600)
    entropy_order = full["item_id"].to_numpy()[
        top_k(full["entropy"].to_numpy(), 30, full["item_id"].to_numpy())
    ]
    assert candidates(by_entropy) == entropy_order.tolist()
    assert candidates(by_entropy) != candidates(by_margin)


def test_docs_list_every_parameter():
    text = (ROOT / "docs" / "strategies.md").read_text()
    assert params_table() in text, "regenerate the table with alflow.strategy_params.params_table"
    for name in [*NAMES, PORTFOLIO]:
        fields = params_model(name).model_fields
        assert all(f"| `{name}` | `{key}` |" in text for key in fields)
        assert fields or f"`{name}`" in text.split("## Parameters", 1)[1]


def test_a_batch_built_with_utility_entropy_is_chosen_by_entropy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 4))
    y = rng.integers(0, 4, size=500).astype(str)
    labeled = np.arange(40)
    model = LogisticRegression(max_iter=500).fit(x[labeled], y[labeled])
    pool = SimulatedPool.of(x, y, ["0", "1", "2", "3"])
    spec = get_strategy("stochastic_power").with_params({"utility": "entropy", "power": 50.0})
    batch = simulated_batch(
        pool,
        labeled,
        model,
        spec,
        batch_size=10,
        seed=0,
        round_id=1,
        strategy=StrategyConfig(name="stochastic_power", params={"utility": "entropy"}),
        committee=lambda x, y: [],
    )
    np.testing.assert_array_equal(batch["utility"], batch["entropy"])
    assert not np.allclose(batch["utility"], batch["margin"])
