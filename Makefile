# Two commands do everything on a fresh machine: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install book test clean-notebooks clean

install: $(INSTALLED)

# The environment: requirements.txt, with tensorflow-cpu (the same releases without CUDA, a smaller
# download that prints no CUDA errors) in place of tensorflow where there is no NVIDIA GPU.
$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if nvidia-smi >/dev/null 2>&1; then cp requirements.txt $(VENV)/requirements.txt; \
	else sed 's/^tensorflow>/tensorflow-cpu>/' requirements.txt > $(VENV)/requirements.txt; fi
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt -e '.[test]'
	touch $@

# Executes every chapter (profile auto: full on a GPU, quick on a CPU; ALEXNET_BOOK_PROFILE=smoke for a
# fast build) once, caches the results, and writes the site to _build/html. Warnings are errors.
book: $(INSTALLED)
	$(BIN)/jupyter-book build . -W -n --keep-going

# Package tests, notebook hygiene, every chapter under papermill (PROFILE=smoke), and the built site.
test: $(INSTALLED)
	$(BIN)/python -m pytest

# Notebooks are committed without outputs or execution counts (the tests check it).
clean-notebooks: $(INSTALLED)
	$(BIN)/python tools/clean_notebooks.py chapters/*.ipynb

clean:
	rm -rf _build
