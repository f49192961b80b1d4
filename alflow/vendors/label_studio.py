"""Label Studio: tasks out (as a JSON file, or through the REST API), its JSON export back in.

Tasks carry our id in ``data.item_id`` and the model's suggestion as a prediction. Labels come
back only from Label Studio's full JSON export (JSON_MIN and CSV drop skips and ground truth);
annotations are matched on ``data.item_id``, never on Label Studio's task ids, and identified by
their ``unique_id`` so an edited annotation supersedes its earlier version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from alflow.config import AlflowConfig
from alflow.errors import AlflowError, InputError, NoAnnotations, located
from alflow.vendors.base import Annotation, ExportReceipt, atomic_write
from alflow.vendors.label_studio_api import LabelStudioClient
from alflow.vendors.label_studio_config import CONTROL, display_key, labeling_config
from alflow.vendors.label_studio_tasks import build_tasks, display_columns, tasks_bytes
from alflow.vendors.reading import (
    DEFAULT_MAX_FILE_BYTES,
    check_size,
    flag,
    no_duplicate_keys,
    reject_constant,
    round_number,
    vendor_time,
)

NAME = "label-studio"
_SPACE = re.compile(r"\s*")


class LabelStudioVendor:
    """Label Studio in ``file`` mode (tasks JSON out, JSON export in) or ``api`` mode (the same
    through a server's REST API; the token is read from the environment variable ``token_env``
    when a request is made and never stored, logged or written)."""

    name = NAME

    def __init__(
        self,
        *,
        mode: str = "file",
        url: str | None = None,
        token_env: str = "LABEL_STUDIO_API_KEY",
        project_title: str = "alflow",
        display_columns: list[str] | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        control: str = CONTROL,
    ) -> None:
        if mode not in ("file", "api"):
            raise ValueError(f"unknown Label Studio mode {mode!r}")
        self.mode = mode
        self.url = url
        self.token_env = token_env
        self.project_title = project_title
        self.display_columns = list(display_columns or [])
        self.max_file_bytes = max_file_bytes
        self.control = control

    @property
    def pulls_labels(self) -> bool:
        """In ``api`` mode, ``pull`` downloads the project's annotations from the server."""
        return self.mode == "api"

    # ----------------------------------------------------------------- export
    def export_path(self, dest: Path, round_id: int) -> Path:
        return dest / f"round-{round_id:04d}.label-studio.json"

    def export_batch(
        self, batch: pd.DataFrame, round_id: int, labels: list[str], dest: Path
    ) -> ExportReceipt:
        """Write the tasks file and a manifest; in ``api`` mode also send the tasks the project
        does not have yet (so a retried export never duplicates a task)."""
        tasks = build_tasks(batch, round_id, labels, self.display_columns, self.control)
        config = labeling_config(labels, display_key(self.display_columns), self.control)
        path = self.export_path(dest, round_id)
        sha = atomic_write(path, tasks_bytes(tasks))
        manifest: dict = {
            "round": round_id,
            "vendor": self.name,
            "mode": self.mode,
            "file": path.name,
            "rows": len(tasks),
            "sha256": sha,
            "label_schema": labels,
            "label_config": config,
        }
        uri = str(path)
        if self.mode == "api":
            with self.client() as client:
                project = client.ensure_project(
                    self.project_title, config, labels, control=self.control
                )
                have = client.item_ids(project)
                new = [t for t in tasks if t["data"]["item_id"] not in have]
                if new:
                    client.import_tasks(project, new)
            uri = client.project_url(project)
            manifest |= {"project_id": project, "project_url": uri, "tasks_sent": len(new)}
        manifest_path = dest / f"round-{round_id:04d}.label-studio.manifest.json"
        atomic_write(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
        return ExportReceipt(self.name, uri, len(tasks), sha, str(manifest_path))

    def client(self):
        """A REST client for the configured server (``api`` mode)."""
        if self.mode != "api" or not self.url:
            raise AlflowError("Label Studio: vendor.url is needed to reach a server (mode api)")
        return LabelStudioClient.from_env(self.url, self.token_env)

    # ----------------------------------------------------------------- import
    def pull(self, dest: Path, labels: list[str]) -> Path:
        """Download the project's full JSON export into ``dest`` and return its path."""
        with self.client() as client:
            project = client.ensure_project(
                self.project_title,
                labeling_config(labels, display_key(self.display_columns), self.control),
                labels,
                create=False,
                control=self.control,
            )
            data = client.export_json(project)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = dest / f"label-studio-project-{project}-{stamp}.json"
        atomic_write(path, _one_task_a_line(data))
        return path

    def read_annotations(self, path: Path, labels: list[str]) -> list[Annotation]:
        """Parse a Label Studio JSON export; all problems are reported at once."""
        check_size(path, self.max_file_bytes)
        source = str(path)
        problems: list[str] = []
        newest: dict[str, Annotation] = {}
        out: list[Annotation] = []
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}: not UTF-8 text: {err}") from None
        for line, task, err in _tasks(text):
            if err:
                problems.append(located(source, line, None, err))
                continue
            reader = _TaskReader(source, set(labels), problems, self.control)
            for a in reader.annotations(task, line):
                if a.annotation_id is None:
                    out.append(a)
                elif a.annotation_id not in newest or _later(a, newest[a.annotation_id]):
                    newest[a.annotation_id] = a
        if problems:
            raise InputError(f"{path}: {len(problems)} problem(s); nothing was imported", problems)
        out += list(newest.values())
        if not out:
            raise NoAnnotations(f"{path}: no annotations found; nothing was imported")
        return sorted(out, key=lambda a: a.line)


