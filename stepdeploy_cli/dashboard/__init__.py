"""`stepdeploy dashboard`: a local web page over the same data as the CLI (see docs/dashboard.md)."""
