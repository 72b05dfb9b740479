# camaudit — the two Quick start commands are `make demo` and `make test`.
# Both set up everything they need on a fresh Debian machine (run as root:
# the lab uses Linux network namespaces).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck bench system-deps clean lab-down

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  echo "installing system package: python3-venv (Debian's python3 lacks venv/ensurepip)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,web]'
	touch $(STAMP)

# OS packages the lab and the browser test need (iproute2 for namespaces, chromium).
system-deps:
	@command -v ip >/dev/null && command -v chromium >/dev/null || { \
	  echo "installing system packages: iproute2 chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 chromium >/dev/null; }

## demo: bring up the simulated facility, audit it, write camaudit.db + camaudit-report.html here
demo: $(STAMP) system-deps
	$(BIN)/camaudit demo

## test: lint, type-check and run the whole suite (lab tests included)
test: $(STAMP) system-deps
	$(BIN)/ruff check auditor tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -q -rs

## bench: the default profile at 290 and 1000 devices, a routed /24 and a sparse routed /16, nmap side by side
bench: $(STAMP)
	$(BIN)/python bench/bench.py

lab-down: $(STAMP)
	$(BIN)/camaudit lab down --all

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache test-artifacts
