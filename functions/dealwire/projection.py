"""The CRM's events applied to dealwire's projection of it: one handler per detail-type.

Each event is validated by its contract model and applied by one store call; an event
older than what the projection holds changes nothing (``False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dealwire.contracts.crm import (
    CRM_DETAIL_TYPES,
    DealUpserted,
    PersonUpserted,
    ThreadDealChosen,
    UserUpserted,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from dealwire.store.crm import CrmProjection
    from dealwire.store.mail import MailStore


class UnsupportedEvent(ValueError):
    """Not a CRM event dealwire handles: retried, then kept in the failure queue with this message."""


class UnknownThreadChosen(LookupError):
    """``thread.deal_chosen`` names a thread this tenant does not have."""


class CrmEvents:
    def __init__(self, projection: CrmProjection, mail: MailStore) -> None:
        self._projection = projection
        self._mail = mail
        # One handler per contract model: a model without one fails here, not per event.
        self._handlers: dict[type, Callable[[Any], bool]] = {
            PersonUpserted: projection.upsert_person,
            DealUpserted: projection.upsert_deal,
            UserUpserted: projection.upsert_user,
            ThreadDealChosen: self._deal_chosen,
        }
        missing = set(CRM_DETAIL_TYPES.values()) - set(self._handlers)
        if missing:
            raise TypeError(f"no handler for {sorted(m.__name__ for m in missing)}")

    def apply(self, detail_type: str, detail: dict[str, Any]) -> bool:
        """Apply one CRM event; False when it was older than what the projection holds.

        A ``ValidationError`` names the field that is wrong; the event is kept (failure queue).
        """
        model = CRM_DETAIL_TYPES.get(detail_type)
        if model is None:
            raise UnsupportedEvent(f"unsupported detail-type {detail_type!r}")
        return self._handlers[model](model.model_validate(detail))

    def _deal_chosen(self, event: ThreadDealChosen) -> bool:
        # The CRM speaks for its users here: it is trusted to have checked who chose.
        thread = self._mail.thread(event.tenant_id, event.thread_id)
        if thread is None:
            raise UnknownThreadChosen(f"thread {event.thread_id} is not known in tenant {event.tenant_id}")
        self._mail.choose_deal(event.tenant_id, thread, event.deal_id, event.user_id, event.updated_at)
        return True
