"""Small, valid, deterministic PDFs for the simulated envelopes' documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

_HEADER = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"  # the binary comment line tells tools the file is binary


def _pdf_string(text: str) -> bytes:
    # Type1 Helvetica in a content stream takes Latin-1; anything else becomes "?".
    raw = text.encode("latin-1", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(lines: Sequence[str]) -> bytes:
    parts = [b"BT", b"/F1 12 Tf", b"16 TL", b"72 720 Td"]
    for index, line in enumerate(lines):
        parts.append(_pdf_string(line) + (b" Tj" if index == 0 else b" '"))
    parts.append(b"ET")
    return b"\n".join(parts)


def render_pdf(title: str, pages: Sequence[Sequence[str]]) -> bytes:
    """A PDF with one page per entry of ``pages`` (lines of text), byte-identical for equal input.

    No dates or random ids are written, so the same document always has the same bytes.
    """
    page_count = len(pages)
    first_page = 4  # 1 catalog, 2 page tree, 3 font; then a page and its content per page
    info = first_page + 2 * page_count
    kids = b" ".join(f"{first_page + 2 * index} 0 R".encode() for index in range(page_count))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(page_count).encode() + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, lines in enumerate(pages):
        stream = _content(lines)
        content_ref = f"{first_page + 2 * index + 1} 0 R".encode()
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents " + content_ref + b" >>"
        )
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
    objects.append(b"<< /Title " + _pdf_string(title) + b" /Producer (dealwire DocuSign simulator) >>")
    out = bytearray(_HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"  # each xref entry is exactly 20 bytes, hence the trailing space
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
