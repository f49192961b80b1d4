"""Retrain, gate and register; the model pipeline, built-in and user estimators, the labeled
items' features."""
