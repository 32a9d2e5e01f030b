# Two commands matter: `make run` (set up and serve the demo model) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
# `buf breaking` compares the contract with this one (override, e.g. with a release tag).
BUF_AGAINST ?= .git\#branch=main,subdir=proto
HOST ?= 127.0.0.1
PORT ?= 50051

.PHONY: run install dev test pytest lint breaking proto demo-model bench clean deploy-files image-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The serving install: no torch, no transformers.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Everything: serving + convert/train extras (torch 2.13.0 CPU) + test and lint tools.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)
dev: $(DEV_STAMP)

run: $(RUN_STAMP)
	$(BIN)/s2s serve --host $(HOST) --port $(PORT) --log-format console

test: lint pytest

pytest: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

$(BUF):
	npm install --no-audit --no-fund --silent --prefix .tools @bufbuild/buf@$(BUF_VERSION)

lint: $(DEV_STAMP) $(BUF)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BUF) lint
	$(MAKE) --no-print-directory breaking

# The public contract only grows: no field renumbered, retyped or removed (against main).
breaking: $(BUF)
	$(BUF) breaking proto --against '$(BUF_AGAINST)'

proto: $(DEV_STAMP)
	$(BIN)/python scripts/gen_proto.py

demo-model: $(DEV_STAMP)
	$(BIN)/python -m demo_model.build

bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerate the Grafana dashboard and the k8s monitoring copies (a test fails while stale).
deploy-files: $(DEV_STAMP)
	$(BIN)/python scripts/gen_dashboard.py
	$(BIN)/python scripts/gen_k8s_monitoring.py

# Slow proof (minutes, needs podman + runc + debootstrap): build deploy/Dockerfile on a locally
# bootstrapped Debian base and call the running container (docs/operations.md).
image-test: $(DEV_STAMP)
	scripts/image_test.sh

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache build *.egg-info
