"""skops.io, imported without its walk of every scikit-learn module.

When it is imported, skops.io lists scikit-learn's estimators (``sklearn.utils.all_estimators``),
which imports every scikit-learn module, tests included: about 1 s of CPU in each command that
logs or loads a model, a fifth of a round's imports. The list depends only on the installed
scikit-learn and skops, so the first import keeps the names skops found in the user's cache
(``$XDG_CACHE_HOME/alflow``, else ``~/.cache/alflow``), and later imports hand skops those names
instead of the walk. skops keeps only names under ``sklearn.`` either way.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

import sklearn.utils


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = f"sklearn-{version('scikit-learn')}-skops-{version('skops')}-estimators.json"
    return base / "alflow" / name


def import_skops_io() -> ModuleType:
    """The ``skops.io`` module (imported once per process)."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    path = cache_path()
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError):
        names = None
    if not isinstance(names, list):
        return _import_and_keep(path)
    walk = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *_a, **_k: [_stand_in(n) for n in names]
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = walk
    return skops.io


def _import_and_keep(path: Path) -> ModuleType:
    import skops.io
    from skops.io import _trusted_types

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(_trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES))
        tmp.replace(path)
    except OSError:  # a read-only home: every import walks, as without the cache
        pass
    return skops.io


def _stand_in(name: str) -> tuple[str, type]:
    """``(class name, a class named like the estimator)``: skops reads only the name."""
    module, cls = name.rsplit(".", 1)
    return cls, type(cls, (), {"__module__": module})
