"""The API's OpenAPI document (docs/openapi.json), generated from the routes of the functions behind
the HTTP API, and a Swagger UI page for it that needs no network (Powertools bundles the UI's assets)."""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from typing import TYPE_CHECKING, Any

from infra.local.template import ROOT

if TYPE_CHECKING:
    from collections.abc import Sequence

OPENAPI = ROOT / "docs" / "openapi.json"
TITLE = "dealwire CRM API"
DESCRIPTION = (
    "What a CRM reads and does through dealwire: envelopes and their trackers, signed documents, "
    "voids, Smart BCC threads, automation rules, the account's DocuSign templates, and the tenant's "
    "DocuSign connection. Every call carries a bearer JWT from the stack's issuer; its claims name "
    "the tenant (dealwire:tenant), the user (sub) and, for the integration routes and changes to "
    "automation rules, the admin role (dealwire:role). Errors are "
    '{"error": {"code", "message"}}.'
)


def generate() -> dict[str, Any]:
    """The OpenAPI document as the functions behind the HTTP API describe themselves, merged."""
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    # The functions, imported as Lambda would: the CRM API and the integrations function.
    from api.app import app as api  # noqa: PLC0415
    from integrations.app import app as integrations  # noqa: PLC0415

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    documents = [
        json.loads(
            resolver.get_openapi_json_schema(
                title=TITLE,
                version=version,
                description=DESCRIPTION,
                security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
                security=[{"bearerAuth": []}],
            )
        )
        for resolver in (api, integrations)
    ]
    merged = documents[0]
    for other in documents[1:]:
        for path, operations in other.get("paths", {}).items():
            if path in merged["paths"]:
                raise ValueError(f"{path} is routed to two functions")
            merged["paths"][path] = operations
        schemas = merged.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in other.get("components", {}).get("schemas", {}).items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two functions define the schema {name} differently")
    return _without_unused_validation_answer(merged)


def _without_unused_validation_answer(document: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents a 422 for request validation on every route; the API answers those
    with a 400 naming the field (documented on each route), so the 422 and its models go."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def swagger_page(document: dict[str, Any]) -> bytes:
    """Swagger UI over ``document``, its script and style inlined from Powertools' package."""
    from pathlib import Path  # noqa: PLC0415

    from aws_lambda_powertools.event_handler import api_gateway  # noqa: PLC0415
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html  # noqa: PLC0415

    assets = Path(api_gateway.__file__).parent / "openapi" / "swagger_ui"
    spec = json.dumps(document).replace("</", "<\\/")
    html = generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
        persist_authorization=True,
    )
    return html.encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.api_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/openapi.json is out of date")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        if not OPENAPI.exists() or OPENAPI.read_text() != text:
            sys.stderr.write("docs/openapi.json is out of date: run `make openapi`\n")
            return 1
        return 0
    OPENAPI.write_text(text)
    sys.stdout.write(f"wrote {OPENAPI.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
