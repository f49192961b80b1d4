"""A full round trip through a real Label Studio server: alflow exports a round's batch, people
annotate through Label Studio's REST API (two annotators who disagree, a skip, ground truth, an
edited annotation, a label outside the schema), and alflow imports the labels exactly once."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from alflow.errors import InputError
from alflow.rounds.export import display_columns
from flows.cli import app
from flows.rounds import labeling_round, reimport_and_retrain
from tasks.context import project_for
from tests.conftest import DIGIT_COLUMNS, make_config
from tests.label_studio_server import start_label_studio

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
TITLE = "alflow digits"
TOKEN_ENV = "ALFLOW_TEST_LS_TOKEN"


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    yield from start_label_studio(tmp_path_factory.mktemp("ls"))


def choice(label):
    return [
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}
    ]


def annotate(http, task_id, label=None, *, cancelled=False, ground_truth=False) -> int:
    body = {
        "result": [] if label is None else choice(label),
        "was_cancelled": cancelled,
        "ground_truth": ground_truth,
    }
    res = http.post(f"/api/tasks/{task_id}/annotations/", json=body)
    assert res.status_code == 201, res.text
    return res.json()["id"]


def relabel(http, annotation_id, label) -> None:
    res = http.patch(f"/api/annotations/{annotation_id}/", json={"result": choice(label)})
    assert res.status_code == 200, res.text


def project_tasks(http) -> tuple[int, list[dict]]:
    projects = http.get("/api/projects/", params={"title": TITLE}).json()["results"]
    assert [p["title"] for p in projects] == [TITLE]
    pid = projects[0]["id"]
    body = http.get("/api/tasks/", params={"project": pid, "page_size": 1000, "fields": "all"})
    return pid, body.json()["tasks"]


def test_round_trip_through_label_studio(
    tmp_path, digits_csv, digits_frame, label_studio, monkeypatch
):
    monkeypatch.setenv(TOKEN_ENV, label_studio.tokens["admin"])
    vendor = {
        "kind": "label-studio",
        "mode": "api",
        "url": label_studio.url,
        "token_env": TOKEN_ENV,
        "project_title": TITLE,
    }
    config = make_config(tmp_path / "ws", vendor=vendor)
    truth = dict(zip(digits_frame["digit_id"], digits_frame["digit"].astype(str), strict=True))
    p = project_for(config)
    p.ingest(str(digits_csv[0]))

    out = labeling_round(config)
    assert out["export"]["uri"] == f"{label_studio.url}/projects/1/data"
    batch = list(p.ledger.selection(1)["item_id"])
    admin, alice, bob = (label_studio.as_user(u) for u in ("admin", "alice", "bob"))
    pid, tasks = project_tasks(admin)
    assert sorted(t["data"]["item_id"] for t in tasks) == sorted(batch)
    label_config = admin.get(f"/api/projects/{pid}").json()["label_config"]
    assert label_config.count("<Choice ") == 10
    task_of = {t["data"]["item_id"]: t["id"] for t in tasks}
    i = batch  # in rank order
    wrong = {item: str((int(truth[item]) + 1) % 10) for item in i}

    annotate(alice, task_of[i[0]], truth[i[0]])  # two annotators disagree: a tie
    annotate(bob, task_of[i[0]], wrong[i[0]])
    annotate(alice, task_of[i[1]], cancelled=True)  # skipped
    annotate(alice, task_of[i[2]], wrong[i[2]])  # overruled by ground truth
    annotate(admin, task_of[i[2]], truth[i[2]], ground_truth=True)
    edited = annotate(alice, task_of[i[3]], wrong[i[3]])  # corrected after the first import
    outside = annotate(bob, task_of[i[4]], "eleven")  # the server accepts it; alflow must not
    for item in i[5:]:
        annotate(alice, task_of[item], truth[item])
    annotate(bob, task_of[i[5]], truth[i[5]])

    with pytest.raises(InputError) as err:
        reimport_and_retrain(config, retrain=False, pull=True)
    message = str(err.value)
    assert (
        f"'eleven' (item_id {i[4]!r}, annotation {outside}) is not in the label schema" in message
    )
    assert "1 problem(s); nothing was imported" in message
    (problem,) = err.value.problems
    pulled_file, line = problem.split(": ")[0].rsplit(":", 1)
    assert f'"item_id": "{i[4]}"' in Path(pulled_file).read_text().splitlines()[int(line) - 1]
    assert p.ledger.event_count() == 0 and p.ledger.import_count() == 0
    assert p.ledger.state_counts() == {"exported": 10, "unlabeled": 1287}

    relabel(bob, outside, truth[i[4]])
    first = reimport_and_retrain(config, retrain=False, pull=True)["import"]
    assert (first["events_read"], first["events_added"], first["items_resolved"]) == (13, 13, 10)
    assert p.ledger.resolved_labels().set_index("item_id")["label"].get(i[3]) == wrong[i[3]]

    relabel(alice, edited, truth[i[3]])
    second = reimport_and_retrain(config, retrain=False, pull=True)["import"]
    assert (second["events_read"], second["events_added"], second["items_resolved"]) == (13, 1, 1)
    again = reimport_and_retrain(config, retrain=False, pull=True)["import"]
    assert again["events_added"] == 0 and p.ledger.event_count() == 14

    resolved = p.ledger.resolved_labels()
    assert dict(zip(resolved["item_id"], resolved["label"], strict=True)) == {
        item: truth[item] for item in i[2:]
    }
    assert p.ledger.state_counts() == {
        "labeled": 8,
        "needs_relabel": 1,
        "skipped": 1,
        "unlabeled": 1287,
    }
    history = p.ledger.item_history(i[3])
    assert [a["label"] for a in history["annotations"]] == [wrong[i[3]], truth[i[3]]]
    assert len({a["ref"] for a in history["annotations"]}) == 1  # one annotation, two versions
    assert history["resolved"] == {"label": truth[i[3]], "rule": "unanimous", "events": 1}
    assert p.ledger.item_history(i[2])["resolved"]["rule"] == "ground_truth"
    who = {a["annotator"] for a in p.ledger.item_history(i[0])["annotations"]}
    assert who == {str(label_studio.user_ids["alice"]), str(label_studio.user_ids["bob"])}
    pulled = sorted((tmp_path / "ws" / "imports").glob("label-studio-project-1-*.json"))
    assert len(pulled) == 4 and label_studio.tokens["admin"] not in pulled[-1].read_text()

    train = reimport_and_retrain(config)["train"]
    run = MlflowClient(p.ws.mlflow_tracking_uri).get_run(p.ledger.get_round(1).mlflow_run_id)
    logged = json.dumps([run.data.params, run.data.tags])
    assert label_studio.url in logged and label_studio.tokens["admin"] not in logged
    assert train["metrics"]["labels_total"] == 8  # the trainer holds some out for evaluation

    # Round 2 from the command line: the champion's predictions go along with the tasks.
    cfg_file = tmp_path / "alflow.yaml"
    raw = config.model_dump(mode="json")
    raw["vendor"] = {"kind": "file", "url": label_studio.url, "token_env": TOKEN_ENV}
    raw["vendor"]["mode"] = "api"
    raw["vendor"]["project_title"] = TITLE
    cfg_file.write_text(yaml.safe_dump(raw))
    runner = CliRunner()
    res = runner.invoke(app, ["round", "-c", str(cfg_file), "--vendor", "label-studio"])
    assert res.exit_code == 0, res.output
    assert f"round 2: selected 10 items; batch at {label_studio.url}/projects/1/data" in res.output
    _, tasks = project_tasks(admin)
    assert len(tasks) == 20
    selection = p.ledger.selection(2).set_index("item_id")
    round2 = [t for t in tasks if t["data"]["round"] == 2]
    assert sorted(t["data"]["item_id"] for t in round2) == sorted(selection.index)
    for t in round2:
        (pred,) = t["predictions"]
        expected = selection.loc[t["data"]["item_id"]]
        assert pred["result"][0]["value"]["choices"] == [expected["predicted_label"]]
        assert pred["score"] == pytest.approx(expected["predicted_score"])
        assert pred["model_version"] == "alflow-round-0002"

    # A retried export sends nothing twice.
    receipt = p.vendor.export_batch(
        display_columns(p, p.ledger.selection(2)), 2, p.labels, p.ws.exports_dir
    )
    manifest = json.loads(Path(receipt.manifest_uri).read_text())
    assert manifest["tasks_sent"] == 0 and len(project_tasks(admin)[1]) == 20

    res = runner.invoke(app, ["import", "-c", str(cfg_file), "--vendor", "label-studio"])
    assert res.exit_code == 0, res.output
    assert "13 annotations read, 0 new" in res.output


def test_a_personal_access_token_is_exchanged_for_a_bearer_token(label_studio):
    from alflow.vendors.label_studio_api import LabelStudioClient

    with label_studio.as_user("bob") as bob:
        res = bob.post("/api/token/")
        assert res.status_code == 201, res.text
    pat = res.json()["token"]
    with LabelStudioClient(label_studio.url, pat) as client:
        assert client._http.headers["Authorization"].startswith("Bearer ")
        me = client._call("GET", "/api/current-user/whoami").json()
    assert me["id"] == label_studio.user_ids["bob"]


def test_import_without_a_file_needs_a_server_vendor(tmp_path):
    cfg_file = tmp_path / "alflow.yaml"
    cfg_file.write_text(yaml.safe_dump(make_config(tmp_path / "ws").model_dump(mode="json")))
    res = CliRunner().invoke(app, ["import", "-c", str(cfg_file)])
    assert res.exit_code == 2
    assert "vendor 'file' does not pull labels from a server" in res.output
    raw = yaml.safe_load(cfg_file.read_text())
    raw["vendor"]["mode"] = "api"
    cfg_file.write_text(yaml.safe_dump(raw))
    res = CliRunner().invoke(app, ["round", "-c", str(cfg_file), "--vendor", "label-studio"])
    assert res.exit_code == 2, res.output
    output = " ".join(res.output.split())  # rich wraps long lines
    assert (
        "with --vendor label-studio: vendor: kind 'label-studio' with mode 'api' needs 'url'"
        in (output)
    )


def test_deleted_annotations_are_retracted(tmp_path, label_studio, monkeypatch, databases):
    """A pull (the project's full state) retracts what was deleted in Label Studio: the item
    goes back to its remaining votes, or to waiting; the same on SQLite and PostgreSQL. Label
    Studio's JSON_MIN and CSV exports of the same project are refused, naming the export."""
    import numpy as np
    import pandas as pd

    from alflow.data.pool import join, to_table, write_partition
    from alflow.project import Project
    from alflow.vendors.sniff import label_studio_kind

    monkeypatch.setenv(TOKEN_ENV, label_studio.tokens["admin"])
    title = f"deletions {databases.backend}"
    vendor = {"kind": "label-studio", "mode": "api", "url": label_studio.url}
    vendor |= {"token_env": TOKEN_ENV, "project_title": title}
    p = Project(
        make_config(
            tmp_path / "ws",
            vendor=vendor,
            storage=databases.storage(),
            resolution={"min_votes": 1, "min_agreement": 0.5},
        )
    )
    ids = ["d0000", "d0001"]
    features = np.zeros((2, len(DIGIT_COLUMNS)), dtype=np.float32)
    sha = write_partition(to_table(ids, features), join(p.ws.pool_url, "p0"))
    with p.ledger.ingest("mem", "pool") as ingest:
        frame = pd.DataFrame({"item_id": ids, "content_hash": ["h", "h"]})
        ingest.add_partition(name="p0", target="pool", sha256=sha, items=frame)
    r = p.ledger.open_round(strategy="margin", batch_size=2, seed=0, config_hash="c")[0].id
    batch = pd.DataFrame(
        {"item_id": ids, "rank": [1, 2], "utility": [0.5, 0.5], "predicted_label": ["1", "1"]}
    )
    p.ledger.record_selection(r, batch.assign(predicted_score=0.6))
    receipt = p.vendor.export_batch(batch, r, p.labels, p.ws.exports_dir)
    p.ledger.record_export(r, vendor="label-studio", uri=receipt.uri, n_rows=2, sha256="s")
    admin, alice = label_studio.as_user("admin"), label_studio.as_user("alice")
    projects = admin.get("/api/projects/", params={"title": title}).json()["results"]
    pid = projects[0]["id"]
    tasks = admin.get("/api/tasks/", params={"project": pid, "fields": "all"}).json()["tasks"]
    task_of = {t["data"]["item_id"]: t["id"] for t in tasks}
    keep = annotate(alice, task_of["d0000"], "3")
    gone = annotate(admin, task_of["d0000"], "4", ground_truth=True)
    only = annotate(alice, task_of["d0001"], "5")
    p.import_labels(p.pull_labels(), full_state=True)
    assert dict(p.ledger.resolved_labels().values) == {"d0000": "4", "d0001": "5"}

    for annotation in (gone, only):
        assert admin.delete(f"/api/annotations/{annotation}/").status_code == 204
    rep = p.import_labels(p.pull_labels(), full_state=True)
    assert rep.events_added == 2  # two retraction events
    assert dict(p.ledger.resolved_labels().values) == {"d0000": "3"}  # the remaining vote
    assert p.ledger.import_targets(["d0001"])["d0001"][0] == "exported"  # waiting again
    again = p.import_labels(p.pull_labels(), full_state=True)
    assert again.events_added == 0 and keep

    for export_type, kind in (("JSON_MIN", "JSON_MIN"), ("CSV", "CSV")):
        res = admin.get(f"/api/projects/{pid}/export", params={"exportType": export_type})
        assert res.status_code == 200, res.text
        flat = tmp_path / f"export.{export_type.lower()}"
        flat.write_bytes(res.content)
        assert label_studio_kind(flat) == kind
        with pytest.raises(InputError, match=f"Label Studio {kind} export"):
            p.import_labels(flat)
