# Two entry points for a fresh machine: `make book` (the executed site) and `make test`.
# Each creates and fills its own virtual environment in .venv; nothing else is needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: book test unit notebooks site-check bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[docs,test,bench,ray]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

## book: build the whole Jupyter Book, executing every notebook, warnings as errors
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

## test: every test (unit, property, nbval, papermill), then the book and its browser check.
## Two pytest workers: many tests wait on real replicas' clocks, so two share the machine
## well (tests/conftest.py keeps each notebook's cells, and every Ray test, on one worker).
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadscope
	$(MAKE) book
	$(PY) -m pytest tests/site --site

## notebooks: re-execute every notebook in place to refresh its stored outputs
notebooks: $(STAMP)
	$(PY) tools/refresh_notebooks.py notebooks

## bench: the side-by-side benchmarks (ratios)
bench: $(STAMP)
	$(PY) benchmarks/bench_simulate.py
	@if command -v valgrind >/dev/null; then $(PY) benchmarks/bench_instructions.py; \
	else echo "bench_instructions.py not run: it needs valgrind"; fi
	$(PY) benchmarks/bench_runtime.py
	$(PY) benchmarks/bench_big_pool.py
	$(PY) benchmarks/bench_plan.py --ray

clean:
	rm -rf _build .pytest_cache .hypothesis
