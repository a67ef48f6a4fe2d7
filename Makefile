# `make run` and `make test` do all the set-up on a fresh machine: the virtual environment, then the app.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Installed first and pinned, so that the project's open torch range is already met and nothing pulls a
# multi-gigabyte CUDA build. A user's machine gets the CUDA or MPS build through that same range.
TORCH_PIN := torch==2.13.0
# openai/CLIP's model and tokenizer, the reference of the parity tests; only its two source files are used.
CLIP_REFERENCE := clip-anytorch==2.6.0
STAMP := $(VENV)/.installed

.PHONY: install run test test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "$(TORCH_PIN)"
	$(PIP) install --quiet -e ".[test]"
	$(PIP) install --quiet --no-deps "$(CLIP_REFERENCE)"
	touch $(STAMP)

run: install
	$(PY) -m photosort

# The suite, on every core. Timing is measured by benchmarks/, never asserted by a test. A run that collects
# no test fails (pytest exits 5), so an empty run never passes.
test: install
	$(PY) -m pytest -n auto -m "not slow"

# The slow tests too (every kill point and every damage, minutes); an empty -m
# selects all.
test-all: install
	$(PY) -m pytest -n auto -m ""

bench: install
	$(PY) benchmarks/bench_clip.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
