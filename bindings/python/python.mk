# bindings/python/python.mk — the Python binding (included by the Makefile).
#
# The package (bindings/python/src/zbauth) loads libzbauth with ctypes. Its
# wheel bundles the library, so it is tagged for this platform. Tools come
# pinned from requirements-dev.txt into a venv under build/.

PYTHON ?= python3
PY_DIR := bindings/python
PY_VENV := $(BUILD)/venv-python
PY := $(PY_VENV)/bin/python
PY_PIP := $(PY) -m pip --quiet --disable-pip-version-check
PY_DIST := $(BUILD)/python
# The library's copy inside the package (ignored by git), bundled in the wheel.
PY_LIB := $(PY_DIR)/src/zbauth/libzbauth.so
PY_SOURCES := $(wildcard $(PY_DIR)/src/zbauth/*.py) $(PY_DIR)/src/zbauth/py.typed \
  $(PY_DIR)/pyproject.toml $(PY_DIR)/hatch_build.py $(PY_DIR)/README.md
PY_ENV := PYTHONPATH=$(CURDIR)/$(PY_DIR)/src ZBAUTH_LIBRARY=$(LIB)

.PHONY: python test-python demo-python bench-python

$(PY_VENV)/.installed: $(PY_DIR)/requirements-dev.txt
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	$(PY_PIP) install -r $<
	touch $@

$(PY_LIB): $(LIB)
	install -m 0755 $(LIB) $@

$(PY_DIST)/.built: $(PY_VENV)/.installed $(PY_LIB) $(PY_SOURCES)
	rm -rf $(PY_DIST)
	$(PY_PIP) wheel --no-build-isolation --no-deps -w $(PY_DIST) ./$(PY_DIR)
	touch $@

python: $(PY_DIST)/.built ## Python wheel with libzbauth.so inside, into build/python/
	@ls $(PY_DIST)/*.whl

test-python: $(ZBAUTH) $(PY_DIST)/.built ## Python binding: mypy, then pytest against the dev cluster
	@echo "== Python binding: mypy --strict"
	cd $(PY_DIR) && $(PY) -m mypy --cache-dir $(BUILD)/mypy-cache
	@echo "== Python binding: pytest (dev cluster, and the wheel in a fresh venv)"
	cd $(PY_DIR) && ZBAUTH_BIN=$(ZBAUTH) ZBAUTH_WHEEL_DIR=$(PY_DIST) $(PY_ENV) $(PY) -m pytest
TESTS += test-python

demo-python: $(ZBAUTH) $(LIB) ## the Python example prints the topology
	@echo "== Python example (bindings/python/examples/topology.py) against the dev cluster"
	$(PY_ENV) $(WITH_CLUSTER) $(PYTHON) $(PY_DIR)/examples/topology.py
DEMOS += demo-python

bench-python: $(ZBAUTH) $(LIB) $(PY_VENV)/.installed ## Python binding vs a plain requests flow → build/bench/python.json
	@echo "== Python binding benchmarks against the dev cluster (peer: requests)"
	@mkdir -p $(BUILD)/bench
	BENCH_RUNS=$(or $(BENCH_RUNS),3) $(PY_ENV) $(WITH_CLUSTER) $(PY) $(PY_DIR)/bench/bench.py $(BUILD)/bench/python.json
BENCHES += bench-python
