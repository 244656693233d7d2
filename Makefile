# Two commands do all the set-up: `make lab` and `make test`.
# Both create .venv when it is missing and install labkit with its extras into it.

PYTHON ?= python3
VENV   := .venv
ifeq ($(OS),Windows_NT)
  BIN := $(VENV)/Scripts
else
  BIN := $(VENV)/bin
endif
STAMP  := $(VENV)/.installed

.PHONY: lab test install bench clean

lab: $(STAMP)
	$(BIN)/python -m labkit lab

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# Reinstall whenever the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'labkit needs Python 3.11 or newer; got ' + sys.version.split()[0])"
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[test]"
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python bench/serving.py

clean:
	rm -rf $(VENV) notebooks/workspace
