"""S3 bucket policies evaluated with a request context (patch.py)."""
