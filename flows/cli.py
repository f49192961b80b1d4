"""The ``alflow`` command line. Heavy libraries load inside commands, so ``--help`` is quick."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from alflow import stages
from alflow.config import StrategyConfig
from alflow.stages import stage
from flows.audit_cli import audit_app
from flows.labels_cli import labels_app
from flows.user_errors import fail as _fail
from flows.user_errors import guard as _guard

app = typer.Typer(
    name="alflow",
    help="Active-learning labeling rounds: score a pool on Dask, pick the batch worth labeling, "
    "export it to annotators, take labels back, retrain, and audit everything in MLflow.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


app.add_typer(audit_app, name="audit")
app.add_typer(labels_app, name="labels")

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="ALFLOW_CONFIG", help="The project's YAML config."),
]


def _quiet_logs(verbose: bool) -> None:
    """Prefect, MLflow and Dask log every step at INFO; the CLI shows warnings unless -v."""
    import logging

    level = "INFO" if verbose else "WARNING"
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", level)
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    # Prefect's embedded API gets 20 s to start by default; a busy machine needs longer.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    for name in ("distributed", "alembic"):
        logging.getLogger(name).setLevel(level)
    if not verbose:  # Prefect's own API database, cancelled at shutdown: not the user's error
        logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool").setLevel("CRITICAL")


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Prefect's logs and errors' traces.")
    ] = False,
) -> None:
    stages.emit_at_exit()
    if verbose:
        os.environ["ALFLOW_VERBOSE"] = "1"
    _quiet_logs(verbose)


def _load(config: Path, vendor: str | None = None):
    """The validated config; ``vendor`` replaces ``vendor.kind`` (and is validated with it)."""
    from alflow.config import config_from_dict, load_config

    cfg = load_config(config)
    if vendor is None or vendor == cfg.vendor.kind:
        return cfg
    raw = cfg.model_dump()
    raw["vendor"]["kind"] = vendor
    return config_from_dict(raw, source=f"{config} with --vendor {vendor}", environ={})


def _with_services(cfg):
    """The config, this process pointed at the workspace's shared Prefect server and Dask
    cluster first (``flows.workspace_services``; started on first use)."""
    from flows.workspace_services import use_workspace_services

    use_workspace_services(cfg)
    return cfg


VendorOpt = Annotated[
    str | None,
    typer.Option(
        "--vendor",
        help="Override vendor.kind: file, simulated or label-studio (its url, mode and "
        "token_env come from the config's vendor section or ALFLOW__VENDOR__* variables).",
    ),
]


@app.command()
@_guard
def init(
    config: ConfigOpt = Path("alflow.yaml"),
    example: Annotated[
        str, typer.Option(help="Starter config to write when none exists: digits or text.")
    ] = "digits",
) -> None:
    """Create the workspace (ledger, MLflow backend, folders); write a starter config if none."""
    from importlib.resources import files

    if not config.exists():
        starter = files("alflow").joinpath("configs", f"{example}.yaml")
        if not starter.is_file():
            _fail(ValueError(f"no starter config named {example!r}"))
        config.write_text(starter.read_text())
        typer.echo(f"wrote {config} (edit its data section for your pool)")
    from alflow.config import redact_url
    from alflow.project import Project

    project = Project(_load(config))
    project.ledger  # noqa: B018  (creates and migrates the ledger)
    project.tracker  # noqa: B018  (creates the MLflow experiment)
    ws = project.ws
    typer.echo(
        f"workspace {ws.root}\n  ledger  {redact_url(ws.ledger_url)}\n"
        f"  mlflow  {redact_url(ws.mlflow_tracking_uri)}"
    )


@app.command()
@_guard
def ingest(
    source: Annotated[str, typer.Argument(help="CSV, JSONL or Parquet file: a path or a URL.")],
    config: ConfigOpt = Path("alflow.yaml"),
    eval_set: Annotated[
        bool, typer.Option("--eval", help="Ingest as the labeled evaluation set.")
    ] = False,
) -> None:
    """Add a file's new items to the pool (or the evaluation set). Re-ingesting adds nothing."""
    with stage("imports"):
        from alflow.handles import Stores
        from alflow.ingest import row_count
        from tasks.progress import progress_bar

    project = Stores(_load(config))
    total = row_count(source)
    with stage("ingest"), progress_bar(f"ingesting {source}", total) as advance:
        report = project.ingest(source, target="eval" if eval_set else "pool", progress=advance)
    typer.echo(
        f"{report.source}: read {report.rows_read} rows, added {report.rows_added} new items "
        f"in {report.partitions} partition(s)"
    )


@app.command("round")
@_guard
def round_(config: ConfigOpt = Path("alflow.yaml"), vendor: VendorOpt = None) -> None:
    """Run a labeling round: score the pool on Dask, select a batch, export it."""
    cfg = _with_services(_load(config, vendor))
    with stage("imports"):
        from flows.rounds import labeling_round

    with stage("orchestration"):
        result = labeling_round(cfg)
    if result.get("skipped"):
        typer.echo(f"round skipped: {result['skipped']}")
        return
    export = result["export"]
    typer.echo(
        f"round {result['round_id']}: selected {result['selected']} items; "
        f"batch at {export['uri']} ({export['rows']} rows, sha256 {export['sha256'][:12]})"
    )


