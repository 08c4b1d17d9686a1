"""Adapter: function URLs per qualifier, and ListFunctionUrlConfigs.

moto 5.2.5 keeps one URL per function, ignores the ``Qualifier`` of Create/Get/Update/Delete
FunctionUrlConfig and has no ListFunctionUrlConfigs (no route: 404 "Not yet implemented"). On AWS a
function has at most one URL for itself and one for each alias. Here:

- Create/Get/Update/DeleteFunctionUrlConfig act on the URL of the ``Qualifier`` given (an alias; none,
  or ``$LATEST``, is the function's own URL, kept where moto keeps it, ``LambdaFunction.url_config``);
  the config's ``FunctionArn`` is the qualified ARN. A second URL for one qualifier answers
  ResourceConflictException; a version number as qualifier a ValidationException; an unknown alias
  ResourceNotFoundException naming its ARN.
- ``GET /2021-10-31/functions/{name}/urls`` (ListFunctionUrlConfigs) answers every URL of the function
  (its own first, then its aliases' in the order they were made) in AWS's shape, ``MaxItems`` (1-50,
  default 50) at a time with ``NextMarker``.
- ``url_for`` tells the local function URL front (``server.py``) which URL a request names.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import (
    GenericResourcNotFound,
    InvalidParameterValueException,
    LambdaClientError,
    ValidationException,
)
from moto.awslambda.models import FunctionUrlConfig, LambdaFunction
from moto.core.utils import utcnow

from stepdeploy_localcloud.awslambda import qualified
from stepdeploy_localcloud.patching import replace

MAX_ITEMS = 50
_ALIAS_PATTERN = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"
LIST_PATH = r"{0}/(?P<api_version>[^/]+)/functions/(?P<function_name>[\w_:%-]+)/urls/?$"


class UrlConfigConflict(LambdaClientError):
    code = 409

    def __init__(self, function_arn: str):
        super().__init__(
            "ResourceConflictException",
            f"Failed to create function url config for [functionArn = {function_arn}]. "
            "Error message:  FunctionUrlConfig exists for this Lambda function",
        )


def _now() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class QualifiedUrlConfig(FunctionUrlConfig):
    """moto's URL config, for the function itself (``qualifier`` None) or one of its aliases."""

    def __init__(self, function: LambdaFunction, config: dict[str, Any], qualifier: str | None):
        super().__init__(function=function, config={k: v for k, v in config.items() if k != "Qualifier"})
        self.qualifier = qualifier
        self.created = self.last_modified = _now()

    @property
    def function_arn(self) -> str:
        arn = str(self.function.function_arn).removesuffix(":$LATEST")
        return f"{arn}:{self.qualifier}" if self.qualifier else arn

    def to_dict(self) -> dict[str, Any]:
        answer = {**super().to_dict(), "FunctionArn": self.function_arn}
        return {k: v for k, v in answer.items() if v is not None}

    def update(self, new_config: dict[str, Any]) -> None:
        for key in ("AuthType", "Cors", "InvokeMode"):
            if new_config.get(key) is not None:
                self.config[key] = new_config[key]
        self.last_modified = _now()


def _target(backend: Any, function_name: str, qualifier: str | None) -> tuple[LambdaFunction, str | None]:
    name, qualifier = qualified.split_name(function_name, qualifier)
    function = qualified.latest(backend, name)
    if qualifier is not None:
        if not re.match(_ALIAS_PATTERN, qualifier):
            raise ValidationException(
                qualifier,
                "qualifier",
                f"Member must satisfy regular expression pattern: {_ALIAS_PATTERN} (a function URL's qualifier "
                "is an alias name, not a version)",
            )
        if not qualified.is_alias(backend, name, qualifier):
            raise backend._lambdas.construct_unknown_function_exception(name, qualifier)
    return function, qualifier


def _stored(function: LambdaFunction, qualifier: str | None) -> Any:
    if qualifier is None:
        return function.url_config
    return qualified.of(function).url_configs.get(qualifier)


def create(
    backend: Any, function_name: str, config: dict[str, Any], qualifier: str | None = None
) -> QualifiedUrlConfig:
    function, qualifier = _target(backend, function_name, qualifier or config.get("Qualifier"))
    if _stored(function, qualifier) is not None:
        raise UrlConfigConflict(QualifiedUrlConfig(function, {}, qualifier).function_arn)
    url = QualifiedUrlConfig(function, config, qualifier)
    if qualifier is None:
        function.url_config = url
    else:
        qualified.of(function).url_configs[qualifier] = url
    return url


def get(backend: Any, function_name: str, qualifier: str | None = None) -> Any:
    function, qualifier = _target(backend, function_name, qualifier)
    url = _stored(function, qualifier)
    if url is None:
        raise GenericResourcNotFound()
    return url


