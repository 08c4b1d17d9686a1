"""The application's deployment configuration: `stepdeploy.yml`, read without trusting it."""
