# Every target that needs Python installs into .venv first (`make install` is the shared
# prerequisite); re-installs only when pyproject.toml or requirements.lock change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= experiments/toy.py
WORKDIR ?= runs/toy

.PHONY: install run test test-slow bench bench-smoke lint clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(PY) -m dflow_jax.main --config=$(CONFIG) --workdir=$(WORKDIR)

test: install
	$(PY) -m pytest -m "not slow" -q

test-slow: install
	$(PY) -m pytest -m slow -q -s

# Update, baseline, ceiling, lever and evaluation throughput on whatever device JAX sees:
# benchmarks/results/throughput.{json,md}. BENCH_ARGS narrows it, e.g. BENCH_ARGS="--only update".
bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)

# Every benchmark code path at tiny sizes (about a minute on an idle CPU); numbers mean nothing.
bench-smoke: install
	$(PY) -m benchmarks --smoke $(BENCH_ARGS)

lint: install
	$(PY) -m ruff check dflow_jax experiments tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
