from stepdeploy.webhook import handler

__all__ = ["handler"]