@app.command("import")
@_guard
def import_(
    labels_file: Annotated[
        Path | None,
        typer.Argument(
            help="A labels file (JSONL or CSV; a Label Studio JSON export for label-studio). "
            "Leave it out to pull the annotations from the vendor's server (label-studio, "
            "mode api)."
        ),
    ] = None,
    config: ConfigOpt = Path("alflow.yaml"),
    vendor: VendorOpt = None,
    retrain: Annotated[bool, typer.Option(help="Retrain right after the import.")] = False,
    weak: Annotated[
        bool,
        typer.Option(
            "--weak",
            help="The file holds a label model's weak labels (docs/vendors.md): trained on "
            "with a weight, never counted as human labels.",
        ),
    ] = False,
) -> None:
    """Import annotations (idempotent: the same file or annotation twice adds nothing)."""
    cfg = _with_services(_load(config, vendor))
    with stage("imports"):
        from flows.rounds import reimport_and_retrain

    if weak:
        from alflow.project import Project

        if labels_file is None:
            raise typer.BadParameter("--weak needs a weak-labels file")
        rep = Project(cfg).import_weak_labels(labels_file)
        typer.echo(
            f"{rep.source}: {rep.rows_read} weak labels read ({rep.abstained} abstains left "
            f"out), {rep.weak_labels_changed} new or changed"
        )
        if not retrain:
            return

    with stage("orchestration"):
        out = reimport_and_retrain(
            cfg,
            str(labels_file) if labels_file and not weak else None,
            retrain=retrain,
            pull=labels_file is None,
        )
    imp = out.get("import")
    if imp:
        typer.echo(
            f"{imp['source']}: {imp['events_read']} annotations read, {imp['events_added']} new, "
            f"{imp['items_resolved']} items resolved"
        )
    if "train_skipped" in out:
        typer.echo(f"retrain skipped: {out['train_skipped']}")
    elif retrain:
        _print_training(out["train"])


def _print_training(train: dict) -> None:
    m = train["metrics"]
    acc = (
        f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}"
        if "accuracy" in m
        else ("no evaluation set yet")
    )
    verdict = "promoted to champion" if train["promoted"] else "champion kept"
    typer.echo(
        f"model version {train['model_version']} on {train['n_labels']} labels: {acc}; {verdict}"
    )


@app.command()
@_guard
def retrain(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Train on all resolved labels, evaluate, register; move 'champion' if the gate passes."""
    cfg = _with_services(_load(config))
    from flows.rounds import reimport_and_retrain

    _print_training(reimport_and_retrain(cfg)["train"])


@app.command()
@_guard
def status(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Items by state, rounds, and the champion's metrics."""
    with stage("imports"):
        from rich.console import Console
        from rich.table import Table

        from alflow.handles import Stores

    st = Stores(_load(config)).status()
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
    if champ:
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


@app.command()
@_guard
def stop(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Stop the workspace's local Prefect server and Dask cluster (the next command that needs
    them starts them again)."""
    from alflow.workspace import Workspace
    from flows.workspace_services import stop as stop_services

    root = Workspace.from_config(_load(config)).root
    state = stop_services(root)
    if state is None:
        typer.echo(f"no local services running for {root}")
        return
    shown = ", ".join(
        f"{what} {state[key]}"
        for what, key in (("Prefect API", "prefect_api_url"), ("Dask scheduler", "dask_address"))
        if state.get(key)
    )
    typer.echo(f"stopped the local services of {root}: {shown}")


@app.command()
@_guard
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

    raise typer.Exit(serve_campaign(config, _load(config), resume=resume))


@app.command()
@_guard
def replay(
    round_id: Annotated[int, typer.Argument(help="The round to rebuild.")],
    config: ConfigOpt = Path("alflow.yaml"),
) -> None:
    """Rebuild a round's batch from what MLflow recorded; show it is identical or what differs.

    Exit code 0 when identical, 1 when it differs.
    """

    cfg = _with_services(_load(config))
    from alflow.compute import shared_client
    from alflow.project import Project
    from alflow.replay import replay_round

    report = replay_round(Project(cfg), round_id, shared_client(cfg.compute))
    for note in report.notes:
        typer.echo(f"note: {note}")
    if report.identical:
        typer.echo(
            f"round {round_id}: replay identical ({len(report.recorded)} items, same ranks and "
            f"reasons; MLflow run {report.run_id})"
        )
        return
    diff = report.differences()
    typer.echo(f"round {round_id}: replay differs in {len(diff)} item(s):")
    typer.echo(diff.to_string(index=False))
    raise typer.Exit(1)


@app.command()
@_guard
def demo(
    workspace: Annotated[
        Path, typer.Option(help="Folder for the demo (replaced each run).")
    ] = Path("alflow-demo"),
    strategy: Annotated[
        str, typer.Option(help="Strategy to compare with random (default: the config default).")
    ] = StrategyConfig().name,
    rounds: Annotated[int, typer.Option(min=2, help="Rounds per campaign.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per round.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed for data split, model and sampling.")] = 0,
) -> None:
    """Simulated campaigns on scikit-learn's digits: a strategy against random, in MLflow."""
    from rich.console import Console
    from rich.table import Table

    from alflow.strategies import REGISTRY
    from flows.demo import run_demo

    if strategy not in REGISTRY:
        _fail(ValueError(f"unknown strategy {strategy!r}; known: {sorted(REGISTRY)}"))
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
