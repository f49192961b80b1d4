"""The workspace: one folder that holds every embedded default, each overridable by URL."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alflow.config import AlflowConfig


@dataclass(frozen=True)
class Workspace:
    """Resolved locations of the pool, ledger, MLflow backend, exports and imports."""

    root: Path
    pool_url: str
    eval_url: str
    ledger_url: str
    mlflow_tracking_uri: str
    mlflow_artifact_location: str | None  # None: the tracking server's artifact store
    exports_dir: Path
    imports_dir: Path
    reports_dir: Path
    text_space: Path  # a text pool's fitted vectoriser and embedding (alflow.data.text_space)

    @classmethod
    def from_config(cls, config: AlflowConfig) -> Workspace:
        root = Path(config.workspace).expanduser().resolve()
        s = config.storage
        tracking = s.mlflow_tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
        # a tracking server keeps the artifacts (proxied); a local store keeps them here
        served = tracking.startswith(("http://", "https://"))
        artifacts = s.mlflow_artifact_location or (
            None if served else (root / "mlartifacts").as_uri()
        )
        return cls(
            root=root,
            pool_url=s.pool_url or str(root / "pool"),
            eval_url=str(root / "eval"),
            ledger_url=s.ledger_url or f"sqlite:///{root / 'ledger.db'}",
            mlflow_tracking_uri=tracking,
            mlflow_artifact_location=artifacts,
            exports_dir=root / "exports",
            imports_dir=root / "imports",
            reports_dir=root / "reports",
            text_space=root / "text_space.pkl",
        )

    def create(self) -> None:
        """Create the local folders (remote URLs are left to their services)."""
        for d in (self.root, self.exports_dir, self.imports_dir, self.reports_dir):
            d.mkdir(parents=True, exist_ok=True)
