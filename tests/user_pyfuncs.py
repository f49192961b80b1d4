"""Models trained outside alflow, logged as MLflow pyfuncs (``model.scoring_uri`` tests).

Their classes live in this importable module, so the Dask workers can load them.
"""

from __future__ import annotations

import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
import pandas as pd

PIP = ["scikit-learn", "numpy", "pandas"]  # given, so MLflow does not infer them (slow)


class ReversedProba(mlflow.pyfunc.PythonModel):
    """``predict``: class probabilities as a DataFrame named by label, in reverse order."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        p = self.model.predict_proba(model_input)
        frame = pd.DataFrame(p, columns=[str(c) for c in self.model.classes_])
        return frame[frame.columns[::-1]]


class DropsAClass(mlflow.pyfunc.PythonModel):
    """``predict``: one probability column fewer than there are labels (refused)."""

    def __init__(self, model):
        self.model = model

    def predict(self, context, model_input, params=None):
        return np.asarray(self.model.predict_proba(model_input))[:, :-1]


def register(tracking_uri: str, experiment_id: str, name: str, model, alias="champion") -> str:
    """Log ``model`` (a PythonModel, or a scikit-learn classifier whose pyfunc returns
    ``predict_proba``) and register it as ``name``; point ``alias`` at it; its version."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id):
        if isinstance(model, mlflow.pyfunc.PythonModel):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=model, registered_model_name=name, pip_requirements=PIP
            )
        else:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name=name,
                pyfunc_predict_fn="predict_proba",
                pip_requirements=PIP,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            )
    version = str(info.registered_model_version)
    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(name, alias, version)
    return version
