"""``alflow audit``: why an item was chosen, what came back, which labels trained which model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_common import ConfigOpt
from flows.user_errors import guard

audit_app = typer.Typer(
    help="Answer for every round, item and model from the ledger and MLflow.",
    no_args_is_help=True,
)

CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write the table to this CSV.")]


def _project(config: Path):
    """The project's ledger and MLflow (no model, scoring, Prefect or Dask code)."""
    from alflow.config import load_config
    from alflow.handles import Stores

    return Stores(load_config(config))


def _show(frame, title: str, csv: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    Console().print(table)
    if csv is not None:
        from alflow.csvsafe import write_csv

        write_csv(frame, csv)
        typer.echo(f"wrote {csv}")


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.4g}"
    return "" if v is None else str(v)


@audit_app.command("rounds")
@guard
def rounds(config: ConfigOpt = Path("alflow.yaml"), csv: CsvOpt = None) -> None:
    """Every round: strategy, batch, labels back, agreement, model versions, metrics."""
    _show(_project(config).ledger.round_summary(), "rounds", csv)


@audit_app.command("round")
@guard
def round_(
    round_id: Annotated[int, typer.Argument(help="The round number.")],
    config: ConfigOpt = Path("alflow.yaml"),
    csv: CsvOpt = None,
) -> None:
    """Every selected item of a round with its rank and score components, and what chose it."""
    project = _project(config)
    from alflow.errors import LedgerError

    try:
        r = project.ledger.get_round(round_id)
    except LedgerError as err:
        raise typer.BadParameter(str(err)) from None
    typer.echo(
        f"round {r.id}: {r.strategy}, scored with model version {r.model_version or 'none'} "
        f"({r.model_uri or 'cold start'}), config {r.config_hash}, pool {r.pool_hash}, "
        f"MLflow run {r.mlflow_run_id}"
    )
    _show(project.ledger.selection(round_id), f"round {round_id}: selected items", csv)


@audit_app.command("item")
@guard
def item(
    item_id: Annotated[str, typer.Argument(help="The item id.")],
    config: ConfigOpt = Path("alflow.yaml"),
) -> None:
    """An item's whole history: selections, exports, every annotation, the resolved label."""
    from rich.console import Console
    from rich.pretty import Pretty

    history = _project(config).ledger.item_history(item_id)
    if history is None:
        raise typer.BadParameter(f"unknown item {item_id!r}")
    Console().print(Pretty(history, expand_all=True))


@audit_app.command("model")
@guard
def model(
    version: Annotated[str, typer.Argument(help="A registered model version.")],
    config: ConfigOpt = Path("alflow.yaml"),
    csv: CsvOpt = None,
) -> None:
    """The round and the labels (human and pseudo) that trained a model version."""
    from alflow.tracking.mlflow_tracker import read_run_csv

    project = _project(config)
    training = project.ledger.training_of_version(version)
    if training is None:
        raise typer.BadParameter(f"no training produced model version {version!r}")
    typer.echo(", ".join(f"{k} {_cell(v)}" for k, v in training.items()))
    labels = read_run_csv(project.tracker, training["mlflow_run_id"], "training_labels.csv")
    counts = labels.groupby(["source", "label"]).size().reset_index(name="items")
    _show(counts, f"model version {version}: training labels by source and class", None)
    if csv is not None:
        from alflow.csvsafe import write_csv

        write_csv(labels, csv)
        typer.echo(f"wrote {csv}")
