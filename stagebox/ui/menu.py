"""The button-only menu: a pure model that turns short presses into settings changes.

PREV and NEXT move (or change the value being edited), PLAY edits or confirms, MENU goes
back. Holds never reach the menu: they stay with the transport, so a song can always be
paused even with the menu open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from stagebox.events import ButtonName
from stagebox.ui.view import MenuView

VOLUME_MIN_DB = -40.0
VOLUME_MAX_DB = 6.0
VOLUME_STEP_DB = 1.0
AFTER_SONG_CHOICES = ("stop", "next")
MODE_CHOICES = ("show", "practice")


@dataclass(frozen=True)
class MenuContext:
    """What the menu shows and may change, captured when it opens."""

    volume_db: float
    after_song: str
    setlist_names: tuple[str, ...]
    setlist_index: int
    info_lines: tuple[str, ...]
    setlist_locked: bool = False
    """True while a song plays: changing the setlist then would pull the song away."""
    mode: str = "show"
    """``practice``: the buttons change key, speed, loop and click while a song plays."""


@dataclass(frozen=True)
class SetVolumeChoice:
    """The performer changed the volume (applied at once, while editing)."""

    volume_db: float


@dataclass(frozen=True)
class SetAfterSongChoice:
    """The performer chose the default after-song action."""

    after_song: str


@dataclass(frozen=True)
class SetSetlistChoice:
    """The performer chose another setlist."""

    setlist_index: int


@dataclass(frozen=True)
class SetModeChoice:
    """The performer chose show or practice mode."""

    mode: str


@dataclass(frozen=True)
class ResetPracticeChoice:
    """The performer let go of the settings made on the box for the cued song."""


@dataclass(frozen=True)
class MenuClosed:
    """The menu is gone; the player screen returns."""


@dataclass(frozen=True)
class MenuHint:
    """Something the performer should read, shown as a banner."""

    text: str


MenuResult = (SetVolumeChoice | SetAfterSongChoice | SetSetlistChoice | SetModeChoice
              | ResetPracticeChoice | MenuClosed | MenuHint)

_ITEMS = ("volume", "setlist", "after_song", "mode", "reset", "info", "close")


class Menu:
    """One open menu. Call :meth:`press` with each short press; read :meth:`view`."""

    def __init__(self, context: MenuContext) -> None:
        self._context = context
        self._selected = 0
        self._editing = False
        self._in_info = False
        self._draft_setlist = context.setlist_index
        self._items = tuple(item for item in _ITEMS
                            if item != "reset" or context.mode == "practice")

    def view(self) -> MenuView:
        """The screen to show now."""
        if self._in_info:
            return MenuView("Info", (*self._context.info_lines, "Back"),
                            len(self._context.info_lines))
        return MenuView("Menu", tuple(self._label(item) for item in self._items), self._selected,
                        editing=self._editing)

    def press(self, button: ButtonName) -> MenuResult | None:
        """Handle a short press; return what the player must do, if anything."""
        if self._in_info:
            if button in ("play", "menu"):
                self._in_info = False
            return None
        if self._editing:
            return self._press_editing(button)
        item = self._items[self._selected]
        if button == "menu":
            return MenuClosed()
        if button in ("prev", "next"):
            step = 1 if button == "next" else -1
            self._selected = (self._selected + step) % len(self._items)
            return None
        # PLAY on the selected item
        if item == "close":
            return MenuClosed()
        if item == "reset":
            return ResetPracticeChoice()
        if item == "info":
            self._in_info = True
            return None
        if item == "setlist":
            if len(self._context.setlist_names) < 2:
                return MenuHint("Only one setlist on this stick")
            if self._context.setlist_locked:
                return MenuHint("Stop the song to change setlist")
        self._editing = True
        return None

    def _press_editing(self, button: ButtonName) -> MenuResult | None:
        item = self._items[self._selected]
        if button in ("play", "menu"):
            self._editing = False
            chosen = self._draft_setlist
            if item == "setlist" and button == "play" and chosen != self._context.setlist_index:
                self._context = replace(self._context, setlist_index=chosen)
                return SetSetlistChoice(chosen)
            self._draft_setlist = self._context.setlist_index
            return None
        step = 1 if button == "next" else -1
        if item == "volume":
            volume = min(VOLUME_MAX_DB, max(VOLUME_MIN_DB,
                                            self._context.volume_db + step * VOLUME_STEP_DB))
            self._context = replace(self._context, volume_db=volume)
            return SetVolumeChoice(volume)
        if item == "after_song":
            index = AFTER_SONG_CHOICES.index(self._context.after_song)
            choice = AFTER_SONG_CHOICES[(index + step) % len(AFTER_SONG_CHOICES)]
            self._context = replace(self._context, after_song=choice)
            return SetAfterSongChoice(choice)
        if item == "mode":
            choice = MODE_CHOICES[(MODE_CHOICES.index(self._context.mode) + 1) % 2]
            self._context = replace(self._context, mode=choice)
            self._items = tuple(item for item in _ITEMS
                                if item != "reset" or choice == "practice")
            return SetModeChoice(choice)
        count = len(self._context.setlist_names)
        self._draft_setlist = (self._draft_setlist + step) % count
        return None

    def _label(self, item: str) -> str:
        context = self._context
        if item == "volume":
            return f"Volume {context.volume_db:+.0f} dB"
        if item == "setlist":
            index = self._draft_setlist if self._editing else context.setlist_index
            return f"Setlist {context.setlist_names[index]}" if context.setlist_names else "Setlist"
        if item == "after_song":
            return f"After song: {context.after_song}"
        if item == "mode":
            return f"Mode: {context.mode}"
        return {"reset": "Reset song's practice", "info": "Info", "close": "Close"}[item]
