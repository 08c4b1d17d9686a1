"""CodeBuild on the local cloud: builds that really run (engine.py) behind moto's API (patch.py)."""
