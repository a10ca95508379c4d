# dealwire: `make test` is everything CI checks; `make run` is the whole system locally.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON := $(shell tools/find-python)
UV_VERSION := 0.13.9
TOOLS := .dealwire/tools
UV := $(TOOLS)/bin/uv
SAM_ENV := $(CURDIR)/.dealwire/sam
SECURITY_ENV := $(CURDIR)/.dealwire/security
VENV := .venv
BIN := $(VENV)/bin
# uv must never download an interpreter: it uses the one found above.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
# SAM CLI must not phone home: there is no network here, and CI should not wait on one.
export SAM_CLI_TELEMETRY := 0

.PHONY: help install test lint typecheck template security requirements pytest unit run demo bench lock openapi clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(UV):
	@mkdir -p $(dir $(TOOLS))
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen
	@touch $@

$(SAM_ENV)/.synced: $(UV) tools/sam/uv.lock tools/sam/pyproject.toml
	cd tools/sam && UV_PROJECT_ENVIRONMENT=$(SAM_ENV) $(CURDIR)/$(UV) sync --frozen
	@touch $@

$(SECURITY_ENV)/.synced: $(UV) tools/security/uv.lock tools/security/pyproject.toml
	cd tools/security && UV_PROJECT_ENVIRONMENT=$(SECURITY_ENV) $(CURDIR)/$(UV) sync --frozen
	@touch $@

install: $(VENV)/.synced $(SAM_ENV)/.synced $(SECURITY_ENV)/.synced  ## create the virtual environments from the lock files

test: install lint typecheck  ## everything CI checks
	@# sam build mostly waits on the package registry: it runs beside the tests, not before them.
	$(MAKE) --no-print-directory -j2 --output-sync=target template security pytest

lint: $(VENV)/.synced  ## ruff (lint and format check)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.synced  ## mypy --strict on the shipped package
	$(BIN)/mypy

template: $(VENV)/.synced $(SAM_ENV)/.synced  ## sam validate --lint and sam build (no Docker)
	$(SAM_ENV)/bin/sam validate --lint --template template.yaml
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM_ENV)/bin/sam build --template template.yaml --build-dir .aws-sam/build

security: $(SAM_ENV)/.synced $(SECURITY_ENV)/.synced  ## cfn-lint and checkov on the SAM-transformed template, bandit on functions/, pip-audit when it can
	$(SAM_ENV)/bin/python tools/sam/transform.py template.yaml .aws-sam/transformed.json
	$(SAM_ENV)/bin/cfn-lint .aws-sam/transformed.json
	$(SECURITY_ENV)/bin/checkov --config-file tools/security/checkov.yaml --file .aws-sam/transformed.json
	$(SECURITY_ENV)/bin/bandit --quiet --recursive functions
	$(SECURITY_ENV)/bin/python tools/security/audit.py functions/requirements.txt

pytest: $(VENV)/.synced  ## the whole pytest suite (unit, infra, integration on 2 workers, then e2e), with the coverage floor
	$(BIN)/pytest -n 2 --dist loadgroup --cov --cov-report=term tests/unit tests/infra tests/integration
	$(BIN)/pytest tests/e2e

unit: $(VENV)/.synced  ## unit tests only (no AWS, no sockets)
	$(BIN)/pytest tests/unit

run: $(VENV)/.synced  ## the whole system locally: moto server, HTTP gateway, stream routing
	$(BIN)/python -m infra.local.run

demo: $(VENV)/.synced  ## the whole story, each step verified, over the running `make run` (or one of its own); PAUSE=3 to watch it in the console
	$(BIN)/python -m infra.local.demo $(if $(PAUSE),--pause $(PAUSE))

bench: $(VENV)/.synced  ## per-event cost (CPU, AWS requests, cold start); document job and mail memory; poll cycles; a local burst
	$(BIN)/python -m bench.webhook
	$(BIN)/python -m bench.documents
	$(BIN)/python -m bench.mail
	$(BIN)/python -m bench.automation
	$(BIN)/python -m bench.polling
	$(BIN)/python -m bench.lifetime
	$(BIN)/python -m bench.local_burst --own-stack --markdown bench/results-local-burst.md

openapi: $(VENV)/.synced  ## regenerate docs/openapi.json from the HTTP API's functions' routes
	PYTHONPATH=functions:. $(BIN)/python -m infra.local.api_docs

lock: $(UV)  ## re-resolve the lock files and re-export functions/requirements.txt
	$(UV) lock
	cd tools/sam && $(CURDIR)/$(UV) lock
	cd tools/security && $(CURDIR)/$(UV) lock
	$(MAKE) requirements

requirements: $(UV)  ## functions/requirements.txt from uv.lock (what sam build ships)
	$(UV) export --frozen --no-dev --no-emit-project --no-header --output-file functions/requirements.txt >/dev/null

clean:  ## remove the environments and build output
	rm -rf $(VENV) .dealwire .aws-sam .mypy_cache .ruff_cache .pytest_cache
