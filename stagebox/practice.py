"""Practice from the buttons: what the performer changes on the box for one song.

Pure values and rules. In practice mode, while a song plays, PLAY picks one of
:data:`FIELDS` and PREV/NEXT change it; the player turns the outcome into a new decoding
of the song from where it is (:class:`Change`), which the engine crossfades into. The
changes are kept per song per stick (:class:`PracticeBook`) and override the setlist's
options, in practice mode only: a show always plays the setlist as written.

On the click field NEXT also taps the tempo (:class:`Taps`): :data:`MIN_TAPS` taps on
the beat, evenly spaced, set the song's tempo and the click's phase (the first tap is a
bar's first beat) and turn the click on, so a song with no ``bpm=`` can have a click too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from stagebox.media.model import Section, Song

Field = Literal["key", "speed", "loop", "click"]
FIELDS: tuple[Field, ...] = ("key", "speed", "loop", "click")
KEY_RANGE = (-12, 12)
SPEED_RANGE = (0.5, 1.5)
SPEED_STEP = 0.05
MIN_LOOP_S = 0.5
"""The shortest A-B section the buttons set: a shorter one is a slip of the finger."""
MAX_SONGS_PER_STICK = 1000
MAX_PATH_CHARS = 1024
MAX_TIME_S = 24 * 3600.0
MIN_TAPS = 4
"""Taps before a tempo is taken: fewer could be a few presses that only happen to be
evenly spaced."""
MAX_TAPS = 8
"""The taps a tempo is fitted to: the latest, so a drifting tapper is followed."""
MAX_TAP_GAP_S = 2.0
"""Song time from one tap to the next beyond which a new tempo is being tapped (30 bpm)."""
TAP_SPREAD = 0.15
"""How far a tap's interval may stray from the run's median before it starts a new run."""
BPM_RANGE = (20.0, 300.0)
BPM_STEP = 0.5
"""A tapped tempo is rounded to this: backing tracks are made on such grids."""


@dataclass(frozen=True)
class Adjustments:
    """One song's settings made on the box; None leaves the setlist's option as it is."""

    key_semitones: int | None = None
    speed: float | None = None
    loop_a_s: float | None = None
    """Point A, once set (B may still be to come)."""
    loop_b_s: float | None = None
    looping: bool | None = None
    """Whether the section plays over and over; None follows the setlist's ``loop=``."""
    click: bool | None = None
    bpm: float | None = None
    """A tempo tapped on the box (over the setlist's ``bpm=``)."""
    first_beat_s: float | None = None
    """Song time of a bar's first beat, with a tapped tempo."""

    @property
    def neutral(self) -> bool:
        """Nothing changed: the setlist's options hold."""
        return self == Adjustments()

    def section(self, song: Song) -> Section | None:
        """The A-B section: the box's points once both are set, else the setlist's."""
        if self.loop_a_s is not None and self.loop_b_s is not None:
            return Section(self.loop_a_s, self.loop_b_s)
        return song.loop if self.loop_a_s is None else None

    def applied_to(self, song: Song) -> Song:
        """``song`` with these settings over its setlist options."""
        section = self.section(song)
        looping = self.looping if self.looping is not None else song.loop is not None
        return replace(
            song,
            key_semitones=song.key_semitones if self.key_semitones is None
            else self.key_semitones,
            speed=song.speed if self.speed is None else self.speed,
            loop=section if looping else None,
            click=song.click if self.click is None else self.click,
            bpm=song.bpm if self.bpm is None else self.bpm,
            first_beat_s=(song.first_beat_s if self.bpm is None or self.first_beat_s is None
                          else self.first_beat_s))


@dataclass(frozen=True)
class Change:
    """Decode the song anew with its new settings: from ``start_s``, following on from
    where it plays (``follow``) or jumping there (to A, when a loop is set)."""

    start_s: float
    follow: bool


@dataclass(frozen=True)
class Outcome:
    """What a press on a field did: the new settings, the decoding to start (None: no
    sound changes) and a word for the performer (None: the screen says it)."""

    adjustments: Adjustments
    change: Change | None = None
    hint: str | None = None
    taps: Taps | None = None
    """The tempo's taps so far, after a NEXT on the click field (None: no tapping)."""


def press(adjustments: Adjustments, song: Song, field: Field, up: bool,
          position_s: float, taps: Taps | None = None, tap: Tap | None = None) -> Outcome:
    """PREV (``up`` False) or NEXT on ``field`` while ``song`` (as the setlist has it) plays
    at ``position_s`` seconds of song time. A NEXT on the click field is ``tap`` of the
    tempo (one untimed counts alone), ``taps`` those before it."""
    if field == "click" and up:
        return _tap(adjustments, taps or Taps(), song, position_s,
                    tap or Tap(math.nan, position_s))
    effective = adjustments.applied_to(song)
    follow = Change(position_s, follow=True)
    if field == "key":
        key = int(_clamp(effective.key_semitones + (1 if up else -1), *KEY_RANGE))
        if key == effective.key_semitones:
            return Outcome(adjustments, hint=f"Key {key:+d} is the limit")
        return Outcome(replace(adjustments, key_semitones=key), follow)
    if field == "speed":
        speed = round(_clamp(effective.speed + (SPEED_STEP if up else -SPEED_STEP),
                             *SPEED_RANGE), 2)
        if speed == effective.speed:
            return Outcome(adjustments, hint=f"Speed {speed:.0%} is the limit")
        return Outcome(replace(adjustments, speed=speed), follow)
    if field == "click":
        if not effective.click:
            return Outcome(adjustments)
        return Outcome(replace(adjustments, click=False), follow)
    return _press_loop(adjustments, song, up, position_s)


