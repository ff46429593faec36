# Every target sets itself up first (system libraries, .venv, the package): see scripts/setup.sh.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup demo test test-all lint docs format models reports gallery bench mutants clean vendor-web

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/setup.sh
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/streamlit run streamlit_app.py

test: setup
	$(PY) -m pytest -q -m "not slow"

test-all: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

format: setup
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

models: setup
	bash scripts/train_models.sh && $(MAKE) reports

reports: setup
	$(PY) scripts/make_reports.py

gallery: setup
	bash scripts/make_gallery.sh

mutants: setup
	$(PY) scripts/mutants.py

bench: setup
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache media build site *.egg-info

# onnxruntime-web for `explainer export-page`, from npm into explainer/webpage/vendor/ (committed)
vendor-web:
	bash scripts/vendor_web.sh
