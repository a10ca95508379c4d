"""Header values made safe to store: decoded, stripped of control characters, bounded.

Decoded encoded-words can carry CR, LF and NUL, and headers parsed from bytes carry
surrogate escapes for raw 8-bit text; nothing decoded here is ever written back into a
header, and every value leaves as printable text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from email.header import decode_header, make_header
from email.utils import getaddresses, parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import Message

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")
# Runs of ASCII blanks only: a no-break space (French typography) is content.
_SPACE = re.compile(r" {2,}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,253}$")

MAX_TEXT = 998
MAX_IDS = 64


def clean(value: str, limit: int = MAX_TEXT) -> str:
    """One line of printable text: no control characters, no surrogates, bounded."""
    if _SURROGATE.search(value):
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        value = _SURROGATE.sub("\ufffd", value)
    value = _CONTROL.sub(" ", value.replace("\r", " ").replace("\n", " ").replace("\t", " "))
    return _SPACE.sub(" ", value).strip()[:limit]


def unescape(raw: str) -> str:
    """Raw header text as parsed from bytes, with 8-bit bytes read as UTF-8 (RFC 6532)."""
    if not _SURROGATE.search(raw):
        return raw
    return raw.encode("ascii", "surrogateescape").decode("utf-8", "replace")


def raw_values(message: Message, name: str) -> list[str]:
    """Every occurrence of a header as it was received, unfolded."""
    wanted = name.lower()
    return [
        value.replace("\r\n", "").replace("\n", "").replace("\r", "")
        for field, value in message.raw_items()
        if field.lower() == wanted and isinstance(value, str)
    ]


def decode_words(raw: str) -> str:
    """RFC 2047 decoding that never raises: unknown charsets become replacement characters."""
    try:
        return str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        pieces = []
        for chunk, charset in decode_header(raw):
            if isinstance(chunk, str):
                pieces.append(chunk)
                continue
            try:
                pieces.append(chunk.decode(charset or "ascii", "replace"))
            except LookupError:
                pieces.append(chunk.decode("utf-8", "replace"))
        return "".join(pieces)


def text(message: Message, name: str, limit: int = MAX_TEXT) -> str | None:
    """The first occurrence of an unstructured header (Subject), decoded and cleaned."""
    values = raw_values(message, name)
    if not values:
        return None
    try:
        decoded = decode_words(unescape(values[0]))
    except Exception:  # noqa: BLE001 - a hostile header must never fail the message
        decoded = unescape(values[0])
    return clean(decoded, limit)


@dataclass(frozen=True, slots=True)
class Address:
    email: str  # lowercased addr-spec: the key everything matches on
    name: str = ""

    def display(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


def parse_addresses(values: list[str], limit: int = 200) -> list[Address]:
    """Addresses from raw header values, parsed strictly (CVE-2023-27043), deduplicated."""
    found: dict[str, Address] = {}
    for display, addr in getaddresses([unescape(value) for value in values], strict=True):
        email = addr.strip().lower()
        if not _ADDR_SPEC.match(email) or email in found:
            continue
        name = clean(decode_words(display), 200) if display else ""
        found[email] = Address(email=email, name=name)
        if len(found) >= limit:
            break
    return list(found.values())


def addresses(message: Message, *names: str) -> list[Address]:
    return parse_addresses([value for name in names for value in raw_values(message, name)])


def message_ids(values: list[str]) -> list[str]:
    """Message-IDs in the order written; a bare id without angle brackets is taken too."""
    ids: list[str] = []
    for value in values:
        found = _MESSAGE_ID.findall(value)
        if not found:
            found = [token.strip("<>") for token in value.split() if "@" in token and len(token) <= 250]
        ids.extend(clean(item, 250) for item in found)
    unique = list(dict.fromkeys(item for item in ids if item))
    # RFC 5322 trims References by dropping from the middle: keep the root and the newest.
    return unique if len(unique) <= MAX_IDS else [unique[0], *unique[-(MAX_IDS - 1) :]]


def date(message: Message) -> str | None:
    """The Date header in UTC ISO 8601, or None when absent or unreadable."""
    values = raw_values(message, "date")
    if not values:
        return None
    try:
        parsed = parsedate_to_datetime(values[0])
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
