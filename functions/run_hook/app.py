from stepdeploy.ingress.run_hook import handler

__all__ = ["handler"]
