"""USB pedals and page turners, through Linux's input layer (python-evdev).

One pedal often shows up as two or three event devices (a keyboard, a consumer-control
device, a mouse): they are one :class:`Pedal`, one source for the gesture layer, and
every one is grabbed, so that what the pedal types reaches no console or other program.
A reader thread per pedal waits on its devices and hands each key to the pedal's
:class:`~stagebox.inputs.keymap.KeyTranslator`, which only stamps the time and posts.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from stagebox.events import InputGone
from stagebox.inputs.keymap import KeyTranslator

log = logging.getLogger(__name__)

EV_KEY = 1
"""Linux's event type of keys and buttons (``ecodes.EV_KEY``)."""
PEDAL_BUSES = ("usb", "bluetooth")
"""Where pedals are: the Pi's own input devices (HDMI-CEC remotes, GPIO keys) are not."""


class InputEventLike(Protocol):
    """What is read of an ``evdev.InputEvent``."""

    type: int
    code: int
    value: int


class EventDevice(Protocol):
    """What the pedal uses of an ``evdev.InputDevice`` (tests pass a double of it)."""

    @property
    def path(self) -> str: ...
    @property
    def fd(self) -> int: ...

    def capabilities(self) -> dict[int, list[int]]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def read(self) -> Iterator[InputEventLike]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class PedalNode:
    """One event device of a pedal, as udev knows it."""

    group: str
    """The USB (or Bluetooth) device it belongs to: all nodes of one group are one pedal."""
    description: str
    """What the performer is told: the maker and model."""
    node: str
    """``/dev/input/eventN``."""
    tagged: bool
    """udev's stagebox rule matched it (so the service may open it)."""


def evdev() -> ModuleType:
    """python-evdev, imported without its asyncio reader.

    Its devices take that reader when asyncio can be imported, and the plain one when it
    cannot: the box reads with ``select`` and never uses the first, and asyncio's import
    alone is 6 MB of the box's memory. Imported when needed (tens of milliseconds), never
    by this module.
    """
    # A module of None is one that cannot be imported.
    sys.modules.setdefault("evdev.eventio_async", None)  # type: ignore[arg-type]
    import evdev as module

    return module


def open_event_device(path: str) -> EventDevice:
    """The evdev device at ``path``; OSError when it cannot be opened."""
    return evdev().InputDevice(path)


def find_pedal_nodes() -> tuple[list[PedalNode], bool]:
    """The event devices of USB and Bluetooth input devices that udev has set up, and
    whether any is still being set up (ask again soon). Main loop."""
    # Imported at the first poll, after the box says it is ready.
    import pyudev

    nodes, settling = [], False
    for device in pyudev.Context().list_devices(subsystem="input"):
        if not device.sys_name.startswith("event") or device.device_node is None:
            continue
        if not device.is_initialized:
            settling = True
            continue
        properties = device.properties
        if properties.get("ID_BUS") not in PEDAL_BUSES:
            continue
        physical = device.find_parent("usb", "usb_device") or device.parent
        group = physical.sys_name if physical is not None else device.sys_name
        nodes.append(PedalNode(group, _description(device, properties), device.device_node,
                               "stagebox" in device.tags))
    return nodes, settling


def _description(device: Any, properties: Any) -> str:
    """``Vendor Model`` from udev's hardware database, else the device's own name."""
    vendor = properties.get("ID_VENDOR_FROM_DATABASE") or properties.get("ID_VENDOR", "")
    model = properties.get("ID_MODEL_FROM_DATABASE") or properties.get("ID_MODEL", "")
    name = " ".join(part.replace("_", " ") for part in (vendor, model) if part)
    if not name and device.parent is not None:
        with contextlib.suppress(KeyError, UnicodeDecodeError):
            name = device.parent.attributes.asstring("name")
    return name.strip() or "USB pedal"


def can_type(device: EventDevice, codes: Iterable[int]) -> bool:
    """Whether ``device`` has any key of ``codes``: what makes a USB device a pedal."""
    return not set(codes).isdisjoint(device.capabilities().get(EV_KEY, ()))


class Pedal:
    """One pedal's event devices, grabbed, read on a thread of its own.

    The main loop adds devices and closes the pedal; the reader thread posts edges
    (through ``keys``) and, when the last device has gone, an :class:`InputGone`.
    """

    def __init__(self, keys: KeyTranslator, description: str,
                 post: Callable[[object], None]) -> None:
        self.keys = keys
        self.source = keys.source
        self.description = description
        self._post = post
        self._lock = threading.Lock()
        self._devices: dict[int, EventDevice] = {}
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closing = False
        self.gone = False
        """Every device has gone (unplugged): the reader posted InputGone and stopped."""
        self._thread = threading.Thread(target=self._read_loop, name=f"stagebox-{self.source}",
                                        daemon=True)
        self._started = False

    @property
    def paths(self) -> set[str]:
        """The device nodes the pedal holds now."""
        with self._lock:
            return {device.path for device in self._devices.values()}

    def add(self, device: EventDevice) -> None:
        """Grab ``device`` and read it from now on (main loop); OSError if it cannot be
        grabbed (another program holds it), and then the caller still owns it."""
        device.grab()
        with self._lock:
            self._devices[device.fd] = device
        if not self._started:
            self._started = True
            self._thread.start()
        else:
            self._wake()

    def close(self) -> None:
        """Stop reading, let every device go (main loop). Safe to call twice."""
        with self._lock:
            self._closing = True
        self._wake()
        if self._started:
            self._thread.join(timeout=2.0)
        with self._lock:
            devices, self._devices = list(self._devices.values()), {}
        for device in devices:
            _release(device)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):  # closed by an earlier call
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _wake(self) -> None:
        # A full pipe has a wake-up waiting already; a closed one, no reader left.
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _read_loop(self) -> None:
        """The reader thread: wait on the devices and the wake pipe, read what is there."""
        while True:
            with self._lock:
                if self._closing:
                    return
                fds = list(self._devices)
            readable, _, _ = select.select([*fds, self._wake_r], [], [])
            if self._wake_r in readable:
                _drain(self._wake_r)
            gone = [fd for fd in readable if fd != self._wake_r and not self._read(fd)]
            if gone and self._drop(gone):
                return

    def _read(self, fd: int) -> bool:
        """Hand the device's waiting key events on; False when the device has gone."""
        with self._lock:
            device = self._devices.get(fd)
        if device is None:
            return True
        try:
            for event in device.read():
                if event.type == EV_KEY:
                    self.keys.key(event.code, event.value)
        except BlockingIOError:
            return True  # readable, yet nothing there after all
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                log.warning("%s: %s: %s", self.description, device.path, exc)
            return False
        return True

    def _drop(self, fds: Iterable[int]) -> bool:
        """Let the gone devices go; True (and InputGone posted) when none is left."""
        with self._lock:
            devices = [self._devices.pop(fd) for fd in fds if fd in self._devices]
            empty = not self._devices and not self._closing
            self.gone = self.gone or empty
        for device in devices:
            _release(device)
        if empty:
            self._post(InputGone(self.source, self.description))
        return empty


def _release(device: EventDevice) -> None:
    with contextlib.suppress(OSError):  # unplugged: the grab went with it
        device.ungrab()
    device.close()


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 64):
            continue
