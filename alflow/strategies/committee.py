"""Query by committee: disagreement among C members' probabilities ``committee_proba`` (C, M, K).

Seung, Opper and Sompolinsky, "Query by committee", COLT 1992. Every utility returns one score per
candidate in [0, 1], higher meaning more disagreement. The disagreement measures (vote entropy, KL
to the consensus, BALD) can reach at most log min(C, K), so they are divided by that, and a
maximally split committee scores 1 even when it has fewer members than there are classes; the
consensus entropy is an entropy over K classes and is divided by log K. Members are looped over, so
no temporary is larger than M x K.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alflow.strategies.base import Candidates, register, top_k

EPS = 1e-12


def _nats(p: np.ndarray) -> np.ndarray:
    """Row-wise Shannon entropy in nats of an (M, K) probability matrix (0 log 0 = 0)."""
    logp = np.log(np.clip(p, EPS, 1.0))
    logp *= p
    return -logp.sum(axis=1)


def _scaled(nats: np.ndarray, n_outcomes: int) -> np.ndarray:
    """Divide by log ``n_outcomes``; fewer than two outcomes leave nothing to disagree on."""
    if n_outcomes < 2:
        return np.zeros_like(nats)
    return np.clip(nats / np.log(n_outcomes), 0.0, 1.0)


def vote_entropy(committee_proba: np.ndarray) -> np.ndarray:
    """Entropy of the members' hard votes, divided by log min(C, K).

    Dagan and Engelson, "Committee-based sampling for training probabilistic classifiers",
    ICML 1995.
    """
    n_members, m, k = committee_proba.shape
    votes = np.zeros((m, k))
    rows = np.arange(m)
    for member in committee_proba:
        votes[rows, member.argmax(axis=1)] += 1.0
    return _scaled(_nats(votes / n_members), min(n_members, k))


def consensus_entropy(committee_proba: np.ndarray) -> np.ndarray:
    """Entropy of the mean member distribution (the consensus), divided by log K.

    Settles, "Active Learning Literature Survey", 2009, section 3.2 ("soft" vote entropy).
    """
    return _scaled(_nats(committee_proba.mean(axis=0)), committee_proba.shape[2])


def kl_to_consensus(committee_proba: np.ndarray) -> np.ndarray:
    """Mean KL divergence of each member to the consensus, divided by log min(C, K).

    McCallum and Nigam, "Employing EM and pool-based active learning for text classification",
    ICML 1998. With equally weighted members this equals ``bald`` (both are the generalised
    Jensen-Shannon divergence); it is computed here from its own definition.
    """
    n_members, _, k = committee_proba.shape
    log_consensus = np.log(np.clip(committee_proba.mean(axis=0), EPS, 1.0))
    total = np.zeros(committee_proba.shape[1])
    for member in committee_proba:
        log_ratio = np.log(np.clip(member, EPS, 1.0))
        log_ratio -= log_consensus
        log_ratio *= member
        total += log_ratio.sum(axis=1)
    return _scaled(total / n_members, min(n_members, k))


def bald(committee_proba: np.ndarray) -> np.ndarray:
    """Mutual information between label and member: H(mean) - mean(H), divided by log min(C, K).

    Houlsby, Huszar, Ghahramani and Lengyel, "Bayesian active learning for classification and
    preference learning", arXiv:1112.5745, 2011. Zero when all members agree, however uncertain.
    """
    n_members, _, k = committee_proba.shape
    mean_member_entropy = sum(_nats(member) for member in committee_proba) / n_members
    information = _nats(committee_proba.mean(axis=0)) - mean_member_entropy
    return _scaled(information, min(n_members, k))


COMMITTEE_UTILITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "qbc_vote_entropy": vote_entropy,
    "qbc_consensus_entropy": consensus_entropy,
    "qbc_kl": kl_to_consensus,
    "bald": bald,
}
COMMITTEE = frozenset({"committee"})


def _top_by(candidates: Candidates, batch_size: int, utility: str) -> np.ndarray:
    scores = COMMITTEE_UTILITIES[utility](candidates.committee_proba)
    return top_k(scores, batch_size, candidates.item_ids)


@register("qbc_vote_entropy", rank_by="margin", needs=COMMITTEE)
def select_vote_entropy(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by vote entropy (Dagan and Engelson 1995)."""
    return _top_by(candidates, batch_size, "qbc_vote_entropy")


@register("qbc_consensus_entropy", rank_by="margin", needs=COMMITTEE)
def select_consensus_entropy(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by consensus entropy (Settles 2009, section 3.2)."""
    return _top_by(candidates, batch_size, "qbc_consensus_entropy")


@register("qbc_kl", rank_by="margin", needs=COMMITTEE)
def select_kl_to_consensus(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by mean KL divergence to the consensus (McCallum and Nigam 1998)."""
    return _top_by(candidates, batch_size, "qbc_kl")


@register("bald", rank_by="margin", needs=COMMITTEE)
def select_bald(candidates: Candidates, batch_size: int, *, random_state=None):
    """Top-B by mutual information, BALD (Houlsby et al. 2011)."""
    return _top_by(candidates, batch_size, "bald")
