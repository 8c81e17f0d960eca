# One-command set-up: every target creates the virtualenv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium

.PHONY: serve test check unit integration browser chromium bench bench-autoliq bench-scaling bench-console clean postgres test-sqlite test-postgres

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

# The integration tests that run on PostgreSQL too in `make test` (all of them: `make test-postgres`).
# PostgreSQL's programs for the tests' throw-away cluster (tests/pg/cluster.py), from Debian's packages if missing.
postgres: $(STAMP)
	$(BIN)/python tests/pg/cluster.py --install

# The console's browser tests drive Debian's chromium (never a browser Playwright downloads): installed here when it
# is missing and we are root, else one clear line and a failure.
chromium:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "make: $(CHROMIUM) is missing: install Debian's chromium (apt-get install chromium) as root"; exit 1; }
	@test -x $(CHROMIUM) || { echo "make: $(CHROMIUM) is still missing after apt-get install chromium"; exit 1; }

# Two pytest processes (pytest-xdist), each test file whole on one of them (its module's servers are not started
# twice): the suite waits on servers about half the time. PARALLEL= runs it in one process.
PARALLEL ?= -n 2 --dist loadfile

# The whole suite on SQLite, plus PostgreSQL's own tests (one process and two workers: tests/pg,
# test_postgres.py, test_postgres_workers.py); `make test-postgres` runs every integration test on PostgreSQL.
test: check chromium postgres
	$(BIN)/pytest -q $(PARALLEL)

# Only the SQLite half: no PostgreSQL needed.
test-sqlite: check
	$(BIN)/pytest -q $(PARALLEL) --ignore tests/integration/test_postgres.py --ignore tests/integration/test_postgres_workers.py \
	  --ignore tests/pg

# The whole integration suite with every server on PostgreSQL as two workers behind one port (WORKERS=1: one process).
WORKERS ?= 2
test-postgres: check postgres
	TRADOVATE_SIM_TEST_DB=postgres TRADOVATE_SIM_TEST_WORKERS=$(WORKERS) $(BIN)/pytest -q tests/integration

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
