"""The Connect configuration dealwire wants, how one differs, and the health check's findings. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dealwire.docusign.connect_admin import AccountHmacKey, ConnectAdmin, ConnectConfiguration, ConnectFailure
from dealwire.docusign.errors import DocuSignError
from dealwire.integration import health
from dealwire.integration.configuration import (
    CONNECT_EVENTS,
    desired,
    differences,
    ours,
    webhook_url,
)
from dealwire.store.tenants import HmacKey

URL = "https://api.example.com/webhooks/docusign/acme"
KEY = "q1B7b2E0bW9yZS1yYW5kb20tYnl0ZXMtaGVyZS0xMjM="
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def codes(found: list[Any]) -> list[str]:
    return [finding.code for finding in found]


def test_the_webhook_url_names_the_tenant() -> None:
    assert webhook_url("https://api.example.com/", "acme") == URL


def test_the_desired_configuration_is_json_sim_signed_retried_without_documents() -> None:
    body = desired(URL).body()
    assert body["urlToPublishTo"] == URL
    assert body["eventData"] == {
        "version": "restv2.1",
        "format": "json",
        "includeData": ["recipients", "custom_fields"],
    }
    assert (body["includeHMAC"], body["requiresAcknowledgement"], body["deliveryMode"]) == (
        "true",
        "true",
        "SIM",
    )
    assert (body["includeDocuments"], body["includeCertificateOfCompletion"]) == ("false", "false")
    assert body["events"] == list(CONNECT_EVENTS)
    assert "connectId" not in body
    assert differences(desired(URL), URL) == []


def test_an_update_keeps_the_configurations_id_and_what_dealwire_does_not_set() -> None:
    existing = ConnectConfiguration.model_validate(
        {
            "connectId": "77",
            "name": "dealwire",
            "urlToPublishTo": "https://old",
            "signMessageWithX509Cert": "true",
        }
    )
    body = desired(URL, existing).body()
    assert (body["connectId"], body["urlToPublishTo"], body["signMessageWithX509Cert"]) == ("77", URL, "true")


def test_dealwires_configuration_is_the_recorded_one_else_the_named_one_else_the_one_with_its_url() -> None:
    mine = ConnectConfiguration(connect_id="1", name="dealwire", url_to_publish_to="https://elsewhere")
    other = ConnectConfiguration(connect_id="2", name="salesforce", url_to_publish_to="https://sf")
    by_url = ConnectConfiguration(connect_id="3", name="hand-made", url_to_publish_to=URL)
    assert ours([other, mine, by_url], "1", URL) is mine
    assert ours([other, mine, by_url], None, URL) is mine
    assert ours([other, by_url], None, URL) is by_url
    assert ours([other], "9", URL) is None


@pytest.mark.parametrize(
    ("changed", "code", "severity"),
    [
        ({"allowEnvelopePublish": "false"}, "connect_configuration_disabled", "error"),
        ({"disabledBy": "DocuSign"}, "connect_configuration_disabled", "error"),
        ({"urlToPublishTo": "https://typo.example.com"}, "connect_url_differs", "error"),
        ({"includeHMAC": "false"}, "connect_hmac_off", "error"),
        ({"eventData": {"version": "restv2.1", "format": "xml"}}, "connect_format_differs", "warning"),
        ({"events": ["envelope-sent"]}, "connect_events_missing", "error"),
        ({"deliveryMode": "aggregate"}, "connect_aggregate_mode", "warning"),
        ({"requiresAcknowledgement": "false"}, "connect_retries_off", "warning"),
        ({"includeDocuments": "true"}, "connect_documents_included", "warning"),
    ],
)
def test_a_configuration_changed_by_hand_is_named_by_what_differs(
    changed: dict[str, Any], code: str, severity: str
) -> None:
    configuration = ConnectConfiguration.model_validate({**desired(URL).body(), **changed})
    found = differences(configuration, URL)
    assert code in codes(found)
    assert next(f for f in found if f.code == code).severity == severity


def test_missing_events_and_data_are_listed_by_name() -> None:
    configuration = ConnectConfiguration.model_validate(
        {
            **desired(URL).body(),
            "events": [e for e in CONNECT_EVENTS if e != "recipient-completed"],
            "eventData": {"format": "json", "includeData": ["recipients"]},
        }
    )
    found = {f.code: f.message for f in differences(configuration, URL)}
    assert "recipient-completed" in found["connect_events_missing"]
    assert "custom_fields" in found["connect_data_missing"]


def observed(**overrides: Any) -> health.Observed:
    values: dict[str, Any] = {
        "keys": [HmacKey(key=KEY, key_id="k1")],
        "connect_id": "1",
        "webhook_url": URL,
        "integration": {"last_callback_at": "2026-12-02T11:00:00Z"},
        "now": NOW,
        "configurations": [desired(URL).model_copy(update={"connect_id": "1"})],
        "listed_keys": [AccountHmacKey(key_id="k1", shown=KEY[:4] + "****")],
        "failures": [],
        "budget_limit": 3000,
        "budget_remaining": 2900,
    }
    return health.Observed(**{**values, **overrides})


def test_a_healthy_connection_has_no_findings() -> None:
    assert health.findings(observed()) == []
    assert [v.known_to_docusign for v in health.key_views(observed())] == [True]


def test_no_key_or_a_key_docusign_does_not_have_is_an_error() -> None:
    assert codes(health.findings(observed(keys=[]))) == ["no_hmac_key"]
    unknown = observed(listed_keys=[AccountHmacKey(key_id="k9", shown="ZZZZ****")])
    assert codes(health.findings(unknown)) == ["hmac_key_unknown_to_docusign"]
    assert [v.known_to_docusign for v in health.key_views(unknown)] == [False]


def test_a_missing_or_replaced_configuration_says_to_connect_again() -> None:
    assert codes(health.findings(observed(configurations=[]))) == ["connect_configuration_missing"]
    replaced = observed(configurations=[desired(URL).model_copy(update={"connect_id": "2"})])
    assert codes(health.findings(replaced)) == ["connect_configuration_replaced"]


def test_callbacks_failures_and_budget_are_reported() -> None:
    quiet = observed(integration={"last_callback_at": "2026-11-01T00:00:00Z"})
    assert codes(health.findings(quiet)) == ["no_recent_callback"]
    assert codes(health.findings(observed(integration={}))) == ["no_callback_yet"]
    rotating = observed(integration={**observed().integration, "rotation": {"started_at": "x"}})
    assert codes(health.findings(rotating)) == ["key_rotation_in_progress"]
    failing = observed(failures=[ConnectFailure(error="503 from listener", created="2026-12-01T00:00:00Z")])
    (finding,) = health.findings(failing)
    assert (finding.code, "503 from listener" in finding.message) == ("connect_delivery_failures", True)
    assert codes(health.findings(observed(budget_remaining=100))) == ["api_budget_low"]


def test_when_docusign_cannot_be_asked_nothing_is_guessed() -> None:
    blind = observed(configurations=None, listed_keys=None, failures=None, budget_limit=None)
    assert health.findings(blind) == []
    assert [v.known_to_docusign for v in health.key_views(blind)] == [None]


# -- what DocuSign's answers may look like ---------------------------------------------------------


class Answers:
    """A client whose every request answers the next prepared JSON body; it records the requests."""

    def __init__(self, *bodies: Any) -> None:
        self._bodies = list(bodies)
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.requests.append((method, path, kwargs))
        body = self._bodies.pop(0)
        return httpx.Response(200, json=body) if body is not None else httpx.Response(200)


def admin(*bodies: Any) -> tuple[ConnectAdmin, Answers]:
    client = Answers(*bodies)
    return ConnectAdmin(client), client  # type: ignore[arg-type]  # the one method ConnectAdmin calls


@pytest.mark.parametrize(
    "answer",
    [
        {"keyId": "a1", "secret": KEY, "createdDateTime": "2026-12-02T12:00:00Z"},
        {"secrets": [{"keyId": "a1", "secretKey": KEY}]},
        {"hmacSecrets": [{"id": "a1", "hmacSecret": KEY}]},
    ],
)
def test_a_created_key_is_read_whole_from_any_of_docusigns_shapes(answer: dict[str, Any]) -> None:
    connect, _ = admin(answer)
    assert connect.create_hmac_key() == AccountHmacKey(key_id="a1", shown=KEY)


def test_a_created_key_that_is_not_returned_whole_is_refused_with_what_to_do() -> None:
    connect, _ = admin({"secrets": [{"keyId": "a1", "secret": "q1B7****"}]})
    with pytest.raises(DocuSignError) as refused:
        connect.create_hmac_key()
    assert refused.value.error_code == "HMAC_KEY_NOT_RETURNED"
    empty, _ = admin(None)
    with pytest.raises(DocuSignError):
        empty.create_hmac_key()


def test_listed_keys_are_masked_and_matched_by_what_shows() -> None:
    connect, _ = admin({"secrets": [{"keyId": "a1", "secret": "q1B7****"}, "Zm9v****"]})
    listed = connect.hmac_keys()
    assert [(k.key_id, k.whole) for k in listed] == [("a1", False), ("2", False)]
    assert listed[0].may_be(KEY)
    assert not listed[1].may_be(KEY)
    assert not AccountHmacKey(key_id="x", shown="****").may_be(KEY)


def test_configurations_with_booleans_as_strings_and_unknown_fields_round_trip() -> None:
    listing = {
        "configurations": [{"connectId": "5", "name": "dealwire", "includeHMAC": "true", "sender": "kept"}],
        "totalRecords": "1",
    }
    connect, client = admin(listing, None)
    (configuration,) = connect.configurations()
    assert (configuration.connect_id, configuration.include_hmac) == ("5", "true")
    assert connect.update(configuration) is configuration  # DocuSign may answer an update with no body
    method, path, kwargs = client.requests[-1]
    assert (method, path, kwargs["json"]["sender"], kwargs["json"]["connectId"]) == (
        "PUT",
        "connect",
        "kept",
        "5",
    )
    with pytest.raises(ValueError, match="connectId"):
        connect.update(ConnectConfiguration())


def test_an_unreadable_failure_entry_does_not_hide_the_others() -> None:
    connect, client = admin(
        {"failures": [{"envelopeId": "e1", "error": "timeout"}, {"retryCount": {"x": 1}}]}
    )
    assert [f.envelope_id for f in connect.failures(NOW)] == ["e1"]
    assert client.requests[0][2]["params"] == {"from_date": "2026-12-02T12:00:00Z"}


def test_the_pollers_last_cycle_tells_of_lost_callbacks_and_of_a_cycle_cut_short() -> None:
    calm = {"outcome": "done", "started_at": "2026-12-02T11:45:00.0000000Z", "calls": 1, "reconciled": 0}
    assert health.findings(observed(last_poll=calm)) == []
    lost = health.findings(observed(last_poll={**calm, "reconciled": 3}))
    assert codes(lost) == ["changes_seen_only_by_polling"]
    assert "3 envelope change(s)" in lost[0].message
    short = health.findings(
        observed(last_poll={**calm, "outcome": "docusign_refused", "detail": "DocuSign 400 X"})
    )
    assert codes(short) == ["poll_cycle_unfinished"]
    assert short[0].severity == "warning"
    assert "(DocuSign 400 X)" in short[0].message
    budget = health.findings(observed(last_poll={**calm, "outcome": "budget_low"}))
    assert [(f.code, f.severity) for f in budget] == [("poll_cycle_unfinished", "info")]
