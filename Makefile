# Everything runs from .venv, which `make setup` creates; setup is re-run only when pyproject.toml changes.
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export FORMCLIP_BASE_MODEL ?= formclip-tiny
export HF_HUB_OFFLINE ?= 1
# Modules are compiled to bytecode when first imported, and the bytecode kept (Python's default),
# even where the environment turns that off, as this machine does: a process importing FormClip,
# torch, transformers, Dagster, MLflow and mediapipe from source took 17 s to start against 6.5 s.
# Only what gets imported is compiled (about 5,600 of the environment's 27,500 files, 11 s once);
# compiling everything at set-up took 41 s of a 90 s set-up on 2 cores.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test test-fast bench bench-real bench-real-training dagster mlflow clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints-cpu.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -c constraints-cpu.txt torch
	$(PY) -m pip install -q --no-compile -c constraints-cpu.txt -e '.[dev,cluster]'
	touch $@

# A Dagster home without a dagster.yaml gets Dagster's defaults (runs and logs kept in the folder) and
# prints a notice and a telemetry banner into every first run's output. FormClip runs offline by
# default, so it does not opt its users into sending usage statistics either. A dagster.yaml already
# there is left as it is.
$(DAGSTER_HOME)/dagster.yaml:
	mkdir -p $(DAGSTER_HOME)
	printf 'telemetry:\n  enabled: false\n' > $@

demo: setup $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/formclip demo

test: setup
	# Two workers: the slow tests mostly wait on servers and subprocesses. On 2 cores a clean clone's
	# `bash .ci/run` took 14:23 this way (pytest 13:36, 283 tests; 2026-12-07).
	$(PY) -m pytest -n 2 formclip_pipeline_tests

# The edit-run loop: every test that needs no rendered session videos, no server and no long run
# (conftest.py marks the others slow): 193 tests in 2:24 on 2 cores (2026-12-07).
test-fast: setup
	$(PY) -m pytest -n 2 -m "not slow" formclip_pipeline_tests

bench: setup
	$(PY) -m formclip_pipeline_tests.benchmarks.scoring
	$(PY) -m formclip_pipeline_tests.benchmarks.training
	$(PY) -m formclip_pipeline_tests.benchmarks.pose_reading
	$(PY) -m formclip_pipeline_tests.benchmarks.cluster
	$(PY) -m formclip_pipeline_tests.benchmarks.robustness

# Real footage is never in the repository: DIR is a folder of clips (and optionally LIST a TSV of
# reps counted by eye, and of labels: then the table of figures in docs/benchmarks.md is replaced);
# the champions `make demo` registered score them.
bench-real: setup
	$(PY) -m formclip_pipeline_tests.benchmarks.real_footage "$(DIR)" $(if $(LIST),--list "$(LIST)") --docs docs/benchmarks.md

# What a user's own labelled clips add: a model fitted on the demo's synthetic videos plus the clips of
# every other lifter or source scores the clips left out, each group in turn.
bench-real-training: setup
	$(PY) -m formclip_pipeline_tests.benchmarks.real_training "$(DIR)" --list "$(LIST)"

dagster: setup $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev

mlflow: setup
	# One worker serves one user; the default four each start up on 2 cores.
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --workers 1

clean:
	rm -rf data/training_data data/pipeline data/models data/reports data/formclip.duckdb mlruns/mlflow.db mlruns/artifacts $(DAGSTER_HOME)