def _one_task_a_line(data: bytes) -> bytes:
    """The server's export (one long line) with one task a line, so that errors point at a
    task's line; anything that is not a clean array of tasks is kept as it came."""
    try:
        tasks = json.loads(
            data, object_pairs_hook=no_duplicate_keys, parse_constant=reject_constant
        )
        return tasks_bytes(tasks) if isinstance(tasks, list) and tasks else data
    except (ValueError, RecursionError):
        return data


def _tasks(text: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """``(line, task, error)`` for each element of the top-level JSON array, with the line the
    element starts on (found by decoding the array one element at a time)."""
    decoder = json.JSONDecoder(object_pairs_hook=no_duplicate_keys, parse_constant=reject_constant)

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    pos = _SPACE.match(text, 0).end()
    if not text.startswith("[", pos):
        yield line_at(pos), None, "a Label Studio JSON export is a JSON array of tasks"
        return
    pos = _SPACE.match(text, pos + 1).end()
    if text.startswith("]", pos):
        return
    while True:
        line = line_at(pos)
        try:
            task, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as err:
            yield line, None, f"not valid JSON: {err}"
            return
        yield (
            (line, task, None)
            if isinstance(task, dict)
            else (line, None, "a task must be an object")
        )
        pos = _SPACE.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _SPACE.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            break
        else:
            yield line_at(pos), None, "expected ',' or ']' after a task: the file looks truncated"
            return
    if _SPACE.match(text, pos + 1).end() != len(text):
        yield line_at(pos + 1), None, "unexpected content after the array of tasks"


def _annotator(completed_by: object) -> str | None:
    """``completed_by`` is a user id, or a user object when the export expands it."""
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    return None if completed_by is None else str(completed_by)


def _later(a: Annotation, b: Annotation) -> bool:
    """Whether ``a`` is a version at least as new as ``b`` (file order breaks ties)."""
    if a.at is None or b.at is None:
        return True
    return a.at >= b.at


class _TaskReader:
    """The annotations of one task of a JSON export, checked; problems go to ``problems``."""

    def __init__(self, source: str, schema: set[str], problems: list[str], control: str):
        self.source, self.schema, self.problems, self.control = source, schema, problems, control

    def problem(self, line: int, field: str, message: str) -> None:
        self.problems.append(located(self.source, line, field, message))

    def annotations(self, task: dict, line: int) -> Iterator[Annotation]:
        data = task.get("data")
        item_id = data.get("item_id") if isinstance(data, dict) else None
        if item_id is None or isinstance(item_id, dict | list) or not str(item_id).strip():
            self.problem(
                line,
                "data.item_id",
                f"missing in Label Studio task {task.get('id')!r}: only tasks alflow exported "
                "can be imported",
            )
            return
        item_id = str(item_id).strip()
        raw_round = data.get("round")
        round_id = round_number(raw_round)
        if raw_round is not None and round_id is None:
            self.problem(line, "data.round", f"{str(raw_round)[:40]!r} is not a round number")
            return
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list):
            self.problem(line, "annotations", f"not a list (item_id {item_id!r})")
            return
        for ann in annotations:
            if not isinstance(ann, dict):
                self.problem(line, "annotations", f"not an object ({item_id!r})")
                continue
            a = self._annotation(ann, task, item_id, line)
            if a is not None:
                yield replace(a, round_id=round_id)

    def _flag(self, ann: dict, key: str, line: int, where: str) -> bool | None:
        got = flag(ann.get(key))
        if got is None:
            self.problem(line, key, f"{str(ann.get(key))[:40]!r} is not true or false ({where})")
        return got

    def _annotation(self, ann: dict, task: dict, item_id: str, line: int) -> Annotation | None:
        ann_id = ann.get("unique_id") or (
            f"{task.get('project')}/{ann['id']}" if ann.get("id") is not None else None
        )
        where = f"item_id {item_id!r}, annotation {ann.get('id')!r}"
        cancelled = self._flag(ann, "was_cancelled", line, where)
        truth = self._flag(ann, "ground_truth", line, where)
        stamp = ann.get("updated_at") or ann.get("created_at")
        at = vendor_time(stamp) if stamp is not None else None
        if stamp is not None and at is None:
            self.problem(line, "updated_at", f"{str(stamp)[:40]!r} is not a time ({where})")
            return None
        if cancelled is None or truth is None:
            return None
        kind, label = "skip", None
        if not cancelled:
            label = self._choice(ann.get("result"), where, line)
            if label is None:
                return None
            if label not in self.schema:
                self.problem(
                    line,
                    "label",
                    f"{label!r} ({where}) is not in the label schema {sorted(self.schema)}",
                )
                return None
            kind = "ground_truth" if truth else "label"
        return Annotation(
            line=line,
            item_id=item_id,
            kind=kind,
            label=label,
            annotator=_annotator(ann.get("completed_by")),
            annotation_id=None if ann_id is None else str(ann_id),
            at=at,
        )

    def _choice(self, result: object, where: str, line: int) -> str | None:
        """The single choice of our control in an annotation's ``result``, or None (reported)."""
        chosen, others = [], set()
        for r in result if isinstance(result, list) else []:
            if not isinstance(r, dict) or r.get("type") != "choices":
                continue
            if r.get("from_name") != self.control:
                others.add(str(r.get("from_name")))
                continue
            value = r.get("value")
            got = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(got, list):
                self.problem(line, "result", f"malformed choices ({where})")
                return None
            chosen += got
        if len(chosen) != 1 or not isinstance(chosen[0], str):
            hint = (
                f"; the annotation has choices of the control(s) {sorted(others)}: set "
                "vendor.label_field to the Choices name of your labeling config"
                if others and not chosen
                else ""
            )
            self.problem(
                line,
                "result",
                f"expected exactly one choice of the control {self.control!r} "
                f"(vendor.label_field), found {chosen!r} ({where}){hint}",
            )
            return None
        return chosen[0]


def build(config: AlflowConfig, exports_dir: Path | None = None) -> LabelStudioVendor:
    """The vendor for ``config`` (the registry calls this; ``exports_dir``: the exports folder)."""
    cfg = config.vendor
    return LabelStudioVendor(
        mode=cfg.mode,
        url=cfg.url,
        token_env=cfg.token_variable,
        project_title=cfg.project_title or config.project,
        display_columns=display_columns(config),
        max_file_bytes=cfg.max_file_bytes,
        control=cfg.label_field,
    )
