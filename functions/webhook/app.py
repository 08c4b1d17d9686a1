from stepdeploy.ingress.webhook import handler

__all__ = ["handler"]
