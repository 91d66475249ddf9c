# Set-up and the two quick-start commands. Everything installs into .venv from PyPI
# (torch pinned to the CPU build 2.13.0; no torchvision).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test

$(BIN)/letterlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/letterlab

setup: $(BIN)/letterlab

# The main job on the embedded default data: the homework's CNN, shortened to 3 epochs.
demo: setup
	$(BIN)/letterlab train --preset cnn --epochs 3

test: setup
	$(BIN)/python -m pytest -q
