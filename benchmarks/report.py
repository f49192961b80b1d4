"""Printing and saving a benchmark's flat result, the same way for every benchmark."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, out: str | Path) -> None:
    """Print ``result`` as an aligned two-column table and write it as JSON to ``out``."""
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
