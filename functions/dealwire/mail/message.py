"""A raw message read into headers and parts: bounded first, parsed by the stdlib, streamed out."""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.feedparser import BytesFeedParser
from email.policy import EmailPolicy
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from dealwire.domain.filenames import last_segment, not_a_device
from dealwire.mail import headers
from dealwire.mail.limits import MailLimits, Preflight

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from email.message import Message

    from dealwire.mail.headers import Address

# What is read of a text body for forward detection and the snippet; the whole body is stored.
TEXT_PREFIX_BYTES = 256 * 1024
_DECODE_CHUNK = 256 * 1024
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_NOT_BASE64 = bytes(byte for byte in range(256) if byte not in _BASE64_ALPHABET)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]|^\.+$")


class _HeadersParsedOnce(EmailPolicy):
    """``policy.default``, except that a header read again is not parsed again.

    The stdlib keeps each header as its raw text and parses it on every access: reading
    one part's type, disposition, file name and charset parses its Content-Type and
    Content-Disposition again and again (a third of the ingest of a message with many
    small parts, make bench). The header objects are immutable, so the most recent few
    are kept by their raw name and value; what is parsed is exactly what the default
    policy parses.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):  # a header object set by code, as the default policy does
            return value
        return _parsed_header(name, value)


@lru_cache(maxsize=64)
def _parsed_header(name: str, value: str) -> str:
    parsed: str = policy.default.header_fetch_parse(name, value)
    return parsed


PARSE_POLICY = _HeadersParsedOnce()


class MailUnreadable(ValueError):
    """The parser could not read the message at all; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MailHeaders:
    message_id: str | None
    in_reply_to: list[str]
    references: list[str]
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    subject: str | None
    date: str | None


@dataclass(slots=True)
class MailPart:
    """One leaf part. ``role`` is text, html (the message's bodies), attachment or inline."""

    index: int
    role: str
    content_type: str
    charset: str | None
    filename: str | None
    content_id: str | None
    in_attached_message: bool
    message: Message = field(repr=False)


@dataclass(slots=True)
class ParsedMail:
    headers: MailHeaders
    parts: list[MailPart]
    attached: list[MailHeaders]  # the headers of each message/rfc822 part, outermost first
    root: Message = field(repr=False)
    size: int = 0
    sha256: str = ""
    defects: int = 0
    top_values: dict[str, str] = field(default_factory=dict)


