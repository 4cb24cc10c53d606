"""Per-song options of a setlist line (``gain=-1.5dB then=stop``): every option defined here.

Each option has a parser that returns its typed value or raises ``ValueError`` with a message
short enough for the OLED, a formatter that writes the value back as text the parser takes,
and names the :class:`~stagebox.media.model.Song` field it sets. A new option is a new
:class:`SongOption` in :data:`SONG_OPTIONS` and a field on ``Song``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from stagebox.media.model import SPLITS, AfterSong, Meter, MidiMessage, Section, Song, Split
from stagebox.media.safepath import quote

GAIN_MIN_DB = -60.0
GAIN_MAX_DB = 12.0
KEY_MAX_SEMITONES = 12
SPEED_MIN = 0.5
SPEED_MAX = 1.5
SPEEDUP_MAX = 0.2
BPM_MIN = 20.0
BPM_MAX = 300.0
COUNT_IN_MAX_BARS = 8
METER_MAX_BEATS = 16
METER_UNITS = (1, 2, 4, 8, 16)
LOOP_MIN_S = 0.5
"""The shortest section a loop may be: shorter ones are a typo, not a passage."""
LOOP_MAX_S = 120.0
"""The longest: the decoder holds the section in memory (about 46 MB at 48 kHz)."""
SONG_MAX_S = 24 * 3600.0
CUE_MAX_CHARS = 1024
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_GAIN = re.compile(rf"^([+-]?(?:{_NUMBER}))(?:db)?$", re.IGNORECASE)
_KEY = re.compile(r"^[+-]?[0-9]{1,2}$")
_SPEED = re.compile(rf"^({_NUMBER})%?$")
_TIME = re.compile(rf"^(?:([0-9]{{1,3}}):(?=[0-5][0-9](?:$|\.)))?({_NUMBER})$")
_METER = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})$")
_AFTER_SONG: tuple[AfterSong, ...] = ("stop", "next")
_ON_OFF = {"on": True, "off": False}
_Choice = TypeVar("_Choice", bound=str)
MIDI_MAX_MESSAGES = 16
"""More than a rig needs at one song change, and a bound on what a stick can make the box send."""


@dataclass(frozen=True)
class SongOption:
    """One ``name=value`` option a setlist line may carry."""

    name: str
    field: str
    """The ``Song`` field the parsed value goes to."""
    parse: Callable[[str], Any]
    format: Callable[[Any], str]
    """The value as text that :attr:`parse` reads back to the same value."""
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
    return _one_of("then", text, _AFTER_SONG)


def parse_key(text: str) -> int:
    """``+2``, ``-3`` or ``0`` → semitones, -12..+12."""
    if _KEY.match(text) is None:
        raise ValueError(f"key {quote(text)} is not a number of semitones")
    semitones = int(text)
    if abs(semitones) > KEY_MAX_SEMITONES:
        raise ValueError(f"key {quote(text)} not in -12..+12")
    return semitones


def parse_speedup(text: str) -> float:
    """``5%`` or ``5`` → 0.05: how much faster each pass of a loop is; 0.5 % to 20 %."""
    match = _SPEED.match(text)
    if match is None:
        raise ValueError(f"speedup {quote(text)} is not a percentage")
    step = round(float(match.group(1)), 1) / 100.0
    if not 0.005 <= step <= SPEEDUP_MAX:
        raise ValueError(f"speedup {quote(text)} not in 0.5%..20%")
    return step


def parse_speed(text: str) -> float:
    """``80%`` or ``80`` → 0.8; 50 % to 150 %."""
    match = _SPEED.match(text)
    if match is None:
        raise ValueError(f"speed {quote(text)} is not a percentage")
    # To a tenth of a percent: finer is inaudible, and the value then reads back exactly.
    speed = round(float(match.group(1)), 1) / 100.0
    if not SPEED_MIN <= speed <= SPEED_MAX:
        raise ValueError(f"speed {quote(text)} not in 50%..150%")
    return speed


def parse_time_s(text: str) -> float:
    """``1:02``, ``1:02.5`` or ``62.5`` → seconds into the song."""
    match = _TIME.match(text)
    if match is None:
        raise ValueError(f"{quote(text)} is not a time (1:02 or 62)")
    minutes, seconds = match.groups()
    time_s = 60.0 * int(minutes or 0) + float(seconds)
    if time_s > SONG_MAX_S:
        raise ValueError(f"{quote(text)} is past any song's end")
    return time_s


def parse_section(text: str) -> Section:
    """``1:02-1:30`` or ``62-90`` → that section; at least half a second long."""
    start_text, dash, end_text = text.partition("-")
    if not dash:
        raise ValueError(f"loop {quote(text)} is not start-end (1:02-1:30)")
    start_s, end_s = parse_time_s(start_text), parse_time_s(end_text)
    if end_s - start_s < LOOP_MIN_S:
        raise ValueError(f"loop {quote(text)} ends before it starts")
    if end_s - start_s > LOOP_MAX_S:
        raise ValueError(f"loop {quote(text)} is over 2 minutes")
    return Section(start_s, end_s)


def parse_bpm(text: str) -> float:
    """``120`` or ``92.5`` → beats a minute, 20..300."""
    if re.fullmatch(_NUMBER, text) is None:
        raise ValueError(f"bpm {quote(text)} is not a number")
    bpm = float(text)
    if not BPM_MIN <= bpm <= BPM_MAX:
        raise ValueError(f"bpm {quote(text)} not in 20..300")
    return bpm


def parse_meter(text: str) -> Meter:
    """``4/4``, ``3/4``, ``6/8``, ``7/8`` → that meter."""
    match = _METER.match(text)
    if match is None:
        raise ValueError(f"meter {quote(text)} is not like 4/4")
    beats, unit = int(match.group(1)), int(match.group(2))
    if not 1 <= beats <= METER_MAX_BEATS or unit not in METER_UNITS:
        raise ValueError(f"meter {quote(text)} is not like 4/4")
    return Meter(beats, unit)


def parse_count_in(text: str) -> int:
    """``1`` → bars of count-in, 0..8."""
    if not text.isascii() or not text.isdigit() or int(text) > COUNT_IN_MAX_BARS:
        raise ValueError(f"count {quote(text)} not 0..8 bars")
    return int(text)


def parse_on_off(text: str) -> bool:
    """``on`` or ``off`` (any case)."""
    value = _ON_OFF.get(text.casefold())
    if value is None:
        raise ValueError(f"{quote(text)} is not on or off")
    return value


def parse_split(text: str) -> Split:
    """``click-left`` or ``click-right`` (any case): the side the click is on."""
    return _one_of("split", text, SPLITS)


def _one_of(option: str, text: str, choices: tuple[_Choice, ...]) -> _Choice:
    """The one of ``choices`` that ``text`` is, in any case; ValueError naming them."""
    for choice in choices:
        if text.casefold() == choice:
            return choice
    raise ValueError(f"{option} {quote(text)} is not {' or '.join(choices)}")


def parse_cue(text: str) -> Path:
    """``guides/verse.wav`` (quoted if it has spaces) → that path, as written: the scan
    finds the file on the stick."""
    if not text or len(text) > CUE_MAX_CHARS or not text.isprintable():
        raise ValueError(f"cue {quote(text)} is not a file name")
    return Path(text)


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


def _format_section(section: Section) -> str:
    return f"{section.start_s!r}-{section.end_s!r}"


SONG_OPTIONS: Mapping[str, SongOption] = MappingProxyType({option.name: option for option in (
    SongOption("gain", "gain_db", parse_gain_db, repr,
               "Gain in dB for this song, -60 to +12: gain=-1.5dB."),
    SongOption("then", "then", parse_then, str,
               "After this song: stop, or go on to the next (then=stop)."),
    SongOption("key", "key_semitones", parse_key, "{:+d}".format,
               "Transpose by semitones, -12 to +12, tempo kept: key=+2."),
    SongOption("speed", "speed", parse_speed, lambda speed: f"{100.0 * speed:.1f}%",
               "Tempo in percent, 50 to 150, pitch kept: speed=80%."),
    SongOption("loop", "loop", parse_section, _format_section,
               "Practise this section over and over: loop=1:02-1:30 (or seconds)."),
    SongOption("speedup", "speedup", parse_speedup, lambda step: f"{100.0 * step:.1f}%",
               "A speed trainer (with loop=, or an A-B loop set on the box): each pass of "
               "the loop this much faster, up to 100 %: speedup=5%."),
    SongOption("bpm", "bpm", parse_bpm, repr,
               "The song's tempo, 20 to 300 beats a minute, for count-in and click: bpm=120."),
    SongOption("meter", "meter", parse_meter, str,
               "Its time signature, for the accent on each bar's first beat: meter=3/4."),
    SongOption("count", "count_in_bars", parse_count_in, str,
               "Bars of click before the song starts, 0 to 8 (needs bpm=): count=1."),
    SongOption("click", "click", parse_on_off, lambda on: "on" if on else "off",
               "A click through the song (needs bpm=): click=on."),
    SongOption("midi", "midi", parse_midi, midi_text,
               "MIDI sent when this song is cued: midi=pc:5 or midi=pc:5,cc:7:100."),
    SongOption("cue", "cue", parse_cue, str,
               "A guide track on the stick, played with this song on the cue pair only: "
               "cue=guides/verse.wav."),
    SongOption("split", "split", parse_split, str,
               "A split track: its click on the left (or right) goes to the cue pair only, "
               "the other side to both main outputs: split=click-left."),
)})

BEAT_OPTIONS = ("count", "click", "meter")
"""The options that mean nothing without ``bpm=``."""

_DEFAULTS = {field.name: field.default for field in fields(Song)}


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


def option_texts(song: Song) -> dict[str, str]:
    """The options ``song`` was given (those not at their defaults), as texts by name:
    what :func:`parse_option` reads back to the same song (the scan child's way of
    sending them, so that the box checks them with the same parsers)."""
    texts = {}
    for name, option in SONG_OPTIONS.items():
        value = getattr(song, option.field)
        if value != _DEFAULTS[option.field]:
            texts[name] = option.format(value)
    return texts
