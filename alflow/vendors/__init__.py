"""Annotation vendors: where batches go and where labels come back from."""

from pathlib import Path

from alflow.config import FeaturesConfig, VendorConfig
from alflow.vendors.base import Annotation, ExportReceipt, Vendor
from alflow.vendors.cvat import CvatVendor
from alflow.vendors.files import FileVendor
from alflow.vendors.simulated import SimulatedVendor


def make_vendor(
    cfg: VendorConfig, features: FeaturesConfig | None = None, exports_dir: Path | None = None
) -> Vendor:
    """The vendor named in the config (``features`` and ``exports_dir`` for CVAT: how items
    are rendered and where its mapping sidecars are)."""
    if cfg.kind == "cvat":
        return CvatVendor(features, exports_dir, cfg.limits)
    if cfg.kind == "simulated":
        return SimulatedVendor(cfg.format, cfg.noise_rate)
    return FileVendor(cfg.format)


__all__ = [
    "Annotation",
    "CvatVendor",
    "ExportReceipt",
    "FileVendor",
    "SimulatedVendor",
    "Vendor",
    "make_vendor",
]
