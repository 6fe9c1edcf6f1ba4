# The two commands of the README: `make dev` and `make test`. Everything else is a helper of theirs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint unit install clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Start moto server, create the stack, seed, serve the API and deliver events (Ctrl-C stops it all).
dev: $(STAMP)
	$(BIN)/python -m devstack

## Lint, then the whole suite: unit, integration and end-to-end.
test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml

## Fast feedback: unit tests only.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
