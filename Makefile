# Every target that needs Python installs into .venv first (`make install` is the shared
# prerequisite); re-installs only when pyproject.toml or requirements.lock change.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# ACCEL=cuda12 or cuda13 adds JAX's CUDA plugin at the locked jax version (requirements.lock).
ACCEL ?=
ifneq ($(filter-out cuda12 cuda13,$(ACCEL)),)
$(error ACCEL=$(ACCEL) is not supported: use ACCEL=cuda12 or ACCEL=cuda13, or leave it unset for CPU)
endif
JAX_VERSION := $(shell sed -n 's/^jax==//p' requirements.lock)
STAMP := $(VENV)/.installed$(if $(ACCEL),-$(ACCEL))
CONFIG ?= experiments/toy.py
WORKDIR ?= runs/toy

.PHONY: install run test test-slow bench bench-smoke lint clean

install: $(STAMP)

# PYTHONWARNINGS: setuptools warns that a folder named like the package may shadow it; that
# folder is the package. An accelerator install also touches the CPU stamp: it holds the CPU
# stack too, so `make run` and `make test` use it as it is.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --no-deps -e .
	$(if $(ACCEL),$(PY) -m pip install --quiet "jax[$(ACCEL)]==$(JAX_VERSION)")
	touch $(STAMP) $(VENV)/.installed

run: install
	$(PY) -m dflow_jax.main --config=$(CONFIG) --workdir=$(WORKDIR)

# The tests are mostly single-threaded compiles: one worker per core (pytest-xdist) runs the
# suite in 0.7x the time of one process on our 2-core CPU.
test: install
	$(PY) -m pytest -m "not slow" -q -n auto --dist worksteal

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
