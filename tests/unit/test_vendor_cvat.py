"""CVAT: export of image tasks with a mapping sidecar; CVAT for images 1.1 XML import, and
refusal of hostile archives and XML."""

import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from alflow.config import ArchiveLimits, FeaturesConfig
from alflow.errors import InputError
from alflow.vendors.archive import unsafe_name
from alflow.vendors.cvat import CvatVendor

LABELS = ["cat", "dog"]
FEATURES = FeaturesConfig(kind="numeric", columns=["a", "b", "c"])


def batch(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [f"id/{i}?x" for i in range(n)],  # ids that could never be file names
            "rank": range(1, n + 1),
            "utility": [0.5] * n,
            "predicted_label": ["cat"] * n,
            "predicted_score": [0.6] * n,
            "a": [0.0, 1.0, 2.0][:n],
            "b": [3.0, 4.0, 5.0][:n],
            "c": [1.0, 1.0, 9.0][:n],
        }
    )


@pytest.fixture
def exported(tmp_path):
    vendor = CvatVendor(FEATURES, tmp_path)
    receipt = vendor.export_batch(batch(), 1, LABELS, tmp_path)
    return vendor, receipt, tmp_path


def cvat_xml(images: list[tuple[str, list[tuple[str, str]]]], version: str = "1.1") -> bytes:
    """A CVAT for images document: ``(name, [(label, source), ...])`` per image."""
    body = "".join(
        f'<image id="{i}" name="{name}" width="48" height="48">'
        + "".join(f'<tag label="{lab}" source="{src}"></tag>' for lab, src in tags)
        + "</image>"
        for i, (name, tags) in enumerate(images)
    )
    meta = "<meta><task><name>t</name></task></meta>"
    head = f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>{version}</version>'
    return f"{head}{meta}{body}</annotations>\n".encode()


def zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_export_writes_images_sidecar_labels_and_manifest(exported):
    vendor, receipt, dest = exported
    assert receipt.vendor == "cvat" and receipt.n_rows == 3
    with zipfile.ZipFile(receipt.uri) as zf:
        names = zf.namelist()
        assert names == ["r0001-00001.png", "r0001-00002.png", "r0001-00003.png"]
        assert all(zf.read(n).startswith(b"\x89PNG\r\n\x1a\n") for n in names)
    mapping = json.loads((dest / "round-0001.cvat-mapping.json").read_text())["images"]
    assert mapping == {
        "r0001-00001.png": "id/0?x",
        "r0001-00002.png": "id/1?x",
        "r0001-00003.png": "id/2?x",
    }
    cvat_labels = json.loads((dest / "round-0001.cvat-labels.json").read_text())
    assert [lab["name"] for lab in cvat_labels] == LABELS
    manifest = json.loads(Path(receipt.manifest_uri).read_text())
    assert manifest["rows"] == 3 and manifest["sha256"] == receipt.sha256
    # a rerun writes the same bytes
    again = vendor.export_batch(batch(), 1, LABELS, dest)
    assert again.sha256 == receipt.sha256


def test_text_items_are_rendered_as_cards(tmp_path):
    frame = batch(2).drop(columns=["a", "b", "c"]).assign(text=["a long text " * 20, "short"])
    vendor = CvatVendor(FeaturesConfig(kind="text", text_column="t"), tmp_path)
    receipt = vendor.export_batch(frame, 2, LABELS, tmp_path)
    with zipfile.ZipFile(receipt.uri) as zf:
        assert {len(zf.read(n)) > 1000 for n in zf.namelist()} == {True}


def test_bare_xml_tags_become_annotations(exported):
    vendor, _, dest = exported
    xml = dest / "annotations.xml"
    xml.write_bytes(
        cvat_xml(
            [
                ("r0001-00001.png", [("cat", "manual"), ("dog", "auto")]),
                ("images/r0001-00002.png", [("dog", "manual"), ("dog", "semi-auto")]),
                ("r0001-00003.png", []),
            ]
        )
    )
    got = vendor.read_annotations(xml, LABELS)
    assert [(a.item_id, a.label, a.annotation_id) for a in got] == [
        ("id/0?x", "cat", "r0001-00001.png#0"),
        ("id/1?x", "dog", "r0001-00002.png#0"),
        ("id/1?x", "dog", "r0001-00002.png#1"),
    ]
    # a corrected tag keeps its identity (ref) and changes its event key
    xml.write_bytes(cvat_xml([("r0001-00001.png", [("dog", "manual")])]))
    fixed = vendor.read_annotations(xml, LABELS)[0]
    assert fixed.ref("cvat") == got[0].ref("cvat")
    assert fixed.event_key("cvat") != got[0].event_key("cvat")


def test_cvat_export_zip_is_read(exported):
    vendor, _, dest = exported
    path = dest / "task_export.zip"
    xml = cvat_xml([("r0001-00003.png", [("cat", "manual")])])
    path.write_bytes(zip_bytes({"annotations.xml": xml, "images/r0001-00003.png": b"png"}))
    assert [a.item_id for a in vendor.read_annotations(path, LABELS)] == ["id/2?x"]


