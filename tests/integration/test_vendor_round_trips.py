"""Every vendor round trip on a real alflow campaign (digits): a scored round exported in the
vendor's format, the vendor's return file written as the vendor documents it, imported, checked
in the ledger exactly, imported again (nothing added), corrected, and refused when wrong."""

import json
from pathlib import Path

import pytest

from alflow.errors import InputError
from alflow.project import Project
from tests import vendor_returns
from tests.conftest import make_config
from tests.fake_argilla import API_KEY, FakeArgilla

pytestmark = pytest.mark.slow
VENDORS = list(vendor_returns.WRITERS)
EXPORT_KEYS = {
    "argilla": lambda r: r["id"],
    "sagemaker": lambda r: r["alflow-item-id"],
    "labelbox": lambda r: r["global_key"],
    "scale": lambda r: r["metadata"]["item_id"],
    "prodigy": lambda r: r["meta"]["item_id"],
}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, digits_frame, dask_client, monkeypatch_module):
    """Round 1 labelled by the simulated annotator and trained on; then one round per vendor."""
    monkeypatch_module.setenv("SCALE_CALLBACK_AUTH", "s3cret")
    tmp = tmp_path_factory.mktemp("vendors")
    pool = tmp / "pool.csv"
    digits_frame.iloc[:1297].to_csv(pool, index=False)
    ws = tmp / "ws"
    base = make_config(ws, strategy={"name": "margin", "pool_sample": 400})
    first = Project(base)
    first.ingest(str(pool))
    start = first.start_round()
    first.select(start.round_id, dask_client)
    first.export(start.round_id)
    first.import_labels(first.simulate_annotation(start.round_id))
    first.retrain(start.round_id)
    rounds = {}
    for kind in VENDORS:
        p = Project(make_config(ws, vendor={"kind": kind}, strategy=base.strategy.model_dump()))
        r = p.start_round().round_id
        p.select(r, dask_client)
        rounds[kind] = (p, r, Path(p.export(r)["uri"]))
    truth = dict(zip(digits_frame["digit_id"], digits_frame["digit"].astype(str), strict=True))
    return rounds, truth, tmp


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def other(label: str) -> str:
    return str((int(label) + 1) % 10)


@pytest.mark.parametrize("kind", VENDORS)
def test_round_trip(campaign, kind):
    rounds, truth, tmp = campaign
    project, round_id, export = rounds[kind]
    labels = project.labels
    records = [json.loads(line) for line in export.read_text().splitlines()]
    items = [EXPORT_KEYS[kind](r) for r in records]
    assert items == project.ledger.selection(round_id)["item_id"].tolist()
    if kind in ("argilla", "prodigy"):  # the model's suggestion rides along, with its score
        scores = project.ledger.selection(round_id)["predicted_score"].round(6).tolist()
        found = [r["suggestions"][0]["score"] for r in records] if kind == "argilla" else None
        found = found or [r["meta"]["score"] for r in records]
        assert [round(x, 6) for x in found] == scores
    if kind == "argilla":  # digits are shown as their pixel values, not their scores
        assert records[0]["fields"]["text"].startswith("px00=")
        assert "margin" not in records[0]["fields"]["text"]
    write = vendor_returns.WRITERS[kind]
    answers = [(i, "label", truth[i], "alice") for i in items[:6]]
    answers += [(items[6], "label", truth[items[6]], "alice")]
    answers += [(items[6], "label", other(truth[items[6]]), "bob")]  # a tie
    answers += [(items[7], "skip", None, "alice")]
    answers += [(items[8], "label", other(truth[items[8]]), "alice")]  # corrected below
    first = write(export, answers, tmp / f"{kind}-1.return", labels)

    events_before = project.ledger.event_count()
    report = project.import_labels(first)
    assert (report.events_read, report.events_added) == (10, 10)
    assert project.ledger.event_count() == events_before + 10
    again = project.import_labels(first)
    assert again.events_added == 0 and project.ledger.event_count() == events_before + 10

    doubled = tmp / f"{kind}-doubled.return"  # other bytes, the same annotations twice
    doubled.write_text(first.read_text() * 2)
    assert project.import_labels(doubled).events_added == 0

    # alice corrects her answer: it replaces the earlier one (a second vote would tie)
    fix = [(items[8], "label", truth[items[8]], "alice")]
    second = write(export, fix, tmp / f"{kind}-2.return", labels)
    assert project.import_labels(second).events_added == 1

    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    expected = {i: truth[i] for i in [*items[:6], items[8]]}
    assert {i: resolved[i] for i in expected} == expected
    states = {i: project.ledger.item_history(i)["state"] for i in items}
    assert [states[i] for i in items[:6]] == ["labeled"] * 6
    assert states[items[6]] == "needs_relabel"
    assert states[items[7]] == "skipped"
    assert states[items[8]] == "labeled"
    assert states[items[9]] == "exported"  # not back yet: a batch may return in parts


