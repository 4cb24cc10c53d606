"""MIDI to and from the box's actions: the map from the config, the messages read, and
the messages a cued song sends.

``midi.map`` says what each message does, items separated by spaces::

    pc=cue cc:80=prev cc:81=play cc:82=next cc:83=menu note:60=play pc:127=next

- ``cc:N=BUTTON``: controller N is a footswitch: a value at or above ``midi.cc_threshold``
  presses BUTTON, one below releases it (set the switch to momentary).
- ``note:N=BUTTON``: note N on presses BUTTON, its note off (or velocity 0) releases it.
- ``pc:N=BUTTON``: program change N taps BUTTON (a press and a release at once).
- ``pc=cue``: any other program change with raw value N (0-127) cues song N + 1 (most
  controllers show that number); ``cc:N=cue`` does the same with controller N's value.
  A cue never plays: PLAY still starts the song.

Messages arrive whole: the ALSA sequencer has already undone running status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from stagebox.events import BUTTONS, ButtonEdge, ButtonName, CueSong
from stagebox.media.model import MidiMessage

CUE = "cue"
Target = ButtonName | Literal["cue"]
DEFAULT_MAP = "pc=cue cc:80=prev cc:81=play cc:82=next cc:83=menu"
"""Program changes cue songs; controllers 80-83 (the MIDI standard's general-purpose
on/off switches) are the four buttons."""
_ITEM = re.compile(r"^(cc|note|pc)(?::([0-9]{1,3}))?=([a-z]+)$")
NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PROGRAM_CHANGE = 0x80, 0x90, 0xB0, 0xC0


@dataclass(frozen=True)
class MidiMap:
    """What each MIDI message does; built by :func:`parse_midi_map`."""

    cc: dict[int, Target] = field(default_factory=dict)
    note: dict[int, ButtonName] = field(default_factory=dict)
    pc: dict[int, ButtonName] = field(default_factory=dict)
    any_pc: Target | None = None
    """What a program change not named in ``pc`` does."""


def parse_midi_map(text: str) -> MidiMap:
    """The ``midi.map`` text as a :class:`MidiMap`; ValueError saying what is wrong."""
    cc: dict[int, Target] = {}
    buttons: dict[str, dict[int, ButtonName]] = {"note": {}, "pc": {}}
    any_pc: Target | None = None
    for item in text.split():
        match = _ITEM.match(item.lower())
        if match is None:
            raise ValueError(f"{item!r}: write cc:N=BUTTON, note:N=BUTTON, pc:N=BUTTON "
                             "or pc=cue")
        kind, number_text, target = match.groups()
        if target != CUE and target not in BUTTONS:
            raise ValueError(f"{item!r}: {target!r} is not one of {', '.join(BUTTONS)}, cue")
        if number_text is None:
            if kind != "pc":
                raise ValueError(f"{item!r}: which {kind}? write {kind}:N=...")
            any_pc = target  # type: ignore[assignment]
            continue
        number = int(number_text)
        if number > 127:
            raise ValueError(f"{item!r}: {number} is not 0-127")
        if kind == "cc":
            cc[number] = target  # type: ignore[assignment]
        elif target == CUE:
            raise ValueError(f"{item!r}: only pc=cue and cc:N=cue cue songs")
        else:
            buttons[kind][number] = target  # type: ignore[assignment]
    return MidiMap(cc, buttons["note"], buttons["pc"], any_pc)


class MidiTranslator:
    """One MIDI port's messages to button edges and cues tagged with its source.

    Called on the MIDI library's input thread (or the simulator's loop): it stamps the
    time and posts, nothing more.
    """

    def __init__(self, midi_map: MidiMap, source: str, post: Callable[[object], None],
                 now: Callable[[], float], *, in_channel: int = 0,
                 cc_threshold: int = 64) -> None:
        self._map = midi_map
        self.source = source
        self._post = post
        self._now = now
        self._in_channel = in_channel
        self._threshold = cc_threshold

    def message(self, data: Sequence[int]) -> None:
        """One whole message, as bytes: status first."""
        if len(data) < 2 or not 0x80 <= data[0] < 0xF0:
            return  # system messages (clock, sysex, active sensing) mean nothing here
        status, channel = data[0] & 0xF0, (data[0] & 0x0F) + 1
        if self._in_channel and channel != self._in_channel:
            return
        if status == PROGRAM_CHANGE:
            self._program(data[1])
        elif len(data) < 3:
            return
        elif status == CONTROL_CHANGE:
            self._control(data[1], data[2])
        elif status in (NOTE_ON, NOTE_OFF):
            button = self._map.note.get(data[1])
            if button is not None:
                self._edge(button, status == NOTE_ON and data[2] > 0)

    def _program(self, program: int) -> None:
        target = self._map.pc.get(program, self._map.any_pc)
        if target == "cue":
            self._post(CueSong(program + 1, self.source))
        elif target is not None:
            self._edge(target, True)
            self._edge(target, False)

    def _control(self, controller: int, value: int) -> None:
        target = self._map.cc.get(controller)
        if target == "cue":
            self._post(CueSong(value + 1, self.source))
        elif target is not None:
            self._edge(target, value >= self._threshold)

    def _edge(self, button: ButtonName, pressed: bool) -> None:
        self._post(ButtonEdge(button, pressed, self._now(), self.source))


def encode(message: MidiMessage, channel: int) -> list[int]:
    """The bytes of ``message`` on ``channel`` (1-16)."""
    if message.kind == "pc":
        return [PROGRAM_CHANGE | (channel - 1), message.number]
    return [CONTROL_CHANGE | (channel - 1), message.number, message.value]


def midi_record(message: MidiMessage, channel: int) -> dict[str, Any]:
    """The fields of a ``midi_out`` event: kind, channel, and program or control and value."""
    if message.kind == "pc":
        return {"kind": "pc", "channel": channel, "program": message.number}
    return {"kind": "cc", "channel": channel, "control": message.number, "value": message.value}


class MidiSender(Protocol):
    """Where the box's MIDI goes: every MIDI output it has open."""

    def send(self, messages: Sequence[MidiMessage], channel: int) -> int:
        """Send ``messages`` in order on ``channel`` (1-16), never blocking; return how
        many ports they went to (main loop)."""
        ...
