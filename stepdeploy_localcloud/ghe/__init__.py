"""The local GitHub Enterprise: git over the file system, the REST API and signed webhooks (server.py)."""
