# One command sets everything up and runs the main job (`make demo`); one runs the tests (`make test`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.radlite-installed

.PHONY: install demo test test-fast lint bench results clean browser

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev,elastic,qdrant,ray]"
	$(BIN)/pip install --disable-pip-version-check -q --no-deps pylate==1.6.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/radlite demo

# the search page's test drives Debian's Chromium (no browser download; nothing from the internet)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing Debian's chromium and chromium-driver for the browser test"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -q >/dev/null 2>&1 && \
	   $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1) || \
	  echo "could not install chromium: the browser test will fail (make test RADLITE_REQUIRE_BROWSER= skips it)"; \
	fi

# set RADLITE_REQUIRE_BROWSER= (empty) to let the browser test skip where Chromium cannot be installed
RADLITE_REQUIRE_BROWSER ?= 1
# every tier: tests/unit (seconds, bundled tiny models), tests/integration (the real MiniLM, Qdrant local
# mode, training), tests/e2e (the server in a subprocess, the browser, Ray, the load test)
test: $(STAMP) browser
	RADLITE_REQUIRE_BROWSER=$(RADLITE_REQUIRE_BROWSER) HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

# the unit tier alone (lint and format included), for the edit-test loop
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check radlite tests benchmarks && $(BIN)/ruff format --check radlite tests benchmarks

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/speed.py --out benchmarks/speed.md

results: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/results.py

clean:
	rm -rf $(VENV) build *.egg-info
