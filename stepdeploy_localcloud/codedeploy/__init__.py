"""CodeDeploy for Lambda on the local cloud: traffic really shifts (engine.py) behind moto's API (patch.py)."""
