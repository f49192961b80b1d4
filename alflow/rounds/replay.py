"""Replay: rebuild a past round's batch from what MLflow recorded, and say what differs.

MLflow holds, per round, the resolved config (``config.yaml``), the selection inputs
(``replay/inputs.json``: strategy, model version, the pool's partitions with their sha256, the
seed-bearing config, sample sizes), the excluded ids and the labels the strategy saw
(``replay/*.csv``) and the batch itself (``selected_batch.csv``). Replay reloads the recorded model
version from the registry (or the URI a ``model.scoring_uri`` round was pinned to), re-scores
the recorded partitions and runs the same selection code.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from alflow.config import AlflowConfig
from alflow.csvsafe import read_csv
from alflow.data.pool import file_sha256, join, pool_hash
from alflow.errors import AlflowError
from alflow.project import Project
from alflow.rounds.opening import REPLAY_DIR
from alflow.scoring.external_model import scorer
from alflow.selection.policy import SelectionInputs
from alflow.tracking.mlflow_tracker import MlflowException


@dataclass
class ReplayReport:
    round_id: int
    run_id: str
    recorded: pd.DataFrame  # item_id, rank, reason as MLflow recorded them
    replayed: pd.DataFrame | None  # the same columns, rebuilt (None when it could not run)
    notes: list[str] = field(default_factory=list)  # why it may differ (pool, model, config)

    @property
    def identical(self) -> bool:
        return self.replayed is not None and self.differences().empty

    def differences(self) -> pd.DataFrame:
        """One row per item whose presence, rank or reason differs."""
        if self.replayed is None:
            return self.recorded.assign(change="not replayed")
        merged = self.recorded.merge(
            self.replayed, on="item_id", how="outer", suffixes=("_recorded", "_replayed")
        )
        only_rec = merged["rank_replayed"].isna()
        only_new = merged["rank_recorded"].isna()
        moved = (
            ~only_rec
            & ~only_new
            & (
                (merged["rank_recorded"] != merged["rank_replayed"])
                | (merged["reason_recorded"] != merged["reason_replayed"])
            )
        )
        merged["change"] = None
        merged.loc[only_rec, "change"] = "recorded only"
        merged.loc[only_new, "change"] = "replayed only"
        merged.loc[moved, "change"] = "rank or reason changed"
        return merged[merged["change"].notna()].reset_index(drop=True)


def _recorded_config(project: Project, path: Path) -> AlflowConfig:
    """The round's config, with today's locations (MLflow keeps them with passwords redacted)."""
    raw = yaml.safe_load(path.read_text())
    now = project.config.model_dump()
    for key in ("workspace", "storage", "compute"):
        raw[key] = now[key]
    return AlflowConfig.model_validate(raw)


def _pool_notes(project: Project, inputs: dict) -> list[str]:
    """What changed in the pool since the round: recorded partitions gone or rewritten, new ones."""
    notes = []
    recorded = [tuple(p) for p in inputs["partitions"]]
    known = dict(project.ledger.partitions("pool"))
    for name, sha in recorded:
        if name not in known:
            notes.append(f"pool changed: partition {name} is no longer in the ledger")
            continue
        try:
            actual = file_sha256(join(project.ws.pool_url, name))
        except FileNotFoundError:
            notes.append(f"pool changed: partition file {name} is missing")
            continue
        if actual != sha:
            notes.append(
                f"pool hash mismatch: partition {name} was {sha[:12]} at the round, "
                f"its file is now {actual[:12]}"
            )
    now = pool_hash(list(known.items()))
    if now != inputs["pool_hash"]:
        added = sorted(set(known) - {n for n, _ in recorded})
        notes.append(
            f"pool hash changed: recorded {inputs['pool_hash']}, now {now}"
            + (
                f" ({len(added)} partition(s) ingested since; replayed on the round's own)"
                if added
                else ""
            )
        )
    return notes


def replay_round(project: Project, round_id: int, client) -> ReplayReport:
    """Rebuild round ``round_id``'s batch from its MLflow run and compare."""
    tracker = project.tracker
    run_id = tracker.round_run_id(round_id)
    if run_id is None:
        raise AlflowError(f"no MLflow run is tagged alflow.round={round_id}")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            inputs = json.loads(
                tracker.download(run_id, f"{REPLAY_DIR}/inputs.json", tmp).read_text()
            )
            config = _recorded_config(project, tracker.download(run_id, "config.yaml", tmp))
            excluded = read_csv(
                tracker.download(run_id, f"{REPLAY_DIR}/excluded.csv", tmp), dtype=str
            )
            labels = read_csv(tracker.download(run_id, f"{REPLAY_DIR}/labels.csv", tmp), dtype=str)
            recorded = read_csv(
                tracker.download(run_id, "selected_batch.csv", tmp), dtype={"item_id": str}
            )
        except (MlflowException, OSError) as err:
            raise AlflowError(
                f"round {round_id}: MLflow run {run_id} lacks what replay needs ({err}); rounds "
                "recorded before replay existed cannot be replayed"
            ) from None
    recorded = recorded[["item_id", "rank", "reason"]]
    notes = _pool_notes(project, inputs)
    if config.hash() != tracker.client.get_run(run_id).data.params.get("config_hash"):
        notes.append("config differs from the recorded config hash (locations were replaced)")
    model = None
    version = inputs["model_version"]
    pinned = project.ledger.get_round(round_id).model_uri
    if config.model.scoring_uri and pinned:  # the user's model, as the round pinned it
        model = scorer(config, pinned, project.ws.mlflow_tracking_uri)
    elif version is not None:
        try:
            model = tracker.load(tracker.model_uri(version))
        except (MlflowException, OSError) as err:
            notes.append(f"model version {version} cannot be loaded from the registry: {err}")
            return ReplayReport(round_id, run_id, recorded, None, notes)
    selection = SelectionInputs(
        round_id=round_id,
        strategy=inputs["strategy"],
        params=inputs["params"],
        model_version=version,
        watermark=inputs["watermark"],
        partitions=[tuple(p) for p in inputs["partitions"]],
        stream_partitions=[tuple(p) for p in inputs["stream_partitions"]],
        excluded=excluded["item_id"].tolist(),
        labels=labels,
        sample_m=inputs["sample_m"],
        n_control=inputs["n_control"],
    )
    batch, _ = Project(config).compute_selection(selection, model, client)
    replayed = batch[["item_id", "rank", "reason"]].astype({"item_id": str, "rank": int})
    return ReplayReport(round_id, run_id, recorded, replayed, notes)
