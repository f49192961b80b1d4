"""Resolving annotation events into one training label per item, and agreement between annotators.

Policy (configurable, ``resolution`` in the config):

1. a ground-truth annotation wins (the newest one);
2. otherwise, with ``method: majority``: a unanimous vote, else the most frequent label when it is
   unique and holds at least ``min_agreement`` of the votes; with ``method: dawid_skene``: the
   label with the highest posterior of a Dawid-Skene model fitted over every item's votes, when
   that posterior is at least ``min_agreement``;
3. otherwise the item needs adjudication (state ``needs_relabel``): it stays out of training until
   someone adds a ground-truth annotation;
4. an item with fewer than ``min_votes`` label votes stays in flight (state ``exported``) until more
   arrive; an item with only skips goes back to the pool or stays skipped (``skipped`` policy).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from alflow.config import ResolutionConfig

NEEDS_ADJUDICATION = "needs_relabel"
AWAITING = "exported"


@dataclass(frozen=True)
class Vote:
    """One current annotation of an item (the newest version of each vendor annotation)."""

    kind: str  # label | ground_truth | skip
    label: str | None
    annotator: str | None = None


@dataclass(frozen=True)
class Resolution:
    state: str
    label: str | None
    rule: str


class Policy:
    """The configured resolution policy; call it with ``{item_id: [Vote, ...]}``.

    With ``dawid_skene`` the result for one item depends on every item (annotators' confusion
    matrices are estimated from all of them), so the ledger passes all labeled items
    (``needs_all_items``).
    """

    def __init__(self, config: ResolutionConfig | None = None) -> None:
        self.config = config or ResolutionConfig()

    @property
    def needs_all_items(self) -> bool:
        return self.config.method == "dawid_skene"

    def __call__(self, votes: Mapping[str, Sequence[Vote]]) -> dict[str, Resolution]:
        out: dict[str, Resolution] = {}
        crowd: dict[str, list[Vote]] = {}
        for item_id, item_votes in votes.items():
            early = self._before_vote(item_votes)
            if early is not None:
                out[item_id] = early
            else:
                crowd[item_id] = [v for v in item_votes if v.kind == "label"]
        if self.needs_all_items:
            out.update(self._dawid_skene(crowd, votes))
        else:
            out.update({i: self._majority(v) for i, v in crowd.items()})
        return out

    def _before_vote(self, votes: Sequence[Vote]) -> Resolution | None:
        """Ground truth, too few votes, or only skips: decided without counting votes."""
        truth = [v.label for v in votes if v.kind == "ground_truth"]
        if truth:
            return Resolution("labeled", truth[-1], "ground_truth")
        n_labels = sum(v.kind == "label" and v.label is not None for v in votes)
        if n_labels == 0:
            if self.config.skipped == "return_to_pool":
                return Resolution("unlabeled", None, "returned_to_pool")
            return Resolution("skipped", None, "skipped")
        if n_labels < self.config.min_votes:
            return Resolution(AWAITING, None, "awaiting_votes")
        return None

    def _majority(self, votes: Sequence[Vote]) -> Resolution:
        counts = Counter(v.label for v in votes).most_common()
        if len(counts) == 1:
            return Resolution("labeled", counts[0][0], "unanimous")
        if counts[0][1] == counts[1][1]:
            return Resolution(NEEDS_ADJUDICATION, None, "tie")
        if counts[0][1] / len(votes) < self.config.min_agreement:
            return Resolution(NEEDS_ADJUDICATION, None, "low_agreement")
        return Resolution("labeled", counts[0][0], "majority")

    def _dawid_skene(
        self, crowd: Mapping[str, Sequence[Vote]], all_votes: Mapping[str, Sequence[Vote]]
    ) -> dict[str, Resolution]:
        if not crowd:
            return {}
        truths = {
            i: [v.label for v in vs if v.kind == "ground_truth"][-1]
            for i, vs in all_votes.items()
            if any(v.kind == "ground_truth" for v in vs)
        }
        items = sorted(crowd) + sorted(truths)
        records = [
            (i, v.annotator or "(anonymous)", v.label)
            for i in items
            for v in all_votes[i]
            if v.kind == "label"
        ]
        classes = sorted({r[2] for r in records} | set(truths.values()))
        annotators = sorted({r[1] for r in records})
        item_ix = {i: n for n, i in enumerate(items)}
        ann_ix = {a: n for n, a in enumerate(annotators)}
        cls_ix = {c: n for n, c in enumerate(classes)}
        votes = np.array(
            [(item_ix[i], ann_ix[a], cls_ix[c]) for i, a, c in records], dtype=np.int64
        ).reshape(-1, 3)
        known = np.array([item_ix[i] for i in truths], dtype=np.int64)
        known_cls = np.array([cls_ix[truths[i]] for i in truths], dtype=np.int64)
        ds = self.config.dawid_skene
        posterior = dawid_skene(
            votes,
            n_items=len(items),
            n_annotators=len(annotators),
            n_classes=len(classes),
            known=(known, known_cls),
            max_iter=ds.max_iter,
            tol=ds.tol,
            smoothing=ds.smoothing,
        )
        out = {}
        for item_id in crowd:
            row = posterior[item_ix[item_id]]
            best = int(np.argmax(row))
            if row[best] < self.config.min_agreement or np.sum(row == row[best]) > 1:
                out[item_id] = Resolution(NEEDS_ADJUDICATION, None, "low_confidence")
            else:
                out[item_id] = Resolution("labeled", classes[best], "dawid_skene")
        return out


def resolve(events: Sequence[tuple[str, str | None]]) -> tuple[str, str | None, str]:
    """One item's ``(kind, label)`` events under the default policy: ``(state, label, rule)``."""
    r = Policy()({"item": [Vote(kind, label) for kind, label in events]})["item"]
    return r.state, r.label, r.rule


