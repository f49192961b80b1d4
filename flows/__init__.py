"""Prefect flows (labeling_round, reimport_and_retrain, campaign) and the ``alflow`` CLI."""
