"""Query dates as DocuSign reads them (``from_date``, ``to_date``): ISO 8601 and the US slashed forms."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from infra.docusign_sim.errors import SimError

_FRACTION = re.compile(r"(\.\d{6})\d+")
_SLASHED_DATE = re.compile(
    r"^(?:(?P<year>\d{4})/(?P<month>\d{1,2})/(?P<day>\d{1,2})"
    r"|(?P<us_month>\d{1,2})/(?P<us_day>\d{1,2})/(?P<us_year>\d{4}))"
    r"(?:[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s*(?P<half>[AaPp][Mm]))?)?$"
)


def parse_time(text: str, parameter: str) -> datetime:
    """A query date as DocuSign takes it (``from_date``, ``to_date``).

    DocuSign reads them with .NET's ``DateTime.Parse`` and recommends ISO 8601 with an offset;
    the simulator takes ISO 8601 dates and date-times, and the US forms ``yyyy/MM/dd`` and
    ``MM/dd/yyyy`` with an optional ``HH:mm[:ss]`` (24-hour, or 12-hour with AM/PM). No zone
    means the server's, which for the simulator is UTC.
    """
    value = text.strip()
    try:
        slashed = _SLASHED_DATE.match(value)
        if slashed is None:
            moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))
        else:
            moment = _slashed(slashed)
    except ValueError as exc:
        raise SimError(
            400,
            "INVALID_REQUEST_PARAMETER",
            f"The request contained at least one invalid parameter. Invalid value for '{parameter}'.",
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _slashed(found: re.Match[str]) -> datetime:
    hour = int(found["hour"] or 0)
    if found["half"]:
        if not 1 <= hour <= 12:
            raise ValueError("a 12-hour clock's hour is 1 to 12")
        hour = hour % 12 + (12 if found["half"].upper() == "PM" else 0)
    return datetime(
        int(found["year"] or found["us_year"]),
        int(found["month"] or found["us_month"]),
        int(found["day"] or found["us_day"]),
        hour,
        int(found["minute"] or 0),
        int(found["second"] or 0),
    )
