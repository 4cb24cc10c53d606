"""The simulator's pedal and MIDI interface: the real translators, fed by the script.

The script's ``hid`` and ``midi`` steps go through the same keymap and MIDI map as a
real pedal's key events and a real port's messages, in the simulator's loop, so a
scripted show is timed on the virtual clock like the panel's buttons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stagebox.inputs.keymap import KEY_DOWN, KEY_UP, KeyTranslator
from stagebox.inputs.midi import (
    CONTROL_CHANGE,
    NOTE_OFF,
    NOTE_ON,
    PROGRAM_CHANGE,
    MidiTranslator,
    encode,
)
from stagebox.media.model import MidiMessage

SIM_PEDAL_SOURCE = "hid:sim-pedal"
SIM_MIDI_SOURCE = "midi:sim"
_STATUS = {"pc": PROGRAM_CHANGE, "cc": CONTROL_CHANGE, "note_on": NOTE_ON,
           "note_off": NOTE_OFF}


class SimPedal:
    """A pedal whose keys the script presses by name."""

    def __init__(self, keys: KeyTranslator, code_of: Callable[[str], int]) -> None:
        self._keys = keys
        self._code_of = code_of

    def key(self, name: str, pressed: bool) -> None:
        """The key ``name`` (``KEY_PAGEDOWN``) goes down or up."""
        self._keys.key(self._code_of(name), KEY_DOWN if pressed else KEY_UP)


class SimMidiIn:
    """A MIDI controller that sends what the script says, on ``channel`` (1-16)."""

    def __init__(self, midi: MidiTranslator, channel: int) -> None:
        self._midi = midi
        self._channel = channel

    def send(self, text: str) -> None:
        """``pc 3``, ``cc 81 127``, ``note_on 60 100`` or ``note_off 60 0``."""
        kind, *values = text.split()
        self._midi.message([_STATUS[kind] | (self._channel - 1), *map(int, values)])


class SimMidiOut:
    """A MIDI interface always plugged in: keeps the bytes the box sent."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def send(self, messages: Sequence[MidiMessage], channel: int) -> int:
        """Take ``messages`` (main loop); one port had them."""
        self.sent += [encode(message, channel) for message in messages]
        return 1
