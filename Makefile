# The two commands the README opens with: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_INDEX ?= .semsearch-demo

.PHONY: setup demo test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import searchengine.cli, torch, open_clip, transformers"
	touch $@

demo: setup
	$(BIN)/semsearch --index $(DEMO_INDEX) index sample_corpus
	$(BIN)/semsearch --index $(DEMO_INDEX) search 승용차 -k 5
	$(BIN)/semsearch --index $(DEMO_INDEX) search "walking my puppy" -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) search --image tests/data/query_images/car_query_skoda.png -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) status

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not e2e"

lint: setup
	$(BIN)/ruff check searchengine indexer tests bench
	$(BIN)/mypy

clean:
	rm -rf $(DEMO_INDEX) .pytest_cache .mypy_cache .ruff_cache
