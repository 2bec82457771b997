"""What changed in the served index, and who is told: the change log (`log.py`) and webhook
deliveries (`webhooks.py`). Dagster-free: the `serving/index` asset records, the API reads."""
