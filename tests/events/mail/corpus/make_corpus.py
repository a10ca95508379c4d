"""Generate the Smart BCC raw-mail fixture corpus (synthetic .eml files as SES stores them in S3).

Run ``python tests/events/mail/corpus/make_corpus.py`` to (re)write the .eml files and expected.json
next to this script; ``--check`` parses the files already on disk with the stdlib ``email`` package
and confirms that expected.json holds for them (and that they are byte-identical to a fresh build).

Everything is deterministic: fixed dates, ids, boundaries; "random" tokens (DKIM signatures, SES
receipts) are derived from SHA-256 of a seed string, so they look real but verify nothing.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import email
import email.policy
import hashlib
import io
import json
import re
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BCC = "acme@bcc.dealwire.example"

ULLA = "ulla.user@acme-sales.example"
CARLA = "carla@customer-corp.example"
BOB = "bob.buyer@customer-corp.example"
PIERRE = "pierre@exemple-client.example"
SAM = "sam.seller@acme-sales.example"
JUERGEN = "juergen@mueller-gmbh.example"
TANAKA = "tanaka@nihon-torihiki.example"
IVAN = "ivan.petrov@rus-klient.example"

SIG = "-- "  # signature delimiter, with its trailing space
GMAIL_ID_1 = "<CAF3x9qWb7Lm2Nv8Rt5Yk1Hd4Jp6Zc0Ue2Sg7Ao9Xi3Mf5Bw8Qn@mail.gmail.com>"
CARLA_REPLY_ID = "<DB9PR08MB67148A1C2D3E4F5061728394A5B6C7D8@DB9PR08MB6714.eurprd08.prod.outlook.com>"
CARLA_CONTRACT_ID = "<DB9PR08MB6714E1A2B3C4D5E6F7A8B9C0D1E2F3A4@DB9PR08MB6714.eurprd08.prod.outlook.com>"
GMAIL_BOUNCED_ID = "<CAF3x9qXp2Kd7Rm4Tz8Wq1Ln6Hb3Yc5Vg0Js9Ea2Ou7Ni4Fk1Mt@mail.gmail.com>"


# --------------------------------------------------------------------------- helpers


def det(seed: str, n: int) -> bytes:
    """n deterministic pseudo-random bytes derived from seed."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return out[:n]


def fake_b64(seed: str, n: int) -> str:
    return base64.b64encode(det(seed, n)).decode("ascii")


def b32id(seed: str, n: int) -> str:
    return base64.b32encode(det(seed, n)).decode("ascii").lower().rstrip("=")[:n]


def thread_index(seed: str, n: int) -> str:
    """An Outlook Thread-Index: 22 bytes (+5 per reply), the first byte being 0x01."""
    return base64.b64encode(b"\x01" + det(seed, n - 1)).decode("ascii")


def b64_body(data: bytes, width: int = 76) -> str:
    """Base64 in lines of width characters (LF; converted to CRLF on assembly)."""
    text = base64.b64encode(data).decode("ascii")
    return "\n".join(text[i : i + width] for i in range(0, len(text), width)) + "\n"


def qp_body(data: bytes) -> str:
    """Quoted-printable of LF-separated data, soft line breaks at 76 (LF; CRLF on assembly)."""
    return binascii.b2a_qp(data).decode("ascii")


def ew_q(text: str, charset: str, q: str = "Q") -> str:
    """One RFC 2047 Q encoded-word."""
    out = []
    for byte in text.encode(charset):
        char = chr(byte)
        if char == " ":
            out.append("_")
        elif char.isascii() and (char.isalnum() or char in "!*+-/"):
            out.append(char)
        else:
            out.append(f"={byte:02X}")
    return f"=?{charset}?{q}?{''.join(out)}?="


def ew_b(text: str, charset: str, chunk: int = 0) -> list[str]:
    """RFC 2047 B encoded-words, one per chunk of characters (each word self-contained)."""
    pieces = [text] if chunk == 0 else [text[i : i + chunk] for i in range(0, len(text), chunk)]
    return [f"=?{charset}?B?{base64.b64encode(p.encode(charset)).decode('ascii')}?=" for p in pieces]