def test_problems_are_all_listed_and_nothing_is_returned(exported):
    vendor, _, dest = exported
    xml = dest / "bad.xml"
    xml.write_bytes(
        cvat_xml(
            [
                ("r0001-00001.png", [("horse", "manual")]),
                ("unknown.png", [("cat", "manual")]),
                ("../r0001-00002.png", [("cat", "manual")]),
            ]
        )
    )
    with pytest.raises(InputError) as err:
        vendor.read_annotations(xml, LABELS)
    text = str(err.value)
    assert "3 problem(s); nothing was imported" in text
    assert "'horse' for item_id 'id/0?x' is not in the label schema" in text
    assert "unknown.png" in text and "not an image alflow exported" in text
    assert "'..' in path" in text


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("/etc/passwd", "absolute path"),
        ("a/../../b", "'..' in path"),
        ("a\\b", "backslash in name"),
        ("a\0b", "NUL in name"),
        ("C:/x", "absolute path"),
        ("ok/name.png", None),
    ],
)
def test_unsafe_names(name, why):
    assert unsafe_name(name) == why


@pytest.mark.parametrize("member", ["../annotations.xml", "/abs/annotations.xml", "a/../../x"])
def test_archive_with_traversal_is_refused(exported, member):
    vendor, _, dest = exported
    path = dest / "evil.zip"
    xml = cvat_xml([("r0001-00001.png", [("cat", "manual")])])
    path.write_bytes(zip_bytes({"annotations.xml": xml, member: b"x"}))
    with pytest.raises(InputError, match="refused"):
        vendor.read_annotations(path, LABELS)


def test_zip_bomb_ratio_and_total_size_are_refused(exported):
    vendor, _, dest = exported
    path = dest / "bomb.zip"
    xml = cvat_xml([("r0001-00001.png", [("cat", "manual")])])
    path.write_bytes(zip_bytes({"annotations.xml": xml, "zeros.bin": b"\0" * 5_000_000}))
    with pytest.raises(InputError, match="zip bomb") as err:
        vendor.read_annotations(path, LABELS)
    assert "max_ratio" in str(err.value)
    stored = dest / "big.zip"
    stored.write_bytes(
        zip_bytes({"annotations.xml": xml, "big.bin": b"\1" * 50_000}, zipfile.ZIP_STORED)
    )
    small = CvatVendor(FEATURES, dest, ArchiveLimits(max_total_bytes=20_000))
    with pytest.raises(InputError, match="max_total_bytes"):
        small.read_annotations(stored, LABELS)
    assert len(vendor.read_annotations(stored, LABELS)) == 1


def test_xml_size_cap_applies_bare_and_inside_zip(exported):
    _, _, dest = exported
    vendor = CvatVendor(FEATURES, dest, ArchiveLimits(max_xml_bytes=1_000))
    images = [("r0001-00001.png", [("cat", "manual")])] * 40
    bare = dest / "big.xml"
    bare.write_bytes(cvat_xml(images))
    with pytest.raises(InputError, match="1000-byte limit"):
        vendor.read_annotations(bare, LABELS)
    zipped = dest / "big.zip"
    zipped.write_bytes(zip_bytes({"annotations.xml": cvat_xml(images)}, zipfile.ZIP_STORED))
    with pytest.raises(InputError, match="1000-byte limit"):
        vendor.read_annotations(zipped, LABELS)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE annotations [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<annotations><image id="0" name="r0001-00001.png"><tag label="&lol3;"/></image></annotations>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE annotations [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<annotations><image id="0" name="r0001-00001.png"><tag label="&x;"/></image></annotations>
"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL])
def test_dtds_and_entities_are_refused(exported, payload):
    vendor, _, dest = exported
    path = dest / "evil.xml"
    path.write_bytes(payload)
    with pytest.raises(InputError, match="refused: DTDForbidden"):
        vendor.read_annotations(path, LABELS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"<annotations><image name='r0001-00001.png'>", "not well-formed XML"),
        (b"<labels/>", "not <annotations>"),
        (cvat_xml([("r0001-00001.png", [("cat", "manual")])], "2.0"), "expected 1.1"),
        (cvat_xml([("r0001-00001.png", [("cat", "auto")])]), "no human tags"),
        (b"PK\x03\x04 broken", "not well-formed XML|not a readable zip"),
    ],
)
def test_malformed_files_give_clear_errors(exported, payload, message):
    vendor, _, dest = exported
    path = dest / "f.xml"
    path.write_bytes(payload)
    with pytest.raises(InputError, match=message):
        vendor.read_annotations(path, LABELS)


def test_import_needs_the_mapping_sidecars(tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(cvat_xml([("r0001-00001.png", [("cat", "manual")])]))
    with pytest.raises(InputError, match="no CVAT mapping sidecars"):
        CvatVendor(FEATURES, tmp_path / "nowhere").read_annotations(path, LABELS)
