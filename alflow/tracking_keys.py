"""MLflow-safe keys: keep safe characters, encode the rest, never drop a key."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]")
_MAX = 250


def mlflow_key(key: str) -> str:
    """``key`` unchanged when MLflow accepts it, else safe chars plus a short hash.

    Deterministic and readable: ``class_count.<=50K`` -> ``class_count.__50K-<8 hex>``
    style (unsafe characters become ``_``, then ``-`` and 8 hex of the original's sha1),
    so two labels that differ only in unsafe characters never collide.
    """
    if not _UNSAFE.search(key) and len(key) <= _MAX and ".." not in key:
        return key
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    safe = _UNSAFE.sub("_", key).replace("..", "._")[: _MAX - 9]
    return f"{safe}-{digest}"