def crlf(data: bytes) -> bytes:
    """Normalise every line ending to CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def assemble(*chunks: str | bytes) -> bytes:
    """Join header/body chunks; str chunks must be ASCII, bytes chunks are 8-bit bodies."""
    return b"".join(crlf(c.encode("ascii") if isinstance(c, str) else c) for c in chunks)


def fold_b(value: str, first: int, width: int, indent: str) -> str:
    """Fold a long base64 tag value the way Gmail folds DKIM b= tags."""
    lines = [value[:first]]
    rest = value[first:]
    lines += [indent + rest[i : i + width] for i in range(0, len(rest), width)]
    return "\n".join(lines)


def epoch(date: str) -> int:
    return int(parsedate_to_datetime(date).timestamp())


# --------------------------------------------------------------------------- SES + Gmail relay


def ses_headers(
    seed: str,
    *,
    envelope_from: str,
    helo: str,
    ip: str,
    received: str,
    spf_domain: str,
    dkim_domain: str,
    from_domain: str,
) -> str:
    """The block Amazon SES prepends to a message it stores in S3."""
    spf = (
        f"pass (spfCheck: domain of {spf_domain} designates {ip} as permitted sender) "
        f"client-ip={ip}; envelope-from={envelope_from}; helo={helo};"
    )
    receipt = "AEFBQUFBQUFBQUFH" + base64.b64encode(fake_b64(seed + "receipt", 250).encode()).decode()
    ses_dkim = (
        f"a=rsa-sha256; q=dns/txt; b={fake_b64(seed + 'ses-b', 128)}; c=relaxed/simple; "
        f"s=224i4yxa5dv7c2xz3womw6peuasteono; d=amazonses.com; t={epoch(received)}; v=1; "
        f"bh={fake_b64(seed + 'ses-bh', 32)}; "
        "h=From:To:Cc:Bcc:Subject:Date:Message-ID:MIME-Version:Content-Type:X-SES-RECEIPT;"
    )
    return (
        f"Return-Path: <{envelope_from}>\n"
        f"Received: from {helo} ({helo} [{ip}])\n"
        f" by inbound-smtp.us-east-1.amazonaws.com with SMTP id {b32id(seed + 'ses-id', 40)}\n"
        f" for {BCC};\n"
        f" {received}\n"
        "X-SES-Spam-Verdict: PASS\n"
        "X-SES-Virus-Verdict: PASS\n"
        f"Received-SPF: {spf}\n"
        "Authentication-Results: amazonses.com;\n"
        f" spf={spf}\n"
        f" dkim=pass header.i=@{dkim_domain};\n"
        f" dmarc=pass header.from={from_domain};\n"
        f"X-SES-RECEIPT: {receipt}\n"
        f"X-SES-DKIM-SIGNATURE: {ses_dkim}\n"
    )


@dataclass(frozen=True)
class Relay:
    """A Google Workspace outbound hop (acme-sales.example is hosted on Google Workspace)."""

    helo: str
    ip: str
    smtp_id: str
    pdt: str  # the relay's timestamp, Pacific time as Google writes it
    dkim_h: str  # the h= tag, already folded
    submitted_from: str | None = None  # client host name when submitted over SMTP (not Gmail web)
    client_ip: str = "2001:db8:4f2a:1c00:5d2e:1c4f:9a3b:7e61"


def google_relay(seed: str, relay: Relay) -> str:
    t = epoch(relay.pdt)
    b = fold_b(fake_b64(seed + "dkim-b", 256), 58, 68, "         ")
    xb = fold_b(fake_b64(seed + "xdkim-b", 256), 58, 68, "         ")
    state = fake_b64(seed + "state", 60)
    smtp_source = fake_b64(seed + "source", 72)
    x_received_id = det(seed + "xr", 8).hex()
    text = (
        f"Received: by {relay.helo} with SMTP id {relay.smtp_id}\n"
        f"        for <{BCC}>; {relay.pdt}\n"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
        f"        d=acme-sales.example; s=google; t={t}; x={t + 2592000}; darn=bcc.dealwire.example;\n"
        f"        h={relay.dkim_h};\n"
        f"        bh={fake_b64(seed + 'bh', 32)};\n"
        f"        b={b}\n"
        "X-Google-DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
        f"        d=1e100.net; s=20221208; t={t}; x={t + 2592000};\n"
        f"        h=x-gm-message-state:{relay.dkim_h};\n"
        f"        bh={fake_b64(seed + 'bh', 32)};\n"
        f"        b={xb}\n"
        f"X-Gm-Message-State: {state[:56]}\n"
        f"\t{state[56:]}\n"
        f"X-Google-Smtp-Source: {smtp_source}\n"
        f"X-Received: by 2002:a17:906:7304:b0:992:{x_received_id[:4]}:{x_received_id[4:8]} with SMTP id"
        f" {x_received_id}mr1234567ejo.{t % 97}.{t}{t % 1000:03d};\n"
        f"        {relay.pdt}\n"
    )
    if relay.submitted_from:
        stamp = parsedate_to_datetime(relay.pdt).strftime("%Y.%m.%d.%H.%M.%S")
        text += (
            f"Received: from {relay.submitted_from} ([{relay.client_ip}])\n"
            f"        by smtp.gmail.com with ESMTPSA id {relay.smtp_id.split('-', 1)[-1]}sm{t % 9999999}"
            f"ejo.{t % 97}.{stamp}\n"
            "        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\n"
            f"        {relay.pdt}\n"
        )
    return text


def ses_from_google(seed: str, relay: Relay, received_utc: str, envelope_from: str = ULLA) -> str:
    return ses_headers(
        seed,
        envelope_from=envelope_from,
        helo=relay.helo,
        ip=relay.ip,
        received=received_utc,
        spf_domain="_spf.google.com",
        dkim_domain="acme-sales.example",
        from_domain="acme-sales.example",
    ) + google_relay(seed, relay)


GMAIL_WEB_H = (
    "to:subject:message-id:date:from:mime-version:from:to:cc:subject\n         :date:message-id:reply-to"
)
SMTP_CLIENT_H = (
    "content-language:thread-index:mime-version:message-id:date:subject\n"
    "         :in-reply-to:references:to:from:from:to:cc:subject:date:message-id\n"
    "         :reply-to"
)
PLAIN_CLIENT_H = (
    "user-agent:content-language:subject:from:to:mime-version:date\n"
    "         :message-id:from:to:cc:subject:date:message-id:reply-to"
)


# --------------------------------------------------------------------------- attachment payloads


def make_pdf() -> bytes:
    """A one-page PDF with a correct xref table."""
    content = b"BT /F1 18 Tf 72 770 Td (Angebot Q3 - final) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def make_png(rgb: tuple[int, int, int], size: int = 8) -> bytes:
    """A solid-colour RGB PNG; the zlib stream uses a stored block so the bytes never depend on zlib."""
    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    stored = b"\x78\x01\x01" + struct.pack("<HH", len(raw), len(raw) ^ 0xFFFF) + raw
    stored += struct.pack(">I", zlib.adler32(raw))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stored) + chunk(b"IEND", b"")


def make_xlsx() -> bytes:
    """A minimal spreadsheet (stored, fixed timestamps, so the bytes are stable)."""
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument'
            '.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Preise" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>Artikel</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>Preis EUR</t></is></c></row>'
            '<row r="2"><c r="A2" t="inlineStr"><is><t>Lizenz Q3</t></is></c><c r="B2"><v>48500</v></c></row>'
            "</sheetData></worksheet>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2023, 7, 7, 9, 0, 0))
            info.external_attr = 0o600 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


def ics_fold(line: str) -> str:
    """RFC 5545 folding at 75 octets (ASCII content here)."""
    parts = [line[:75]]
    rest = line[75:]
    while rest:
        parts.append(" " + rest[:74])
        rest = rest[74:]
    return "\r\n".join(parts)


def make_ics() -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        "DTSTART:20230711T080000Z",
        "DTEND:20230711T090000Z",
        "DTSTAMP:20230706T121530Z",
        "ORGANIZER;CN=Ulla User:mailto:ulla.user@acme-sales.example",
        "UID:5q8k2m1n3o4p5r6s7t8u9v0w1x@google.com",
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;"
        "CN=Carla Customer;X-NUM-GUESTS=0:mailto:carla@customer-corp.example",
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;"
        "CN=Bob Buyer;X-NUM-GUESTS=0:mailto:bob.buyer@customer-corp.example",
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;"
        "CN=Ulla User;X-NUM-GUESTS=0:mailto:ulla.user@acme-sales.example",
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;"
        "CN=acme@bcc.dealwire.example;X-NUM-GUESTS=0:mailto:acme@bcc.dealwire.example",
        "CREATED:20230706T121528Z",
        "DESCRIPTION:Walk through the Q3 proposal and the rollout plan.\\n\\n-::~:~::~:~:~:~:~:~:~:~:~:~:~:"
        "~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\\nJoin with Google Meet: "
        "https://meet.google.com/abc-defg-hij\\n\\n-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:"
        "~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-",
        "LAST-MODIFIED:20230706T121529Z",
        "LOCATION:",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        "SUMMARY:Q3 proposal review",
        "TRANSP:OPAQUE",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:This is an event reminder",
        "TRIGGER:-P0DT0H30M0S",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(ics_fold(line) for line in lines) + "\r\n").encode("ascii")


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Att:
    filename: str
    content_type: str
    data: bytes
    disposition: str = "attachment"

    def fact(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "disposition": self.disposition,
        }


@dataclass(frozen=True)
class Sample:
    name: str
    raw: bytes
    facts: dict[str, Any]
    # RFC 5322's limit; the long-line samples go past it as real clients do (SES accepts them).
    max_line: int = 998


def facts(
    *,
    message_id: str,
    sender: str,
    subject: str | None,
    text_contains: str,
    to: list[str] | None = None,
    cc: list[str] | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    attachments: list[Att] | None = None,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "in_reply_to": in_reply_to,
        "references": references or [],
        "from": sender,
        "to": to or [],
        "cc": cc or [],
        "subject": subject,
        "text_contains": text_contains,
        "attachments": [a.fact() for a in attachments or []],
    }


def gmail_plain() -> Sample:
    relay = Relay(
        "mail-wr1-f54.google.com",
        "209.85.221.54",
        "ffacd0b85a97d-3142a4a1f2bso1234567f8f.3",
        "Mon, 03 Jul 2023 01:15:43 -0700 (PDT)",
        GMAIL_WEB_H,
    )
    boundary = "000000000000d2a1c705ff8a3b71"
    plain = (
        "Hi Carla,\n\n"
        "thanks again for your time on Friday. As promised, here is our proposal for Q3: the full platform "
        "licence for 45 seats, onboarding for both of your sales teams and a 12-month rollout with quarterly "
        "reviews. The total comes to \u20ac48,500 excluding VAT.\n\n"
        "Could we go through it together early next week?\n\n"
        "Best regards,\nUlla\n\n" + SIG + "\nUlla User\nSenior Account Executive | ACME Sales\n"
    )
    html = (
        '<div dir="ltr"><div>Hi Carla,</div><div><br></div><div>thanks again for your time on Friday. As '
        "promised, here is our proposal for Q3: the full platform licence for 45 seats, onboarding for both "
        "of "
        "your sales teams and a 12-month rollout with quarterly reviews. The total comes to "
        "\u20ac48,500 excluding VAT.</div><div><br></div><div>Could we go through it together early next "
        'week?</div><div><br></div><div>Best regards,</div><div>Ulla</div><div><br></div><span class="gmail_'
        'signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature" data-smartmail="gmail_'
        'signature"><div dir="ltr"><b>Ulla User</b><div>Senior Account Executive | ACME Sales</div></div>'
        "</div></div>\n"
    )
    raw = assemble(
        ses_from_google("gmail-plain", relay, "Mon, 03 Jul 2023 08:15:44 +0000 (UTC)"),
        "MIME-Version: 1.0\n"
        f"From: Ulla User <{ULLA}>\n"
        "Date: Mon, 3 Jul 2023 10:15:31 +0200\n"
        f"Message-ID: {GMAIL_ID_1}\n"
        "Subject: Proposal for Q3\n"
        f"To: Carla Customer <{CARLA}>\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        "\n"
        f"--{boundary}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n",
        qp_body(plain.encode("utf-8")),
        f"\n--{boundary}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n",
        qp_body(html.encode("utf-8")),
        f"\n--{boundary}--\n",
    )
    return Sample(
        "bcc-gmail-plain.eml",
        raw,
        facts(
            message_id=GMAIL_ID_1,
            sender=ULLA,
            to=[CARLA],
            subject="Proposal for Q3",
            text_contains="a 12-month rollout with quarterly reviews",
        ),
    )


def outlook_html(paragraphs: list[str], quoted: str = "") -> str:
    body = "".join(f'<p class="MsoNormal"><span lang="EN-US">{p}<o:p></o:p></span></p>' for p in paragraphs)
    return (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:w="urn:schemas-microsoft-com:office:word" '
        'xmlns:m="http://schemas.microsoft.com/office/2004/12/'
        'omml" xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv="Content-Type" content="text/'
        'html; charset=us-ascii"><meta name="Generator" content="Microsoft Word 15 (filtered medium)">'
        "<style><!--\n/* Font Definitions */\n@font-face\n\t{font-family:Calibri;\n\tpanose-1:2 15 5 2 2 2 "
        "4 3 "
        "2 4;}\np.MsoNormal, li.MsoNormal, div.MsoNormal\n\t{margin:0cm;\n\tfont-size:11.0pt;\n\tfont-family:"
        '"Calibri",sans-serif;}\n--></style></head><body lang="DE" link="#0563C1" vlink="#954F72" '
        'style="word-wrap:break-word"><div class="WordSection1">'
        f"{body}{quoted}</div></body></html>\n"
    )


def outlook_reply() -> Sample:
    relay = Relay(
        "mail-ej1-f41.google.com",
        "209.85.218.41",
        "a640c23a62f3a-991fe70f21bso731905866b.3",
        "Wed, 05 Jul 2023 00:41:19 -0700 (PDT)",
        SMTP_CLIENT_H,
        submitted_from="DESKTOP-UU7K2",
    )
    message_id = "<000601d9af0e$5d2c3b80$17843280$@acme-sales.example>"
    outer = "----=_NextPart_000_0007_01D9AF1F.20B50B80"
    plain = (
        "Hi Carla,\n\n"
        "happy to clarify: the onboarding workshops are included in the quoted price, travel costs are not.\n"
        "I will send the updated statement of work by Friday.\n\n"
        "Best regards\nUlla\n\n"
        "From: Carla Customer <carla@customer-corp.example> \n"
        "Sent: Tuesday, July 4, 2023 5:12 PM\n"
        "To: Ulla User <ulla.user@acme-sales.example>\n"
        "Subject: RE: Proposal for Q3\n\n"
        "Hi Ulla,\n\n"
        "Thanks for the proposal. Are the onboarding workshops included in the price?\n\n"
        "Carla\n"
    )
    quoted = (
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"><p '
        'class="MsoNormal">'
        "<b>From:</b> Carla Customer &lt;carla@customer-corp.example&gt; <br><b>Sent:</b> Tuesday, July 4, "
        "2023 "
        "5:12 PM<br><b>To:</b> Ulla User &lt;ulla.user@acme-sales.example&gt;<br><b>Subject:</b> RE: "
        "Proposal "
        'for Q3<o:p></o:p></p></div><p class="MsoNormal">Hi Ulla,<o:p></o:p></p><p class="MsoNormal">Thanks '
        "for the proposal. Are the onboarding workshops included in the price?<o:p></o:p></p>"
        '<p class="MsoNormal">Carla<o:p></o:p></p>'
    )
    html = outlook_html(
        [
            "Hi Carla,",
            "&nbsp;",
            "happy to clarify: the onboarding workshops are included in the quoted price, travel costs are "
            "not.",
            "I will send the updated statement of work by Friday.",
            "&nbsp;",
            "Best regards",
            "Ulla",
            "&nbsp;",
        ],
        quoted,
    )
    index = thread_index("thread-q3", 22 + 5 * 2)
    raw = assemble(
        ses_from_google("outlook-reply", relay, "Wed, 05 Jul 2023 07:41:20 +0000 (UTC)"),
        f'From: "Ulla User" <{ULLA}>\n'
        f"To: \"'Carla Customer'\" <{CARLA}>\n"
        f"References: {GMAIL_ID_1} {CARLA_REPLY_ID}\n"
        f"In-Reply-To: {CARLA_REPLY_ID}\n"
        "Subject: RE: Proposal for Q3\n"
        "Date: Wed, 5 Jul 2023 09:41:17 +0200\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{outer}"\n'
        "X-Mailer: Microsoft Outlook 16.0\n"
        "Thread-Topic: Proposal for Q3\n"
        f"Thread-Index: {index}\n"
        "Content-Language: de\n"
        "\n"
        "This is a multipart message in MIME format.\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: text/plain;\n"
        '\tcharset="us-ascii"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{plain}\n"
        f"--{outer}\n"
        "Content-Type: text/html;\n"
        '\tcharset="us-ascii"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{qp_body(html.encode('ascii'))}\n"
        f"--{outer}--\n"
        "\n",
    )
    return Sample(
        "reply-outlook-references.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            subject="RE: Proposal for Q3",
            in_reply_to=CARLA_REPLY_ID,
            references=[GMAIL_ID_1, CARLA_REPLY_ID],
            text_contains="the onboarding workshops are included in the quoted price",
        ),
    )


def apple_reply() -> Sample:
    relay = Relay(
        "mail-ed1-f47.google.com",
        "209.85.208.47",
        "4fb4d7f45d1cf-51e0a5b3c1eso5512091a12.2",
        "Thu, 06 Jul 2023 05:03:57 -0700 (PDT)",
        SMTP_CLIENT_H,
        submitted_from="smtpclient.apple",
    )
    message_id = "<5F3C1B2A-8D4E-4A6F-9C7B-2E1D0F3A4B5C@acme-sales.example>"
    boundary = "Apple-Mail=_0E6A9B21-3C4D-4F5E-8A7B-9C0D1E2F3A4B"
    plain = (
        "Hi Carla,\n\n"
        "Bob asked about volume pricing: for more than 60 seats we can offer an additional 8 percent.\n"
        "Let me know if that changes the picture for you.\n\n"
        "Ulla\n\n"
        "> On 5. Jul 2023, at 18:20, Carla Customer <carla@customer-corp.example> wrote:\n"
        ">\n"
        "> Hi Ulla, we are reviewing the proposal with Bob this week.\n"
        ">\n"
        "> Carla\n\n"
    )
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=us-ascii"></head><body '
        'style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">Hi '
        "Carla,"
        "<div><br></div><div>Bob asked about volume pricing: for more than 60 seats we can offer an "
        "additional "
        "8 percent.</div><div>Let me know if that changes the picture for you.</div><div><br></div><div>Ulla"
        '</div><div><br><blockquote type="cite"><div>On 5. Jul 2023, at 18:20, Carla Customer &lt;carla@'
        "customer-corp.example&gt; wrote:</div><br><div><div>Hi Ulla, we are reviewing the proposal with Bob "
        "this week.<br><br>Carla</div></div></blockquote></div><br></body></html>"
    )
    raw = assemble(
        ses_from_google("apple-reply", relay, "Thu, 06 Jul 2023 12:03:58 +0000 (UTC)"),
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{boundary}"\n'
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3731.600.7\\))\n"
        "Subject: Re: Proposal for Q3\n"
        f"From: Ulla User <{ULLA}>\n"
        "Date: Thu, 6 Jul 2023 14:03:55 +0200\n"
        f"Cc: Bob Buyer <{BOB}>\n"
        f"Message-Id: {message_id}\n"
        f"To: Carla Customer <{CARLA}>\n"
        "X-Mailer: Apple Mail (2.3731.600.7)\n"
        "\n"
        "\n"
        f"--{boundary}\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Content-Type: text/plain;\n"
        "\tcharset=us-ascii\n"
        "\n"
        f"{plain}"
        f"--{boundary}\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "Content-Type: text/html;\n"
        "\tcharset=us-ascii\n"
        "\n"
        f"{qp_body(html.encode('ascii'))}"
        f"\n--{boundary}--\n",
    )
    return Sample(
        "reply-apple-no-references.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            cc=[BOB],
            subject="Re: Proposal for Q3",
            text_contains="we can offer an additional 8 percent",
        ),
    )


def iso_8859_1() -> Sample:
    relay = Relay(
        "mail-wm1-f43.google.com",
        "209.85.128.43",
        "5b1f17b1804b1-3fbc77e76abso41023545e9.1",
        "Sun, 09 Jul 2023 23:30:14 -0700 (PDT)",
        SMTP_CLIENT_H,
        submitted_from="DESKTOP-UU7K2",
    )
    message_id = "<001201d9b2ec$7a1e4c90$6e5ae5b0$@acme-sales.example>"
    body = (
        "Sehr geehrter Herr M\u00fcller,\n\n"
        "vielen Dank f\u00fcr das freundliche Gespr\u00e4ch am Donnerstag. Anbei erhalten Sie unser Angebot "
        "f\u00fcr die Lieferung von 120 Schaltschr\u00e4nken inklusive Montage.\n\n"
        "Der Gesamtpreis bel\u00e4uft sich auf 48.500,00 EUR zzgl. MwSt.; das Angebot gilt bis zum 31. "
        "August.\n\n"
        "Mit freundlichen Gr\u00fc\u00dfen\n"
        "Ulla User\n"
    )
    subject = "Angebot f\u00fcr M\u00fcller GmbH"
    juergen = "J\u00fcrgen M\u00fcller"
    raw = assemble(
        ses_from_google("iso-8859-1", relay, "Mon, 10 Jul 2023 06:30:15 +0000 (UTC)"),
        f'From: "Ulla User" <{ULLA}>\n'
        f"To: {ew_q(juergen, 'iso-8859-1')} <{JUERGEN}>\n"
        f"Subject: {ew_q(subject, 'iso-8859-1')}\n"
        "Date: Mon, 10 Jul 2023 08:30:12 +0200\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain;\n"
        '\tcharset="iso-8859-1"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "X-Mailer: Microsoft Outlook 16.0\n"
        f"Thread-Index: {thread_index('thread-mueller', 22)}\n"
        "Content-Language: de\n"
        "\n",
        qp_body(body.encode("iso-8859-1")),
        "\n",
    )
    return Sample(
        "bcc-iso-8859-1.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[JUERGEN],
            subject=subject,
            text_contains="f\u00fcr die Lieferung von 120 Schaltschr\u00e4nken",
        ),
    )


def windows_1252() -> Sample:
    relay = Relay(
        "mail-wr1-f48.google.com",
        "209.85.221.48",
        "ffacd0b85a97d-314417861b9so4562201f8f.0",
        "Tue, 11 Jul 2023 07:45:11 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="[192.168.178.24]",
    )
    message_id = "<3b7e2c1a-9f4d-4e8b-a6c5-1d2e3f4a5b6c@acme-sales.example>"
    subject = "Votre devis \u2013 12\u00a0500\u00a0\u20ac pour l\u2019\u0153uvre \u00ab\u00a0Q3\u00a0\u00bb"
    body = (
        "Bonjour Monsieur Dupont,\n\n"
        "Comme convenu, voici notre offre \u00ab\u00a0Q3\u00a0\u00bb\u00a0: le montant total "
        "s\u2019\u00e9l\u00e8ve "
        "\u00e0 12\u00a0500\u00a0\u20ac HT,\n"
        "main-d\u2019\u0153uvre comprise. Vous trouverez le d\u00e9tail dans le \u201cdevis "
        "d\u00e9finitif\u201d.\n\n"
        "Je reste \u00e0 votre disposition pour toute question.\n\n"
        "Bien cordialement,\n"
        "Ulla User\n"
    )
    raw = assemble(
        ses_from_google("windows-1252", relay, "Tue, 11 Jul 2023 14:45:12 +0000 (UTC)"),
        f"Message-ID: {message_id}\n"
        "Date: Tue, 11 Jul 2023 16:45:09 +0200\n"
        "MIME-Version: 1.0\n"
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0) Gecko/20100101\n"
        " Thunderbird/102.13.0\n"
        "Content-Language: fr\n"
        f"To: Pierre Dupont <{PIERRE}>\n"
        f"From: Ulla User <{ULLA}>\n"
        "Subject: " + "\n ".join(ew_b(subject, "windows-1252")) + "\n"
        "Content-Type: text/plain; charset=windows-1252; format=flowed\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n",
        body.encode("windows-1252"),
        "\n",
    )
    return Sample(
        "bcc-windows-1252.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[PIERRE],
            subject=subject,
            text_contains="main-d\u2019\u0153uvre comprise",
        ),
    )


def shift_jis() -> Sample:
    relay = Relay(
        "mail-pl1-f170.google.com",
        "209.85.214.170",
        "d9443c01a7336-1b8a4b1d2e0so22118815ad.2",
        "Mon, 17 Jul 2023 01:05:23 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="ULLA-NB",
    )
    message_id = "<20230717100521.4A2C.8E3F1B7A@acme-sales.example>"
    subject = "\u7b2c3\u56db\u534a\u671f\u306e\u304a\u898b\u7a4d\u308a\u306b\u3064\u3044\u3066"
    name = "\u7530\u4e2d \u592a\u90ce"
    body = (
        "\u7530\u4e2d\u69d8\n\n"
        "\u3044\u3064\u3082\u304a\u4e16\u8a71\u306b\u306a\u3063\u3066\u304a\u308a\u307e\u3059\u3002\n"
        "\u7b2c3\u56db\u534a\u671f\u306e\u304a\u898b\u7a4d\u66f8\u3092\u304a\u9001\u308a\u3044\u305f\u3057"
        "\u307e\u3059\u3002\n"
        "\u3054\u691c\u8a0e\u306e\u307b\u3069\u3001\u3088\u308d\u3057\u304f\u304a\u9858\u3044\u3044\u305f"
        "\u3057\u307e\u3059\u3002\n\n"
        "\u30a6\u30e9\u30fb\u30e6\u30fc\u30b6\u30fc\n"
    )
    raw = assemble(
        ses_from_google("shift-jis", relay, "Mon, 17 Jul 2023 08:05:24 +0000 (UTC)"),
        "Date: Mon, 17 Jul 2023 10:05:21 +0200\n"
        f"From: Ulla User <{ULLA}>\n"
        f"To: {ew_b(name, 'Shift_JIS')[0]} <{TANAKA}>\n"
        f"Subject: {ew_b(subject, 'Shift_JIS')[0]}\n"
        f"Message-Id: {message_id}\n"
        "MIME-Version: 1.0\n"
        'Content-Type: text/plain; charset="Shift_JIS"\n'
        "Content-Transfer-Encoding: base64\n"
        "X-Mailer: Becky! ver. 2.81.04 [ja]\n"
        "\n",
        b64_body(crlf(body.encode("shift_jis"))),
    )
    return Sample(
        "bcc-shift-jis.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[TANAKA],
            subject=subject,
            text_contains="\u304a\u898b\u7a4d\u66f8\u3092\u304a\u9001\u308a\u3044\u305f\u3057\u307e\u3059",
        ),
    )


def koi8_r() -> Sample:
    relay = Relay(
        "mail-lf1-f45.google.com",
        "209.85.167.45",
        "2adb3069b0e04-4fb9ae4ff3dso6172203e87.1",
        "Fri, 14 Jul 2023 02:34:58 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="ULLA-NB",
    )
    message_id = "<1284572903.20230714113456@acme-sales.example>"
    subject = (
        "\u041a\u043e\u043c\u043c\u0435\u0440\u0447\u0435\u0441\u043a\u043e\u0435 \u043f\u0440\u0435\u0434"
        "\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u043d\u0430 III \u043a\u0432\u0430\u0440\u0442\u0430"
        "\u043b"
    )
    name = "\u0418\u0432\u0430\u043d \u041f\u0435\u0442\u0440\u043e\u0432"
    body = (
        "\u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439\u0442\u0435, "
        "\u0418\u0432\u0430\u043d!\n\n"
        "\u041d\u0430\u043f\u0440\u0430\u0432\u043b\u044f\u044e \u043d\u0430\u0448\u0435 "
        "\u043a\u043e\u043c\u043c\u0435\u0440\u0447\u0435\u0441\u043a\u043e\u0435 "
        "\u043f\u0440\u0435\u0434\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u043d\u0430 III "
        "\u043a\u0432\u0430\u0440\u0442\u0430\u043b.\n"
        "\u0421\u0442\u043e\u0438\u043c\u043e\u0441\u0442\u044c \u043b\u0438\u0446\u0435\u043d\u0437\u0438"
        "\u0439 \u2014 48 500 \u0435\u0432\u0440\u043e.\n\n"
        "\u0421 \u0443\u0432\u0430\u0436\u0435\u043d\u0438\u0435\u043c,\n"
        "\u0423\u043b\u043b\u0430\n"
    )
    body = body.replace("\u2014", "-")  # KOI8-R has no em dash
    words = ew_b(subject, "koi8-r", chunk=22)
    raw = assemble(
        ses_from_google("koi8-r", relay, "Fri, 14 Jul 2023 09:34:59 +0000 (UTC)"),
        "Date: Fri, 14 Jul 2023 11:34:56 +0200\n"
        f"From: Ulla User <{ULLA}>\n"
        "X-Mailer: The Bat! (v10.4.0.1) Professional\n"
        "X-Priority: 3 (Normal)\n"
        f"Message-ID: {message_id}\n"
        f"To: {ew_b(name, 'koi8-r')[0]} <{IVAN}>\n"
        "Subject: " + "\n ".join(words) + "\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=koi8-r\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n",
        body.encode("koi8-r"),
        "\n",
    )
    return Sample(
        "bcc-koi8-r.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[IVAN],
            subject=subject,
            text_contains="\u0421\u0442\u043e\u0438\u043c\u043e\u0441\u0442\u044c "
            "\u043b\u0438\u0446\u0435\u043d\u0437\u0438\u0439",
        ),
    )


def unknown_charset() -> Sample:
    relay = Relay(
        "mail-wm1-f52.google.com",
        "209.85.128.52",
        "5b1f17b1804b1-3fbd33a57b6so9187305e9.2",
        "Tue, 18 Jul 2023 03:12:09 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="ulla-laptop.fritz.box",
    )
    message_id = "<8c1f2e3d-4a5b-6c7d-8e9f-0a1b2c3d4e5f@acme-sales.example>"
    subject = "Preisliste f\u00fcr Juli"
    body = (
        "Hallo Sam,\n\n"
        "anbei die Preisliste f\u00fcr Juli \u2013 bitte pr\u00fcfe die Staffelpreise "
        "f\u00fcr Gro\u00dfkunden bis Mittwoch.\n\n"
        "Gru\u00df\nUlla\n"
    )
    words = "".join(
        f"={b:02X}" if b >= 0x80 else ("_" if b == 0x20 else chr(b)) for b in subject.encode("utf-8")
    )
    raw = assemble(
        ses_from_google("unknown-charset", relay, "Tue, 18 Jul 2023 10:12:10 +0000 (UTC)"),
        f"Message-ID: {message_id}\n"
        "Date: Tue, 18 Jul 2023 12:12:07 +0200\n"
        "MIME-Version: 1.0\n"
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:102.0) Gecko/20100101\n"
        " Thunderbird/102.13.0\n"
        "Content-Language: de-DE\n"
        f"To: Sam Seller <{SAM}>\n"
        f"From: Ulla User <{ULLA}>\n"
        f"Subject: =?x-bogus?Q?{words}?=\n"
        'Content-Type: text/plain; charset="x-unknown-8bit"\n'
        "Content-Transfer-Encoding: 8bit\n"
        "\n",
        body.encode("utf-8"),
        "\n",
    )
    return Sample(
        "bcc-unknown-charset.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[SAM],
            subject=subject,
            text_contains="die Staffelpreise f\u00fcr Gro\u00dfkunden",
        ),
    )


def attachments() -> Sample:
    relay = Relay(
        "mail-ed1-f53.google.com",
        "209.85.208.53",
        "4fb4d7f45d1cf-51e28b299adso1276655a12.2",
        "Fri, 07 Jul 2023 00:58:44 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="[192.168.178.24]",
    )
    message_id = "<a9d1c3e5-7b2f-4d6a-8e0c-1f3b5d7a9c2e@acme-sales.example>"
    mixed = "------------8sO2x1Qm3k0vYb7Zc9nA4dF6"
    alternative = "------------Hq4Rt7Wm2Kp9Zx3Bn6Vc1Lj8"
    related = "------------Ty5Ug8Io1Pa4Sd7Fg0Hj3Kl6"
    pdf = Att("Angebot Q3 \u2013 final.pdf", "application/pdf", make_pdf())
    xlsx = Att(
        "Preisliste Q3.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        make_xlsx(),
    )
    logo = Att("logo.png", "image/png", make_png((0, 82, 155)), "inline")
    cid = "part1.Xy7Zq2Lm.Ab3Cd4Ef@acme-sales.example"
    plain = (
        "Hi Carla, hi Bob,\n\n"
        "please find attached the final offer for Q3 and the price list for the\n"
        "additional seats. The offer is valid until the end of August.\n\n"
        "Best regards,\nUlla\n"
    )
    html = (
        "<!DOCTYPE html>\n<html>\n  <head>\n\n"
        '    <meta http-equiv="content-type" content="text/html; charset=UTF-8">\n  </head>\n'
        "  <body>\n    <p>Hi Carla, hi Bob,</p>\n"
        "    <p>please find attached the final offer for Q3 and the price list for the additional\n"
        "      seats. The offer is valid until the end of August.</p>\n"
        "    <p>Best regards,<br>\n      Ulla</p>\n"
        f'    <p><img moz-do-not-send="false" src="cid:{cid}" alt="ACME" width="8" height="8"></p>\n'
        "  </body>\n</html>\n"
    )
    raw = assemble(
        ses_from_google("attachments", relay, "Fri, 07 Jul 2023 07:58:45 +0000 (UTC)"),
        f'Content-Type: multipart/mixed; boundary="{mixed}"\n'
        f"Message-ID: {message_id}\n"
        "Date: Fri, 7 Jul 2023 09:58:41 +0200\n"
        "MIME-Version: 1.0\n"
        "User-Agent: Mozilla Thunderbird\n"
        "Content-Language: en-US\n"
        f"To: Carla Customer <{CARLA}>\n"
        f"Cc: Bob Buyer <{BOB}>\n"
        f"From: Ulla User <{ULLA}>\n"
        "Subject: Q3 offer and price list\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        f"--{mixed}\n"
        f'Content-Type: multipart/alternative; boundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        "Content-Type: text/plain; charset=UTF-8; format=flowed\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{plain}\n"
        f"--{alternative}\n"
        f'Content-Type: multipart/related; boundary="{related}"\n'
        "\n"
        f"--{related}\n"
        "Content-Type: text/html; charset=UTF-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{html}\n"
        f"--{related}\n"
        'Content-Type: image/png; name="logo.png"\n'
        'Content-Disposition: inline; filename="logo.png"\n'
        f"Content-Id: <{cid}>\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64_body(logo.data, 72)}\n"
        f"--{related}--\n"
        "\n"
        f"--{alternative}--\n"
        f"--{mixed}\n"
        'Content-Type: application/pdf; name="=?UTF-8?Q?Angebot_Q3_=E2=80=93_final=2Epdf?="\n'
        "Content-Disposition: attachment;\n"
        " filename*=UTF-8''Angebot%20Q3%20%E2%80%93%20final.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64_body(pdf.data, 72)}\n"
        f"--{mixed}\n"
        f'Content-Type: {xlsx.content_type};\n name="Preisliste Q3.xlsx"\n'
        'Content-Disposition: attachment; filename="Preisliste Q3.xlsx"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64_body(xlsx.data, 72)}\n"
        f"--{mixed}--\n",
    )
    return Sample(
        "bcc-attachments.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            cc=[BOB],
            subject="Q3 offer and price list",
            text_contains="the final offer for Q3 and the price list",
            attachments=[logo, pdf, xlsx],
        ),
    )


def calendar_invite() -> Sample:
    message_id = "<calendar-0b4d2e8a-7c1f-4a3e-9d6b-2f5e8c1a7b90@google.com>"
    envelope = (
        "3xZ2mZBcKBA8oc-pdmyj-kdhmtp.fnnfqr.jwmfnwjwjsujwqzx.jcfruqj@calendar-server.bounces.google.com"
    )
    relay = Relay(
        "mail-sor-f73.google.com",
        "209.85.220.73",
        "ffacd0b85a97d-3143d9d5a8bso2211733f8f.1",
        "Thu, 06 Jul 2023 05:15:31 -0700 (PDT)",
        "reply-to:sender:message-id:date:subject:from:to:mime-version\n         "
        ":from:to:cc:subject:date:message-id:reply-to",
    )
    subject = (
        "Invitation: Q3 proposal review @ Tue Jul 11, 2023 10am - 11am (CEST) (acme@bcc.dealwire.example)"
    )
    ics = make_ics()
    invite = Att("invite.ics", "application/ics", ics)
    mixed = "000000000000c8f1a305ffd0b4e2"
    alternative = "000000000000c8f1a205ffd0b4e0"
    plain = (
        "You have been invited to the following event.\n\n"
        "Q3 proposal review\n"
        "Tuesday Jul 11, 2023 \u22c5 10am \u2013 11am\n"
        "Central European Time - Berlin\n\n"
        "Walk through the Q3 proposal and the rollout plan.\n\n"
        "Join with Google Meet\nhttps://meet.google.com/abc-defg-hij\n\n"
        "Organizer\nUlla User\nulla.user@acme-sales.example\n\n"
        "Guests\nUlla User - organizer\nCarla Customer\nBob Buyer\nacme@bcc.dealwire.example\n\n"
        "Invitation from Google Calendar: https://calendar.google.com/calendar/\n"
    )
    html = (
        '<!doctype html><html xmlns="http://www.w3.org/1999/xhtml" xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office"><head><title></title><meta http-equiv="Content-'
        'Type" content="text/html; charset=utf-8"></head><body><span itemscope itemtype="http://schema.org/'
        'InformAction"><span style="display:none" itemprop="about" itemscope itemtype="http://schema.org/'
        'Person"><meta itemprop="description" content="Invitation from Ulla User"/></span></span>'
        '<table border="0" cellpadding="0" cellspacing="0" role="presentation" style="width:100%"><tr><td>'
        '<h2 class="primary-text" itemprop="name">Q3 proposal review</h2><div>Tuesday Jul 11, 2023 '
        "\u22c5 10am \u2013 11am (Central European Time - Berlin)</div><div>Walk through the Q3 proposal "
        'and the rollout plan.</div><a href="https://meet.google.com/abc-defg-hij">Join with Google Meet'
        "</a></td></tr></table></body></html>\n"
    )
    raw = assemble(
        ses_headers(
            "calendar",
            envelope_from=envelope,
            helo=relay.helo,
            ip=relay.ip,
            received="Thu, 06 Jul 2023 12:15:32 +0000 (UTC)",
            spf_domain="calendar-server.bounces.google.com",
            dkim_domain="acme-sales.example",
            from_domain="acme-sales.example",
        ),
        google_relay("calendar", relay),
        f"Reply-To: Ulla User <{ULLA}>\n"
        "Sender: Google Calendar <calendar-notification@google.com>\n"
        f"Message-ID: {message_id}\n"
        "Date: Thu, 06 Jul 2023 12:15:31 +0000\n"
        "Subject: " + subject.replace(" (acme@", "\n (acme@") + "\n"
        f"From: Ulla User <{ULLA}>\n"
        f"To: {BCC}\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="{mixed}"\n'
        "\n"
        f"--{mixed}\n"
        f'Content-Type: multipart/alternative; boundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64_body(crlf(plain.encode('utf-8')))}"
        f"--{alternative}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{qp_body(html.encode('utf-8'))}"
        f"--{alternative}\n"
        'Content-Type: text/calendar; charset="UTF-8"; method=REQUEST\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n",
        ics,
        f"--{alternative}--\n"
        "\n"
        f"--{mixed}\n"
        'Content-Type: application/ics; name="invite.ics"\n'
        'Content-Disposition: attachment; filename="invite.ics"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64_body(ics)}"
        f"--{mixed}--\n",
    )
    return Sample(
        "bcc-calendar-invite.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[BCC],
            subject=subject,
            text_contains="You have been invited to the following event.",
            attachments=[invite],
        ),
    )


def bounce() -> Sample:
    message_id = "<64a7d91d.050a0220.6b1c2.5f3aGMR@mx.google.com>"
    forwarder = "ulla.user+caf_=acme=bcc.dealwire.example@acme-sales.example"
    relay = Relay(
        "mail-sor-f69.google.com",
        "209.85.220.69",
        "a640c23a62f3a-9926e2f6aaeso11204866b.0",
        "Fri, 07 Jul 2023 02:20:16 -0700 (PDT)",
        "in-reply-to:references:message-id:date:subject:auto-submitted:to\n"
        "         :from:x-forwarded-for:x-forwarded-to:delivered-to:x-gm-message-state\n"
        "         :from:to:cc:subject:date:message-id:reply-to",
    )
    related = "000000000000a3b4c505ffd3e1a2"
    report = "000000000000a3b4c405ffd3e1a1"
    alternative = "000000000000a3b4d105ffd3e1a3"
    icon = Att("icon.png", "image/png", make_png((219, 68, 55), 16))
    plain = (
        "\n** Address not found **\n\n"
        "Your message wasn't delivered to carol@customer-corp.example because the address couldn't be found, "
        "or is unable to receive mail.\n\n"
        "Learn more here: https://support.google.com/mail/?p=NoSuchUser\n\n"
        "The response was:\n\n"
        "550 5.1.1 <carol@customer-corp.example>: Recipient address rejected: User unknown in virtual "
        "mailbox table\n"
    )
    html = (
        '\n<html>\n<head>\n<style>\n* {\nfont-family:Roboto, "Helvetica Neue", Helvetica, Arial, sans-serif;'
        "\n}\n</style>\n</head>\n<body>\n"
        '<table cellpadding="0" cellspacing="0" class="email-wrapper" '
        'style="padding-top:32px;background-color:'
        '#ffffff;"><tbody>\n<tr><td><img height="48px" src="cid:icon.png" style="width:48px;" width="48px">'
        "</td><td><h1>Address not found</h1><p>Your message wasn't delivered to <a style='color:#212121;"
        "text-decoration:none;'><b>carol@customer-corp.example</b></a> because the address couldn't be "
        "found, "
        "or is unable to receive mail.</p></td></tr>\n</tbody></table>\n</body>\n</html>\n"
    )
    original_html = '<div dir="ltr">Hi Carol, here is the contract draft we discussed. Ulla</div>\n'
    original = (
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
        "        d=acme-sales.example; s=google; t=1688721608; x=1691313608;\n"
        "        h=to:subject:message-id:date:from:mime-version:from:to:cc:subject\n"
        "         :date:message-id:reply-to;\n"
        f"        bh={fake_b64('bounce-orig-bh', 32)};\n"
        f"        b={fold_b(fake_b64('bounce-orig-b', 256), 58, 68, '         ')}\n"
        "MIME-Version: 1.0\n"
        f"From: Ulla User <{ULLA}>\n"
        "Date: Fri, 7 Jul 2023 11:20:05 +0200\n"
        f"Message-ID: {GMAIL_BOUNCED_ID}\n"
        "Subject: Contract draft\n"
        "To: Carol Customer <carol@customer-corp.example>\n"
        'Content-Type: multipart/alternative; boundary="000000000000a1b2c305ffd3e0c7"\n'
        "\n"
        "--000000000000a1b2c305ffd3e0c7\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n"
        "Hi Carol, here is the contract draft we discussed. Ulla\n"
        "\n"
        "--000000000000a1b2c305ffd3e0c7\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        f"{original_html}\n"
        "--000000000000a1b2c305ffd3e0c7--\n"
    )
    raw = assemble(
        ses_headers(
            "bounce",
            envelope_from=forwarder,
            helo=relay.helo,
            ip=relay.ip,
            received="Fri, 07 Jul 2023 09:20:17 +0000 (UTC)",
            spf_domain="_spf.google.com",
            dkim_domain="googlemail.com",
            from_domain="googlemail.com",
        ),
        google_relay("bounce", relay),
        f"X-Forwarded-To: {BCC}\n"
        f"X-Forwarded-For: {ULLA} {BCC}\n"
        f"Delivered-To: {ULLA}\n"
        "Received: by 2002:a05:6400:4c9a:b0:2a1:7d0e:55c3 with SMTP id kh26csp1482210ecb;\n"
        "        Fri, 7 Jul 2023 02:20:15 -0700 (PDT)\n"
        "Return-Path: <>\n"
        "Received: from mail-sor-f69.google.com (mail-sor-f69.google.com. [209.85.220.69])\n"
        "        by mx.google.com with SMTPS id "
        "h12-20020a17090619cc00b0099264d15b9dsor1302918ejd.5.2023.07.07\n"
        f"        for <{ULLA}>\n"
        "        (Google Transport Security);\n"
        "        Fri, 07 Jul 2023 02:20:15 -0700 (PDT)\n"
        "Received-SPF: pass (google.com: domain of postmaster@mail-sor-f69.google.com designates "
        "209.85.220.69 "
        "as permitted sender) client-ip=209.85.220.69;\n"
        "Authentication-Results: mx.google.com;\n"
        "       dkim=pass header.i=@googlemail.com header.s=20221208 header.b=Qm7x2Lp9;\n"
        "       spf=pass (google.com: domain of postmaster@mail-sor-f69.google.com designates 209.85.220.69 "
        "as permitted sender) smtp.helo=mail-sor-f69.google.com;\n"
        "       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=googlemail.com\n"
        'Content-Type: multipart/report; boundary="' + report + '"; report-type=delivery-status\n'
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        f"To: {ULLA}\n"
        "Auto-Submitted: auto-replied\n"
        "Subject: Delivery Status Notification (Failure)\n"
        f"References: {GMAIL_BOUNCED_ID}\n"
        f"In-Reply-To: {GMAIL_BOUNCED_ID}\n"
        "X-Failed-Recipients: carol@customer-corp.example\n"
        f"Message-ID: {message_id}\n"
        "Date: Fri, 07 Jul 2023 02:20:15 -0700 (PDT)\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{report}\n"
        f'Content-Type: multipart/related; boundary="{related}"\n'
        "\n"
        f"--{related}\n"
        f'Content-Type: multipart/alternative; boundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n"
        f"{plain}\n"
        f"--{alternative}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        f"{html}\n"
        f"--{alternative}--\n"
        f"--{related}\n"
        'Content-Type: image/png; name="icon.png"\n'
        'Content-Disposition: attachment; filename="icon.png"\n'
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <icon.png>\n"
        "\n"
        f"{b64_body(icon.data)}"
        f"--{related}--\n"
        f"--{report}\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; googlemail.com\n"
        f"Received-From-MTA: dns; {ULLA}\n"
        "Arrival-Date: Fri, 07 Jul 2023 02:20:08 -0700 (PDT)\n"
        f"X-Original-Message-ID: {GMAIL_BOUNCED_ID}\n"
        "\n"
        "Final-Recipient: rfc822; carol@customer-corp.example\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mx1.customer-corp.example. (198.51.100.25, the server for the domain\n"
        " customer-corp.example.)\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <carol@customer-corp.example>: Recipient address rejected: User\n"
        " unknown in virtual mailbox table\n"
        "Last-Attempt-Date: Fri, 07 Jul 2023 02:20:15 -0700 (PDT)\n"
        "\n"
        f"--{report}\n"
        "Content-Type: message/rfc822\n"
        "\n"
        f"{original}\n"
        f"--{report}--\n",
    )
    return Sample(
        "bounce-dsn.eml",
        raw,
        facts(
            message_id=message_id,
            sender="mailer-daemon@googlemail.com",
            to=[ULLA],
            subject="Delivery Status Notification (Failure)",
            in_reply_to=GMAIL_BOUNCED_ID,
            references=[GMAIL_BOUNCED_ID],
            text_contains="Your message wasn't delivered to carol@customer-corp.example",
            attachments=[icon],
        ),
    )


def forward_attached() -> Sample:
    relay = Relay(
        "mail-ej1-f49.google.com",
        "209.85.218.49",
        "a640c23a62f3a-992dcae74e0so22119966b.3",
        "Mon, 10 Jul 2023 01:02:35 -0700 (PDT)",
        SMTP_CLIENT_H,
        submitted_from="DESKTOP-UU7K2",
    )
    message_id = "<000b01d9b2f9$1e6b2a40$5b417ec0$@acme-sales.example>"
    outer = "----=_NextPart_000_000C_01D9B309.E1F3FA40"
    inner = "----=_NextPart_001_000D_01D9B309.E1F3FA40"
    carla_boundary = "_000_DB9PR08MB6714E1A2B3C4D5E6F7A8B9C0D1E2F3A4DB9PR08MB6714eurp_"
    carla_plain = (
        "Hi Ulla,\n\n"
        "our legal team has two questions on the contract draft:\n\n"
        "1. Can the termination notice period be reduced from six to three months?\n"
        "2. Is the liability cap in clause 9.2 per incident or per contract year?\n\n"
        "Bob is in copy as he signs on our side.\n\n"
        "Kind regards,\nCarla\n"
    )
    carla_html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=us-ascii"></head><body>'
        '<div class="elementToProof" style="font-family: Aptos, Arial, sans-serif; font-size: 12pt;">Hi Ulla,'
        "<br><br>our legal team has two questions on the contract draft:<ol><li>Can the termination notice "
        "period be reduced from six to three months?</li><li>Is the liability cap in clause 9.2 per incident "
        "or per contract year?</li></ol>Bob is in copy as he signs on our side.<br><br>Kind regards,<br>Carla"
        "</div></body></html>\n"
    )
    carla = (
        f"From: Carla Customer <{CARLA}>\n"
        f"To: Ulla User <{ULLA}>\n"
        f"CC: Bob Buyer <{BOB}>\n"
        "Subject: Contract questions\n"
        "Thread-Topic: Contract questions\n"
        f"Thread-Index: {thread_index('thread-contract', 22)}\n"
        "Date: Fri, 7 Jul 2023 14:22:08 +0000\n"
        f"Message-ID: {CARLA_CONTRACT_ID}\n"
        "Accept-Language: en-US\n"
        "Content-Language: en-US\n"
        "X-MS-Has-Attach:\n"
        "X-MS-TNEF-Correlator:\n"
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{carla_boundary}"\n'
        "MIME-Version: 1.0\n"
        "\n"
        f"--{carla_boundary}\n"
        'Content-Type: text/plain; charset="us-ascii"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{qp_body(carla_plain.encode('ascii'))}\n"
        f"--{carla_boundary}\n"
        'Content-Type: text/html; charset="us-ascii"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{qp_body(carla_html.encode('ascii'))}\n"
        f"--{carla_boundary}--\n"
    )
    plain = (
        "Sam,\n\n"
        "see Carla's questions below - can you check clause 9.2 with legal before Wednesday?\n\n"
        "Ulla\n"
    )
    html = outlook_html(
        [
            "Sam,",
            "&nbsp;",
            "see Carla&#8217;s questions below - can you check clause 9.2 with legal before Wednesday?",
            "&nbsp;",
            "Ulla",
        ]
    )
    raw = assemble(
        ses_from_google("forward-attached", relay, "Mon, 10 Jul 2023 08:02:36 +0000 (UTC)"),
        f'From: "Ulla User" <{ULLA}>\n'
        "Subject: FW: Contract questions\n"
        "Date: Mon, 10 Jul 2023 10:02:33 +0200\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed;\n"
        f'\tboundary="{outer}"\n'
        "X-Mailer: Microsoft Outlook 16.0\n"
        f"Thread-Index: {thread_index('thread-fw', 22)}\n"
        "Content-Language: en-us\n"
        "\n"
        "This is a multipart message in MIME format.\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: multipart/alternative;\n"
        f'\tboundary="{inner}"\n'
        "\n"
        "\n"
        f"--{inner}\n"
        "Content-Type: text/plain;\n"
        '\tcharset="us-ascii"\n'
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{plain}\n"
        f"--{inner}\n"
        "Content-Type: text/html;\n"
        '\tcharset="us-ascii"\n'
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{qp_body(html.encode('ascii'))}\n"
        f"--{inner}--\n"
        "\n"
        f"--{outer}\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Content-Disposition: attachment\n"
        "\n"
        f"{carla}\n"
        f"--{outer}--\n"
        "\n",
    )
    result = facts(
        message_id=message_id,
        sender=ULLA,
        subject="FW: Contract questions",
        text_contains="can you check clause 9.2 with legal before Wednesday",
    )
    result["original"] = {
        "message_id": CARLA_CONTRACT_ID,
        "from": CARLA,
        "to": [ULLA],
        "cc": [BOB],
        "subject": "Contract questions",
        "text_contains": "Is the liability cap in clause 9.2 per incident",
    }
    return Sample("forward-attached-rfc822.eml", raw, result)


def html_only() -> Sample:
    relay = Relay(
        "mail-qk1-f182.google.com",
        "209.85.222.182",
        "af79cd13be357-7659d5e1ac1so341921385a.2",
        "Wed, 12 Jul 2023 06:00:04 -0700 (PDT)",
        "mime-version:message-id:subject:reply-to:from:to:date:from:to:cc\n         "
        ":subject:date:message-id:reply-to",
    )
    message_id = "<Xk9Qm2Rt7Lp4Vb8Nz1Wc6Hd3Jf5Gs0Ya@crm.acme-sales.example>"
    html = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width, '
        'initial-scale=1.0"><title>ACME Summer Webinar</title></head>\n'
        '<body style="margin:0;padding:0;background:#f4f4f4;">\n'
        '<table role="presentation" width="100%" cellspacing="0" cellpadding="0" border="0"><tr>'
        '<td align="center" style="padding:24px 0;">\n'
        '<table role="presentation" width="600" style="background:#ffffff;font-family:Arial,sans-serif;">\n'
        '<tr><td style="padding:32px;"><h1 style="color:#00529b;">Join our summer webinar</h1>\n'
        "<p>Dear Carla,</p>\n"
        "<p>On 20 July we show how teams cut their quote turnaround time in half \u2013 live, in 45 minutes."
        "</p>\n"
        '<p><a href="https://events.acme-sales.example/webinar-2023-07?utm_source=email&amp;utm_campaign='
        'summer" style="background:#00529b;color:#ffffff;padding:12px 20px;text-decoration:none;">Save my '
        "seat</a></p>\n"
        "<p>Best regards,<br>Ulla User, ACME Sales</p>\n"
        "</td></tr></table></td></tr></table>\n</body></html>\n"
    )
    raw = assemble(
        ses_from_google("html-only", relay, "Wed, 12 Jul 2023 13:00:05 +0000 (UTC)"),
        "Date: Wed, 12 Jul 2023 15:00:02 +0200\n"
        f"To: Carla Customer <{CARLA}>\n"
        f"From: Ulla User <{ULLA}>\n"
        f"Reply-To: Ulla User <{ULLA}>\n"
        "Subject: Join our summer webinar on 20 July\n"
        f"Message-ID: {message_id}\n"
        "X-Mailer: PHPMailer 6.8.0 (https://github.com/PHPMailer/PHPMailer)\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/html; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n",
        qp_body(html.encode("utf-8")),
        "\n",
    )
    return Sample(
        "bcc-html-only.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            subject="Join our summer webinar on 20 July",
            text_contains="cut their quote turnaround time in half",
        ),
    )


def thread_ids() -> list[str]:
    """40 Message-IDs of a long thread, in the shapes the participants' clients write."""
    ids = [GMAIL_ID_1, CARLA_REPLY_ID, "<000601d9af0e$5d2c3b80$17843280$@acme-sales.example>"]
    for i in range(3, 40):
        token = det(f"thread-{i}", 20)
        kind = i % 4
        if kind == 0:
            ids.append(f"<CAF3x9q{base64.urlsafe_b64encode(token).decode().rstrip('=')}@mail.gmail.com>")
        elif kind == 1:
            hexed = token.hex().upper()
            ids.append(f"<DB9PR08MB6714{hexed[:28]}@DB9PR08MB6714.eurprd08.prod.outlook.com>")
        elif kind == 2:
            h = token.hex()
            ids.append(f"<{h[:6]}01d9b{h[6:9]}${h[9:17]}${h[17:25]}$@acme-sales.example>")
        else:
            h = token.hex().upper()
            ids.append(f"<{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}@customer-corp.example>")
    return ids


