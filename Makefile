# The two commands the README opens with: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_INDEX ?= .semsearch-demo

.PHONY: setup browser postgres tesseract demo serve screenshot test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -c "import searchengine.cli.main, torch, open_clip, transformers"
	touch $@

# The browser tests use Debian's chromium (never `playwright install`, which downloads)
# and fonts-noto-cjk, so Korean is not drawn as boxes. Installed once, as root (CI).
browser:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -q "Noto Sans CJK"; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	else echo "browser tests: install chromium and fonts-noto-cjk (apt-get, as root)"; fi

# The PostgreSQL pass runs on a server that the tests start themselves
# (tests/pg_server.py: initdb + pg_ctl on a free port, 127.0.0.1) from Debian's package.
# Installed once, as root (CI).
postgres:
	@if command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	else echo "PostgreSQL tests: install postgresql (apt-get, as root)"; fi

# OCR of scanned pages uses Debian's Tesseract with its Korean and Hangul-script models
# (never downloaded at run time). Installed once, as root (CI).
tesseract:
	@if command -v tesseract >/dev/null && tesseract --list-langs 2>/dev/null | grep -q "^kor$$"; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			tesseract-ocr tesseract-ocr-kor tesseract-ocr-script-hang; \
	else echo "OCR tests: install tesseract-ocr, tesseract-ocr-kor, tesseract-ocr-script-hang (apt-get, as root)"; fi

demo: setup
	$(BIN)/semsearch --index $(DEMO_INDEX) index sample_corpus
	$(BIN)/semsearch --index $(DEMO_INDEX) search 승용차 -k 5
	$(BIN)/semsearch --index $(DEMO_INDEX) search "소방 점검은 언제 하나요?" -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) search "walking my puppy" -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) search --image tests/data/query_images/car_query_skoda.png -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) search 고양이 --space image -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) search 커피 --space image -k 3
	$(BIN)/semsearch --index $(DEMO_INDEX) status

serve: setup
	$(BIN)/semsearch --index $(DEMO_INDEX) index sample_corpus
	$(BIN)/semsearch --index $(DEMO_INDEX) serve

# the README's picture of the page, taken by the browser test with the real models
screenshot: setup browser
	SEMSEARCH_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest -q tests/test_browser_e2e.py

# Test tiers: pyproject.toml's markers say what a test needs (tests/conftest.py adds them
# from the fixtures a test uses). Two workers (pytest-xdist), each test file whole in one
# of them, so a module's fixture (the Ray cluster, an indexed labelled set) is built once.
# (Not --dist loadgroup: with pytest 9.2 it no longer groups, pytest-xdist issue 1386.)
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile
FAST := not (e2e or browser or postgres or ray or subprocess or slow)

# everything, on SQLite; then what touches the catalog (the `catalog` marker) again with
# each catalog a database on a PostgreSQL server. What CI runs (.ci/run).
test: setup browser postgres tesseract
	$(PYTEST) --durations=25
	SEMSEARCH_TEST_CATALOG=postgres $(PYTEST) --durations=10 -m "catalog and not sqlite_only"

# the tests that need no real model, browser, database server, Ray, subprocess or time
test-fast: setup
	$(PYTEST) -m "$(FAST)"

lint: setup
	$(BIN)/ruff check searchengine indexer tests bench
	$(BIN)/mypy

clean:
	rm -rf $(DEMO_INDEX) .pytest_cache .mypy_cache .ruff_cache
