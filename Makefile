# Two commands do everything on a fresh machine: `make book` and `make test` (see README.md).
PYTHON ?= python3
# CONSTRAINTS=constraints/colab.txt installs Colab's versions instead of the newest in range (CI runs `make test`
# so), in an environment of its own: .venv-colab, unless VENV says otherwise.
CONSTRAINTS =
VENV = $(if $(CONSTRAINTS),.venv-$(basename $(notdir $(CONSTRAINTS))),.venv)
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INSTALL_PLAN := $(PYTHON) tools/install_plan.py requirements.txt

.PHONY: install install-plan book test test-jax linkcheck browser clean-notebooks sync-korean clean

install: $(INSTALLED)

# The environment: requirements.txt with TensorFlow and JAX in the build that suits the machine
# (tools/install_plan.py): their CUDA wheels on Linux with an NVIDIA GPU, tensorflow-cpu on Linux without one,
# tensorflow on macOS.
$(INSTALLED): requirements.txt pyproject.toml tools/install_plan.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(INSTALL_PLAN) > $(VENV)/requirements.txt
	$(BIN)/python -m pip install --quiet -r $(VENV)/requirements.txt -e '.[test]' $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS))
	touch $@

# Prints the requirements `make install` would install on this machine, and why, without installing anything.
install-plan:
	@$(INSTALL_PLAN)

# Executes every chapter (profile auto: full on a GPU, quick on a CPU; ALEXNET_BOOK_PROFILE=smoke for a
# fast build) once, caches the results, and writes the site to _build/html. Warnings are errors.
# tools/build_book.py runs `jupyter-book build . -W -n --keep-going` after comparing a build key (the profile
# auto resolves to, the data the chapters read, the Keras backend, the GPU, the package's source, library versions)
# with the last build's:
# where it differs, every notebook runs again (unless kept from an earlier build with that key), else none does.
# Each page's footer names the profile, the data, the backend and the commit the notebooks ran with.
book: $(INSTALLED)
	$(BIN)/python tools/build_book.py

# Package tests, notebook hygiene, every chapter under papermill (PROFILE=smoke), and the built site, the last
# also in a headless browser (tests/test_site.py; screenshots of every page in _build/test/screenshots/).
test: $(INSTALLED) browser
	$(if $(CONSTRAINTS),ALEXNET_BOOK_CONSTRAINTS=$(CONSTRAINTS)) $(BIN)/python -m pytest

# The chapters again on the JAX backend (the package is backend-neutral Keras 3): notebook hygiene, every chapter
# under papermill (PROFILE=smoke, KERAS_BACKEND=jax), the site built from those runs and its pages checked, in
# _build/test-jax/, and the rehearsal of the full profile on JAX. CI runs it beside `make test`.
test-jax: $(INSTALLED)
	KERAS_BACKEND=jax $(if $(CONSTRAINTS),ALEXNET_BOOK_CONSTRAINTS=$(CONSTRAINTS)) \
		$(BIN)/python -m pytest tests/test_notebooks.py tests/test_full_rehearsal.py

# The browser test drives Debian's Chromium and ChromeDriver, and reads the Korean pages in a font with Hangul
# (fonts-noto-cjk): installed here where missing and we are root with apt-get (as CI is). Elsewhere the test skips
# and says what to install (under CI=true it fails instead).
browser:
	@missing=""; \
	command -v chromium >/dev/null || missing="chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	fc-list :lang=ko 2>/dev/null | grep -q . || missing="$$missing fonts-noto-cjk"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing for the browser test (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
		|| echo "warning: could not install$$missing; tests/test_site.py will say so"; \
	else echo "note: missing$$missing and not root with apt-get: the browser test will skip or fail on it"; fi

# Every external link of the book, checked over the network (needs one; not part of `make test`). It executes the
# chapters as `make book` does, from the same cache (nothing to run after `make book`). Report: _build/html/output.txt.
linkcheck: $(INSTALLED)
	$(BIN)/jupyter-book build . --builder linkcheck

# Notebooks are committed without outputs or execution counts (the tests check it).
clean-notebooks: $(INSTALLED)
	$(BIN)/python tools/clean_notebooks.py chapters/*.ipynb

# After a change to a chapter's code: copy its code cells into the Korean twin in ko/chapters/ (tools/editions.py),
# then read the Korean prose around the change.
sync-korean: $(INSTALLED)
	$(BIN)/python tools/editions.py sync

clean:
	rm -rf _build
