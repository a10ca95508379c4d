"""The local stack's JWT issuer and API Gateway's JWT authorizer, as the gateway plays them.

`make run` signs dev tokens with an RSA key it keeps in ``.dealwire/`` (so a token
survives a restart as long as the issuer URL does), serves its JWKS at
``/.well-known/jwks.json``, and checks every request to a route the template protects
the way API Gateway's JWT authorizer does: RSA signatures only (RS256, RS384, RS512), a
key of the JWKS by ``kid``, ``iss`` equal to the issuer, ``aud`` (or, only when there is
no ``aud``, ``client_id``) naming the audience, ``exp`` and ``nbf`` honoured; anything
else is its bare 401, with why in ``WWW-Authenticate``, and the function never runs.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from pathlib import Path

KEY_ID: Final = "dealwire-local-1"
JWKS_PATH: Final = "/.well-known/jwks.json"
DEFAULT_TTL_SECONDS: Final = 12 * 3600
# API Gateway: "only RSA-based algorithms are supported". Never "none", never HMAC (whose
# secret would be the public key anyone can fetch).
RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512")


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    """The issuer's key: the one kept at ``path``, or a new one written there."""
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(loaded, rsa.RSAPrivateKey):
            return loaded
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Issuer:
    """Signs tokens as the CRM's identity provider would."""

    url: str
    audience: str
    key: rsa.RSAPrivateKey

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": KEY_ID,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }

    def token(
        self,
        *,
        user: str,
        tenant: str,
        role: str | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        **claims: object,
    ) -> str:
        """``role``: the ``dealwire:role`` claim (``admin`` may connect the tenant to DocuSign)."""
        now = int(time.time())
        if role:
            claims["dealwire:role"] = role
        payload = {
            "iss": self.url,
            "aud": self.audience,
            "sub": user,
            "dealwire:tenant": tenant,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            **claims,
        }
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": KEY_ID})


class Unauthorized(Exception):
    """What API Gateway answers with 401 {"message":"Unauthorized"}; why goes in WWW-Authenticate."""

    def www_authenticate(self) -> str:
        """The header API Gateway sends with the 401, naming why (quotes and line breaks removed)."""
        why = " ".join(str(self).replace('"', "'").split())[:200]
        return f'Bearer scope="" error="invalid_token" error_description="{why}"'


@dataclass(frozen=True)
class JwtAuthorizer:
    """API Gateway HTTP API's JWT authorizer over one issuer's JWKS."""

    issuer: str
    audiences: tuple[str, ...]
    jwks: dict[str, Any]

    def claims(self, authorization: str | None) -> dict[str, str]:
        """The verified token's claims as API Gateway passes them on (every value a string)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("no bearer token in Authorization")
        token = authorization[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"unreadable token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm not in RSA_ALGORITHMS:
            raise Unauthorized(f"the token's algorithm {algorithm!r} is not accepted")
        key = next((k for k in self.jwks.get("keys", []) if k.get("kid") == header.get("kid")), None)
        if key is None:
            raise Unauthorized(f"no key {header.get('kid')!r} in the issuer's JWKS")
        try:
            verified: dict[str, Any] = jwt.decode(
                token,
                jwt.PyJWK(key).key,
                algorithms=[algorithm],
                issuer=self.issuer,
                options={"require": ["exp", "iss"], "verify_aud": False},
                leeway=0,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token refused: {exc}") from exc
        audience = verified.get("aud", verified.get("client_id"))
        named = audience if isinstance(audience, list) else [audience]
        if not any(value in self.audiences for value in named):
            raise Unauthorized("the token does not have a valid audience")
        return {name: _as_claim(value) for name, value in verified.items()}


def _as_claim(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """API Gateway hands claims on as strings; a list becomes "[a b]"."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(str(item) for item in value) + "]"
    return json.dumps(value) if isinstance(value, dict) else str(value)
