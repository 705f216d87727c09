# `make test` installs everything the tests need (Debian: dovecot-imapd, postgresql; Python: the
# test extra), then runs the linters and the test suite. `.ci/run` runs exactly this.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON ?= python3

.PHONY: test deps lint

test: deps lint
	$(PYTHON) -m pytest -q

deps:
	command -v dovecot >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		$(SUDO) apt-get install -y -qq dovecot-imapd postgresql >/dev/null; }
	$(PYTHON) -m pip install -q -e '.[test]'

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
