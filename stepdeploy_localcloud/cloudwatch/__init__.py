"""CloudWatch: alarms that evaluate their metrics (alarms.py), statistics and metric queries as AWS computes them."""
