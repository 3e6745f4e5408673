# Two commands on a fresh clone: `make demo` and `make test`. Both build the
# virtual environment (.venv); each installs only what it needs: the demo the
# package with its local extra (the embedded AWS), the tests the dev tools too.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: demo test lint bench lambda-zip clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(LOCAL_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	touch $(LOCAL_STAMP)

# The dev extra includes the local one.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(LOCAL_STAMP)

demo: $(LOCAL_STAMP)
	$(BIN)/lava-state demo

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint deploy/*.yaml

test: lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_put_get.py
	$(BIN)/python bench/bench_expand.py
	$(BIN)/python bench/bench_stream.py
	$(BIN)/python bench/bench_publisher.py
	$(BIN)/python bench/bench_transfer.py

# The stream processor's code for the stack's ProcessorCodeBucket/Key: this
# package and its runtime dependencies, as wheels for the function's runtime
# (Python 3.12 on arm64, see deploy/lava-state.yaml).
LAMBDA_PLATFORM := --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:
lambda-zip: $(STAMP)
	rm -rf build/lambda build/wheel build/lava-state-processor.zip
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir build/wheel .
	$(BIN)/python -m pip install --quiet $(LAMBDA_PLATFORM) --target build/lambda build/wheel/*.whl
	cd build/lambda && ../../$(BIN)/python -m zipfile -c ../lava-state-processor.zip .
	@echo "built build/lava-state-processor.zip"

clean:
	rm -rf $(VENV) build
