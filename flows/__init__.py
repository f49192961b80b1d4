"""Prefect flows (labeling_round, reimport_and_retrain, campaign) and the ``alflow`` CLI."""

import tasks  # noqa: F401  (its offline defaults are set before any flow module loads Prefect)
