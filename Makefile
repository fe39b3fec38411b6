# Two commands: `make run` and `make test`. Everything else is what they call.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/dispatch
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
# `make test` runs two streams side by side; the second one's clock moments use these.
TEST_DATABASE_URL_2 ?= $(TEST_DATABASE_URL)_2
TEST_REDIS_URL_2 ?= redis://127.0.0.1:6379/2
# Exported so that the test sessions know which Redis database is theirs to empty (tests/conftest.py).
export TEST_REDIS_URL
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: messages run test venv migrate demo tiles tilemaker lint audit test-production test-embedded test-browser test-clock browser services format clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(PY) -m pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	touch $@

# The matrices' numba kernels, compiled once into their cache (~10 s) rather than by the first matrix.
$(VENV)/.compiled: $(VENV)/.installed routes/network/sweep.py routes/network/matrices.py
	$(PY) -c 'from routes.network.matrices import warm; warm()'
	touch $@

venv: $(VENV)/.installed $(VENV)/.compiled

migrate: venv
	$(PY) manage.py migrate --noinput -v0

demo: migrate
	$(PY) manage.py load_road_network --if-missing
	$(MAKE) --no-print-directory tiles
	$(PY) manage.py seed_demo --if-empty --days 90

# The base map: vector tiles of the region built by Debian's tilemaker (installed when missing), once
# per extract (a few seconds for the demo region); the app serves them at /map/tiles/.
TILES_PBF ?=
tiles: venv tilemaker
	$(PY) manage.py build_map_tiles --if-missing $(TILES_PBF)

tilemaker:
	bash scripts/install_tilemaker.sh

# The app builds its links (tracking pages in customer messages) from where it is served, unless
# PUBLIC_BASE_URL says otherwise: the demo's set-up and the server both know HOST and PORT.
run: export HOST := $(HOST)
run: export PORT := $(PORT)
run: demo
	$(PY) manage.py collectstatic --noinput -v0
	@$(PY) manage.py demo_banner --host $(HOST) --port $(PORT)
	exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

services:
	bash scripts/ensure_services.sh

# German and English: collect the texts of templates, Python and JavaScript into locale/de (then translate
# the new msgids in the .po files) and compile the .mo files, which are committed with them.
MESSAGES_IGNORE := --ignore=.venv --ignore=var --ignore=staticfiles --ignore=static/vendor --ignore=tests --ignore=benchmarks --ignore=test-artifacts
messages: venv
	$(PY) manage.py makemessages --locale=de --no-obsolete --add-location=file $(MESSAGES_IGNORE)
	$(PY) manage.py makemessages --locale=de --domain=djangojs --no-obsolete --add-location=file $(MESSAGES_IGNORE) --ignore=templates
	$(PY) manage.py compilemessages --locale=de $(MESSAGES_IGNORE)

# The layout's rules (docs/architecture.md): the layers of .importlinter and no import cycle between modules.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/python scripts/import_cycles.py

# Supply chain: bandit over our code (settings and exclusions in pyproject.toml; a false positive gets a
# `# nosec BXXX` with its reason on the line), then pip-audit over the pinned requirements, which needs
# PyPI's vulnerability data and fails loudly without it (scripts/pip_audit.sh).
# (bandit warns "nosec encountered ... but no failed test" for every part of an annotated f-string: noise.)
audit: venv
	$(VENV)/bin/bandit -q -c pyproject.toml -r . 2>&1 | { grep -v "nosec encountered" || true; }
	VENV=$(VENV) bash scripts/pip_audit.sh

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The suite runs twice: against the machine's PostgreSQL and Redis (as production does), then on the
# embedded defaults (SQLite, in-memory layer, in-process tasks) that `make run` uses.
test-production: venv services tilemaker
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -q --ignore=tests/browser $(PYTEST_ARGS)

test-embedded: venv tilemaker
	env -u DATABASE_URL -u REDIS_URL VAR_DIR=$$(mktemp -d) $(PY) -m pytest -q --ignore=tests/browser $(PYTEST_ARGS)

browser:
	bash scripts/install_browser.sh

# Pages people click, in Debian's chromium (a run of their own: Playwright's event loop needs
# DJANGO_ALLOW_ASYNC_UNSAFE, which the other tests must not have). REQUIRE_BROWSER turns a
# missing browser into a failure instead of a skip.
test-browser: venv services browser
	$(MAKE) --no-print-directory tiles TILES_PBF=data/liechtenstein.osm.pbf
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) REQUIRE_BROWSER=1 DJANGO_ALLOW_ASYNC_UNSAFE=true \
		$(PY) -m pytest -q tests/browser $(PYTEST_ARGS)

