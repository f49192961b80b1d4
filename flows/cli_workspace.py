"""``alflow init``, ``ingest``, ``status`` and ``stop``: the workspace and what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alflow.stages import stage
from flows.cli_common import ConfigOpt, load, orchestration, with_services
from flows.user_errors import fail, guard

FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="A CSV, JSONL or Parquet file (path or URL): write a config for its columns, "
        "inferred from its first --sample-rows records.",
    ),
]
LabelColumnOpt = Annotated[
    str | None,
    typer.Option(
        help="With --from: the column of labels (its values are the label schema; '?' and "
        "empty cells are unlabeled rows)."
    ),
]
IdColumnOpt = Annotated[
    str | None,
    typer.Option(help="With --from: the column of item ids (default: a content hash)."),
]
IgnoreOpt = Annotated[
    list[str] | None,
    typer.Option("--ignore", help="With --from: a column to leave out (repeatable)."),
]
SampleOpt = Annotated[int, typer.Option(min=10, help="With --from: records read to infer from.")]


@guard
def init(
    config: ConfigOpt = Path("alflow.yaml"),
    example: Annotated[
        str, typer.Option(help="Starter config to write when none exists: digits or text.")
    ] = "digits",
    from_file: FromOpt = None,
    label_column: LabelColumnOpt = None,
    id_column: IdColumnOpt = None,
    ignore: IgnoreOpt = None,
    sample_rows: SampleOpt = 2_000,
) -> None:
    """Create the workspace (ledger, MLflow backend, folders); write a starter config if none
    (with --from: one inferred from your file)."""
    if from_file is not None:
        _init_from(config, from_file, label_column, id_column, ignore or [], sample_rows)
    elif not config.exists():
        from importlib.resources import files

        starter = files("alflow").joinpath("configs", f"{example}.yaml")
        if not starter.is_file():
            fail(ValueError(f"no starter config named {example!r}"))
        config.write_text(starter.read_text())
        typer.echo(f"wrote {config} (edit its data section for your pool)")
    from alflow.config import redact_url
    from alflow.project import Project

    project = Project(load(config))
    project.ledger  # noqa: B018  (creates and migrates the ledger)
    project.tracker  # noqa: B018  (creates the MLflow experiment)
    ws = project.ws
    typer.echo(
        f"workspace {ws.root}\n  ledger  {redact_url(ws.ledger_url)}\n"
        f"  mlflow  {redact_url(ws.mlflow_tracking_uri)}"
    )


def _init_from(
    config: Path, source: str, label: str | None, id_column: str | None, ignore, rows: int
) -> None:
    """Write ``config`` from what a sample of ``source`` holds (never over an existing one)."""
    if label is None:
        fail("--from needs --label-column COL: the column that holds the labels")
    if config.exists():
        fail(f"{config} exists: pass --config NEW.yaml, or remove it to write it again")
    from alflow.starter import config_from_file, summary

    text, inferred = config_from_file(source, label, id_column=id_column, ignore=ignore, rows=rows)
    config.write_text(text)
    typer.echo(f"wrote {config} from {summary(inferred)}; check it, then: alflow ingest {source}")


@guard
def ingest(
    source: Annotated[str, typer.Argument(help="CSV, JSONL or Parquet file: a path or a URL.")],
    config: ConfigOpt = Path("alflow.yaml"),
    eval_set: Annotated[
        bool, typer.Option("--eval", help="Ingest as the labeled evaluation set.")
    ] = False,
) -> None:
    """Add a file's new items to the pool (or the evaluation set). Re-ingesting adds nothing."""
    cfg = with_services(load(config))
    with stage("imports"):
        from flows.ingest import ingest as ingest_flow

    with orchestration():
        report = ingest_flow(cfg, source, target="eval" if eval_set else "pool")
    typer.echo(
        f"{report['source']}: read {report['rows_read']} rows, added {report['rows_added']} new "
        f"items in {report['partitions']} partition(s)"
    )


@guard
def status(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Items by state, rounds, and the champion's metrics."""
    with stage("imports"):
        from rich.console import Console
        from rich.table import Table

        from alflow.handles import Stores

    stores = Stores(load(config))
    st = stores.status()
    console = Console()
    items = Table(title="items by state")
    items.add_column("state")
    items.add_column("items", justify="right")
    for state, n in sorted(st["items"].items()):
        items.add_row(state, str(n))
    console.print(items)
    if len(st["rounds"]):
        rounds = Table(title="rounds")
        for col in ("round", "status", "strategy", "batch", "model_version"):
            rounds.add_column(col)
        for r in st["rounds"].to_dict("records"):
            rounds.add_row(
                *(str(r[c]) for c in ("round", "status", "strategy", "batch", "model_version"))
            )
        console.print(rounds)
    champ = st["champion"]
    own = stores.config.model.scoring_uri
    if own:
        console.print(f"scoring model: {own} (model.scoring_uri; you train and register it)")
    elif champ:
        console.print(
            f"champion: version {champ['model_version']} (round {champ['round']}, "
            f"{champ['labels']} labels) accuracy {champ.get('accuracy', float('nan')):.4f} "
            f"macro-F1 {champ.get('macro_f1', float('nan')):.4f}"
        )
    else:
        console.print("champion: none yet")
    console.print(f"annotation events: {st['events']}; weak labels: {st['weak_labels']}")
    queue = st["needs_adjudication"]
    if queue:
        shown = ", ".join(queue[:10]) + (", ..." if len(queue) > 10 else "")
        console.print(
            f"needs adjudication: {len(queue)} item(s) ({shown}); add a ground-truth "
            "annotation to resolve one ('alflow audit item ID' shows the votes)"
        )


@guard
def stop(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Stop the workspace's local Prefect server and Dask cluster, and the warm server (the next
    command that needs them starts them again)."""
    from alflow.workspace import Workspace
    from flows.warm import stop_servers
    from flows.workspace_services import stop as stop_services

    root = Workspace.from_config(load(config)).root
    state = stop_services(root)
    for pid in stop_servers():
        typer.echo(f"stopped the warm server (pid {pid})")
    if state is None:
        typer.echo(f"no local services running for {root}")
        return
    shown = ", ".join(
        f"{what} {state[key]}"
        for what, key in (("Prefect API", "prefect_api_url"), ("Dask scheduler", "dask_address"))
        if state.get(key)
    )
    typer.echo(f"stopped the local services of {root}: {shown}")
