# The two commands a newcomer needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
STACK := scripts/stack.sh
VENV ?= .venv
# What `make lint` checks (issue 18.5): mypy on TYPED_PATHS, ruff on those and the tests. Each service's
# domain.py, application.py, policy.py, settings.py and migrations are typed; queries, views and entrypoints
# are linted next.
TYPED_PATHS := shared $(wildcard services/*/domain.py services/*/application.py services/*/policy.py \
                                 services/*/settings.py services/*/migrations)
LINT_PATHS := $(TYPED_PATHS) tests web/tests

.PHONY: up down logs status test unit lint fuzz install bench audit rotate-master-key quarantine migrations backup restore

up:            ## install what is missing, start PostgreSQL, RabbitMQ and every service
	@$(STACK) up

down:          ## stop everything `make up` started
	@$(STACK) down

logs:          ## follow the services' logs
	@tail -n 50 -F .run/log/*.log

status:
	@$(STACK) status

install:
	@$(STACK) install

lint: install  ## ruff (lint rules in pyproject.toml) and mypy on the paths above
	@$(VENV)/bin/ruff check $(LINT_PATHS)
	@$(VENV)/bin/mypy $(TYPED_PATHS)

test: lint     ## lint first (fails fast), then unit and integration tests; starts its own PostgreSQL and RabbitMQ when none run
	@PSYCOPG_WAIT_FUNC=wait_select $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

fuzz: install  ## schemathesis with a large budget against a running test system (make test runs a small one)
	@FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-40} FUZZ_AT_LEAST=$${FUZZ_AT_LEAST:-1000} PSYCOPG_WAIT_FUNC=wait_select \
	  $(VENV)/bin/python -m pytest -s tests/integration/test_fuzz.py $(PYTEST_ARGS)

unit: install
	@$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

audit:         ## the audit CLI on the running installation: make audit ARGS="verify --all"
	@$(STACK) audit $(ARGS)

rotate-master-key:  ## a new CASES_MASTER_KEY, the cases service restarted with it, every case key re-wrapped (README: Keys)
	@$(STACK) rotate-master-key

migrations:    ## schema migrations on the running installation: make migrations ARGS=status (or upgrade)
	@$(STACK) migrations $(ARGS)

quarantine:    ## events set aside by a follower or consumer: make quarantine ARGS="list" (or show/retry)
	@$(STACK) quarantine $(ARGS)

backup:        ## a verified base backup now (WAL is archived all the time): README "Backups and restore"
	@$(STACK) backup

restore:       ## the installation as it was at TARGET: make restore TARGET="2026-11-24 23:50:00+00" (or TARGET=latest)
	@TARGET="$(TARGET)" $(STACK) restore

bench: install
	@PSYCOPG_WAIT_FUNC=wait_select $(VENV)/bin/python -m bench $(BENCH)
