"""CloudFormation's errors, with the codes AWS gives them."""

from __future__ import annotations

import logging

from moto.cloudformation.exceptions import CloudFormationError

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# Errors with AWS's codes
# ------------------------------------------------------------------------------------------


class InsufficientCapabilities(CloudFormationError):
    code = "InsufficientCapabilitiesException"


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatusException"


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"


class TemplateError(Exception):
    """The template cannot be processed; the message is the status reason AWS would give."""