def long_references() -> Sample:
    relay = Relay(
        "mail-wr1-f42.google.com",
        "209.85.221.42",
        "ffacd0b85a97d-3159da54e95so4410279f8f.3",
        "Wed, 12 Jul 2023 02:07:45 -0700 (PDT)",
        "user-agent:in-reply-to:content-disposition:mime-version:references\n"
        "         :message-id:subject:cc:to:from:date:from:to:cc:subject:date\n"
        "         :message-id:reply-to",
        submitted_from="ulla-laptop",
    )
    message_id = "<ZK5tj4xQ7bN2vR1c@acme-sales.example>"
    refs = thread_ids()
    plain = (
        "Hi Carla,\n\n"
        "On Tue, Jul 11, 2023 at 18:40:12 +0000, Carla Customer wrote:\n"
        "> So the rollout would start with the Hamburg team?\n\n"
        "Yes - Hamburg goes live in week 34, Munich follows two weeks later.\n\n"
        "Ulla\n"
    )
    raw = assemble(
        ses_from_google("long-references", relay, "Wed, 12 Jul 2023 09:07:46 +0000 (UTC)"),
        "Date: Wed, 12 Jul 2023 11:07:43 +0200\n"
        f"From: Ulla User <{ULLA}>\n"
        f"To: Carla Customer <{CARLA}>\n"
        f"Cc: Bob Buyer <{BOB}>, Sam Seller <{SAM}>\n"
        "Subject: Re: Rollout plan (was: Proposal for Q3)\n"
        f"Message-ID: {message_id}\n"
        "References: " + "\n ".join(refs) + "\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Disposition: inline\n"
        f"In-Reply-To: {refs[-1]}\n"
        "User-Agent: Mutt/2.2.10 (2023-03-25)\n"
        "\n"
        f"{plain}",
    )
    return Sample(
        "bcc-long-references.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            cc=[BOB, SAM],
            subject="Re: Rollout plan (was: Proposal for Q3)",
            in_reply_to=refs[-1],
            references=refs,
            text_contains="Hamburg goes live in week 34",
        ),
    )


