"""Annotation vendors: where batches go and where labels come back from."""

from pathlib import Path

from alflow.config import AlflowConfig
from alflow.vendors.base import Annotation, ExportReceipt, Vendor
from alflow.vendors.cvat import CvatVendor
from alflow.vendors.files import FileVendor
from alflow.vendors.label_studio import LabelStudioVendor
from alflow.vendors.simulated import SimulatedVendor


def display_columns(config: AlflowConfig) -> list[str]:
    """The columns an annotator is shown (the text, or the numeric features; embeddings: none)."""
    f = config.data.features
    return {"text": ["text"], "numeric": list(f.columns)}.get(f.kind, [])


def make_vendor(config: AlflowConfig, exports_dir: Path | None = None) -> Vendor:
    """The vendor named in the config (``exports_dir``: where CVAT's mapping sidecars are)."""
    cfg = config.vendor
    if cfg.kind == "cvat":
        return CvatVendor(config.data.features, exports_dir, cfg.limits)
    if cfg.kind == "simulated":
        return SimulatedVendor(cfg.format, cfg.noise_rate)
    if cfg.kind == "label-studio":
        return LabelStudioVendor(
            mode=cfg.mode,
            url=cfg.url,
            token_env=cfg.token_env,
            project_title=cfg.project_title or config.project,
            display_columns=display_columns(config),
        )
    return FileVendor(cfg.format)


__all__ = [
    "Annotation",
    "CvatVendor",
    "ExportReceipt",
    "FileVendor",
    "LabelStudioVendor",
    "SimulatedVendor",
    "Vendor",
    "make_vendor",
]
