"""File names dealwire hands on (S3 key segments, download names): what every system can save."""

from __future__ import annotations

import re

# Windows' reserved device names, with any extension ("NUL.txt" is the device too).
_DEVICE = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\.[^.]*)*$", re.IGNORECASE)


def last_segment(name: str) -> str:
    """The name without any directory a sender put in front of it (either separator)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def not_a_device(name: str) -> str:
    """``name``, prefixed with ``_`` when Windows would open a device instead of a file."""
    return "_" + name if _DEVICE.match(name) else name
