"""AWS adapters: typed boto3 clients built once, one module per service or concern."""
