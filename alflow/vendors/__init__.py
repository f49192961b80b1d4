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
    return {"text": ["text"], "numeric": f.model_columns, "tabular": f.model_columns}.get(
        f.kind, []
    )


def make_vendor(config: AlflowConfig, exports_dir: Path | None = None) -> Vendor:
    """The vendor named in the config (``exports_dir``: where CVAT's mapping sidecars are)."""
    cfg = config.vendor
    cap = cfg.max_file_bytes
    if cfg.kind == "simulated":
        return SimulatedVendor(cfg.format, cfg.noise_rate, max_file_bytes=cap)
    if cfg.kind == "cvat":
        return CvatVendor(config.data.features, exports_dir, cfg.limits)
    if cfg.kind == "label-studio":
        return LabelStudioVendor(
            mode=cfg.mode,
            url=cfg.url,
            token_env=cfg.token_variable,
            project_title=cfg.project_title or config.project,
            display_columns=display_columns(config),
            max_file_bytes=cap,
        )
    if cfg.kind == "argilla":
        from alflow.vendors.argilla import ArgillaVendor

        client = None
        if cfg.url:
            from alflow.vendors.argilla_api import ArgillaClient

            client = ArgillaClient(cfg.url, cfg.token_variable, cfg.dataset or "")
        return ArgillaVendor(cfg.label_field, cap, client)
    if cfg.kind == "sagemaker":
        from alflow.vendors.sagemaker import SageMakerVendor

        return SageMakerVendor(cfg.label_field, cap)
    if cfg.kind == "labelbox":
        from alflow.vendors.labelbox import LabelboxVendor

        return LabelboxVendor(cfg.label_field, cap)
    if cfg.kind == "scale":
        from alflow.vendors.scale import ScaleVendor

        return ScaleVendor(cfg.dataset, cfg.callback_secret_env, cap)
    if cfg.kind == "prodigy":
        from alflow.vendors.prodigy import ProdigyVendor

        return ProdigyVendor(cfg.prodigy_mode, cap)
    return FileVendor(cfg.format, max_file_bytes=cap)


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
