"""The benches' set-up: the template's stack in moto, the test tenant connected to DocuSign."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from infra.local.offline import go_offline

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography.hazmat.primitives.asymmetric import rsa


@contextmanager
def connected_stack(function: str) -> Iterator[tuple[dict[str, str], rsa.RSAPrivateKey]]:
    """Inside moto (patched as `make run` has it): every resource of template.yaml, the
    integration's secret for a new key pair, and the test tenant connected as its user.
    Gives ``function``'s environment and the integration's private key."""
    go_offline()
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"})
    import moto

    import tests.conftest  # noqa: F401 - the functions' settings, as in the tests
    from tests.conftest import TEST_STACK

    with moto.mock_aws():
        from cryptography.hazmat.primitives.asymmetric import rsa

        from infra.local import moto_dynamodb
        from infra.local.resources import create_resources, seed_tenant
        from tests.docusign_support import USER_ID, put_app_secret
        from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID

        moto_dynamodb.install()
        try:
            create_resources(TEST_STACK)
            env = TEST_STACK.function_environment(function)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            put_app_secret(env["DEALWIRE_DOCUSIGN_APP_SECRET"], key)
            seed_tenant(
                TEST_STACK, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID
            )
            yield env, key
        finally:
            moto_dynamodb.uninstall()