def filename_traversal() -> Sample:
    relay = Relay(
        "mail-wr1-f51.google.com",
        "209.85.221.51",
        "ffacd0b85a97d-3142ee41fd2so2761883f8f.3",
        "Thu, 13 Jul 2023 04:21:37 -0700 (PDT)",
        GMAIL_WEB_H,
    )
    message_id = "<CAF3x9qUe8Pw3Lk6Rb1Zt9Mv4Xc7Hn2Qj5Ds0Ga8Yf3Wi6Ko1Bp@mail.gmail.com>"
    mixed = "000000000000f1e2d305ffdd7a90"
    alternative = "000000000000f1e2d205ffdd7a8e"
    passwd = Att(
        "../../etc/passwd",
        "text/plain",
        b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    evil = Att("evil\x00name\r\n.txt", "text/plain", b"not what it seems\n")
    plain = "Hi Sam,\n\nthe two exports from the old CRM are attached.\n\nUlla\n"
    html = '<div dir="ltr">Hi Sam,<div><br></div><div>the two exports from the old CRM are attached.</div>'
    html += "<div><br></div><div>Ulla</div></div>\n"
    raw = assemble(
        ses_from_google("traversal", relay, "Thu, 13 Jul 2023 11:21:38 +0000 (UTC)"),
        "MIME-Version: 1.0\n"
        f"From: Ulla User <{ULLA}>\n"
        "Date: Thu, 13 Jul 2023 13:21:25 +0200\n"
        f"Message-ID: {message_id}\n"
        "Subject: CRM exports\n"
        f"To: Sam Seller <{SAM}>\n"
        f'Content-Type: multipart/mixed; boundary="{mixed}"\n'
        "\n"
        f"--{mixed}\n"
        f'Content-Type: multipart/alternative; boundary="{alternative}"\n'
        "\n"
        f"--{alternative}\n"
        'Content-Type: text/plain; charset="UTF-8"\n'
        "\n"
        f"{plain}\n"
        f"--{alternative}\n"
        'Content-Type: text/html; charset="UTF-8"\n'
        "\n"
        f"{html}\n"
        f"--{alternative}--\n"
        f"--{mixed}\n"
        "Content-Type: text/plain; charset=\"US-ASCII\"; name*=UTF-8''%2E%2E%2F%2E%2E%2Fetc%2Fpasswd\n"
        "Content-Disposition: attachment; filename*=UTF-8''%2E%2E%2F%2E%2E%2Fetc%2Fpasswd\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <f_lk0x1a2b0>\n"
        "X-Attachment-Id: f_lk0x1a2b0\n"
        "\n"
        f"{b64_body(passwd.data)}"
        f"--{mixed}\n"
        'Content-Type: text/plain; charset="US-ASCII"; name="=?utf-8?q?evil=00name=0D=0A.txt?="\n'
        'Content-Disposition: attachment; filename="=?utf-8?q?evil=00name=0D=0A.txt?="\n'
        "Content-Transfer-Encoding: base64\n"
        "Content-ID: <f_lk0x1a2b1>\n"
        "X-Attachment-Id: f_lk0x1a2b1\n"
        "\n"
        f"{b64_body(evil.data)}"
        f"--{mixed}--\n",
    )
    return Sample(
        "bcc-encoded-filename-traversal.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[SAM],
            subject="CRM exports",
            text_contains="the two exports from the old CRM are attached",
            attachments=[passwd, evil],
        ),
    )


