"""Prefect tasks: thin wrappers around core calls (retries, caching, logging).

Offline defaults are set before Prefect or MLflow is imported: no telemetry, no analytics.
"""

import os

for _key, _value in {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_UI_ENABLED": "false",
}.items():
    os.environ.setdefault(_key, _value)
