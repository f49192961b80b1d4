"""Format rules of each vendor that the round trips do not reach, and the Argilla REST client
against a local HTTP server implementing the endpoints it calls (not a real Argilla)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from alflow.config import VendorConfig
from alflow.errors import ConfigError, InputError
from alflow.vendors.argilla import ArgillaVendor
from alflow.vendors.prodigy import ProdigyVendor
from alflow.vendors.registry import make_vendor
from alflow.vendors.sagemaker import SageMakerVendor
from alflow.vendors.scale import ScaleVendor
from tests.conftest import make_config
from tests.fake_argilla import FakeArgilla

LABELS = ["cat", "dog"]


def jsonl(tmp_path, name, records):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def batch():
    return pd.DataFrame(
        {
            "item_id": ["i1", "i2"],
            "rank": [1, 2],
            "utility": [0.9, 0.8],
            "predicted_label": ["dog", None],
            "predicted_score": [0.8, None],
            "margin": [0.1, 0.2],
            "f1": [3, 4],
        }
    )


def test_argilla_statuses_and_missing_status(tmp_path):
    path = jsonl(
        tmp_path,
        "r.jsonl",
        [
            {
                "id": "i1",
                "metadata": {"item_id": "i1", "round": 2},
                "responses": {
                    "label": [
                        {"value": "cat", "user_id": "u1", "status": "submitted"},
                        {"value": "dog", "user_id": "u2", "status": "draft"},
                        {"value": None, "user_id": "u3", "status": "discarded"},
                    ]
                },
            }
        ],
    )
    got = ArgillaVendor().read_annotations(path, LABELS)
    assert [(a.kind, a.label, a.annotator, a.round_id) for a in got] == [
        ("label", "cat", "u1", 2),
        ("skip", None, "u3", 2),
    ]
    assert got[0].annotation_id == "i1/u1"
    nested = jsonl(tmp_path, "n.jsonl", [{"id": "i1", "responses": {"label": [{"value": "cat"}]}}])
    with pytest.raises(InputError, match=r"n\.jsonl:1: responses\.label\[0\]: .*needs a status"):
        ArgillaVendor().read_annotations(nested, LABELS)


def test_argilla_export_renders_features_and_suggests(tmp_path):
    receipt = ArgillaVendor().export_batch(batch(), 3, LABELS, tmp_path)
    first, second = (json.loads(x) for x in Path(receipt.uri).read_text().splitlines())
    assert first["id"] == "i1" and first["fields"]["text"] == "f1=3"
    assert first["suggestions"] == [
        {"question_name": "label", "value": "dog", "score": 0.8, "agent": "alflow", "type": "model"}
    ]
    assert second["suggestions"] == [] and first["metadata"] == {"item_id": "i1", "round": 3}


def gt_line(index, name, human="yes"):
    meta = {
        "class-name": name,
        "confidence": 0.9,
        "type": "groundtruth/text-classification",
        "job-name": "labeling-job/j1",
        "human-annotated": human,
        "creation-date": "2026-11-22T00:00:00",
    }
    return {"source": "t", "alflow-item-id": "i1", "label": index, "label-metadata": meta}


def test_sagemaker_index_and_name_must_agree(tmp_path):
    ok = jsonl(tmp_path, "ok.manifest", [gt_line("1", "dog"), gt_line(0, "cat", human="no")])
    got = SageMakerVendor().read_annotations(ok, LABELS)
    assert [(a.label, a.annotator) for a in got] == [("dog", "labeling-job/j1")]  # no machine
    bad = jsonl(tmp_path, "bad.manifest", [gt_line(0, "dog"), gt_line(5, "cat")])
    with pytest.raises(InputError) as err:
        SageMakerVendor().read_annotations(bad, LABELS)
    assert "bad.manifest:1: label: item_id 'i1': class index 0 is 'cat'" in str(err.value)
    assert "bad.manifest:2: label: item_id 'i1': class index '5' is not in 0..1" in str(err.value)


def test_scale_refuses_a_wrong_callback_header(tmp_path, monkeypatch):
    body = {
        "task": {"task_id": "t1", "status": "completed", "metadata": {"item_id": "i1"}},
        "response": {"category": "cat"},
    }
    folder = tmp_path / "callbacks"
    folder.mkdir()
    (folder / "a.json").write_text(
        json.dumps({"headers": {"scale-callback-auth": "s3cret"}, "body": body})
    )
    vendor = ScaleVendor()
    monkeypatch.delenv("SCALE_CALLBACK_AUTH", raising=False)
    with pytest.raises(ConfigError, match="SCALE_CALLBACK_AUTH"):
        vendor.read_annotations(folder, LABELS)
    monkeypatch.setenv("SCALE_CALLBACK_AUTH", "s3cret")
    assert [a.label for a in vendor.read_annotations(folder, LABELS)] == ["cat"]
    (folder / "b.json").write_text(
        json.dumps({"headers": {"scale-callback-auth": "x"}, "body": body})
    )
    with pytest.raises(
        InputError, match=r"b\.json:1: headers\.scale-callback-auth: missing or wrong"
    ):
        vendor.read_annotations(folder, LABELS)


def test_prodigy_binary_reject_is_never_a_label(tmp_path):
    vendor = ProdigyVendor("binary")
    receipt = vendor.export_batch(batch(), 1, LABELS, tmp_path)
    tasks = [json.loads(x) for x in Path(receipt.uri).read_text().splitlines()]
    assert [t["label"] for t in tasks] == ["dog", "cat"]  # suggestion, else the first label
    again = vendor.export_batch(batch(), 1, LABELS, tmp_path / "again")
    assert [json.loads(x)["_task_hash"] for x in Path(again.uri).read_text().splitlines()] == [
        t["_task_hash"] for t in tasks
    ]
    answers = [
        {**tasks[0], "answer": "reject", "_annotator_id": "s-ann"},
        {**tasks[1], "answer": "accept", "_annotator_id": "s-ann"},
    ]
    got = vendor.read_annotations(jsonl(tmp_path, "db.jsonl", answers), LABELS)
    assert [(a.item_id, a.kind, a.label) for a in got] == [
        ("i1", "skip", None),
        ("i2", "label", "cat"),
    ]


def test_size_cap_is_configurable_and_clear(tmp_path):
    path = jsonl(tmp_path, "big.jsonl", [{"item_id": "i1", "label": "cat"}] * 50)
    vendor = make_vendor(make_config(tmp_path, vendor={"kind": "file", "max_file_bytes": 100}))
    with pytest.raises(InputError, match=r"over the 100-byte limit \(vendor\.max_file_bytes\)"):
        vendor.read_annotations(path, LABELS)


def test_argilla_api_push_and_pull(tmp_path, argilla_server, monkeypatch):
    vendor = {"kind": "argilla", "url": argilla_server, "dataset": "digits", "token_env": "AK"}
    cfg = make_config(tmp_path, vendor=vendor)
    with pytest.raises(ConfigError, match="environment variable AK"):
        make_vendor(cfg)
    monkeypatch.setenv("AK", "argilla.apikey")
    vendor = make_vendor(cfg)
    receipt = vendor.export_batch(batch(), 2, LABELS, tmp_path)
    assert (
        "argilla.apikey"
        not in Path(receipt.uri).read_text() + Path(receipt.manifest_uri).read_text()
    )
    pushed = FakeArgilla.store["i1"]
    assert pushed["suggestions"][0] == {
        "question_id": "q-1",
        "value": "dog",
        "score": 0.8,
        "agent": "alflow",
        "type": "model",
    }
    # annotators answer in Argilla
    pushed["responses"] = [
        {"user_id": "u1", "status": "submitted", "values": {"label": {"value": "cat"}}},
        {"user_id": "u2", "status": "discarded", "values": None},
    ]
    pulled = vendor.pull(tmp_path, LABELS)
    got = vendor.read_annotations(pulled, LABELS)
    assert [(a.item_id, a.kind, a.label, a.round_id) for a in got] == [
        ("i1", "label", "cat", 2),
        ("i1", "skip", None, 2),
    ]
    monkeypatch.setenv("AK", "wrong")
    with pytest.raises(Exception, match="answered 401") as err:
        make_vendor(cfg).pull(tmp_path, LABELS)
    assert "wrong" not in str(err.value)


def test_vendor_url_password_is_redacted_in_logged_config():
    cfg = VendorConfig(kind="argilla", url="https://bot:hunter2@argilla.example", dataset="d")
    assert "hunter2" not in json.dumps(cfg.model_dump(mode="json"))
    assert cfg.url == "https://bot:hunter2@argilla.example"  # still usable
