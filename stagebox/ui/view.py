"""View models: plain values describing one screen, built from the player's state.

The screens module draws them; the simulator logs their text; nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PlayState = Literal["cued", "playing", "paused", "ended"]
Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Banner:
    """A short message over the bottom of any screen (a hint or a warning)."""

    text: str
    severity: Severity = "info"


@dataclass(frozen=True)
class InsertStickView:
    """No stick: ask for one."""

    message: str = "Insert USB stick"
    detail: str = ""
    """A second line, e.g. why the last stick gave nothing or that the config fell back."""
    banner: Banner | None = None


@dataclass(frozen=True)
class ScanningView:
    """A stick is being read."""

    label: str
    done: int
    total: int
    """``total`` may be 0 while the files are still being counted."""
    banner: Banner | None = None


@dataclass(frozen=True)
class CountIn:
    """Where a count-in is: the beat sounding, counted within its bar as a drummer counts."""

    beat: int
    """1 for the first beat of a bar."""
    beats_per_bar: int
    beats_left: int
    """Beats still to come after this one before the song starts."""


@dataclass(frozen=True)
class PlayerView:
    """The main screen while a setlist is loaded."""

    state: PlayState
    index: int
    """0-based position of the cued song in the setlist."""
    count: int
    title: str
    elapsed_s: float
    duration_s: float | None
    """``None`` until the decoder has said how long the song is."""
    next_title: str | None
    """The following song, or ``None`` at the end of the setlist."""
    title_age_s: float = 0.0
    """Seconds since this title was first shown; drives the scrolling of long titles."""
    count_in: CountIn | None = None
    """While the song counts in; its times are shown again once it starts."""
    measuring: tuple[int, int] | None = None
    """(songs measured, songs to measure) while the stick's loudness is measured."""
    practice: tuple[tuple[str, str], ...] = ()
    """Key, speed, loop and click as (field, words), e.g. ``(("key", "+2"), ("speed",
    "80%"))``: what is not neutral, or every field in practice mode."""
    practice_selected: str | None = None
    """In practice mode, the field PREV/NEXT change."""
    banner: Banner | None = None


@dataclass(frozen=True)
class MenuView:
    """The button-driven menu: a title and a window of items."""

    title: str
    items: tuple[str, ...]
    """Each item already formatted, e.g. ``"Volume  -3 dB"``."""
    selected: int
    editing: bool = False
    """True while PREV/NEXT change the selected item's value rather than move."""
    banner: Banner | None = None


@dataclass(frozen=True)
class MessageView:
    """A whole-screen message: an error, or news that needs the performer's eye."""

    title: str
    lines: tuple[str, ...]
    severity: Severity = "warning"
    banner: Banner | None = None


View = InsertStickView | ScanningView | PlayerView | MenuView | MessageView
