import csv
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from alflow.csvsafe import neutralize
from alflow.errors import InputError
from alflow.vendors.files import FileVendor
from alflow.vendors.simulated import SimulatedVendor, simulate_labels

LABELS = ["cat", "dog"]


def batch():
    return pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3"],
            "rank": [1, 2, 3],
            "utility": [0.9, 0.8, 0.7],
            "text": ['=HYPERLINK("http://x")', "+1", "plain"],
        }
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_writes_batch_and_manifest_with_sha(tmp_path, fmt):
    receipt = FileVendor(fmt).export_batch(batch(), 4, LABELS, tmp_path)
    data = Path(receipt.uri).read_bytes()
    assert receipt.sha256 == hashlib.sha256(data).hexdigest()
    manifest = json.loads(Path(receipt.manifest_uri).read_text())
    assert manifest["rows"] == 3 and manifest["label_schema"] == LABELS
    assert manifest["sha256"] == receipt.sha256 and manifest["round"] == 4
    again = FileVendor(fmt).export_batch(batch(), 4, LABELS, tmp_path)
    assert again.sha256 == receipt.sha256  # a rerun writes the same bytes


def test_csv_export_neutralizes_formulas(tmp_path):
    receipt = FileVendor("csv").export_batch(batch(), 1, LABELS, tmp_path)
    rows = list(csv.DictReader(Path(receipt.uri).read_text().splitlines()))
    assert rows[0]["text"].startswith("'=")
    assert rows[1]["text"] == "'+1"
    assert rows[2]["text"] == "plain"
    assert neutralize("@SUM(A1)") == "'@SUM(A1)" and neutralize(3) == 3


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_labels_skips_and_ground_truth(tmp_path):
    path = write(
        tmp_path,
        "l.jsonl",
        '{"item_id": "i1", "label": "cat", "annotator": "ann"}\n'
        '{"item_id": "i2", "skipped": true}\n'
        '{"item_id": 3, "label": "dog", "ground_truth": "yes", "annotation_id": "a-9"}\n',
    )
    anns = FileVendor().read_annotations(path, LABELS)
    assert [(a.item_id, a.kind, a.label) for a in anns] == [
        ("i1", "label", "cat"),
        ("i2", "skip", None),
        ("3", "ground_truth", "dog"),
    ]
    assert anns[2].ref("file") == "file:a-9" and anns[2].event_key("file").startswith("file:a-9:")
    assert anns[0].ref("file") is None
    assert anns[0].event_key("file") == FileVendor().read_annotations(path, LABELS)[0].event_key(
        "file"
    )


def test_csv_labels_file(tmp_path):
    path = write(tmp_path, "l.csv", "item_id,label,annotator\ni1,cat,a\ni2,dog,b\n")
    anns = FileVendor("csv").read_annotations(path, LABELS)
    assert [(a.item_id, a.label, a.line) for a in anns] == [("i1", "cat", 2), ("i2", "dog", 3)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"item_id": "i1", "label": "cow"}\n', r"l\.jsonl:1: label: 'cow' for item_id 'i1'"),
        ('{"item_id": "i1"}\n', r"l\.jsonl:1: label: missing for item_id 'i1'"),
        ('{"label": "cat"}\n', r"l\.jsonl:1: item_id: missing"),
        ('{"item_id": "i1", "label": "cat"}\n{oops\n', r"l\.jsonl:2: not valid JSON"),
        ('{"item_id": "i1", "label": "cat", "label": "dog"}\n', r"duplicate key\(s\) \['label'\]"),
        ('{"item_id": "i1", "label": NaN}\n', r"NaN is not allowed"),
        ('["i1", "cat"]\n', r"l\.jsonl:1: a record must be a JSON object"),
        ('{"item_id": "i1", "label": "cat"}', r"l\.jsonl:1: the last line has no newline"),
        ('{"item_id": "i1", "label": "cat", "skipped": "perhaps"}\n', r"skipped: 'perhaps'"),
        ("\n", r"no annotations found"),
    ],
)
def test_bad_labels_files_fail_with_location(tmp_path, text, expected):
    with pytest.raises(InputError, match=expected):
        FileVendor().read_annotations(write(tmp_path, "l.jsonl", text), LABELS)


def test_all_problems_are_listed_at_once(tmp_path):
    path = write(tmp_path, "l.jsonl", '{"item_id": "a", "label": "x"}\n{"item_id": "b"}\n')
    with pytest.raises(InputError) as err:
        FileVendor().read_annotations(path, LABELS)
    assert len(err.value.problems) == 2


def test_simulated_annotator_noise_rate(tmp_path):
    import numpy as np

    truth = pd.DataFrame({"item_id": [f"i{i}" for i in range(2000)], "truth": ["cat"] * 2000})
    clean = simulate_labels(truth, LABELS, 0.0, np.random.default_rng(0))
    assert (clean["label"] == "cat").all()
    noisy = simulate_labels(truth, LABELS, 0.2, np.random.default_rng(0))
    assert 0.16 < (noisy["label"] == "dog").mean() < 0.24
    path = SimulatedVendor().annotate(truth.head(5), LABELS, tmp_path, 2, seed=0)
    assert len(FileVendor().read_annotations(path, LABELS)) == 5


def test_an_exported_csv_with_formula_like_ids_imports_back(tmp_path):
    frame = pd.DataFrame({"item_id": ["-17", "+4420", "=x", "ok-1"], "rank": [1, 2, 3, 4]})
    receipt = FileVendor("csv").export_batch(frame, 1, LABELS, tmp_path)
    filled = Path(receipt.uri).read_text().replace(",\n", ",cat\n")
    path = write(tmp_path, "filled.csv", filled)
    anns = FileVendor("csv").read_annotations(path, LABELS)
    assert [a.item_id for a in anns] == ["-17", "+4420", "=x", "ok-1"]


def test_csv_truncation_and_byte_order_mark(tmp_path):
    cut = write(tmp_path, "cut.csv", "item_id,label,annotator\ni1,cat,a\ni2,dog,al")
    with pytest.raises(InputError, match=r"cut\.csv:3: the last line has no newline"):
        FileVendor("csv").read_annotations(cut, LABELS)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffitem_id,label\ni1,cat\n".encode())
    assert FileVendor("csv").read_annotations(bom, LABELS)[0].item_id == "i1"
