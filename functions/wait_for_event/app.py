from stepdeploy.tasks.wait_for_event import handler

__all__ = ["handler"]
