"""Events the CRM puts on the bus for dealwire: its people, deals and users. See docs/events.md.

Each carries the CRM's ``updatedAt``: a projection keeps the newest version of each
entity, so redelivered and out-of-order events change nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dealwire.domain.ids import CRM_ID_PATTERN, TENANT_ID_PATTERN, THREAD_ID_PATTERN
from dealwire.domain.timestamps import canonical_timestamp

_ID = CRM_ID_PATTERN
_EMAIL = r"^[^\s@<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,253}$"

Email = Annotated[str, Field(pattern=_EMAIL, max_length=320), AfterValidator(str.lower)]
Timestamp = Annotated[str, Field(max_length=64), AfterValidator(canonical_timestamp)]


class _Crm(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    updated_at: Timestamp


class PersonUpserted(_Crm):
    """detail-type ``person.upserted``: a contact and every address it is known by."""

    person_id: str = Field(pattern=_ID)
    name: str = Field(default="", max_length=300)
    emails: list[Email] = Field(default_factory=list, max_length=40)
    deleted: bool = False


class DealUpserted(_Crm):
    """detail-type ``deal.upserted``: a deal, its state and its contacts."""

    deal_id: str = Field(pattern=_ID)
    title: str = Field(default="", max_length=300)
    status: Literal["open", "won", "lost", "deleted"]
    # Bounded so the deal and its links fit one transaction (100 actions).
    person_ids: list[Annotated[str, Field(pattern=_ID)]] = Field(default_factory=list, max_length=45)
    owner_user_id: str | None = Field(default=None, pattern=_ID)


class UserUpserted(_Crm):
    """detail-type ``user.upserted``: a CRM user who may file mail through Smart BCC."""

    user_id: str = Field(pattern=_ID)
    name: str = Field(default="", max_length=300)
    email: Email
    other_emails: list[Email] = Field(default_factory=list, max_length=20)
    # Whether colleagues see this user's filed mail once it is linked to a contact or deal.
    mail_sharing: Literal["private", "shared"] = "private"
    active: bool = True


class ThreadDealChosen(_Crm):
    """detail-type ``thread.deal_chosen``: a user settled which deal a thread belongs to."""

    thread_id: str = Field(pattern=THREAD_ID_PATTERN)
    deal_id: str = Field(pattern=_ID)
    user_id: str | None = Field(default=None, pattern=_ID)


Properties = Annotated[
    dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")], Annotated[str, Field(max_length=2000)]],
    Field(max_length=100),
]


class Phone(BaseModel):
    """A phone number as DocuSign's SMS delivery takes it: the calling code apart from the number."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    country_code: str = Field(pattern=r"^[1-9][0-9]{0,2}$", description="49, not +49")
    number: str = Field(pattern=r"^[0-9]{4,14}$", description="The national number, digits only")


class DealContact(BaseModel):
    """One of a deal's contacts as a stage change carries it: who may be asked to sign."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    person_id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=100)
    email: Email | None = None
    phone: Phone | None = None
    primary: bool = False
    properties: Properties = Field(default_factory=dict)


class DealStageChanged(_Crm):
    """detail-type ``deal.stage_changed``: a deal entered a pipeline stage (``updatedAt``: when).

    Routed to stage_trigger, which sends what the tenant's automation rules for the stage say.
    """

    deal_id: str = Field(pattern=_ID)
    title: str = Field(default="", max_length=300)
    pipeline_id: str = Field(pattern=_ID)
    from_stage_id: str | None = Field(default=None, pattern=_ID)
    to_stage_id: str = Field(pattern=_ID)
    # In the deal's order; the primary contact is asked first whatever its place.
    contacts: list[DealContact] = Field(default_factory=list, max_length=45)
    user_id: str | None = Field(default=None, pattern=_ID, description="The CRM user who moved the deal")
    user_name: str = Field(default="", max_length=300)
    properties: Properties = Field(default_factory=dict)


CRM_DETAIL_TYPES: dict[str, type[_Crm]] = {
    "person.upserted": PersonUpserted,
    "deal.upserted": DealUpserted,
    "user.upserted": UserUpserted,
    "thread.deal_chosen": ThreadDealChosen,
}
# The CRM's events stage_trigger takes (crm_projection takes the ones above).
AUTOMATION_DETAIL_TYPES: dict[str, type[_Crm]] = {"deal.stage_changed": DealStageChanged}
