# Fresh machine: `make run` starts the dashboard, `make test` runs every test, `make bench` measures.
# Another Python than `python3`: `make run PYTHON=python3.12`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check --quiet
PORT   ?= 8501
SUPPORTED_PYTHONS := 3.11 3.12 3.13

export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: run share test test-lowest platforms bench chromium check-python clean

# TensorFlow has wheels for these Pythons only; anything else would fail deep inside pip.
check-python:
	@v=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	case " $(SUPPORTED_PYTHONS) " in *" $$v "*) ;; *) \
	  echo "The lab needs Python 3.11, 3.12 or 3.13 ($(PYTHON) is $${v:-not found}): choose one with e.g. make run PYTHON=python3.12"; \
	  exit 1;; esac

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) -r requirements-dev.txt
	touch $@ $(VENV)/.deps

# This machine only (http://localhost:$(PORT)); `make share` serves the room with a presenter key.
run: $(VENV)/.deps
	$(BIN)/python -m ae_core.lab --server.address 127.0.0.1 --server.port $(PORT)

# On the network: prints the audience link (watch-only) and the presenter link (with a fresh key).
share: $(VENV)/.deps
	$(BIN)/python -m ae_core.share --port $(PORT)

# The browser tests drive Chromium: Debian's is installed here when missing and we are root. Without
# root and without any Chromium the browser tests are skipped with a sentence saying how to get one.
chromium:
	@test -x /usr/bin/chromium || test -x /usr/bin/chromium-browser || test -n "$$CHROMIUM" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "No Debian Chromium: the browser tests use Google Chrome or playwright's own if there, else they are skipped (README, Testing)."; fi; }

test: $(VENV)/.dev-deps chromium
	$(BIN)/python -m pytest

# The engine tests (no pages, no browser) on the oldest versions requirements.txt allows.
LOWEST := .venv-lowest
ENGINE_TESTS := tests --ignore=tests/e2e "--ignore-glob=tests/test_*_page.py"
$(LOWEST)/.deps: requirements.txt requirements-dev.txt constraints-lowest.txt | check-python
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --disable-pip-version-check --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --disable-pip-version-check --quiet -c constraints-lowest.txt -r requirements-dev.txt
	touch $@

test-lowest: $(LOWEST)/.deps
	$(LOWEST)/bin/python -m pytest $(ENGINE_TESTS)

# Do the requirements resolve to wheels on every supported platform? (asks PyPI, installs nothing)
platforms: $(VENV)/.deps
	$(BIN)/python tools/check_platforms.py

bench: $(VENV)/.dev-deps chromium
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .hypothesis build *.egg-info
