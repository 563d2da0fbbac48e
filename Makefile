# Postroom: two commands set everything up.
#   make run   - create .venv with postroom and its runtime dependencies only, start the server
#                on the embedded default
#   make test  - install everything the suite needs, then run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
DEB_TEST_PACKAGES := isync swaks fetchmail dovecot-imapd dovecot-pop3d fail2ban opendkim-tools iproute2 chromium pebble litmus vdirsyncer cadaver curl libwbxml2-utils sieve-connect
# The content filters' daemons (spamd, clamd), run by the suite itself on loopback; without
# recommends, which would bring cron jobs and signature downloaders the suite must not use.
DEB_TEST_PACKAGES_NORECS := spamd spamc spamassassin clamav-daemon clamav
RUN_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test bench bench-deps bench-webmail bench-dav bench-eas bench-cluster fuzz crash-test venv test-deps lint typecheck clean help

help:
	@echo "make run    start Postroom on the embedded default (data in ./var)"
	@echo "make test   install test dependencies and run the whole suite"
	@echo "make lint   ruff + mypy only"
	@echo "make bench  Postroom next to a private Dovecot on loopback (BENCH_ARGS=--quick for a smoke run)"
	@echo "make bench-webmail  Postroom's webmail next to Roundcube over Dovecot (BENCH_ARGS=--quick)"
	@echo "make bench-dav  Postroom's CalDAV/CardDAV next to Radicale (BENCH_ARGS=--quick)"
	@echo "make bench-eas  ActiveSync: 1,000 devices in Ping, push latency, initial sync; next to SOGo (BENCH_ARGS=--quick)"
	@echo "make crash-test  SIGKILL the server under SMTP and append load CRASH_ROUNDS times (default 10)"
	@echo "make fuzz   fuzz every parser for FUZZ_SECONDS each (default 120); crashes saved in tests/fuzz/crashes/"

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	    rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	  else echo "error: '$(PYTHON) -m venv' failed; install python3-venv" >&2; exit 1; fi; }

# `make run` needs the server's own dependencies only; the test tools (pytest, mypy, ruff,
# hypothesis, ...) come with the first `make test`, `make lint`, `make bench` or `make fuzz`.
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# Test vectors fetched from PyPI, never committed: the RFC 7208 SPF test suite ships in
# pyspf's source distribution (tests/support/spfsuite.py reads it from there).
VECTORS := .cache/vectors

# Debian packages the end-to-end tests drive (real third-party clients, Dovecot as the
# reference the sharing tests compare against, OpenDKIM's verifier for our DKIM signatures),
# and PostgreSQL's server
# binaries when no server answers on 127.0.0.1:5432 (the suite then runs a private cluster).
# Installed only when missing and only as root; otherwise the run says what is missing.
# A real S3-compatible server for the object-store blob tests: moto's server from PyPI, in a
# venv of its own (its Flask and pydantic pins stay out of the project's).
S3_VENV := .cache/s3-venv
MOTO := moto[server]==5.2.6

