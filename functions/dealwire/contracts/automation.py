"""The CRM API's bodies for automation rules and the DocuSign templates they send (camelCase on the wire).

A rule is written as ``automation.rules.RuleDefinition`` and answered as that definition with
its id, version and last change beside it, so what a settings page read is what it sends
back (with ``version``) to change it.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from dealwire.automation.rules import RuleDefinition
from dealwire.contracts.bodies import Body
from dealwire.docusign.envelopes import RecipientKind  # noqa: TC001 - pydantic needs it at run time

# -- automation rules -----------------------------------------------------------------------


class RuleUpdate(RuleDefinition):
    """A rule's whole new definition, and the version the editor read (a stale one is a 409)."""

    version: int = Field(ge=1, description="The rule's version as the editor read it")


class RuleView(RuleDefinition):
    """A stored rule: its definition, id, version and who changed it last."""

    # An answer, not a request: the Body convention (nothing refused on the way out).
    model_config = ConfigDict(extra="ignore")

    rule_id: str = Field(description="dealwire's id of the rule: 32 hex digits")
    version: int = Field(ge=1, description="Starts at 1; every update adds one. PUT and DELETE name it")
    updated_at: str = Field(description="When the rule was created or last changed (UTC, ISO 8601)")
    updated_by: str = Field(description="The CRM user who did")


class RulePage(Body):
    """A page of the tenant's rules, by rule id."""

    rules: list[RuleView]
    cursor: str | None = Field(default=None, description="The next page's cursor; null on the last")


class RuleDeleted(Body):
    rule_id: str
    version: int = Field(description="The version that was deleted")


# -- DocuSign templates ---------------------------------------------------------------------


class TemplateSummaryView(Body):
    template_id: str
    name: str
    description: str
    email_subject: str
    last_modified: str | None = None


class TemplateList(Body):
    """The account's templates, as DocuSign lists them (at most 500)."""

    templates: list[TemplateSummaryView]


class TemplateRoleView(Body):
    role_name: str
    kind: RecipientKind
    routing_order: int | None = None
    fixed: bool = Field(
        description="The template fills this recipient itself (name and email): a rule need not name it"
    )
    name: str | None = None
    email: str | None = None
    tab_labels: list[str] = Field(
        default_factory=list, description="The role's text tabs: what fieldMappings can fill"
    )


class TemplateDocumentView(Body):
    document_id: str
    name: str
    pages: int | None = None


class TemplateView(Body):
    """What a rule editor needs of one template: its roles, their text tabs, its documents."""

    template_id: str
    name: str
    email_subject: str
    roles: list[TemplateRoleView]
    documents: list[TemplateDocumentView]