@pytest.mark.parametrize("kind", VENDORS)
def test_bad_files_are_refused_whole(campaign, kind):
    """Unknown id, an item from another round's export, an out-of-schema label: all reported
    with line and item id; nothing is imported."""
    rounds, truth, tmp = campaign
    project, round_id, export = rounds[kind]
    other_kind = VENDORS[(VENDORS.index(kind) + 1) % len(VENDORS)]
    foreign = project.ledger.selection(rounds[other_kind][1])["item_id"].iloc[0]
    items = project.ledger.selection(round_id)["item_id"].tolist()
    write = vendor_returns.WRITERS[kind]
    good = write(export, [(items[9], "label", truth[items[9]], "carol")], tmp / "g", project.labels)
    lines = good.read_text().splitlines()
    line = next(x for x in lines if items[9] in x and "carol" in x)
    wrong_label = line.replace(f'"{truth[items[9]]}"', '"cat"')
    if kind == "sagemaker":
        wrong_label = wrong_label.replace(f'"label": {int(truth[items[9]])}', '"label": 42')
    unknown = line.replace(items[9], "no-such-item")
    moved = line.replace(items[9], foreign)
    bad = tmp / f"{kind}-bad.return"
    bad.write_text("\n".join([line, wrong_label, unknown, moved, "{not json"]) + "\n")
    before = project.ledger.event_count()
    with pytest.raises(InputError) as err:
        project.import_labels(bad)
    text = str(err.value)
    assert project.ledger.event_count() == before
    assert f"{bad}:2:" in text and ("schema" in text or "not in 0..9" in text)
    assert f"{bad}:5:" in text and "not valid JSON" in text
    # a file that only has the unknown and the foreign item fails in the import path
    bad.write_text("\n".join([unknown, moved]) + "\n")
    with pytest.raises(InputError) as err:
        project.import_labels(bad)
    text = str(err.value)
    assert "unknown item 'no-such-item'" in text
    assert f"item {foreign!r} is not in round {round_id}'s export" in text
    assert project.ledger.event_count() == before


def test_generic_file_names_its_round(campaign):
    """The generic labels file's optional ``round`` column is checked like the vendors' rounds."""
    rounds, truth, tmp = campaign
    argilla_project, argilla_round, _ = rounds["argilla"]
    theirs = rounds["prodigy"][0].ledger.selection(rounds["prodigy"][1])["item_id"].iloc[0]
    project = Project(make_config(Path(argilla_project.config.workspace), vendor={"kind": "file"}))
    path = tmp / "generic.jsonl"
    rec = {"item_id": theirs, "round": argilla_round, "label": truth[theirs], "annotator": "eve"}
    path.write_text(json.dumps(rec) + "\n")
    before = project.ledger.event_count()
    with pytest.raises(InputError, match=rf"generic\.jsonl:1: item_id: item '{theirs}' is not in "):
        project.import_labels(path)
    assert project.ledger.event_count() == before


def test_argilla_through_the_api(campaign, argilla_server, dask_client, monkeypatch):
    """``vendor.url`` set: the export upserts records into the (local, fake) server and
    ``pull_labels`` downloads the responses, imported once."""
    rounds, truth, _ = campaign
    workspace = Path(rounds["argilla"][0].config.workspace)
    monkeypatch.setenv("ARGILLA_API_KEY", API_KEY)
    vendor = {"kind": "argilla", "url": argilla_server, "dataset": "digits"}
    project = Project(make_config(workspace, vendor=vendor, strategy={"name": "margin"}))
    FakeArgilla.labels = project.labels
    round_id = project.start_round().round_id
    project.select(round_id, dask_client)
    project.export(round_id)
    items = project.ledger.selection(round_id)["item_id"].tolist()
    assert sorted(FakeArgilla.store) == sorted(items)
    for i, item in enumerate(items[:4]):
        FakeArgilla.store[item]["responses"] = [
            {"user_id": "u1", "status": "submitted", "values": {"label": {"value": truth[item]}}},
            {"user_id": "u2", "status": "draft", "values": {"label": {"value": "0"}}},
        ] + ([{"user_id": "u3", "status": "discarded", "values": None}] if i == 0 else [])
    report = project.import_labels(project.pull_labels())
    assert (report.events_read, report.events_added) == (5, 5)
    assert project.import_labels(project.pull_labels()).events_added == 0
    resolved = project.ledger.resolved_labels().set_index("item_id")["label"]
    assert {i: resolved[i] for i in items[:4]} == {i: truth[i] for i in items[:4]}
    assert API_KEY not in Path(report.source).read_text()
