"""Text fields checked before they reach the database, so SQLite and PostgreSQL accept and
refuse the same inputs: a NUL (PostgreSQL refuses it), a lone surrogate (not encodable as UTF-8)
or a value longer than its column is a located problem, never a driver error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from alflow.errors import InputError, located

# field -> the most characters the ledger stores (the columns are String(256))
LIMITS = {"item_id": 256, "label": 256, "annotator": 256, "annotation_id": 4096}


class _Located(Protocol):
    line: int


def text_problem(value: str, limit: int) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    if len(value) > limit:
        return f"{len(value)} characters is over the {limit}-character limit"
    return None


def check_text_fields(source: str, records: Iterable[_Located], fields: dict[str, int] = LIMITS):
    """Raise one ``InputError`` listing every text field of ``records`` that cannot be stored."""
    problems = []
    for rec in records:
        for field, limit in fields.items():
            value = getattr(rec, field, None)
            if isinstance(value, str) and (why := text_problem(value, limit)):
                shown = value[:40].encode("utf-8", "backslashreplace").decode()
                problems.append(located(source, rec.line, field, f"{shown!r}...: {why}"))
    if problems:
        raise InputError(f"{source}: {len(problems)} problem(s); nothing was imported", problems)
