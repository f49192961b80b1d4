import numpy as np

from alflow.rounds.stopping import agreement, plateaued, predictions_stable
from alflow.selection.portfolio import arm_probabilities, choose_arm, gains

ARMS = ["margin", "coreset", "random"]


def test_untried_arms_are_uniform_and_rewarded_arms_gain_probability():
    np.testing.assert_allclose(arm_probabilities(ARMS, [], 0.2), 1 / 3)
    history = [("margin", 0.05), ("coreset", -0.01), ("random", 0.0)] * 5
    p = arm_probabilities(ARMS, history, 0.2)
    assert p.argmax() == 0 and p.min() >= 0.2 / 3 - 1e-12
    np.testing.assert_allclose(p.sum(), 1.0)


def test_choice_is_deterministic_and_explores():
    history = [("margin", 0.05)] * 3
    a = [choose_arm(ARMS, history, seed=1, round_id=r) for r in range(60)]
    assert a == [choose_arm(ARMS, history, seed=1, round_id=r) for r in range(60)]
    assert set(a) == set(ARMS)
    assert a.count("margin") > a.count("random")


def test_gains_pair_each_round_with_its_improvement():
    assert gains(["random", "margin", "coreset"], [0.5, 0.6, 0.55]) == [
        ("margin", 0.09999999999999998),
        ("coreset", -0.04999999999999993),
    ]


def test_plateau():
    assert not plateaued([0.5, 0.6, 0.7, 0.8], rounds=2, min_delta=0.01)
    assert plateaued([0.5, 0.8, 0.801, 0.8], rounds=2, min_delta=0.01)
    assert not plateaued([0.5], rounds=2, min_delta=0.01)


def test_stabilizing_predictions():
    a = np.array(list("aabbccaabb"))
    assert agreement(a, a) == 1.0
    assert agreement(a, np.array(list("aabbccaaba"))) < 1.0
    assert predictions_stable([0.5, 0.99, 0.995, 1.0], threshold=0.99)
    assert not predictions_stable([0.99, 0.9, 1.0], threshold=0.99)
    assert not predictions_stable([1.0, 1.0], threshold=0.99)


def test_campaign_stop_reasons():
    from alflow.rounds.stopping import stop_reason
    from tests.conftest import make_config

    def curve(values, kappas=None, labels=20):
        kappas = kappas or [None] * len(values)
        return [
            {"labels_total": labels * (i + 1), "macro_f1": v, "stop_kappa": k}
            for i, (v, k) in enumerate(zip(values, kappas, strict=True))
        ]

    cfg = make_config("/tmp/unused", campaign={"batch_size": 20, "max_rounds": 50})
    assert stop_reason(cfg, curve([0.5, 0.6])) is None
    cfg.campaign.label_budget = 50
    assert "label budget 50" in stop_reason(cfg, curve([0.5, 0.6]))
    cfg.campaign.label_budget = None
    cfg.campaign.target_metric = 0.6
    assert "target macro_f1 0.6 reached" in stop_reason(cfg, curve([0.5, 0.6]))
    cfg.campaign.target_metric = None
    cfg.campaign.plateau_rounds = 2
    assert stop_reason(cfg, curve([0.5, 0.7, 0.701, 0.702])).startswith("macro_f1 gained less")
    cfg.campaign.plateau_rounds = 0
    cfg.campaign.stop_kappa = 0.95
    assert "stabilized" in stop_reason(cfg, curve([0.5] * 4, [None, 0.96, 0.97, 0.99]))
    assert stop_reason(cfg, curve([0.5] * 4, [None, 0.5, 0.97, 0.99])) is None
