# `make run` and `make test` work on a fresh Debian 12: they install the Debian packages they
# need, create `.venv` on first use (pip refuses to install into Debian's own Python) and keep
# it up to date with pyproject.toml. `.ci/run` runs exactly `make test`.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: run test deps lint system screenshots

run: $(VENV)/.installed
	$(VENV)/bin/triagebot -c config.example.toml run

test: deps lint
	$(PYTHON) -m pytest -q

deps: system $(VENV)/.installed

# Dovecot and PostgreSQL for the IMAP and store tests (each test starts its own server);
# Chromium to check in a real browser how mails render (headless).
system:
	command -v dovecot >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
		command -v chromium >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && $(APT) dovecot-imapd postgresql chromium >/dev/null; }

$(PYTHON):
	python3 -m venv $(VENV) 2>/dev/null || \
		{ rm -rf $(VENV); $(SUDO) apt-get update -qq && $(APT) python3-venv >/dev/null && \
		python3 -m venv $(VENV); }

$(VENV)/.installed: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	touch $@

# PNGs of both digests and a candidate mail at 1200 and 400 px, with their sizes.
screenshots: deps
	$(PYTHON) bench/screenshots.py --out screenshots

lint: $(VENV)/.installed
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
