"""Decisions over a release: step analysis, stage gates, version retention, recovery."""
