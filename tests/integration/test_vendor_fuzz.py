"""Fuzzing every import format (Label Studio, CVAT, Argilla, SageMaker, Labelbox, Scale,
Prodigy, generic JSONL and CSV): 200+ seeded mutations of a valid return file each.

Every mutant must give an ``InputError`` naming the file (and the ledger unchanged) or a correct
import (events within the schema, never more than read), within a time limit: never a partial
import, an uncaught exception or a hang.
"""

import json
import random
import signal
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from alflow.errors import InputError
from alflow.project import Project
from tests import vendor_returns
from tests.conftest import DIGIT_COLUMNS, make_config

N_MUTANTS = 200
FORMATS = [*vendor_returns.FUZZ_WRITERS, "file-jsonl", "file-csv"]
SUFFIX = {"file-csv": "csv", "label-studio": "json", "cvat": "xml"}
JUNK = [None, [], {}, 0, -1, 1.5, True, "", "x" * 5000, 10**30, {"a": {"b": [1, {"c": None}]}}]


@contextmanager
def time_limit(seconds: float):
    def fail(*_):
        raise TimeoutError(f"import took over {seconds} s")

    old = signal.signal(signal.SIGALRM, fail)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits_frame):
    """A pool and one exported round of 12 items (ledger steps only: no scoring needed)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    pool = tmp / "pool.csv"
    digits_frame.iloc[:300].to_csv(pool, index=False)
    ws = tmp / "ws"
    base = Project(make_config(ws))
    base.ingest(str(pool))
    rnd, _ = base.ledger.open_round(strategy="random", batch_size=12, seed=0, config_hash="x")
    ids = [f"d{i:04d}" for i in range(12)]
    batch = pd.DataFrame(
        {
            "item_id": ids,
            "rank": range(1, 13),
            "utility": 0.5,
            "predicted_label": [str(i % 10) for i in range(12)],
            "predicted_score": 0.7,
        }
    )
    base.ledger.record_selection(rnd.id, batch)
    truth = dict(zip(digits_frame["digit_id"], digits_frame["digit"].astype(str), strict=True))
    pixels = digits_frame.set_index("digit_id").loc[ids, DIGIT_COLUMNS].reset_index(drop=True)
    shown = pd.concat([batch, pixels], axis=1).assign(text=[f"digit image {i}" for i in ids])
    return ws, tmp, rnd.id, shown, truth


def valid_file(fmt: str, project: Project, shown, round_id: int, truth, tmp: Path) -> Path:
    ids = shown["item_id"].tolist()
    answers = [(i, "label", truth[i], "alice") for i in ids[:8]]
    answers += [(ids[8], "skip", None, "bob"), (ids[9], "label", truth[ids[9]], "bob")]
    if fmt.startswith("file-"):
        ext = fmt.split("-")[1]
        rows = [
            {
                "item_id": i,
                "round": round_id,
                "label": lab or "",
                "annotator": who,
                "skipped": kind == "skip",
            }
            for i, kind, lab, who in answers
        ]
        path = tmp / f"valid.{ext}"
        if ext == "csv":
            pd.DataFrame(rows).to_csv(path, index=False)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path
    dest = project.ws.exports_dir if fmt == "cvat" else tmp  # CVAT reads its mapping there
    export = Path(project.vendor.export_batch(shown, round_id, project.labels, dest).uri)
    return vendor_returns.FUZZ_WRITERS[fmt](
        export, answers, tmp / f"valid-{fmt}.{SUFFIX.get(fmt, 'jsonl')}", project.labels
    )


def _json_mutation(rng: random.Random, line: bytes) -> bytes:
    try:
        rec = json.loads(line)
    except ValueError:
        return line + b"}"
    node, parent, key = rec, None, None
    while isinstance(node, (dict, list)) and node and rng.random() < 0.7:
        parent = node
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        node = node[key]
    if parent is None:
        return json.dumps(rng.choice(JUNK)).encode()
    op = rng.randrange(3)
    if op == 0 and isinstance(parent, dict):
        del parent[key]
    elif op == 1 and isinstance(parent, dict):  # a duplicated key
        text = json.dumps(rec)
        return (text[:-1] + f', "{rng.choice(list(rec))}": 1}}').encode() if rec else b"{}"
    else:
        parent[key] = rng.choice(JUNK)
    return json.dumps(rec).encode()


def mutate(rng: random.Random, data: bytes, fmt: str) -> bytes:
    lines = data.split(b"\n")[:-1]
    op = rng.randrange(10)
    i = rng.randrange(len(lines))
    if op == 0:  # byte flips
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if op == 1:
        return data[: rng.randrange(len(data))]
    if op == 2:
        del lines[i]
    elif op == 3:
        lines.insert(i, lines[i])
    elif op == 4 and not fmt.endswith("csv"):
        lines[i] = _json_mutation(rng, lines[i])
    elif op == 4:
        cells = lines[i].split(b",")
        cells[rng.randrange(len(cells))] = rng.choice([b"", b'"', b"x" * 300, b"=1+1", b"9,9"])
        lines[i] = b",".join(cells)
    elif op == 5:
        lines[i] = lines[i][: len(lines[i]) // 2] + b"\xff\xfe\xc3" + lines[i][len(lines[i]) // 2 :]
    elif op == 6:
        lines[i] = b'{"x": "' + b"y" * (1 << 21) + b'"}'
    elif op == 7:
        lines[i] = b"[" * 50_000 + b"]" * 50_000
    elif op == 8:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        return b""
    return b"\n".join(lines) + b"\n"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_files_give_a_clear_error_or_a_correct_import(exported, fmt, monkeypatch):
    monkeypatch.setenv("SCALE_CALLBACK_AUTH", "s3cret")
    ws, tmp, round_id, shown, truth = exported
    kind, file_fmt = (fmt, "jsonl") if not fmt.startswith("file-") else ("file", fmt[5:])
    project = Project(make_config(ws, vendor={"kind": kind, "format": file_fmt}))
    if project.ledger.export_of(round_id) is None:
        project.ledger.record_export(round_id, vendor=kind, uri="x", n_rows=12, sha256="0" * 64)
    folder = tmp / fmt
    folder.mkdir()
    data = valid_file(fmt, project, shown, round_id, truth, folder).read_bytes()
    rng = random.Random(f"alflow-fuzz-{fmt}")
    outcomes = {"error": 0, "imported": 0}
    for n in range(N_MUTANTS):
        path = folder / f"mutant-{n:03d}.{SUFFIX.get(fmt, 'jsonl')}"
        path.write_bytes(mutate(rng, data, fmt))
        before = project.ledger.event_count()
        try:
            with time_limit(10):
                report = project.import_labels(path)
        except InputError as err:
            assert str(path) in str(err), err
            assert project.ledger.event_count() == before, f"partial import of {path}"
            outcomes["error"] += 1
            continue
        assert 0 <= report.events_added <= report.events_read
        assert project.ledger.event_count() == before + report.events_added
        outcomes["imported"] += 1
    labels = project.ledger.resolved_labels()
    assert set(labels["label"]) <= set(project.labels)
    assert outcomes["error"] > N_MUTANTS // 4, outcomes  # the mutations do break files
    assert outcomes["imported"] > 0, outcomes  # and some leave a valid file
