"""USB MIDI through the ALSA sequencer (python-rtmidi).

The sequencer, not raw MIDI: its kernel driver turns the byte stream into whole
messages, undoing running status (which mido's byte parser drops: see the tests) and
lifting out real-time bytes sent in the middle of a message, so a footswitch's second
press in a row is never lost. Each MIDI input port is read by RtMidi's own thread, whose
callback only hands the message to the port's translator; each output port takes the
MIDI a cued song sends.

The daemon imports this module when it first looks for MIDI, after the box says it is
ready.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import rtmidi

from stagebox.hal.alsa import quiet_alsa_lib
from stagebox.inputs.midi import MidiTranslator, encode
from stagebox.media.model import MidiMessage

log = logging.getLogger(__name__)

CLIENT_NAME = "stagebox"
"""The box's own sequencer clients: never taken for a device's port."""
IGNORED_CLIENTS = ("Midi Through", CLIENT_NAME)
"""The kernel's loop-back port, and the box's own."""


class MidiError(OSError):
    """No sequencer, or a port that cannot be opened (gone, say)."""


class RtMidiPort(Protocol):
    """What is used of an ``rtmidi.MidiIn`` or ``rtmidi.MidiOut`` (tests pass doubles)."""

    def get_ports(self) -> list[str]: ...
    def open_port(self, port: int = 0, name: str | None = None) -> Any: ...
    def close_port(self) -> None: ...
    def delete(self) -> None: ...


class RtMidiIn(RtMidiPort, Protocol):
    """An ``rtmidi.MidiIn``."""

    def ignore_types(self, sysex: bool = True, timing: bool = True,
                     active_sense: bool = True) -> None: ...
    def set_callback(self, func: Callable[[Any, Any], None], data: Any = None) -> None: ...
    def cancel_callback(self) -> None: ...


class RtMidiOut(RtMidiPort, Protocol):
    """An ``rtmidi.MidiOut``."""

    def send_message(self, message: Sequence[int]) -> None: ...


class MidiBackend(Protocol):
    """Makes sequencer clients: :class:`RtMidiBackend` on the box, a double in tests."""

    def midi_in(self) -> RtMidiIn: ...
    def midi_out(self) -> RtMidiOut: ...


class RtMidiBackend:
    """python-rtmidi on ALSA's sequencer. Each call raises MidiError with no sequencer
    (no ``/dev/snd/seq``: the snd-seq module is not loaded)."""

    def midi_in(self) -> RtMidiIn:
        """A new input client (main loop)."""
        return self._make(lambda: rtmidi.MidiIn(rtmidi.API_LINUX_ALSA, name=CLIENT_NAME))

    def midi_out(self) -> RtMidiOut:
        """A new output client (main loop)."""
        return self._make(lambda: rtmidi.MidiOut(rtmidi.API_LINUX_ALSA, name=CLIENT_NAME))

    @staticmethod
    def _make(factory: Callable[[], Any]) -> Any:
        quiet_alsa_lib()  # a failed open of the sequencer would print to stderr each poll
        try:
            return factory()
        except rtmidi.RtMidiError as exc:
            raise MidiError(f"no ALSA sequencer: {exc}") from None


def device_ports(names: Sequence[str]) -> list[str]:
    """The ports that are devices': the loop-back port and the box's own left out."""
    return [name for name in names if not name.startswith(IGNORED_CLIENTS)]


def port_description(name: str) -> str:
    """``nanoKONTROL2:nanoKONTROL2 MIDI 1 20:0`` → ``nanoKONTROL2 MIDI 1``: the port's
    name without its client and its sequencer address."""
    client, _, port = name.partition(":")
    port = port.rsplit(" ", 1)[0] if port[-1:].isdigit() else port
    return port or client


def _open_named(midi: RtMidiPort, name: str, role: str) -> None:
    ports = midi.get_ports()
    if name not in ports:
        raise MidiError(f"{name}: gone")
    try:
        midi.open_port(ports.index(name), f"{CLIENT_NAME} {role}")
    except rtmidi.RtMidiError as exc:
        raise MidiError(f"{name}: {exc}") from None


def _close(midi: RtMidiPort) -> None:
    with contextlib.suppress(rtmidi.RtMidiError):  # an unplugged port is closed already
        midi.close_port()
    midi.delete()


class MidiInPort:
    """One MIDI input port, read on RtMidi's thread into its translator."""

    def __init__(self, name: str, translator: MidiTranslator, backend: MidiBackend) -> None:
        self.name = name
        self.source = translator.source
        self.description = port_description(name)
        self._translator = translator
        self._midi = backend.midi_in()
        try:
            # System messages (clock, active sensing, sysex) mean nothing to the box.
            self._midi.ignore_types(sysex=True, timing=True, active_sense=True)
            self._midi.set_callback(self._on_message)
            _open_named(self._midi, name, "in")
        except MidiError:
            self._midi.delete()
            raise

    def _on_message(self, event: Any, data: Any = None) -> None:
        """RtMidi's input thread: (message bytes, seconds since the last)."""
        message, _delta_s = event
        self._translator.message(message)

    def close(self) -> None:
        """Stop reading (main loop)."""
        with contextlib.suppress(rtmidi.RtMidiError):
            self._midi.cancel_callback()
        _close(self._midi)


class MidiOutPorts:
    """Every MIDI output port the box has open: where a cued song's MIDI goes."""

    def __init__(self) -> None:
        self._ports: dict[str, RtMidiOut] = {}

    @property
    def names(self) -> list[str]:
        """The ports open now."""
        return list(self._ports)

    def sync(self, names: Sequence[str], backend: MidiBackend) -> None:
        """Open the ports of ``names`` not open yet, close those no longer there (main loop)."""
        for name in [name for name in self._ports if name not in names]:
            _close(self._ports.pop(name))
        for name in names:
            if name in self._ports:
                continue
            try:
                midi = backend.midi_out()
            except MidiError as exc:
                log.warning("MIDI out: %s", exc)
                return
            try:
                _open_named(midi, name, "out")
            except MidiError as exc:
                log.warning("MIDI out: %s", exc)
                midi.delete()
                continue
            self._ports[name] = midi

    def send(self, messages: Sequence[MidiMessage], channel: int) -> int:
        """Send ``messages`` to every port (main loop); return how many took them."""
        reached = 0
        for name, midi in list(self._ports.items()):
            try:
                for message in messages:
                    midi.send_message(encode(message, channel))
            except rtmidi.RtMidiError as exc:  # the port went; the next poll lets it go
                log.warning("MIDI out to %s: %s", name, exc)
                continue
            reached += 1
        return reached

    def close(self) -> None:
        """Close every port (main loop)."""
        for midi in self._ports.values():
            _close(midi)
        self._ports.clear()