# The time-sensitive tests (marker `clock`: plans, ETAs, the tracking page, quiet hours, analytics days)
# once per moment of tests/conftest.py, the clock pinned there (local 23:40, 00:20, Monday 07:00, the spring-forward
# and the fall-back day): against PostgreSQL and Redis (without the `worker` tests, whose Celery
# subprocess keeps the real clock), then in the browser. Every moment runs; the target fails at the
# end if any did. CLOCK_MOMENTS="evening" (or an ISO local time) runs fewer.
CLOCK_MOMENTS ?= evening after-midnight monday-morning spring-forward fall-back
test-clock: venv services browser
	@failed=""; for moment in $(CLOCK_MOMENTS); do \
		SECONDS=0; echo "--- clock pinned at $$moment"; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) TEST_CLOCK=$$moment \
			$(PY) -m pytest -q --ignore=tests/browser -m "clock and not worker" $(PYTEST_ARGS) \
			|| [ $$? -eq 5 ] || failed="$$failed $$moment"; \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) TEST_CLOCK=$$moment \
			REQUIRE_BROWSER=1 DJANGO_ALLOW_ASYNC_UNSAFE=true $(PY) -m pytest -q tests/browser -m clock $(PYTEST_ARGS) \
			|| [ $$? -eq 5 ] || failed="$$failed $$moment(browser)"; \
		echo "--- $$moment: $${SECONDS}s"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-clock FAILED at:$$failed"; exit 1; fi

# In make test an audit that cannot reach PyPI's vulnerability data (these machines' index serves
# packages only) warns loudly and goes on; a vulnerability found, or any bandit finding, still fails.
# `make audit` on its own is strict.
#
# The suite is CPU-bound and mostly one process at a time, on a 2-core machine: it runs as two streams
# side by side (CI allows 90 minutes; one after the other took ~60 on a quick day and ~104 on a slow
# one: production 30, embedded 24, browser 12, ~7 per clock moment). First: production (PostgreSQL,
# Redis), the browser, the first clock moment (~49 min on that day). Second: the
# embedded mode (SQLite in its own VAR_DIR: nothing shared), then the other clock moments on a
# PostgreSQL database and a Redis database of their own (TEST_DATABASE_URL_2, TEST_REDIS_URL_2).
# Every part runs even when another failed (as with make -k); the second stream's output follows the
# first's, and the target fails at the end, naming what failed.
CLOCK_MOMENTS_1 ?= $(wordlist 1,1,$(CLOCK_MOMENTS))
CLOCK_MOMENTS_2 ?= $(wordlist 2,99,$(CLOCK_MOMENTS))
test: export AUDIT_ALLOW_UNCHECKED ?= 1
test: lint audit services tilemaker browser
	$(MAKE) --no-print-directory tiles TILES_PBF=data/liechtenstein.osm.pbf
	@second_log=$$(mktemp); second_failed=$$(mktemp); failed=""; \
	{ $(MAKE) --no-print-directory test-embedded || echo -n " test-embedded" >> $$second_failed; \
	  $(MAKE) --no-print-directory test-clock CLOCK_MOMENTS="$(CLOCK_MOMENTS_2)" \
		TEST_DATABASE_URL=$(TEST_DATABASE_URL_2) TEST_REDIS_URL=$(TEST_REDIS_URL_2) \
		|| echo -n " test-clock($(CLOCK_MOMENTS_2))" >> $$second_failed; \
	} > $$second_log 2>&1 & second=$$!; \
	$(MAKE) --no-print-directory test-production || failed="$$failed test-production"; \
	$(MAKE) --no-print-directory test-browser || failed="$$failed test-browser"; \
	$(MAKE) --no-print-directory test-clock CLOCK_MOMENTS="$(CLOCK_MOMENTS_1)" \
		|| failed="$$failed test-clock($(CLOCK_MOMENTS_1))"; \
	wait $$second || true; \
	echo "--- the second stream (embedded mode, clock moments $(CLOCK_MOMENTS_2)):"; cat $$second_log; \
	failed="$$failed$$(cat $$second_failed)"; rm -f $$second_log $$second_failed; \
	if [ -n "$$failed" ]; then echo "make test FAILED:$$failed"; exit 1; fi
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(60))') ALLOWED_HOSTS=dispatch.example.com \
		DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf var/staticfiles .pytest_cache

# Drive today's dispatched routes through the API of the server `make run` started (another terminal):
# watch them on /live/. SPEED (default 10x), SIMULATE_ARGS for more (e.g. --failure-rate 0.2).
# With nothing dispatched it plans and dispatches the day first, as the demo dispatcher.
SPEED ?= 10
.PHONY: simulate
simulate: venv
	$(PY) manage.py simulate_fleet --url http://$(HOST):$(PORT) --speed $(SPEED) \
		--plan --dispatcher dispatcher:dispatcher-demo-2026 $(SIMULATE_ARGS)
