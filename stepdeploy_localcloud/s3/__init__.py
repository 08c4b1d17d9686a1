"""S3 bucket policies evaluated for the signing principal: patch.py (wiring), policy.py (evaluation),
callers.py (who signed a request)."""
