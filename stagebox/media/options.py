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

from stagebox.media.model import AfterSong
from stagebox.media.safepath import quote

GAIN_MIN_DB = -60.0
GAIN_MAX_DB = 12.0
_GAIN = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:db)?$", re.IGNORECASE)
_AFTER_SONG: tuple[AfterSong, ...] = ("stop", "next")


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


SONG_OPTIONS: Mapping[str, SongOption] = MappingProxyType({option.name: option for option in (
    SongOption("gain", "gain_db", parse_gain_db,
               "Gain in dB for this song, -60 to +12: gain=-1.5dB."),
    SongOption("then", "then", parse_then,
               "After this song: stop, or go on to the next (then=stop)."),
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
