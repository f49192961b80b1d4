"""``alflow round``, ``import``, ``retrain`` and ``replay``: one labeling round's steps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alflow.stages import stage
from flows.cli_common import (
    ConfigOpt,
    VendorOpt,
    load,
    orchestration,
    print_training,
    with_services,
)
from flows.user_errors import guard


@guard
def round_(
    config: ConfigOpt = Path("alflow.yaml"),
    vendor: VendorOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="Items to select this round (default: campaign.batch_size)."),
    ] = None,
) -> None:
    """Run a labeling round: score the pool on Dask, select a batch, export it."""
    cfg = with_services(load(config, vendor))
    with stage("imports"):
        from flows.rounds import labeling_round

    with orchestration():
        result = labeling_round(cfg, batch_size=batch_size)
    if result.get("skipped"):
        typer.echo(f"round skipped: {result['skipped']}")
        return
    export = result["export"]
    typer.echo(
        f"round {result['round_id']}: selected {result['selected']} items; "
        f"batch at {export['uri']} ({export['rows']} rows, sha256 {export['sha256'][:12]})"
    )


@guard
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
    cfg = with_services(load(config, vendor))
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

    with orchestration():
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
        print_training(out["train"])


@guard
def retrain(config: ConfigOpt = Path("alflow.yaml")) -> None:
    """Train on all resolved labels, evaluate, register; move 'champion' if the gate passes."""
    cfg = with_services(load(config))
    from flows.rounds import reimport_and_retrain

    with orchestration():
        train = reimport_and_retrain(cfg)["train"]
    print_training(train)


@guard
def replay(
    round_id: Annotated[int, typer.Argument(help="The round to rebuild.")],
    config: ConfigOpt = Path("alflow.yaml"),
) -> None:
    """Rebuild a round's batch from what MLflow recorded; show it is identical or what differs.

    Exit code 0 when identical, 1 when it differs.
    """

    cfg = with_services(load(config))
    from alflow.project import Project
    from alflow.rounds.replay import replay_round
    from alflow.scoring.compute import shared_client

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
