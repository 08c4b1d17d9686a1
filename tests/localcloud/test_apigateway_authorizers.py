"""API Gateway imports keep their authorizers (``apigateway/authorizers.py``): REST and HTTP API bodies
imported through the API, and a SAM template with HttpApi JWT and Lambda authorizers and an Api with a
Lambda TOKEN authorizer deployed through the local CloudFormation."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stepdeploy_localcloud.endpoint import ACCOUNT_ID, REGION

pytestmark = pytest.mark.localcloud

Aws = Callable[[str], Any]
AUTHORIZER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:gate"
AUTHORIZER_URI = f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{AUTHORIZER_ARN}/invocations"
TARGET_URI = AUTHORIZER_URI.replace(":gate/", ":orders:live/")
INTEGRATION = {"type": "aws_proxy", "httpMethod": "POST", "uri": TARGET_URI, "payloadFormatVersion": "2.0"}


@pytest.fixture(scope="module")
def adapters(moto_server: str) -> Iterator[str]:
    for name in ("awslambda.patch", "awslambda.policies", "cloudformation.patch", "apigateway.authorizers"):
        importlib.import_module(f"stepdeploy_localcloud.{name}").apply()
    yield moto_server


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def test_a_rest_api_import_keeps_its_authorizers(aws: Aws, adapters: str) -> None:
    gw = aws("apigateway")
    document = {
        "openapi": "3.0.1",
        "info": {"title": "orders", "version": "1", "description": "moto's ImportRestApi requires one"},
        "paths": {
            "/orders": {
                "get": {"security": [{"Token": []}], "x-amazon-apigateway-integration": INTEGRATION},
                "post": {"security": [{"Pool": ["orders/write"]}], "x-amazon-apigateway-integration": INTEGRATION},
            },
            "/health": {"get": {"security": [{"NONE": []}], "x-amazon-apigateway-integration": INTEGRATION}},
            "/keys": {"get": {"security": [{"api_key": []}], "x-amazon-apigateway-integration": INTEGRATION}},
        },
        "components": {"securitySchemes": {
            "Token": {"type": "apiKey", "name": "Authorization", "in": "header",
                      "x-amazon-apigateway-authtype": "custom",
                      "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": AUTHORIZER_URI,
                                                         "identityValidationExpression": "^Bearer .+"}},
            "Pool": {"type": "apiKey", "name": "Authorization", "in": "header",
                     "x-amazon-apigateway-authtype": "cognito_user_pools",
                     "x-amazon-apigateway-authorizer": {
                         "type": "cognito_user_pools",
                         "providerARNs": [f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_abc"]}},
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        }},
    }
    api_id = gw.import_rest_api(body=json.dumps(document).encode())["id"]
    authorizers = by_name(gw.get_authorizers(restApiId=api_id)["items"])
    assert set(authorizers) == {"Token", "Pool"}
    token = authorizers["Token"]
    assert token["type"] == "TOKEN" and token["authorizerUri"] == AUTHORIZER_URI
    assert token["identitySource"] == "method.request.header.Authorization"
    assert token["identityValidationExpression"] == "^Bearer .+"
    assert token["authorizerResultTtlInSeconds"] == 300 and token["authType"] == "custom"
    assert authorizers["Pool"]["type"] == "COGNITO_USER_POOLS" and authorizers["Pool"]["providerARNs"]

    resources = {r["path"]: r["id"] for r in gw.get_resources(restApiId=api_id)["items"]}

    def method(path: str, verb: str) -> dict[str, Any]:
        return dict(gw.get_method(restApiId=api_id, resourceId=resources[path], httpMethod=verb))

    get_orders = method("/orders", "GET")
    assert (get_orders["authorizationType"], get_orders["authorizerId"]) == ("CUSTOM", token["id"])
    post_orders = method("/orders", "POST")
    assert post_orders["authorizationType"] == "COGNITO_USER_POOLS"
    assert post_orders["authorizerId"] == authorizers["Pool"]["id"]
    assert post_orders["authorizationScopes"] == ["orders/write"]
    assert method("/health", "GET")["authorizationType"] == "NONE"
    assert method("/keys", "GET")["apiKeyRequired"] is True

    del document["components"]["securitySchemes"]["Pool"]
    document["paths"]["/orders"].pop("post")
    gw.put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(document).encode())
    assert [a["name"] for a in gw.get_authorizers(restApiId=api_id)["items"]] == ["Token"]


def test_an_http_api_import_keeps_jwt_and_lambda_authorizers(aws: Aws, adapters: str) -> None:
    v2 = aws("apigatewayv2")
    document = {
        "openapi": "3.0.1",
        "info": {"title": "orders", "version": "1"},
        "security": [{"Jwt": ["orders/read"]}],
        "paths": {
            "/orders": {"get": {"x-amazon-apigateway-integration": INTEGRATION}},
            "/gated": {"post": {"security": [{"Gate": []}], "x-amazon-apigateway-integration": INTEGRATION}},
            "/open": {"get": {"security": [], "x-amazon-apigateway-integration": INTEGRATION}},
        },
        "components": {"securitySchemes": {
            "Jwt": {"type": "oauth2", "x-amazon-apigateway-authorizer": {
                "type": "jwt", "identitySource": "$request.header.Authorization",
                "jwtConfiguration": {"issuer": "https://issuer.example.com", "audience": ["orders"]}}},
            "Gate": {"type": "apiKey", "name": "Unused", "in": "header", "x-amazon-apigateway-authorizer": {
                "type": "request", "authorizerUri": AUTHORIZER_URI, "authorizerPayloadFormatVersion": "2.0",
                "identitySource": "$request.header.X-Token, $request.querystring.token",
                "enableSimpleResponses": True, "authorizerResultTtlInSeconds": 60}},
        }},
    }
    api_id = v2.import_api(Body=json.dumps(document))["ApiId"]
    authorizers = by_name([
        {"name": a["Name"], **a} for a in v2.get_authorizers(ApiId=api_id)["Items"]
    ])
    jwt, gate = authorizers["Jwt"], authorizers["Gate"]
    assert jwt["AuthorizerType"] == "JWT" and jwt["IdentitySource"] == ["$request.header.Authorization"]
    assert jwt["JwtConfiguration"] == {"Issuer": "https://issuer.example.com", "Audience": ["orders"]}
    assert gate["AuthorizerType"] == "REQUEST" and gate["AuthorizerUri"] == AUTHORIZER_URI
    assert gate["IdentitySource"] == ["$request.header.X-Token", "$request.querystring.token"]
    assert gate["AuthorizerPayloadFormatVersion"] == "2.0" and gate["EnableSimpleResponses"] is True
    assert gate["AuthorizerResultTtlInSeconds"] == 60
    assert v2.get_authorizer(ApiId=api_id, AuthorizerId=gate["AuthorizerId"])["Name"] == "Gate"

    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id)["Items"]}
    orders, gated, open_route = routes["GET /orders"], routes["POST /gated"], routes["GET /open"]
    assert (orders["AuthorizationType"], orders["AuthorizerId"]) == ("JWT", jwt["AuthorizerId"])
    assert orders["AuthorizationScopes"] == ["orders/read"]  # the document's security applies
    assert (gated["AuthorizationType"], gated["AuthorizerId"]) == ("CUSTOM", gate["AuthorizerId"])
    assert open_route["AuthorizationType"] == "NONE" and not open_route.get("AuthorizerId")

    document["components"]["securitySchemes"].pop("Gate")
    document["paths"].pop("/gated")
    v2.reimport_api(ApiId=api_id, Body=json.dumps(document))
    assert [a["Name"] for a in v2.get_authorizers(ApiId=api_id)["Items"]] == ["Jwt"]


SAM_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: https://issuer.example.com
              audience: [orders]
            AuthorizationScopes: [orders/read]
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt Gate.Arn
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return {'statusCode': 200}\\n"
      AutoPublishAlias: live
      Events:
        List:
          Type: HttpApi
          Properties: {ApiId: !Ref Http, Path: /orders, Method: GET}
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Http, Path: /open, Method: GET, Auth: {Authorizer: NONE}}
        RestGet:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /orders, Method: GET}
        RestHealth:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /health, Method: GET, Auth: {Authorizer: NONE}}
  Gate:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.11
      Handler: index.handler
      InlineCode: "def handler(event, context):\\n    return {}\\n"
"""


