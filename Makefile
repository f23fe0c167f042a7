# Quick start targets; each creates .venv if missing and installs what it needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test slow clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the pin (a CPU build here; see constraints.txt)
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

run: $(STAMP)  ## the built-in synthetic 60-degree limited-angle study
	$(VENV)/bin/tomolearn run -o runs/default --overwrite

test: $(STAMP)  ## the default test suite (slow studies excluded)
	$(PY) -m pytest -q

slow: $(STAMP)  ## the slow studies too
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs
