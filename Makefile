# Two commands do all the set-up on a fresh Debian or Raspberry Pi OS machine:
#   make demo   a simulated show on built-in demo songs (demo-out/)
#   make test   the tests
# Both create .venv and install what they need, system packages included: the demo
# only what it needs, the tests (and make bench) the rest too.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# On a Pi, the distribution's gpiozero, lgpio and alsaaudio builds are used.
VENV_FLAGS := $(if $(wildcard /proc/device-tree/model),--system-site-packages,)

.PHONY: demo test test-quick test-stress fuzz bench lint docs demo-deps test-deps vm-test clean

demo: $(STAMP)
	$(BIN)/stagebox demo --out demo-out

test: test-deps lint
	$(BIN)/pytest -q

# Everything but the tests marked slow (the appliance image, the benchmark's sizes, ...):
# about a minute.
test-quick: test-deps $(STAMP)
	$(BIN)/pytest -q -m "not slow"

# The whole suite STRESS_RUNS times beside two CPU hogs, to catch tests that depend on
# timing. The hogs go however the runs end, Ctrl-C included.
STRESS_RUNS ?= 5
test-stress: test-deps $(STAMP)
	@hogs=""; trap 'kill $$hogs 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	for hog in 1 2; do (while :; do :; done) & hogs="$$hogs $$!"; done; \
	failed=0; \
	for run in $$(seq $(STRESS_RUNS)); do \
		echo "stress run $$run of $(STRESS_RUNS), beside two CPU hogs"; \
		$(BIN)/pytest -q -p no:cacheprovider || failed=$$((failed + 1)); \
	done; \
	echo "$$failed of $(STRESS_RUNS) stress runs failed"; \
	[ "$$failed" = 0 ]

# Seeded random shows in the simulator, FUZZ_SEEDS of them from FUZZ_FIRST_SEED on; a
# failure prints its seed and script (replay: FUZZ_FIRST_SEED=<seed> FUZZ_SEEDS=1).
FUZZ_SEEDS ?= 200
FUZZ_FIRST_SEED ?= 1
fuzz: $(STAMP)
	$(BIN)/python tests/fuzz_show.py --seeds $(FUZZ_SEEDS) --first-seed $(FUZZ_FIRST_SEED)

# Every figure of issue 3 beside its peer, into bench/results.md (about 20 minutes).
bench: test-deps $(STAMP)
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The README's picture, remade on purpose (never by a test run).
docs: demo
	cp demo-out/highlights.png docs/screens.png

$(STAMP): pyproject.toml | demo-deps
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# What pip cannot install, as shell that adds each missing package to $$missing.
# The demo: a C compiler and the Python and ALSA headers (to build pyalsaaudio), venv, and
# libebur128 (the loudness meter, loaded by ctypes).
DEMO_PACKAGES = \
	ls /usr/lib/*/libebur128.so.1 >/dev/null 2>&1 || missing="$$missing libebur128-1"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	test -f /usr/include/alsa/asoundlib.h || missing="$$missing libasound2-dev"; \
	$(PYTHON) -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
		|| missing="$$missing python3-dev"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv";
# The tests and the benchmark, on top: alsa-utils, for the appliance tests debootstrap,
# shellcheck, systemd's tools, systemd-nspawn (the boot test), capsh (pi-gen's on_chroot),
# mkfs.ext4 and parted, sox and ffmpeg for the benchmark's
# peers and the test media, PulseAudio with alsa-lib's pulse plugin: a paced ALSA
# device with no sound card, for the underrun test (the test starts its own server on a
# private socket; nothing else uses it), and Rubber Band (key and speed) with its C
# header, which the benchmark compiles its peer against.
TEST_PACKAGES = \
	command -v aplay >/dev/null || missing="$$missing alsa-utils"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v systemd-nspawn >/dev/null || missing="$$missing systemd-container"; \
	command -v capsh >/dev/null || missing="$$missing libcap2-bin"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	command -v parted >/dev/null || missing="$$missing parted"; \
	sox -h 2>&1 | grep -q 'DEVICE DRIVERS:.*alsa' || missing="$$missing sox libsox-fmt-alsa"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v pulseaudio >/dev/null || missing="$$missing pulseaudio"; \
	command -v parec >/dev/null || missing="$$missing pulseaudio-utils"; \
	ls /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so >/dev/null 2>&1 \
		|| missing="$$missing libasound2-plugins"; \
	test -f /usr/include/rubberband/rubberband-c.h || missing="$$missing librubberband-dev";
# Installed with apt-get as root; otherwise the one command to run first.
INSTALL_MISSING = \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "Please run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

demo-deps:
	@missing=""; $(DEMO_PACKAGES) $(INSTALL_MISSING)

# A user's PATH often lacks the sbin folders where debootstrap, mkfs.ext4 and parted live.
test-deps:
	@missing=""; PATH="$$PATH:/usr/sbin:/sbin"; \
	$(DEMO_PACKAGES) $(TEST_PACKAGES) $(INSTALL_MISSING)

# The appliance booted for real: a whole Debian machine under QEMU with a hot-plugged USB
# stick and USB audio interface (image/vm/vmtest.py), as root; the report goes to
# /var/tmp/stagebox-vm-cache/report-$(ARCH).md. Not in CI: an arm64 image takes about half
# an hour to build under emulation (cached after), a TCG boot and the checks some minutes.
ARCH ?= amd64
vm-test: $(STAMP)
	@missing=""; PATH="$$PATH:/usr/sbin:/sbin"; \
	command -v qemu-system-x86_64 >/dev/null || missing="$$missing qemu-system-x86"; \
	command -v qemu-system-aarch64 >/dev/null || missing="$$missing qemu-system-arm"; \
	command -v qemu-img >/dev/null || missing="$$missing qemu-utils"; \
	command -v qemu-aarch64-static >/dev/null || missing="$$missing qemu-user-static"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
	command -v parted >/dev/null || missing="$$missing parted"; \
	command -v mkfs.ext4 >/dev/null || missing="$$missing e2fsprogs"; \
	command -v mkfs.vfat >/dev/null || missing="$$missing dosfstools"; \
	command -v mcopy >/dev/null || missing="$$missing mtools"; \
	command -v sox >/dev/null || missing="$$missing sox"; \
	$(INSTALL_MISSING)
	$(BIN)/python image/vm/vmtest.py --arch $(ARCH)

clean:
	rm -rf $(VENV) demo-out .pytest_cache .ruff_cache