def no_subject_no_to() -> Sample:
    relay = Relay(
        "mail-wm1-f44.google.com",
        "209.85.128.44",
        "5b1f17b1804b1-3fbc1218262so60419875e9.3",
        "Wed, 12 Jul 2023 22:58:04 -0700 (PDT)",
        "user-agent:content-disposition:mime-version:message-id:date:from\n"
        "         :from:to:cc:subject:date:message-id:reply-to",
        submitted_from="ulla-laptop",
    )
    message_id = "<20230713055802.k7x3q2mzv4bh6dnc@acme-sales.example>"
    plain = (
        "Note for the account: Carla confirmed by phone that the purchase order\nwill be issued on Monday.\n"
    )
    raw = assemble(
        ses_from_google("no-subject", relay, "Thu, 13 Jul 2023 05:58:05 +0000 (UTC)"),
        "Date: Thu, 13 Jul 2023 07:58:02 +0200\n"
        f"From: Ulla User <{ULLA}>\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Disposition: inline\n"
        "User-Agent: NeoMutt/20230517\n"
        "\n"
        f"{plain}",
    )
    return Sample(
        "bcc-no-subject-no-to.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            subject=None,
            text_contains="the purchase order\nwill be issued on Monday",
        ),
    )


# --------------------------------------------------------------------------- long lines
# Real clients write lines past RFC 5322's 998 octets (or past aiosmtpd's 999 octets where the
# characters are fewer): an HTML editor's one-line body, base64 not wrapped at 76, 8-bit text
# in a script of two-byte characters. SES receives them; each line here is 500 to 2,000 octets.


