from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealwire.domain.timestamps import TimestampError, canonical_timestamp, zone_from_offset_hours


def test_docusign_seven_digit_fractions_are_kept() -> None:
    assert canonical_timestamp("2023-05-11T16:57:07.8713504Z") == "2023-05-11T16:57:07.8713504Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-11T16:57:07Z", "2023-05-11T16:57:07.0000000Z"),
        ("2023-05-11T16:57:07.87Z", "2023-05-11T16:57:07.8700000Z"),
        ("2023-05-11T16:57:07.123456789Z", "2023-05-11T16:57:07.1234567Z"),
        ("2023-05-11T18:57:07.5+02:00", "2023-05-11T16:57:07.5000000Z"),
        ("2023-05-11T11:57:07-0500", "2023-05-11T16:57:07.0000000Z"),
    ],
)
def test_offsets_and_precisions(text: str, expected: str) -> None:
    assert canonical_timestamp(text) == expected


def test_a_local_time_is_read_in_the_given_zone_including_summer_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert canonical_timestamp("2024-07-01T12:00:00.1", berlin) == "2024-07-01T10:00:00.1000000Z"
    assert canonical_timestamp("2024-01-01T12:00:00", berlin) == "2024-01-01T11:00:00.0000000Z"


def test_xml_time_zone_offset_hours() -> None:
    zone = zone_from_offset_hours("-8")
    assert canonical_timestamp("2024-03-04T08:22:10.66", zone) == "2024-03-04T16:22:10.6600000Z"
    assert canonical_timestamp("2024-03-04T21:52:10", zone_from_offset_hours("5.5")).startswith(
        "2024-03-04T16:22:10"
    )
    assert zone_from_offset_hours("-08:00") == zone_from_offset_hours("-8")
    assert zone_from_offset_hours("+05:30") == zone_from_offset_hours("5.5")


@pytest.mark.parametrize(
    "bad", ["", "yesterday", "2023-13-01T00:00:00Z", "2023-05-11 16:57", "2023-05-11T16:57:07+2"]
)
def test_malformed_timestamps_are_refused(bad: str) -> None:
    with pytest.raises(TimestampError):
        canonical_timestamp(bad)


@pytest.mark.parametrize("bad", ["eight", "99", "nan"])
def test_malformed_offsets_are_refused(bad: str) -> None:
    with pytest.raises(TimestampError):
        zone_from_offset_hours(bad)


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_canonical_strings_sort_as_time_does(a: object, b: object) -> None:
    first, second = (canonical_timestamp(value.isoformat()) for value in (a, b))  # type: ignore[attr-defined]
    assert (first < second) == (a < b)  # type: ignore[operator]


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    digits=st.text(alphabet="0123456789", max_size=9),
)
def test_the_utc_shortcut_agrees_with_the_conversion_it_skips(moment: datetime, digits: str) -> None:
    text = moment.replace(microsecond=0).isoformat() + (f".{digits}" if digits else "")
    assert canonical_timestamp(text + "Z") == canonical_timestamp(text + "+00:00")
    assert canonical_timestamp(text) == canonical_timestamp(text + "-00:00")
