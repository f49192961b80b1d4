"""``alflow serve`` and ``alflow demo``: campaigns of many rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alflow.config import DEFAULT_STRATEGY
from flows.cli_common import ConfigOpt, load
from flows.user_errors import fail, guard


@guard
def serve(
    config: ConfigOpt = Path("alflow.yaml"),
    resume: Annotated[
        bool, typer.Option(help="Clear a recorded campaign stop and serve unpaused.")
    ] = False,
) -> None:
    """Serve the campaign: rounds on the schedule, the labels inbox polled, until interrupted.

    Starts a local Prefect server when PREFECT_API_URL is not set. A stopping criterion or an
    exhausted budget pauses both schedules and records why (ledger, MLflow, log). Prints a line
    per round; SIGTERM (exit 0) or Ctrl-C (exit 130) stops it and all it started.
    """
    from flows.serve import serve as serve_campaign

    raise typer.Exit(serve_campaign(config, load(config), resume=resume))


@guard
def demo(
    workspace: Annotated[
        Path, typer.Option(help="Folder for the demo (replaced each run).")
    ] = Path("alflow-demo"),
    strategy: Annotated[
        str,
        typer.Option(
            help="Strategy to compare with random: a registered name, or default (the default "
            "strategy section, docs/benchmarks.md)."
        ),
    ] = DEFAULT_STRATEGY,
    rounds: Annotated[int, typer.Option(min=2, help="Rounds per campaign.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per round.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed for data split, model and sampling.")] = 0,
) -> None:
    """Simulated campaigns on scikit-learn's digits: a strategy against random, in MLflow."""
    from rich.console import Console
    from rich.table import Table

    from alflow.strategies import REGISTRY
    from flows.demo import run_demo

    if strategy != DEFAULT_STRATEGY and strategy not in REGISTRY:
        known = [DEFAULT_STRATEGY, *sorted(REGISTRY)]
        fail(ValueError(f"unknown strategy {strategy!r}; known: {known}"))
    out = run_demo(
        workspace.resolve(), strategy=strategy, rounds=rounds, batch_size=batch_size, seed=seed
    )
    curves = out["curves"]
    wide = curves.pivot_table(index="labels", columns="strategy", values="accuracy")
    table = Table(title="digits: test accuracy (500 held-out digits) by human labels")
    table.add_column("labels", justify="right")
    for col in wide.columns:
        table.add_column(col, justify="right")
    for labels, row in wide.iterrows():
        table.add_row(str(labels), *(f"{v:.3f}" for v in row))
    console = Console()
    console.print(table)
    final = wide.iloc[-1]
    console.print(
        f"after {wide.index[-1]} labels: {strategy} {final[strategy]:.3f} vs random "
        f"{final['random']:.3f}"
        if strategy != "random"
        else ""
    )
    console.print(f"learning curve: {out['png']}")
    console.print(f"MLflow: mlflow ui --backend-store-uri {out['mlflow_uri']}")
    secs = ", ".join(f"{k} {v:.0f} s" for k, v in out["timings"].items())
    console.print(f"campaign times: {secs}")
