"""Query strategies, selected by name from the config."""

from alflow.strategies import (  # noqa: F401  (importing registers the strategies)
    coldstart,
    committee,
    density,
    diversity,
    expected,
    uncertainty,
)
from alflow.strategies.base import (
    REGISTRY,
    Candidates,
    StrategySpec,
    candidate_count,
    get_strategy,
    top_k,
)
from alflow.strategies.uncertainty import UTILITIES

__all__ = [
    "REGISTRY",
    "UTILITIES",
    "Candidates",
    "StrategySpec",
    "candidate_count",
    "get_strategy",
    "top_k",
]
