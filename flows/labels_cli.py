"""``alflow labels``: the resolved labels out of alflow, for a model trained elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli_common import ConfigOpt, load
from flows.user_errors import guard

labels_app = typer.Typer(
    help="The resolved labels, for training your own model (model.scoring_uri).",
    no_args_is_help=True,
)


@labels_app.command("export")
@guard
def export(
    out: Annotated[Path, typer.Argument(help="The file to write: .csv, .jsonl or .parquet.")],
    config: ConfigOpt = Path("alflow.yaml"),
) -> None:
    """Write every resolved human label (item_id, label) with the item's features."""
    from alflow.handles import Stores
    from alflow.labels.exporting import export_labels

    n = export_labels(Stores(load(config)), out)
    typer.echo(f"wrote {n} labels to {out}")
