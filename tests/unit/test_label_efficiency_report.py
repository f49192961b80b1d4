"""The label-efficiency report's paired comparison against margin sampling."""

from __future__ import annotations

from benchmarks.label_efficiency import overall, paired_vs


def _dataset(**per_seed: list[float]) -> dict:
    return {
        "pool": 100,
        "strategies": {
            name: {"aulc": {"mean": sum(v) / len(v), "per_seed": v}, "saving_95": None}
            for name, v in per_seed.items()
        },
    }


def test_a_consistent_loss_beyond_two_paired_standard_errors_is_flagged():
    d = _dataset(margin=[0.80, 0.70, 0.90], other=[0.79, 0.69, 0.89])
    paired = paired_vs(d, "other")
    assert paired["mean"] < 0 and paired["se"] < 1e-9 and paired["loses"]


def test_a_noisy_difference_is_not_a_loss():
    # seeds disagree: -0.05, +0.04, -0.02 -> mean -0.01, SE ~0.027
    d = _dataset(margin=[0.80, 0.70, 0.90], other=[0.75, 0.74, 0.88])
    paired = paired_vs(d, "other")
    assert not paired["loses"] and paired["mean"] < 0


def test_overall_lists_the_datasets_lost_to_margin_and_ranks_ties_evenly():
    datasets = {
        "a": _dataset(margin=[0.8, 0.7, 0.9], x=[0.7, 0.6, 0.8], y=[0.8, 0.7, 0.9]),
        "b": _dataset(margin=[0.5, 0.6, 0.7], x=[0.6, 0.7, 0.8], y=[0.5, 0.6, 0.7]),
    }
    rows = overall(datasets, ["margin", "x", "y"])
    assert rows["x"]["loses_to_margin"] == ["a"]
    assert rows["y"]["loses_to_margin"] == [] and rows["margin"]["loses_to_margin"] == []
    assert rows["margin"]["mean_aulc_rank"] == rows["y"]["mean_aulc_rank"] == (1.5 + 2.5) / 2
    assert rows["x"]["mean_aulc_rank"] == (3 + 1) / 2
