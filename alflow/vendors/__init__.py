"""Annotation vendors: where batches go and where labels come back from."""

from alflow.config import VendorConfig
from alflow.vendors.base import Annotation, ExportReceipt, Vendor
from alflow.vendors.files import FileVendor
from alflow.vendors.simulated import SimulatedVendor


def make_vendor(cfg: VendorConfig) -> FileVendor:
    """The vendor named in the config."""
    if cfg.kind == "simulated":
        return SimulatedVendor(cfg.format, cfg.noise_rate)
    return FileVendor(cfg.format)


__all__ = ["Annotation", "ExportReceipt", "FileVendor", "SimulatedVendor", "Vendor", "make_vendor"]
