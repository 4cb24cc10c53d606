"""A pedal's keymap: key names (as Linux's input layer names them) to the four buttons.

``KEY_PAGEDOWN=next KEY_RIGHT=next KEY_PAGEUP=prev ...`` in ``pedals.keys``. Parsing
checks the form only: the names are looked up in evdev's table where a pedal is opened,
since importing evdev would slow the box's start.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from stagebox.events import BUTTONS, ButtonEdge, ButtonName

DEFAULT_KEYS = ("KEY_PAGEDOWN=next KEY_RIGHT=next KEY_PAGEUP=prev KEY_LEFT=prev "
                "KEY_SPACE=play KEY_ENTER=play")
"""What page-turner pedals type: PageDown/PageUp, or the arrows, and Space or Enter."""
_KEY_NAME = re.compile(r"^(KEY|BTN)_[A-Z0-9_]+$")
KEY_DOWN, KEY_UP, KEY_REPEAT = 1, 0, 2
"""An EV_KEY event's value: pressed, released, or the keyboard's auto-repeat."""


def parse_keymap(text: str) -> dict[str, ButtonName]:
    """``NAME=BUTTON ...`` to {name: button}; ValueError saying what is wrong."""
    keymap: dict[str, ButtonName] = {}
    for item in text.split():
        name, equals, button = item.partition("=")
        name, button = name.upper(), button.lower()
        if not equals or not _KEY_NAME.match(name):
            raise ValueError(f"{item!r}: write KEY_NAME=BUTTON, e.g. KEY_PAGEDOWN=next")
        if button not in BUTTONS:
            raise ValueError(f"{item!r}: {button!r} is not a button (one of "
                             f"{', '.join(BUTTONS)}){suggest(button, BUTTONS)}")
        keymap[name] = button
    return keymap


def suggest(word: str, candidates: Collection[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``candidates``, else nothing."""
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def key_codes(keymap: Mapping[str, ButtonName],
              codes: Mapping[str, Any]) -> tuple[dict[int, ButtonName], list[str]]:
    """The keymap by key code, looked up in ``codes`` (evdev's ``ecodes.ecodes``), and a
    message for each name the table lacks."""
    by_code: dict[int, ButtonName] = {}
    problems = []
    for name, button in keymap.items():
        code = codes.get(name)
        if isinstance(code, int):
            by_code[code] = button
        else:
            known = [key for key in codes if key.startswith(("KEY_", "BTN_"))]
            problems.append(f"pedals.keys: no key {name}{suggest(name, known)}")
    return by_code, problems


class KeyTranslator:
    """A pedal's key events to button edges tagged with its source.

    Called on the pedal's reader thread (or the simulator's loop): it stamps the time
    and posts, nothing more. Auto-repeat is ignored: a hold is timed by the box.
    """

    def __init__(self, keymap: Mapping[int, ButtonName], source: str,
                 post: Callable[[ButtonEdge], None], now: Callable[[], float]) -> None:
        self._keymap = dict(keymap)
        self.source = source
        self._post = post
        self._now = now

    def key(self, code: int, value: int) -> None:
        """One EV_KEY event: ``code`` went down (1), up (0) or repeated (2)."""
        button = self._keymap.get(code)
        if button is None or value not in (KEY_DOWN, KEY_UP):
            return
        self._post(ButtonEdge(button, value == KEY_DOWN, self._now(), self.source))

    @property
    def codes(self) -> frozenset[int]:
        """The key codes this pedal acts on."""
        return frozenset(self._keymap)
