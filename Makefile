# d2l-serve: every target installs what it needs first, so a fresh clone needs only `make run` / `make test`.
PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
BASE_IMAGE ?= python:3.11-slim
# pytest-xdist processes for make test: both cores of the 2-core development machines.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

# Tests and benchmarks read the shared data sets when they sit beside the checkout.
ifeq ($(origin D2L_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data),)
export D2L_DATA_DIR := $(abspath ../shared/data)
endif
endif

.PHONY: install run test test-all test-models lint bench image-test gpu-wheels clean

install: $(STAMP)

# Re-installs only when pyproject.toml changes; the stamp makes a second `make install` instant.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	touch $(STAMP)

run: install
	$(BIN)/python -m app.server --host $(HOST) --port $(PORT)

# The fast tier, before every commit: unit tests of models/ and app/, the app on small models,
# the geometry and word examples of the docs (docs/architecture.md#tests).
test: install
	$(BIN)/python -m pytest -m "not integration and not slow" -n $(TEST_WORKERS) --durations=25

# Everything (what CI runs): the fast tier, the integration tier (server processes, browser,
# generated clients, fuzzing, failover, torchrun, the committed image models over HTTP) and the
# committed models on their whole evaluation sets; then the image smoke test, where an engine runs.
test-all: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=25
	@if podman info >/dev/null 2>&1 || docker info >/dev/null 2>&1; then \
		$(MAKE) image-test; \
	else \
		echo "make test-all: no podman or docker engine runs here: the image smoke test (make image-test) was not run"; \
	fi

# The committed models on their whole evaluation sets alone (part of test-all).
test-models: install
	$(BIN)/python -m pytest -m slow --durations=25

lint: install
	$(BIN)/ruff check app models tests bench
	$(BIN)/ruff format --check app models tests bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,train,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.geometry
	$(BIN)/python -m bench.word2vec
	$(BIN)/python -m bench.detect
	$(BIN)/python -m bench.classify
	$(BIN)/python -m bench.serving
	$(BIN)/python -m bench.speedups
	$(BIN)/python -m bench.overload
	$(BIN)/python -m bench.failover

# Build the image (podman or docker), run it, check health, /detect and a stop under load.
# Where Docker Hub is unreachable: make image-test BASE_IMAGE=$$(deploy/base-image.sh)
image-test:
	BASE_IMAGE=$(BASE_IMAGE) deploy/image-test.sh

# The web stack for the GPU machines (Python 3.12, no internet there): bench/gpu.py --wheels.
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --only-binary=:all: --python-version 3.12 \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d bench/wheels \
		fastapi fastapi-offline uvicorn pydantic-settings python-multipart prometheus-client

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
