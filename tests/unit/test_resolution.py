from collections import Counter

import numpy as np
import pytest

from alflow.config import ResolutionConfig
from alflow.labels.resolution import Policy, Resolution, Vote, agreement, dawid_skene, resolve


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
def test_default_policy(events, expected):
    assert resolve(events) == expected


def votes(*labels: str | None) -> list[Vote]:
    return [
        Vote("skip" if lab is None else "label", lab, f"ann{i}") for i, lab in enumerate(labels)
    ]


@pytest.mark.parametrize(
    ("config", "item", "expected"),
    [
        (
            {"min_agreement": 0.6},
            votes("a", "a", "b", "c"),
            ("needs_relabel", None, "low_agreement"),
        ),
        ({"min_agreement": 0.5}, votes("a", "a", "b", "c"), ("labeled", "a", "majority")),
        ({"min_agreement": 0.67}, votes("a", "a", "a", "b"), ("labeled", "a", "majority")),
        ({"min_votes": 2}, votes("a"), ("exported", None, "awaiting_votes")),
        ({"min_votes": 2}, votes("a", None), ("exported", None, "awaiting_votes")),
        ({"min_votes": 2}, votes("a", "a"), ("labeled", "a", "unanimous")),
        ({"skipped": "return_to_pool"}, votes(None, None), ("unlabeled", None, "returned_to_pool")),
        ({"skipped": "stay_skipped"}, votes(None), ("skipped", None, "skipped")),
        (
            {"min_votes": 3, "min_agreement": 0.9},
            [*votes("a"), Vote("ground_truth", "b", "lead")],
            ("labeled", "b", "ground_truth"),
        ),
    ],
)
def test_configured_policy(config, item, expected):
    got = Policy(ResolutionConfig(**config))({"x": item})["x"]
    assert got == Resolution(*expected)


def crowd(n_items: int, accuracies: list[float], n_classes: int, seed: int):
    """Votes ``(item, annotator, class)`` of annotators right with the given probabilities
    (a wrong answer is uniform over the other classes), and the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(n_classes, size=n_items)
    rows = []
    for i in range(n_items):
        for a, acc in enumerate(accuracies):
            if rng.random() < acc:
                rows.append((i, a, truth[i]))
            else:
                wrong = [k for k in range(n_classes) if k != truth[i]]
                rows.append((i, a, wrong[rng.integers(len(wrong))]))
    return np.array(rows), truth


def majority(v: np.ndarray, n_items: int) -> np.ndarray:
    return np.array([Counter(v[v[:, 0] == i, 2]).most_common(1)[0][0] for i in range(n_items)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_beats_majority_with_one_good_and_two_noisy_annotators(seed):
    n = 500
    v, truth = crowd(n, [0.95, 0.45, 0.45], 3, seed)
    post = dawid_skene(v, n_items=n, n_annotators=3, n_classes=3)
    ds_acc = (post.argmax(axis=1) == truth).mean()
    mv_acc = (majority(v, n) == truth).mean()
    assert ds_acc > mv_acc + 0.05, (ds_acc, mv_acc)
    assert np.allclose(post.sum(axis=1), 1.0)
    again = dawid_skene(v, n_items=n, n_annotators=3, n_classes=3)
    assert np.array_equal(post, again)  # deterministic


def test_dawid_skene_keeps_known_items_one_hot():
    v, _ = crowd(50, [0.9, 0.6], 2, 0)
    post = dawid_skene(
        v, n_items=50, n_annotators=2, n_classes=2, known=(np.array([3]), np.array([1]))
    )
    assert post[3].tolist() == [0.0, 1.0]


def test_dawid_skene_policy_trusts_the_good_annotator():
    n = 400
    v, truth = crowd(n, [0.95, 0.45, 0.45], 3, 7)
    names = ["good", "noisy1", "noisy2"]
    items = {
        f"i{i}": [Vote("label", f"c{k}", names[a]) for ii, a, k in v if ii == i] for i in range(n)
    }
    got = Policy(ResolutionConfig(method="dawid_skene"))(items)
    ds_right = sum(got[f"i{i}"].label == f"c{truth[i]}" for i in range(n))
    mv = Policy()(items)
    mv_right = sum(mv[f"i{i}"].label == f"c{truth[i]}" for i in range(n))
    assert ds_right > mv_right
    assert {r.rule for r in got.values()} <= {"dawid_skene", "low_confidence"}
    strict = Policy(ResolutionConfig(method="dawid_skene", min_agreement=0.999))(items)
    assert any(r.state == "needs_relabel" for r in strict.values())


def test_agreement_pairwise_and_fleiss_kappa():
    perfect = agreement({"a": ["x", "x"], "b": ["y", "y"], "c": ["x"]})
    assert perfect.items == 2 and perfect.pairwise == 1.0 and perfect.fleiss_kappa == 1.0
    opposed = agreement({"a": ["x", "y"], "b": ["x", "y"]})
    assert opposed.pairwise == 0.0 and opposed.fleiss_kappa == pytest.approx(-1.0)
    # Fleiss (1971)-style check by hand: 3 raters; item1 3x, item2 2x+1y
    mixed = agreement({"1": ["x", "x", "x"], "2": ["x", "x", "y"]})
    p_bar = (1.0 + 1 / 3) / 2
    p_e = (5 / 6) ** 2 + (1 / 6) ** 2
    assert mixed.pairwise == pytest.approx(p_bar)
    assert mixed.fleiss_kappa == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert agreement({"a": ["x"]}).fleiss_kappa is None