def zimbra_long_html() -> Sample:
    relay = Relay(
        "mail-ej1-f53.google.com",
        "209.85.218.53",
        "a640c23a62f3a-992f15c36fcso671520166b.3",
        "Fri, 14 Jul 2023 02:10:44 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="zimbra.acme-sales.example",
    )
    message_id = "<1482736591.2731904.1689325842117.JavaMail.zimbra@acme-sales.example>"
    boundary = "=_6f2b1c8e-4d7a-4b3e-9a51-0c2d3e4f5a6b"
    plain = (
        "Hello Carla,\n\n"
        "as promised, the rollout plan: pilot with the Hamburg team in August, then the three regional "
        "offices in September, with one training day per office.\n\n"
        "Kind regards,\nUlla\n"
    )
    paragraphs = [
        "Hello Carla,",
        "as promised, the rollout plan: pilot with the Hamburg team in August, then the three regional "
        "offices in September, with one training day per office.",
        "Week 1: accounts, single sign-on and the import of the existing customer list. Week 2: the quote "
        "templates and the approval rules. Week 3: integration with the ERP for order confirmations. "
        "Week 4: go-live with a member of our team on site for the first two days.",
        "For the regional offices we repeat weeks 2 and 4 only, since the accounts and the ERP link are "
        "shared. Each office names one person who collects questions during the first month; we answer "
        "them in a weekly call on Thursday mornings.",
        "Open points on our side: the exact dates of the training days (we propose the second Tuesday of "
        "each month), the data protection addendum for the Hamburg pilot, and the export of the old "
        "quotes, which your IT colleagues asked to keep for ten years.",
        "Kind regards,<br>Ulla",
    ]
    style = 'style="font-family: arial, helvetica, sans-serif; font-size: 12pt; color: #000000"'
    html = (
        f"<html><body><div {style}>"
        + "".join(f'<div>{text}</div><div><br data-mce-bogus="1"></div>' for text in paragraphs)
        + '<div data-marker="__SIG_PRE__"><span style="color: #888888;">Ulla User | ACME Sales | '
        "+49 40 1234 5678</span></div></div></body></html>"
    )
    raw = assemble(
        ses_from_google("zimbra-long-html", relay, "Fri, 14 Jul 2023 09:10:45 +0000 (UTC)"),
        "Date: Fri, 14 Jul 2023 11:10:42 +0200 (CEST)\n"
        f"From: Ulla User <{ULLA}>\n"
        f"To: Carla Customer <{CARLA}>\n"
        f"Message-ID: {message_id}\n"
        "Subject: Rollout plan for August and September\n"
        "MIME-Version: 1.0\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\n'
        "X-Originating-IP: [198.51.100.23]\n"
        "X-Mailer: Zimbra 8.8.15_GA_4508 (ZimbraWebClient - GC114 (Win)/8.8.15_GA_4508)\n"
        "Thread-Index: 4Kq7Xm2Rt9Lp3Vb8Nz1Wc6Hd0Jf5Gs\n"
        "Thread-Topic: Rollout plan for August and September\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{plain}\n"
        f"--{boundary}\n"
        "Content-Type: text/html; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{html}\n"
        f"--{boundary}--\n",
    )
    return Sample(
        "bcc-zimbra-long-html-line.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            subject="Rollout plan for August and September",
            text_contains="pilot with the Hamburg team in August",
        ),
        max_line=2000,
    )