test-deps: venv
	@[ -x $(S3_VENV)/bin/moto_server ] || { python3 -m venv $(S3_VENV) && \
	  $(S3_VENV)/bin/python -m pip install -q '$(MOTO)'; } || echo "note: moto not installed"
	@[ -f $(VECTORS)/pyspf-2.0.14.tar.gz ] || $(BIN)/python -m pip download -q --no-deps \
	  --no-binary :all: pyspf==2.0.14 -d $(VECTORS) || echo "note: pyspf sdist not fetched"
	@missing=""; \
	if ! $(BIN)/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', connect_timeout=3).close()" 2>/dev/null \
	   && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then missing="postgresql"; fi; \
	for p in $(DEB_TEST_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing (their services are not started)"; \
	    own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then own_policy=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else echo "note: not root, Debian packages missing:$$missing (tests needing them will skip)"; fi; \
	fi
	@missing=""; for p in $(DEB_TEST_PACKAGES_NORECS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing (no recommends; services not started)"; \
	    own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then own_policy=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $$missing >/dev/null; \
	    status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else echo "note: not root, Debian packages missing:$$missing (tests needing them fail)"; fi; \
	fi

run: $(RUN_STAMP)
	$(BIN)/postroom serve $(RUN_ARGS)

lint: venv
	$(BIN)/ruff check postroom tests bench
	$(BIN)/mypy

# Two workers by default (CI has two cores); TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

test: test-deps
	$(BIN)/ruff check postroom tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist worksteal

# Side-by-side benchmarks (bench/run.py): installs Dovecot from Debian's packages when missing
# (services not started), runs private instances on loopback high ports, stops them after.
bench: venv
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The webmail bench's references (bench/webmail.py): Dovecot, and Roundcube (Debian's
# roundcube-core with its SQLite driver) run by PHP's built-in server. No recommends (they
# bring a web server), services denied, dbconfig-common's database set-up answered "no" (the
# bench makes its own SQLite file); php-fpm first so that apt does not pull Apache in for
# "php". The same list as bench/roundcube.py's PACKAGES (tests/unit/test_bench_webmail.py).
DEB_BENCH_WEBMAIL_PACKAGES := dovecot-imapd php-fpm php-cli php-sqlite3 php-intl php-mbstring \
  roundcube-sqlite3 roundcube-core
bench-deps:
	@missing=""; for p in $(DEB_BENCH_WEBMAIL_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing (no recommends; services not started)"; \
	    echo "roundcube-core roundcube/dbconfig-install boolean false" | debconf-set-selections; \
	    own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then own_policy=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(DEB_BENCH_WEBMAIL_PACKAGES) >/dev/null; \
	    status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else echo "error: not root, Debian packages missing:$$missing" >&2; exit 1; fi; \
	fi

# Postroom's webmail and Roundcube side by side (1 + 100,000 messages, 3 rounds by default)
bench-webmail: venv bench-deps
	$(BIN)/python -m bench.webmail $(BENCH_ARGS)

# Postroom's CalDAV/CardDAV and Radicale (Debian's package, its service never started: the
# bench runs its own on loopback) side by side: 10,000 events, 1,000 contacts (bench/dav.py)
DEB_BENCH_DAV_PACKAGES := radicale
bench-dav: venv
	@missing=""; for p in $(DEB_BENCH_DAV_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing (no recommends; services not started)"; \
	    own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then own_policy=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(DEB_BENCH_DAV_PACKAGES) >/dev/null; \
	    status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else echo "error: not root, Debian packages missing:$$missing" >&2; exit 1; fi; \
	fi
	$(BIN)/python -m bench.dav $(BENCH_ARGS)

# ActiveSync push at scale: 1,000 devices in Ping on one process (memory, push latency), and
# the initial sync of 10,000 messages, next to SOGo's ActiveSync over Dovecot (bench/eas.py,
# bench/sogo.py: private sogod, memcached, Dovecot and PostgreSQL cluster on loopback; the
# machine's PostgreSQL 15 binaries are used, its cluster is not). Debian's packages, no
# recommends, services denied; the same list as bench/sogo.py's PACKAGES.
DEB_BENCH_EAS_PACKAGES := sogo sogo-activesync memcached dovecot-imapd dovecot-lmtpd postgresql-15
# Cluster mode: one node against two on one PostgreSQL (bench/cluster.py, about 5 minutes).
bench-cluster: venv
	$(BIN)/python -m bench.cluster $(BENCH_ARGS)

bench-eas: venv
	@missing=""; for p in $(DEB_BENCH_EAS_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing (no recommends; services not started)"; \
	    own_policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then own_policy=1; \
	      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends $(DEB_BENCH_EAS_PACKAGES) >/dev/null; \
	    status=$$?; [ -n "$$own_policy" ] && rm -f /usr/sbin/policy-rc.d; [ $$status = 0 ] || exit $$status; \
	  else echo "error: not root, Debian packages missing:$$missing" >&2; exit 1; fi; \
	fi
	$(BIN)/python -m bench.eas $(BENCH_ARGS)

# Each parser (IMAP, SMTP, POP3, Minger, MIME) fuzzed with Hypothesis for FUZZ_SECONDS each;
# a crash is saved under tests/fuzz/crashes/ (replayed by make test) and fails the run.
FUZZ_SECONDS ?= 120
fuzz: venv
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

# The SIGKILL scenarios (SMTP under load; concurrent IMAP-path appends on SQLite and
# PostgreSQL), CRASH_ROUNDS kills each, then a one-line summary of what was counted.
CRASH_ROUNDS ?= 10
crash-test: venv test-deps
	POSTROOM_CRASH_ROUNDS=$(CRASH_ROUNDS) $(BIN)/python -m tests.support.crash

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
