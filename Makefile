# One entry point for every task. Each target sets up what it needs on a fresh machine.
# lint-imports enforces who may import whom (pyproject.toml [tool.importlinter], docs/layout.md);
# mypy checks the runtime, the CLI and functions/ (pyproject.toml [tool.mypy]).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.txt requirements/runtime.txt pyproject.toml | cksum | cut -d' ' -f1)
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed-$(shell cksum < requirements/tools.txt | cut -d' ' -f1)
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cksum < requirements/sam.txt | cut -d' ' -f1)
# The layer's packages for the local cloud: wheels for the layer's Python on this machine's architecture,
# downloaded once at set-up, so that building the layer locally needs no network.
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
LAYER_PYTHON_VERSION := 3.12
LOCAL_ARCH := $(shell uname -m)
LAYER_WHEELS := $(HERE).wheels/layer-py$(LAYER_PYTHON_VERSION)-$(LOCAL_ARCH)-$(shell cksum < $(HERE)requirements/runtime.txt | cut -d' ' -f1)
# What every Python Lambda runtime provides (boto3, botocore and their dependencies): the local build leaves
# these out of the layer (a third of its size; the runtime's copies are of compatible versions).
LAMBDA_RUNTIME_PROVIDES := boto3 boto3-* botocore botocore-* s3transfer s3transfer-* jmespath jmespath-* \
  dateutil python_dateutil-* six.py six-* urllib3 urllib3-*
LAYER_PLATFORM := --platform manylinux2014_$(LOCAL_ARCH) --only-binary=:all: --python-version $(LAYER_PYTHON_VERSION)

.PHONY: setup test test-fast lint demo bench screenshots clean layer-wheels layer-site layer-site-path

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

# The SAM CLI for the local cloud's builds (the default buildspec runs `sam build`): a virtual environment of
# its own (it pins its own boto3), never the local cloud's; builds get only its `sam` on their PATH.
$(SAM_STAMP): requirements/sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sam.txt
	rm -f $(SAM_VENV)/.installed-*
	touch $@

$(LAYER_WHEELS)/.complete: requirements/runtime.txt
	rm -rf $(HERE).wheels/layer-py*
	$(PYTHON) -m pip download --quiet --disable-pip-version-check --no-deps -r $(HERE)requirements/runtime.txt \
	  $(LAYER_PLATFORM) -d $(LAYER_WHEELS)
	touch $@

layer-wheels: $(LAYER_WHEELS)/.complete

# The layer's packages installed for the local cloud once (from the wheels, no network); every local build
# of the layer copies them.
$(LAYER_WHEELS)/site/.complete: $(LAYER_WHEELS)/.complete
	rm -rf $(LAYER_WHEELS)/site
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps --no-compile --no-index --find-links $(LAYER_WHEELS) \
	  -r $(HERE)requirements/runtime.txt -t $(LAYER_WHEELS)/site $(LAYER_PLATFORM)
	cd $(LAYER_WHEELS)/site && rm -rf bin $(LAMBDA_RUNTIME_PROVIDES)
	touch $@

layer-site: $(LAYER_WHEELS)/site/.complete

# Where layer-site put the packages (layer/Makefile copies them into a local build of the layer).
layer-site-path:
	@echo $(LAYER_WHEELS)/site

setup: $(STAMP) $(TOOLS_STAMP) $(SAM_STAMP) layer-site

lint: setup
	$(BIN)/cfn-lint template.yaml templates/stage-account.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy

test: setup
	mkdir -p build
	$(BIN)/cfn-lint template.yaml templates/stage-account.yaml
	$(BIN)/python -m stepdeploy_dev.asl_lint statemachines/deploy.asl.json --substitutions-from template.yaml
	$(BIN)/ruff check stepdeploy stepdeploy_cli stepdeploy_localcloud stepdeploy_dev functions tests
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

demo: setup
	$(BIN)/stepdeploy demo

bench: setup
	$(BIN)/python -m stepdeploy_dev.bench

# The dashboard's screenshots in docs/: the browser tests write them only when STEPDEPLOY_SCREENSHOTS names a folder.
screenshots: setup
	STEPDEPLOY_SCREENSHOTS=docs PYTHONPATH=$(HERE) $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_dashboard.py
	STEPDEPLOY_SCREENSHOTS=docs PYTHONPATH=$(HERE) $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_dashboard_steering.py

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(SAM_VENV) .wheels build .pytest_cache

