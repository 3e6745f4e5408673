# Two commands on a fresh clone: `make demo` and `make test`. Both build the
# virtual environment (.venv); each installs only what it needs: the demo the
# package with its local extra (the embedded AWS), the tests the dev tools too.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCAL_STAMP := $(VENV)/.installed-local

.PHONY: demo test lint browser bench screenshots lambda-zip clean

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

# The web view's browser tests drive Debian's chromium through chromium-driver:
# installed here when missing and apt-get can (as root); when it cannot, the
# tests go on and those skip, saying why.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	            apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
	            || echo "chromium could not be installed: the browser tests skip" >&2; \
	    else \
	        echo "no chromium, and no apt-get as root to install it: the browser tests skip" >&2; \
	    fi; \
	fi

test: lint browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_put_get.py
	$(BIN)/python bench/bench_expand.py
	$(BIN)/python bench/bench_render.py
	$(BIN)/python bench/bench_stream.py
	$(BIN)/python bench/bench_publisher.py
	$(BIN)/python bench/bench_subscribe.py
	$(BIN)/python bench/bench_reliability.py
	$(BIN)/python bench/bench_package.py
	$(BIN)/python bench/bench_scaling.py
	$(BIN)/python bench/bench_local_stack.py
	$(BIN)/python bench/bench_ui.py
	$(BIN)/python bench/bench_transfer.py

# The web view's screenshots in docs/ (needs Debian's chromium and chromium-driver).
screenshots: $(STAMP)
	$(BIN)/python bench/ui_screenshots.py

# The stream processor's code for the stack's ProcessorCodeBucket/Key: this
# package and its runtime dependencies, as wheels for the function's runtime
# (Python 3.12 on arm64, see deploy/lava-state.yaml), in a reproducible zip.
# `lava-state deploy` builds it with the same code (lava_state_cli/package.py).
lambda-zip: $(STAMP)
	$(BIN)/python -m lava_state_cli.package --out build/lava-state-processor.zip

clean:
	rm -rf $(VENV) build