def read_mail(chunks: Iterable[bytes], limits: MailLimits | None = None) -> ParsedMail:
    """Parse a message given in chunks. Raises ``LimitExceeded`` or ``MailUnreadable``."""
    preflight = Preflight(limits or MailLimits())
    parser = BytesFeedParser(policy=PARSE_POLICY)
    digest = hashlib.sha256()
    # Only the parser's own failures are the message's fault. The chunks come from S3: a
    # read error there is raised as it is, so the delivery is retried, never refused.
    for chunk in chunks:
        preflight.feed(chunk)
        digest.update(chunk)
        _parsing(parser.feed, chunk)
    preflight.close()
    root = _parsing(parser.close)
    parsed = _parsing(_read, root)
    if preflight.size == 0:
        raise MailUnreadable("empty", "message is empty")
    parsed.size = preflight.size
    parsed.sha256 = digest.hexdigest()
    return parsed


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _parsing(step: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Run one parser step; whatever it raises on hostile input is ``MailUnreadable``."""
    try:
        return step(*args, **kwargs)
    except RecursionError:
        raise MailUnreadable("unparseable", "message structure is too deeply nested to parse") from None
    except Exception as exc:  # noqa: BLE001 - the stdlib parser's failures on hostile input are many
        raise MailUnreadable("unparseable", f"message could not be parsed: {type(exc).__name__}") from None


def read_headers(message: Message) -> MailHeaders:
    return MailHeaders(
        message_id=next(iter(headers.message_ids(headers.raw_values(message, "message-id"))), None),
        in_reply_to=headers.message_ids(headers.raw_values(message, "in-reply-to")),
        references=headers.message_ids(headers.raw_values(message, "references")),
        from_=headers.addresses(message, "from"),
        to=headers.addresses(message, "to"),
        cc=headers.addresses(message, "cc"),
        reply_to=headers.addresses(message, "reply-to"),
        subject=headers.text(message, "subject"),
        date=headers.date(message),
    )


def _read(root: Message) -> ParsedMail:
    parsed = ParsedMail(headers=read_headers(root), parts=[], attached=[], root=root)
    # Iterative, not recursive: depth is bounded already, but a stack costs nothing.
    stack: list[tuple[Message, bool]] = [(root, False)]
    while stack:
        message, attached = stack.pop()
        parsed.defects += len(message.defects)
        content_type = message.get_content_type()
        if message.is_multipart():
            payload = message.get_payload()
            children: list[Message] = (
                [c for c in payload if not isinstance(c, str)] if isinstance(payload, list) else []
            )
            is_message = content_type in {"message/rfc822", "message/global"}
            if is_message and children:
                parsed.attached.append(read_headers(children[0]))
            stack.extend((child, attached or is_message) for child in reversed(children))
            continue
        parsed.parts.append(_leaf(message, content_type, len(parsed.parts), attached, parsed.parts))
    return parsed


def _leaf(
    message: Message, content_type: str, index: int, attached: bool, earlier: list[MailPart]
) -> MailPart:
    disposition = (message.get_content_disposition() or "").lower()
    filename = _filename(message)
    role = "attachment" if disposition == "attachment" or filename else "inline"
    if not attached and disposition != "attachment" and not filename:
        if content_type == "text/plain" and not any(p.role == "text" for p in earlier):
            role = "text"
        elif content_type == "text/html" and not any(p.role == "html" for p in earlier):
            role = "html"
    content_id = headers.message_ids(headers.raw_values(message, "content-id"))
    charset = message.get_content_charset()
    return MailPart(
        index=index,
        role=role,
        content_type=content_type,
        charset=headers.clean(charset, 40) if charset else None,
        filename=filename,
        content_id=content_id[0] if content_id else None,
        in_attached_message=attached,
        message=message,
    )


def _filename(message: Message) -> str | None:
    """The part's name as sent (RFC 2231 and RFC 2047 decoded), cleaned; None without one."""
    try:
        raw = message.get_filename()
    except Exception:  # noqa: BLE001 - malformed parameters must not lose the part
        raw = None
    if raw is None:
        return None
    if "=?" in raw:
        raw = headers.decode_words(raw)
    name = headers.clean(headers.unescape(raw), 255)
    return name or None


def safe_filename(name: str | None, fallback: str) -> str:
    """A name fit for an S3 key segment: no path, no control characters, no device, bounded."""
    if not name:
        return fallback
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", last_segment(name)).strip(" .")
    base = re.sub(r"\s+", "_", base)[:100]
    return not_a_device(base) if re.search(r"[A-Za-z0-9]", base) else fallback


def part_chunks(part: MailPart) -> Iterator[bytes]:
    """The part's decoded content, in pieces of about a megabyte.

    Base64 (where large attachments live) is decoded slice by slice from the parsed
    payload, so no decoded copy of the whole part is ever held.
    """
    message = part.message
    encoding = str(message.get("content-transfer-encoding", "")).strip().lower()
    payload = message.get_payload()
    if encoding == "base64" and isinstance(payload, str):
        yield from _base64_chunks(payload)
        return
    try:
        data = message.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken encoding keeps the bytes as they came
        data = None
    if not isinstance(data, bytes):
        data = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    for start in range(0, len(data), _DECODE_CHUNK):
        yield data[start : start + _DECODE_CHUNK]


def _base64_chunks(payload: str) -> Iterator[bytes]:
    carry = b""
    for start in range(0, len(payload), _DECODE_CHUNK):
        piece = payload[start : start + _DECODE_CHUNK].encode("ascii", "surrogateescape")
        data = carry + piece.translate(None, _NOT_BASE64)
        usable = len(data) - len(data) % 4
        carry = data[usable:]
        if usable:
            yield _b64(data[:usable])
    if carry:
        yield _b64(carry + b"=" * (-len(carry) % 4))


def _b64(data: bytes) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        # Padding in the middle (two encodings glued together): decode up to it.
        cut = data.find(b"=")
        return binascii.a2b_base64(data[: cut - cut % 4]) if cut > 0 else b""


def text_prefix(part: MailPart, limit: int = TEXT_PREFIX_BYTES) -> bytes:
    """The first ``limit`` decoded bytes of a part, read from the parsed message (no upload)."""
    prefix = bytearray()
    for chunk in part_chunks(part):
        prefix += chunk[: limit - len(prefix)]
        if len(prefix) >= limit:
            break
    return bytes(prefix)


def body_text(parsed: ParsedMail) -> str:
    """The start of the message's text body (its HTML body's text when it has none)."""
    texts = {part.role: part for part in parsed.parts if part.role in {"text", "html"}}
    if "text" in texts:
        return decode_text(text_prefix(texts["text"]), texts["text"].charset)
    if "html" in texts:
        return html_text(decode_text(text_prefix(texts["html"]), texts["html"].charset))
    return ""


def decode_text(prefix: bytes, charset: str | None) -> str:
    """Text from a body's first bytes; an unknown charset degrades to replacement characters."""
    try:
        return prefix.decode(charset or "utf-8", "replace")
    except LookupError:
        return prefix.decode("utf-8", "replace")


class _TextOfHtml(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "table", "blockquote", "hr", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style", "head"}:
            self._skip += 1
        elif tag in self._BREAKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "head"}:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.pieces.append(data)


def html_text(markup: str) -> str:
    """Readable lines from HTML (for forward detection in HTML-only mail)."""
    reader = _TextOfHtml()
    try:
        reader.feed(markup[:TEXT_PREFIX_BYTES])
        reader.close()
    except Exception:  # noqa: BLE001 - html.parser tolerates most input; never fail the message on it
        return ""
    lines = (" ".join(line.split()) for line in "".join(reader.pieces).splitlines())
    return "\n".join(line for line in lines if line)
