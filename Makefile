# billecta-sync — the two commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run demo test test-fast lint bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install everything (pinned by constraints.txt)

run: $(STAMP) ## start the whole stack on the embedded default; Ctrl+C stops it
	$(BIN)/billecta-sync run

demo: $(STAMP) ## run the order → invoice → webhook flow against `make run`
	$(BIN)/billecta-sync demo

test: $(STAMP) ## lint, layer contracts, then the whole suite (unit, integration, end-to-end)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP) ## benchmarks: print figures, assert nothing
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache
