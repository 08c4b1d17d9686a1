"""Lambda on the local cloud: handlers really run, in warm worker processes (runtime.py, worker.py, patch.py)."""
