"""The vendor registry: every registered kind builds from a config, declares whether it pulls
labels, and is documented; an unknown kind is one clear config error."""

from importlib import import_module

import pytest

from alflow.errors import ConfigError
from alflow.strategies import UTILITIES
from alflow.vendors.exporting import SCORE_COLUMNS
from alflow.vendors.registry import VENDORS, make_vendor
from tests.conftest import ROOT, make_config


@pytest.mark.parametrize("kind", sorted(VENDORS))
def test_every_registered_kind_builds_and_declares_its_capabilities(tmp_path, kind):
    vendor = make_vendor(make_config(tmp_path, vendor={"kind": kind}), tmp_path)
    assert vendor.name == kind
    assert vendor.pulls_labels is False  # a file comes back unless a server is configured
    assert callable(vendor.export_batch) and callable(vendor.read_annotations)
    assert import_module(VENDORS[kind]).build.__doc__


@pytest.mark.parametrize(
    ("kind", "server"),
    [
        ("label-studio", {"mode": "api", "url": "http://127.0.0.1:1"}),
        ("argilla", {"url": "http://127.0.0.1:1", "dataset": "d"}),
    ],
)
def test_a_vendor_with_a_server_pulls_labels(tmp_path, monkeypatch, kind, server):
    monkeypatch.setenv("ARGILLA_API_KEY", "test-key")  # read when the client is made
    vendor = make_vendor(make_config(tmp_path, vendor={"kind": kind, **server}), tmp_path)
    assert vendor.pulls_labels is True


def test_every_registered_kind_is_documented():
    docs = (ROOT / "docs" / "vendors.md").read_text()
    missing = [kind for kind in VENDORS if f"| `{kind}` |" not in docs]
    assert missing == []


def test_an_unknown_vendor_kind_is_one_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, vendor={"kind": "mechanical-turk"})
    lines = str(err.value).splitlines()
    assert len(lines) == 1
    assert "vendor.kind: unknown vendor kind 'mechanical-turk'" in lines[0]
    assert "label-studio" in lines[0]


def test_vendors_skip_every_score_column_when_rendering_an_item():
    assert {"random", *UTILITIES} <= SCORE_COLUMNS
