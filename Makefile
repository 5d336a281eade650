# Groundstation: `make run` starts the platform, `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast lint check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime packages only (what `make run` and the Dockerfile need)...
$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

# ...and the test, lint and benchmark tools on top for `make test` and `make lint`.
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

# A development .env with a stable secret, so web, worker and beat sign alike.
.env:
	printf 'DEBUG=true\nSECRET_KEY=%s\n' "$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env

run: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	# web, worker, beat, and `operator`: prints the first operator's one-time password once all are up
	$(BIN)/honcho start -f Procfile

# On PostgreSQL tests run on PYTEST_WORKERS pytest-xdist processes, each with its own test database,
# Redis database and broker folder (tests/plugins/xdist_worker.py); `make test PYTEST_WORKERS=0` runs
# serially. On SQLite (a file test database, README "Quick start") the suite runs serially.
PYTEST_WORKERS ?= $(if $(DATABASE_URL),4,0)
XDIST = -n $(PYTEST_WORKERS) --dist loadgroup

test: $(DEV_STAMP)
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# The edit-test loop: everything but the fuzzing, hardening and browser families.
test-fast: $(DEV_STAMP)
	$(BIN)/pytest $(XDIST) -m "not slow and not browser" $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var db.sqlite3*
