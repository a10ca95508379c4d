from __future__ import annotations

import base64
import hashlib
import hmac

from dealwire.webhook.signature import sign, signature_headers, verify
from tests.support import HMAC_KEY, OTHER_KEY

BODY = b'{"event":"envelope-sent","data":{"envelopeId":"e-1"}}'


def test_sign_is_base64_hmac_sha256_with_the_key_as_utf8_not_base64_decoded() -> None:
    expected = base64.b64encode(hmac.new(HMAC_KEY.encode(), BODY, hashlib.sha256).digest()).decode()
    assert sign(BODY, HMAC_KEY) == expected


def test_headers_are_found_whatever_their_case_and_in_number_order() -> None:
    headers = {"X-DocuSign-Signature-2": "b", "x-docusign-signature-1": "a", "X-DOCUSIGN-SIGNATURE-10": "c"}
    assert signature_headers(headers) == ["a", "b", "c"]


def test_a_matching_signature_is_accepted() -> None:
    assert verify(BODY, {"x-docusign-signature-1": sign(BODY, HMAC_KEY)}, [HMAC_KEY]).valid


def test_any_header_may_match_any_key_during_rotation() -> None:
    # DocuSign sends one header per active key; dealwire may hold the old and new key.
    headers = {
        "x-docusign-signature-1": sign(BODY, "retired-key-not-configured-anymore-xxxxxxxx="),
        "x-docusign-signature-2": sign(BODY, OTHER_KEY),
    }
    assert verify(BODY, headers, [HMAC_KEY, OTHER_KEY]).valid
    assert not verify(BODY, headers, [HMAC_KEY]).valid


def test_a_tampered_body_is_refused() -> None:
    headers = {"x-docusign-signature-1": sign(BODY, HMAC_KEY)}
    verdict = verify(BODY.replace(b"sent", b"void"), headers, [HMAC_KEY])
    assert not verdict.valid
    assert "1 configured key" in verdict.problem


def test_no_key_configured_refuses_everything() -> None:
    verdict = verify(BODY, {"x-docusign-signature-1": sign(BODY, HMAC_KEY)}, [])
    assert not verdict.valid
    assert "no HMAC key" in verdict.problem


def test_no_signature_header_is_refused_with_a_hint() -> None:
    verdict = verify(BODY, {"content-type": "application/json"}, [HMAC_KEY])
    assert not verdict.valid
    assert "HMAC enabled" in verdict.problem


def test_a_key_that_lost_its_trailing_equals_sign_is_refused_and_diagnosed() -> None:
    truncated = HMAC_KEY.rstrip("=")
    verdict = verify(BODY, {"x-docusign-signature-1": sign(BODY, HMAC_KEY)}, [truncated])
    assert not verdict.valid  # fail closed even when we can tell what went wrong
    assert "trailing '='" in verdict.problem
    assert HMAC_KEY not in verdict.problem
    assert truncated not in verdict.problem


def test_a_short_key_that_does_not_match_even_padded_is_called_out() -> None:
    verdict = verify(BODY, {"x-docusign-signature-1": sign(BODY, HMAC_KEY)}, ["short"])
    assert "44 characters" in verdict.problem


def test_garbage_in_a_signature_header_does_not_raise() -> None:
    assert not verify(BODY, {"x-docusign-signature-1": "héllo\u2603"}, [HMAC_KEY]).valid
