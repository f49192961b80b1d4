"""The feature step of the model pipeline: what turns a pool's rows into the classifier's input.

For a mixed table it is a ``ColumnTransformer``: numeric columns imputed
(``data.features.impute_numeric``) and standardised, categorical columns imputed
(``impute_categorical``; ``constant`` makes a gap a category of its own) and one-hot encoded,
with categories the model never saw encoded as all zeros (or as the infrequent bucket of the
``max_categories`` a column keeps). It is part of the fitted pipeline, so scoring on the
workers, retraining, replay and the MLflow model all apply the same encoding.
"""

from __future__ import annotations

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from alflow.config import FeaturesConfig
from alflow.data.tabular import n_numeric

MISSING_CATEGORY = "(missing)"
COLD_HASH_FEATURES = 256


def tabular_encoder(features: FeaturesConfig) -> ColumnTransformer:
    """Impute, scale and one-hot a tabular block (numeric columns first, then categorical)."""
    dn, dc = len(features.numeric), len(features.categorical)
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy=features.impute_numeric, fill_value=0.0)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            (
                "impute",
                SimpleImputer(
                    missing_values=None,
                    strategy=features.impute_categorical,
                    fill_value=MISSING_CATEGORY,
                ),
            ),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=features.max_categories,
                    sparse_output=False,
                ),
            ),
        ]
    )
    parts = []
    if dn:
        parts.append(("numeric", numeric, list(range(dn))))
    if dc:
        parts.append(("categorical", categorical, list(range(dn, dn + dc))))
    return ColumnTransformer(parts, sparse_threshold=0.0)


def cold_tabular(x: np.ndarray) -> np.ndarray:
    """A block in a fixed space before any model exists: numeric values (gaps as 0) next to
    hashed one-hot categories (``column=value``), the same for every call."""
    dn = n_numeric(x)
    numeric = np.nan_to_num(x[:, :dn].astype(np.float64))
    tokens = [[f"{j}={v}" for j, v in enumerate(row)] for row in x[:, dn:].tolist()]
    hasher = FeatureHasher(n_features=COLD_HASH_FEATURES, input_type="string")
    return np.hstack([numeric, hasher.transform(tokens).toarray()])
