PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock

.PHONY: run worker cluster test test-fast lint docs docs-serve schema bench clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Exactly the versions CI tested, hash-checked; then the project itself, without resolving anything again.
$(STAMP): $(BIN)/python pyproject.toml $(LOCK)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing dependencies in pyproject.toml: re-resolve every pin (with hashes) into requirements.lock.
lock: $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra docs --extra types --generate-hashes --universal --python-version 3.11 --quiet \
		--output-file $(LOCK)

run: $(STAMP)
	$(BIN)/python -m server

worker: $(STAMP)
	$(BIN)/python -m server.worker

cluster: $(STAMP)
	$(BIN)/python -m devtools.cluster

# The gate CI runs before the tests (docs/development.md): ruff's rules and its formatting ([tool.ruff] in
# pyproject.toml), then mypy ([tool.mypy]: strict on services/, checked on the rest). Any finding fails it.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Tests run in TEST_WORKERS pytest-xdist processes (0: one process). Two on two cores: most of a test's time is
# spent waiting on a job, a server or a database; each module stays on one worker (loadscope), so a module-scoped
# fixture (a cluster, a live server, a built image) starts once.
TEST_WORKERS ?= 2
TEST_PARALLEL = -n $(TEST_WORKERS) --dist loadscope

# Everything, as CI runs it; the 25 slowest tests are listed at the end, so a slow suite says where its time went.
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25 $(TEST_PARALLEL)

# The development loop: everything not marked slow, on SQLite only (docs/testing.md). CI runs `make test`.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --databases=sqlite $(TEST_PARALLEL)

# The docs/ site, strictly (a broken link or a page missing from the nav fails); configuration.md first.
docs: $(STAMP)
	$(BIN)/python scripts/write_config_reference.py
	$(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

schema: $(STAMP)
	$(BIN)/python -m schema.export > schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache site
