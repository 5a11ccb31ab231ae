# One command sets everything up and runs the main job (`make demo`); one runs the tests (`make test`).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.radlite-installed

.PHONY: install demo test bench results clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q torch==2.13.0
	$(BIN)/pip install --disable-pip-version-check -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install --disable-pip-version-check -q --no-deps pylate==1.6.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/radlite demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/speed.py --out benchmarks/speed.md

results: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/results.py

clean:
	rm -rf $(VENV) build *.egg-info
