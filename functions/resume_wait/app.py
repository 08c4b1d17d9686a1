from stepdeploy.ingress.resume_wait import handler

__all__ = ["handler"]
