"""Readiness and watchdog notifications to systemd (``sd_notify``), in pure Python.

systemd passes a datagram socket's address in ``NOTIFY_SOCKET`` and, with ``WatchdogSec=``,
the watchdog's period in ``WATCHDOG_USEC``. Outside systemd (a terminal, the tests, the
simulator) both are unset and every call here does nothing. Sending never raises: a lost
notification must not stop the show.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends ``sd_notify`` messages to the socket in ``NOTIFY_SOCKET`` (main loop only).

    ``address`` is a file system path or, starting with ``@``, a Linux abstract socket
    name. ``None`` gives a notifier that sends nothing.
    """

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._target = _socket_target(self.address)
        self._sock: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for in ``environ`` (default: ``os.environ``)."""
        return cls((os.environ if environ is None else environ).get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere (systemd started us with a notify socket)."""
        return self._target is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; True if it was sent."""
        if self._target is None:
            return False
        message = "\n".join(assignments).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message, self._target)
        except OSError as exc:
            if not self._failed:
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
                self._failed = True
            return False
        self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is done (``READY=1``), with an optional status line."""
        return self.notify("READY=1", *_status_lines(status))

    def status(self, text: str) -> bool:
        """Set the one-line status ``systemctl status`` shows."""
        return self.notify(*_status_lines(text))

    def watchdog(self) -> bool:
        """Ping the watchdog (``WATCHDOG=1``)."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Tell systemd the service is shutting down (``STOPPING=1``)."""
        return self.notify("STOPPING=1", *_status_lines(status))

    def close(self) -> None:
        """Close the socket; a later message opens it again."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _socket_target(address: str | None) -> str | bytes | None:
    if not address:
        return None
    if address.startswith("@"):
        return b"\0" + address[1:].encode("utf-8")
    if address.startswith("/"):
        return address
    # Other transports (vsock: ...) are for virtual machines, never a stage box.
    log.warning("unsupported NOTIFY_SOCKET %r: not notifying systemd", address)
    return None


def _status_lines(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.split()),)


def watchdog_interval_s(environ: Mapping[str, str] | None = None,
                        pid: int | None = None) -> float | None:
    """How often to ping: half of ``WATCHDOG_USEC``, or None if no watchdog is asked for.

    ``WATCHDOG_PID``, when set, must be this process (``pid``, default ``os.getpid()``):
    a child that inherited the environment must not ping for its parent.
    """
    env = os.environ if environ is None else environ
    try:
        period_us = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if period_us <= 0:
        return None
    watchdog_pid = env.get("WATCHDOG_PID")
    if watchdog_pid is not None and watchdog_pid != str(os.getpid() if pid is None else pid):
        return None
    return period_us / 2_000_000


class Watchdog:
    """Pings systemd's watchdog only while the main loop and the output thread both move.

    The main loop calls :meth:`tick` on every pass, with the output thread's block
    counter. Reaching ``tick`` proves the main loop lives; the counter having changed since
    the last ping proves the output thread does. A ping goes out at most every
    ``interval_s``; when either stops, the pings stop and systemd restarts the service
    after ``WatchdogSec=``. ``interval_s=None`` (no watchdog asked for) never pings.
    """

    def __init__(self, notifier: Notifier, interval_s: float | None) -> None:
        self.notifier = notifier
        self.interval_s = interval_s
        self._last_ping_s: float | None = None
        self._last_output_count: int | None = None
        self.pings = 0
        """Pings sent so far."""

    @classmethod
    def from_environment(cls, notifier: Notifier,
                         environ: Mapping[str, str] | None = None) -> Watchdog:
        """The watchdog systemd asked for in ``environ`` (default: ``os.environ``)."""
        return cls(notifier, watchdog_interval_s(environ))

    @property
    def enabled(self) -> bool:
        """Whether systemd watches this process."""
        return self.interval_s is not None and self.notifier.enabled

    def tick(self, now_s: float, output_count: int) -> bool:
        """Main loop, every pass: ping if due and the output thread moved; True if pinged.

        ``now_s`` is monotonic time; ``output_count`` is a counter the output thread
        increments on every pass of its loop.
        """
        if self.interval_s is None:
            return False
        if self._last_ping_s is not None and now_s - self._last_ping_s < self.interval_s:
            return False
        if output_count == self._last_output_count:
            return False
        self._last_ping_s = now_s
        self._last_output_count = output_count
        self.notifier.watchdog()
        self.pings += 1
        return True
