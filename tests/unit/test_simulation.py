"""In-memory campaigns: the same strategies and candidate building as real rounds."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from alflow.index import knn_similarity
from alflow.selection.candidates import DENSITY_K, CandidateSources, Embedded, build_candidates
from alflow.selection.simulation import Protocol, initial_labels, simulate
from alflow.strategies import REGISTRY


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:900], y[:900], x[900:1200], y[900:1200]


def make_model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def outcome(run):
    """A campaign's results without its timing."""
    return run.drop(columns="query_seconds")


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("random", None),
        ("density_coreset", None),
        ("qbc_vote_entropy", {"committee_size": 3}),
        ("portfolio", {"arms": ["margin", "random"]}),
    ],
)
def test_a_campaign_records_every_round_and_is_deterministic(digits, strategy, params):
    x, y, xt, yt = digits
    protocol = Protocol(initial=20, batch=20, budget=80, seed=3)
    run = [
        simulate(strategy, x, y, xt, yt, make_model=make_model, protocol=protocol, params=params)
        for _ in range(2)
    ]
    assert run[0]["labels"].tolist() == [20, 40, 60, 80]
    assert outcome(run[0]).equals(outcome(run[1]))
    queried = run[0]["query_seconds"]
    assert (queried.iloc[:-1] > 0).all() and queried.iloc[-1:].isna().all()  # none after the last
    assert run[0]["accuracy"].between(0.0, 1.0).all()
    assert run[0]["accuracy"].iloc[-1] > run[0]["accuracy"].iloc[0]


def test_initial_labels_cover_two_classes():
    y = np.array(["a"] * 99 + ["b"])
    idx = initial_labels(y, 20, np.random.default_rng(0))
    assert len(set(y[idx])) == 2 and len(np.unique(idx)) == 20
    with pytest.raises(ValueError, match="never covered two classes"):
        initial_labels(np.array(["a"] * 50), 5, np.random.default_rng(0))


def test_a_campaign_on_text_vectorised_once(digits):
    """Texts vectorised once into a sparse matrix run every strategy step without refitting."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma", "tau", "phi"])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=400)
    texts = [" ".join([words[k], *rng.choice(words[3:], 4)]) for k in y]
    x = TfidfVectorizer().fit(texts[:300]).transform(texts)
    protocol = Protocol(initial=10, batch=10, budget=50, seed=1)
    frame = simulate(
        "density_coreset",
        x[:300],
        y[:300],
        x[300:],
        y[300:],
        make_model=lambda: LogisticRegression(max_iter=500),
        protocol=protocol,
    )
    assert sparse.issparse(x)
    assert frame["labels"].tolist() == [10, 20, 30, 40, 50]
    assert frame["accuracy"].iloc[-1] == 1.0  # the first word gives the class away


def test_an_embedding_is_the_space_distances_are_measured_in(digits):
    """Given an embedding, candidates' features, the labeled set's and density come from it."""
    x, y, xt, yt = digits
    labeled = np.arange(30)
    model = make_model().fit(x[labeled], y[labeled])
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(x), 5)).astype(np.float32)
    frame = pd.DataFrame({"item_id": [f"{i:04d}" for i in range(30, 90)]})
    frame["margin"] = rng.random(60)
    cand = build_candidates(
        frame,
        x[30:90],
        REGISTRY["density_coreset"],
        CandidateSources(
            model=model,
            labeled_raw_x=x[labeled],
            labeled_labels=y[labeled],
            pool_sample_raw=x[200:400],
            embedded=Embedded(emb[30:90], emb[labeled], emb[200:400]),
        ),
    )
    np.testing.assert_array_equal(cand.features, emb[30:90])
    np.testing.assert_array_equal(cand.labeled_features, emb[labeled])
    np.testing.assert_allclose(cand.density, knn_similarity(emb[30:90], emb[200:400], DENSITY_K))

    protocol = Protocol(initial=20, batch=20, budget=60, seed=1)
    args = dict(make_model=make_model, protocol=protocol)
    plain = simulate("density_coreset", x, y, xt, yt, **args)
    embedded = [simulate("density_coreset", x, y, xt, yt, embedding=emb, **args) for _ in "ab"]
    assert outcome(embedded[0]).equals(outcome(embedded[1]))
    assert not embedded[0]["accuracy"].equals(plain["accuracy"])


def test_a_late_batch_size_takes_over_once_the_late_labels_are_reached(digits):
    x, y, xt, yt = digits
    protocol = Protocol(initial=20, batch=20, budget=200, seed=2, late_batch=50, late_from=60)
    assert [protocol.batch_at(n) for n in (20, 59, 60, 150)] == [20, 20, 50, 50]
    run = simulate("margin", x, y, xt, yt, make_model=make_model, protocol=protocol)
    assert run["labels"].tolist() == [20, 40, 60, 110, 160, 200]
