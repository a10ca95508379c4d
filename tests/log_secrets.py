"""No log line the suite makes dealwire write holds a secret the suite planted.

Installed by tests/conftest.py's ``pytest_configure``, before any test module is imported
(its hooks are conftest's). It records every secret the tests and the simulator make as they
make them: Connect HMAC keys and each signature computed with one (dealwire's verification
and the simulator's signing both pass through here), the simulator's access tokens, the
API's part-link signatures, the DocuSign app's private keys, and the lines of every mail
body ``tests.mail_support.bcc_mail`` builds. Every log record any logger emits in the test
process, except the test doubles' own (the simulator, moto, the local stack), is searched
for them, as text, arguments, extras and traceback, and for any private key or JWT at all.
A test during whose run such a record was emitted fails, naming the record.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

ROOT = Path(__file__).resolve().parents[1]
# Records the test doubles make are theirs, not dealwire's: the simulator and the local stack
# (infra/), moto and the servers they run on.
_DOUBLES = ("/moto/", "/werkzeug/", "/aiosmtpd/")
_SHAPES = {
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a JWT": re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*"),
}
# Tokens, keys and signatures are runs of these; a planted one is looked for inside each run.
_RUN = re.compile(r"[A-Za-z0-9+/=_-]{16,}")
_SHORTEST = 16


class Planted:
    """The secrets made so far, searchable by length (a few lengths, many values)."""

    def __init__(self) -> None:
        self.tokens: dict[int, set[str]] = {}
        self.phrases: set[str] = set()

    def token(self, value: str) -> None:
        if len(value) >= _SHORTEST:
            self.tokens.setdefault(len(value), set()).add(value)

    def phrase(self, text: str) -> None:
        """A mail body: each line long enough to be its own."""
        for line in text.splitlines():
            if len(line.strip()) >= 24:
                self.phrases.add(line.strip())

    def found_in(self, text: str) -> list[str]:
        found = [name for name, shape in _SHAPES.items() if shape.search(text)]
        for run in _RUN.findall(text):
            for length, values in self.tokens.items():
                if any(run[i : i + length] in values for i in range(len(run) - length + 1)):
                    found.append(f"a planted secret of {length} characters")
        found.extend("a mail body's line" for phrase in self.phrases if phrase in text)
        return found


PLANTED = Planted()
LEAKS: list[str] = []


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write of a record: message, arguments, extras, traceback."""
    parts = [record.getMessage(), json.dumps(vars(record), default=str)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.extend(traceback.format_exception(record.exc_info[1]))
    return "\n".join(parts)


def look_at(record: logging.LogRecord) -> None:
    if record.pathname.startswith(str(ROOT / "infra")) or any(part in record.pathname for part in _DOUBLES):
        return
    found = dict.fromkeys(PLANTED.found_in(record_text(record)))
    if found:
        LEAKS.append(
            f"{record.name} ({record.pathname}:{record.lineno}) logged {', '.join(found)}: {record.msg!r}"
        )


def _planting(function: Callable[..., Any], *, result: bool = True, arguments: tuple[str, ...] = ()) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = dict(zip(function.__code__.co_varnames, args, strict=False)) | kwargs
        for name in arguments:
            if isinstance(bound.get(name), str):
                PLANTED.token(bound[name])
        value = function(*args, **kwargs)
        if result and isinstance(value, str):
            PLANTED.token(value)
        return value

    return wrapper


def _planting_app_secret(load: Callable[..., Any]) -> Any:
    """The DocuSign app's private key, as dealwire reads it: each line of its base64."""

    @functools.wraps(load)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = load(*args, **kwargs)
        for line in app.private_key.get_secret_value().splitlines()[1:-1]:
            PLANTED.token(line)
        return app

    return wrapper


def install() -> None:
    """Record secrets where they are made, and look at every log record."""
    from dealwire.api import part_links
    from dealwire.store import docusign_app
    from dealwire.webhook import signature
    from infra.docusign_sim import auth, connect
    from tests import mail_support

    signature.sign = _planting(signature.sign, arguments=("key",))
    connect.sign = _planting(connect.sign, arguments=("key",))
    auth.TokenStore.issue = _planting(auth.TokenStore.issue)  # type: ignore[method-assign]
    part_links.PartLinks._signature = _planting(part_links.PartLinks._signature)  # type: ignore[method-assign]
    docusign_app.load_app_secret = _planting_app_secret(docusign_app.load_app_secret)
    bcc_mail = mail_support.bcc_mail

    default_body = inspect.signature(bcc_mail).parameters["body"].default

    @functools.wraps(bcc_mail)
    def planted_mail(**kwargs: Any) -> bytes:
        PLANTED.phrase(kwargs.get("body", default_body))
        return bcc_mail(**kwargs)

    mail_support.bcc_mail = planted_mail
    call_handlers = logging.Logger.callHandlers

    def tee(self: logging.Logger, record: logging.LogRecord) -> None:
        look_at(record)
        call_handlers(self, record)

    logging.Logger.callHandlers = tee  # type: ignore[method-assign]


def _checked(when: str) -> Generator[None, None, None]:
    LEAKS.clear()
    yield
    if LEAKS:
        leaks = "\n".join(LEAKS)
        LEAKS.clear()
        pytest.fail(f"a secret reached the log during {when}:\n{leaks}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked("setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked("the test"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _checked("teardown"))
