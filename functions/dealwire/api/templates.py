"""The tenant's DocuSign templates, as a rule editor lists and inspects them; kept briefly per container.

A CRM's dialog lists the templates and opens one each time a user edits a rule: both answers
are kept for ``seconds`` (60) per tenant and account, and per template, so a busy settings
page costs DocuSign's hourly API budget one call a minute, not one a click. A refusal is not
kept: the next request asks DocuSign again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from dealwire.api.envelopes import connected_tenant
from dealwire.api.errors import with_docusign
from dealwire.contracts.automation import (
    TemplateDocumentView,
    TemplateList,
    TemplateRoleView,
    TemplateSummaryView,
    TemplateView,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from dealwire.docusign.client import DocuSignClient
    from dealwire.docusign.envelopes import EnvelopeSender, TemplateDetail, TemplateSummary
    from dealwire.store.tenants import TenantConfig, TenantDirectory

CACHE_SECONDS: Final = 60.0
# Entries kept per container, across tenants and templates; the oldest go first.
CACHE_ENTRIES: Final = 512
# DocuSign lists templates 100 at a time; a dialog shows at most this many.
PAGE_SIZE: Final = 100
MAX_TEMPLATES: Final = 500

V = TypeVar("V")


class Recent(Generic[V]):
    """Answers kept for ``seconds`` each, at most ``entries`` of them (least recently stored go first)."""

    def __init__(self, seconds: float, entries: int, clock: Callable[[], float]) -> None:
        self._seconds = seconds
        self._entries = entries
        self._clock = clock
        self._kept: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        found = self._kept.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self._clock() - stored_at >= self._seconds:
            del self._kept[key]
            return None
        return value

    def put(self, key: Hashable, value: V) -> V:
        self._kept[key] = (self._clock(), value)
        self._kept.move_to_end(key)
        while len(self._kept) > self._entries:
            self._kept.popitem(last=False)
        return value


def _sender(client: DocuSignClient) -> EnvelopeSender:
    from dealwire.docusign.envelopes import EnvelopeSender  # noqa: PLC0415 - only where DocuSign is called

    return EnvelopeSender(client)


class Templates:
    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        docusign: Callable[[TenantConfig], DocuSignClient],
        sender: Callable[[DocuSignClient], EnvelopeSender] = _sender,
        seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tenants = tenants
        self._docusign = docusign
        self._sender = sender
        self._lists: Recent[TemplateList] = Recent(seconds, CACHE_ENTRIES, clock)
        self._details: Recent[TemplateView] = Recent(seconds, CACHE_ENTRIES, clock)

    def list(self, tenant_id: str) -> TemplateList:
        """The account's templates (the first 500), as DocuSign lists them: one call per 100."""
        tenant = connected_tenant(self._tenants, tenant_id)
        key = (tenant_id, tenant.docusign_account_id)
        kept = self._lists.get(key)
        if kept is not None:
            return kept
        sender = self._sender(self._docusign(tenant))

        def every_page() -> list[TemplateSummary]:
            found: list[TemplateSummary] = []
            while len(found) < MAX_TEMPLATES:
                page = sender.templates(limit=PAGE_SIZE, start=len(found))
                found.extend(page)
                if len(page) < PAGE_SIZE:
                    break
            return found[:MAX_TEMPLATES]

        listed = with_docusign(every_page, missing="DocuSign has no such account")
        return self._lists.put(key, TemplateList(templates=[_summary(t) for t in listed]))

    def detail(self, tenant_id: str, template_id: str) -> TemplateView:
        """One template's roles (with their text tabs) and documents: one call."""
        tenant = connected_tenant(self._tenants, tenant_id)
        key = (tenant_id, tenant.docusign_account_id, template_id)
        kept = self._details.get(key)
        if kept is not None:
            return kept
        sender = self._sender(self._docusign(tenant))
        found = with_docusign(lambda: sender.template(template_id), missing="DocuSign has no such template")
        return self._details.put(key, _view(found))


def _summary(template: TemplateSummary) -> TemplateSummaryView:
    return TemplateSummaryView(
        template_id=template.template_id,
        name=template.name,
        description=template.description,
        email_subject=template.email_subject,
        last_modified=template.last_modified,
    )


def _view(template: TemplateDetail) -> TemplateView:
    return TemplateView(
        template_id=template.template_id,
        name=template.name,
        email_subject=template.email_subject,
        roles=[
            TemplateRoleView(
                role_name=role.role_name,
                kind=role.kind,
                routing_order=role.routing_order,
                fixed=bool(role.email),
                name=role.name,
                email=role.email,
                tab_labels=list(role.tab_labels),
            )
            for role in template.roles
        ],
        documents=[
            TemplateDocumentView(document_id=doc.document_id, name=doc.name, pages=doc.pages)
            for doc in template.documents
        ],
    )