def nodemailer_long_base64() -> Sample:
    relay = Relay(
        "mail-pf1-f170.google.com",
        "209.85.210.170",
        "d2e1a72fcca58-682b1c5d0b8so1288442b3a.1",
        "Fri, 14 Jul 2023 03:31:09 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="quotes.acme-sales.example",
    )
    message_id = "<7d3f0c2e-5b1a-4e9c-8f6d-2a4b6c8d0e1f@acme-sales.example>"
    boundary = "--_NmP-3f9a1c7e5b2d4068-Part_1"
    pdf = make_pdf()
    # Base64 wrapped at 1,500 characters, as some quote and invoice generators write it
    # (nodemailer itself wraps at 76).
    plain = "Hello Carla,\n\nplease find our quote Q-2023-0714 for the Q3 licences attached.\n\nUlla\n"
    raw = assemble(
        ses_from_google("nodemailer-long-base64", relay, "Fri, 14 Jul 2023 10:31:10 +0000 (UTC)"),
        "Content-Type: multipart/mixed;\n"
        f' boundary="{boundary}"\n'
        f"From: Ulla User <{ULLA}>\n"
        f"To: Carla Customer <{CARLA}>\n"
        "Subject: Quote Q-2023-0714\n"
        f"Message-ID: {message_id}\n"
        "X-Mailer: AcmeQuote 3.2 (nodemailer)\n"
        "Date: Fri, 14 Jul 2023 10:31:07 +0000\n"
        "MIME-Version: 1.0\n"
        "\n"
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{plain}\n"
        f"--{boundary}\n"
        "Content-Type: application/pdf; name=Q-2023-0714.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "Content-Disposition: attachment; filename=Q-2023-0714.pdf\n"
        "\n",
        b64_body(pdf * 3, width=1500),
        f"--{boundary}--\n",
    )
    return Sample(
        "bcc-nodemailer-long-base64.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[CARLA],
            subject="Quote Q-2023-0714",
            text_contains="our quote Q-2023-0714 for the Q3 licences",
            attachments=[Att("Q-2023-0714.pdf", "application/pdf", pdf * 3)],
        ),
        max_line=2000,
    )


