"""MLflow keys for user-named things (class labels): encoded where MLflow cannot take the name.

MLflow metric and param keys may hold only letters, digits, ``_ - . : /`` and spaces, at most 250
characters, and must not look like a path that normalises to another name. A label such as
``<=50K`` becomes ``__50K-<hash>``: a readable slug plus 8 hex digits of the name's hash, so two
labels never share a key. The mapping from each key back to its label is logged as an artifact
(``label_keys.json``), so nothing is dropped and nothing is ambiguous.
"""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"^[A-Za-z0-9_.\- ]{1,100}$")
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9_.\-]")
SLUG_CHARS = 40


def label_key(label: str) -> str:
    """``label`` itself when MLflow takes it in a key, else a slug and a hash of it."""
    if _SAFE.match(label) and label.strip() == label and ".." not in label:
        return label
    digest = hashlib.blake2b(label.encode(), digest_size=4).hexdigest()
    return f"{_UNSAFE_CHAR.sub('_', label)[:SLUG_CHARS]}-{digest}"


def label_keys(labels: list[str]) -> dict[str, str]:
    """``{key: label}`` for every label whose key differs from the label itself."""
    return {label_key(lab): lab for lab in labels if label_key(lab) != lab}
