"""Reading untrusted vendor files: streaming, size-capped, every problem located.

Each vendor module parses its own format into records and hands them to a ``Collector``, which
checks what every format shares (an item id, a label inside the schema, a known kind) and either
returns all annotations of the file or raises one ``InputError`` listing every problem with its
line, item id and field. Nothing is returned from a file with any problem, so an import is all or
nothing per file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alflow.errors import InputError, NoAnnotations, located
from alflow.vendors.base import Annotation

DEFAULT_MAX_FILE_BYTES = 1 << 30
MAX_LINE_BYTES = 1 << 20
MAX_PROBLEMS = 1_000  # stop collecting (the file is rejected anyway)

Record = tuple[int, dict | None, str | None]  # (line, record, problem)


def no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key(s) {sorted({k for k in keys if keys.count(k) > 1})}")
    return dict(pairs)


def reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def loads(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys."""
    return json.loads(
        raw.decode("utf-8"), object_pairs_hook=no_duplicate_keys, parse_constant=reject_constant
    )


def check_size(path: Path, max_bytes: int) -> None:
    """Refuse a file (or a folder's files together) over the configured byte cap."""
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    size = sum(p.stat().st_size for p in files)
    if size > max_bytes:
        raise InputError(
            f"{path}: {size} bytes is over the {max_bytes}-byte limit (vendor.max_file_bytes); "
            "nothing was imported"
        )


