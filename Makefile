# One entry point for every task. Each target sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.txt requirements/runtime.txt pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup test test-fast lint demo bench clean

$(STAMP): requirements/dev.txt requirements/runtime.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP)

lint: setup
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests

test: setup
	mkdir -p build
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

demo: setup
	$(BIN)/stepdeploy demo

bench: setup
	$(BIN)/python -m stepdeploy_dev.bench

clean:
	rm -rf $(VENV) build .pytest_cache

# `sam build` runs this to build the shared layer (Metadata: BuildMethod: makefile).
# STEPDEPLOY_LOCAL_BUILD=1 (the local cloud) skips the pip install: its venv has the packages.
build-StepdeployLayer:
	mkdir -p "$(ARTIFACTS_DIR)/python"
	cp -R stepdeploy "$(ARTIFACTS_DIR)/python/"
	find "$(ARTIFACTS_DIR)/python" -name __pycache__ -prune -exec rm -rf {} +
	if [ -z "$$STEPDEPLOY_LOCAL_BUILD" ]; then \
	  $(PYTHON) -m pip install --quiet -r requirements/runtime.txt -t "$(ARTIFACTS_DIR)/python" \
	    --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.12; \
	fi
