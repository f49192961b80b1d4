"""The layers and owners stay visible, read from the source (AST, nothing imported): the core
never imports Prefect, tasks never import flows, each heavy library has one owner, vendors never
import strategies, no import cycle among the project's modules, imports at the top of modules."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("alflow", "tasks", "flows")

# Imports inside functions, on purpose: the CLI defers what a command needs so `alflow --help`
# and a config check stay fast (Prefect, MLflow, Dask, scikit-learn load only when used).
DEFERRED_OK = {
    "flows/cli.py": "the CLI defers each command's heavy imports",
    "flows/cli_common.py": "the CLI defers each command's heavy imports",
    "flows/cli_workspace.py": "the CLI defers each command's heavy imports",
    "flows/cli_rounds.py": "the CLI defers each command's heavy imports",
    "flows/cli_campaign.py": "the CLI defers each command's heavy imports",
    "flows/audit_cli.py": "the audit CLI defers the ledger and MLflow to the command that runs",
    "flows/labels_cli.py": "the labels CLI defers the ledger and the pool to its command",
    # read-only commands open only these stores: MLflow and the ingest code load on first use
    "alflow/handles.py": "the tracker (MLflow) and ingest (pyarrow) load when first used",
    # the daemon's cluster is Dask's: the commands that only connect (or stop) never import it
    "flows/workspace_services.py": "the local cluster (Dask) loads in the daemon only",
    # skops.io is imported with the kept estimator list standing in for its sklearn walk
    "alflow/training/skops_import.py": "skops.io imports once, after the walk is replaced",
    # the first round is on the clock from launch: the server starts before anything heavy
    "flows/serve.py": "the ledger (SQLAlchemy, pandas) loads once the Prefect server starts",
    # onnxruntime is an optional extra: a pool embedded by the sentence encoder loads it
    "alflow/data/text_space.py": "the sentence encoder (the optional encoder extra) loads then",
}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three layers."""
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


@cache
def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(module, line, inside a function)`` for every absolute import in ``path``; a
    ``from pkg import name`` where ``pkg.name`` is a module counts as importing ``pkg.name``."""
    known = modules()
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, inner: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # type hints only: nothing is imported when the code runs
            fn = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                subs = [f"{child.module}.{a.name}" for a in child.names]
                found = [s for s in subs if s in known]
                for name in found or [child.module]:
                    out.append((name, child.lineno, inner))
            visit(child, inner or fn)

    visit(ast.parse(path.read_text()), False)
    return out


def files(package: str = "") -> list[tuple[str, Path]]:
    return [
        (str(p.relative_to(ROOT)), p)
        for name, p in sorted(modules().items())
        if name == package or name.startswith(f"{package}.") or not package
    ]


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("alflow", {"prefect", "prefect_dask", "tasks", "flows"}), ("tasks", {"flows"})],
)
def test_layer_imports(package, forbidden):
    offenders = {
        rel: sorted({top(m) for m, _, _ in imports(p)} & forbidden)
        for rel, p in files(package)
        if {top(m) for m, _, _ in imports(p)} & forbidden
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("library", "owner"),
    [
        ("faiss", "alflow/index/"),
        ("onnxruntime", "alflow/data/sentence_encoder.py"),
        ("tokenizers", "alflow/data/sentence_encoder.py"),
        ("dask", "alflow/scoring/compute.py"),
        ("distributed", "alflow/scoring/compute.py"),
        ("mlflow", "alflow/tracking/mlflow_tracker.py"),
        ("sqlalchemy", "alflow/ledger/"),
        ("alembic", "alflow/ledger/"),
    ],
)
def test_one_owner_per_heavy_library(library, owner):
    users = sorted(rel for rel, p in files() if library in {top(m) for m, _, _ in imports(p)})
    assert all(u.startswith(owner) for u in users), users
    if library != "dask":  # dask itself comes in through distributed
        assert users, f"nothing imports {library}: is {owner} still its owner?"


def test_vendors_never_import_strategies():
    offenders = {
        rel: [
            m
            for m, _, _ in imports(p)
            if m.startswith(("alflow.strategies", "alflow.scoring.score"))
        ]
        for rel, p in files("alflow.vendors")
    }
    assert {rel: ms for rel, ms in offenders.items() if ms} == {}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle_among_the_projects_modules():
    """Every import counts, at the top or inside a function (a deferred import hides a cycle,
    it does not remove it); a package's ``__init__`` importing its own modules is no cycle."""
    known = modules()
    graph = {
        name: {m for m, _, _ in imports(path) if m in known and m != name}
        for name, path in known.items()
    }
    for name in graph:  # a package re-exporting its submodules is not a dependency back
        if known[name].name == "__init__.py":
            graph[name] = {m for m in graph[name] if not m.startswith(f"{name}.")}
    assert _cycles(graph) == []


def test_imports_are_at_the_top_of_modules():
    deferred = {
        rel: [line for _, line, inner in imports(p) if inner]
        for rel, p in files()
        if rel not in DEFERRED_OK
    }
    assert {rel: lines for rel, lines in deferred.items() if lines} == {}


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60


def test_modules_and_functions_stay_small():
    """No module over 400 lines (migrations aside), no function over 60 (its ``def`` line to
    its last, docstring included)."""
    big_modules, big_functions = {}, {}
    for rel, path in files():
        if "migrations" in Path(rel).parts:
            continue
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            big_modules[rel] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    big_functions[f"{rel}:{node.lineno} {node.name}"] = length
    assert big_modules == {}
    assert big_functions == {}
