"""One song's decoding, as the loader asks for it and the decoder carries it out.

A :class:`DecodeRequest` travels from the loader through the decoder launcher (or a
decoder's command line) to the decoder process as one JSON object, and the descriptors
it works on as one :class:`DecoderFiles`. Whatever the player decides about how a song is
decoded (where it starts, and later its key and speed) is a field here, so it is defined,
checked and encoded in one place.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

from stagebox.audio.stretch import Engine, StretchSettings
from stagebox.media.model import SPLITS, Split

MIN_OUT_RATE = 8000
MAX_OUT_RATE = 768000
MIN_LOOP_S = 0.1


@dataclass(frozen=True)
class DecodeRequest:
    """How to decode one song. Checked when made: a request that exists is valid."""

    out_rate: int
    """The rate to decode to, Hz (the output device's)."""
    start_s: float = 0.0
    """Where in the song to start, in seconds of song time."""
    loop_start_s: float | None = None
    loop_end_s: float | None = None
    """The section to play over and over once the stream reaches its end (both or neither)."""
    key_semitones: float = 0.0
    speed: float = 1.0
    """Tempo as a fraction of the song's, pitch kept: 0.8 plays it in 1.25 times as long."""
    stretch_engine: Engine = "faster"
    cue_bus: bool = False
    """Decode the song's cue channels too (a split track's click side, a multichannel
    file's channels 3-4) as a second pair: the box has a cue bus for them. Without it
    only the main pair is decoded, and those channels never reach the audience."""
    split: Split | None = None
    """One of :data:`~stagebox.media.model.SPLITS`: a split track (else its two channels
    are left and right)."""
    guide: bool = False
    """A guide track comes with the song, as a memory file of its own
    (:attr:`DecoderFiles.guide`), to play on the cue bus in step with it (needs
    ``cue_bus``)."""

    def __post_init__(self) -> None:
        if type(self.out_rate) is not int or not MIN_OUT_RATE <= self.out_rate <= MAX_OUT_RATE:
            raise ValueError(f"output rate {self.out_rate!r} is not {MIN_OUT_RATE}-"
                             f"{MAX_OUT_RATE} Hz")
        if not _is_time(self.start_s):
            raise ValueError(f"start {self.start_s!r} is not a time in the song")
        object.__setattr__(self, "start_s", float(self.start_s))
        if (self.loop_start_s is None) != (self.loop_end_s is None):
            raise ValueError("a loop needs its start and its end")
        if self.loop_start_s is not None and self.loop_end_s is not None:
            if not (_is_time(self.loop_start_s) and _is_time(self.loop_end_s)
                    and self.loop_end_s - self.loop_start_s >= MIN_LOOP_S):
                raise ValueError(f"loop {self.loop_start_s!r}-{self.loop_end_s!r} is not a "
                                 "section of the song")
            object.__setattr__(self, "loop_start_s", float(self.loop_start_s))
            object.__setattr__(self, "loop_end_s", float(self.loop_end_s))
        StretchSettings(self.key_semitones, self.speed, self.stretch_engine)  # or raises
        if type(self.cue_bus) is not bool:
            raise ValueError(f"cue bus {self.cue_bus!r} is not true or false")
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"split {self.split!r} is not one of {', '.join(SPLITS)}")
        if type(self.guide) is not bool:
            raise ValueError(f"guide {self.guide!r} is not true or false")
        if self.guide and not self.cue_bus:
            raise ValueError("a guide track needs the cue bus")

    @property
    def stretch(self) -> StretchSettings:
        """The key and speed, for the stretcher (:mod:`stagebox.audio.stretch`)."""
        return StretchSettings(self.key_semitones, self.speed, self.stretch_engine)

    def to_json(self) -> str:
        """The request as one JSON object (for the launcher's socket or a command line)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> DecodeRequest:
        """The request :meth:`to_json` wrote; ValueError for anything else."""
        try:
            fields = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(f"decode request is not JSON: {exc}") from exc
        return cls.from_fields(fields)

    @classmethod
    def from_fields(cls, fields: object) -> DecodeRequest:
        """The request from :meth:`to_json`'s object once parsed; ValueError for anything
        else."""
        if not isinstance(fields, dict):
            raise ValueError("decode request is not a JSON object")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"decode request has unknown or missing fields: {exc}") from exc


def _is_time(value: object) -> bool:
    """A finite, non-negative number of seconds (not a bool)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and value >= 0)


class DecoderFiles(NamedTuple):
    """The descriptors a decoder works on; the caller keeps them open until it has started."""

    song: int
    """The song's memory file (:mod:`stagebox.audio.memfile`)."""
    ring: int
    """The shared-memory ring the decoder fills (:mod:`stagebox.audio.ring`)."""
    room: int
    """The read end of the pipe that brings the player's read counts."""
    guide: int | None = None
    """The guide track's memory file, for a request with ``guide``."""
    count_file: int | None = None
    """The song's count file (:mod:`stagebox.audio.packet_count`), if it has one."""
