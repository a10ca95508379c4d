"""The one Logger, Metrics and Tracer; service name and namespace come from POWERTOOLS_* env."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
