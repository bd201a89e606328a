# Fresh machine: `make run` starts the dashboard, `make test` runs every test, `make bench` measures.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check --quiet
PORT   ?= 8501

export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: run test bench chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) -r requirements-dev.txt
	touch $@ $(VENV)/.deps

run: $(VENV)/.deps
	$(BIN)/streamlit run app.py --server.port $(PORT)

# The browser tests drive Debian's Chromium; it is installed here when missing and we are root.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "The browser tests need Debian's Chromium: sudo apt-get install -y chromium"; exit 1; fi; }

test: $(VENV)/.dev-deps chromium
	$(BIN)/python -m pytest

bench: $(VENV)/.dev-deps chromium
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
