"""What SES receiving hands the function: the Lambda action's event, or the headers SES stamps.

Written for the shapes SES sends, not Powertools' ``SesModel``: that model requires a
``To`` header and a subject, which Smart BCC mail often lacks, and drops ``dkimVerdict``
and ``dmarcPolicy``. Every field SES may leave out has a default here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dealwire.mail import headers

if TYPE_CHECKING:
    from email.message import Message

# PASS, FAIL, GRAY, PROCESSING_FAILED; DISABLED when the rule has scanning off.
VerdictStatus = str


class _Ses(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class SesVerdict(_Ses):
    status: VerdictStatus = "DISABLED"


class SesReceipt(_Ses):
    timestamp: str = ""
    recipients: list[str] = Field(default_factory=list)
    spam_verdict: SesVerdict = SesVerdict()
    virus_verdict: SesVerdict = SesVerdict()
    spf_verdict: SesVerdict = SesVerdict()
    dkim_verdict: SesVerdict = SesVerdict()
    dmarc_verdict: SesVerdict = SesVerdict()
    # The sender domain's published policy (none, quarantine, reject); only present on a DMARC FAIL.
    dmarc_policy: str | None = None


class SesMail(_Ses):
    timestamp: str = ""
    source: str = ""
    message_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    # To and Cc only: a Bcc recipient never appears here; receipt.recipients has it.
    destination: list[str] = Field(default_factory=list)


class SesMessage(_Ses):
    mail: SesMail
    receipt: SesReceipt


class SesRecord(_Ses):
    event_source: Literal["aws:ses"] = Field(alias="eventSource")
    ses: SesMessage


@dataclass(frozen=True, slots=True)
class Delivery:
    """What SES said about one delivery, from its event or from the headers it stamped."""

    ses_message_id: str
    recipients: tuple[str, ...]
    received_at: str
    verdicts: dict[str, str] = field(default_factory=dict)  # spam, virus, spf, dkim, dmarc
    dmarc_policy: str | None = None
    source: str = ""

    @classmethod
    def of(cls, record: SesRecord) -> Delivery:
        receipt = record.ses.receipt
        return cls(
            ses_message_id=record.ses.mail.message_id,
            recipients=tuple(address.strip().lower() for address in receipt.recipients if address.strip()),
            received_at=receipt.timestamp or record.ses.mail.timestamp,
            verdicts={
                "spam": receipt.spam_verdict.status.upper(),
                "virus": receipt.virus_verdict.status.upper(),
                "spf": receipt.spf_verdict.status.upper(),
                "dkim": receipt.dkim_verdict.status.upper(),
                "dmarc": receipt.dmarc_verdict.status.upper(),
            },
            dmarc_policy=receipt.dmarc_policy,
            source=headers.clean(record.ses.mail.source, 254),
        )


_FOR = re.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+?)>?\s*;", re.IGNORECASE)
_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
# Authentication-Results (RFC 8601) results in the terms of the SES event's verdicts.
_VERDICT_RESULTS = {
    "PASS": ("pass",),
    "FAIL": ("fail", "permerror"),
    "GRAY": ("none", "neutral", "softfail"),
    "PROCESSING_FAILED": ("temperror",),
}
_AUTH_RESULT_VERDICT = {result: verdict for verdict, group in _VERDICT_RESULTS.items() for result in group}
_SES_VERDICTS = {"x-ses-spam-verdict": "spam", "x-ses-virus-verdict": "virus"}
# The SES stamp ends with these; what follows is the sender's own, and may be forged.
_STAMP_END = {"x-ses-receipt", "x-ses-dkim-signature"}


def delivery_from_stamp(message: Message, ses_message_id: str, received_at: str) -> Delivery | None:
    """The delivery from the headers SES prepends to a stored message (a re-driven object).

    Only the block SES wrote on top is read, up to its ``X-SES-RECEIPT``: a sender can
    forge any of these headers lower down. None when the object carries no SES stamp.
    """
    stamp: list[tuple[str, str]] = []
    for name, value in message.raw_items():
        lowered = name.lower()
        stamp.append((lowered, headers.unescape(str(value))))
        if lowered in _STAMP_END:
            break
    else:
        return None
    recipients: list[str] = []
    verdicts = {
        "spam": "DISABLED",
        "virus": "DISABLED",
        "spf": "DISABLED",
        "dkim": "DISABLED",
        "dmarc": "DISABLED",
    }
    results_seen = False
    for name, value in stamp:
        if name == "received" and not recipients and "amazonaws.com" in value.lower():
            recipients = [found.lower() for found in _FOR.findall(value.replace("\r\n", " "))]
        elif name in _SES_VERDICTS:
            verdicts[_SES_VERDICTS[name]] = value.strip().upper() or "DISABLED"
        elif (
            name == "authentication-results"
            and not results_seen
            and value.strip().lower().startswith("amazonses.com")
        ):
            results_seen = True
            for method, result in _RESULT.findall(value):
                verdicts[method.lower()] = _AUTH_RESULT_VERDICT.get(result.lower(), "GRAY")
    if not recipients:
        return None
    return Delivery(
        ses_message_id=ses_message_id,
        recipients=tuple(recipients),
        received_at=received_at,
        verdicts=verdicts,
    )
