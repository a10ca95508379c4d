"""Which Connect wire format a body is in, and its parse into a ``ConnectEvent``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dealwire.contracts.errors import MalformedPayload, UnsupportedContentType

if TYPE_CHECKING:
    from datetime import tzinfo

    from dealwire.domain.envelope_event import ConnectEvent

JSON_TYPES = frozenset({"application/json", "text/json"})
XML_TYPES = frozenset({"application/xml", "text/xml"})


def media_type(content_type: str | None) -> str | None:
    """``"text/xml; charset=utf-8"`` → ``"text/xml"``; ``None`` when absent or blank."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def wire_syntax(body: bytes, content_type: str | None) -> str:
    """``"json"`` or ``"xml"``: by the Content-Type, or by the first byte when there is none."""
    kind = media_type(content_type)
    if kind in JSON_TYPES or (kind and kind.endswith("+json")):
        return "json"
    if kind in XML_TYPES or (kind and kind.endswith("+xml")):
        return "xml"
    if kind is not None:
        raise UnsupportedContentType(
            f"Content-Type {kind!r} is not a Connect format: send application/json or text/xml"
        )
    first = body.lstrip()[:1]
    if first == b"{":
        return "json"
    if first == b"<":
        return "xml"
    raise UnsupportedContentType("no Content-Type and the body is neither JSON nor XML")


def parse_connect_message(
    body: bytes, content_type: str | None, *, account_id: str, account_zone: tzinfo
) -> ConnectEvent:
    """Parse any Connect format. ``account_id`` and ``account_zone`` are the tenant's:
    the XML and aggregate formats may name no account, and XML writes local times."""
    if not body.strip():
        raise MalformedPayload("empty body: a Connect message was expected")
    if wire_syntax(body, content_type) == "json":
        from dealwire.contracts.connect_json import parse_json_message  # noqa: PLC0415

        return parse_json_message(body, account_id)
    from dealwire.contracts.connect_xml import parse_xml_message  # noqa: PLC0415

    return parse_xml_message(body, account_id, account_zone)
