"""Everything that happens to the box, as values on one queue.

Devices, the scanner, the loader and the engine post these; the box feeds them to the
player in order. Each is a small frozen dataclass so that tests can build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stagebox.media.loudness import Measured, MeasuredAs
from stagebox.media.model import Library

ButtonName = Literal["prev", "play", "next", "menu"]
BUTTONS: tuple[ButtonName, ...] = ("prev", "play", "next", "menu")
GestureKind = Literal["down", "press", "hold", "long_hold"]
PANEL_SOURCE = "panel"
"""The GPIO button panel's name as a source; a pedal is ``hid:...``, a MIDI port ``midi:...``."""


@dataclass(frozen=True)
class ButtonEdge:
    """A button went down or up at ``t`` (seconds on the box's clock), on the input
    ``source`` (the panel, a pedal, a MIDI port): each source's buttons are timed apart."""

    button: ButtonName
    pressed: bool
    t: float
    source: str = PANEL_SOURCE


@dataclass(frozen=True)
class Gesture:
    """A button's down edge, then a press (released before the hold time), a hold
    (reached the hold time) or a long hold (still down at the long hold time)."""

    button: ButtonName
    kind: GestureKind
    source: str = PANEL_SOURCE
    t: float | None = field(default=None, compare=False)
    """When its edge came, on the box's clock (a down or a press; a hold comes from a
    poll): what a tapped tempo is timed by."""


@dataclass(frozen=True)
class CueSong:
    """Cue song ``number`` (1 is the setlist's first) without playing it: a MIDI program
    change, say. ``source`` names the input it came from."""

    number: int
    source: str


@dataclass(frozen=True)
class InputAdded:
    """A pedal or a MIDI port was opened; ``description`` names it for the performer."""

    source: str
    description: str


@dataclass(frozen=True)
class InputGone:
    """An input went away (unplugged, or it failed): its buttons still down are let go
    without acting."""

    source: str
    description: str
    reason: str = ""


@dataclass(frozen=True)
class StickInserted:
    """A stick was mounted at ``root``."""

    root: Path
    label: str


@dataclass(frozen=True)
class StickRemoved:
    """The stick's mount went away."""


@dataclass(frozen=True)
class ScanProgress:
    """The scanner has read ``done`` of ``total`` files."""

    done: int
    total: int


@dataclass(frozen=True)
class ScanFinished:
    """The scanner has read the whole stick."""

    library: Library


@dataclass(frozen=True)
class ScanFailed:
    """The stick could not be read at all (it vanished during the scan, say)."""

    message: str


@dataclass(frozen=True)
class TrackReady:
    """The loader has a song in memory and its decoder running.

    ``stream`` is opaque to the player: the box hands it to the engine.
    """

    load_id: int
    duration_s: float | None
    stream: Any
    warning: str | None = None
    """What of the song will not play (its guide track), though the song will."""


@dataclass(frozen=True)
class TrackFailed:
    """A song could not be loaded or decoded."""

    load_id: int
    message: str
    no_room: bool = False
    """The song fits in memory alone but not beside the songs held now: it can be loaded
    once they are let go."""


@dataclass(frozen=True)
class TrackStarted:
    """The engine began playing the song of ``load_id`` (its first frame was rendered)."""

    load_id: int


@dataclass(frozen=True)
class TrackEnded:
    """The engine played the song of ``load_id`` to its end.

    ``joined`` is True when the engine went straight on into the queued next song.
    ``error`` is set when the song ended early because its decoder failed.
    """

    load_id: int
    joined: bool
    error: str | None = None


@dataclass(frozen=True)
class LoopWentRound:
    """The song of ``load_id`` went back to its loop's start, ``passes`` times so far in
    this decoding of it."""

    load_id: int
    passes: int


@dataclass(frozen=True)
class TrackReplaced:
    """The engine crossfaded from the song of ``old_load_id`` into ``new_load_id``: the
    same song decoded anew (another key, speed or loop), which is the current one now."""

    old_load_id: int
    new_load_id: int


@dataclass(frozen=True)
class AudioDeviceLost:
    """The audio interface has gone."""

    message: str


@dataclass(frozen=True)
class AudioDeviceBack:
    """The audio interface is open again."""


@dataclass(frozen=True)
class AudioOutputs:
    """The audio interface is open: the pairs its buses go to (2 = outputs 3-4), and why
    the cue pair asked for could not be had, if it could not."""

    main_pair: int
    cue_pair: int
    """0: no cue bus (none asked for, or the device lacks it)."""
    warning: str = ""
    device_channels: int = 2
    latency_s: float = 0.0
    """How long a frame written waits before it is heard (the device's buffer)."""


@dataclass(frozen=True)
class Xrun:
    """The device ran dry once and was recovered."""

    total: int


@dataclass(frozen=True)
class LoudnessMeasured:
    """One song file of the stick measured (or failed to be), in the measuring's order."""

    measure_id: int
    song: MeasuredAs
    measured: Measured
    cached: bool
    """From the stick's loudness cache: nothing was decoded."""


@dataclass(frozen=True)
class MeasureFinished:
    """The measuring of a stick's songs is over: how many were measured afresh, taken
    from the cache and failed, and why it stopped short, if it did."""

    measure_id: int
    measured: int
    cached: int
    failed: int
    problem: str | None = None


Event = (
    ButtonEdge | Gesture | StickInserted | StickRemoved | ScanProgress | ScanFinished | ScanFailed
    | TrackReady | TrackFailed | TrackStarted | TrackEnded | TrackReplaced | LoopWentRound
    | AudioDeviceLost
    | AudioDeviceBack | AudioOutputs | Xrun | CueSong | LoudnessMeasured | MeasureFinished
)
