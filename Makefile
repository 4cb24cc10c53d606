# Two commands do all the set-up on a fresh Debian or Raspberry Pi OS machine:
#   make demo   a simulated show on built-in demo songs (demo-out/)
#   make test   the tests
# Both create .venv and install what they need, system packages included.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# On a Pi, the distribution's gpiozero, lgpio and alsaaudio builds are used.
VENV_FLAGS := $(if $(wildcard /proc/device-tree/model),--system-site-packages,)

.PHONY: demo test bench lint docs system-deps clean

demo: $(STAMP)
	$(BIN)/stagebox demo --out demo-out

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

# The README's pictures, remade on purpose (never by a test run).
docs: $(STAMP)
	$(BIN)/python -m stagebox.ui.golden docs/screens

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What pip cannot install: a C compiler, the Python and ALSA headers (to build
# pyalsaaudio), venv, and alsa-lib's plugins and utilities for the tests.
system-deps:
	@missing=""; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	test -f /usr/include/alsa/asoundlib.h || missing="$$missing libasound2-dev"; \
	command -v aplay >/dev/null || missing="$$missing alsa-utils"; \
	$(PYTHON) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| missing="$$missing python3-dev"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "Please run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
