"""CloudWatch alarms that evaluate their metrics (alarms.py)."""
