SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
PKG_STAMP := $(VENV)/.package-installed

.PHONY: setup run lint test bench clean retrain-3d

$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

# this package itself, editable, so that its console scripts (modic-analyze, ...) exist in the venv;
# again whenever pyproject.toml (scripts, package data) changes
$(PKG_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(PKG_STAMP)

setup: $(PKG_STAMP)

run: $(PKG_STAMP)
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $${PORT:-8501} --server.headless true --browser.gatherUsageStats false

lint: $(PKG_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

test: $(PKG_STAMP) lint
	$(PY) -m pytest -q tests

bench: $(PKG_STAMP)
	$(PY) -m modic_core.bench.benchmark
	$(PY) -m modic_core.bench.memory --json benchmarks/memory.json
	$(PY) -m modic_core.bench.browser --json benchmarks/browser.json
	$(PY) -m modic_core.bench.batch_scaling --json benchmarks/batch_scaling.json

clean:
	rm -rf $(VENV) .pytest_cache

# Retrain everything from a full SPIDER release (3D .mha volumes + masks), e.g. make retrain-3d SPIDER=/data/SPIDER
retrain-3d: $(PKG_STAMP)
	test -n "$(SPIDER)" || { echo "usage: make retrain-3d SPIDER=/path/to/SPIDER"; exit 2; }
	$(PY) -m modic_core.train.detector --cohort "$(SPIDER)" --out weights --runs runs/detector3d
	$(PY) -m modic_core.train.compare --cohort "$(SPIDER)" --depth 3 --runs runs/classifier3d
