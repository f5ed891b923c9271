# Fan out AWS Batch jobs with Step Functions. Every target goes through the one CLI, `fanout`.
# `make apply` deploys to the local sandbox account (TARGET=sandbox, the default);
# `make apply TARGET=aws` deploys to the account your AWS credentials name.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
PYTHON       ?= python3
VENV         ?= .venv
TARGET       ?= sandbox
ITEMS        ?= 25
INPUT        ?=
EXECUTION    ?=
VARS         ?=
FANOUT       := $(VENV)/bin/fanout
STAMP        := $(VENV)/.installed
TF_DIR       := terraform

export TARGET
# fmt needs no providers: an empty CLI config keeps it independent of ~/.terraformrc (and quiet when
# TF_CLI_CONFIG_FILE names a missing file). Commands that need providers get the project's own config.
TF_FMT       := TF_CLI_CONFIG_FILE=/dev/null terraform fmt

.PHONY: help setup fmt fmt-check lint validate render package plan apply run report status stop redrive rerun-failed destroy unlock scan bench test clean lock sandbox-up sandbox-down fault

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# --- set-up ---------------------------------------------------------------------------------------
$(STAMP): pyproject.toml requirements.lock scripts/asl-validator/package-lock.json
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $$($(PYTHON) --version) is too old; install Python >= 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 2; }
	@command -v terraform >/dev/null || { echo "error: terraform not found on PATH; install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)" >&2; exit 2; }
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "error: node/npm not found on PATH; install Node.js >= 18 with npm (https://nodejs.org/en/download): AWS's ASL language service validates the definitions" >&2; exit 2; }
	$(PYTHON) -m venv $(VENV)
	@# uv installs the lock in seconds where pip takes ~100 s (pip resolves each pin against the whole
	@# index page); --no-deps: the lock is the whole tree. Bytecode is compiled at install because
	@# PYTHONDONTWRITEBYTECODE would otherwise make every process compile its imports again.
	@# pip does it instead when uv cannot be had (a private index that only pip is configured for).
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "$$(grep -E '^uv==' requirements.lock)" \
	  && $(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python --no-deps --compile-bytecode -r requirements.lock \
	  || $(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	cd scripts/asl-validator && npm ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

setup: $(STAMP) ## create the virtualenv and install the pinned dependencies

lock: ## re-pin requirements.lock from pyproject.toml (needs network access to PyPI)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet -e .
	( echo '# Every package the tooling installs, pinned. Regenerate with `make lock` after changing pyproject.toml.'; \
	  .venv-lock/bin/pip freeze --exclude-editable | sort ) > requirements.lock && rm -rf .venv-lock

# --- code quality ---------------------------------------------------------------------------------
fmt: $(STAMP) ## format Terraform and Python; regenerate the README's variable tables
	$(TF_FMT) -recursive $(TF_DIR)
	$(VENV)/bin/ruff format scripts lambda tests
	$(VENV)/bin/ruff check --fix scripts lambda tests
	$(FANOUT) docs

lint: $(STAMP) ## check formatting and lint without changing files
	$(TF_FMT) -check -recursive $(TF_DIR)
	$(VENV)/bin/ruff format --check scripts lambda tests
	$(VENV)/bin/ruff check scripts lambda tests
	$(FANOUT) docs --check

validate: $(STAMP) ## terraform validate the root with every module it calls (offline)
	$(FANOUT) validate

# --- build ----------------------------------------------------------------------------------------
render: $(STAMP) ## render the state-machine definitions and policies from templates/
	$(FANOUT) render

package: $(STAMP) ## build the generator Lambda zip (a no-op when nothing changed)
	$(FANOUT) package

# --- deploy and run -------------------------------------------------------------------------------
plan: $(STAMP) ## terraform plan against TARGET (sandbox by default)
	$(FANOUT) plan --target $(TARGET) $(if $(VARS),--var-file $(VARS))

apply: $(STAMP) ## deploy the stack to TARGET (sandbox by default: starts the local account)
	$(FANOUT) apply --target $(TARGET) $(if $(VARS),--var-file $(VARS))

run: $(STAMP) ## start an execution: ITEMS=N or INPUT=file.json; shows progress and a summary
	$(FANOUT) run --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(if $(INPUT),--input $(INPUT),--items $(ITEMS))

report: $(STAMP) ## HTML run report (timeline, throughput, failures, cost) of the last run, or EXECUTION=name
	$(FANOUT) report --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(EXECUTION)

status: $(STAMP) ## failed items first (job, exit code, log tail), then the counts: last run, or EXECUTION=name
	$(FANOUT) status --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(EXECUTION)

rerun-failed: $(STAMP) ## run exactly the failed items of the last run (or EXECUTION=name) again, follow it
	$(FANOUT) rerun-failed --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(EXECUTION)

stop: $(STAMP) ## stop the last run (or EXECUTION=name); terminate its queued and running Batch jobs
	$(FANOUT) stop --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(EXECUTION)

redrive: $(STAMP) ## resume the last run (or EXECUTION=name) where it stopped or failed; follow it
	$(FANOUT) redrive --target $(TARGET) $(if $(VARS),--var-file $(VARS)) $(EXECUTION)

destroy: $(STAMP) ## remove everything from TARGET (and stop the sandbox)
	$(FANOUT) destroy --target $(TARGET) $(if $(VARS),--var-file $(VARS))

unlock: $(STAMP) ## release a stale Terraform state lock of the stack (a killed command left it)
	$(FANOUT) unlock --target $(TARGET) $(if $(VARS),--var-file $(VARS))

sandbox-up: $(STAMP) ## start the local sandbox account
	$(FANOUT) sandbox up

sandbox-down: $(STAMP) ## stop the local sandbox account
	$(FANOUT) sandbox down

fault: $(STAMP) ## sandbox: inject a fault, FAULT="job-exit --items 2,5" (FAULT=list shows them, FAULT=clear ends them)
	$(FANOUT) sandbox fault $(or $(FAULT),list)

# --- verification ---------------------------------------------------------------------------------
scan: $(STAMP) ## checkov policy compliance scan (offline): source + plan, reports in reports/
	$(FANOUT) scan

bench: $(STAMP) ## fan-out benchmark: every mode beside the sample's design
	$(FANOUT) bench

test: $(STAMP) ## the full offline suite (lint, unit, plan, checkov, sandbox integration)
	$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest -n 4 --dist loadgroup --durations=15

clean: ## remove build output, reports and the runtime folder (stops the sandbox first)
	-[ -x $(FANOUT) ] && $(FANOUT) sandbox down
	rm -rf .fanout reports build .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
