"""The vendor registry: one line per ``vendor.kind``, naming the module that builds it.

Adding a vendor is one module (a class with ``name``, ``pulls_labels``, ``export_batch`` and
``read_annotations``, plus ``build(config, exports_dir)``) and one line here; the config accepts
the kinds listed here, and a vendor's module is imported only when a config uses it.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alflow.config import AlflowConfig
    from alflow.vendors.base import Vendor

VENDORS: dict[str, str] = {
    "file": "alflow.vendors.files",
    "simulated": "alflow.vendors.simulated",
    "label-studio": "alflow.vendors.label_studio",
    "cvat": "alflow.vendors.cvat",
    "argilla": "alflow.vendors.argilla",
    "sagemaker": "alflow.vendors.sagemaker",
    "labelbox": "alflow.vendors.labelbox",
    "scale": "alflow.vendors.scale",
    "prodigy": "alflow.vendors.prodigy",
}


def check_kind(kind: str) -> str:
    """``kind`` if it is registered, else a ``ValueError`` that lists the kinds."""
    if kind not in VENDORS:
        raise ValueError(f"unknown vendor kind {kind!r}: use one of {', '.join(VENDORS)}")
    return kind


def make_vendor(config: AlflowConfig, exports_dir: Path | None = None) -> Vendor:
    """The vendor named in the config (``exports_dir``: where CVAT's mapping sidecars are)."""
    return import_module(VENDORS[config.vendor.kind]).build(config, exports_dir)
