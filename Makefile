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

test: lint
	$(BIN)/pytest -q

# Every figure of issue 3 beside its peer, into bench/results.md (about 20 minutes).
bench: $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The README's picture, remade on purpose (never by a test run).
docs: demo
	cp demo-out/highlights.png docs/screens.png

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What pip cannot install: a C compiler, the Python and ALSA headers (to build
# pyalsaaudio), venv, alsa-utils, for the appliance tests debootstrap, shellcheck,
# systemd's tools, mkfs.ext4 and parted, sox for the benchmark's peer, and PulseAudio
# with alsa-lib's pulse plugin: a paced ALSA device with no sound card, for the underrun
# test (the test starts its own server on a private socket; nothing else uses it).
system-deps:
	@missing=""; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	test -f /usr/include/alsa/asoundlib.h || missing="$$missing libasound2-dev"; \
	command -v aplay >/dev/null || missing="$$missing alsa-utils"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	command -v parted >/dev/null || missing="$$missing parted"; \
	sox -h 2>&1 | grep -q 'DEVICE DRIVERS:.*alsa' || missing="$$missing sox libsox-fmt-alsa"; \
	command -v pulseaudio >/dev/null || missing="$$missing pulseaudio"; \
	command -v parec >/dev/null || missing="$$missing pulseaudio-utils"; \
	ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1 \
		|| missing="$$missing libasound2-plugins"; \
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