def update(backend: Any, function_name: str, config: dict[str, Any], qualifier: str | None = None) -> Any:
    url = get(backend, function_name, qualifier)
    url.update(config)
    return url


def delete(backend: Any, function_name: str, qualifier: str | None = None) -> None:
    function, qualifier = _target(backend, function_name, qualifier)
    if _stored(function, qualifier) is None:
        raise GenericResourcNotFound()
    if qualifier is None:
        function.url_config = None
    else:
        del qualified.of(function).url_configs[qualifier]


def all_of(function: LambdaFunction) -> list[Any]:
    """The function's URLs: its own first, then its aliases' in the order they were made."""
    own = [function.url_config] if function.url_config is not None else []
    return own + list(qualified.of(function).url_configs.values())


def list_page(backend: Any, function_name: str, marker: str | None, max_items: int | None) -> dict[str, Any]:
    """ListFunctionUrlConfigs' answer: ``FunctionUrlConfigs`` and, when more follow, ``NextMarker``."""
    name, qualifier = qualified.split_name(function_name, None)
    if qualifier is not None:
        raise InvalidParameterValueException(
            f"ListFunctionUrlConfigs takes an unqualified function name or ARN, not {function_name!r}"
        )
    configs = all_of(qualified.latest(backend, name))
    size = MAX_ITEMS if max_items is None else max_items
    if not 1 <= size <= MAX_ITEMS:
        raise InvalidParameterValueException(f"MaxItems must be between 1 and {MAX_ITEMS}, not {size}")
    start = 0
    if marker:
        if not marker.isdigit() or int(marker) > len(configs):
            raise InvalidParameterValueException(f"Marker {marker!r} is not one that ListFunctionUrlConfigs returned")
        start = int(marker)
    page = configs[start : start + size]
    answer: dict[str, Any] = {"FunctionUrlConfigs": [url.to_dict() for url in page]}
    if start + size < len(configs):
        answer["NextMarker"] = str(start + size)
    return answer


def url_for(backend: Any, function_name: str) -> Any | None:
    """The URL a local request names: ``name:alias``, or ``name`` for the function's own URL (or its
    only URL when it has just one, on an alias); None when there is no such URL."""
    name, qualifier = qualified.split_name(function_name, None)
    try:
        function = qualified.latest(backend, name)
    except LambdaClientError:
        return None
    if qualifier is not None:
        return qualified.of(function).url_configs.get(qualifier)
    urls = all_of(function)
    return function.url_config or (urls[0] if len(urls) == 1 else None)


# --- the Lambda API -----------------------------------------------------------------------------


def _function_name(response: Any) -> str:
    return unquote(response.path.split("?", 1)[0].rstrip("/").split("/")[-2])


def _qualifier(response: Any) -> str | None:
    return (response.querystring.get("Qualifier") or [None])[0]


def _body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body or "{}"))


def _create_response(self: Any) -> tuple[int, dict[str, Any], str]:
    url = create(self.backend, _function_name(self), _body(self), _qualifier(self))
    answer = url.to_dict()
    answer.pop("LastModifiedTime", None)
    return 201, {"status": 201}, json.dumps(answer)


def _get_response(self: Any) -> tuple[int, dict[str, Any], str]:
    return 200, {"status": 200}, json.dumps(get(self.backend, _function_name(self), _qualifier(self)).to_dict())


def _update_response(self: Any) -> tuple[int, dict[str, Any], str]:
    url = update(self.backend, _function_name(self), _body(self), _qualifier(self))
    return 200, {"status": 200}, json.dumps(url.to_dict())


def _delete_response(self: Any) -> tuple[int, dict[str, Any], str]:
    delete(self.backend, _function_name(self), _qualifier(self))
    return 204, {"status": 204}, ""


def _list_response(self: Any) -> tuple[int, dict[str, Any], str]:
    marker = (self.querystring.get("Marker") or [None])[0]
    max_items = (self.querystring.get("MaxItems") or [None])[0]
    if max_items is not None and not str(max_items).isdigit():
        raise InvalidParameterValueException(f"MaxItems must be a whole number, not {max_items!r}")
    page = list_page(self.backend, _function_name(self), marker, int(max_items) if max_items else None)
    return 200, {"status": 200}, json.dumps(page)


def apply() -> None:
    import moto.awslambda.urls as lambda_urls
    from moto.awslambda.responses import LambdaResponse

    qualified.apply()
    replace(LambdaResponse, "create_function_url_config", _create_response)
    replace(LambdaResponse, "get_function_url_config", _get_response)
    replace(LambdaResponse, "update_function_url_config", _update_response)
    replace(LambdaResponse, "delete_function_url_config", _delete_response)
    replace(LambdaResponse, "list_function_url_configs", _list_response)
    # moto's server builds a service's routes on its first request: this adapter is applied before.
    replace(lambda_urls, "url_paths", {**lambda_urls.url_paths, LIST_PATH: LambdaResponse.dispatch})
