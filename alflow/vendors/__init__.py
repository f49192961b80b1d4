"""Annotation vendors: where batches go and where labels come back from."""

from alflow.config import VendorConfig
from alflow.vendors.base import Annotation, ExportReceipt, Vendor
from alflow.vendors.files import FileVendor
from alflow.vendors.simulated import SimulatedVendor


def make_vendor(cfg: VendorConfig) -> Vendor:
    """The vendor named in the config."""
    cap = cfg.max_file_bytes
    if cfg.kind == "simulated":
        return SimulatedVendor(cfg.format, cfg.noise_rate, max_file_bytes=cap)
    if cfg.kind == "argilla":
        from alflow.vendors.argilla import ArgillaVendor

        client = None
        if cfg.url:
            from alflow.vendors.argilla_api import ArgillaClient

            client = ArgillaClient(cfg.url, cfg.token_env, cfg.dataset or "")
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


__all__ = ["Annotation", "ExportReceipt", "FileVendor", "SimulatedVendor", "Vendor", "make_vendor"]
