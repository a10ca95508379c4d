"""The one Logger, Metrics and Tracer; service name and namespace come from POWERTOOLS_* env."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
# Only botocore is patched: the default list would import httpx (~50 ms of cold start)
# just to patch it, and the webhook never makes an HTTP call of its own.
tracer = Tracer(patch_modules=["botocore"])
