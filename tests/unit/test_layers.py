"""The three layers stay visible: core never imports Prefect, tasks never import flows."""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("alflow", {"prefect", "prefect_dask", "tasks", "flows"}), ("tasks", {"flows"})],
)
def test_layer_imports(package, forbidden):
    offenders = {
        str(p.relative_to(ROOT)): sorted(imported_modules(p) & forbidden)
        for p in (ROOT / package).rglob("*.py")
        if imported_modules(p) & forbidden
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("library", "owner"),
    [
        ("distributed", "alflow/compute.py"),
        ("mlflow", "alflow/tracking.py"),
        ("sqlalchemy", "alflow/ledger/"),
    ],
)
def test_one_owner_per_heavy_library(library, owner):
    users = sorted(
        str(p.relative_to(ROOT))
        for pkg in ("alflow", "tasks", "flows")
        for p in (ROOT / pkg).rglob("*.py")
        if library in imported_modules(p)
    )
    assert users and all(u.startswith(owner) for u in users), users
