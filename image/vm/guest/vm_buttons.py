"""``stagebox run`` with buttons the VM test can press (``make vm-test`` only).

A VM has no GPIO lines at the Pi's BCM numbers (gpiozero's Pi factories refuse a board
they cannot identify), so the daemon gets gpiozero's ``MockFactory`` pins instead, and a
thread reads ``/run/stagebox/vm-buttons`` (a FIFO in the service's own runtime folder) for
lines ``tap NAME`` or ``hold NAME SECONDS`` and drives the pin low for that long. The
edges reach :class:`stagebox.hal.buttons.ButtonPanel`'s handlers exactly as a real pin's
would; the thread starts after the panel is built, so the decoder launcher is still
forked from a process with one thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from gpiozero import Device
from gpiozero.pins.mock import MockFactory

import stagebox.hal.buttons as buttons
from stagebox.cli import main

FIFO = Path(os.environ.get("RUNTIME_DIRECTORY", "/run/stagebox")) / "vm-buttons"
TAP_S = 0.15
"""Longer than the debounce (20 ms), shorter than a hold (0.8 s)."""
log = logging.getLogger("sbvm.buttons")


def press(panel: buttons.ButtonPanel, words: list[str]) -> None:
    """Carry out one ``tap NAME`` or ``hold NAME SECONDS`` line."""
    kind, name = words[0], words[1]
    seconds = TAP_S if kind == "tap" else float(words[2])
    pin = panel.buttons[name].pin  # type: ignore[index]
    log.info("vm button %s %s (%.2f s)", kind, name, seconds)
    pin.drive_low()
    time.sleep(seconds)
    pin.drive_high()


def serve(panel: buttons.ButtonPanel) -> None:
    """Read the FIFO forever: each writer's lines, then wait for the next writer."""
    if not FIFO.exists():
        os.mkfifo(FIFO, 0o600)
    while True:
        with FIFO.open() as fifo:
            for line in fifo:
                words = line.split()
                try:
                    press(panel, words)
                except (IndexError, KeyError, ValueError) as exc:
                    log.warning("vm button: bad line %r: %s", line, exc)


original_init = buttons.ButtonPanel.__init__


def init_and_serve(self: buttons.ButtonPanel, *args: object, **kwargs: object) -> None:
    """The panel as usual, then the thread that presses its buttons."""
    original_init(self, *args, **kwargs)  # type: ignore[arg-type]
    threading.Thread(target=serve, args=(self,), name="sbvm-buttons", daemon=True).start()


if __name__ == "__main__":
    Device.pin_factory = MockFactory()
    buttons.ButtonPanel.__init__ = init_and_serve  # type: ignore[method-assign]
    sys.exit(main())
