"""Label Studio in file mode: the labeling config, the tasks file, reading its JSON export."""

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alflow.config import VendorConfig
from alflow.errors import ConfigError, InputError
from alflow.vendors.label_studio import LabelStudioVendor
from alflow.vendors.label_studio_config import config_choices, labeling_config
from alflow.vendors.registry import make_vendor
from tests.conftest import make_config
from tests.vendor_returns import ls_annotation as ann

LABELS = ["cat", "dog", 'say "hi" <b>&</b>']


def test_labeling_config_is_valid_xml_with_one_choice_per_label():
    xml = labeling_config(LABELS, "text")
    root = ET.fromstring(xml)
    (text,) = root.iter("Text")
    (choices,) = root.iter("Choices")
    assert (text.get("name"), text.get("value")) == ("item", "$text")
    assert (choices.get("name"), choices.get("toName")) == ("label", "item")
    assert choices.get("choice") == "single-radio"
    assert [c.get("value") for c in choices.iter("Choice")] == LABELS
    assert config_choices(xml) == LABELS
    assert ET.fromstring(labeling_config(LABELS, "features")).find("Text").get("value") == (
        "$features"
    )


def batch(predicted=True):
    return pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3"],
            "rank": [1, 2, 3],
            "utility": [0.9, 0.8, 0.7],
            "predicted_label": ["dog", "cat", None] if predicted else [None] * 3,
            "predicted_score": [0.75, np.float32(0.5), np.nan],
            "text": ["a dog?", "=cmd|' /C calc'!A0", "third"],
        }
    )


def test_tasks_file_carries_item_ids_text_and_predictions(tmp_path):
    vendor = LabelStudioVendor(display_columns=["text"])
    receipt = vendor.export_batch(batch(), 3, LABELS, tmp_path)
    data = Path(receipt.uri).read_bytes()
    assert receipt.sha256 == hashlib.sha256(data).hexdigest() and receipt.n_rows == 3
    tasks = json.loads(data)
    assert [t["data"] for t in tasks] == [
        {"item_id": "i1", "round": 3, "rank": 1, "text": "a dog?"},
        {"item_id": "i2", "round": 3, "rank": 2, "text": "=cmd|' /C calc'!A0"},
        {"item_id": "i3", "round": 3, "rank": 3, "text": "third"},
    ]
    (pred,) = tasks[0]["predictions"]
    assert pred["score"] == 0.75 and pred["model_version"] == "alflow-round-0003"
    assert pred["result"] == [
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": ["dog"]}}
    ]
    assert "predictions" not in tasks[2]  # no suggestion, no prediction
    manifest = json.loads(Path(receipt.manifest_uri).read_text())
    assert manifest["rows"] == 3 and manifest["sha256"] == receipt.sha256
    assert config_choices(manifest["label_config"]) == LABELS
    assert vendor.export_batch(batch(), 3, LABELS, tmp_path).sha256 == receipt.sha256


def test_numeric_items_are_shown_as_feature_lines(tmp_path):
    frame = batch(predicted=False).drop(columns="text").assign(a=[1, 2, 3], b=[0.5, 0.25, 0.0])
    receipt = LabelStudioVendor(display_columns=["a", "b"]).export_batch(frame, 1, LABELS, tmp_path)
    tasks = json.loads(Path(receipt.uri).read_text())
    assert tasks[1]["data"]["features"] == "a: 2\nb: 0.25"
    assert all("predictions" not in t for t in tasks)


def export_file(tmp_path, tasks, name="export.json", indent=1):
    path = tmp_path / name
    path.write_text(json.dumps(tasks, indent=indent))
    return path


def task(item_id, *annotations, tid=1):
    return {"id": tid, "project": 7, "data": {"item_id": item_id}, "annotations": list(annotations)}


def test_reads_labels_skips_ground_truth_and_annotators(tmp_path):
    path = export_file(
        tmp_path,
        [
            task("i1", ann(1, "cat"), ann(2, "dog", user={"id": 3, "email": "b@x"})),
            task("i2", ann(3, cancelled=True)),
            task("i3", ann(4, "dog", gt=True)),
            task("i4"),  # not annotated yet
        ],
    )
    got = LabelStudioVendor().read_annotations(path, LABELS)
    assert [(a.item_id, a.kind, a.label, a.annotator, a.annotation_id) for a in got] == [
        ("i1", "label", "cat", "2", "uuid-1"),
        ("i1", "label", "dog", "b@x", "uuid-2"),
        ("i2", "skip", None, "2", "uuid-3"),
        ("i3", "ground_truth", "dog", "2", "uuid-4"),
    ]
    text = path.read_text().splitlines()
    assert text[got[2].line - 1].strip() == "{" and '"i2"' in "".join(text[got[2].line :])
    assert got[0].ref("label-studio") == "label-studio:uuid-1"