def dawid_skene(
    votes: np.ndarray,
    *,
    n_items: int,
    n_annotators: int,
    n_classes: int,
    known: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> np.ndarray:
    """Posterior class probabilities ``(n_items, n_classes)`` from crowd votes, by EM.

    A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using
    the EM Algorithm", Journal of the Royal Statistical Society C 28(1), 20-28, 1979.

    ``votes`` holds rows ``(item, annotator, class)`` (an annotator may vote on an item more than
    once). Each annotator has a confusion matrix ``pi[a, true, given]``; classes have priors
    ``p``. EM starts from the per-item vote shares (majority vote), alternates the M-step
    (priors and confusion matrices from the current posteriors, with additive ``smoothing``) and
    the E-step (posteriors from priors and confusion matrices) until the posteriors move less
    than ``tol``. ``known`` items (``(item indices, class indices)``, e.g. ground truth) keep a
    one-hot posterior. Deterministic: no random initialisation.
    """
    votes = np.asarray(votes, dtype=np.int64).reshape(-1, 3)
    item, ann, cls = votes[:, 0], votes[:, 1], votes[:, 2]
    counts = np.zeros((n_items, n_classes))
    np.add.at(counts, (item, cls), 1.0)
    total = counts.sum(axis=1, keepdims=True)
    post = np.divide(counts, total, out=np.full_like(counts, 1.0 / n_classes), where=total > 0)
    fixed = np.zeros((0, n_classes))
    if known is not None and len(known[0]):
        fixed = np.eye(n_classes)[known[1]]
        post[known[0]] = fixed
    for _ in range(max_iter):
        prior = (post.sum(axis=0) + smoothing) / (n_items + n_classes * smoothing)
        confusion = np.full((n_annotators, n_classes, n_classes), smoothing)
        np.add.at(confusion, (ann, slice(None), cls), post[item])
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.tile(np.log(prior), (n_items, 1))
        np.add.at(log_post, item, np.log(confusion[ann, :, cls]))
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        if len(fixed):
            new[known[0]] = fixed
        delta = np.abs(new - post).max()
        post = new
        if delta < tol:
            break
    return post


@dataclass(frozen=True)
class Agreement:
    """Inter-annotator agreement over the items with at least two label votes."""

    items: int
    pairwise: float | None  # mean share of agreeing annotator pairs per item
    fleiss_kappa: float | None  # Fleiss (1971), with per-item vote counts allowed to differ


def agreement(votes: Mapping[str, Sequence[str]]) -> Agreement:
    """Mean pairwise agreement and Fleiss' kappa from ``{item_id: [label, ...]}``."""
    rows = [Counter(labels) for labels in votes.values() if len(labels) >= 2]
    if not rows:
        return Agreement(0, None, None)
    classes = sorted({c for r in rows for c in r})
    n_ij = np.array([[r.get(c, 0) for c in classes] for r in rows], dtype=float)
    n_i = n_ij.sum(axis=1)
    p_i = (n_ij * (n_ij - 1)).sum(axis=1) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_j = n_ij.sum(axis=0) / n_i.sum()
    p_e = float((p_j**2).sum())
    kappa = None if p_e >= 1.0 else (p_bar - p_e) / (1.0 - p_e)
    return Agreement(len(rows), p_bar, kappa)
