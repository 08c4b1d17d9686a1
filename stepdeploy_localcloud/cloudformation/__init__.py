"""CloudFormation on the local cloud: templates (template.py, package.py), stacks (models.py), the deployment
engine (engine.py), the API operations (api.py, patch.py) and one resource module per service (resources/)."""
