"""DocuSign timestamps made absolute and comparable without losing their 100 ns precision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

# DocuSign writes 7 fractional digits ("2023-05-11T16:57:07.8713504Z"); datetime keeps 6,
# and two Connect events 100 ns apart must still compare in order, so the canonical form
# is a fixed-width UTC string that sorts lexicographically in time order.
_TIMESTAMP = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>Z|[+-]\d{2}:?\d{2})?$",
    re.ASCII,  # \d must not match other scripts' digits: the canonical form is ASCII
)
FRACTION_DIGITS = 7
MAX_OFFSET_HOURS = 18  # ISO 8601 allows up to ±18:00 in practice; none is used beyond ±14


class TimestampError(ValueError):
    """A timestamp that is not ISO 8601 as DocuSign writes it."""


def canonical_timestamp(text: str, assume_zone: tzinfo = UTC) -> str:
    """Return ``text`` as ``YYYY-MM-DDTHH:MM:SS.fffffffZ`` in UTC.

    A timestamp without an offset (DocuSign's legacy XML) is read in ``assume_zone``.
    """
    match = _TIMESTAMP.match(text.strip())
    if match is None:
        raise TimestampError(f"not an ISO 8601 timestamp: {text[:40]!r}")
    date_time = f"{match['date']}T{match['time']}"
    try:
        naive = datetime.fromisoformat(date_time)
    except ValueError as exc:
        raise TimestampError(f"not a valid date and time: {text[:40]!r}") from exc
    offset = match["offset"]
    fraction = (match["fraction"] or "").ljust(FRACTION_DIGITS, "0")[:FRACTION_DIGITS]
    if offset == "Z" or (offset is None and assume_zone is UTC):
        # Already UTC (nearly every DocuSign timestamp): valid as checked, nothing to convert.
        return f"{date_time}.{fraction}Z"
    zone: tzinfo
    if offset is None:
        zone = assume_zone
    elif offset == "Z":
        zone = UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        # Real offsets lie within ±14 h; timezone() refuses ±24 h and beyond by raising.
        if hours > MAX_OFFSET_HOURS or minutes > 59:
            raise TimestampError(f"UTC offset out of range: {text[:40]!r}")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        absolute = naive.replace(tzinfo=zone).astimezone(UTC)
    except OverflowError as exc:
        raise TimestampError(f"timestamp out of range: {text[:40]!r}") from exc
    return _canonical(absolute, fraction)


def canonical_now() -> str:
    """The current time in the canonical form (to the microsecond, the clock's precision)."""
    now = datetime.now(UTC)
    return _canonical(now, f"{now.microsecond:06d}0")


def _canonical(moment: datetime, fraction: str) -> str:
    """``moment`` (in UTC) to the second, then ``fraction``'s seven digits."""
    # Explicit widths: strftime's %Y does not zero-pad years before 1000 on glibc.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{fraction}Z"
    )


_CLOCK_OFFSET = re.compile(r"^([+-])?(\d{1,2}):(\d{2})$", re.ASCII)


def zone_from_offset_hours(hours: str) -> tzinfo:
    """The fixed zone of XML ``<TimeZoneOffset>``: whole hours as DocuSign writes them
    ("-8"), and, to be safe, fractions ("5.5") and clock form ("-08:00")."""
    clock = _CLOCK_OFFSET.match(hours.strip())
    try:
        if clock:
            sign = -1 if clock[1] == "-" else 1
            value = sign * (int(clock[2]) + int(clock[3]) / 60)
        else:
            value = float(hours)
    except ValueError as exc:
        raise TimestampError(f"TimeZoneOffset is not a number of hours: {hours[:20]!r}") from exc
    if not -14 <= value <= 14:
        raise TimestampError(f"TimeZoneOffset out of range: {hours[:20]!r}")
    return timezone(timedelta(minutes=round(value * 60)))


def compact(canonical: str) -> str:
    """A canonical timestamp as an S3-key-friendly token (no colons)."""
    return canonical.replace("-", "").replace(":", "")
