# The two commands a newcomer needs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
STACK := scripts/stack.sh
VENV ?= .venv

.PHONY: up down logs status test unit fuzz install bench audit quarantine

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

test: install  ## unit and integration tests; starts its own PostgreSQL and RabbitMQ when none run
	@PSYCOPG_WAIT_FUNC=wait_select $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

fuzz: install  ## schemathesis with a large budget against a running test system (make test runs a small one)
	@FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-40} FUZZ_AT_LEAST=$${FUZZ_AT_LEAST:-1000} PSYCOPG_WAIT_FUNC=wait_select \
	  $(VENV)/bin/python -m pytest -s tests/integration/test_fuzz.py $(PYTEST_ARGS)

unit: install
	@$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

audit:         ## the audit CLI on the running installation: make audit ARGS="verify --all"
	@$(STACK) audit $(ARGS)

quarantine:    ## events set aside by a follower or consumer: make quarantine ARGS="list" (or show/retry)
	@$(STACK) quarantine $(ARGS)

bench: install
	@PSYCOPG_WAIT_FUNC=wait_select $(VENV)/bin/python -m bench $(BENCH)
