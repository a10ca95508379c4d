"""The DocuSign simulator as the tests start it: one integration, one user, one account."""

from __future__ import annotations

import json
import socket
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.docusign_sim import Simulator, SimulatorControl
from tests.support import ACCOUNT_ID

if TYPE_CHECKING:
    from collections.abc import Iterator

INTEGRATION_KEY = "0b5e7a1c-22d4-4e9f-9a3b-5c6d7e8f9a0b"
USER_ID = "4e2d8f1a-7b3c-4d5e-9a6b-2c1d0e9f8a7b"


def new_private_key() -> rsa.RSAPrivateKey:
    """The integration's RSA key (its JWT grant signs with it)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def closed_port_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/webhooks/docusign"


@contextmanager
def simulator(key: rsa.RSAPrivateKey, **options: Any) -> Iterator[Simulator]:
    """A started simulator that trusts ``key``; ``options`` as ``Simulator`` takes them."""
    with Simulator(
        account_id=ACCOUNT_ID,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
        public_key_pem=public_pem(key),
        **options,
    ) as started:
        yield started


def put_app_secret(secret_name: str, key: rsa.RSAPrivateKey) -> None:
    """dealwire's DocuSign integration secret (integration key and private key), created or replaced."""
    import boto3

    client = boto3.client("secretsmanager")
    value = json.dumps({"integrationKey": INTEGRATION_KEY, "privateKey": private_pem(key)})
    try:
        client.create_secret(Name=secret_name, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret_name, SecretString=value)


def envelopes_of_deal(control: SimulatorControl, deal_id: str) -> list[dict[str, Any]]:
    """The simulator's envelopes whose ``dealwire_deal_id`` custom field names the deal, oldest first."""

    def deal_of(envelope: dict[str, Any]) -> str | None:
        fields = envelope.get("customFields", {}).get("textCustomFields", [])
        return next((f["value"] for f in fields if f["name"] == "dealwire_deal_id"), None)

    return [e for e in control.envelopes() if deal_of(e) == deal_id]
