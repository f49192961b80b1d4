"""The label-efficiency report: the paired comparison against margin sampling, merging kept
jobs, and the protocol's ceiling on the saving at 95%."""

from __future__ import annotations

from alflow.config import StrategyConfig
from benchmarks.label_efficiency import (
    _merge,
    ceiling_line,
    overall,
    paired_vs,
    saving_ceiling,
    strategy_config,
    summarise_dataset,
)


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


def _run(full: float, **accuracy: list[float]) -> dict:
    labels = [20, 40, 60, 80, 100]
    return {
        "pool": 100,
        "test": 50,
        "classes": 2,
        "full_pool_accuracy": full,
        "curves": {
            n: {"labels": labels, "accuracy": a, "macro_f1": a} for n, a in accuracy.items()
        },
        "skipped": {},
    }


def test_the_saving_ceiling_is_what_reaching_95_percent_after_the_first_chosen_batch_saves():
    # random reaches 0.95 of 1.0 at 80 labels; the earliest any strategy can is 40 -> 50%
    run = _run(1.0, random=[0.5, 0.6, 0.7, 0.96, 0.97], margin=[0.5, 0.96, 0.97, 0.97, 0.98])
    d = summarise_dataset([run], ["random", "margin"], [100])
    assert d["saving_ceiling_95"] == 0.5 and d["strategies"]["margin"]["saving_95"] == 0.5
    assert d["saving_ceiling_95"] >= d["strategies"]["margin"]["saving_95"]


def test_no_saving_is_possible_where_random_reaches_95_percent_at_the_initial_labels():
    at_start = summarise_dataset([_run(1.0, random=[0.96] * 5)], ["random"], [100])
    never = summarise_dataset([_run(1.0, random=[0.5] * 5)], ["random"], [100])
    assert at_start["saving_ceiling_95"] == 0.0 and never["saving_ceiling_95"] is None
    assert saving_ceiling(None, {"curve": {"labels": [20, 40]}}) is None


def test_the_ceiling_line_averages_over_datasets_where_random_reaches_95_percent():
    datasets = {"a": {"saving_ceiling_95": 0.5}, "b": {"saving_ceiling_95": 0.0}, "c": {}}
    line = ceiling_line(datasets)[0]
    assert "+25%, the mean over the datasets where random reaches 95% (2)" in line
    assert "(1 of them)" in line
    assert ceiling_line({"c": {"saving_ceiling_95": None}}) == []
