"""The one CSV writer for every CSV alflow writes (vendor exports, MLflow artifacts, audit
files): a text cell a spreadsheet would run as a formula gets a leading quote, and the reader
takes it off again."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")


def neutralize(cell: object) -> object:
    """Stop spreadsheets from evaluating a cell as a formula (prefix a quote)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def unneutralize(cell: object) -> object:
    """Undo ``neutralize``: our own quote before a formula character is not part of the data."""
    if isinstance(cell, str) and cell[:1] == "'" and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell neutralized (numbers stay numbers)."""
    out = frame.copy()
    for col in _text_columns(out):
        out[col] = out[col].map(neutralize).astype(object)
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as CSV (no index, ``\\n`` line ends), safe to open in a spreadsheet."""
    buf = io.StringIO()
    safe_frame(frame).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode()


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write ``frame`` to ``path`` through ``csv_bytes``."""
    try:
        Path(path).write_bytes(csv_bytes(frame))
    except OSError as err:  # name the file (write_bytes does not)
        raise OSError(err.errno, err.strerror, str(path)) from err


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """A CSV that ``write_csv`` wrote, with the protective quotes taken off."""
    frame = pd.read_csv(path, **kwargs)
    for col in _text_columns(frame):
        frame[col] = frame[col].map(unneutralize)
    return frame
