"""Bounds a raw message before the stdlib parser sees it: size, parts, nesting and headers.

CPython's ``email`` package has quadratic paths in header parsing (long encoded-word
runs, huge address lists) and recurses once per nesting level. This scanner walks the
MIME structure line by line in linear time, with state bounded by the limits, and stops
the feed at the first line past a limit, so the parser only ever sees what is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# SES accepts messages of up to 40 MB, headers included.
SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024

_FIELD_NAME = re.compile(rb"^[\x21-\x39\x3b-\x7e]+[ \t]*:")
# Parameter forms a boundary can take, RFC 2231 continuations included: matching too
# much only makes the count stricter, and the parse is still guarded after this.
_BOUNDARY = re.compile(rb"""(?i)[;\s]boundary(?:\*0)?\*?\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""")
_CONTENT_TYPE = re.compile(rb"(?i)^content-type[ \t]*:[ \t]*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)")
# A boundary is at most 70 characters (RFC 2046); with "--", "--" and trailing blanks a
# delimiter line is well under this. Longer body lines cannot be delimiters.
_MAX_DELIMITER_LINE = 256


class LimitExceeded(ValueError):
    """The message is past a limit; ``reason`` is a stable code, ``str()`` says which and where."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MailLimits:
    max_message_bytes: int = SES_MAX_MESSAGE_BYTES
    max_parts: int = 500
    max_depth: int = 24
    max_headers: int = 500  # per header block (the message's own, each part's)
    max_header_bytes: int = 64 * 1024  # one field, folded lines included
    max_header_block_bytes: int = 512 * 1024


@dataclass(slots=True)
class _Frame:
    boundary: bytes | None  # None: an enclosed message/rfc822


class Preflight:
    """Feed it the raw message in chunks; it raises ``LimitExceeded`` at the first breach.

    Header blocks are walked line by line (they are bounded); bodies are skipped with a
    search for the next line that starts with ``--``, since only a delimiter line changes
    the structure. Lines end at LF, as the stdlib parser's do for CRLF input.
    """

    def __init__(self, limits: MailLimits) -> None:
        self.limits = limits
        self.size = 0
        self.parts = 1
        self.max_depth_seen = 0
        self._tail = b""
        self._line_start = True
        self._in_headers = True
        self._headers = 0
        self._block_bytes = 0
        self._field = 0
        self._content_type = b""
        self._in_content_type = False
        self._frames: list[_Frame] = []

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limits.max_message_bytes:
            raise LimitExceeded("message_too_large", f"message is over {self.limits.max_message_bytes} bytes")
        data = self._tail + chunk if self._tail else chunk
        self._tail = b""
        pos = 0
        while pos < len(data):
            if self._in_headers:
                end = data.find(b"\n", pos)
                if end < 0:
                    self._tail = data[pos:]
                    if len(self._tail) > self.limits.max_header_bytes:
                        raise self._header_too_long()
                    return
                self._header_line(data[pos : end + 1])
                pos = end + 1
                self._line_start = True
                continue
            if not (self._line_start and data.startswith(b"--", pos)):
                found = data.find(b"\n--", pos)
                if found < 0:
                    # Keep what may be the start of "\n--" split across chunks.
                    keep = max(pos, len(data) - 2)
                    self._tail = data[keep:]
                    self._line_start = self._line_start and keep == pos
                    return
                pos = found + 1
            end = data.find(b"\n", pos)
            if end < 0:
                if len(data) - pos <= _MAX_DELIMITER_LINE:
                    self._tail = data[pos:]
                    self._line_start = True
                else:
                    self._tail = data[-2:]
                    self._line_start = False
                return
            if end - pos <= _MAX_DELIMITER_LINE:
                self._delimiter(data[pos:end].rstrip(b" \t\r"))
            pos = end + 1
            self._line_start = True

    def close(self) -> None:
        """The end of the message: a last line without its line break."""
        tail, self._tail = self._tail, b""
        if not tail:
            return
        if self._in_headers:
            self._header_line(tail)
        elif self._line_start and tail.startswith(b"--"):
            self._delimiter(tail.rstrip(b" \t\r\n"))

    def _header_too_long(self) -> LimitExceeded:
        return LimitExceeded(
            "header_too_long", f"a header field is over {self.limits.max_header_bytes} bytes"
        )

    def _header_line(self, line: bytes) -> None:
        if line in {b"\r\n", b"\n"}:
            self._end_of_headers()
            return
        self._block_bytes += len(line)
        if self._block_bytes > self.limits.max_header_block_bytes:
            raise LimitExceeded(
                "headers_too_large", f"a header block is over {self.limits.max_header_block_bytes} bytes"
            )
        if line[:1] in {b" ", b"\t"}:
            self._field += len(line)
            if self._field > self.limits.max_header_bytes:
                raise self._header_too_long()
            if self._in_content_type:
                self._content_type += line
            return
        if not _FIELD_NAME.match(line) and not (self._headers == 0 and line.startswith(b"From ")):
            # The stdlib parser ends a header block at a line that is not a field; so does this.
            self._block_bytes -= len(line)
            self._end_of_headers()
            self._line_start = True
            if line.startswith(b"--"):
                self._delimiter(line.rstrip(b" \t\r\n"))
            return
        self._headers += 1
        if self._headers > self.limits.max_headers:
            raise LimitExceeded(
                "too_many_headers", f"a header block has over {self.limits.max_headers} fields"
            )
        self._field = len(line)
        if self._field > self.limits.max_header_bytes:
            raise self._header_too_long()
        self._in_content_type = line[:13].lower() == b"content-type:" or bool(_CONTENT_TYPE.match(line))
        if self._in_content_type:
            self._content_type = line

    def _end_of_headers(self) -> None:
        content_type = self._content_type.replace(b"\r", b"").replace(b"\n", b"")
        self._content_type = b""
        self._in_content_type = False
        self._headers = 0
        self._block_bytes = 0
        self._field = 0
        kind = _CONTENT_TYPE.match(content_type)
        media = kind.group(1).lower() if kind else b""
        self._in_headers = False
        if media.startswith(b"multipart/"):
            found = _BOUNDARY.search(content_type)
            if found:
                self._push(_Frame((found.group(1) or found.group(2)).strip()))
        elif media in {b"message/rfc822", b"message/global"}:
            self._push(_Frame(None))
            self._in_headers = True

    def _push(self, frame: _Frame) -> None:
        self._frames.append(frame)
        depth = len(self._frames)
        self.max_depth_seen = max(self.max_depth_seen, depth)
        if depth > self.limits.max_depth:
            raise LimitExceeded("too_deep", f"parts are nested over {self.limits.max_depth} levels deep")

    def _delimiter(self, line: bytes) -> None:
        for index in range(len(self._frames) - 1, -1, -1):
            boundary = self._frames[index].boundary
            if boundary is None or not line.startswith(b"--" + boundary):
                continue
            rest = line[len(boundary) + 2 :]
            if rest == b"":
                del self._frames[index + 1 :]
                self.parts += 1
                if self.parts > self.limits.max_parts:
                    raise LimitExceeded("too_many_parts", f"message has over {self.limits.max_parts} parts")
                self._in_headers = True
                return
            if rest == b"--":
                del self._frames[index:]
                return