@dataclass(frozen=True)
class Tap:
    """NEXT going down on the click field: when, on the box's clock, and the song time the
    performer heard then (the engine's place less what the device still held)."""

    clock_s: float
    song_s: float


@dataclass(frozen=True)
class Taps:
    """The taps of a tempo being tapped, latest last, all evenly spaced (within
    :data:`TAP_SPREAD`). Their spacing is timed by the clock (the buttons' edges are
    timed to the millisecond); the beat's place by the song times heard."""

    taps: tuple[Tap, ...] = ()

    def tapped(self, tap: Tap) -> Taps:
        """These taps and ``tap``; one too long after the last, one whose song time is
        behind it (the song went round a loop), or one out of step with the run starts a
        new run."""
        taps = self.taps
        if taps and not (0.0 < tap.clock_s - taps[-1].clock_s <= MAX_TAP_GAP_S
                         and tap.song_s > taps[-1].song_s):
            return Taps((tap,))
        if len(taps) >= 3:
            usual = float(np.median(np.diff([earlier.clock_s for earlier in taps])))
            if abs(tap.clock_s - taps[-1].clock_s - usual) > TAP_SPREAD * usual:
                return Taps((taps[-1], tap))
        return Taps((*taps, tap)[-MAX_TAPS:])

    def tempo(self, speed: float, beats_per_bar: int) -> tuple[float, float] | None:
        """(bpm, song time of a bar's first beat) once there are :data:`MIN_TAPS` taps, of
        a song playing at ``speed``: fitted to them all, the first a bar's first beat;
        else None."""
        if len(self.taps) < MIN_TAPS:
            return None
        beats = np.arange(len(self.taps))
        clock_beat_s = float(np.polyfit(beats, [tap.clock_s for tap in self.taps], 1)[0])
        bpm = _clamp(round(60.0 / (clock_beat_s * speed) / BPM_STEP) * BPM_STEP, *BPM_RANGE)
        # The grid at the rounded tempo that best fits the taps: beat 0 at the first.
        beat_s = 60.0 / bpm
        first_s = float(np.mean(np.array([tap.song_s for tap in self.taps]) - beats * beat_s))
        return bpm, round(first_s % (beat_s * beats_per_bar), 4)


def _tap(adjustments: Adjustments, taps: Taps, song: Song, position_s: float,
         tap: Tap) -> Outcome:
    """NEXT on the click field while the song is at ``position_s``: the click on (if the
    song has a tempo), and a tap of the tempo; once the taps give one, it is the song's."""
    taps = taps.tapped(tap)
    effective = adjustments.applied_to(song)
    tempo = taps.tempo(effective.speed, song.meter.beats)
    if tempo is not None:
        bpm, first_beat_s = tempo
        tapped = replace(adjustments, bpm=bpm, first_beat_s=first_beat_s, click=True)
        change = Change(position_s, follow=True) if tapped != adjustments else None
        return Outcome(tapped, change, f"Tempo {bpm:g} bpm", taps)
    if effective.bpm is None:
        more = MIN_TAPS - len(taps.taps)
        return Outcome(adjustments, hint=f"Tap the beat: {more} more", taps=taps)
    if effective.click:
        return Outcome(adjustments, taps=taps)
    return Outcome(replace(adjustments, click=True), Change(position_s, follow=True),
                   taps=taps)


def _press_loop(adjustments: Adjustments, song: Song, up: bool,
                position_s: float) -> Outcome:
    """NEXT: set A, then B (the loop starts from A), then let the loop go and take it up
    again; PREV: forget the points (and let go of the loop)."""
    effective = adjustments.applied_to(song)
    looping = effective.loop is not None
    if not up:
        cleared = replace(adjustments, loop_a_s=None, loop_b_s=None, looping=False)
        if cleared == adjustments:
            return Outcome(adjustments)
        return Outcome(cleared, Change(position_s, follow=True) if looping else None,
                       "Loop cleared")
    section = adjustments.section(song)
    if section is None and adjustments.loop_a_s is None:
        return Outcome(replace(adjustments, loop_a_s=round(position_s, 3), loop_b_s=None,
                               looping=False))
    if section is None:
        a_s = adjustments.loop_a_s
        assert a_s is not None
        if position_s - a_s < MIN_LOOP_S:
            return Outcome(adjustments, hint="Set B later than A")
        section = Section(a_s, round(position_s, 3))
        return Outcome(replace(adjustments, loop_b_s=section.end_s, looping=True),
                       Change(section.start_s, follow=False))
    if looping:
        return Outcome(replace(adjustments, looping=False), Change(position_s, follow=True),
                       "Loop let go")
    inside = section.start_s <= position_s < section.end_s
    return Outcome(replace(adjustments, looping=True),
                   Change(position_s, follow=True) if inside
                   else Change(section.start_s, follow=False))


