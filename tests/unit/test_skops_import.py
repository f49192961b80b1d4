"""skops.io imported through alflow.training.skops_import: the first import keeps skops's list of
trusted scikit-learn estimators, later ones reuse it without importing every scikit-learn module,
and the list skops trusts is the same either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, sys; from alflow.training.skops_import import import_skops_io;"
    "m = import_skops_io();"
    "print(json.dumps([m._trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES,"
    " 'sklearn.semi_supervised' in sys.modules]))"
)


def probe(cache: Path) -> tuple[list[str], bool]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    names, walked = json.loads(out.stdout)
    return names, walked


def test_the_kept_list_replaces_the_walk_and_trusts_the_same_types(tmp_path):
    first, walked = probe(tmp_path)
    assert walked and "sklearn.linear_model._logistic.LogisticRegression" in first
    [kept] = (tmp_path / "alflow").glob("*-estimators.json")
    assert json.loads(kept.read_text()) == first
    again, walked = probe(tmp_path)
    assert again == first and not walked
