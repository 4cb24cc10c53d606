"""Per-song options of a setlist line (``gain=-1.5dB then=stop``): every option defined here.

Each option has a parser that returns its typed value or raises ``ValueError`` with a message
short enough for the OLED, and names the :class:`~stagebox.media.model.Song` field it sets.
A new option is a new :class:`SongOption` in :data:`SONG_OPTIONS` and a field on ``Song``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stagebox.media.model import AfterSong, MidiMessage
from stagebox.media.safepath import quote

GAIN_MIN_DB = -60.0
GAIN_MAX_DB = 12.0
_GAIN = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:db)?$", re.IGNORECASE)
_AFTER_SONG: tuple[AfterSong, ...] = ("stop", "next")
MIDI_MAX_MESSAGES = 16
"""More than a rig needs at one song change, and a bound on what a stick can make the box send."""


@dataclass(frozen=True)
class SongOption:
    """One ``name=value`` option a setlist line may carry."""

    name: str
    field: str
    """The ``Song`` field the parsed value goes to."""
    parse: Callable[[str], object]
    doc: str


def parse_gain_db(text: str) -> float:
    """``-1.5dB``, ``-1.5db`` or ``-1.5`` → -1.5; within -60..+12 dB."""
    match = _GAIN.match(text)
    if match is None:
        raise ValueError(f"gain {quote(text)} is not a number of dB")
    gain_db = float(match.group(1))
    if not GAIN_MIN_DB <= gain_db <= GAIN_MAX_DB:
        raise ValueError(f"gain {quote(text)} not in {GAIN_MIN_DB:g}..+{GAIN_MAX_DB:g} dB")
    return gain_db


def parse_then(text: str) -> AfterSong:
    """``stop`` or ``next`` (any case): what happens when the song ends."""
    for choice in _AFTER_SONG:
        if text.casefold() == choice:
            return choice
    raise ValueError(f"then {quote(text)} is not stop or next")


def parse_midi(text: str) -> tuple[MidiMessage, ...]:
    """``pc:5`` or ``pc:5,cc:7:100``: program changes (raw 0-127) and control changes
    (``cc:CONTROLLER:VALUE``), sent in this order when the song is cued."""
    messages = []
    items = text.split(",")
    if len(items) > MIDI_MAX_MESSAGES:
        raise ValueError(f"midi: at most {MIDI_MAX_MESSAGES} messages")
    for item in items:
        kind, *numbers = item.strip().casefold().split(":")
        wanted = {"pc": 1, "cc": 2}.get(kind)
        if wanted is None or len(numbers) != wanted:
            raise ValueError(f"midi {quote(item)}: write pc:N or cc:CONTROLLER:VALUE")
        values = [_midi_number(number, item) for number in numbers]
        messages.append(MidiMessage("pc", values[0]) if kind == "pc"
                        else MidiMessage("cc", values[0], values[1]))
    return tuple(messages)


def midi_text(messages: tuple[MidiMessage, ...]) -> str:
    """The option's text for ``messages``: what :func:`parse_midi` reads back."""
    return ",".join(f"pc:{m.number}" if m.kind == "pc" else f"cc:{m.number}:{m.value}"
                    for m in messages)


def _midi_number(text: str, item: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > 127:
        raise ValueError(f"midi {quote(item)}: {quote(text)} is not 0-127")
    return int(text)


SONG_OPTIONS: Mapping[str, SongOption] = MappingProxyType({option.name: option for option in (
    SongOption("gain", "gain_db", parse_gain_db,
               "Gain in dB for this song, -60 to +12: gain=-1.5dB."),
    SongOption("then", "then", parse_then,
               "After this song: stop, or go on to the next (then=stop)."),
    SongOption("midi", "midi", parse_midi,
               "MIDI sent when this song is cued: midi=pc:5 or midi=pc:5,cc:7:100."),
)})


def parse_option(name: str, value: str) -> object:
    """The typed value of option ``name`` (any case); ValueError for an unknown name or value."""
    option = SONG_OPTIONS.get(name.casefold())
    if option is None:
        guess = difflib.get_close_matches(name.casefold(), list(SONG_OPTIONS), n=1)
        hint = f" ({guess[0]}?)" if guess else ""
        raise ValueError(f"unknown option {quote(name)}{hint}")
    return option.parse(value)


def song_fields(options: Mapping[str, object]) -> dict[str, object]:
    """Parsed options by option name → keyword arguments for ``Song``."""
    return {SONG_OPTIONS[name].field: value for name, value in options.items()}