def field_texts(song: Song, adjustments: Adjustments, *, practising: bool,
                speed: float | None = None) -> dict[Field, str]:
    """The song screen's words for each field, e.g. ``+2``, ``80%``, ``A-B``, ``clk``.

    In show mode only what is not neutral shows; in practice mode every field does, so
    the one being changed can be seen. ``speed``: the speed it plays at now, if not the
    one the settings give (a speed trainer, ``speedup=``, moves it).
    """
    effective = adjustments.applied_to(song) if practising else song
    if speed is not None:
        effective = replace(effective, speed=speed)
    texts: dict[Field, str] = {}
    if practising or effective.key_semitones:
        texts["key"] = f"{effective.key_semitones:+d}" if effective.key_semitones else "±0"
    if practising or effective.speed != 1.0:
        texts["speed"] = f"{round(effective.speed * 100)}%"
    section = adjustments.section(song) if practising else song.loop
    if effective.loop is not None:
        texts["loop"] = "A-B"
    elif practising and section is not None:
        texts["loop"] = "a-b"
    elif practising:
        texts["loop"] = "A-" if adjustments.loop_a_s is not None else "A-B?"
    if practising or effective.click:
        texts["click"] = "clk" if effective.click else "no clk"
    return texts


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class PracticeBook:
    """The adjustments made on one stick, by the song's path on it (the main loop's)."""

    def __init__(self, entries: dict[str, Adjustments] | None = None) -> None:
        self.entries = dict(entries or {})

    def get(self, rel_path: str) -> Adjustments:
        """The song's adjustments (neutral if none)."""
        return self.entries.get(rel_path, Adjustments())

    def put(self, rel_path: str, adjustments: Adjustments) -> None:
        """Keep ``adjustments`` for the song (a neutral one is forgotten)."""
        if adjustments.neutral:
            self.entries.pop(rel_path, None)
        elif len(self.entries) < MAX_SONGS_PER_STICK or rel_path in self.entries:
            self.entries[rel_path] = adjustments

    def to_json(self) -> str:
        """The book as JSON, for the state partition."""
        return json.dumps({path: {name: value for name, value in vars(entry).items()
                                  if value is not None}
                           for path, entry in self.entries.items()},
                          ensure_ascii=True, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PracticeBook:
        """A book from :meth:`to_json`'s text: an entry with anything wrong in it is left
        out (the file is on disk: nothing from it reaches the player unchecked)."""
        try:
            data = json.loads(text, parse_constant=_refuse)
        except (ValueError, RecursionError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        book = cls()
        for path, value in list(data.items())[:MAX_SONGS_PER_STICK]:
            entry = _entry(value)
            if entry is not None and isinstance(path, str) and len(path) <= MAX_PATH_CHARS:
                book.entries[path] = entry
        return book


def _entry(value: object) -> Adjustments | None:
    if not isinstance(value, dict) or not set(value) <= {
            "key_semitones", "speed", "loop_a_s", "loop_b_s", "looping", "click", "bpm",
            "first_beat_s"}:
        return None
    bpm, first_beat_s = value.get("bpm"), value.get("first_beat_s")
    if bpm is not None and not (_is_number(bpm) and BPM_RANGE[0] <= bpm <= BPM_RANGE[1]):
        return None
    if first_beat_s is not None and not (bpm is not None and _is_number(first_beat_s)
                                         and 0.0 <= first_beat_s <= MAX_TIME_S):
        return None
    key, speed = value.get("key_semitones"), value.get("speed")
    a_s, b_s = value.get("loop_a_s"), value.get("loop_b_s")
    if key is not None and not (type(key) is int and KEY_RANGE[0] <= key <= KEY_RANGE[1]):
        return None
    if speed is not None and not (_is_number(speed)
                                  and SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]):
        return None
    for time_s in (a_s, b_s):
        if time_s is not None and not (_is_number(time_s) and 0.0 <= time_s <= MAX_TIME_S):
            return None
    if b_s is not None and (a_s is None or b_s - a_s < MIN_LOOP_S):
        return None
    for flag in ("looping", "click"):
        if value.get(flag) is not None and type(value.get(flag)) is not bool:
            return None
    return Adjustments(key, None if speed is None else float(speed),
                       None if a_s is None else float(a_s), None if b_s is None else float(b_s),
                       value.get("looping"), value.get("click"),
                       None if bpm is None else float(bpm),
                       None if first_beat_s is None else float(first_beat_s))


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _refuse(name: str) -> float:
    raise ValueError(f"{name} is not a number")
