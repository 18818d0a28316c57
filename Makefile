# Two commands for a newcomer: `make up` runs the whole system, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The MariaDB server the CI suite runs against (a `<name>_test_<worker>` database is derived).
MYSQL_URL ?= mysql+pymysql://root@127.0.0.1:3306/sqlfluff

.PHONY: install up test test-fast test-mysql test-soak lint multihost-tools

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Debian's Chromium renders the HTML report in its test (tests/support/browser.py).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# Lint children get an empty network namespace from `unshare` (util-linux) as root, or from
# bubblewrap where user namespaces are off (linting/sandbox.py).
BWRAP := /usr/bin/bwrap
# Best effort: without either, lint children run with a logged warning (LINT_NETWORK_ISOLATION).
$(BWRAP):
	-DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap)

# The multi-host test (tests/multihost/test_three_hosts.py) exports the share from its API host
# with OpenSSH's sshd and mounts it on the worker hosts with sshfs (FUSE); socat relays the
# machine's PostgreSQL onto the hosts' bridge. Not best effort: without them that test fails.
MULTIHOST_TOOLS := /usr/bin/sshfs /usr/sbin/sshd /usr/bin/socat
$(MULTIHOST_TOOLS):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q sshfs openssh-server socat || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q sshfs openssh-server socat)

multihost-tools: $(MULTIHOST_TOOLS)

install: $(VENV)/.installed $(BWRAP)

up: install
	$(PY) -m deployments.up

# Everything that needs only SQLite and local processes (tests marked `mysql` need MariaDB).
test: install $(CHROMIUM) multihost-tools
	$(PY) -m pytest -m "not mysql"

# The quick loop while coding: unit tests (mirroring the source) and the database tier.
test-fast: install
	$(PY) -m pytest tests/unit tests/db

# The tiers that touch the database, against MariaDB, plus the MariaDB-only fault tests.
# The client's own e2e tests (installing it, generating a client, running the CI examples) are
# left out here: they test the HTTP contract and the client, which no database changes, and cost
# ~8 minutes; `make test` runs them. The plain power cut too: on MariaDB the power cut runs
# with the database down as well (tests/faults/test_power_cut_db_down.py), which checks all it
# does, in ~3 minutes less than both.
test-mysql: install $(CHROMIUM)
	DATABASE_URL=$(MYSQL_URL) $(PY) -m pytest tests/db tests/api tests/e2e tests/faults tests/security \
	  --ignore=tests/e2e/test_client.py --ignore=tests/e2e/test_generated_client.py \
	  --deselect tests/faults/test_power_cut.py::test_power_cut_mid_job

# The chaos soak (tests/soak): jobs from several clients while roles are killed at random, for
# SOAK_SECONDS (120); prints jobs, kills, retries and the time to consistency. Not in `make test`.
SOAK_SECONDS ?= 120
test-soak: install
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m pytest tests/soak -s

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
