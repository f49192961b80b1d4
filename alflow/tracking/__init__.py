"""MLflow (the owner: ``mlflow_tracker``), MLflow keys for user-named labels, a round's HTML
report and plots."""
