from __future__ import annotations

import json

import pytest

from dealwire.settings import SettingsError, StreamPublisherSettings, WebhookSettings, load_settings
from dealwire.store.tenants import REFRESH_SECONDS, TenantConfigError, TenantDirectory

GOOD = {
    "POWERTOOLS_METRICS_NAMESPACE": "dealwire",
    "DEALWIRE_TABLE_NAME": "table",
    "DEALWIRE_DOCUMENTS_BUCKET": "bucket",
    "DEALWIRE_TENANT_SECRET_PREFIX": "dealwire/test/tenants/",
    "DEALWIRE_DEFAULT_TENANT_ID": "default",
}


def test_settings_validate_from_the_environment() -> None:
    settings = load_settings(WebhookSettings, GOOD)
    assert settings.table_name == "table"
    assert settings.max_body_bytes == 5_000_000


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DEALWIRE_TABLE_NAME": None}, "DEALWIRE_TABLE_NAME"),
        ({"DEALWIRE_MAX_BODY_BYTES": "lots"}, "DEALWIRE_MAX_BODY_BYTES"),
        ({"DEALWIRE_MAX_BODY_BYTES": "7000000"}, "DEALWIRE_MAX_BODY_BYTES"),
        ({"DEALWIRE_DEFAULT_TENANT_ID": "../etc"}, "DEALWIRE_DEFAULT_TENANT_ID"),
        ({"POWERTOOLS_METRICS_NAMESPACE": None}, "POWERTOOLS_METRICS_NAMESPACE"),
    ],
)
def test_a_missing_or_malformed_setting_is_named(change: dict[str, str | None], named: str) -> None:
    environ = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(SettingsError, match=named):
        load_settings(WebhookSettings, environ)


def test_stream_publisher_needs_a_queue_url() -> None:
    with pytest.raises(SettingsError, match="DEALWIRE_DOCUMENT_QUEUE_URL"):
        load_settings(
            StreamPublisherSettings,
            {
                "POWERTOOLS_METRICS_NAMESPACE": "d",
                "DEALWIRE_EVENT_BUS_NAME": "bus",
                "DEALWIRE_DOCUMENT_QUEUE_URL": "q",
            },
        )


SECRET = json.dumps({"docusignAccountId": "acct", "hmacKeys": ["k1", "k2"], "timeZone": "Europe/Paris"})


class FakeSecrets:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.calls: list[str] = []

    def __call__(self, name: str, max_age: int, force: bool = False) -> str | None:
        self.calls.append(name)
        return self.secrets.get(name)


def test_a_tenant_is_read_from_its_secret() -> None:
    directory = TenantDirectory("p/", 300, fetch=FakeSecrets({"p/acme": SECRET}))
    tenant = directory.get("acme")
    assert tenant is not None
    assert tenant.key_values() == ["k1", "k2"]
    assert tenant.zone.key == "Europe/Paris"
    assert "k1" not in repr(tenant)  # keys never show in logs or reprs


def test_unknown_tenants_are_cached_so_a_flood_costs_one_lookup() -> None:
    now = [0.0]
    secrets = FakeSecrets({})
    directory = TenantDirectory("p/", 300, fetch=secrets, clock=lambda: now[0])
    assert directory.get("ghost") is None
    assert directory.get("ghost") is None
    assert secrets.calls == ["p/ghost"]
    now[0] = 301
    assert directory.get("ghost") is None
    assert len(secrets.calls) == 2


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("not json", "JSONDecodeError"),
        ("[]", "TypeError"),
        (json.dumps({"hmacKeys": ["k"]}), "docusignAccountId"),
        (json.dumps({"docusignAccountId": "a", "timeZone": "Mars/Olympus"}), "Mars/Olympus"),
    ],
)
def test_a_malformed_tenant_secret_is_named_without_echoing_it(raw: str, named: str) -> None:
    directory = TenantDirectory("p/", 300, fetch=FakeSecrets({"p/acme": raw}))
    with pytest.raises(TenantConfigError, match=named) as caught:
        directory.get("acme")
    assert '"k"' not in str(caught.value)


def test_a_fresh_read_skips_the_cache_and_is_rate_limited_per_tenant() -> None:
    now = [0.0]
    reads: list[tuple[int, bool]] = []

    def fetch(name: str, max_age: int, force: bool = False) -> str | None:
        reads.append((max_age, force))
        return SECRET

    directory = TenantDirectory("p/", 300, fetch=fetch, clock=lambda: now[0])
    assert directory.get("acme") is not None
    assert directory.refreshed("acme") is not None
    assert directory.refreshed("acme") is None  # again within REFRESH_SECONDS: nothing read
    now[0] = REFRESH_SECONDS
    assert directory.refreshed("acme") is not None
    # Forced, and cached as long as any read: later lookups see what the fresh read found.
    assert reads == [(300, False), (300, True), (300, True)]
