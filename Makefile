# Two commands: `make run` starts the whole stack, `make test` runs the suite. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m devtools.stack run

# Branch coverage of the whole project, daphne and Celery children included (pyproject.toml [tool.coverage]).
# The whole suite must cover at least 90 %; a run of chosen tests (PYTEST_ARGS) is not held to it unless
# COVERAGE_FAIL_UNDER says so (CI sets it for both of its runs).
COVERAGE_FAIL_UNDER ?= $(if $(PYTEST_ARGS),0,90)

test: $(STAMP)
	rm -rf var/coverage && mkdir -p var/coverage
	$(PY) -m devtools.stack exec -- $(PY) -m coverage run -m pytest $(PYTEST_ARGS)
	$(PY) -m coverage combine -q
	@$(PY) -m coverage report --sort=-cover --fail-under=$(COVERAGE_FAIL_UNDER) > var/coverage/report.txt; \
	  status=$$?; tail -n 15 var/coverage/report.txt; echo "full table: var/coverage/report.txt"; exit $$status

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The benchmark (docs/benchmarks.md): headline on a private PostgreSQL database when one answers, under 10 minutes.
# BENCH_PROFILE=quick|full|soak (the 1,000-client soak, about 15 minutes); BENCH_DATABASE_URL picks the database.
bench: $(STAMP)
	$(PY) -m devtools.stack exec -- $(PY) -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache
