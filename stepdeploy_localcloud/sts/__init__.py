"""STS AssumeRole checks the role's trust policy (patch.py)."""
