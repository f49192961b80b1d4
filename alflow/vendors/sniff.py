"""Recognise a Label Studio export that cannot be imported, whatever ``vendor.kind`` says.

Label Studio's JSON_MIN and CSV exports flatten each annotation to one row: the skip
(``was_cancelled``) and ``ground_truth`` are dropped, so imported as plain labels a ground truth
would become an ordinary vote and a skip would vanish. Its full JSON export given to another
vendor is recognised too, with the setting to use instead.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from alflow.errors import InputError

_HEAD_BYTES = 1 << 16
# the columns Label Studio adds to every flat (JSON_MIN / CSV) row
FLAT_MARKERS = {"annotation_id", "annotator", "lead_time"}
CHOOSE = (
    "export the project as JSON (Export -> JSON, or 'alflow import' with no file in mode api) "
    "and import that with vendor.kind: label-studio"
)


def _head(path: Path) -> str:
    with open(path, "rb") as f:
        return f.read(_HEAD_BYTES).decode("utf-8", "replace").lstrip("\ufeff")


def _first_element(head: str) -> object:
    """The first element of a JSON array that starts in ``head`` (None when not decodable)."""
    start = head.lstrip()
    if not start.startswith("["):
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(start[1:].lstrip())
    except (ValueError, RecursionError):
        return None
    return value


def label_studio_kind(path: Path) -> str | None:
    """``JSON_MIN``, ``CSV`` or ``JSON`` when ``path`` looks like that Label Studio export."""
    if path.is_dir() or not path.is_file():
        return None
    head = _head(path)
    first = _first_element(head)
    if isinstance(first, dict):
        if isinstance(first.get("annotations"), list) and isinstance(first.get("data"), dict):
            return "JSON"
        if len(FLAT_MARKERS & set(first)) >= 2:
            return "JSON_MIN"
        return None
    try:
        header = next(csv.reader(io.StringIO(head.splitlines()[0] if head else "")), [])
    except csv.Error:
        return None
    return "CSV" if set(header) >= FLAT_MARKERS else None


def refuse_label_studio_flat(path: Path, vendor: str) -> None:
    """Refuse a Label Studio JSON_MIN or CSV export (any vendor), and a full JSON export given
    to another vendor, naming the export or setting to choose."""
    kind = label_studio_kind(path)
    if kind in ("JSON_MIN", "CSV"):
        raise InputError(
            f"{path}: this is a Label Studio {kind} export, which drops skips and ground truth; "
            f"nothing was imported: {CHOOSE}"
        )
    if kind == "JSON" and vendor != "label-studio":
        raise InputError(
            f"{path}: this is a Label Studio JSON export but vendor.kind is {vendor!r}; nothing "
            "was imported: import it with vendor.kind: label-studio (or --vendor label-studio)"
        )
