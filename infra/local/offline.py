"""AWS settings that reach moto only: fake keys, and no profile files that could name a real account."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import MutableMapping

OFFLINE_AWS_ENV: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def go_offline(environ: MutableMapping[str, str] | None = None) -> None:
    """Make every boto3 client created afterwards use fake credentials and no profile."""
    target = os.environ if environ is None else environ
    target.update(OFFLINE_AWS_ENV)
    target.pop("AWS_PROFILE", None)
