"""HTTP answers for the functions' resolvers: JSON bodies, and the fallbacks every API shares.

Knows Powertools' event handler, not Lambda events: the webhook and the CRM API register
their routes and their own refusals, and take the unknown-route and unexpected-failure
answers from here.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit

from dealwire.observability import logger, metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def error_response(status: int, code: str, message: str) -> Response[str]:
    """The webhook's refusal: ``{"error": code, "message": ...}`` (what Connect's log shows)."""
    return json_response(status, {"error": code, "message": message})


def api_error(status: int, code: str, message: str) -> Response[str]:
    """The CRM API's refusal: ``{"error": {"code", "message"}}``."""
    return json_response(status, {"error": {"code": code, "message": message}})


def json_body_refusal(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The answer to a body that is not JSON text, before the resolver tries to read it.

    Declared as something else: 415 (the resolver would try it as a form and fail in ways
    that are not the caller's 4xx). Bytes that are no UTF-8 text: 400.
    """
    body = event.get("body")
    if not body:
        return None
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    declared = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared and declared != "application/json" and not declared.endswith("+json"):
        return _api_refusal(
            415, "unsupported_media_type", f"the body must be application/json, not {declared[:80]}"
        )
    if event.get("isBase64Encoded"):
        try:
            base64.b64decode(str(body), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _api_refusal(400, "invalid_request", "the body is not UTF-8 JSON text")
    return None


def _api_refusal(status: int, code: str, message: str) -> dict[str, Any]:
    """``api_error`` as the Lambda proxy answer itself, for refusals made before the resolver runs."""
    body = json.dumps({"error": {"code": code, "message": message}})
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": body,
        "isBase64Encoded": False,
    }


def register_fallbacks(
    app: APIGatewayHttpResolver, *, routes: str, failed: str, metric: str, nested: bool = False
) -> Callable[[Exception], Response[str]]:
    """404 naming the routes that exist; 500 for anything unexpected, logged and counted.

    Returns the 500 answer, for a handler of a narrower exception that answers only some.
    """
    answer = api_error if nested else error_response

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        return answer(404, "not_found", routes)

    def unexpected(error: Exception) -> Response[str]:
        logger.exception("request failed", extra={"error": type(error).__name__})
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        return answer(500, "internal", failed)

    app.exception_handler(Exception)(unexpected)
    return unexpected
