"""API Gateway: requests through deployed REST and HTTP APIs reach their Lambda integrations."""