def jsonl_records(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Record]:
    """Stream a JSON Lines file: one object per line; a missing final newline is truncation."""
    with open(path, "rb") as f:
        lineno = 0
        while True:
            raw = f.readline(max_line_bytes + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > max_line_bytes:
                yield lineno, None, f"line is over {max_line_bytes} bytes"
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = f.readline(max_line_bytes + 1)
                continue
            if not raw.endswith(b"\n"):
                yield lineno, None, "the last line has no newline: the file looks truncated"
                return
            if not raw.strip():
                continue
            yield (lineno, *_object(raw))


def json_document(path: Path, max_bytes: int) -> tuple[Any, str | None]:
    """A whole JSON document (already size-checked): ``(value, problem)``."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        return None, f"over the {max_bytes}-byte limit (vendor.max_file_bytes)"
    try:
        return loads(data), None
    except (ValueError, RecursionError) as err:
        return None, f"not valid JSON: {err}"


def _object(raw: bytes) -> tuple[dict | None, str | None]:
    try:
        rec = loads(raw)
    except (ValueError, RecursionError) as err:
        return None, f"not valid JSON: {err}"
    if not isinstance(rec, dict):
        return None, "a record must be a JSON object"
    return rec, None


def text(v: object) -> str | None:
    """A scalar as trimmed text (``3.0`` -> ``"3"``); None for missing, empty or non-scalars."""
    if v is None or isinstance(v, (dict, list, bool)):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    return s or None


def get(rec: Any, *path: str) -> Any:
    """``rec[a][b]…`` or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(rec, dict):
            return None
        rec = rec.get(key)
    return rec


def round_number(v: object) -> int | None:
    """A round number from a vendor field (int or digit string), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and v > 0:
        return v
    if isinstance(v, str) and v.strip().isdigit() and int(v) > 0:
        return int(v)
    return None


TRUE_WORDS = {"true", "1", "yes", "y"}
FALSE_WORDS = {"false", "0", "no", "n", ""}


def flag(v: object) -> bool | None:
    """A boolean field: JSON true/false (missing or null is false), or the words true/false,
    yes/no, 1/0 as text; None when it is neither (the caller reports it)."""
    if v is None or isinstance(v, bool):
        return bool(v)
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return v.strip().lower() in TRUE_WORDS
    return None


class Collector:
    """The annotations and problems of one vendor file."""

    def __init__(self, source: Path, labels: list[str]) -> None:
        self.source = str(source)
        self.labels = labels
        self.schema = set(labels)
        self.problems: list[str] = []
        self.annotations: list[Annotation] = []

    def problem(self, line: int | None, field: str | None, message: str, item_id=None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            return
        about = f"item_id {item_id!r}: " if item_id is not None else ""
        self.problems.append(located(self.source, line, field, about + message))

    def item_id(self, line: int, value: object, field: str = "item_id") -> str | None:
        item_id = text(value)
        if item_id is None:
            self.problem(line, field, "missing or not a string/number")
        elif len(item_id) > 256:
            self.problem(line, field, f"{len(item_id)} characters is over the 256-character limit")
            return None
        return item_id

    def round(self, line: int, value: object, field: str, item_id=None) -> int | None:
        """The round a record names (None when it names none); garbage is a problem."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        round_id = round_number(value)
        if round_id is None:
            self.problem(line, field, f"{str(value)[:40]!r} is not a round number", item_id)
        return round_id

    def flag(self, line: int, value: object, field: str, item_id=None) -> bool:
        """A boolean field (see ``flag``); anything else is a problem."""
        got = flag(value)
        if got is None:
            self.problem(line, field, f"{str(value)[:40]!r} is not true or false", item_id)
        return bool(got)

    def time(self, line: int, value: object, field: str, item_id=None) -> datetime | None:
        """A vendor timestamp (see ``vendor_time``); anything else is a problem."""
        if value is None or value == "":
            return None
        at = vendor_time(value)
        if at is None:
            self.problem(line, field, f"{str(value)[:40]!r} is not a time", item_id)
        return at

    def label(self, line: int, item_id: str, value: object, field: str) -> str | None:
        """``value`` if it names a class of the schema, else a problem and None."""
        label = text(value)
        if label is None:
            self.problem(line, field, f"missing or not a string: {value!r}"[:200], item_id)
        elif label not in self.schema:
            self.problem(
                line,
                field,
                f"{label[:100]!r} is not in the label schema {self.labels}",
                item_id,
            )
            return None
        return label

    def add(
        self,
        line: int,
        item_id: str,
        kind: str,
        label: str | None = None,
        *,
        annotator: object = None,
        annotation_id: object = None,
        round_id: int | None = None,
        at: datetime | None = None,
    ) -> None:
        self.annotations.append(
            Annotation(
                line=line,
                item_id=item_id,
                kind=kind,
                label=label if kind != "skip" else None,
                annotator=text(annotator),
                annotation_id=text(annotation_id),
                round_id=round_id,
                at=at,
            )
        )

    def result(self) -> list[Annotation]:
        """Every annotation of the file, or an ``InputError`` naming every problem."""
        if self.problems:
            raise InputError(
                f"{self.source}: {len(self.problems)} problem(s); nothing was imported",
                self.problems,
            )
        if not self.annotations:
            raise NoAnnotations(f"{self.source}: no annotations found; nothing was imported")
        return self.annotations


def vendor_time(v: object) -> datetime | None:
    """A vendor's timestamp as an aware UTC datetime: ISO 8601 text (``Z`` or an offset; no
    offset is UTC) or Unix seconds (milliseconds when over 1e11); None when it is neither."""
    if isinstance(v, bool):
        return None
    try:
        if isinstance(v, int | float):
            return datetime.fromtimestamp(v / 1000 if v > 1e11 else v, UTC)
        if isinstance(v, str) and v.strip():
            at = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
            return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def plain(record: dict) -> dict:
    """JSON-friendly values: numpy scalars to Python, NaN to None."""
    out = {}
    for k, v in record.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and v != v:
            v = None
        out[k] = v
    return out


def jsonl_bytes(records: list[dict]) -> bytes:
    """Records as JSON Lines (deterministic: a rerun writes the same bytes)."""
    lines = [json.dumps(r, ensure_ascii=False, allow_nan=False, sort_keys=True) for r in records]
    return ("\n".join(lines) + "\n").encode()


def read_jsonl_annotations(
    path: Path,
    labels: list[str],
    max_file_bytes: int,
    read_record: Callable[[Collector, int, dict], None],
) -> list[Annotation]:
    """A JSON Lines return file streamed through ``read_record`` (one call per record, which
    adds annotations and problems to the collector); all problems are reported at once."""
    check_size(path, max_file_bytes)
    c = Collector(path, labels)
    for line, rec, err in jsonl_records(path):
        if err:
            c.problem(line, None, err)
            continue
        read_record(c, line, rec)
    return c.result()
