"""The names of the registered strategies, without importing them (config validation stays
light: ``alflow status`` needs no scikit-learn or FAISS). A unit test keeps this list equal to
``alflow.strategies.REGISTRY``."""

STRATEGY_NAMES = frozenset(
    {
        "bald",
        "class_quota",
        "cluster_margin",
        "cluster_stratified",
        "coreset",
        "density_coreset",
        "egl",
        "entropy",
        "expected_error_reduction",
        "information_density",
        "kmeans_round_robin",
        "least_confidence",
        "margin",
        "margin_coreset",
        "margin_explore",
        "qbc_consensus_entropy",
        "qbc_kl",
        "qbc_vote_entropy",
        "random",
        "stochastic_power",
        "stochastic_softmax",
        "typicality",
        "typiclust",
        "variance_reduction",
    }
)
PORTFOLIO = "portfolio"
