"""The label-saving estimator and annotator agreement, on hand-made numbers."""

import pandas as pd
import pytest

from alflow.rounds.control import label_saving, labels_needed
from alflow.tracking.report import agreement_table


def test_labels_needed_interpolates_the_learning_curve():
    labels, metric = [20, 40, 60], [0.5, 0.7, 0.8]
    assert labels_needed(labels, metric, 0.6) == pytest.approx(30.0)
    assert labels_needed(labels, metric, 0.4) == 20.0  # already there at the first point
    assert labels_needed(labels, metric, 0.9) is None
    saving, needed = label_saving(labels, metric, control_labels=60, control_metric=0.6)
    assert needed == pytest.approx(30.0) and saving == pytest.approx(0.5)
    assert label_saving(labels, metric, 20, 0.75)[0] == pytest.approx(1 - 50 / 20)  # worse
    assert label_saving(labels, metric, 12, 0.95) is None


def test_agreement_over_items_with_two_or_more_annotators():
    counting = {
        "item_id": ["a", "a", "a", "b", "b", "c"],
        "annotator": ["x", "y", "z", "x", "y", "x"],
        "label": ["1", "1", "2", "3", "3", "1"],
        "kind": "label",
        "status": "counts",
    }
    not_counting = {  # a superseded answer, a retracted one, a skip, a retraction
        "item_id": ["c", "b", "a", "b"],
        "annotator": ["w", "z", "w", "z"],
        "label": ["2", "1", None, None],
        "kind": ["label", "label", "skip", "retract"],
        "status": ["superseded", "retracted", "counts", "retraction"],
    }
    events = pd.concat([pd.DataFrame(counting), pd.DataFrame(not_counting)]).assign(round=1)
    summary, per = agreement_table(events)
    assert summary["items with 2+ annotators"] == 2  # c has one annotator
    assert summary["unanimous share"] == 0.5
    assert summary["mean pairwise agreement"] == pytest.approx((1 + 1) / (3 + 1))
    assert per.set_index("annotator")["agree_with_majority"].to_dict() == {
        "x": 1.0,
        "y": 1.0,
        "z": 0.0,
    }
    assert agreement_table(events[events["item_id"] == "c"]) is None
