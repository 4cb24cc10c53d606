"""Test doubles at the libraries' level: an evdev event device on a pipe (so the pedal's
reader thread really waits on a file descriptor) and ALSA sequencer clients in the shape
of python-rtmidi's, for machines whose kernel has neither uinput nor a sequencer."""

from __future__ import annotations

import contextlib
import errno
import os
import queue
from collections.abc import Callable, Iterator
from typing import Any

from evdev import InputEvent, ecodes


class FakeEventDevice:
    """An ``evdev.InputDevice``: events are queued by the test, a byte on a pipe wakes
    the reader; ``unplug()`` makes the next read fail as the kernel's does (ENODEV)."""

    def __init__(self, path: str, keys: list[int], *, grab_error: int | None = None) -> None:
        self.path = path
        self._keys = keys
        self._r, self._w = os.pipe2(os.O_NONBLOCK)
        self._events: queue.SimpleQueue[InputEvent] = queue.SimpleQueue()
        self._unplugged = False
        self._grab_error = grab_error
        self.grabbed = False
        self.closed = False

    @property
    def fd(self) -> int:
        return self._r

    def capabilities(self) -> dict[int, list[int]]:
        return {ecodes.EV_SYN: [0], ecodes.EV_KEY: list(self._keys)}

    def grab(self) -> None:
        if self._grab_error is not None:
            raise OSError(self._grab_error, os.strerror(self._grab_error))
        self.grabbed = True

    def ungrab(self) -> None:
        if self._unplugged:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        self.grabbed = False

    def type(self, code: int, *values: int) -> None:
        """The pedal sends ``code`` with each value (1 down, 0 up, 2 repeat) and a SYN."""
        for value in values:
            self._events.put(InputEvent(0, 0, ecodes.EV_KEY, code, value))
            self._events.put(InputEvent(0, 0, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
        os.write(self._w, b"x")

    def unplug(self) -> None:
        self._unplugged = True
        os.write(self._w, b"x")

    def read(self) -> Iterator[InputEvent]:
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)
        if self._unplugged:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        if self._events.empty():
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        events = []
        while not self._events.empty():
            events.append(self._events.get())
        return iter(events)

    def close(self) -> None:
        if not self.closed:
            os.close(self._r)
            os.close(self._w)
        self.closed = True


class FakeSequencer:
    """The ALSA sequencer's ports, shared by the clients it makes."""

    def __init__(self, inputs: list[str] | None = None,
                 outputs: list[str] | None = None) -> None:
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.received: dict[str, list[list[int]]] = {}
        self.clients: list[Any] = []
        self.present = True
        self.failing_outputs: set[str] = set()

    def midi_in(self) -> FakeMidiIn:
        self._check()
        client = FakeMidiIn(self)
        self.clients.append(client)
        return client

    def midi_out(self) -> FakeMidiOut:
        self._check()
        client = FakeMidiOut(self)
        self.clients.append(client)
        return client

    def _check(self) -> None:
        from stagebox.hal.midi import MidiError

        if not self.present:
            raise MidiError("no ALSA sequencer: MidiInAlsa::initialize: error creating ALSA "
                            "sequencer client object.")

    def send(self, port: str, message: list[int]) -> None:
        """The device on ``port`` sends ``message``: every client reading it gets it."""
        for client in self.clients:
            if isinstance(client, FakeMidiIn) and client.port == port and client.callback:
                client.callback((message, 0.0), None)

    def live(self) -> list[Any]:
        return [client for client in self.clients if not client.deleted]


class _FakeClient:
    def __init__(self, sequencer: FakeSequencer, ports: Callable[[], list[str]]) -> None:
        self._sequencer = sequencer
        self.get_ports = ports
        self.port: str | None = None
        self.deleted = False

    def open_port(self, port: int = 0, name: str | None = None) -> None:
        import rtmidi

        ports = self.get_ports()
        if not 0 <= port < len(ports):
            raise rtmidi.InvalidPortError(f"invalid port number {port}")
        self.port = ports[port]

    def close_port(self) -> None:
        self.port = None

    def delete(self) -> None:
        self.deleted = True


class FakeMidiIn(_FakeClient):
    """An ``rtmidi.MidiIn``."""

    def __init__(self, sequencer: FakeSequencer) -> None:
        super().__init__(sequencer, lambda: list(sequencer.inputs))
        self.callback: Callable[[Any, Any], None] | None = None
        self.ignored: tuple[bool, bool, bool] | None = None

    def ignore_types(self, sysex: bool = True, timing: bool = True,
                     active_sense: bool = True) -> None:
        self.ignored = (sysex, timing, active_sense)

    def set_callback(self, func: Callable[[Any, Any], None], data: Any = None) -> None:
        self.callback = func

    def cancel_callback(self) -> None:
        self.callback = None


class FakeMidiOut(_FakeClient):
    """An ``rtmidi.MidiOut``."""

    def __init__(self, sequencer: FakeSequencer) -> None:
        super().__init__(sequencer, lambda: list(sequencer.outputs))

    def send_message(self, message: list[int]) -> None:
        import rtmidi

        assert self.port is not None, "sent on a client with no port open"
        if self.port in self._sequencer.failing_outputs:
            raise rtmidi.SystemError("MidiOutAlsa::sendMessage: error sending MIDI message")
        self._sequencer.received.setdefault(self.port, []).append(list(message))
