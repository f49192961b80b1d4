"""alflow: active-learning labeling rounds over pools too large for one process.

The core package holds all logic as plain functions and small classes. It never imports Prefect;
``tasks/`` and ``flows/`` wrap it for orchestration.
"""

__version__ = "0.1.0"
