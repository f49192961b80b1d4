"""The strategy registry and the data a strategy sees.

Scoring (on the workers) is separate from selection (on the driver): each partition computes every
cheap per-item utility and keeps its top candidates by the strategy's ``rank_by`` utility; the
strategy's ``select`` function then chooses the batch from the merged candidate set. A strategy is a
pure function over arrays, registered by name, so the config picks it and one contract test checks
them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from alflow.strategy_params import Params

NEEDS = frozenset({"features", "committee", "labeled", "density", "clusters", "estimator"})


@dataclass
class Candidates:
    """Everything a strategy may look at, all sized by the candidate set (M), never the pool.

    ``item_ids`` (M,), ``utilities`` name -> (M,) scores from the scoring pass, ``proba`` (M, K)
    of the champion with ``classes``. Optional, filled when a strategy declares it ``needs`` them:

    * ``features`` (M, d) float32: the representation distances are measured in (standardised
      numeric features, embeddings, or projected text);
    * ``committee_proba`` (C, M, K): probabilities of C committee members;
    * ``labeled_features`` (L, d) and ``labeled_labels`` (L,): the already labeled items;
    * ``density`` (M,): mean similarity of each candidate to its k nearest pool neighbours;
    * ``clusters`` (M,): each candidate's pool-level cluster, assigned in the scoring pass when
      the pool index exists (strategies that need ``clusters`` k-means the candidates without);
    * ``estimator``: an unfitted classifier over ``features`` (for look-ahead strategies).
    """

    item_ids: np.ndarray
    utilities: dict[str, np.ndarray]
    proba: np.ndarray | None = None
    classes: list[str] = field(default_factory=list)
    features: np.ndarray | None = None
    committee_proba: np.ndarray | None = None
    labeled_features: np.ndarray | None = None
    labeled_labels: np.ndarray | None = None
    density: np.ndarray | None = None
    clusters: np.ndarray | None = None
    estimator: Any = None

    def __len__(self) -> int:
        return len(self.item_ids)


Selector = Callable[..., np.ndarray]


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its selector, the utility candidates are ranked by, its inputs,
    its parameter model (``schema``) and the parameters it runs with (``params``)."""

    name: str
    select: Selector
    rank_by: str
    needs_model: bool
    needs: frozenset[str] = frozenset()
    min_candidates: int = 0
    also_rank_by: tuple[str, ...] = ()
    candidate_factor: int = 0
    schema: type[Params] = Params
    params: Params = field(default_factory=Params)

    @property
    def ranks(self) -> tuple[str, ...]:
        """Every utility the scoring pass keeps top candidates by (the union reaches the driver)."""
        return (self.rank_by, *self.also_rank_by)

    def with_params(self, params: Mapping[str, Any]) -> StrategySpec:
        """This strategy run with ``params`` (checked by its ``schema``); a declared
        ``utility`` is also what the scoring pass ranks the candidates by."""
        checked = self.schema.model_validate(dict(params))
        return replace(self, params=checked, rank_by=getattr(checked, "utility", self.rank_by))

    def choose(self, candidates: Candidates, batch_size: int, random_state: int) -> np.ndarray:
        """``select`` with this spec's parameters: indices of the batch in ``candidates``."""
        return self.select(
            candidates, batch_size, random_state=random_state, **self.params.model_dump()
        )


REGISTRY: dict[str, StrategySpec] = {}


def register(
    name: str,
    *,
    rank_by: str,
    needs_model: bool = True,
    needs: frozenset[str] = frozenset(),
    min_candidates: int = 0,
    also_rank_by: tuple[str, ...] = (),
    candidate_factor: int = 0,
    params: type[Params] = Params,
) -> Callable[[Selector], Selector]:
    """Register ``fn(candidates, batch_size, *, random_state, **params) -> indices``.

    ``rank_by`` names the per-item utility each partition ranks its candidates by (a ``utility``
    parameter, when ``params`` declares one, overrides it); ``needs`` lists the optional
    ``Candidates`` fields the strategy reads (see ``NEEDS``); ``min_candidates`` asks for at
    least that many candidates (clustering needs room); ``also_rank_by`` adds the top
    candidates by other utilities (``random`` for a uniform slice); ``candidate_factor`` asks
    for at least that many candidates per batch item; ``params`` is the pydantic model of the
    keyword parameters ``fn`` takes (``alflow.strategy_params``), its defaults ``fn``'s.
    """
    unknown = set(needs) - NEEDS
    if unknown:
        raise ValueError(f"strategy {name!r} needs unknown inputs {sorted(unknown)}")

    def decorate(fn: Selector) -> Selector:
        if name in REGISTRY:
            raise ValueError(f"strategy {name!r} is registered twice")
        REGISTRY[name] = StrategySpec(
            name,
            fn,
            rank_by,
            needs_model,
            frozenset(needs),
            min_candidates,
            also_rank_by,
            candidate_factor,
            params,
            params(),
        )
        return fn

    return decorate


def candidate_count(spec: StrategySpec, batch_size: int, factor: int) -> int:
    """How many candidates the scoring pass keeps for this strategy and batch."""
    return max(max(factor, spec.candidate_factor) * batch_size, spec.min_candidates)


def get_strategy(name: str) -> StrategySpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {sorted(REGISTRY)}") from None


def top_k(scores: np.ndarray, k: int, tie_break: np.ndarray) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, ties broken by ``tie_break`` ascending.

    O(n) selection (``argpartition``) and a sort of the survivors only; every item tied with the
    k-th score is kept for the tie-break, so the result does not depend on input order.
    """
    n = len(scores)
    k = min(k, n)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k < n:
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        keep = np.flatnonzero(scores >= kth)
    else:
        keep = np.arange(n)
    order = np.lexsort((tie_break[keep], -scores[keep]))
    return keep[order[:k]]
