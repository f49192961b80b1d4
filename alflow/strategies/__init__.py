"""Query strategies, selected by name from the config."""

from alflow.strategies import uncertainty  # noqa: F401  (registers the strategies)
from alflow.strategies.base import REGISTRY, Candidates, StrategySpec, get_strategy, top_k
from alflow.strategies.uncertainty import UTILITIES

__all__ = ["REGISTRY", "UTILITIES", "Candidates", "StrategySpec", "get_strategy", "top_k"]
