import pytest

from alflow.resolution import resolve


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("label", "a")], ("labeled", "a", "unanimous")),
        ([("label", "a"), ("label", "a")], ("labeled", "a", "unanimous")),
        ([("label", "a"), ("label", "b"), ("label", "a")], ("labeled", "a", "majority")),
        ([("label", "a"), ("label", "b")], ("needs_relabel", None, "tie")),
        ([("label", "a"), ("ground_truth", "b"), ("label", "a")], ("labeled", "b", "ground_truth")),
        ([("skip", None)], ("skipped", None, "skipped")),
        ([("skip", None), ("label", "c")], ("labeled", "c", "unanimous")),
    ],
)
def test_policy(events, expected):
    assert resolve(events) == expected
