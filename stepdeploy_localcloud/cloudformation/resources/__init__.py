"""Resource handlers for the local cloud's CloudFormation engine, one module per service.

Each handler creates, updates and deletes one resource type through moto's service backends,
so a deployed resource is the same object the service API then shows.

- Handlers here (moto 5.2.5 has none, or drops properties, crashes or cannot update/delete):
  Lambda Function/Version/Alias/Permission/LayerVersion/Url, StepFunctions StateMachine,
  Events EventBus/Rule, Scheduler Schedule/ScheduleGroup, CloudWatch Alarm, Logs LogGroup,
  CodeDeploy Application/DeploymentGroup, CodeBuild Project, S3 Bucket/BucketPolicy,
  SNS Topic/Subscription, SQS QueuePolicy, SecretsManager Secret, IAM Role,
  ApiGatewayV2 Api/Stage/Integration/Route/Deployment, ApiGateway RestApi/Deployment/Stage.
- moto's own model, wrapped (``MotoModelHandler``): every other type in moto's model map, e.g.
  SQS Queue, IAM Policy/ManagedPolicy, CloudWatch Dashboard, SSM Parameter, Lambda
  EventSourceMapping; DynamoDB Table and ECR Repository with the update/delete moto lacks.
  A model another local-cloud adapter registers (CodeBuild's) wins over the handler here.
- Anything else: ``handler_for`` returns None and the stack fails naming the type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepdeploy_localcloud.cloudformation.resources.apigateway import (
    RestApiDeploymentHandler,
    RestApiHandler,
    RestApiStageHandler,
)
from stepdeploy_localcloud.cloudformation.resources.apigatewayv2 import (
    HttpApiDeploymentHandler,
    HttpApiHandler,
    HttpApiIntegrationHandler,
    HttpApiRouteHandler,
    HttpApiStageHandler,
)
from stepdeploy_localcloud.cloudformation.resources.awslambda import (
    LambdaAliasHandler,
    LambdaFunctionHandler,
    LambdaLayerVersionHandler,
    LambdaPermissionHandler,
    LambdaUrlHandler,
    LambdaVersionHandler,
)
from stepdeploy_localcloud.cloudformation.resources.base import ResourceHandler
from stepdeploy_localcloud.cloudformation.resources.cloudwatch import (
    AlarmHandler,
)
from stepdeploy_localcloud.cloudformation.resources.codebuild import (
    CodeBuildProjectHandler,
)
from stepdeploy_localcloud.cloudformation.resources.codedeploy import (
    CodeDeployApplicationHandler,
    CodeDeployDeploymentGroupHandler,
)
from stepdeploy_localcloud.cloudformation.resources.events import (
    EventBusHandler,
    EventBusPolicyHandler,
    EventRuleHandler,
)
from stepdeploy_localcloud.cloudformation.resources.generic import (
    DynamoDbTableHandler,
    EcrRepositoryHandler,
    MotoModelHandler,
)
from stepdeploy_localcloud.cloudformation.resources.iam import (
    IamRoleHandler,
)
from stepdeploy_localcloud.cloudformation.resources.logs import (
    LogGroupHandler,
)
from stepdeploy_localcloud.cloudformation.resources.s3 import (
    S3BucketHandler,
    S3BucketPolicyHandler,
)
from stepdeploy_localcloud.cloudformation.resources.scheduler import (
    ScheduleGroupHandler,
    ScheduleHandler,
)
from stepdeploy_localcloud.cloudformation.resources.secretsmanager import (
    SecretHandler,
)
from stepdeploy_localcloud.cloudformation.resources.sns import (
    SnsSubscriptionHandler,
    SnsTopicHandler,
)
from stepdeploy_localcloud.cloudformation.resources.sqs import (
    SqsQueuePolicyHandler,
)
from stepdeploy_localcloud.cloudformation.resources.stepfunctions import (
    StateMachineHandler,
)

# Types whose moto handler is replaced or extended here.
_OWN_HANDLERS: tuple[ResourceHandler, ...] = (
    LambdaFunctionHandler(),
    LambdaVersionHandler(),
    LambdaAliasHandler(),
    LambdaPermissionHandler(),
    LambdaLayerVersionHandler(),
    LambdaUrlHandler(),
    StateMachineHandler(),
    EventBusHandler(),
    EventRuleHandler(),
    EventBusPolicyHandler(),
    ScheduleHandler(),
    ScheduleGroupHandler(),
    AlarmHandler(),
    LogGroupHandler(),
    CodeDeployApplicationHandler(),
    CodeDeployDeploymentGroupHandler(),
    CodeBuildProjectHandler(),
    S3BucketHandler(),
    S3BucketPolicyHandler(),
    SqsQueuePolicyHandler(),
    SnsTopicHandler(),
    SnsSubscriptionHandler(),
    SecretHandler(),
    IamRoleHandler(),
    HttpApiHandler(),
    HttpApiStageHandler(),
    HttpApiIntegrationHandler(),
    HttpApiRouteHandler(),
    HttpApiDeploymentHandler(),
    RestApiHandler(),
    RestApiDeploymentHandler(),
    RestApiStageHandler(),
)
OWN_HANDLERS: dict[str, ResourceHandler] = {h.resource_type: h for h in _OWN_HANDLERS}

_WRAPPED_WITH_FIXES: dict[str, Callable[[str, Any], MotoModelHandler]] = {
    "AWS::ECR::Repository": EcrRepositoryHandler,
    "AWS::DynamoDB::Table": DynamoDbTableHandler,
}


def handler_for(resource_type: str) -> ResourceHandler | None:
    """The handler that deploys resource_type, or None when neither moto nor the local cloud can."""
    from moto.cloudformation.parsing import get_model_map

    if resource_type in OWN_HANDLERS:
        return OWN_HANDLERS[resource_type]
    model = get_model_map().get(resource_type)
    # Next, a model another local-cloud adapter registered with moto knows its emulator best.
    if model is not None and model.__module__.startswith("stepdeploy_localcloud."):
        return MotoModelHandler(resource_type, model)
    if model is None:
        return None
    factory = _WRAPPED_WITH_FIXES.get(resource_type, MotoModelHandler)
    return factory(resource_type, model)
