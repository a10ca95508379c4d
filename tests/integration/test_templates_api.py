"""The CRM API's DocuSign templates: read through the tenant's client, kept a minute, refusals mapped.

The simulator of this branch has no REST ``GET templates`` yet, so DocuSign is a fake
``EnvelopeSender`` here (its answers are the models ``EnvelopeSender`` parses DocuSign's
JSON into, tested with the client); the tenant, its secret and the caller checks are real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from dealwire.api.templates import Templates
from dealwire.docusign.envelopes import TemplateDetail, TemplateDocument, TemplateRole, TemplateSummary
from dealwire.docusign.errors import ConsentRequired, DocuSignError, DocuSignUnavailable, RateLimitExceeded
from dealwire.store.tenants import TenantDirectory
from infra.local.resources import seed_tenant
from tests.docusign_support import USER_ID
from tests.integration.api_support import OTHER, ULLA, api, call, seed_other_tenants_user
from tests.mail_support import seed_crm
from tests.support import ACCOUNT_ID, HMAC_KEY, TENANT_ID

if TYPE_CHECKING:
    from collections.abc import Callable

    from infra.local.template import Stack

NDA = TemplateDetail(
    template_id="tpl-nda",
    name="Mutual NDA",
    email_subject="Please DocuSign: Mutual NDA",
    roles=(
        TemplateRole(role_name="Signer 1", kind="signer", routing_order=1, tab_labels=("deal_title",)),
        TemplateRole(
            role_name="Counter-signer",
            kind="signer",
            routing_order=2,
            name="Ann Admin",
            email="ann@acme.example",
        ),
        TemplateRole(role_name="Legal", kind="carbon_copy", routing_order=3),
    ),
    documents=(TemplateDocument(document_id="1", name="Mutual NDA.pdf", pages=2),),
)


class FakeDocuSign:
    """An ``EnvelopeSender`` over a made-up account: its templates, its calls, a failure to give."""

    def __init__(self, count: int = 2) -> None:
        self.listed = [
            TemplateSummary(
                template_id=f"tpl-{n}",
                name=f"Template {n}",
                email_subject=f"Sign {n}",
                last_modified="2026-12-01",
            )
            for n in range(count)
        ]
        self.calls: list[tuple[str, Any]] = []
        self.failure: Exception | None = None

    def templates(self, *, limit: int = 100, start: int = 0) -> list[TemplateSummary]:
        self.calls.append(("templates", start))
        self._fail()
        return self.listed[start : start + limit]

    def template(self, template_id: str) -> TemplateDetail:
        self.calls.append(("template", template_id))
        self._fail()
        if template_id != NDA.template_id:
            raise DocuSignError(404, "TEMPLATE_ID_INVALID", "Invalid template ID.")
        return NDA

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def docusign(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeDocuSign, Clock]:
    from api import app

    seed_tenant(aws, TENANT_ID, account_id=ACCOUNT_ID, hmac_keys=[HMAC_KEY], docusign_user_id=USER_ID)
    seed_crm(aws)
    seed_other_tenants_user()
    fake, clock = FakeDocuSign(), Clock()
    prefix = aws.function_environment("ApiFunction")["DEALWIRE_TENANT_SECRET_PREFIX"]
    service = Templates(
        tenants=TenantDirectory(prefix, 0),
        docusign=lambda _: object(),
        sender=lambda _: fake,
        clock=clock,  # type: ignore[arg-type, return-value]
    )
    monkeypatch.setattr(app, "templates", lambda: service)
    return fake, clock


def test_the_accounts_templates_are_listed_and_kept_a_minute(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, clock = docusign
    status, listed = api("GET", "/v1/templates", claims=ULLA)
    assert status == 200
    assert listed["templates"][0] == {
        "templateId": "tpl-0",
        "name": "Template 0",
        "description": "",
        "emailSubject": "Sign 0",
        "lastModified": "2026-12-01",
    }
    assert len(listed["templates"]) == 2
    clock.now += 59
    assert api("GET", "/v1/templates", claims=ULLA) == (200, listed)
    assert fake.calls == [("templates", 0)]
    clock.now += 1
    fake.listed = fake.listed[:1]
    assert len(api("GET", "/v1/templates", claims=ULLA)[1]["templates"]) == 1
    assert fake.calls == [("templates", 0), ("templates", 0)]


def test_a_long_list_is_read_page_by_page_up_to_500(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, _ = docusign
    fake.listed = FakeDocuSign(620).listed
    status, listed = api("GET", "/v1/templates", claims=ULLA)
    assert (status, len(listed["templates"])) == (200, 500)
    assert fake.calls == [("templates", start) for start in (0, 100, 200, 300, 400)]


def test_a_template_shows_what_a_rule_must_fill(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, clock = docusign
    status, template = api("GET", "/v1/templates/tpl-nda", claims=ULLA)
    assert status == 200
    assert template == {
        "templateId": "tpl-nda",
        "name": "Mutual NDA",
        "emailSubject": "Please DocuSign: Mutual NDA",
        "roles": [
            {
                "roleName": "Signer 1",
                "kind": "signer",
                "routingOrder": 1,
                "fixed": False,
                "name": None,
                "email": None,
                "tabLabels": ["deal_title"],
            },
            {
                "roleName": "Counter-signer",
                "kind": "signer",
                "routingOrder": 2,
                "fixed": True,
                "name": "Ann Admin",
                "email": "ann@acme.example",
                "tabLabels": [],
            },
            {
                "roleName": "Legal",
                "kind": "carbon_copy",
                "routingOrder": 3,
                "fixed": False,
                "name": None,
                "email": None,
                "tabLabels": [],
            },
        ],
        "documents": [{"documentId": "1", "name": "Mutual NDA.pdf", "pages": 2}],
    }
    clock.now += 30
    assert api("GET", "/v1/templates/tpl-nda", claims=ULLA) == (200, template)
    assert fake.calls == [("template", "tpl-nda")]


def test_an_unknown_template_is_not_found_and_not_kept(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, _ = docusign
    for _ in range(2):
        status, refused = api("GET", "/v1/templates/tpl-gone", claims=ULLA)
        assert (status, refused["error"]) == (
            404,
            {"code": "not_found", "message": "DocuSign has no such template"},
        )
    assert fake.calls == [("template", "tpl-gone")] * 2
    status, refused = api("GET", "/v1/templates/not%20an%20id", claims=ULLA)
    assert (status, refused["error"]["code"]) == (400, "invalid_request")
    assert "template_id" in refused["error"]["message"]


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (lambda: ConsentRequired("https://account-d.docusign.com/oauth/auth?..."), 409, "consent_required"),
        # The hourly limit, reset in 20 minutes (made when the test runs: Retry-After counts from now).
        (
            lambda: RateLimitExceeded("spent", datetime.now(UTC) + timedelta(minutes=20), status=429),
            429,
            "rate_limited",
        ),
        (lambda: DocuSignUnavailable(503, "SERVICE_UNAVAILABLE", "down"), 502, "upstream_unavailable"),
        (lambda: DocuSignError(400, "SOMETHING_ELSE", "no"), 502, "upstream_unavailable"),
    ],
)
def test_docusigns_refusals_become_the_apis(
    docusign: tuple[FakeDocuSign, Clock], failure: Callable[[], Exception], status: int, code: str
) -> None:
    fake, _ = docusign
    fake.failure = failure()
    for path in ("/v1/templates", "/v1/templates/tpl-nda"):
        answer = call("GET", path, claims=ULLA)
        assert answer["statusCode"] == status
        assert code in answer["body"]
        if status == 429:
            assert 1000 < int(answer["headers"]["Retry-After"]) <= 1200
    fake.failure = None
    assert api("GET", "/v1/templates", claims=ULLA)[0] == 200  # a refusal is not kept


def test_a_tenant_not_connected_to_docusign_is_told_so(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, _ = docusign
    status, refused = api("GET", "/v1/templates", claims={**OTHER})  # "other" has no DocuSign secret
    assert (status, refused["error"]["code"]) == (409, "not_connected")
    assert fake.calls == []


def test_only_an_active_user_reads_templates(docusign: tuple[FakeDocuSign, Clock]) -> None:
    fake, _ = docusign
    nobody = {"dealwire:tenant": TENANT_ID, "sub": "nobody"}
    for path in ("/v1/templates", "/v1/templates/tpl-nda"):
        status, refused = api("GET", path, claims=nobody)
        assert (status, refused["error"]["code"]) == (403, "forbidden")
    assert fake.calls == []
