# The two commands of the README: `make dev` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEPLOY_STAMP := $(VENV)/.installed-deploy
CHECKOV_STAMP := $(VENV)/checkov/.installed

.PHONY: dev test lint unit fuzz docs install install-deploy clean deploy destroy package dlq chromium screenshots

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip<26.3"  # chalice 1.34 packages with pip and requires pip<26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Only what deploying needs (requirements-deploy.txt): CI's deploy job installs this, before its AWS credentials.
$(DEPLOY_STAMP): requirements.txt requirements-deploy.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip<26.3"
	$(BIN)/python -m pip install --quiet -r requirements-deploy.txt
	touch $(DEPLOY_STAMP)

install-deploy: $(DEPLOY_STAMP)

## Start moto server, create the stack, seed, serve the API and deliver events (Ctrl-C stops it all).
dev: $(STAMP)
	$(BIN)/python -m devstack

## Lint, then the whole suite: unit, integration, end-to-end and browser.
test: $(STAMP) chromium lint
	$(BIN)/python -m pytest

## The browser tests drive Debian's Chromium through Playwright (no browser download is possible here).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

## Rewrite docs/screenshots/ from the browser tests (390 px and 1280 px wide).
screenshots: $(STAMP) chromium
	STOREFRONT_SCREENSHOTS=1 $(BIN)/python -m pytest tests/browser -n0

## checkov pins an older boto3 than the app's: it gets a virtualenv of its own inside .venv.
$(CHECKOV_STAMP): requirements-checkov.txt
	test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov || python3 -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## ruff; mypy (strict on chalicelib/); cfn-lint (with the serverless rules) and checkov on the templates, accepted findings in
## infra/lint-skips.yaml; parliament on every function's generated IAM policy.
lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m infra.lint
	$(BIN)/python -m deploy.policy_lint

## Regenerate the committed documents the tests hold to the code (docs/api.md).
docs: $(STAMP)
	$(BIN)/python -m tools.api_reference

## Long API fuzzing (schemathesis, every phase, as a user and as an admin) on a dev stack of its own.
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.runner $(FUZZ_ARGS)

## Fast feedback: unit tests only.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

## Deploy a stage to the AWS account of the current credentials: resources stack, chalice deploy, post-deploy.
## SENDER_EMAIL (required): the address emails are sent from; it or its domain must be a verified SES identity.
deploy: $(DEPLOY_STAMP)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=<stage>"; exit 2; }
	$(BIN)/python -m deploy deploy --stage $(STAGE) $(if $(SENDER_EMAIL),--sender-email $(SENDER_EMAIL))

## Remove a stage: the Chalice app, then the resources stack. prod asks for the typed confirmation
## "destroy prod" (or CONFIRM="destroy prod") and keeps its tables, user pool and uploads bucket.
destroy: $(DEPLOY_STAMP)
	@test -n "$(STAGE)" || { echo "usage: make destroy STAGE=<stage>"; exit 2; }
	$(BIN)/python -m deploy destroy --stage $(STAGE) $(if $(CONFIRM),--confirm "$(CONFIRM)")

## Build the exact zip `make deploy` uploads into dist/<stage>/deployment.zip.
package: $(DEPLOY_STAMP)
	@test -n "$(STAGE)" || { echo "usage: make package STAGE=<stage>"; exit 2; }
	$(BIN)/python -m deploy package --stage $(STAGE)

## A stage's dead-letter queues: `make dlq STAGE=dev` lists them; DLQ_ARGS runs another command, e.g.
## DLQ_ARGS="inspect --queue payments-dlq" or "redrive --queue payments-dlq --dry-run" (docs/operations.md).
dlq: $(DEPLOY_STAMP)
	@test -n "$(STAGE)" || { echo "usage: make dlq STAGE=<stage> [DLQ_ARGS=\"inspect --queue payments-dlq\"]"; exit 2; }
	$(BIN)/python -m deploy.dlq $(or $(DLQ_ARGS),list) --stage $(STAGE)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
