"""The CRM API's request and response bodies (camelCase on the wire)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dealwire.domain.ids import CRM_ID_PATTERN
from dealwire.domain.linking import LinkState  # noqa: TC001 - pydantic needs it at run time


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class DealChoice(_Body):
    """``POST /v1/threads/{threadId}/deal``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    deal_id: str = Field(pattern=CRM_ID_PATTERN)


class DealChosen(_Body):
    thread_id: str
    deal_id: str
    link_state: LinkState


class Participant(_Body):
    email: str
    name: str = ""


class PartView(_Body):
    role: str
    key: str
    size: int
    sha256: str
    content_type: str
    filename: str | None = None


class MessageView(_Body):
    message_key: str
    message_id: str | None = None
    kind: Literal["bcc", "forward"]
    from_: list[Participant] = Field(alias="from")
    to: list[Participant]
    cc: list[Participant]
    subject: str | None = None
    sent_at: str | None = None
    owner_user_id: str | None = None
    sharing: Literal["private", "shared"]
    snippet: str | None = None
    parts: list[PartView]


class ThreadView(_Body):
    thread_id: str
    subject: str | None = None
    link_state: LinkState
    contact_ids: list[str]
    deal_id: str | None = None
    candidate_deal_ids: list[str]
    message_count: int
    started_at: str | None = None
    last_message_at: str | None = None


class ThreadPage(_Body):
    """``GET /v1/threads/{threadId}``: the thread and one page of the messages the caller may see."""

    thread: ThreadView
    messages: list[MessageView]
    cursor: str | None = None
