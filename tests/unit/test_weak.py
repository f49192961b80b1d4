import pytest

from alflow.errors import InputError
from alflow.labels.weak import read_weak_labels

LABELS = ["cat", "dog", "eel"]


def test_hard_and_probabilistic_rows(tmp_path):
    path = tmp_path / "weak.jsonl"
    path.write_text(
        '{"item_id": "a", "label": "dog", "confidence": 0.7}\n'
        '{"item_id": "b", "label": "cat"}\n'
        '{"item_id": "c", "prob_cat": 0.1, "prob_dog": 0.2, "prob_eel": 0.7}\n'
        '{"item_id": "d", "prob_cat": 0.4, "prob_dog": 0.4, "prob_eel": 0.2}\n'
    )
    weak = read_weak_labels(path, LABELS)
    rows = weak.frame[["item_id", "label", "confidence"]].values.tolist()
    assert rows == [["a", "dog", 0.7], ["b", "cat", 1.0], ["c", "eel", 0.7]]
    assert weak.abstained == 1  # a tie at the top is an abstain


def test_csv_probabilities(tmp_path):
    path = tmp_path / "weak.csv"
    path.write_text("item_id,prob_cat,prob_dog,prob_eel\nx,0.8,0.1,0.1\ny,0,1,0\n")
    frame = read_weak_labels(path, LABELS).frame
    assert frame["label"].tolist() == ["cat", "dog"]
    assert frame["confidence"].tolist() == [0.8, 1.0]


def test_every_problem_is_listed(tmp_path):
    path = tmp_path / "weak.csv"
    path.write_text(
        "item_id,label,confidence,prob_cat,prob_dog,prob_eel\n"
        "a,horse,0.5,,,\n"
        "b,cat,1.5,,,\n"
        "c,,,0.5,0.6,0.1\n"
        "d,,,0.5,0.5,\n"
        "e,cat,0.9,0.5,0.5,0\n"
        "f,cat,0.9,,,\n"
        "f,dog,0.9,,,\n"
        ",cat,0.9,,,\n"
    )
    with pytest.raises(InputError) as err:
        read_weak_labels(path, LABELS)
    text = str(err.value)
    assert "7 problem(s); nothing was imported" in text
    for expected in (
        "weak.csv:2: label: 'horse' for item 'a' is not in the schema",
        "weak.csv:3: confidence: '1.5' for item 'b' is not in (0, 1]",
        "weak.csv:4: prob_*: item 'c': sum to 1.2000, not 1",
        "weak.csv:5: prob_*: item 'd': no probability for classes ['eel']",
        "weak.csv:6: label: item 'e': give label or prob_*",
        "weak.csv:8: item_id: 'f' repeats line 7",
        "weak.csv:9: item_id: missing",
    ):
        assert expected in text, expected


def test_unknown_class_and_empty_file(tmp_path):
    path = tmp_path / "weak.jsonl"
    path.write_text(
        '{"item_id": "a", "prob_cat": 0.5, "prob_dog": 0.5, "prob_owl": 0.0, "prob_eel": 0}\n'
    )
    with pytest.raises(InputError, match=r"classes \['owl'\] are not in the label schema"):
        read_weak_labels(path, LABELS)
    path.write_text('{"item_id": "a", "prob_cat": 0.5, "prob_dog": 0.5, "prob_eel": 0}\n')
    with pytest.raises(InputError, match="no weak labels found"):
        read_weak_labels(path, LABELS)
