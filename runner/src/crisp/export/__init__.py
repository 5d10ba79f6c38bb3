"""`crisp export`: the pipeline written for an orchestrator (Airflow) to run."""
