"""HTTP answers for the functions' resolvers: JSON bodies, and the fallbacks every API shares.

Knows Powertools' event handler, not Lambda events: the webhook and the CRM API register
their routes and their own refusals, and take the unknown-route and unexpected-failure
answers from here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit

from dealwire.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def error_response(status: int, code: str, message: str) -> Response[str]:
    return json_response(status, {"error": code, "message": message})


def register_fallbacks(app: APIGatewayHttpResolver, *, routes: str, failed: str, metric: str) -> None:
    """404 naming the routes that exist; 500 for anything unexpected, logged and counted."""

    @app.not_found
    def no_route(_: Exception) -> Response[str]:
        return error_response(404, "not_found", routes)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
    def unexpected(error: Exception) -> Response[str]:
        logger.exception("request failed", extra={"error": type(error).__name__})
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        return error_response(500, "internal", failed)
