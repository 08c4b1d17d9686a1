"""EventBridge and S3 event delivery on the local cloud (patch.py)."""
