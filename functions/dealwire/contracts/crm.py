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


CRM_DETAIL_TYPES: dict[str, type[_Crm]] = {
    "person.upserted": PersonUpserted,
    "deal.upserted": DealUpserted,
    "user.upserted": UserUpserted,
    "thread.deal_chosen": ThreadDealChosen,
}
