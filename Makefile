# note-rag: two commands.
#   make run   - install, build the index from corpus/ if missing or stale, start the chat UI
#   make test  - install the test extras (and Debian's chromium) and run the whole test suite
#
# Offline by design: no model is downloaded at run time.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

# Mirror of remote sources for offline machines and CI, when present.
ifneq ($(wildcard ../shared/corpus/barometre-data-publica-2023.Rmd),)
export NOTE_RAG_MIRROR ?= $(abspath ../shared/corpus)
endif

.PHONY: run test install install-test install-local index ui chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	# torch first: the local CPU build. A plain `torch` requirement would pull a multi-GB CUDA build.
	$(PIP) install torch==2.13.0

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-local: pyproject.toml | $(VENV)/.installed
	$(PIP) install -e '.[local]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/.installed-local
	$(PIP) install -e '.[test,local]'
	touch $@

install: $(VENV)/.installed
install-local: $(VENV)/.installed-local
install-test: $(VENV)/.installed-test

# A document that fails (an offline remote source, a bad upload) makes ingest exit 1 after
# its summary; the index still holds everything else, so `make run` goes on to the UI.
index: install
	-$(BIN)/python -m ingest

run: install-local index
	$(BIN)/python ui.py --auto-mode

chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		{ echo "Installing Debian's chromium for the browser tests"; \
		  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		  (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); }

test: install-test chromium
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .note-rag
