# One entry point for every task. Each target sets up what it needs on a fresh machine.
# lint-imports enforces who may import whom (pyproject.toml [tool.importlinter], docs/layout.md);
# mypy checks the runtime, the CLI and functions/ (pyproject.toml [tool.mypy]).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.txt requirements/runtime.txt pyproject.toml | cksum | cut -d' ' -f1)
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cksum < requirements/tools.txt | cut -d' ' -f1)

.PHONY: setup test test-fast lint demo bench clean

$(STAMP): requirements/dev.txt requirements/runtime.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# checkov pins a boto3 of its own: it gets a virtual environment of its own
# (tests/unit/test_template_policy.py runs it on the transformed template.yaml).
$(TOOLS_STAMP): requirements/tools.txt
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	rm -f $(TOOLS_VENV)/.installed-*
	touch $@

setup: $(STAMP) $(TOOLS_STAMP)

lint: setup
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy

test: setup
	mkdir -p build
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

demo: setup
	$(BIN)/stepdeploy demo

bench: setup
	$(BIN)/python -m stepdeploy_dev.bench

clean:
	rm -rf $(VENV) $(TOOLS_VENV) build .pytest_cache
