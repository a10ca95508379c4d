"""Small parts packed in one object, served through the API's signed links; large ones stay their own."""

from __future__ import annotations

import hashlib
import os
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3

from dealwire.api.part_links import PartLink
from dealwire.store.archive import PACKED_PART_BYTES
from tests.integration.api_support import API_DOMAIN, ULLA, api, follow
from tests.mail_support import (
    CARLA,
    USER_EMAIL,
    ingest,
    mail_bucket,
    put_raw,
    seed_crm,
    ses_event,
    thread_and_messages,
)

if TYPE_CHECKING:
    import pytest

    from infra.local.template import Stack

SMALL = os.urandom(3000)
LARGE = os.urandom(PACKED_PART_BYTES + 1)


def _mail() -> bytes:
    message = EmailMessage()
    message["From"] = f"Ulla User <{USER_EMAIL}>"
    message["To"] = f"Carla Customer <{CARLA}>"
    message["Subject"] = "Two attachments"
    message["Message-ID"] = "<two-attachments@acme-sales.example>"
    message.set_content("Hi Carla,\n\nboth attached.\n")
    message.add_attachment(SMALL, maintype="application", subtype="pdf", filename="Angebot für Carla.pdf")
    message.add_attachment(LARGE, maintype="image", subtype="png", filename="plan.png")
    return message.as_bytes().replace(b"\n", b"\r\n")


def _thread(aws: Stack) -> tuple[str, dict[str, Any]]:
    seed_crm(aws, sharing="shared")
    put_raw(aws, "m1", _mail())
    thread_id = str(ingest(ses_event("m1"))["outcomes"][0]["threadId"])
    status, page = api("GET", f"/v1/threads/{thread_id}", claims=ULLA)
    assert status == 200
    (message,) = page["messages"]
    return thread_id, {part["filename"] or part["role"]: part for part in message["parts"]}


def test_small_parts_share_one_object_and_a_large_one_has_its_own(aws: Stack) -> None:
    thread_id, _ = _thread(aws)
    _, (message,) = thread_and_messages(aws, thread_id)
    text, small, large = message["parts"]
    assert text["packed"]
    assert small["packed"]
    assert text["key"] == small["key"]
    assert text["key"].endswith("/parts/pack-000")
    assert small["offset"] == text["size"]
    assert "packed" not in large
    assert large["key"].endswith("-plan.png")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=mail_bucket(aws))["Contents"]]
    assert sorted(k for k in keys if "/parts/" in k) == sorted({text["key"], large["key"]})


def test_a_packed_attachment_downloads_through_its_link_as_it_was_sent(aws: Stack) -> None:
    _, parts = _thread(aws)
    small = parts["Angebot für Carla.pdf"]
    assert small["url"].startswith(f"https://{API_DOMAIN}/v1/mail/parts?")
    status, headers, data = follow(small["url"])
    assert status == 200
    assert data == SMALL
    assert hashlib.sha256(data).hexdigest() == small["sha256"]
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"] == (
        "attachment; filename=\"Angebot f_r Carla.pdf\"; filename*=UTF-8''Angebot%20f%C3%BCr%20Carla.pdf"
    )
    status, headers, text = follow(parts["text"]["url"])
    assert (status, text) == (200, b"Hi Carla,\r\n\r\nboth attached.\r\n")
    # What a stranger mailed is a download, never a page of the API's origin.
    assert headers["content-disposition"] == "attachment"
    assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert headers["x-content-type-options"] == "nosniff"


def test_a_large_attachment_keeps_its_presigned_s3_link(aws: Stack) -> None:
    _, parts = _thread(aws)
    large = parts["plan.png"]
    assert urlsplit(large["url"]).hostname == f"{mail_bucket(aws)}.s3.amazonaws.com"
    status, _, data = follow(large["url"])
    assert (status, data) == (200, LARGE)


def _changed(url: str, **fields: str) -> str:
    link = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(link.query).items()}
    return f"{link.scheme}://{link.netloc}{link.path}?{urlencode({**query, **fields})}"


def test_a_changed_link_is_refused(aws: Stack) -> None:
    _, parts = _thread(aws)
    url = parts["Angebot für Carla.pdf"]["url"]
    for change in (
        {"offset": "0"},
        {"size": "3001"},
        {"type": "text/html"},
        {"name": "x.exe"},
        {"signature": "A" * 43},
    ):
        status, _, body = follow(_changed(url, **change))
        assert status == 403, change
        assert b'"bad_link"' in body
    status, _, body = follow(_changed(url, expires=str(int(time.time()) + 86400)))
    assert status == 403
    assert b'"bad_link"' in body


def test_an_expired_link_is_refused_and_a_missing_part_is_404(aws: Stack) -> None:
    from api.app import part_links

    _, parts = _thread(aws)
    query = {name: values[0] for name, values in parse_qs(urlsplit(parts["text"]["url"]).query).items()}
    link = PartLink(
        query["key"], int(query["offset"]), int(query["size"]), query["type"], None, int(time.time()) - 1
    )
    status, _, body = follow(part_links().url(f"https://{API_DOMAIN}", link))
    assert status == 403
    assert b'"link_expired"' in body
    boto3.client("s3").delete_object(Bucket=mail_bucket(aws), Key=query["key"])
    status, _, body = follow(parts["text"]["url"])
    assert status == 404
    assert b"no longer stored" in body


def test_a_link_to_anything_but_a_pack_is_refused_even_if_signed(aws: Stack) -> None:
    from api.app import part_links

    _thread(aws)
    link = PartLink("inbound/m1", 0, 10, "text/plain", None, int(time.time()) + 60)
    status, _, body = follow(part_links().url(f"https://{API_DOMAIN}", link))
    assert status == 403
    assert b"does not name a mail part" in body


def test_behind_a_custom_domain_with_a_base_path_the_links_use_the_configured_root(
    aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dealwire.settings import api_settings

    monkeypatch.setenv("DEALWIRE_PUBLIC_BASE_URL", "https://crm.example.com/dealwire/")
    api_settings.cache_clear()
    try:
        _, parts = _thread(aws)
    finally:
        monkeypatch.undo()
        api_settings.cache_clear()
    assert parts["text"]["url"].startswith("https://crm.example.com/dealwire/v1/mail/parts?")
