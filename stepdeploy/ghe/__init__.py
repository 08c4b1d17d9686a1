"""GitHub Enterprise: push payloads, the API client and its one factory, statuses and deployments."""
