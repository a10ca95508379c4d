"""The one Logger, Metrics and Tracer; service name and namespace come from POWERTOOLS_* env."""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer


def _as_written(message: dict[Any, Any] | str | bool | int | float) -> str:
    """Log messages are plain sentences, never JSON text: the formatter's default tries
    ``json.loads`` on every one (and fails, raising), a sixth of a log line's CPU. It only
    ever hands a ``str`` here, which is kept as it is."""
    return str(message)


# No log line names a thread or a process: the standard library need not look them up
# for every record (the logging HOWTO's "Optimization").
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

logger = Logger(json_deserializer=_as_written)
metrics = Metrics()
# Only botocore is patched: the default list would import httpx (~50 ms of cold start)
# just to patch it, and the webhook never makes an HTTP call of its own.
tracer = Tracer(patch_modules=["botocore"])
