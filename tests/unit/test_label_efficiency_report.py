"""The label-efficiency report's paired comparison against margin sampling."""

from __future__ import annotations

from alflow.config import StrategyConfig
from benchmarks.label_efficiency import _merge, overall, paired_vs, strategy_config


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


def _campaigns(**seconds: float) -> dict:
    return {
        "curves": {name: {"labels": [20], "accuracy": [s]} for name, s in seconds.items()},
        "skipped": {},
        "seconds": dict(seconds),
    }


def test_merging_new_campaigns_into_a_kept_job_keeps_old_and_new_and_replaces_a_rerun():
    kept = _campaigns(margin=1.0, random=2.0)
    merged = _merge(kept, _campaigns(density_coreset=3.0, random=4.0))
    assert (
        set(merged["curves"]) == set(merged["seconds"]) == {"margin", "random", "density_coreset"}
    )
    assert merged["seconds"] == {"margin": 1.0, "random": 4.0, "density_coreset": 3.0}
    assert merged["curves"]["random"]["accuracy"] == [4.0]


def test_a_rerun_that_is_now_skipped_drops_its_old_curve():
    kept = _campaigns(margin=1.0, typiclust=2.0)
    new = {"curves": {}, "skipped": {"typiclust": "pool too large"}, "seconds": {}}
    merged = _merge(kept, new)
    assert set(merged["curves"]) == {"margin"} and merged["skipped"] == {
        "typiclust": "pool too large"
    }


def test_a_report_column_names_a_section_with_params_and_a_cold_start():
    section = strategy_config("margin_explore(explore=0.15;utility=entropy)/density_coreset@30")
    assert section.name == "margin_explore" and section.params == {
        "explore": 0.15,
        "utility": "entropy",
    }
    assert (section.cold_start, section.cold_start_until_per_class) == ("density_coreset", 30)
    plain = strategy_config("margin")
    assert plain.params == {} and plain.cold_start_until_per_class == 0
    assert strategy_config("default") == StrategyConfig()