def japanese_long_line() -> Sample:
    relay = Relay(
        "mail-lf1-f41.google.com",
        "209.85.167.41",
        "2adb3069b0e04-4fb73ba3b5dso2817722e87.1",
        "Fri, 14 Jul 2023 04:05:31 -0700 (PDT)",
        PLAIN_CLIENT_H,
        submitted_from="[192.168.178.24]",
    )
    message_id = "<9c8b7a6f-5e4d-4c3b-a291-8f7e6d5c4b3a@acme-sales.example>"
    greeting = "\u7530\u4e2d\u69d8\n\n"  # Tanaka-sama
    sentences = [
        # "Thank you as always."
        "\u3044\u3064\u3082\u5927\u5909\u304a\u4e16\u8a71\u306b\u306a\u3063\u3066\u304a\u308a"
        "\u307e\u3059\u3002",
        # "Attached is our quote for the Q3 licences, staff training and a year of support."
        "\u7b2c\u4e09\u56db\u534a\u671f\u306e\u30e9\u30a4\u30bb\u30f3\u30b9\u63d0\u4f9b\u3001"
        "\u793e\u54e1\u7814\u4fee\u3001\u304a\u3088\u3073\u5e74\u9593\u30b5\u30dd\u30fc\u30c8"
        "\u306e\u304a\u898b\u7a4d\u3082\u308a\u3092\u304a\u9001\u308a\u3044\u305f\u3057\u307e"
        "\u3059\u3002",
        # "Please contact me if you have any questions."
        "\u3054\u4e0d\u660e\u306a\u70b9\u304c\u3054\u3056\u3044\u307e\u3057\u305f\u3089\u3001"
        "\u304a\u6c17\u8efd\u306b\u304a\u554f\u3044\u5408\u308f\u305b\u304f\u3060\u3055\u3044"
        "\u3002",
    ]
    # One paragraph on one line, as a client with flowed text off sends it: 524 characters,
    # 1,572 octets in UTF-8 (a "short" line that aiosmtpd's 999-octet limit refuses).
    line = ("".join(sentences) * 20)[:524]
    body = f"{greeting}{line}\n\nUlla User\n"
    subject = "\u7b2c\u4e09\u56db\u534a\u671f\u306e\u304a\u898b\u7a4d\u3082\u308a"
    raw = assemble(
        ses_from_google("japanese-long-line", relay, "Fri, 14 Jul 2023 11:05:32 +0000 (UTC)"),
        f"Message-ID: {message_id}\n"
        "Date: Fri, 14 Jul 2023 13:05:29 +0200\n"
        "MIME-Version: 1.0\n"
        "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101\n"
        " Thunderbird/115.0\n"
        "Content-Language: ja\n"
        f"To: {TANAKA}\n"
        f"From: Ulla User <{ULLA}>\n"
        "Subject: " + " ".join(ew_b(subject, "UTF-8")) + "\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n",
        body.encode("utf-8"),
    )
    return Sample(
        "bcc-japanese-long-8bit-line.eml",
        raw,
        facts(
            message_id=message_id,
            sender=ULLA,
            to=[TANAKA],
            subject=subject,
            text_contains=sentences[1],
        ),
        max_line=2000,
    )


BUILDERS = (
    gmail_plain,
    outlook_reply,
    apple_reply,
    iso_8859_1,
    windows_1252,
    shift_jis,
    koi8_r,
    unknown_charset,
    attachments,
    calendar_invite,
    bounce,
    forward_attached,
    html_only,
    long_references,
    filename_traversal,
    no_subject_no_to,
    zimbra_long_html,
    nodemailer_long_base64,
    japanese_long_line,
)


def build() -> list[Sample]:
    samples = [builder() for builder in BUILDERS]
    for sample in samples:
        if re.search(rb"(?<!\r)\n|\r(?!\n)", sample.raw):
            raise ValueError(f"{sample.name}: bare CR or LF")
        if any(len(line) > sample.max_line for line in sample.raw.split(b"\r\n")):
            raise ValueError(f"{sample.name}: line longer than {sample.max_line} octets")
    return samples


def expected_json(samples: list[Sample]) -> str:
    return json.dumps({s.name: s.facts for s in samples}, ensure_ascii=False, indent=2) + "\n"


# --------------------------------------------------------------------------- --check


def addresses(msg: EmailMessage, name: str) -> list[str]:
    header = msg[name]
    if header is None:
        return []
    return [a.addr_spec.lower() for a in header.addresses]


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        raise ValueError("no body")
    try:
        text = part.get_content()
    except LookupError:  # unknown charset: fall back to UTF-8, which is what the bytes are
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        text = payload.decode("utf-8")
    assert isinstance(text, str)
    return text.replace("\r\n", "\n")


def found_attachments(msg: EmailMessage) -> list[dict[str, Any]]:
    """Every leaf part with a file name, outside embedded messages, in document order."""
    found: list[dict[str, Any]] = []
    stack: list[EmailMessage] = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_maintype() == "message":
            continue
        if part.is_multipart():
            stack[0:0] = list(part.iter_parts())  # type: ignore[arg-type]
            continue
        filename = part.get_filename()
        if filename is None:
            continue
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        found.append(
            {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "disposition": part.get_content_disposition(),
            }
        )
    return found


def check_one(raw: bytes, fact: dict[str, Any]) -> list[str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    problems: list[str] = []

    def same(what: str, got: object, want: object) -> None:
        if got != want:
            problems.append(f"{what}: got {got!r}, want {want!r}")

    same("message_id", str(msg["Message-ID"]).strip(), fact["message_id"])
    in_reply_to = msg["In-Reply-To"]
    same("in_reply_to", None if in_reply_to is None else str(in_reply_to).strip(), fact["in_reply_to"])
    references = msg["References"]
    same("references", [] if references is None else str(references).split(), fact["references"])
    same("from", addresses(msg, "From"), [fact["from"]])
    same("to", addresses(msg, "To"), fact["to"])
    same("cc", addresses(msg, "Cc"), fact["cc"])
    subject = msg["Subject"]
    same("subject", None if subject is None else str(subject), fact["subject"])
    if fact["text_contains"] not in body_text(msg):
        problems.append(f"text_contains: {fact['text_contains']!r} not in the body")
    same("attachments", found_attachments(msg), fact["attachments"])
    if "original" in fact:
        want = fact["original"]
        inner = next(p for p in msg.walk() if p.get_content_type() == "message/rfc822")
        original = inner.get_content()
        assert isinstance(original, EmailMessage)
        same("original.message_id", str(original["Message-ID"]).strip(), want["message_id"])
        same("original.from", addresses(original, "From"), [want["from"]])
        same("original.to", addresses(original, "To"), want["to"])
        same("original.cc", addresses(original, "Cc"), want["cc"])
        same("original.subject", str(original["Subject"]), want["subject"])
        if want["text_contains"] not in body_text(original):
            problems.append("original.text_contains not in the forwarded body")
    if msg.defects:
        problems.append(f"defects: {msg.defects!r}")
    return problems


def check(samples: list[Sample]) -> int:
    failures = 0
    expected = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    if (HERE / "expected.json").read_text(encoding="utf-8") != expected_json(samples):
        sys.stdout.write("expected.json differs from a fresh build; rerun make_corpus.py\n")
        failures += 1
    for sample in samples:
        path = HERE / sample.name
        raw = path.read_bytes()
        if raw != sample.raw:
            sys.stdout.write(f"{sample.name}: differs from a fresh build; rerun make_corpus.py\n")
            failures += 1
        problems = check_one(raw, expected[sample.name])
        for problem in problems:
            sys.stdout.write(f"{sample.name}: {problem}\n")
        failures += bool(problems)
        if not problems:
            sys.stdout.write(f"{sample.name}: ok\n")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="verify the files on disk instead of writing")
    args = parser.parse_args(argv)
    samples = build()
    if args.check:
        return check(samples)
    for sample in samples:
        (HERE / sample.name).write_bytes(sample.raw)
    (HERE / "expected.json").write_text(expected_json(samples), encoding="utf-8", newline="\n")
    sys.stdout.write(f"wrote {len(samples)} messages and expected.json to {HERE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
