# One-command set-up: every target creates the virtualenv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: serve test check unit integration browser chromium bench bench-autoliq bench-scaling bench-console clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/tradovate-sim serve

check: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

# The console's browser tests drive Debian's chromium (never a browser Playwright downloads): installed here when it
# is missing and we are root, else one clear line and a failure.
chromium:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "make: $(CHROMIUM) is missing: install Debian's chromium (apt-get install chromium) as root"; exit 1; }
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) is still missing after apt-get install chromium"; exit 1; }

test: check chromium
	$(BIN)/pytest -q

browser: $(STAMP) chromium
	$(BIN)/pytest -q tests/browser

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

bench: $(STAMP)
	$(BIN)/python bench/liquidation.py

bench-console: $(STAMP) chromium
	cd bench && ../$(BIN)/python console.py --results RESULTS.md

bench-autoliq: $(STAMP)
	cd bench && ../$(BIN)/python autoliq.py --results RESULTS.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
