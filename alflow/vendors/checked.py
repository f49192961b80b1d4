"""A vendor file read for import: refused when it is a Label Studio export alflow cannot use,
parsed by the vendor, and its text fields checked before anything reaches the database."""

from __future__ import annotations

from pathlib import Path

from alflow.errors import NoAnnotations
from alflow.textcheck import check_text_fields
from alflow.vendors.base import Annotation, Vendor
from alflow.vendors.sniff import refuse_label_studio_flat


def read_checked(
    vendor: Vendor, path: Path, labels: list[str], full_state: bool = False
) -> list[Annotation]:
    """The file's annotations (all or nothing). A ``full_state`` pull may hold none: then every
    annotation alflow has from that vendor is retracted."""
    refuse_label_studio_flat(path, vendor.name)
    try:
        annotations = vendor.read_annotations(path, labels)
    except NoAnnotations:
        if not full_state:
            raise
        return []
    check_text_fields(str(path), annotations)
    return annotations