def test_an_edited_annotation_keeps_its_ref_and_changes_its_key(tmp_path):
    v = LabelStudioVendor()
    (before,) = v.read_annotations(export_file(tmp_path, [task("i1", ann(1, "cat"))]), LABELS)
    (after,) = v.read_annotations(
        export_file(tmp_path, [task("i1", ann(1, "dog", updated="2026-02-01"))], "b.json"),
        LABELS,
    )
    assert before.ref("ls") == after.ref("ls")
    assert before.event_key("ls") != after.event_key("ls")


def test_the_newest_version_of_a_repeated_annotation_wins(tmp_path):
    path = export_file(
        tmp_path,
        [
            task("i1", ann(1, "dog", updated="2026-03-01")),
            task("i1", ann(1, "cat", updated="2026-01-01"), tid=2),
        ],
    )
    (got,) = LabelStudioVendor().read_annotations(path, LABELS)
    assert got.label == "dog"


def test_every_problem_is_reported_with_item_and_annotation(tmp_path):
    path = export_file(
        tmp_path,
        [
            task("i1", ann(11, "eleven")),
            task("i2", ann(12)),  # submitted without a choice
            {"id": 9, "data": {"text": "made by hand"}, "annotations": []},
            task("i4", {**ann(14, "cat"), "result": [*ann(14, "cat")["result"]] * 2}),
        ],
    )
    with pytest.raises(InputError) as err:
        LabelStudioVendor().read_annotations(path, LABELS)
    problems = err.value.problems
    assert len(problems) == 4 and "nothing was imported" in str(err.value)
    assert problems[0].startswith(f"{path}:2: label: 'eleven' (item_id 'i1', annotation 11)")
    assert (
        "expected exactly one choice of the control 'label' (vendor.label_field), "
        "found [] (item_id 'i2', annotation 12)" in (problems[1])
    )
    assert "data.item_id: missing in Label Studio task 9" in problems[2]
    assert "found ['cat', 'cat']" in problems[3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"data": {}}', "a Label Studio JSON export is a JSON array of tasks"),
        ('[{"data": {"item_id": "i1"}, "annotations": []}', "the file looks truncated"),
        ('[{"data": {"item_id": "i1", "item_id": "i2"}}]', "duplicate key(s) ['item_id']"),
        ('[{"data": {"item_id": NaN}}]', "NaN is not allowed"),
        ("[1]", "a task must be an object"),
        ("[]", "no annotations found"),
        ("[{}] []", "unexpected content after the array"),
    ],
)
def test_malformed_exports_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        LabelStudioVendor().read_annotations(path, LABELS)
    assert message in str(err.value)


def test_config_and_factory(tmp_path):
    cfg = make_config(
        tmp_path,
        vendor={"kind": "label-studio", "mode": "api", "url": "http://127.0.0.1:8080"},
    )
    vendor = make_vendor(cfg)
    assert isinstance(vendor, LabelStudioVendor)
    assert (vendor.mode, vendor.project_title, vendor.token_env) == (
        "api",
        "test",
        "LABEL_STUDIO_API_KEY",
    )
    assert vendor.display_columns[:2] == ["px00", "px01"]
    with pytest.raises(ConfigError, match="mode 'api' needs 'url'"):
        make_config(tmp_path, vendor={"kind": "label-studio", "mode": "api"})
    with pytest.raises(ConfigError, match="must start with http"):
        make_config(tmp_path, vendor={"kind": "label-studio", "mode": "api", "url": "ftp://x"})
    with pytest.raises(ConfigError, match="token_env"):
        make_config(tmp_path, vendor={"kind": "label-studio", "token_env": "not a name"})
    assert VendorConfig(url="http://u:secret@h").model_dump(mode="json")["url"] == "http://u:***@h"


def test_api_mode_without_the_token_says_which_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_LS_TOKEN", raising=False)
    vendor = LabelStudioVendor(mode="api", url="http://127.0.0.1:9", token_env="NO_SUCH_LS_TOKEN")
    with pytest.raises(ConfigError, match="NO_SUCH_LS_TOKEN"):
        vendor.pull(tmp_path, LABELS)
