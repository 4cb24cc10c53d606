"""The values a stick scan produces; the player and the screens read these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

AfterSong = Literal["stop", "next"]
MidiKind = Literal["pc", "cc"]
Split = Literal["click-left", "click-right"]
SPLITS: tuple[Split, ...] = ("click-left", "click-right")
"""How a split track's two channels divide: the click (or guide) on the named side, the
music on the other."""


@dataclass(frozen=True)
class MidiMessage:
    """A message the box sends to the rest of the rig when a song is cued.

    ``pc``: a program change to raw program ``number`` (0-127; most gear shows it as
    number + 1). ``cc``: control change, controller ``number`` to ``value`` (0-127).
    """

    kind: MidiKind
    number: int
    value: int = 0


@dataclass(frozen=True)
class Section:
    """A stretch of a song, in seconds of song time (``loop=1:02-1:30``)."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class Meter:
    """A time signature (``meter=6/8``): beats to the bar, and the note that is a beat."""

    beats: int = 4
    unit: int = 4

    def __str__(self) -> str:
        return f"{self.beats}/{self.unit}"


@dataclass(frozen=True)
class Song:
    """One entry of a setlist, resolved to a file inside the stick."""

    path: Path
    """Absolute path of the audio file, checked to lie inside the stick."""
    rel_path: str
    """The path relative to the stick's root, as the user would recognise it."""
    title: str
    """From the tags where present, else the file name without its extension."""
    gain_db: float = 0.0
    """Per-song gain from the setlist (``gain=-1.5dB``)."""
    then: AfterSong | None = None
    """What happens when the song ends; ``None`` means the configured default."""
    key_semitones: int = 0
    """Transposed by this many semitones, -12 to +12 (``key=+2``)."""
    speed: float = 1.0
    """Played at this fraction of its tempo, pitch kept, 0.5 to 1.5 (``speed=80%``)."""
    loop: Section | None = None
    """The section practised over and over (``loop=1:02-1:30``)."""
    speedup: float = 0.0
    """Each pass of the loop this much faster than the last (0.05: 5 points), up to 100 %
    (``speedup=5%``); 0: none."""
    bpm: float | None = None
    """The song's tempo in beats a minute (``bpm=120``), for the count-in and click."""
    meter: Meter = Meter()
    """Its time signature (``meter=3/4``); the first beat of each bar is accented."""
    count_in_bars: int = 0
    """Bars of click before the song starts (``count=1``); needs ``bpm=``."""
    click: bool = False
    """A click through the song (``click=on``); needs ``bpm=``."""
    first_beat_s: float = 0.0
    """Song time of a bar's first beat, for the click: 0 unless a tempo was tapped on the
    box (no setlist option sets it)."""
    midi: tuple[MidiMessage, ...] = ()
    """Sent on the configured MIDI channel, in order, when the song is cued (``midi=pc:5``)."""
    split: Split | None = None
    """A split track (``split=click-left``): the click or guide on that side goes to the
    cue bus, the music on the other to both sides of the main bus."""
    cue: Path | None = None
    """A guide track (``cue=guides/verse.wav``), played with the song on the cue bus only:
    as written in the setlist until the scan resolves it, then a file inside the stick."""


@dataclass(frozen=True)
class Setlist:
    """An ordered list of songs and what was wrong while reading it."""

    name: str
    """How the menu names it: ``setlist.txt``, ``setlists/a.txt``, ``gig.m3u``, ``All songs``."""
    songs: tuple[Song, ...]
    warnings: tuple[str, ...] = ()
    """One short, human message per problem (a missing file, a bad option, ...)."""


@dataclass(frozen=True)
class Library:
    """Everything a scan found on a stick."""

    root: Path
    setlists: tuple[Setlist, ...]
    """The default setlist first, then the others a user may choose in the menu."""
    warnings: tuple[str, ...] = ()
    label: str = ""
    """A name for the stick (volume label, else the mount folder's name)."""

    @property
    def default(self) -> Setlist:
        """The setlist the box cues when the stick is inserted."""
        return self.setlists[0]