def test_a_sam_app_with_jwt_and_token_authorizers_deploys_them(aws: Aws, adapters: str) -> None:
    cfn = aws("cloudformation")
    created = cfn.create_change_set(StackName="authorizers", ChangeSetName="c", ChangeSetType="CREATE",
                                    TemplateBody=SAM_TEMPLATE, Capabilities=["CAPABILITY_IAM"])
    cfn.execute_change_set(ChangeSetName=created["Id"])
    stack = cfn.describe_stacks(StackName="authorizers")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    summaries = cfn.list_stack_resources(StackName="authorizers")["StackResourceSummaries"]
    ids = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}

    v2 = aws("apigatewayv2")
    [jwt] = v2.get_authorizers(ApiId=ids["Http"])["Items"]
    assert jwt["Name"] == "Jwt" and jwt["AuthorizerType"] == "JWT"
    assert jwt["JwtConfiguration"] == {"Issuer": "https://issuer.example.com", "Audience": ["orders"]}
    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=ids["Http"])["Items"]}
    assert routes["GET /orders"]["AuthorizerId"] == jwt["AuthorizerId"]
    assert routes["GET /orders"]["AuthorizationScopes"] == ["orders/read"]
    assert routes["GET /open"]["AuthorizationType"] == "NONE"

    gw = aws("apigateway")
    [token] = gw.get_authorizers(restApiId=ids["Rest"])["items"]
    gate_arn = aws("lambda").get_function(FunctionName=ids["Gate"])["Configuration"]["FunctionArn"]
    assert token["name"] == "Token" and token["type"] == "TOKEN" and gate_arn in token["authorizerUri"]
    assert token["identitySource"] == "method.request.header.Authorization"
    resources = {r["path"]: r["id"] for r in gw.get_resources(restApiId=ids["Rest"])["items"]}
    get_orders = gw.get_method(restApiId=ids["Rest"], resourceId=resources["/orders"], httpMethod="GET")
    assert (get_orders["authorizationType"], get_orders["authorizerId"]) == ("CUSTOM", token["id"])
    health = gw.get_method(restApiId=ids["Rest"], resourceId=resources["/health"], httpMethod="GET")
    assert health["authorizationType"] == "NONE"

    # SAM grants API Gateway on the alias (FunctionName: the alias ARN): the alias's policy, not the function's.
    lam = aws("lambda")
    on_alias = json.loads(lam.get_policy(FunctionName=ids["Orders"], Qualifier="live")["Policy"])["Statement"]
    assert {s["Principal"]["Service"] for s in on_alias} == {"apigateway.amazonaws.com"}
    assert len(on_alias) == 4 and all(s["Resource"].endswith(":live") for s in on_alias)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=ids["Orders"])
    on_gate = json.loads(lam.get_policy(FunctionName=ids["Gate"])["Policy"])["Statement"]
    assert [s["Condition"]["ArnLike"]["AWS:SourceArn"].endswith("/authorizers/*") for s in on_gate] == [True]

    cfn.delete_stack(StackName="authorizers")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=ids["Orders"])
