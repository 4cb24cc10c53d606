"""``stagebox run`` as systemd runs it (``Type=notify``): READY=1 on a box with no buttons,
display, stick or sound card, then STOPPING=1 and a clean exit on SIGTERM.

The daemon sends to a datagram socket the test listens on, named in ``NOTIFY_SOCKET``.
How fast READY comes is the boot benchmark's business (``bench/ready.py``), not this test's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The boot benchmark's box without hardware, so that test and benchmark start the same box.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ready import write_config
from stagebox import __version__

EVENT_TIMEOUT_S = 120.0
"""Only so that a daemon that never says anything fails the test instead of hanging it."""


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(address)
        listener.settimeout(EVENT_TIMEOUT_S)
        yield address, listener


def messages_until(listener: socket.socket, line: str) -> list[list[str]]:
    """Every datagram received up to and including the first with ``line``."""
    received = []
    while True:
        message = listener.recv(4096).decode().split("\n")
        received.append(message)
        if line in message:
            return received


def test_the_daemon_says_ready_then_stopping_and_exits_cleanly_on_sigterm(
        tmp_path: Path, notify_socket: tuple[str, socket.socket]):
    address, listener = notify_socket
    # No pin factory that can be loaded: a box whose buttons are missing.
    env = {**os.environ, "NOTIFY_SOCKET": address, "GPIOZERO_PIN_FACTORY": "none-such"}
    command = [sys.executable, "-m", "stagebox", "run", "--config",
               str(write_config(tmp_path))]
    daemon = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=env, text=True)
    try:
        before_ready = messages_until(listener, "READY=1")
        daemon.send_signal(signal.SIGTERM)
        until_stopping = messages_until(listener, "STOPPING=1")
        log, _ = daemon.communicate(timeout=EVENT_TIMEOUT_S)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, log
    assert "Traceback" not in log
    assert before_ready == [["READY=1", f"STATUS=stagebox {__version__}"]], log
    assert until_stopping[-1] == ["STOPPING=1"], log
    # The buttons are opened after READY=1, and their absence is still reported.
    assert "No buttons: Unable to find pin factory 'none-such'" in log
