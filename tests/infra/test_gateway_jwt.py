"""The local gateway's JWT authorizer refuses what API Gateway's refuses, before any function runs."""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.local.gateway import Gateway
from infra.local.jwt_issuer import JWKS_PATH, KEY_ID, Issuer, JwtAuthorizer

if TYPE_CHECKING:
    from collections.abc import Iterator

ISSUER = "http://127.0.0.1:3000"
AUDIENCE = "dealwire"


class Recording:
    """A function that answers 200 and remembers what it was invoked with."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return {"statusCode": 200, "body": "{}"}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer(ISSUER, AUDIENCE, rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
def function() -> Recording:
    return Recording()


@pytest.fixture
def gateway(issuer: Issuer, function: Recording) -> Iterator[Gateway]:
    served = Gateway(
        [
            ("GET", "/v1/envelopes/{envelope_id}", "ApiFunction", "CrmJwt"),
            ("POST", "/webhooks/docusign", "Hook", None),
        ],
        {"ApiFunction": function, "Hook": function},
        0,
        authorizer=JwtAuthorizer(ISSUER, (AUDIENCE,), issuer.jwks()),
        pages={JWKS_PATH: lambda: (200, "application/json", json.dumps(issuer.jwks()).encode(), ())},
    )
    served.start()
    yield served
    served.close()


def get(gateway: Gateway, token: str | None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return httpx.get(f"{gateway.url}/v1/envelopes/e-1", headers=headers, timeout=5, trust_env=False)


def test_a_valid_token_reaches_the_function_with_its_claims(
    gateway: Gateway, issuer: Issuer, function: Recording
) -> None:
    answer = get(gateway, issuer.token(user="user-1", tenant="acme", scope="read write"))
    assert answer.status_code == 200
    (event,) = function.events
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == "user-1"
    assert jwt_context["claims"]["dealwire:tenant"] == "acme"
    assert all(
        isinstance(value, str) for value in jwt_context["claims"].values()
    )  # as API Gateway passes them
    assert jwt_context["scopes"] == ["read", "write"]


def _signed(payload: dict[str, Any], key: Any, algorithm: str = "RS256", kid: str | None = KEY_ID) -> str:
    headers = {"kid": kid} if kid else {}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "dealwire:tenant": "acme",
        "iat": now,
        "exp": now + 600,
    } | changes


def _alg_none(payload: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': KEY_ID})}.{part(payload)}."


def _hs256_with_the_public_key(issuer: Issuer) -> str:
    """The key-confusion attack: the public key, which anyone has, as an HMAC secret."""
    public = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": KEY_ID}
    signing = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in (header, _claims())
    )
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(public, signing.encode(), hashlib.sha256).digest()).decode()
    return f"{signing}.{signature.rstrip('=')}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda issuer: _signed(_claims(exp=int(time.time()) - 5), issuer.key), id="expired"),
        pytest.param(
            lambda issuer: _signed(_claims(nbf=int(time.time()) + 600), issuer.key), id="not-yet-valid"
        ),
        pytest.param(lambda issuer: _signed(_claims(aud="someone-else"), issuer.key), id="wrong-audience"),
        pytest.param(
            lambda issuer: _signed(_claims(iss="https://evil.example"), issuer.key), id="wrong-issuer"
        ),
        pytest.param(
            lambda issuer: _signed(_claims(), rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="forged-by-another-key",
        ),
        pytest.param(lambda issuer: _signed(_claims(), issuer.key, kid="other-key"), id="unknown-kid"),
        pytest.param(lambda issuer: _alg_none(_claims()), id="alg-none"),
        pytest.param(_hs256_with_the_public_key, id="hs256-with-the-public-key"),
        pytest.param(lambda issuer: "not.a.token", id="garbage"),
        pytest.param(
            lambda issuer: _signed({k: v for k, v in _claims().items() if k != "exp"}, issuer.key),
            id="no-exp",
        ),
    ],
)
def test_a_bad_token_is_401_and_the_function_never_runs(
    gateway: Gateway, issuer: Issuer, function: Recording, forge: Any
) -> None:
    answer = get(gateway, forge(issuer))
    assert (answer.status_code, answer.json()) == (401, {"message": "Unauthorized"})
    assert answer.headers["WWW-Authenticate"].startswith(
        'Bearer scope="" error="invalid_token" error_description="'
    )
    assert function.events == []


def test_the_401_says_why_as_api_gateway_does(gateway: Gateway, issuer: Issuer) -> None:
    answer = get(gateway, _signed(_claims(aud="someone-else"), issuer.key))
    assert answer.headers["WWW-Authenticate"] == (
        'Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience"'
    )


@pytest.mark.parametrize("algorithm", ["RS384", "RS512"])
def test_every_rsa_signature_is_accepted(
    gateway: Gateway, issuer: Issuer, function: Recording, algorithm: str
) -> None:
    assert get(gateway, _signed(_claims(), issuer.key, algorithm=algorithm)).status_code == 200
    assert len(function.events) == 1


def test_client_id_names_the_audience_only_when_there_is_no_aud(gateway: Gateway, issuer: Issuer) -> None:
    without_aud = {k: v for k, v in _claims(client_id=AUDIENCE).items() if k != "aud"}
    assert get(gateway, _signed(without_aud, issuer.key)).status_code == 200
    assert (
        get(gateway, _signed(_claims(aud="someone-else", client_id=AUDIENCE), issuer.key)).status_code == 401
    )


def test_no_token_or_another_scheme_is_401(gateway: Gateway, issuer: Issuer, function: Recording) -> None:
    assert get(gateway, None).status_code == 401
    assert get(gateway, issuer.token(user="u", tenant="t"), scheme="Basic").status_code == 401
    assert function.events == []


def test_open_routes_and_the_jwks_need_no_token(
    gateway: Gateway, issuer: Issuer, function: Recording
) -> None:
    assert (
        httpx.post(f"{gateway.url}/webhooks/docusign", content=b"{}", timeout=5, trust_env=False).status_code
        == 200
    )
    keys = httpx.get(f"{gateway.url}{JWKS_PATH}", timeout=5, trust_env=False).json()["keys"]
    assert [(k["kid"], k["alg"], k["kty"]) for k in keys] == [(KEY_ID, "RS256", "RSA")]
    # What the JWKS says verifies the issuer's tokens: a consumer can rely on it alone.
    verified = jwt.decode(
        issuer.token(user="u", tenant="t"), jwt.PyJWK(keys[0]).key, algorithms=["RS256"], audience=AUDIENCE
    )
    assert verified["sub"] == "u"


def test_a_guarded_route_with_no_authorizer_set_up_fails_closed(function: Recording) -> None:
    served = Gateway([("GET", "/v1/x", "ApiFunction", "CrmJwt")], {"ApiFunction": function}, 0)
    served.start()
    try:
        assert httpx.get(f"{served.url}/v1/x", timeout=5, trust_env=False).status_code == 401
    finally:
        served.close()
    assert function.events == []
