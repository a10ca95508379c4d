"""The suite's log watch (tests/log_secrets.py) sees what it must: if it saw nothing, every
test would pass whatever dealwire logged."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING

from dealwire.observability import logger
from dealwire.webhook import signature
from tests import log_secrets
from tests.mail_support import bcc_mail
from tests.support import HMAC_KEY

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def watched() -> Iterator[list[str]]:
    """What the watch finds inside the block, taken away after it so the test does not fail."""
    found: list[str] = []
    try:
        yield found
    finally:
        found.extend(log_secrets.LEAKS)
        log_secrets.LEAKS.clear()


def test_a_signature_made_in_the_suite_is_found_in_a_log_line_however_it_is_written() -> None:
    planted = signature.sign(b'{"event": "envelope-sent"}', HMAC_KEY)
    with watched() as leaks:
        logger.info("callback refused", extra={"header": f"sha={planted}"})
        logger.info(json.dumps({"nested": [planted]}))
        logging.getLogger("botocore").warning("raw %s", planted)
    assert len(leaks) == 3
    assert all("a planted secret of 44 characters" in leak for leak in leaks)


def test_the_key_itself_a_private_key_a_jwt_and_a_mail_body_are_found() -> None:
    signature.sign(b"x", HMAC_KEY)
    bcc_mail(body="Dear Carla, the quarterly numbers are attached for review.\n")
    with watched() as leaks:
        logger.info("keys", extra={"keys": [HMAC_KEY]})
        logger.info("-----BEGIN PRIVATE KEY-----\nMIIE...")
        logger.info("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1bGxhIn0.c2lnbmF0dXJl")
        logger.info("body", extra={"text": "Dear Carla, the quarterly numbers are attached for review."})
    assert [leak.rsplit(" logged ", 1)[1].split(":")[0] for leak in leaks] == [
        "a planted secret of 44 characters",
        "a private key",
        "a JWT",
        "a mail body's line",
    ]


def test_an_ordinary_line_and_the_test_doubles_own_lines_are_not_leaks() -> None:
    record = logging.LogRecord(
        "sim", logging.INFO, str(log_secrets.ROOT / "infra" / "x.py"), 1, HMAC_KEY, None, None
    )
    signature.sign(b"x", HMAC_KEY)
    with watched() as leaks:
        logger.info("envelope recorded", extra={"envelope_id": "4f1c2a8e-93b4-4d7e-9a51-0c6f2d8e7b13"})
        log_secrets.look_at(record)
    assert leaks == []
