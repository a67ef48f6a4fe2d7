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
# The vector index has no wheels: pip compiles it, and its setup adds -march=native, which would tie the
# installer to this machine's CPU (an illegal instruction on older ones). HNSWLIB_NO_NATIVE drops that flag;
# the baseline is x86-64-v2 (SSE4.2 and POPCNT: every x86-64 CPU since 2009, and what Windows 11 itself
# requires). Current setuptools compiles C++ with CXXFLAGS in place of Python's own flags, hence -DNDEBUG
# (hnswlib's asserts stay out). Built the same way for the tests and the installer, never from pip's cache.
# .github/workflows/release.yml does the same on each platform.
HNSWLIB_PIN := hnswlib==0.8.0
HNSWLIB_BASELINE_x86_64 := -march=x86-64-v2
HNSWLIB_FLAGS := $(HNSWLIB_BASELINE_$(shell uname -m))
STAMP := $(VENV)/.installed
PACKAGE_STAMP := $(VENV)/.installed-package

.PHONY: install run test test-all lint package frozen-test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "$(TORCH_PIN)"
	HNSWLIB_NO_NATIVE=1 CFLAGS="$(HNSWLIB_FLAGS)" CXXFLAGS="$(HNSWLIB_FLAGS) -DNDEBUG" \
		$(PIP) install --quiet --no-cache-dir --no-binary hnswlib --force-reinstall --no-deps "$(HNSWLIB_PIN)"
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

# ruff over the whole tree, mypy over the engine (photosort/core, photosort/clip): both configured in pyproject.
lint: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/mypy

$(PACKAGE_STAMP): $(STAMP)
	$(PIP) install --quiet -e ".[test,package]"
	touch $(PACKAGE_STAMP)

# The Linux app (dist/photosort/) and its release archive, then the frozen-app test on what was built.
package: $(PACKAGE_STAMP)
	$(PY) installer/build.py
	$(MAKE) frozen-test

frozen-test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -p no:xdist tests/test_frozen_app.py

bench: install
	$(PY) benchmarks/bench_clip.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
