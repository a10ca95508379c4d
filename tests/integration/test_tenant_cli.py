"""The operator's CLI (python -m dealwire.tools.tenant) against moto and the simulator."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from dealwire.store import tenants
from dealwire.tools.tenant import EXIT_CONSENT, EXIT_REFUSED, EXIT_USAGE, main
from tests.docusign_support import USER_ID
from tests.integration.test_integrations import connecting, secret
from tests.support import ACCOUNT_ID, TENANT_ID

if TYPE_CHECKING:
    from infra.local.gateway import Gateway
    from infra.local.template import Stack
    from tests.integration.test_integrations import Connecting

__all__ = ["connecting"]  # a fixture, used by name below


@pytest.fixture
def environ(aws: Stack, gateway: Gateway, connecting: Connecting) -> dict[str, str]:
    """The integrations function's settings, as an operator exports them, against the simulator."""
    return {
        **aws.function_environment("IntegrationsFunction"),
        "DEALWIRE_DOCUSIGN_AUTH_HOST": connecting.sim.url,
        "DEALWIRE_WEBHOOK_BASE_URL": gateway.url,
    }


def run(environ: dict[str, str], capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()  # what the functions logged before (Powertools logs to stdout)
    code = main([*argv, "--tenant", TENANT_ID], environ)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_connect_status_rotate_and_disconnect(
    connecting: Connecting, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, health, _ = run(environ, capsys, "connect", "--user-id", USER_ID)
    assert code == 0
    assert (health["state"], health["accountId"]) == ("connected", ACCOUNT_ID)
    assert len(connecting.control.configurations()) == 1
    code, health, _ = run(environ, capsys, "status")
    assert (code, health["connectConfigurationId"]) == (0, secret(connecting.stack)["connectConfigurationId"])

    code, started, _ = run(environ, capsys, "rotate-key")
    assert code == 0
    code, _, err = run(environ, capsys, "rotate-key", "--finish")
    assert code == EXIT_REFUSED
    assert "not_verified" in err
    tenants.reset()  # the webhook's next container reads the new key
    from webhook_docusign import app as webhook

    webhook.receiver.cache_clear()
    connecting.send_envelope()
    code, finished, _ = run(environ, capsys, "rotate-key", "--finish")
    assert (code, finished) == (0, {"finished": True, "keyId": started["newKeyId"]})
    assert [key["keyId"] for key in connecting.control.hmac_keys()] == [started["newKeyId"]]
    code, _, err = run(environ, capsys, "rotate-key", "--finish")
    assert (code, "no_rotation" in err) == (EXIT_REFUSED, True)

    code, done, _ = run(environ, capsys, "disconnect")
    assert (code, done["configurationDeleted"], done["keysDeleted"]) == (0, True, 1)
    assert connecting.control.configurations() == []


def test_connect_without_consent_prints_the_consent_url(
    connecting: Connecting, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    connecting.control.set_consent(granted=False)
    code, answer, err = run(environ, capsys, "connect", "--user-id", USER_ID)
    assert code == EXIT_CONSENT
    assert "/oauth/auth?" in answer["consentUrl"]
    assert "consent_required" in err


def test_missing_settings_are_named(environ: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    without_table = {k: v for k, v in environ.items() if k != "DEALWIRE_TABLE_NAME"}
    code, _, err = run(without_table, capsys, "status")
    assert (code, "DEALWIRE_TABLE_NAME" in err) == (EXIT_USAGE, True)
    code, _, err = run({**environ, "DEALWIRE_WEBHOOK_BASE_URL": ""}, capsys, "status")
    assert (code, "DEALWIRE_WEBHOOK_BASE_URL" in err) == (EXIT_USAGE, True)
