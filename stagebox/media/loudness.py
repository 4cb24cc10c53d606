"""Loudness matching: a song's measured loudness, the gain that brings it to the target,
and the cache that keeps the measurements of a stick between insertions.

Pure values and rules, light to import: the measuring itself happens in a process of its
own (:mod:`stagebox.media.measure_process`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from stagebox.media.file_cache import FileCache
from stagebox.media.model import Split

TRUE_PEAK_CEILING_DBTP = -1.0
"""A matched song is never raised so far that its true peak goes over this."""
MIN_LUFS = -200.0
MAX_LUFS = 40.0
"""What a measurement of a real file can be: float files may go far over full scale, and
nothing quieter than this is above digital silence. Anything else is not believed."""


@dataclass(frozen=True)
class Loudness:
    """What the meter said of one file, as the box plays it (stereo, at its rate)."""

    integrated_lufs: float | None
    """ITU-R BS.1770 integrated loudness; None when nothing passes the -70 LUFS gate."""
    true_peak_dbtp: float | None
    """The highest true peak of either channel; None for digital silence."""


@dataclass(frozen=True)
class Measured:
    """One file's outcome: its loudness, or why it could not be measured."""

    loudness: Loudness | None
    failure: str | None = None
    """A short message for the user, when ``loudness`` is None."""


class MeasuredAs(NamedTuple):
    """A song file as the audience hears it, which is what is measured: a split track
    (``split``) by its music side alone, on both main outputs."""

    path: Path
    split: Split | None = None

    @property
    def cache_key(self) -> str:
        """Its key in the loudness cache: the path, or for a split track the split and
        the path (never a path itself: the paths are absolute)."""
        path = os.fsdecode(self.path)
        return path if self.split is None else f"{self.split}:{path}"


def match_gain_db(loudness: Loudness, target_lufs: float) -> float | None:
    """The gain that brings ``loudness`` to ``target_lufs``, lowered where it would lift
    the true peak over :data:`TRUE_PEAK_CEILING_DBTP`; None for a song too quiet to
    measure (it plays at its own level)."""
    if loudness.integrated_lufs is None:
        return None
    gain_db = target_lufs - loudness.integrated_lufs
    if loudness.true_peak_dbtp is not None:
        gain_db = min(gain_db, TRUE_PEAK_CEILING_DBTP - loudness.true_peak_dbtp)
    return gain_db


def plausible(value: float | None) -> bool:
    """None, or a finite number of decibels a real file can measure."""
    return value is None or (type(value) is float and math.isfinite(value)
                             and MIN_LUFS <= value <= MAX_LUFS)


class LoudnessCache(FileCache):
    """Measurements of an earlier insertion, kept while a file's size and time stay the same.

    Like :class:`~stagebox.media.tags.TitleCache`: a stick inserted again (every gig)
    mostly holds the same files, and measuring one costs seconds of CPU. Failures are
    kept too, so a broken file is not decoded again at every insertion. Used in the
    measuring process only.
    """

    @staticmethod
    def stamp(path: Path) -> list[int]:
        """What identifies a version of the file at ``path``: its size and modification
        time. Raises OSError if it cannot be read."""
        stat = os.stat(path)
        return [stat.st_size, stat.st_mtime_ns]

    def get(self, song: MeasuredAs, stamp: list[int]) -> Measured | None:
        """The measurement of this version of the file, if there is one."""
        cached = self._entries.get(song.cache_key)
        if cached is None or cached[:2] != stamp:
            return None
        lufs, peak, failure = cached[2:]
        return Measured(None if failure is not None else Loudness(lufs, peak), failure)

    def put(self, song: MeasuredAs, stamp: list[int], measured: Measured) -> None:
        """Keep ``measured`` for this version of the file."""
        loudness = measured.loudness
        self._entries[song.cache_key] = [
            *stamp, loudness.integrated_lufs if loudness else None,
            loudness.true_peak_dbtp if loudness else None, measured.failure]
        self.changed = True

    @classmethod
    def from_json(cls, text: str) -> LoudnessCache:
        """A cache from :meth:`to_json`'s text; anything malformed is simply left out."""
        try:
            data = json.loads(text, parse_constant=_refuse)
        except ValueError:
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls({key: value for key, value in data.items() if _valid_entry(value)})


def _valid_entry(value: object) -> bool:
    if not (isinstance(value, list) and len(value) == 5
            and all(type(number) is int for number in value[:2])):
        return False
    lufs, peak, failure = value[2:]
    if failure is not None:
        return isinstance(failure, str) and lufs is None and peak is None
    return plausible(lufs) and plausible(peak)


def _refuse(name: str) -> float:
    raise ValueError(f"{name} is not a number")

