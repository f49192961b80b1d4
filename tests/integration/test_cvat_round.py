"""A real round through CVAT's formats: the flows export an image task (zip + mapping sidecar),
annotators tag the images, CVAT's export zip comes back and trains the model, exactly once."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from alflow.errors import InputError
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import make_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def cvat_export(path: Path, tags: dict[str, list[tuple[str, str]]], images: bytes | None) -> Path:
    """What CVAT's "Export task dataset" (CVAT for images 1.1, with images) writes."""
    body = "".join(
        f'<image id="{i}" name="{name}" width="128" height="128">'
        + "".join(f'<tag label="{lab}" source="{src}" occluded="0"></tag>' for lab, src in ts)
        + "</image>"
        for i, (name, ts) in enumerate(tags.items())
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>'
        f"<meta><task><id>7</id><name>round</name></task></meta>{body}</annotations>\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("annotations.xml", xml)
        for name in tags:
            zf.writestr(f"images/{name}", images or b"")
    path.write_bytes(buf.getvalue())
    return path


def test_cvat_round_trip(tmp_path, digits_csv, digits_frame):
    truth = digits_frame.set_index("digit_id")["digit"].astype(str)
    config = make_config(tmp_path / "ws", vendor={"kind": "cvat"}, campaign={"batch_size": 12})
    project = project_for(config)
    project.ingest(str(digits_csv[0]))
    project.ingest(str(digits_csv[1]), target="eval")

    out = labeling_round(config)
    zip_path = Path(out["export"]["uri"])
    assert zip_path.name == "round-0001.cvat.zip" and out["export"]["rows"] == 12
    mapping = json.loads((zip_path.parent / "round-0001.cvat-mapping.json").read_text())["images"]
    assert sorted(mapping.values()) == sorted(project.ledger.selection(1)["item_id"])
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(mapping)
        png = zf.read(next(iter(mapping)))
    assert png.startswith(b"\x89PNG")

    names = sorted(mapping)
    tags = {n: [(truth[mapping[n]], "manual")] for n in names[:11]}
    tags[names[11]] = [("3", "auto")]  # a model's pre-annotation: not a human label
    first = cvat_export(tmp_path / "task_7_annotations.zip", tags, png)
    res = reimport_and_retrain(config, str(first))
    assert res["import"]["events_added"] == 11
    assert res["train"]["n_labels"] == 11
    assert project.ledger.state_counts()["exported"] == 1
    assert reimport_and_retrain(config, str(first), retrain=False)["import"]["events_added"] == 0

    # the annotator corrects one tag and tags the last image; CVAT exports the task again
    wrong = str((int(truth[mapping[names[0]]]) + 1) % 10)
    tags[names[0]] = [(wrong, "manual")]
    tags[names[11]] = [(truth[mapping[names[11]]], "manual")]
    second = cvat_export(tmp_path / "task_7_annotations_2.zip", tags, png)
    assert reimport_and_retrain(config, str(second), retrain=False)["import"]["events_added"] == 2
    labels = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert len(labels) == 12 and labels[mapping[names[0]]] == wrong  # the newest version counts
    assert project.ledger.event_count() == 13

    hostile = tmp_path / "hostile.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("annotations.xml", "<annotations/>")
        zf.writestr("../../etc/cron.d/x", "boom")
    hostile.write_bytes(buf.getvalue())
    with pytest.raises(InputError, match="refused"):
        reimport_and_retrain(config, str(hostile), retrain=False)
    assert project.ledger.event_count() == 13
