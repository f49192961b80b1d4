"""MLflow key encoding: safe keys unchanged, others encoded deterministically, never dropped."""

from __future__ import annotations

import pytest
from mlflow.utils.validation import _validate_metric_name, _validate_param_name

from alflow.tracking_keys import mlflow_key

NAMES = ["<=50K", ">50K", "a/b", "with space", "café ünï 猫", "x" * 100, "a..b", "ok_name-1.2"]


@pytest.mark.parametrize("label", NAMES)
def test_every_label_gives_a_key_mlflow_accepts(label):
    key = mlflow_key(f"class_count.{label}")
    _validate_metric_name(key)
    _validate_param_name(key)
    assert key == mlflow_key(f"class_count.{label}")


def test_safe_keys_are_unchanged_and_unsafe_ones_stay_distinct():
    assert mlflow_key("class_count.cat") == "class_count.cat"
    assert mlflow_key("class_count.<=50K") != mlflow_key("class_count.>=50K")
    assert mlflow_key("class_count.<=50K").startswith("class_count.")
    assert "50K" in mlflow_key("class_count.<=50K")
