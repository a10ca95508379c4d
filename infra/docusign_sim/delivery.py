"""How an envelope reaches its recipients: reminders and expirations, and SMS or WhatsApp delivery."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from infra.docusign_sim.errors import SimError

# The account's defaults (Notification's useAccountDefaults): no reminders, expiry after 120 days.
EXPIRE_AFTER_DAYS = 120
_PHONE_METHODS = {"sms": "SMS", "whatsapp": "WhatsApp"}
_COUNTRY_CODE = re.compile(r"^\+?\d{1,4}$")
_NUMBER = re.compile(r"^\d{4,15}$")


def _flag(value: object) -> bool:
    return str(value).strip().lower() == "true"


def _days(raw: dict[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    try:
        days = int(str(value))
    except ValueError:
        days = -1
    if days < 0:
        raise SimError(
            400, "INVALID_REQUEST_PARAMETER", f"{key} must be a whole number of days, not {value!r}"
        )
    return days


@dataclass(frozen=True, slots=True)
class Notification:
    """An envelope's ``notification``: reminders and expirations (days), as DocuSign stores them."""

    use_account_defaults: bool = True
    reminder_enabled: bool = False
    reminder_delay: int = 0
    reminder_frequency: int = 0
    expire_enabled: bool = True
    expire_after: int = EXPIRE_AFTER_DAYS
    expire_warn: int = 0

    def as_json(self) -> dict[str, Any]:
        """``GET envelopes/{id}/notification`` (DocuSign's Notification model; numbers as strings)."""
        return {
            "useAccountDefaults": str(self.use_account_defaults).lower(),
            "reminders": {
                "reminderEnabled": str(self.reminder_enabled).lower(),
                "reminderDelay": str(self.reminder_delay),
                "reminderFrequency": str(self.reminder_frequency),
            },
            "expirations": {
                "expireEnabled": str(self.expire_enabled).lower(),
                "expireAfter": str(self.expire_after),
                "expireWarn": str(self.expire_warn),
            },
        }


def parse_notification(raw: object) -> Notification:
    """``notification`` of ``POST envelopes``. With ``useAccountDefaults`` "true" (or none given) the
    account's settings apply and any reminders or expirations given are ignored, as DocuSign documents."""
    if raw is None:
        return Notification()
    if not isinstance(raw, dict):
        raise SimError(400, "INVALID_REQUEST_BODY", "notification must be an object")
    if _flag(raw.get("useAccountDefaults", "false")):
        return Notification()
    reminders, expirations = raw.get("reminders") or {}, raw.get("expirations") or {}
    if not isinstance(reminders, dict) or not isinstance(expirations, dict):
        raise SimError(400, "INVALID_REQUEST_BODY", "reminders and expirations must be objects")
    expire_enabled = _flag(expirations.get("expireEnabled", "true"))
    notification = Notification(
        use_account_defaults=False,
        reminder_enabled=_flag(reminders.get("reminderEnabled", "false")),
        reminder_delay=_days(reminders, "reminderDelay", 0),
        reminder_frequency=_days(reminders, "reminderFrequency", 0),
        expire_enabled=expire_enabled,
        expire_after=_days(expirations, "expireAfter", EXPIRE_AFTER_DAYS),
        expire_warn=_days(expirations, "expireWarn", 0),
    )
    if expire_enabled and not 1 <= notification.expire_after <= 999:
        raise SimError(400, "INVALID_REQUEST_PARAMETER", "expireAfter is 1 to 999 days")
    return notification


@dataclass(frozen=True, slots=True)
class Phone:
    country_code: str
    number: str

    def as_json(self) -> dict[str, str]:
        return {"countryCode": self.country_code, "number": self.number}


def parse_phone(raw: object, where: str) -> Phone:
    """A recipientPhoneNumber ``{countryCode, number}``: digits (the country code may start with +)."""
    if not isinstance(raw, dict):
        raise SimError(
            400, "INVALID_PHONE_NUMBER", f"{where}: a phoneNumber {{countryCode, number}} is required"
        )
    code = str(raw.get("countryCode", "")).strip()
    number = re.sub(r"[\s\-().]", "", str(raw.get("number", "")))
    if not _COUNTRY_CODE.match(code) or not _NUMBER.match(number):
        raise SimError(
            400, "INVALID_PHONE_NUMBER", f"{where}: the phone number {code!r} {number!r} is not valid"
        )
    return Phone(code.lstrip("+"), number)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A recipient's ``deliveryMethod`` (``email``, ``SMS``, ``WhatsApp``) with its ``phoneNumber``,
    and an SMS/WhatsApp notification besides email (``additionalNotifications``)."""

    method: str = "email"
    phone: Phone | None = None
    secondary_method: str | None = None
    secondary_phone: Phone | None = None

    @property
    def needs_email(self) -> bool:
        return self.method == "email"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"deliveryMethod": self.method}
        if self.phone is not None:
            out["phoneNumber"] = self.phone.as_json()
        if self.secondary_method is not None and self.secondary_phone is not None:
            out["additionalNotifications"] = [
                {
                    "secondaryDeliveryMethod": self.secondary_method,
                    "phoneNumber": self.secondary_phone.as_json(),
                }
            ]
        return out


def parse_delivery(given: dict[str, Any], where: str) -> Delivery:
    """DocuSign v2.1's two documented forms: ``deliveryMethod`` "SMS"/"WhatsApp" with a ``phoneNumber``
    (no email needed), or email with one ``additionalNotifications`` entry
    ``{secondaryDeliveryMethod, phoneNumber}``."""
    method = str(given.get("deliveryMethod") or "email")
    if method.lower() not in ("email", *_PHONE_METHODS):
        raise SimError(400, "INVALID_REQUEST_PARAMETER", f"{where}: unknown deliveryMethod {method!r}")
    primary = _PHONE_METHODS.get(method.lower())
    phone = parse_phone(given.get("phoneNumber"), where) if primary else None
    extra = given.get("additionalNotifications") or []
    if not isinstance(extra, list) or len(extra) > 1 or not all(isinstance(n, dict) for n in extra):
        raise SimError(
            400,
            "INVALID_REQUEST_PARAMETER",
            f"{where}: additionalNotifications holds one notification at most",
        )
    secondary = secondary_phone = None
    if extra:
        raw_method = str(extra[0].get("secondaryDeliveryMethod", ""))
        secondary = _PHONE_METHODS.get(raw_method.lower())
        if secondary is None or primary is not None:
            raise SimError(
                400,
                "INVALID_REQUEST_PARAMETER",
                f"{where}: secondaryDeliveryMethod is SMS or WhatsApp, besides email delivery",
            )
        secondary_phone = parse_phone(extra[0].get("phoneNumber"), where)
    return Delivery(primary or "email", phone, secondary, secondary_phone)
